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
        FilterStart start = FilterStart.Last)
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
        return filter;
    }

    /// <summary>The <c>--filter-start</c> word of a start.</summary>
    public static string Name(FilterStart start) => start == FilterStart.Drawn ? DrawnStartName : "last";

    /// <summary>Reads a <c>--filter-start</c> word: <c>last</c> or <c>drawn</c>.</summary>
    public static FilterStart ParseStart(string value) => value switch
    {
        "last" => FilterStart.Last,
        DrawnStartName => FilterStart.Drawn,
        _ => Throw.User<FilterStart>($"--filter-start '{DataFiles.Show(value)}' is not one of last, {DrawnStartName}"),
    };
}
