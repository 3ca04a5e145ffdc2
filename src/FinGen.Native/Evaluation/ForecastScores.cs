using FinGen.Native.Randomness;
using MathNet.Numerics.Distributions;

namespace FinGen.Native.Evaluation;

/// <summary>
/// A Diebold–Mariano test of equal mean loss. dₜ = first lossₜ − second lossₜ; the statistic is
/// d̄/√(S/T) with S the Newey–West long-run variance of d at <see cref="Lag"/> lags, standard normal under the null.
/// <see cref="PValueFirstBetter"/> = Φ(statistic) is small when the first forecast's mean loss is significantly lower;
/// <see cref="PValueSecondBetter"/> = 1 − Φ(statistic) the converse; <see cref="PValueTwoSided"/> = 2(1 − Φ(|statistic|)).
/// </summary>
public readonly record struct DieboldMarianoTest(
    int Observations, double MeanDifference, double LongRunVariance, int Lag, double Statistic,
    double PValueTwoSided, double PValueFirstBetter, double PValueSecondBetter);

/// <summary>
/// The Acerbi–Szekely Z₂ expected-shortfall backtest: the statistic (0 for a correct forecast, negative when the
/// forecast understates the risk), the exceedances it is built on, and the one-sided p-value P(Z₂* ≤ Z₂) over
/// <see cref="Replications"/> test periods simulated under the forecast.
/// </summary>
public readonly record struct AcerbiSzekelyTest(int Observations, int Exceptions, double Statistic, double PValue, int Replications);

/// <summary>A percentile bootstrap confidence interval: the statistic on the original paths and the interval's ends.</summary>
public readonly record struct ConfidenceInterval(double Estimate, double Lower, double Upper, double Confidence, int Resamples)
{
    /// <summary>True when the two intervals do not overlap, the condition for counting a win.</summary>
    public bool SeparatesFrom(ConfidenceInterval other) => Upper < other.Lower || other.Upper < Lower;
}

/// <summary>
/// Scores and tests for risk forecasts and for comparing scenario sources: the FZ0 loss of a joint (VaR, ES) forecast,
/// the Diebold–Mariano test of equal mean loss, the Acerbi–Szekely Z₂ ES backtest with a simulated p-value, and the
/// percentile bootstrap over paths. Levels here are <b>tail probabilities</b> a (0.025 for 97.5 % VaR and ES), as in
/// the FZ0 and Z₂ formulas; <see cref="Risk"/> takes confidence levels 1 − a. Sign convention as in <see cref="Risk"/>:
/// VaR and ES are positive losses unless a method says "return space".
/// All randomness is Philox (<see cref="EvaluationStreams"/>), so the same seed gives the same p-value and interval.
/// </summary>
public static class ForecastScores
{
    /// <summary>Default number of simulated test periods behind an Acerbi–Szekely p-value.</summary>
    public const int DefaultReplications = 2000;

    /// <summary>Default number of bootstrap resamples behind a confidence interval.</summary>
    public const int DefaultResamples = 2000;

    // ---- FZ0 (Patton, Ziegel & Chen 2019)

    /// <summary>
    /// The FZ0 loss of Patton, Ziegel &amp; Chen ("Dynamic semiparametric models for expected shortfall (and
    /// Value-at-Risk)", J. Econometrics 208, 2019, eq. 6) in <b>return space</b>: for the return y and a forecast with
    /// e ≤ v &lt; 0 (v the a-quantile of the return, e its expected shortfall, both negative),
    /// L(y, v, e) = −(1/(a·e))·1[y ≤ v]·(v − y) + v/e + ln(−e) − 1. Strictly consistent for (VaR, ES) jointly: the true
    /// pair minimizes the expected loss. Lower is better; the value can be negative.
    /// </summary>
    public static double Fz0LossReturnSpace(double y, double v, double e, double tailProbability)
    {
        Checks.Level(tailProbability, "tail probability");
        if (!double.IsFinite(y)) Throw.User($"FZ0 loss of a non-finite return {y}");
        if (!(v < 0) || !(e <= v) || !double.IsFinite(e))
            Throw.User($"FZ0 needs ES ≤ VaR < 0 in return space, got VaR {v} and ES {e}");
        double hit = y <= v ? 1.0 : 0.0;
        return -hit * (v - y) / (tailProbability * e) + v / e + Math.Log(-e) - 1.0;
    }

