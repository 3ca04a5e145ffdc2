using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>What a conditional model's generator and discriminator see besides the window (<c>--condition</c>).</summary>
public enum ConditionKind
{
    /// <summary>Nothing: every window is drawn on its own (the default).</summary>
    None,
    /// <summary>Log realized volatility of the previous 5, 20 and 60 days of returns.</summary>
    RealizedVol,
    /// <summary><see cref="RealizedVol"/>, then the previous window's returns (one value a day, oldest first).</summary>
    RealizedVolWindow,
}

/// <summary>
/// The condition c of a conditional model, computed from the returns before a window starts: log realized
/// volatility ½·log(mean r²) over the previous 5, 20 and 60 days (and, for <see cref="ConditionKind.RealizedVolWindow"/>,
/// the previous window's returns), each feature standardized by the mean and standard deviation it has over the
/// training windows. Training computes c from the real returns before each window; a rolled-out path computes it from
/// the path so far (real history, then generated days); a conditional forecast of day t from the real history before t.
/// Outside training, c is clamped to the range it had over the training windows: a network extrapolates badly, and in a
/// rolled-out path a generator that answers an unseen high volatility with larger residuals feeds its own condition
/// (measured: an undertrained conditional GAN's GJR-recoloured paths ran to ±∞ within 600 days without the clamp).
/// Stored in the checkpoint's data metadata (<see cref="ToMetadata"/>), with the last training returns a path starts from.
/// </summary>
public sealed class ConditionFeatures
{
    /// <summary>The realized-volatility horizons, in days.</summary>
    public static IReadOnlyList<int> VolatilityDays { get; } = [5, 20, 60];

    /// <summary>Metadata key: the kind's <c>--condition</c> word (absent without a condition).</summary>
    public const string KindKey = "condition";
    /// <summary>Metadata key: "mean std lower upper" of every feature (lower and upper standardized), <c>;</c>-separated.</summary>
    public const string StandardizationKey = "condition_standardization";
    /// <summary>Metadata key: the last <see cref="Lookback"/> training returns of the first column, where paths start.</summary>
    public const string HistoryKey = "condition_history";

    public const string RealizedVolName = "realized-vol", RealizedVolWindowName = "realized-vol-window";

    /// <summary>The mean of r² below which a realized volatility counts as this floor (a run of zero returns has no log).</summary>
    const double VarianceFloor = 1e-12;

    public ConditionFeatures(ConditionKind kind, int window, double[] mean, double[] std, double[] lower, double[] upper, double[] history)
    {
        if (kind == ConditionKind.None) Throw.Argument("a condition of kind none has no features");
        if (window < 1) Throw.User($"condition: window {window} must be at least 1");
        Kind = kind;
        Window = window;
        int width = WidthOf(kind, window);
        if (mean.Length != width || std.Length != width || lower.Length != width || upper.Length != width)
            Throw.User($"condition: {mean.Length} means, {std.Length} deviations and {lower.Length}/{upper.Length} bounds for {width} features");
        for (int i = 0; i < width; i++)
            if (!(lower[i] <= upper[i])) Throw.User($"condition: feature {i}'s range [{lower[i]}, {upper[i]}] is empty");
        for (int i = 0; i < width; i++)
            if (!double.IsFinite(mean[i]) || !(std[i] > 0) || !double.IsFinite(std[i]))
                Throw.User($"condition: feature {i} has mean {mean[i]} and deviation {std[i]}; the deviation must be positive and finite");
        if (history.Length < LookbackOf(kind, window))
            Throw.User($"condition: {history.Length} start returns, {LookbackOf(kind, window)} needed");
        Mean = mean;
        Std = std;
        Lower = lower;
        Upper = upper;
        History = history;
    }

