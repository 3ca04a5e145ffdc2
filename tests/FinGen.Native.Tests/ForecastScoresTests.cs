using FinGen.Native.Evaluation;
using MathNet.Numerics.Distributions;

namespace FinGen.Native.Tests;

/// <summary>
/// The forecast scores against hand arithmetic (shown in the comments) and against their defining properties on
/// simulated data: FZ0 ranks the true (VaR, ES) first, the Diebold–Mariano test holds its size under autocorrelation
/// and rejects clear differences, Z₂ is centred and its p-value near uniform under a correct forecast, and the
/// bootstrap interval covers the true mean about as often as it claims.
/// </summary>
[TestFixture]
public sealed class ForecastScoresTests
{
    // Draws from PhiloxCursor streams of the tests' own, far from the evaluation streams.
    static double[] Normals(int n, ulong seed, double mean = 0, double sd = 1)
    {
        var cursor = new PhiloxCursor(seed, 0x7E57);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = mean + sd * cursor.NextNormal();
        return x;
    }

    static double[] StudentTs(int n, ulong seed, double nu, double scale)
    {
        var cursor = new PhiloxCursor(seed, 0x7E58);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = scale * cursor.NextStandardizedStudentT(nu);
        return x;
    }

    // ---- FZ0

    [Test]
    public void Fz0MatchesHandArithmetic()
    {
        const double a = 0.025;
        // y = −3 %, v = −2 %, e = −2.5 %: a hit. −1/(a·e) = −1/(0.025·−0.025) = 1600; 1600·(v − y) = 1600·0.01 = 16;
        // v/e = 0.8; ln(−e) = ln 0.025 = −3.6888794541139363; so 16 + 0.8 − 3.6888794541139363 − 1 = 12.111120545886064.
        Assert.That(ForecastScores.Fz0LossReturnSpace(-0.03, -0.02, -0.025, a), Is.EqualTo(12.111120545886064).Within(1e-12));
        // y = +1 %: no hit, 0.8 − 3.6888794541139363 − 1.
        Assert.That(ForecastScores.Fz0LossReturnSpace(0.01, -0.02, -0.025, a), Is.EqualTo(-3.8888794541139363).Within(1e-12));
        // y = v exactly is a hit with v − y = 0: the same value as no hit (the loss is continuous in y).
        Assert.That(ForecastScores.Fz0LossReturnSpace(-0.02, -0.02, -0.025, a), Is.EqualTo(-3.8888794541139363).Within(1e-12));
        // Our convention: VaR 2 %, ES 2.5 % as positive losses are v = −0.02, e = −0.025.
        Assert.That(ForecastScores.Fz0Loss(-0.03, 0.02, 0.025, a), Is.EqualTo(12.111120545886064).Within(1e-12));

        // Per-day losses and their mean: days (−3 %, VaR 2 %, ES 2.5 %), (+1 %, same), (−1.5 %, VaR 1 %, ES 1.2 %).
        // Day 3: −1/(a·e) = 1/(0.025·0.012) = 3333.33…; v − y = 0.005 → 16.6666…; v/e = 0.8333…; ln 0.012 = −4.422848629194137.
        double day3 = 0.005 / (a * 0.012) + 0.01 / 0.012 + Math.Log(0.012) - 1;
        double[] losses = ForecastScores.Fz0Losses([-0.03, 0.01, -0.015], [0.02, 0.02, 0.01], [0.025, 0.025, 0.012], a);
        Assert.That(losses, Is.EqualTo(new[] { 12.111120545886064, -3.8888794541139363, day3 }).Within(1e-12));
        Assert.That(day3, Is.EqualTo(16.666666666666668 + 0.8333333333333334 - 4.422848629194137 - 1).Within(1e-12));
        Assert.That(ForecastScores.MeanFz0Loss([-0.03, 0.01, -0.015], [0.02, 0.02, 0.01], [0.025, 0.025, 0.012], a),
            Is.EqualTo((12.111120545886064 - 3.8888794541139363 + day3) / 3).Within(1e-12));
    }

    [Test]
    public void Fz0RejectsForecastsOutsideItsDomain()
    {
        UserError.Assert(() => ForecastScores.Fz0Loss(0.01, 0.03, 0.02, 0.025), "ES ≤ VaR < 0"); // ES below VaR
        UserError.Assert(() => ForecastScores.Fz0Loss(0.01, -0.01, 0.02, 0.025), "ES ≤ VaR < 0"); // VaR a gain
        UserError.Assert(() => ForecastScores.Fz0Loss(0.01, 0.02, 0.03, 1.5), "tail probability");
        UserError.Assert(() => ForecastScores.Fz0Losses([0.01, 0.02], [0.02, 0.02], [0.03, 0.01], 0.025), "day 1");
        UserError.Assert(() => ForecastScores.Fz0Losses([0.01], [0.02, 0.02], [0.03, 0.03], 0.025), "pair day by day");
    }