    /// <summary>
    /// The FZ0 loss in this project's convention: <paramref name="valueAtRisk"/> and <paramref name="expectedShortfall"/>
    /// are positive losses with ES ≥ VaR &gt; 0, so v = −VaR and e = −ES (see <see cref="Fz0LossReturnSpace"/>).
    /// </summary>
    public static double Fz0Loss(double y, double valueAtRisk, double expectedShortfall, double tailProbability) =>
        Fz0LossReturnSpace(y, -valueAtRisk, -expectedShortfall, tailProbability);

    /// <summary>The FZ0 loss of each day: element t = <see cref="Fz0Loss"/>(returns[t], VaR[t], ES[t], a); VaR and ES positive losses.</summary>
    public static double[] Fz0Losses(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, ReadOnlySpan<double> expectedShortfall, double tailProbability)
    {
        SameLength(returns, valueAtRisk, expectedShortfall);
        var losses = new double[returns.Length];
        for (int t = 0; t < losses.Length; t++)
        {
            try { losses[t] = Fz0Loss(returns[t], valueAtRisk[t], expectedShortfall[t], tailProbability); }
            catch (FinGenException e) { throw new FinGenException($"day {t}: {e.Message}", e); }
        }
        return losses;
    }

    /// <summary>The mean FZ0 loss over the days (see <see cref="Fz0Losses"/>): the figure that ranks forecasts.</summary>
    public static double MeanFz0Loss(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, ReadOnlySpan<double> expectedShortfall, double tailProbability)
    {
        if (returns.Length == 0) Throw.User("a mean FZ0 loss needs at least one day");
        return Mean(Fz0Losses(returns, valueAtRisk, expectedShortfall, tailProbability));
    }

    // ---- Diebold–Mariano

    /// <summary>
    /// The Newey–West (1994) rule of thumb for the HAC lag: ⌊4·(T/100)^(2/9)⌋ (T = 250 → 4, T = 1000 → 6).
    /// </summary>
    public static int NeweyWestLag(int observations)
    {
        Checks.AtLeast(observations, 1, "observations");
        return (int)Math.Floor(4.0 * Math.Pow(observations / 100.0, 2.0 / 9.0));
    }

    /// <summary>
    /// The Newey–West long-run variance of <paramref name="x"/> with Bartlett weights:
    /// S = γ₀ + 2·Σₖ₌₁ᴸ (1 − k/(L + 1))·γₖ, γₖ = (1/T)·Σₜ₌ₖ₊₁ᵀ (xₜ − x̄)(xₜ₋ₖ − x̄); never negative.
    /// Newey &amp; West, Econometrica 55, 1987.
    /// </summary>
    public static double NeweyWestVariance(ReadOnlySpan<double> x, int lag)
    {
        Checks.Series(x, 2, "series", "a long-run variance");
        if (lag < 0 || lag >= x.Length) Throw.User($"HAC lag {lag} must be in [0, {x.Length - 1}]");
        double mean = Mean(x);
        double variance = 0;
        for (int t = 0; t < x.Length; t++) variance += (x[t] - mean) * (x[t] - mean);
        double sum = variance / x.Length;
        for (int k = 1; k <= lag; k++)
        {
            double gamma = 0;
            for (int t = k; t < x.Length; t++) gamma += (x[t] - mean) * (x[t - k] - mean);
            sum += 2.0 * (1.0 - k / (lag + 1.0)) * gamma / x.Length;
        }
        return Math.Max(sum, 0); // Bartlett weights keep S ≥ 0; the max only absorbs rounding
    }

