using System.Globalization;
using FinGen.Native.Evaluation;

namespace FinGen.Native.Data;

/// <summary>How a generated path strings the days of generated windows together.</summary>
public enum PathDays
{
    /// <summary>Whole windows one after another: the days of a window keep the joint shape the model gave them.</summary>
    Windows,
    /// <summary>
    /// Every day from a different generated window (the pool of generated days shuffled): the model gives the shape of
    /// a day's innovation, the filter all the dependence between days. A small GAN's windows carry spurious joint
    /// structure (measured on the DAX: two days beyond 5σ in one window 14 times as often as independent days), which
    /// the variance recursion turns into explosive paths.
    /// </summary>
    Independent,
}

/// <summary>Which volatility filter standardizes returns before they are windowed (<c>--filter</c>).</summary>
public enum VolatilityFilterKind
{
    /// <summary>Returns are windowed as they are: every window is drawn on its own, with no memory between windows.</summary>
    None,
    /// <summary>
    /// A GJR-GARCH(1,1)-t filter fitted on the training returns: the model learns windows of standardized residuals
    /// zₜ = (rₜ − μ)/σₜ, and generated residuals are re-coloured by running the variance recursion forward along the
    /// path, so volatility clustering and leverage carry across windows (a generative filtered historical simulation).
    /// </summary>
    GjrGarch,
    /// <summary>
    /// As <see cref="GjrGarch"/> with a component GJR-GARCH(1,1)-t (<see cref="ComponentGjrGarchParameters"/>): the
    /// variance reverts to a long-run level that itself moves slowly, a longer volatility memory than one GARCH decay rate.
    /// </summary>
    ComponentGjrGarch,
}

/// <summary>Where a filtered model's unconditional paths start (<c>--filter-start</c>).</summary>
public enum FilterStart
{
    /// <summary>Every path from the filter's state on the day after the last training return, as filtered historical simulation starts.</summary>
    Last,
    /// <summary>
    /// A component filter's paths from the last day's variance, each with its own long-run level drawn from the levels the
    /// filter went through in training (<see cref="VolatilityFilter.LongRunLevels"/>). The long-run component is the slow
    /// volatility regime; starting every path in the regime training ended in treats that regime as known for a path's
    /// whole length, while the training history says regimes change over years.
    /// </summary>
    Drawn,
}

/// <summary>How a GJR-filtered model's unconditional paths are calibrated (<c>--path-calibration</c>).</summary>
public enum PathCalibration
{
    /// <summary>Paths are re-coloured by the fitted recursion itself (checkpoints from before this option).</summary>
    None,
    /// <summary>
    /// The recursion is fitted under symmetric unit-variance innovations, while the residuals it re-colours (the
    /// training residuals' marginal, which the calibrated generator reproduces) are skewed: more of their variance on the
    /// down side, where the leverage term acts. On the S&amp;P 500's training part m̂₂ = mean z² = 1.000 and κ̂ =
    /// mean z²·1[z &lt; 0] = 0.566 (0.5 if symmetric), so the persistence paths actually have is α·m̂₂ + γ·κ̂ + β = 0.9976, not
    /// the fitted α + γ/2 + β = 0.986: a variance half-life of 286 days instead of 49, and a stationary standard deviation
    /// 2.05 times the training returns'. Long paths then drift into extreme volatility. This calibration re-colours
    /// unconditional paths with the recursion (ω̃, c²α, c²γ, β) chosen on the training part so that, under the residuals'
    /// own m̂₂ and κ̂, the persistence is the fitted α + γ/2 + β and the stationary variance of returns is the training
    /// returns' sample variance s²: c² = (α + γ/2)/(α·m̂₂ + γ·κ̂), ω̃ = s²(1 − α − γ/2 − β)/m̂₂. A path's first day keeps the
    /// filter's last state. Conditional forecasts, which re-colour one day from the real filtered variance, keep the
    /// fitted recursion. On the validation splits of benchmarks/results/quality-candidates.md it met 35 of 42 targets
    /// against 30 without it; one knob instead of two (the residuals scaled so that only the variance is s²) met 33.
    /// </summary>
    VariancePersistence,
}