    [Test]
    public void Fz0RanksTheTrueVarAndEsFirst()
    {
        // y ~ N(0, 1 %²): the true 2.5 % quantile v = σ·z_a and ES e = −σ·φ(z_a)/a (z_a = −1.959964, φ(z_a)/a = 2.337803).
        const double a = 0.025, sigma = 0.01;
        double[] y = Normals(200_000, seed: 11, sd: sigma);
        double z = Normal.InvCDF(0, 1, a);
        double trueVar = -sigma * z, trueEs = sigma * Normal.PDF(0, 1, z) / a;
        Assert.That(trueEs / sigma, Is.EqualTo(2.337803).Within(1e-6));
        double Score(double varScale, double esScale)
        {
            var v = Enumerable.Repeat(trueVar * varScale, y.Length).ToArray();
            var e = Enumerable.Repeat(trueEs * esScale, y.Length).ToArray();
            return ForecastScores.MeanFz0Loss(y, v, e, a);
        }
        double truth = Score(1, 1);
        // Every biased pair scores worse on the same days: VaR or ES too low or too high, alone and together.
        foreach (var (v, e) in new[] { (0.8, 1.0), (1.0, 1.2), (1.2, 1.2), (0.8, 0.8), (0.9, 0.9), (1.1, 1.1), (1.0, 1.1), (0.95, 1.0) })
        {
            double biased = Score(v, e);
            TestContext.Out.WriteLine($"VaR ×{v}, ES ×{e}: mean FZ0 {biased:F5} vs true {truth:F5}");
            Assert.That(biased, Is.GreaterThan(truth), $"VaR ×{v}, ES ×{e}");
        }
    }

    // ---- Diebold–Mariano

    [Test]
    public void NeweyWestAndDieboldMarianoByHand()
    {
        // d = [1, −1, 2, 0] (first − second), lag 1. d̄ = 0.5; deviations 0.5, −1.5, 1.5, −0.5.
        // γ₀ = (0.25 + 2.25 + 2.25 + 0.25)/4 = 1.25; γ₁ = (−0.75 − 2.25 − 0.75)/4 = −0.9375; weight 1 − 1/2 = ½.
        // S = 1.25 + 2·½·(−0.9375) = 0.3125; statistic 0.5/√(0.3125/4) = 1.7888543819998317;
        // two-sided p = 2(1 − Φ(1.78885)) = 0.0736382701203, one-sided Φ(1.78885) = 0.96318086494.
        double[] second = [0.7, 1.3, 0.2, 0.9];
        double[] first = [1.7, 0.3, 2.2, 0.9];
        Assert.That(ForecastScores.NeweyWestVariance([1.0, -1.0, 2.0, 0.0], 1), Is.EqualTo(0.3125).Within(1e-15));
        Assert.That(ForecastScores.NeweyWestVariance([1.0, -1.0, 2.0, 0.0], 0), Is.EqualTo(1.25).Within(1e-15));
        var dm = ForecastScores.DieboldMariano(first, second, lag: 1);
        Assert.That(dm.MeanDifference, Is.EqualTo(0.5).Within(1e-15));
        Assert.That(dm.LongRunVariance, Is.EqualTo(0.3125).Within(1e-14));
        Assert.That(dm.Statistic, Is.EqualTo(1.7888543819998317).Within(1e-12));
        Assert.That(dm.PValueTwoSided, Is.EqualTo(0.07363827012030266).Within(1e-12));
        Assert.That(dm.PValueSecondBetter, Is.EqualTo(1 - 0.9631808649398487).Within(1e-12));
        Assert.That(dm.PValueFirstBetter, Is.EqualTo(0.9631808649398487).Within(1e-12));
        Assert.That((dm.Lag, dm.Observations), Is.EqualTo((1, 4)));
        // The rule of thumb: ⌊4(T/100)^(2/9)⌋.
        Assert.That(ForecastScores.NeweyWestLag(250), Is.EqualTo(4));
        Assert.That(ForecastScores.NeweyWestLag(1000), Is.EqualTo(6));
        UserError.Assert(() => ForecastScores.DieboldMariano(first, second[..3], 1), "pairs them day by day");
        UserError.Assert(() => ForecastScores.NeweyWestVariance(first, 4), "HAC lag 4");
    }