    public ConditionKind Kind { get; }
    /// <summary>The model's window length (the previous window's returns are that many days).</summary>
    public int Window { get; }
    public double[] Mean { get; }
    public double[] Std { get; }
    /// <summary>The least and greatest standardized value of each feature over the training windows: c is clamped to them.</summary>
    public double[] Lower { get; }
    public double[] Upper { get; }
    /// <summary>The last training returns (at least <see cref="Lookback"/>), oldest first: a rolled-out path's real past.</summary>
    public double[] History { get; }

    /// <summary>Values in c.</summary>
    public int Width => WidthOf(Kind, Window);

    /// <summary>Returns before a window that c is computed from.</summary>
    public int Lookback => LookbackOf(Kind, Window);

    public static int WidthOf(ConditionKind kind, int window) => kind switch
    {
        ConditionKind.None => 0,
        ConditionKind.RealizedVol => VolatilityDays.Count,
        _ => VolatilityDays.Count + window,
    };

    public static int LookbackOf(ConditionKind kind, int window) =>
        kind == ConditionKind.None ? 0 : Math.Max(VolatilityDays[^1], kind == ConditionKind.RealizedVolWindow ? window : 0);

    /// <summary>
    /// The unstandardized features of the window that follows <paramref name="past"/> (its last value is the day
    /// before the window; at least <see cref="LookbackOf"/> values).
    /// </summary>
    public static void Raw(ConditionKind kind, int window, ReadOnlySpan<double> past, Span<double> features)
    {
        int need = LookbackOf(kind, window);
        if (past.Length < need) Throw.Argument($"a condition needs {need} past returns, got {past.Length}");
        if (features.Length != WidthOf(kind, window)) Throw.Argument($"features holds {features.Length} values, expected {WidthOf(kind, window)}");
        for (int f = 0; f < VolatilityDays.Count; f++)
        {
            int days = VolatilityDays[f];
            double sum = 0;
            for (int i = past.Length - days; i < past.Length; i++) sum += past[i] * past[i];
            features[f] = 0.5 * Math.Log(Math.Max(sum / days, VarianceFloor));
        }
        if (kind == ConditionKind.RealizedVolWindow)
            for (int i = 0; i < window; i++) features[VolatilityDays.Count + i] = past[past.Length - window + i];
    }

    /// <summary>
    /// The standardized condition of the window after <paramref name="past"/>, clamped to the training range, written
    /// into <paramref name="c"/> [Width].
    /// </summary>
    public void Compute(ReadOnlySpan<double> past, Span<float> c)
    {
        Span<double> raw = stackalloc double[Width];
        Raw(Kind, Window, past, raw);
        for (int i = 0; i < raw.Length; i++) c[i] = (float)Math.Clamp((raw[i] - Mean[i]) / Std[i], Lower[i], Upper[i]);
    }

    /// <summary>
    /// The features of every window start in <paramref name="starts"/> of every series, standardized by their own
    /// mean and deviation (population, over all of them): the fitted features and the rows [Σ starts, Width].
    /// <paramref name="history"/> is kept as the rolled-out paths' past.
    /// </summary>
    public static (ConditionFeatures Features, float[] Conditions) Fit(ConditionKind kind, int window,
        IReadOnlyList<(double[] Returns, int[] Starts)> series, double[] history)
    {
        int width = WidthOf(kind, window);
        int rows = series.Sum(s => s.Starts.Length);
        if (rows < 2) Throw.User($"--condition {Name(kind)}: {rows} training window(s) have {LookbackOf(kind, window)} returns before them; at least 2 are needed");
        var raw = new double[(long)rows * width];
        int row = 0;
        foreach (var (returns, starts) in series)
            foreach (int start in starts)
                Raw(kind, window, returns.AsSpan(0, start), raw.AsSpan(row++ * width, width));
        var mean = new double[width];
        var std = new double[width];
        for (int f = 0; f < width; f++)
        {
            double sum = 0, squares = 0;
            for (int r = 0; r < rows; r++) sum += raw[(long)r * width + f];
            mean[f] = sum / rows;
            for (int r = 0; r < rows; r++) squares += Math.Pow(raw[(long)r * width + f] - mean[f], 2);
            std[f] = Math.Sqrt(squares / rows);
            if (!(std[f] > 1e-12)) std[f] = 1; // a constant feature carries nothing; leave it centred
        }
        var conditions = new float[(long)rows * width];
        var lower = Enumerable.Repeat(double.PositiveInfinity, width).ToArray();
        var upper = Enumerable.Repeat(double.NegativeInfinity, width).ToArray();
        for (long i = 0; i < conditions.Length; i++)
        {
            int f = (int)(i % width);
            double v = (raw[i] - mean[f]) / std[f];
            conditions[i] = (float)v;
            lower[f] = Math.Min(lower[f], v);
            upper[f] = Math.Max(upper[f], v);
        }
        return (new ConditionFeatures(kind, window, mean, std, lower, upper, history), conditions);
    }

