using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>
/// The image encodings by name: fitting one on training returns, and rebuilding one from the metadata a
/// checkpoint stored (its "encoding" key names the class).
/// </summary>
public static class ImageEncodings
{
    /// <summary>Every encoding name, in the order error messages list them.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        GasfEncoding.EncodingName,
        GadfEncoding.EncodingName,
        MarkovTransitionFieldEncoding.EncodingName,
        RecurrencePlotEncoding.EncodingName,
        RawWindowEncoding.EncodingName,
    ];

    /// <summary>
    /// Fits the encoding called <paramref name="name"/> on <paramref name="trainingReturns"/> (only the training
    /// part of the series). The bounded encodings (GASF, GADF, raw) and the recurrence plot's scale cover every
    /// training value, widened by <see cref="BoundsMargin"/> of the range on each side (<see cref="EncodingMetadata.CoveringBounds"/>),
    /// so no training return is clipped and the most extreme one round-trips; the Markov transition field uses
    /// its quantile bins, which clip nothing.
    /// </summary>
    public static IImageEncoding Fit(string name, ReadOnlySpan<float> trainingReturns, int windowLength)
    {
        if (name == MarkovTransitionFieldEncoding.EncodingName) return MarkovTransitionFieldEncoding.Fit(trainingReturns, windowLength);
        if (!Names.Contains(name)) Throw.User(Unknown(name));
        var (lower, upper) = EncodingMetadata.CoveringBounds(EncodingMetadata.ToDouble(trainingReturns), BoundsMargin, name);
        return name switch
        {
            GasfEncoding.EncodingName => new GasfEncoding(windowLength, lower, upper),
            GadfEncoding.EncodingName => new GadfEncoding(windowLength, lower, upper),
            RecurrencePlotEncoding.EncodingName => new RecurrencePlotEncoding(windowLength, upper - lower),
            _ => new RawWindowEncoding(windowLength, lower, upper),
        };
    }

    /// <summary>
    /// The share of the training range added below the minimum and above the maximum: a sigmoid output reaches
    /// 0 or 1 only at infinite logits, so the most extreme training value must sit inside the open interval.
    /// </summary>
    public const double BoundsMargin = 0.05;

    /// <summary>Rebuilds an encoding from its <see cref="IImageEncoding.ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static IImageEncoding FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return EncodingMetadata.Get(metadata, EncodingMetadata.KeyEncoding) switch
        {
            GasfEncoding.EncodingName => GasfEncoding.FromMetadata(metadata),
            GadfEncoding.EncodingName => GadfEncoding.FromMetadata(metadata),
            MarkovTransitionFieldEncoding.EncodingName => MarkovTransitionFieldEncoding.FromMetadata(metadata),
            RecurrencePlotEncoding.EncodingName => RecurrencePlotEncoding.FromMetadata(metadata),
            RawWindowEncoding.EncodingName => RawWindowEncoding.FromMetadata(metadata),
            var name => Throw.User<IImageEncoding>(Unknown(name)),
        };
    }

    private static string Unknown(string? name) =>
        $"unknown image encoding '{name}'; the encodings are {string.Join(", ", Names)}";
}

/// <summary>What the encodings share: metadata keys and parsing, bounds fitted on quantiles, shape checks.</summary>
internal static class EncodingMetadata
{
    public const string KeyEncoding = "encoding", KeyWindow = "window_length", KeyLower = "lower", KeyUpper = "upper";

    public static string Get(IReadOnlyDictionary<string, string> m, string key) =>
        m.TryGetValue(key, out var v) && v is not null ? v
            : Throw.User<string>($"image encoding metadata has no '{key}' (keys found: {string.Join(", ", m.Keys)})");

    public static double GetDouble(IReadOnlyDictionary<string, string> m, string key) => ParseDouble(Get(m, key), key);

    public static double ParseDouble(string s, string key) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v
            : Throw.User<double>($"image encoding metadata: {key} '{s}' is not a finite number");

    public static int GetInt(IReadOnlyDictionary<string, string> m, string key, int min, int max)
    {
        var s = Get(m, key);
        return int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
            : Throw.User<int>($"image encoding metadata: {key} '{s}' is not an integer in {min}..{max}");
    }

    public static int GetWindowLength(IReadOnlyDictionary<string, string> m, int maxWindowLength) =>
        GetInt(m, KeyWindow, 1, maxWindowLength);

    public static void RequireName(IReadOnlyDictionary<string, string> m, string expected)
    {
        ArgumentNullException.ThrowIfNull(m);
        var name = Get(m, KeyEncoding);
        if (!string.Equals(name, expected, StringComparison.Ordinal))
            Throw.User($"image encoding metadata: encoding is '{name}', expected '{expected}'");
    }

    /// <summary>The metadata of an encoding with global bounds (GASF, GADF, raw): its name, window length and bounds.</summary>
    public static IReadOnlyDictionary<string, string> Bounded(string name, int windowLength, double lower, double upper) => new Dictionary<string, string>
    {
        [KeyEncoding] = name,
        [KeyWindow] = windowLength.ToString(CultureInfo.InvariantCulture),
        [KeyLower] = R(lower),
        [KeyUpper] = R(upper),
    };