    [Test]
    public void DieboldMarianoGivesOneForEqualForecastsAndSmallPForClearlyDifferentOnes()
    {
        double[] losses = Normals(500, seed: 21, mean: -3.5, sd: 2.0);
        var same = ForecastScores.DieboldMariano(losses, losses, ForecastScores.NeweyWestLag(500));
        Assert.That(same.Statistic, Is.EqualTo(0));
        Assert.That(same.PValueTwoSided, Is.EqualTo(1));
        Assert.That(same.PValueFirstBetter, Is.EqualTo(0.5));

        // The first forecast's loss is 0.5 higher every day on average, with independent noise of sd 1: d̄/se ≈ 0.5/(1/√500) ≈ 11.
        double[] noise = Normals(500, seed: 22, sd: 1.0);
        double[] worse = losses.Select((l, t) => l + 0.5 + noise[t]).ToArray();
        var different = ForecastScores.DieboldMariano(worse, losses, ForecastScores.NeweyWestLag(500));
        TestContext.Out.WriteLine(different);
        Assert.That(different.PValueTwoSided, Is.LessThan(1e-6));
        Assert.That(different.PValueSecondBetter, Is.LessThan(1e-6));
        Assert.That(different.PValueFirstBetter, Is.GreaterThan(0.999));
        // A constant nonzero difference has no variance beyond rounding: as significant as it gets.
        var constant = ForecastScores.DieboldMariano(losses.Select(l => l - 0.1).ToArray(), losses, 2);
        Assert.That(constant.Statistic, Is.LessThan(-1e6));
        Assert.That(constant.PValueFirstBetter, Is.LessThan(1e-300));
    }

    [Test]
    public void DieboldMarianoHoldsItsSizeUnderAutocorrelatedLossDifferences()
    {
        // Equal expected loss, but dₜ = 0.5·dₜ₋₁ + εₜ: the long-run variance is 3× γ₀ (σ²/(1 − φ)² against σ²/(1 − φ²)),
        // so treating days as independent (lag 0) rejects far too often; the Newey–West lag keeps the size near 5 %.
        const int days = 500, trials = 300;
        int rejectedHac = 0, rejectedNaive = 0;
        for (int trial = 0; trial < trials; trial++)
        {
            double[] eps = Normals(days, seed: 1000 + (ulong)trial);
            double[] baseLoss = Normals(days, seed: 5000 + (ulong)trial, mean: -3, sd: 1.5);
            var first = new double[days];
            double d = 0;
            for (int t = 0; t < days; t++)
            {
                d = 0.5 * d + eps[t];
                first[t] = baseLoss[t] + d;
            }
            if (ForecastScores.DieboldMariano(first, baseLoss, ForecastScores.NeweyWestLag(days)).PValueTwoSided < 0.05) rejectedHac++;
            if (ForecastScores.DieboldMariano(first, baseLoss, 0).PValueTwoSided < 0.05) rejectedNaive++;
        }
        double hac = (double)rejectedHac / trials, naive = (double)rejectedNaive / trials;
        TestContext.Out.WriteLine($"rejection rate at 5 %: Newey–West lag {ForecastScores.NeweyWestLag(days)} {hac:P1}, lag 0 {naive:P1}");
        Assert.That(hac, Is.InRange(0.02, 0.11));
        Assert.That(naive, Is.GreaterThan(0.15));
    }

    // ---- Acerbi–Szekely Z₂

    [Test]
    public void Z2MatchesHandArithmetic()
    {
        // a = 0.25, T = 4. Exceedances (−X > VaR): day 0 (5 % > 3 %) and day 2 (2 % > 1.5 %); day 3's −0.3 % is not > 1 %.
        // Σ X·I/ES = −0.05/0.04 − 0.02/0.04 = −1.75; /(T·a) = /1 → −1.75; + 1 = −0.75.
        double[] returns = [-0.05, 0.01, -0.02, -0.003];
        double[] valueAtRisk = [0.03, 0.03, 0.015, 0.01];
        double[] expectedShortfall = [0.04, 0.04, 0.04, 0.02];
        Assert.That(ForecastScores.AcerbiSzekelyZ2(returns, valueAtRisk, expectedShortfall, 0.25), Is.EqualTo(-0.75).Within(1e-15));
        UserError.Assert(() => ForecastScores.AcerbiSzekelyZ2(returns, valueAtRisk, [0.04, 0.04, -0.01, 0.02], 0.25), "day 2");
    }