    /// <summary>
    /// The Diebold–Mariano test (Diebold &amp; Mariano, J. Business &amp; Economic Statistics 13, 1995) that two
    /// forecasts have equal expected loss, from their per-day losses (same days, same order), with the Newey–West
    /// variance at <paramref name="lag"/> lags (use <see cref="NeweyWestLag"/> when in doubt; 0 treats days as
    /// independent). Two identical loss series give statistic 0 and p-values 1, ½, ½; a nonzero difference whose
    /// long-run variance is exactly 0 gives ±∞.
    /// </summary>
    public static DieboldMarianoTest DieboldMariano(ReadOnlySpan<double> firstLosses, ReadOnlySpan<double> secondLosses, int lag)
    {
        if (firstLosses.Length != secondLosses.Length)
            Throw.User($"{English.Plural(firstLosses.Length, "loss", "losses")} and {English.Plural(secondLosses.Length, "loss", "losses")}: a Diebold–Mariano test pairs them day by day");
        Checks.Series(firstLosses, 2, "first losses", "a Diebold–Mariano test");
        Checks.Finite(secondLosses, "second losses");
        var d = new double[firstLosses.Length];
        for (int t = 0; t < d.Length; t++) d[t] = firstLosses[t] - secondLosses[t];
        double mean = Mean(d);
        double longRun = NeweyWestVariance(d, lag);
        double statistic = longRun > 0 ? mean / Math.Sqrt(longRun / d.Length)
            : mean == 0 ? 0 : mean > 0 ? double.PositiveInfinity : double.NegativeInfinity;
        double lower = Normal.CDF(0, 1, statistic), upper = Normal.CDF(0, 1, -statistic);
        return new DieboldMarianoTest(d.Length, mean, longRun, lag, statistic, Math.Min(1.0, 2.0 * Math.Min(lower, upper)), lower, upper);
    }

    // ---- Acerbi–Szekely Z₂

    /// <summary>
    /// The Acerbi–Szekely Z₂ statistic ("Backtesting expected shortfall", Risk, December 2014):
    /// Z₂ = Σₜ Xₜ·Iₜ/(T·a·ESₜ) + 1, with Xₜ the return, ESₜ the positive ES forecast, and Iₜ = 1[−Xₜ &gt; VaRₜ] the
    /// exceedance of the positive VaR forecast (as <see cref="Risk.Exceptions"/>). Its expectation is 0 when the
    /// forecast is the true distribution; negative values mean the risk is understated.
    /// </summary>
    public static double AcerbiSzekelyZ2(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, ReadOnlySpan<double> expectedShortfall, double tailProbability)
    {
        CheckZ2Inputs(returns, valueAtRisk, expectedShortfall, tailProbability);
        return Z2Unchecked(returns, valueAtRisk, expectedShortfall, tailProbability, out _);
    }

    /// <summary>
    /// The Z₂ backtest of forecasts given as scenario samples: <paramref name="scenarios"/>[t] holds the forecast's
    /// simulated returns for day t (at least ⌈1/a⌉ of them), from which VaRₜ and ESₜ are the historical estimates of
    /// <see cref="RiskFromSample"/>. Z₂ is computed on the realized <paramref name="returns"/>; the p-value is the
    /// fraction of <paramref name="replications"/> simulated test periods with Z₂* ≤ Z₂, where a period draws each
    /// day's Xₜ* uniformly from that day's scenarios (so the null is exactly "the forecast is right") and keeps the
    /// same VaRₜ and ESₜ. One-sided: a small p-value says the forecast understates the risk. Draw m, day t uses
    /// Philox word m·T + t of (<paramref name="seed"/>, <see cref="EvaluationStreams.AcerbiSzekelyReplications"/>).
    /// </summary>
    public static AcerbiSzekelyTest AcerbiSzekely(ReadOnlySpan<double> returns, IReadOnlyList<double[]> scenarios, double tailProbability,
        ulong seed, int replications = DefaultReplications)
    {
        Checks.Level(tailProbability, "tail probability");
        Checks.AtLeast(replications, 1, "Acerbi–Szekely replications");
        if (scenarios.Count != returns.Length) Throw.User($"{English.Plural(returns.Length, "return")} but {English.Plural(scenarios.Count, "scenario set")}: they must pair day by day");
        var (valueAtRisk, expectedShortfall) = RiskForecasts(scenarios, tailProbability);
        CheckZ2Inputs(returns, valueAtRisk, expectedShortfall, tailProbability);
        double observed = Z2Unchecked(returns, valueAtRisk, expectedShortfall, tailProbability, out int exceptions);

        int days = returns.Length;
        var simulated = new double[days];
        int atMost = 0;
        for (int m = 0; m < replications; m++)
        {
            for (int t = 0; t < days; t++)
            {
                double[] sample = scenarios[t];
                simulated[t] = sample[Philox.NextInt(seed, EvaluationStreams.AcerbiSzekelyReplications, (ulong)m * (ulong)days + (ulong)t, sample.Length)];
            }
            if (Z2Unchecked(simulated, valueAtRisk, expectedShortfall, tailProbability, out _) <= observed) atMost++;
        }
        return new AcerbiSzekelyTest(days, exceptions, observed, (double)atMost / replications, replications);
    }