    /// <summary>Reads what <see cref="Bounded"/> wrote, checking the name; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static (int WindowLength, double Lower, double Upper) ReadBounded(IReadOnlyDictionary<string, string> m, string name, int maxWindowLength)
    {
        RequireName(m, name);
        int window = GetWindowLength(m, maxWindowLength);
        var (lower, upper) = GetBounds(m);
        return (window, lower, upper);
    }

    public static (double Lower, double Upper) GetBounds(IReadOnlyDictionary<string, string> m)
    {
        double lower = GetDouble(m, KeyLower), upper = GetDouble(m, KeyUpper);
        if (!(lower < upper) || !double.IsFinite(upper - lower))
            Throw.User($"image encoding metadata: lower {R(lower)} must be below upper {R(upper)}");
        return (lower, upper);
    }

    public static void CheckBounds(double lower, double upper, string encoding)
    {
        if (!double.IsFinite(lower) || !double.IsFinite(upper) || !(lower < upper) || !double.IsFinite(upper - lower))
            throw new ArgumentException($"{encoding} bounds must be finite with lower < upper (got lower={R(lower)}, upper={R(upper)})");
    }

    public static string R(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i];
        return d;
    }

    /// <summary>The training returns sorted ascending; fewer than 2 or a non-finite one is a user error.</summary>
    public static double[] SortedTrainingReturns(ReadOnlySpan<double> trainingReturns, string what)
    {
        if (trainingReturns.Length < 2)
            Throw.User($"cannot fit {what}: {trainingReturns.Length} training returns, at least 2 are needed");
        for (int i = 0; i < trainingReturns.Length; i++)
            if (!double.IsFinite(trainingReturns[i]))
                Throw.User($"cannot fit {what}: training return {i} is {trainingReturns[i].ToString(CultureInfo.InvariantCulture)}");
        var sorted = trainingReturns.ToArray();
        Array.Sort(sorted);
        return sorted;
    }

    /// <summary>
    /// The <paramref name="lowerQuantile"/> and <paramref name="upperQuantile"/> quantiles of the training
    /// returns (see <see cref="Quantile"/>); equal quantiles (a constant series) are a user error.
    /// </summary>
    public static (double Lower, double Upper) FitBounds(ReadOnlySpan<double> trainingReturns, double lowerQuantile, double upperQuantile, string encoding)
    {
        if (!(lowerQuantile >= 0 && lowerQuantile < upperQuantile && upperQuantile <= 1))
            throw new ArgumentOutOfRangeException(nameof(lowerQuantile), $"quantiles must satisfy 0 <= lower < upper <= 1 (got {lowerQuantile}, {upperQuantile})");
        var sorted = SortedTrainingReturns(trainingReturns, $"{encoding} bounds");
        double lower = Quantile(sorted, lowerQuantile), upper = Quantile(sorted, upperQuantile);
        if (!(lower < upper))
            Throw.User($"cannot fit {encoding} bounds: the training returns between the {lowerQuantile} and {upperQuantile} quantiles are all {R(lower)} (a constant price series?)");
        return (lower, upper);
    }

    /// <summary>
    /// Bounds that hold every training value: [min − m·(max − min), max + m·(max − min)]; a constant series is a
    /// user error.
    /// </summary>
    public static (double Lower, double Upper) CoveringBounds(ReadOnlySpan<double> trainingReturns, double margin, string encoding)
    {
        var sorted = SortedTrainingReturns(trainingReturns, $"{encoding} bounds");
        double min = sorted[0], max = sorted[^1], range = max - min;
        if (!(range > 0))
            Throw.User($"cannot fit {encoding} bounds: every training return is {R(min)} (a constant price series?)");
        return (min - margin * range, max + margin * range);
    }

    /// <summary>
    /// Linear-interpolated quantile of an ascending array (numpy "linear", R type 7): h = (n−1)·q,
    /// quantile = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
    /// </summary>
    public static double Quantile(double[] sorted, double q)
    {
        double h = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(h);
        if (lo >= sorted.Length - 1) return sorted[^1];
        return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }

    /// <summary>x̃ = clamp((r − lower)/(upper − lower), 0, 1); a NaN return is an argument error.</summary>
    public static double Scaled(float r, double lower, double range, int index)
    {
        double x = Math.Clamp((r - lower) / range, 0.0, 1.0);
        return double.IsNaN(x) ? throw new ArgumentException($"window[{index}] is NaN", "window") : x;
    }

    public static void CheckShapes(IImageEncoding encoding, ReadOnlySpan<float> window, ReadOnlySpan<float> image)
    {
        int pixels = encoding.Height * encoding.Width;
        if (window.Length != encoding.WindowLength)
            throw new ArgumentException($"window has {window.Length} returns, expected {encoding.WindowLength}", nameof(window));
        if (image.Length != pixels)
            throw new ArgumentException($"image has {image.Length} pixels, expected {pixels}", nameof(image));
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void CannotDecode(string encoding, string why) =>
        Throw.User($"the {encoding} encoding cannot be decoded back to returns: {why}");
}