    /// <summary>The <c>--condition</c> word of a kind.</summary>
    public static string Name(ConditionKind kind) => kind switch
    {
        ConditionKind.RealizedVol => RealizedVolName,
        ConditionKind.RealizedVolWindow => RealizedVolWindowName,
        _ => "none",
    };

    /// <summary>Reads a <c>--condition</c> word: <c>none</c>, <c>realized-vol</c> or <c>realized-vol-window</c>.</summary>
    public static ConditionKind ParseKind(string value) => value switch
    {
        "none" => ConditionKind.None,
        RealizedVolName => ConditionKind.RealizedVol,
        RealizedVolWindowName => ConditionKind.RealizedVolWindow,
        _ => Throw.User<ConditionKind>($"--condition '{DataFiles.Show(value)}' is not one of none, {RealizedVolName}, {RealizedVolWindowName}"),
    };

    public IReadOnlyDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        [KindKey] = Name(Kind),
        [StandardizationKey] = string.Join(";", Mean.Select((m, i) => $"{R(m)} {R(Std[i])} {R(Lower[i])} {R(Upper[i])}")),
        [HistoryKey] = string.Join(" ", History.Select(R)),
    };

    /// <summary>The condition a checkpoint's data metadata describes, or null for an unconditional model.</summary>
    public static ConditionFeatures? FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(KindKey, out var name) || ParseKind(name) is var kind && kind == ConditionKind.None) return null;
        int window = DataOptions.FromMetadata(metadata).Window;
        if (!metadata.TryGetValue(StandardizationKey, out var text)) Throw.User($"data metadata: condition '{name}' has no '{StandardizationKey}'");
        var pairs = text.Split(';');
        var mean = new double[pairs.Length];
        var std = new double[pairs.Length];
        var lower = new double[pairs.Length];
        var upper = new double[pairs.Length];
        for (int i = 0; i < pairs.Length; i++)
        {
            var parts = pairs[i].Split(' ');
            if (parts.Length != 4) Throw.User($"data metadata: {StandardizationKey} entry '{DataFiles.Show(pairs[i])}' is not 'mean std lower upper'");
            mean[i] = Number(parts[0], StandardizationKey);
            std[i] = Number(parts[1], StandardizationKey);
            lower[i] = Number(parts[2], StandardizationKey);
            upper[i] = Number(parts[3], StandardizationKey);
        }
        var history = metadata.TryGetValue(HistoryKey, out var h) && h.Length > 0
            ? h.Split(' ').Select(v => Number(v, HistoryKey)).ToArray()
            : Throw.User<double[]>($"data metadata: condition '{name}' has no '{HistoryKey}'");
        return new ConditionFeatures(kind, window, mean, std, lower, upper, history);
    }

    static double Number(string text, string key) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : Throw.User<double>($"data metadata: {key} value '{DataFiles.Show(text)}' is not a finite number");

    static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    public override string ToString() => $"condition {Name(Kind)} ({Width} features from the previous {Lookback} returns)";
}