    // ---- VaR and ES from scenario samples

    /// <summary>
    /// VaR and ES (positive losses) at tail probability a of one scenario sample: <see cref="Risk.ValueAtRisk"/> and
    /// <see cref="Risk.ExpectedShortfall"/> at confidence 1 − a (the ⌈n(1 − a)⌉-th smallest loss, and the mean of the
    /// worst n·a returns). Needs n·a ≥ 1, so that ES averages at least one whole scenario.
    /// </summary>
    public static (double ValueAtRisk, double ExpectedShortfall) RiskFromSample(ReadOnlySpan<double> sample, double tailProbability)
    {
        Checks.Level(tailProbability, "tail probability");
        int needed = (int)Math.Ceiling(Math.Round(1.0 / tailProbability, 9));
        if (sample.Length < needed) Throw.User($"too few scenarios for VaR and ES at tail probability {tailProbability}: {sample.Length} given, at least {needed} needed");
        return (Risk.ValueAtRisk(sample, 1.0 - tailProbability), Risk.ExpectedShortfall(sample, 1.0 - tailProbability));
    }

    /// <summary><see cref="RiskFromSample"/> for each day's scenarios: element t of both arrays is day t's forecast.</summary>
    public static (double[] ValueAtRisk, double[] ExpectedShortfall) RiskForecasts(IReadOnlyList<double[]> scenarios, double tailProbability)
    {
        var valueAtRisk = new double[scenarios.Count];
        var expectedShortfall = new double[scenarios.Count];
        for (int t = 0; t < scenarios.Count; t++)
        {
            try { (valueAtRisk[t], expectedShortfall[t]) = RiskFromSample(scenarios[t], tailProbability); }
            catch (FinGenException e) { throw new FinGenException($"day {t}'s scenarios: {e.Message}", e); }
        }
        return (valueAtRisk, expectedShortfall);
    }

    // ---- bootstrap over paths

    /// <summary>
    /// A percentile bootstrap interval for the mean of per-path values (one value per generated path, e.g. its
    /// kurtosis or its ACF score): see <see cref="BootstrapInterval(int, Func{int[], double}, ulong, int, double)"/>
    /// with the statistic "mean of the resampled values".
    /// </summary>
    public static ConfidenceInterval BootstrapInterval(ReadOnlySpan<double> perPathValues, ulong seed, int resamples = DefaultResamples, double confidence = 0.95)
    {
        Checks.Series(perPathValues, 2, "per-path values", "a bootstrap interval");
        double[] values = perPathValues.ToArray();
        return BootstrapInterval(values.Length, indices =>
        {
            double sum = 0;
            foreach (int i in indices) sum += values[i];
            return sum / indices.Length;
        }, seed, resamples, confidence);
    }

