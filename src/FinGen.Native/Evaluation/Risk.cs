using MathNet.Numerics;
using MathNet.Numerics.Distributions;

namespace FinGen.Native.Evaluation;

/// <summary>A likelihood-ratio test: the statistic, its χ² degrees of freedom and the p-value P(χ²_df &gt; statistic).</summary>
public readonly record struct LikelihoodRatioTest(double Statistic, int DegreesOfFreedom, double PValue);

/// <summary>The Basel traffic-light zones of a VaR backtest.</summary>
public enum TrafficLightZone
{
    /// <summary>Few exceptions: consistent with an accurate model.</summary>
    Green,
    /// <summary>More exceptions than an accurate model usually gives.</summary>
    Yellow,
    /// <summary>So many exceptions that an accurate model is very unlikely.</summary>
    Red,
}

/// <summary>The outcome of backtesting a series of VaR forecasts against realized returns.</summary>
public sealed record BacktestResult(
    int Observations,
    int Exceptions,
    double Alpha,
    LikelihoodRatioTest Kupiec,
    LikelihoodRatioTest Independence,
    LikelihoodRatioTest ConditionalCoverage,
    TrafficLightZone Zone);

/// <summary>
/// Historical risk measures and VaR backtests. Sign convention: inputs are log returns r; the loss is
/// L = −r, and VaR and ES are stated as losses, so a positive VaR is a loss (VaR₉₉ = 0.03 means a 3 % log
/// loss is exceeded on about 1 % of days). α is the confidence level (0.95, 0.99); the tail probability
/// is p = 1 − α.
/// </summary>
public static class Risk
{
    /// <summary>The Basel zone boundary: the yellow zone starts where P(X ≤ x) ≥ 95 %.</summary>
    public const double YellowCumulativeProbability = 0.95;

    /// <summary>The Basel zone boundary: the red zone starts where P(X ≤ x) ≥ 99.99 %.</summary>
    public const double RedCumulativeProbability = 0.9999;

    /// <summary>
    /// Historical value at risk: with X₁ ≤ X₂ ≤ ⋯ ≤ Xₙ the sorted returns (aggregated to
    /// <paramref name="horizon"/>-day returns by <see cref="StylizedFacts.AggregateReturns"/> when h &gt; 1)
    /// and w = n(1 − α), VaR_α = −X_(⌊w⌋+1), i.e. the ⌈nα⌉-th smallest loss, the empirical α-quantile of L
    /// (Acerbi &amp; Tasche, "On the coherence of expected shortfall", J. Banking &amp; Finance 26, 2002, eq. 3.5).
    /// w is rounded to 9 decimals so that, e.g., 100·(1 − 0.95) counts as 5.
    /// </summary>
    public static double ValueAtRisk(ReadOnlySpan<double> returns, double alpha, int horizon = 1)
    {
        double[] sorted = SortedReturns(returns, alpha, horizon, out double w);
        return -sorted[(int)Math.Floor(w)];
    }

    /// <summary>
    /// Historical expected shortfall, the coherent estimator of Acerbi &amp; Tasche (2002, Definition 2.6):
    /// ES_α = −(1/w)·(Σᵢ₌₁^⌊w⌋ Xᵢ + (w − ⌊w⌋)·X_(⌊w⌋+1)) with w = n(1 − α) and X sorted ascending — the mean
    /// of the worst n(1 − α) returns, the boundary return weighted by its fractional share. ES ≥ VaR.
    /// <paramref name="horizon"/> aggregates as in <see cref="ValueAtRisk"/>.
    /// </summary>
    public static double ExpectedShortfall(ReadOnlySpan<double> returns, double alpha, int horizon = 1)
    {
        double[] sorted = SortedReturns(returns, alpha, horizon, out double w);
        int whole = (int)Math.Floor(w);
        double sum = 0;
        for (int i = 0; i < whole; i++) sum += sorted[i];
        sum += (w - whole) * sorted[whole];
        return -sum / w;
    }

    /// <summary>
    /// Rolling historical VaR forecasts: element t − <paramref name="window"/> is the VaR for day t
    /// (t = window..n − 1) from the <paramref name="window"/> returns before it, so no forecast sees its own day.
    /// </summary>
    public static double[] RollingValueAtRisk(ReadOnlySpan<double> returns, int window, double alpha)
    {
        Checks.AtLeast(window, 1, "VaR window");
        Checks.Series(returns, window + 1, "returns", $"a rolling VaR over {window} days");
        var forecasts = new double[returns.Length - window];
        for (int t = window; t < returns.Length; t++) forecasts[t - window] = ValueAtRisk(returns.Slice(t - window, window), alpha);
        return forecasts;
    }