/// <summary>
/// The filter of one price series: the fitted <see cref="Recursion"/> and <see cref="Start"/>, its state on the day
/// after the last training return, where generated paths start (as filtered historical simulation does), unless
/// <see cref="LongRunLevels"/> is set (<see cref="PathStart"/>). <see cref="Recolour"/> turns generated standardized
/// residuals into returns.
/// </summary>
public sealed record VolatilityFilter(IVolatilityRecursion Recursion, VolatilityState Start)
{
    /// <summary>Long-run levels stored per filter: the quantiles at (i + ½)/<see cref="LevelCount"/> of the training levels.</summary>
    public const int LevelCount = 100;
    /// <summary>Days at the start of training whose long-run level is left out of <see cref="LongRunLevels"/> (the filter's own start is arbitrary).</summary>
    public const int LevelBurnIn = 250;
    /// <summary>Metadata key (<see cref="FilterStart.Drawn"/> only): one level set per price column, <c>;</c>-separated, each <see cref="LevelCount"/> numbers.</summary>
    public const string LongRunLevelsKey = "filter_long_run_levels";
    /// <summary>The metadata and <c>--filter-start</c> word of <see cref="FilterStart.Drawn"/>.</summary>
    public const string DrawnStartName = "drawn";

    /// <summary>Metadata key (<see cref="PathCalibration"/> other than none): one "μ ω α γ β ν" per price column, <c>;</c>-separated.</summary>
    public const string PathParametersKey = "filter_path_parameters";

    /// <summary>
    /// The recursion that re-colours unconditional paths (<see cref="PathCalibration"/>), or null when paths use
    /// <see cref="Recursion"/> itself.
    /// </summary>
    public IVolatilityRecursion? PathRecursion { get; init; }

    /// <summary>This filter as unconditional paths use it: <see cref="PathRecursion"/> in place of the fitted recursion, when there is one.</summary>
    public VolatilityFilter ForPaths() => PathRecursion is null ? this : this with { Recursion = PathRecursion, PathRecursion = null };

    /// <summary>
    /// The path recursion of <paramref name="calibration"/> for a GJR filter <paramref name="p"/> whose standardized
    /// training residuals are <paramref name="residuals"/> and whose training returns have population variance
    /// <paramref name="sampleVariance"/> (see <see cref="PathCalibration"/>), or null when it would not be a valid
    /// recursion (no leverage or ARCH term to scale).
    /// </summary>
    public static GjrGarchParameters? CalibratePaths(GjrGarchParameters p, ReadOnlySpan<float> residuals, double sampleVariance, PathCalibration calibration)
    {
        if (calibration == PathCalibration.None) return null;
        double m2 = 0, kappa = 0;
        foreach (float v in residuals)
        {
            double z2 = (double)v * v;
            m2 += z2;
            if (v < 0) kappa += z2;
        }
        m2 /= residuals.Length;
        kappa /= residuals.Length;
        double feed = p.Alpha * m2 + p.Gamma * kappa; // what a day's ε² adds to the next σ², per unit of σ², on average
        if (!(feed > 0) || !(m2 > 0) || !(sampleVariance > 0)) return null;
        double c2 = (p.Alpha + 0.5 * p.Gamma) / feed;
        var calibrated = p with { Omega = sampleVariance * (1.0 - p.Persistence) / m2, Alpha = c2 * p.Alpha, Gamma = c2 * p.Gamma };
        try { calibrated.Validate(); }
        catch (FinGenException) { return null; }
        return calibrated;
    }

    /// <summary>
    /// For <see cref="FilterStart.Drawn"/>: the long-run variance levels the filter went through in training (quantiles,
    /// ascending), one of which each path starts its long-run component at; null: every path starts at <see cref="Start"/>.
    /// </summary>
    public double[]? LongRunLevels { get; init; }

    /// <summary>
    /// The state path <paramref name="path"/> of a draw under <paramref name="seed"/> starts from: <see cref="Start"/>, or
    /// with <see cref="LongRunLevels"/> its variance and a long-run level picked uniformly among them by Philox word
    /// <paramref name="path"/> of the <see cref="Randomness.Philox.Stream.PathStarts"/> stream (so a path's start does not
    /// depend on how many paths are drawn or how they are chunked).
    /// </summary>
    public VolatilityState PathStart(ulong seed, long path)
    {
        if (LongRunLevels is not { Length: > 0 } levels) return Start;
        int pick = Randomness.Philox.NextInt(seed, (ulong)Randomness.Philox.Stream.PathStarts, (ulong)path, levels.Length);
        return Start with { LongRunVariance = levels[pick] };
    }