    /// <summary>
    /// A percentile bootstrap interval for any statistic of a set of paths: <paramref name="statistic"/> receives the
    /// indices of <paramref name="pathCount"/> paths drawn with replacement (it must not keep the array) and returns
    /// the statistic of that resampled set. The estimate is the statistic of the paths as they are (indices 0..n − 1);
    /// the interval's ends are the (1 − c)/2 and (1 + c)/2 quantiles of the <paramref name="resamples"/> bootstrap values
    /// (linear interpolation between order statistics, h = (B − 1)·q). Resample b, draw i uses Philox word b·n + i of
    /// (<paramref name="seed"/>, <see cref="EvaluationStreams.PathBootstrap"/>). Non-finite bootstrap values are errors.
    /// </summary>
    public static ConfidenceInterval BootstrapInterval(int pathCount, Func<int[], double> statistic, ulong seed, int resamples = DefaultResamples, double confidence = 0.95)
    {
        Checks.AtLeast(pathCount, 2, "paths for a bootstrap interval");
        Checks.AtLeast(resamples, 2, "bootstrap resamples");
        Checks.Level(confidence);
        var indices = new int[pathCount];
        for (int i = 0; i < pathCount; i++) indices[i] = i;
        double estimate = statistic(indices);
        var values = new double[resamples];
        for (int b = 0; b < resamples; b++)
        {
            for (int i = 0; i < pathCount; i++) indices[i] = Philox.NextInt(seed, EvaluationStreams.PathBootstrap, (ulong)b * (ulong)pathCount + (ulong)i, pathCount);
            values[b] = statistic(indices);
            if (!double.IsFinite(values[b])) Throw.User($"bootstrap resample {b}: the statistic is {values[b]}, not a finite number");
        }
        Array.Sort(values);
        return new ConfidenceInterval(estimate, SortedQuantile(values, 0.5 * (1.0 - confidence)), SortedQuantile(values, 0.5 * (1.0 + confidence)), confidence, resamples);
    }

    // ---- helpers

    static double Z2Unchecked(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, ReadOnlySpan<double> expectedShortfall, double a, out int exceptions)
    {
        double sum = 0;
        exceptions = 0;
        for (int t = 0; t < returns.Length; t++)
        {
            if (!(-returns[t] > valueAtRisk[t])) continue;
            exceptions++;
            sum += returns[t] / expectedShortfall[t];
        }
        return sum / (returns.Length * a) + 1.0;
    }

    static void CheckZ2Inputs(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, ReadOnlySpan<double> expectedShortfall, double a)
    {
        Checks.Level(a, "tail probability");
        SameLength(returns, valueAtRisk, expectedShortfall);
        if (returns.Length == 0) Throw.User("an ES backtest needs at least one day");
        Checks.Finite(returns, "returns");
        Checks.Finite(valueAtRisk, "VaR forecasts");
        Checks.Finite(expectedShortfall, "ES forecasts");
        for (int t = 0; t < expectedShortfall.Length; t++)
        {
            if (!(expectedShortfall[t] > 0)) Throw.User($"day {t}: ES forecast {expectedShortfall[t]} must be a positive loss for the Z₂ backtest");
        }
    }

    static void SameLength(ReadOnlySpan<double> returns, ReadOnlySpan<double> valueAtRisk, ReadOnlySpan<double> expectedShortfall)
    {
        if (valueAtRisk.Length != returns.Length || expectedShortfall.Length != returns.Length)
            Throw.User($"{English.Plural(returns.Length, "return")}, {English.Plural(valueAtRisk.Length, "VaR forecast")} and {English.Plural(expectedShortfall.Length, "ES forecast")}: they must pair day by day");
    }

    static double Mean(ReadOnlySpan<double> x)
    {
        double sum = 0;
        foreach (double v in x) sum += v;
        return sum / x.Length;
    }

    // Quantile q of ascending values, interpolating between order statistics at h = (n − 1)·q.
    static double SortedQuantile(double[] sorted, double q)
    {
        double h = (sorted.Length - 1) * q;
        int below = (int)Math.Floor(h);
        if (below >= sorted.Length - 1) return sorted[^1];
        return sorted[below] + (h - below) * (sorted[below + 1] - sorted[below]);
    }
}