    /// <summary>The hit sequence Iₜ = 1 when the loss exceeds the VaR forecast: −rₜ &gt; VaRₜ.</summary>
    public static bool[] Exceptions(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk)
    {
        if (returns.Length != valueAtRisk.Length) Throw.User($"{English.Plural(returns.Length, "return")} but {English.Plural(valueAtRisk.Length, "VaR forecast")}: they must pair day by day");
        Checks.Finite(returns, "returns");
        Checks.Finite(valueAtRisk, "VaR forecasts");
        var hits = new bool[returns.Length];
        for (int t = 0; t < hits.Length; t++) hits[t] = -returns[t] > valueAtRisk[t];
        return hits;
    }

    /// <summary>
    /// Kupiec's (1995) proportion-of-failures test of unconditional coverage: with x exceptions in T days
    /// and p = 1 − α, LR_POF = −2 ln[(1 − p)^(T−x) pˣ] + 2 ln[(1 − x/T)^(T−x) (x/T)ˣ] ~ χ²(1) under the
    /// null that the exception rate is p (0·ln 0 = 0). Kupiec, "Techniques for verifying the accuracy of
    /// risk measurement models", J. Derivatives 3, 1995.
    /// </summary>
    public static LikelihoodRatioTest Kupiec(int exceptions, int observations, double alpha)
    {
        Checks.Level(alpha);
        Checks.AtLeast(observations, 1, "backtest observations");
        if (exceptions < 0 || exceptions > observations) Throw.User($"{English.Plural(exceptions, "exception")} must be in [0, {observations}]");
        double p = 1.0 - alpha, x = exceptions, t = observations, rate = x / t;
        double nullLog = XLogY(t - x, 1.0 - p) + XLogY(x, p);
        double fittedLog = XLogY(t - x, 1.0 - rate) + XLogY(x, rate);
        return ChiSquaredTest(2.0 * (fittedLog - nullLog), 1);
    }

    /// <summary>Kupiec's test on a hit sequence (see <see cref="Kupiec(int, int, double)"/>).</summary>
    public static LikelihoodRatioTest Kupiec(ReadOnlySpan<bool> hits, double alpha) => Kupiec(Count(hits), hits.Length, alpha);

    /// <summary>
    /// Christoffersen's (1998) test of independence of exceptions, against a first-order Markov chain.
    /// With nᵢⱼ the number of days t = 1..T − 1 with Iₜ₋₁ = i and Iₜ = j, π₀₁ = n₀₁/(n₀₀ + n₀₁),
    /// π₁₁ = n₁₁/(n₁₀ + n₁₁), π = (n₀₁ + n₁₁)/(T − 1):
    /// LR_ind = −2 ln[(1 − π)^(n₀₀+n₁₀) π^(n₀₁+n₁₁)] + 2 ln[(1 − π₀₁)^n₀₀ π₀₁^n₀₁ (1 − π₁₁)^n₁₀ π₁₁^n₁₁] ~ χ²(1)
    /// (0·ln 0 = 0). Christoffersen, "Evaluating interval forecasts", Int. Economic Review 39, 1998.
    /// </summary>
    public static LikelihoodRatioTest ChristoffersenIndependence(ReadOnlySpan<bool> hits)
    {
        if (hits.Length < 2) Throw.User($"the independence test needs at least 2 days, got {hits.Length}");
        double n00 = 0, n01 = 0, n10 = 0, n11 = 0;
        for (int t = 1; t < hits.Length; t++)
        {
            if (hits[t - 1]) { if (hits[t]) n11++; else n10++; }
            else { if (hits[t]) n01++; else n00++; }
        }
        double pi01 = n00 + n01 > 0 ? n01 / (n00 + n01) : 0;
        double pi11 = n10 + n11 > 0 ? n11 / (n10 + n11) : 0;
        double pi = (n01 + n11) / (n00 + n01 + n10 + n11);
        double nullLog = XLogY(n00 + n10, 1.0 - pi) + XLogY(n01 + n11, pi);
        double markovLog = XLogY(n00, 1.0 - pi01) + XLogY(n01, pi01) + XLogY(n10, 1.0 - pi11) + XLogY(n11, pi11);
        return ChiSquaredTest(2.0 * (markovLog - nullLog), 1);
    }

    /// <summary>
    /// Christoffersen's conditional-coverage test: LR_cc = LR_POF + LR_ind ~ χ²(2), with LR_POF over all T
    /// days (<see cref="Kupiec(ReadOnlySpan{bool}, double)"/>) and LR_ind over the T − 1 transitions, as it is
    /// usually computed.
    /// </summary>
    public static LikelihoodRatioTest ConditionalCoverage(ReadOnlySpan<bool> hits, double alpha)
    {
        double statistic = Kupiec(hits, alpha).Statistic + ChristoffersenIndependence(hits).Statistic;
        return ChiSquaredTest(statistic, 2);
    }