    /// <summary>The metadata "filter" value of <see cref="VolatilityFilterKind.GjrGarch"/>.</summary>
    public const string GjrGarchName = "gjr-garch";
    /// <summary>The metadata "filter" value of <see cref="VolatilityFilterKind.ComponentGjrGarch"/>.</summary>
    public const string ComponentGjrGarchName = "component-gjr-garch";
    /// <summary>Metadata key: the filter's name (absent or <c>none</c> without one).</summary>
    public const string KindKey = "filter";
    /// <summary>
    /// Metadata key: one parameter set per price column, <c>;</c>-separated, each "μ ω α γ β ν σ²next" for
    /// <c>gjr-garch</c>, "μ ω ρ φ α γ β ν σ²next qnext" for <c>component-gjr-garch</c>.
    /// </summary>
    public const string ParametersKey = "filter_parameters";

    /// <summary>Which filter this is.</summary>
    public VolatilityFilterKind Kind => Recursion is ComponentGjrGarchParameters ? VolatilityFilterKind.ComponentGjrGarch : VolatilityFilterKind.GjrGarch;

    /// <summary>
    /// Fits a filter of <paramref name="kind"/> on <paramref name="trainingReturns"/> and returns it with the
    /// standardized residuals of those returns (what the model is trained on).
    /// </summary>
    public static (VolatilityFilter Filter, float[] Residuals) Fit(VolatilityFilterKind kind, ReadOnlySpan<float> trainingReturns, string source,
        FilterStart start = FilterStart.Last, PathCalibration calibration = PathCalibration.None)
    {
        if (kind == VolatilityFilterKind.None) Throw.Argument("no filter to fit", nameof(kind));
        var returns = new double[trainingReturns.Length];
        for (int i = 0; i < returns.Length; i++) returns[i] = trainingReturns[i];
        IVolatilityRecursion recursion;
        try { recursion = kind == VolatilityFilterKind.GjrGarch ? GjrGarch.Fit(returns).Parameters : ComponentGjrGarch.Fit(returns).Parameters; }
        catch (FinGenException e) { throw new FinGenException($"{source}: --filter {Name(kind)}: {e.Message}"); }
        var states = VolatilityRecursion.States(recursion, returns);
        var residuals = new float[returns.Length];
        for (int t = 0; t < returns.Length; t++) residuals[t] = (float)((returns[t] - recursion.Mu) / Math.Sqrt(states[t].Variance));
        var filter = new VolatilityFilter(recursion, states[^1]);
        if (start == FilterStart.Drawn)
        {
            if (kind != VolatilityFilterKind.ComponentGjrGarch) Throw.User($"{source}: --filter-start {DrawnStartName} needs --filter {ComponentGjrGarchName} (a long-run level to draw)");
            filter = filter with { LongRunLevels = Levels(states) };
        }
        if (calibration != PathCalibration.None)
        {
            var gjr = recursion as GjrGarchParameters? ?? Throw.User<GjrGarchParameters>($"{source}: --path-calibration {Name(calibration)} needs --filter {GjrGarchName}");
            filter = filter with { PathRecursion = CalibratePaths(gjr, residuals, Checks.PopulationVariance(returns, out _), calibration) };
        }
        return (filter, residuals);
    }

    /// <summary>
    /// The quantiles at (i + ½)/<see cref="LevelCount"/> of the long-run levels of the filtered days (without the first
    /// <see cref="LevelBurnIn"/>, or the first quarter of a shorter series), ascending.
    /// </summary>
    internal static double[] Levels(ReadOnlySpan<VolatilityState> states)
    {
        int skip = Math.Min(LevelBurnIn, states.Length / 4);
        var sorted = new double[states.Length - skip];
        for (int t = 0; t < sorted.Length; t++) sorted[t] = states[skip + t].LongRunVariance;
        Array.Sort(sorted);
        var levels = new double[LevelCount];
        for (int i = 0; i < LevelCount; i++) levels[i] = sorted[Math.Min(sorted.Length - 1, (int)((i + 0.5) / LevelCount * sorted.Length))];
        return levels;
    }

    /// <summary>
    /// Re-colours a path of standardized residuals <paramref name="z"/> from the state <paramref name="state"/> of its
    /// first day (rₜ = μ + σₜzₜ, the next state by the recursion), writing <paramref name="returns"/>; returns the state of the next day.
    /// </summary>
    public VolatilityState Recolour(VolatilityState state, ReadOnlySpan<float> z, Span<float> returns) =>
        // A type switch, so the per-day recursion of a path is a direct (inlinable) call on the struct, not an
        // interface call on a boxed copy: `fingen sample` runs it once per generated day.
        Recursion switch
        {
            GjrGarchParameters p => VolatilityRecursion.Recolour(p, state, z, returns),
            ComponentGjrGarchParameters p => VolatilityRecursion.Recolour(p, state, z, returns),
            var other => VolatilityRecursion.Recolour(other, state, z, returns),
        };