    static double[][] Scenarios(double[] sigma, int perDay, ulong seed, double nu, double scale)
    {
        var scenarios = new double[sigma.Length][];
        for (int t = 0; t < sigma.Length; t++) scenarios[t] = StudentTs(perDay, seed * 100_003 + (ulong)t, nu, scale * sigma[t]);
        return scenarios;
    }

    static double[] VolatilityPath(int days) =>
        Enumerable.Range(0, days).Select(t => 0.01 * (1 + 0.5 * Math.Sin(t / 20.0))).ToArray();

    [Test]
    public void Z2IsCentredWithNearUniformPValuesWhenTheForecastIsTheTrueDistribution()
    {
        // Returns and scenarios from the same unit-variance t₅, scaled by a volatility that moves over the period.
        const int days = 250, perDay = 1000, periods = 40;
        const double a = 0.025, nu = 5;
        double[] sigma = VolatilityPath(days);
        var pValues = new double[periods];
        var statistics = new double[periods];
        for (int k = 0; k < periods; k++)
        {
            double[] z = StudentTs(days, seed: 7000 + (ulong)k, nu, 1.0);
            double[] returns = z.Select((v, t) => v * sigma[t]).ToArray();
            var test = ForecastScores.AcerbiSzekely(returns, Scenarios(sigma, perDay, 300 + (ulong)k, nu, 1.0), a, seed: (ulong)k, replications: 500);
            pValues[k] = test.PValue;
            statistics[k] = test.Statistic;
        }
        double meanZ2 = statistics.Average(), meanP = pValues.Average();
        int below5 = pValues.Count(p => p < 0.05), belowHalf = pValues.Count(p => p < 0.5);
        TestContext.Out.WriteLine($"mean Z₂ {meanZ2:F3} (sd {Math.Sqrt(statistics.Select(s => (s - meanZ2) * (s - meanZ2)).Average()):F3}), mean p {meanP:F3}, p < 5 %: {below5}/{periods}, p < ½: {belowHalf}/{periods}");
        // Over 40 periods: the mean of 40 uniforms has sd 0.046; Binomial(40, 0.05) exceeds 6 with probability 0.3 %.
        Assert.That(meanZ2, Is.EqualTo(0).Within(0.1));
        Assert.That(meanP, Is.InRange(0.35, 0.65));
        Assert.That(below5, Is.AtMost(6));
        Assert.That(belowHalf, Is.InRange(12, 28));
    }

    [Test]
    public void Z2RejectsAForecastThatHalvesTheExpectedShortfall()
    {
        const int days = 250, perDay = 1000;
        const double a = 0.025, nu = 5;
        double[] sigma = VolatilityPath(days);
        double[] returns = StudentTs(days, seed: 77, nu, 1.0).Select((v, t) => v * sigma[t]).ToArray();
        // The forecast's scenarios have half the true scale, so its VaR and ES are half the true ones.
        var halved = Scenarios(sigma, perDay, 88, nu, 0.5);
        var test = ForecastScores.AcerbiSzekely(returns, halved, a, seed: 5, replications: 1000);
        TestContext.Out.WriteLine(test);
        Assert.That(test.Statistic, Is.LessThan(-0.5));
        Assert.That(test.PValue, Is.LessThan(0.01));
        Assert.That(test.Exceptions, Is.GreaterThan(2 * a * days));

        // The same returns against the true scale are not rejected, and the p-value is a pure function of the seed.
        var right = Scenarios(sigma, perDay, 88, nu, 1.0);
        var fair = ForecastScores.AcerbiSzekely(returns, right, a, seed: 5, replications: 1000);
        Assert.That(fair.PValue, Is.GreaterThan(0.05));
        Assert.That(ForecastScores.AcerbiSzekely(returns, right, a, seed: 5, replications: 1000), Is.EqualTo(fair));
        Assert.That(ForecastScores.AcerbiSzekely(returns, right, a, seed: 6, replications: 1000).PValue, Is.Not.EqualTo(fair.PValue));
    }

    // ---- VaR and ES from samples