    /// <summary>
    /// The Basel traffic light (Basel Committee, "Supervisory framework for the use of 'backtesting' in
    /// conjunction with the internal models approach to market risk capital requirements", 1996): with
    /// X ~ Binomial(T, 1 − α) the exception count of an accurate model, x exceptions are green when
    /// P(X ≤ x) &lt; 95 %, yellow when 95 % ≤ P(X ≤ x) &lt; 99.99 %, red when P(X ≤ x) ≥ 99.99 %. For
    /// T = 250 and α = 99 % this gives the Basel table: green 0–4, yellow 5–9, red 10 or more; other window
    /// lengths and levels use the same cumulative-probability rule.
    /// </summary>
    public static TrafficLightZone TrafficLight(int exceptions, int observations = 250, double alpha = 0.99)
    {
        var (yellowFrom, redFrom) = TrafficLightThresholds(observations, alpha);
        if (exceptions < 0) Throw.User($"exception count {exceptions} must not be negative");
        return exceptions >= redFrom ? TrafficLightZone.Red : exceptions >= yellowFrom ? TrafficLightZone.Yellow : TrafficLightZone.Green;
    }

    /// <summary>
    /// The smallest exception counts in the yellow and red zones (see <see cref="TrafficLight"/>); they
    /// are both at most T, since P(X ≤ T) = 1.
    /// </summary>
    public static (int YellowFrom, int RedFrom) TrafficLightThresholds(int observations, double alpha)
    {
        Checks.Level(alpha);
        Checks.AtLeast(observations, 1, "backtest observations");
        int yellow = observations + 1, red = observations + 1;
        double p = 1.0 - alpha;
        for (int x = 0; x <= observations && red > observations; x++)
        {
            double cumulative = x == observations ? 1.0 : Binomial.CDF(p, observations, x); // P(X ≤ T) = 1 exactly
            if (cumulative >= YellowCumulativeProbability && yellow > observations) yellow = x;
            if (cumulative >= RedCumulativeProbability) red = x;
        }
        return (yellow, red);
    }

    /// <summary>
    /// Backtests VaR forecasts (losses positive, one per day) against realized returns: exceptions, Kupiec,
    /// Christoffersen independence and conditional coverage, and the traffic-light zone for the window length.
    /// </summary>
    public static BacktestResult Backtest(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, double alpha)
    {
        bool[] hits = Exceptions(returns, valueAtRisk);
        if (hits.Length < 2) Throw.User($"a backtest needs at least 2 days, got {hits.Length}");
        int count = Count(hits);
        return new BacktestResult(hits.Length, count, alpha, Kupiec(hits, alpha), ChristoffersenIndependence(hits),
            ConditionalCoverage(hits, alpha), TrafficLight(count, hits.Length, alpha));
    }

    static double[] SortedReturns(ReadOnlySpan<double> returns, double alpha, int horizon, out double w)
    {
        Checks.Level(alpha);
        Checks.AtLeast(horizon, 1, "VaR horizon (days)");
        Checks.Series(returns, horizon, "returns", $"a {horizon}-day VaR");
        double[] sorted = horizon == 1 ? returns.ToArray() : StylizedFacts.AggregateReturns(returns, horizon);
        Array.Sort(sorted);
        double exact = sorted.Length * (1.0 - alpha);
        w = Math.Round(exact, 9);
        if (w <= 0) w = exact;
        return sorted;
    }

    static int Count(ReadOnlySpan<bool> hits)
    {
        int count = 0;
        foreach (bool h in hits) if (h) count++;
        return count;
    }

    static LikelihoodRatioTest ChiSquaredTest(double statistic, int degreesOfFreedom)
    {
        statistic = Math.Max(statistic, 0); // rounding can leave −1e-15 where the two likelihoods agree
        // P(χ²_k > x) = Q(k/2, x/2) directly: 1 − ChiSquared.CDF cancels to 0 in the far tail (χ²₁ > 100 gives 0, not 1.5e-23).
        return new LikelihoodRatioTest(statistic, degreesOfFreedom, SpecialFunctions.GammaUpperRegularized(0.5 * degreesOfFreedom, 0.5 * statistic));
    }

    // x·ln y with 0·ln 0 = 0, the convention of the likelihoods above.
    static double XLogY(double x, double y) => x == 0 ? 0 : x * Math.Log(y);
}