    /// <summary>The standardized residuals of <paramref name="returns"/> under this filter's recursion, started at their sample variance.</summary>
    public double[] StandardizedResiduals(ReadOnlySpan<double> returns) => VolatilityRecursion.StandardizedResiduals(Recursion, returns);

    /// <summary>The <c>--filter</c> word of a kind.</summary>
    public static string Name(VolatilityFilterKind kind) => kind switch
    {
        VolatilityFilterKind.GjrGarch => GjrGarchName,
        VolatilityFilterKind.ComponentGjrGarch => ComponentGjrGarchName,
        _ => "none",
    };

    /// <summary>What a filter's residuals are called in a picture's caption.</summary>
    public static string Title(VolatilityFilterKind kind) => kind == VolatilityFilterKind.ComponentGjrGarch ? "component GJR-GARCH" : "GJR-GARCH";

    /// <summary>Reads a <c>--filter</c> word: <c>none</c>, <c>gjr-garch</c> or <c>component-gjr-garch</c>.</summary>
    public static VolatilityFilterKind ParseKind(string value) => value switch
    {
        "none" => VolatilityFilterKind.None,
        GjrGarchName => VolatilityFilterKind.GjrGarch,
        ComponentGjrGarchName => VolatilityFilterKind.ComponentGjrGarch,
        _ => Throw.User<VolatilityFilterKind>($"--filter '{DataFiles.Show(value)}' is not one of none, {GjrGarchName}, {ComponentGjrGarchName}"),
    };

