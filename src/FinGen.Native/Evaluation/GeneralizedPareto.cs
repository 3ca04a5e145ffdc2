namespace FinGen.Native.Evaluation;

/// <summary>
/// The generalized Pareto distribution of exceedances y ≥ 0 over a high threshold: P(Y &gt; y) = (1 + ξy/σ)^(−1/ξ), or
/// e^(−y/σ) at ξ = 0. By the Pickands–Balkema–de Haan theorem it is the limit law of the excesses of any distribution in
/// an extreme-value domain of attraction, which is why McNeil &amp; Frey (2000, "Estimation of tail-related risk measures
/// for heteroscedastic financial time series: an extreme value approach") model the tails of GARCH residuals with it
/// beyond their 10 % quantiles, and found its VaR and ES backtest better than the residuals' empirical quantiles.
/// MathNet.Numerics 5.0.0 has no generalized Pareto distribution, hence this one.
/// </summary>
public readonly record struct GeneralizedPareto(double Shape, double Scale)
{
    /// <summary>|ξ| below this is the exponential limit ξ → 0 (the general formulas lose their digits there).</summary>
    private const double ExponentialShape = 1e-9;

    /// <summary>The shapes the fit searches: the maximum-likelihood estimator is regular for ξ &gt; −½ (Smith 1985), and ξ ≥ 1 has no mean, so no ES.</summary>
    public const double MinShape = -0.5, MaxShape = 0.95;

    /// <summary>P(Y &gt; y).</summary>
    public double Survival(double y)
    {
        if (y <= 0) return 1;
        if (Math.Abs(Shape) < ExponentialShape) return Math.Exp(-y / Scale);
        double b = 1 + Shape * y / Scale;
        return b <= 0 ? 0 : Math.Pow(b, -1 / Shape);
    }

    /// <summary>The y with P(Y &gt; y) = <paramref name="p"/> (0 &lt; p ≤ 1).</summary>
    public double InverseSurvival(double p)
    {
        if (!(p > 0 && p <= 1)) Throw.Argument($"an exceedance probability must be in (0, 1], got {p}");
        return Math.Abs(Shape) < ExponentialShape ? -Scale * Math.Log(p) : Scale / Shape * (Math.Pow(p, -Shape) - 1);
    }

    /// <summary>log f(y); −∞ outside the support.</summary>
    public double LogDensity(double y)
    {
        if (y < 0) return double.NegativeInfinity;
        if (Math.Abs(Shape) < ExponentialShape) return -Math.Log(Scale) - y / Scale;
        double b = 1 + Shape * y / Scale;
        return b <= 0 ? double.NegativeInfinity : -Math.Log(Scale) - (1 + 1 / Shape) * Math.Log(b);
    }

    /// <summary>
    /// The maximum-likelihood fit to <paramref name="excesses"/> (every value ≥ 0, at least 10), ξ limited to
    /// [<see cref="MinShape"/>, <see cref="MaxShape"/>], from the method-of-moments estimate (Hosking &amp; Wallis 1987).
    /// </summary>
    public static GeneralizedPareto Fit(ReadOnlySpan<double> excesses)
    {
        if (excesses.Length < 10) Throw.User($"a generalized Pareto tail needs at least 10 excesses, got {excesses.Length}");
        double mean = 0, square = 0;
        foreach (double y in excesses)
        {
            if (!(y >= 0) || !double.IsFinite(y)) Throw.User($"a generalized Pareto excess must be finite and ≥ 0, got {y}");
            mean += y;
        }
        mean /= excesses.Length;
        foreach (double y in excesses) square += (y - mean) * (y - mean);
        double variance = square / excesses.Length;
        if (!(mean > 0) || !(variance > 0)) Throw.User("a generalized Pareto tail needs excesses that are not all equal");
        double ratio = mean * mean / variance;
        double shape0 = Math.Clamp(0.5 * (1 - ratio), MinShape + 0.05, MaxShape - 0.05);
        double scale0 = Math.Max(mean * (1 - shape0), 1e-3 * mean);

        double[] ys = excesses.ToArray();
        double NegativeLogLikelihood(double[] x)
        {
            var g = new GeneralizedPareto(x[1], Math.Exp(x[0]));
            if (g.Shape < MinShape || g.Shape > MaxShape) return double.PositiveInfinity;
            double sum = 0;
            foreach (double y in ys) sum -= g.LogDensity(y);
            return sum;
        }
        var found = Minimizer.NelderMead(NegativeLogLikelihood, [Math.Log(scale0), shape0], [0.2, 0.1], 1e-12, 4000);
        return new GeneralizedPareto(found.Point[1], Math.Exp(found.Point[0]));
    }
}