    [Test]
    public void RiskFromSampleIsTheHistoricalEstimate()
    {
        // 80 returns at a = 0.05: n·a = 4, so VaR is minus the 5th smallest return and ES minus the mean of the 4 smallest.
        double[] sample = Normals(80, seed: 31, mean: 0.0005, sd: 0.012);
        double[] sorted = sample.OrderBy(x => x).ToArray();
        var (valueAtRisk, expectedShortfall) = ForecastScores.RiskFromSample(sample, 0.05);
        Assert.That(valueAtRisk, Is.EqualTo(-sorted[4]));
        Assert.That(expectedShortfall, Is.EqualTo(-(sorted[0] + sorted[1] + sorted[2] + sorted[3]) / 4).Within(1e-16));
        UserError.Assert(() => ForecastScores.RiskFromSample(sample[..30], 0.025), "at least 40");
        var (vars, ess) = ForecastScores.RiskForecasts([sample, sample.Reverse().ToArray()], 0.05);
        Assert.That(vars, Is.EqualTo(new[] { valueAtRisk, valueAtRisk }));
        Assert.That(ess, Is.EqualTo(new[] { expectedShortfall, expectedShortfall }));
    }

    // ---- bootstrap

    [Test]
    public void BootstrapIntervalOfAMeanHasTheNormalWidthAndCoverage()
    {
        // 200 per-path values from N(5, 2²): the 95 % interval of the mean is about ±1.96·2/√200 = ±0.277.
        const int paths = 200, datasets = 100;
        int covered = 0;
        double widths = 0;
        for (int k = 0; k < datasets; k++)
        {
            double[] values = Normals(paths, seed: 40_000 + (ulong)k, mean: 5, sd: 2);
            var ci = ForecastScores.BootstrapInterval(values, seed: (ulong)k, resamples: 500);
            Assert.That(ci.Estimate, Is.EqualTo(values.Average()).Within(1e-12));
            Assert.That(ci.Lower, Is.LessThan(ci.Estimate));
            Assert.That(ci.Upper, Is.GreaterThan(ci.Estimate));
            if (ci.Lower <= 5 && 5 <= ci.Upper) covered++;
            widths += ci.Upper - ci.Lower;
        }
        TestContext.Out.WriteLine($"coverage {covered}/{datasets}, mean width {widths / datasets:F4} (normal theory {2 * 1.96 * 2 / Math.Sqrt(paths):F4})");
        Assert.That(widths / datasets, Is.EqualTo(2 * 1.96 * 2 / Math.Sqrt(paths)).Within(10).Percent);
        Assert.That(covered, Is.InRange(88, 99));
    }

    [Test]
    public void BootstrapIntervalOfAnyStatisticIsSeededAndMatchesTheMeanOverload()
    {
        double[] values = Normals(150, seed: 51, mean: -0.3, sd: 0.7);
        double Mean(int[] indices) => indices.Average(i => values[i]);
        var byFunction = ForecastScores.BootstrapInterval(values.Length, Mean, seed: 9, resamples: 400);
        var byValues = ForecastScores.BootstrapInterval(values, seed: 9, resamples: 400);
        Assert.That(byFunction.Lower, Is.EqualTo(byValues.Lower).Within(1e-12));
        Assert.That(byFunction.Upper, Is.EqualTo(byValues.Upper).Within(1e-12));
        Assert.That(ForecastScores.BootstrapInterval(values, seed: 10, resamples: 400).Lower, Is.Not.EqualTo(byValues.Lower));

        // A statistic of the whole resampled set (the pooled 90th percentile), not a mean of per-path values.
        double Percentile90(int[] indices)
        {
            var pooled = indices.Select(i => values[i]).OrderBy(v => v).ToArray();
            return pooled[(int)(0.9 * (pooled.Length - 1))];
        }
        var p90 = ForecastScores.BootstrapInterval(values.Length, Percentile90, seed: 3, resamples: 400);
        Assert.That(p90.Lower, Is.LessThanOrEqualTo(p90.Estimate));
        Assert.That(p90.Upper, Is.GreaterThanOrEqualTo(p90.Estimate));
        Assert.That(p90.Upper - p90.Lower, Is.GreaterThan(0));
        Assert.That(ForecastScores.BootstrapInterval(values.Length, Percentile90, seed: 3, resamples: 400), Is.EqualTo(p90));

        // Intervals separate only when they do not overlap.
        Assert.That(new ConfidenceInterval(1, 0.5, 1.5, 0.95, 400).SeparatesFrom(new ConfidenceInterval(2, 1.6, 2.4, 0.95, 400)), Is.True);
        Assert.That(new ConfidenceInterval(1, 0.5, 1.7, 0.95, 400).SeparatesFrom(new ConfidenceInterval(2, 1.6, 2.4, 0.95, 400)), Is.False);
    }
}
