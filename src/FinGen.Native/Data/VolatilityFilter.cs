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
}

/// <summary>
/// The filter of one price series: the fitted <see cref="Parameters"/> and <see cref="NextVariance"/>, σ² of the day
/// after the last training return, where generated paths start (as filtered historical simulation does).
/// <see cref="Recolour"/> turns generated standardized residuals into returns.
/// </summary>
public sealed record VolatilityFilter(GjrGarchParameters Parameters, double NextVariance)
{
    /// <summary>The metadata "filter" value of <see cref="VolatilityFilterKind.GjrGarch"/>.</summary>
    public const string GjrGarchName = "gjr-garch";
    /// <summary>Metadata key: the filter's name (absent or <c>none</c> without one).</summary>
    public const string KindKey = "filter";
    /// <summary>Metadata key: one parameter set per price column, <c>;</c>-separated, each "μ ω α γ β ν σ²next".</summary>
    public const string ParametersKey = "filter_parameters";

    /// <summary>
    /// Fits the filter on <paramref name="trainingReturns"/> and returns it with the standardized residuals of those
    /// returns (what the model is trained on).
    /// </summary>
    public static (VolatilityFilter Filter, float[] Residuals) Fit(ReadOnlySpan<float> trainingReturns, string source)
    {
        var returns = new double[trainingReturns.Length];
        for (int i = 0; i < returns.Length; i++) returns[i] = trainingReturns[i];
        GjrGarchFit fit;
        try { fit = GjrGarch.Fit(returns); }
        catch (FinGenException e) { throw new FinGenException($"{source}: --filter {GjrGarchName}: {e.Message}"); }
        var variances = GjrGarch.ConditionalVariances(fit.Parameters, returns);
        var residuals = new float[returns.Length];
        for (int t = 0; t < returns.Length; t++) residuals[t] = (float)((returns[t] - fit.Parameters.Mu) / Math.Sqrt(variances[t]));
        return (new VolatilityFilter(fit.Parameters, variances[^1]), residuals);
    }

    /// <summary>
    /// Re-colours a path of standardized residuals <paramref name="z"/> from σ² = <paramref name="variance"/> of its
    /// first day (rₜ = μ + σₜzₜ, σ²ₜ₊₁ by the recursion), writing <paramref name="returns"/>; returns σ² of the next day.
    /// </summary>
    public double Recolour(double variance, ReadOnlySpan<float> z, Span<float> returns)
    {
        var p = Parameters;
        for (int t = 0; t < z.Length; t++)
        {
            double r = p.Mu + Math.Sqrt(variance) * z[t];
            returns[t] = (float)r;
            variance = p.NextVariance(variance, r);
        }
        return variance;
    }

    /// <summary>The <c>--filter</c> word of a kind.</summary>
    public static string Name(VolatilityFilterKind kind) => kind == VolatilityFilterKind.GjrGarch ? GjrGarchName : "none";

    /// <summary>Reads a <c>--filter</c> word: <c>none</c> or <c>gjr-garch</c>.</summary>
    public static VolatilityFilterKind ParseKind(string value) => value switch
    {
        "none" => VolatilityFilterKind.None,
        GjrGarchName => VolatilityFilterKind.GjrGarch,
        _ => Throw.User<VolatilityFilterKind>($"--filter '{DataFiles.Show(value)}' is not one of none, {GjrGarchName}"),
    };

    /// <summary>The <see cref="ParametersKey"/> value of one filter per column.</summary>
    public static string ToMetadata(IEnumerable<VolatilityFilter> filters) => string.Join(";", filters.Select(f =>
    {
        var p = f.Parameters;
        return string.Join(" ", new[] { p.Mu, p.Omega, p.Alpha, p.Gamma, p.Beta, p.Nu, f.NextVariance }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
    }));

    /// <summary>
    /// The filter of price column <paramref name="column"/> a checkpoint's data metadata describes, or null when it
    /// has none; bad metadata throws <see cref="FinGenException"/>.
    /// </summary>
    public static VolatilityFilter? FromMetadata(IReadOnlyDictionary<string, string> metadata, int column = 0)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(KindKey, out var kind) || ParseKind(kind) == VolatilityFilterKind.None) return null;
        if (!metadata.TryGetValue(ParametersKey, out var text))
            Throw.User($"data metadata: filter '{kind}' has no '{ParametersKey}'");
        var sets = text.Split(';');
        if (column < 0 || column >= sets.Length)
            Throw.User($"data metadata: {ParametersKey} holds {English.Plural(sets.Length, "filter")}, none for column {column}");
        var values = sets[column].Split(' ');
        var numbers = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            if (!double.TryParse(values[i], NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i]) || !double.IsFinite(numbers[i]))
                Throw.User($"data metadata: {ParametersKey} value '{DataFiles.Show(values[i])}' is not a finite number");
        if (numbers.Length != 7) Throw.User($"data metadata: {ParametersKey} needs 7 numbers per column (μ ω α γ β ν σ²), got {numbers.Length}");
        var parameters = new GjrGarchParameters(numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]);
        parameters.Validate();
        if (!(numbers[6] > 0)) Throw.User($"data metadata: {ParametersKey}: the start variance {numbers[6]} must be positive");
        return new VolatilityFilter(parameters, numbers[6]);
    }
}
