using FinGen.Native.Randomness;

namespace FinGen.Native.Evaluation;

/// <summary>
/// Filtered historical simulation (Barone-Adesi, Giannopoulos &amp; Vosper 1999; Python arch's
/// <c>forecast(method="bootstrap")</c>): a GJR-GARCH(1,1)-t filter fitted on the training returns, its standardized
/// residuals zₜ = (rₜ − μ)/σₜ kept, and scenarios made by drawing residuals uniformly with replacement and
/// re-colouring them with the variance recursion from a filtered state: ε* = σ*·z*, σ*² updated by the recursion.
/// The residuals carry the empirical shape of the innovations (skew, tails); the filter carries volatility
/// clustering and leverage.
/// </summary>
public sealed class FilteredHistoricalSimulation
{
    FilteredHistoricalSimulation(GjrGarchFit fit, double[] residuals, double nextVariance)
    {
        Fit = fit;
        Residuals = residuals;
        NextVariance = nextVariance;
    }

    /// <summary>The filter fitted on the training returns.</summary>
    public GjrGarchFit Fit { get; }
    /// <summary>The training returns' standardized residuals, the pool scenarios draw from.</summary>
    public double[] Residuals { get; }
    /// <summary>σ² of the day after the last training return: where simulated paths start.</summary>
    public double NextVariance { get; }

    /// <summary>Fits the filter on <paramref name="trainingReturns"/> and keeps its standardized residuals.</summary>
    public static FilteredHistoricalSimulation Create(ReadOnlySpan<double> trainingReturns)
    {
        var fit = GjrGarch.Fit(trainingReturns);
        var variances = GjrGarch.ConditionalVariances(fit.Parameters, trainingReturns);
        var z = new double[trainingReturns.Length];
        for (int t = 0; t < z.Length; t++) z[t] = (trainingReturns[t] - fit.Parameters.Mu) / Math.Sqrt(variances[t]);
        return new FilteredHistoricalSimulation(fit, z, variances[^1]);
    }

    /// <summary>
    /// <paramref name="n"/> returns continuing the training series: the recursion starts at <see cref="NextVariance"/>
    /// and residual t is <c>Residuals[Philox.NextInt(seed, FilteredBootstrap, t, count)]</c>.
    /// </summary>
    public double[] Simulate(int n, ulong seed)
    {
        Checks.AtLeast(n, 0, "number of simulated returns");
        var z = new double[n];
        for (int t = 0; t < n; t++) z[t] = Residuals[Philox.NextInt(seed, EvaluationStreams.FilteredBootstrap, (ulong)t, Residuals.Length)];
        var returns = new double[n];
        GjrGarch.Recolour(Fit.Parameters, NextVariance, z, returns);
        return returns;
    }
}