    /// <summary>The <see cref="ParametersKey"/> value of one filter per column.</summary>
    public static string ToMetadata(IEnumerable<VolatilityFilter> filters) => string.Join(";", filters.Select(f =>
    {
        double[] values = f.Recursion switch
        {
            GjrGarchParameters p => [p.Mu, p.Omega, p.Alpha, p.Gamma, p.Beta, p.Nu, f.Start.Variance],
            ComponentGjrGarchParameters p => [p.Mu, p.Omega, p.Rho, p.Phi, p.Alpha, p.Gamma, p.Beta, p.Nu, f.Start.Variance, f.Start.LongRunVariance],
            _ => Throw.Argument<double[]>($"no metadata form for a {f.Recursion.GetType().Name} filter"),
        };
        return string.Join(" ", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
    }));

    /// <summary>The <see cref="PathParametersKey"/> value of one filter per column: a filter without a path recursion (its calibration was not valid) writes its own.</summary>
    public static string PathParametersToMetadata(IEnumerable<VolatilityFilter> filters) => string.Join(";", filters.Select(f =>
    {
        var p = (GjrGarchParameters)(f.PathRecursion ?? f.Recursion);
        return string.Join(" ", new[] { p.Mu, p.Omega, p.Alpha, p.Gamma, p.Beta, p.Nu }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
    }));

    /// <summary>The <see cref="LongRunLevelsKey"/> value of one filter per column (every filter must have levels).</summary>
    public static string LevelsToMetadata(IEnumerable<VolatilityFilter> filters) => string.Join(";", filters.Select(f =>
        string.Join(" ", (f.LongRunLevels ?? Throw.Argument<double[]>("a filter without long-run levels")).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));

    /// <summary>
    /// The filter of price column <paramref name="column"/> a checkpoint's data metadata describes, or null when it
    /// has none; bad metadata throws <see cref="FinGenException"/>.
    /// </summary>
    public static VolatilityFilter? FromMetadata(IReadOnlyDictionary<string, string> metadata, int column = 0)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(KindKey, out var kindName) || ParseKind(kindName) is not (var kind and not VolatilityFilterKind.None)) return null;
        if (!metadata.TryGetValue(ParametersKey, out var text))
            Throw.User($"data metadata: filter '{kindName}' has no '{ParametersKey}'");
        var sets = text.Split(';');
        if (column < 0 || column >= sets.Length)
            Throw.User($"data metadata: {ParametersKey} holds {English.Plural(sets.Length, "filter")}, none for column {column}");
        var values = sets[column].Split(' ');
        var numbers = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            if (!double.TryParse(values[i], NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i]) || !double.IsFinite(numbers[i]))
                Throw.User($"data metadata: {ParametersKey} value '{DataFiles.Show(values[i])}' is not a finite number");
        IVolatilityRecursion recursion;
        VolatilityState start;
        if (kind == VolatilityFilterKind.GjrGarch)
        {
            if (numbers.Length != 7) Throw.User($"data metadata: {ParametersKey} needs 7 numbers per column (μ ω α γ β ν σ²), got {numbers.Length}");
            var p = new GjrGarchParameters(numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]);
            recursion = p;
            start = p.Start(numbers[6]);
        }
        else
        {
            if (numbers.Length != 10) Throw.User($"data metadata: {ParametersKey} needs 10 numbers per column (μ ω ρ φ α γ β ν σ² q), got {numbers.Length}");
            recursion = new ComponentGjrGarchParameters(numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5], numbers[6], numbers[7]);
            start = new VolatilityState(numbers[8], numbers[9]);
        }
        recursion.Validate();
        if (!(start.Variance > 0)) Throw.User($"data metadata: {ParametersKey}: the start variance {start.Variance} must be positive");
        if (kind == VolatilityFilterKind.ComponentGjrGarch && !(start.LongRunVariance > 0))
            Throw.User($"data metadata: {ParametersKey}: the start long-run variance {start.LongRunVariance} must be positive");
        var filter = new VolatilityFilter(recursion, start);
        if (metadata.TryGetValue(LongRunLevelsKey, out var levelText))
        {
            if (kind != VolatilityFilterKind.ComponentGjrGarch) Throw.User($"data metadata: {LongRunLevelsKey} needs filter '{ComponentGjrGarchName}', not '{kindName}'");
            var levelSets = levelText.Split(';');
            if (column >= levelSets.Length) Throw.User($"data metadata: {LongRunLevelsKey} holds {English.Plural(levelSets.Length, "level set")}, none for column {column}");
            var words = levelSets[column].Split(' ');
            var levels = new double[words.Length];
            for (int i = 0; i < words.Length; i++)
                if (!double.TryParse(words[i], NumberStyles.Float, CultureInfo.InvariantCulture, out levels[i]) || !(levels[i] > 0) || !double.IsFinite(levels[i]))
                    Throw.User($"data metadata: {LongRunLevelsKey} value '{DataFiles.Show(words[i])}' is not a positive finite number");
            filter = filter with { LongRunLevels = levels };
        }
        if (metadata.TryGetValue(PathParametersKey, out var pathText))
        {
            if (kind != VolatilityFilterKind.GjrGarch) Throw.User($"data metadata: {PathParametersKey} needs filter '{GjrGarchName}', not '{kindName}'");
            var pathSets = pathText.Split(';');
            if (column >= pathSets.Length) Throw.User($"data metadata: {PathParametersKey} holds {English.Plural(pathSets.Length, "parameter set")}, none for column {column}");
            var words = pathSets[column].Split(' ');
            if (words.Length != 6) Throw.User($"data metadata: {PathParametersKey} needs 6 numbers per column (μ ω α γ β ν), got {words.Length}");
            var v = new double[6];
            for (int i = 0; i < 6; i++)
                if (!double.TryParse(words[i], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]) || !double.IsFinite(v[i]))
                    Throw.User($"data metadata: {PathParametersKey} value '{DataFiles.Show(words[i])}' is not a finite number");
            var path = new GjrGarchParameters(v[0], v[1], v[2], v[3], v[4], v[5]);
            path.Validate();
            filter = filter with { PathRecursion = path };
        }
        return filter;
    }

    /// <summary>The <c>--filter-start</c> word of a start.</summary>
    public static string Name(FilterStart start) => start == FilterStart.Drawn ? DrawnStartName : "last";

    /// <summary>The <c>--path-calibration</c> word of a calibration.</summary>
    public static string Name(PathCalibration calibration) => calibration == PathCalibration.VariancePersistence ? VariancePersistenceName : "none";

    /// <summary>The metadata and <c>--path-calibration</c> word of <see cref="PathCalibration.VariancePersistence"/>.</summary>
    public const string VariancePersistenceName = "variance-persistence";

    /// <summary>Reads a <c>--path-calibration</c> word: <c>none</c> or <c>variance-persistence</c>.</summary>
    public static PathCalibration ParseCalibration(string value) => value switch
    {
        "none" => PathCalibration.None,
        VariancePersistenceName => PathCalibration.VariancePersistence,
        _ => Throw.User<PathCalibration>($"--path-calibration '{DataFiles.Show(value)}' is not one of none, {VariancePersistenceName}"),
    };

    /// <summary>Reads a <c>--filter-start</c> word: <c>last</c> or <c>drawn</c>.</summary>
    public static FilterStart ParseStart(string value) => value switch
    {
        "last" => FilterStart.Last,
        DrawnStartName => FilterStart.Drawn,
        _ => Throw.User<FilterStart>($"--filter-start '{DataFiles.Show(value)}' is not one of last, {DrawnStartName}"),
    };
}
