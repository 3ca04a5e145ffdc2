using FinGen.Native.Evaluation;
using FinGen.Native.Randomness;
using MathNet.Numerics;
using MathNet.Numerics.Distributions;

namespace FinGen.Native.Tests;

/// <summary>
/// The evaluation mathematics, each statistic against a value found independently: closed forms, hand
/// arithmetic (shown in the comments), published tables, or a known generating process.
/// </summary>
[TestFixture]
public sealed class EvaluationTests
{
    static double[] Normals(int n, ulong seed, double mean = 0, double sd = 1)
    {
        var f = new float[n];
        Philox.FillNormal(f, seed, stream: 77, offset: 0);
        return Array.ConvertAll(f, v => mean + sd * v);
    }

    [Test]
    public void BadInputsAreUserErrors()
    {
        double[] r = [0.01, -0.02, 0.005, 0.003];
        Assert.That(() => Risk.ValueAtRisk(r, 1.0), Throws.TypeOf<FinGenException>());
        Assert.That(() => Risk.Exceptions(r, [1.0]), Throws.TypeOf<FinGenException>());
        Assert.That(() => StylizedFacts.Autocorrelation(r, 4), Throws.TypeOf<FinGenException>());
        Assert.That(() => StylizedFacts.Mean([1.0, double.NaN]), Throws.TypeOf<FinGenException>().With.Message.Contains("value 1"));
        Assert.That(() => Distances.Wasserstein1([], r), Throws.TypeOf<FinGenException>());
        Assert.That(() => Garch11.Simulate(new Garch11Parameters(0, 1e-6, 0.5, 0.5, 6), 10, 1), Throws.TypeOf<FinGenException>());
        Assert.That(() => HistoricalSimulation.Sample(r, 10, 1, blockLength: 5), Throws.TypeOf<FinGenException>());
    }

    // ---- the MathNet special functions and distributions the evaluation relies on, at the values it needs

    [Test]
    public void LogGammaMatchesKnownValues()
    {
        // MathNet's ln Γ carries the GARCH-t likelihood's constant.
        Assert.That(SpecialFunctions.GammaLn(0.5), Is.EqualTo(0.5 * Math.Log(Math.PI)).Within(1e-14)); // Γ(½) = √π
        Assert.That(SpecialFunctions.GammaLn(1), Is.EqualTo(0).Within(1e-14));
        Assert.That(SpecialFunctions.GammaLn(5), Is.EqualTo(Math.Log(24)).Within(1e-13));
        Assert.That(SpecialFunctions.GammaLn(10), Is.EqualTo(Math.Log(362880)).Within(1e-12));
        Assert.That(SpecialFunctions.GammaLn(0.1), Is.EqualTo(Math.Log(9.513507698668732)).Within(1e-13));
        // ln 100! = Σ ln k
        double log100Factorial = 0;
        for (int k = 2; k <= 100; k++) log100Factorial += Math.Log(k);
        Assert.That(SpecialFunctions.GammaLn(101), Is.EqualTo(log100Factorial).Within(1e-10));
    }

    [Test]
    public void LikelihoodRatioPValuesMatchTablesAndClosedForms()
    {
        // Risk's p-values are P(χ²_k > x) = Q(k/2, x/2). χ² tables: P(χ²₁ > 3.841459) = 0.05, P(χ²₁ > 6.634897) = 0.01,
        // P(χ²₂ > 5.991465) = 0.05, P(χ²₁₀ > 18.307038) = 0.05.
        Assert.That(SpecialFunctions.GammaUpperRegularized(0.5, 0.5 * 3.841459), Is.EqualTo(0.05).Within(1e-7));
        Assert.That(SpecialFunctions.GammaUpperRegularized(0.5, 0.5 * 6.634897), Is.EqualTo(0.01).Within(1e-7));
        Assert.That(SpecialFunctions.GammaUpperRegularized(1, 0.5 * 5.991465), Is.EqualTo(0.05).Within(1e-7));
        Assert.That(SpecialFunctions.GammaUpperRegularized(5, 0.5 * 18.307038), Is.EqualTo(0.05).Within(1e-7));
        // χ²₂ is exponential: P(χ²₂ > x) = e^(−x/2).
        foreach (double x in new[] { 0.1, 1.0, 2.5, 7.0, 30.0 })
        {
            Assert.That(SpecialFunctions.GammaUpperRegularized(1, 0.5 * x), Is.EqualTo(Math.Exp(-x / 2)).Within(1e-12).Percent);
        }
        // A far tail keeps its relative precision, where 1 − ChiSquared.CDF would give 0: P(χ²₁ > 100) = erfc(√50).
        Assert.That(SpecialFunctions.GammaUpperRegularized(0.5, 50), Is.EqualTo(1.5239706048320995e-23).Within(1e-8).Percent);
        // Through Risk: 1 exception in 10 days at 99 %: LR = −2[9 ln 0.99 + ln 0.01] + 2[9 ln 0.9 + ln 0.1].
        double lr = -2 * (9 * Math.Log(0.99) + Math.Log(0.01)) + 2 * (9 * Math.Log(0.9) + Math.Log(0.1));
        var kupiec = Risk.Kupiec(1, 10, 0.99);
        Assert.That(kupiec.Statistic, Is.EqualTo(lr).Within(1e-12));
        Assert.That(kupiec.PValue, Is.EqualTo(1 - MathNet.Numerics.Distributions.ChiSquared.CDF(1, lr)).Within(1e-12));
        Assert.That(Risk.Kupiec(1, 100, 0.99).PValue, Is.EqualTo(1).Within(1e-12)); // exactly the expected count: LR = 0
    }

    [Test]
    public void StudentTQuantilesMatchTablesAndClosedForms()
    {
        // t tables: t₆(0.99) = 3.142668, t₆(0.95) = 1.943180.
        Assert.That(Garch11.StudentTQuantile(0.99, 6), Is.EqualTo(3.142668).Within(1e-6));
        Assert.That(Garch11.StudentTQuantile(0.95, 6), Is.EqualTo(1.943180).Within(1e-6));
        Assert.That(Garch11.StudentTQuantile(0.01, 6), Is.EqualTo(-3.142668).Within(1e-6));
        Assert.That(Garch11.StudentTQuantile(0.5, 4), Is.EqualTo(0));
        // Closed forms, tighter than MathNet's InvCDF alone (absolute accuracy 1e-8) reaches:
        // ν = 1 (Cauchy): tan(π(p − ½)) = −cot(πp), written with the cotangent so that the reference itself is well
        // conditioned in the tails; ν = 2: (2p − 1)/√(2p(1 − p)). Relative 1e-13, where InvCDF alone is off by up to 8e-8.
        foreach (double p in new[] { 1e-6, 1e-4, 0.001, 0.01, 0.025, 0.3, 0.7, 0.975, 0.99, 0.999 })
        {
            double cauchy = p < 0.5 ? -1 / Math.Tan(Math.PI * p) : 1 / Math.Tan(Math.PI * (1 - p));
            double two = (2 * p - 1) / Math.Sqrt(2 * p * (1 - p));
            if (Math.Abs(cauchy) < 800) Assert.That(Garch11.StudentTQuantile(p, 1), Is.EqualTo(cauchy).Within(1e-11).Percent, $"ν = 1, p = {p}");
            else Assert.That(() => Garch11.StudentTQuantile(p, 1), Throws.TypeOf<FinGenException>().With.Message.Contains("±800"));
            Assert.That(Garch11.StudentTQuantile(p, 2), Is.EqualTo(two).Within(1e-11).Percent, $"ν = 2, p = {p}");
        }
        // The unit-variance quantile scales by √((ν − 2)/ν): t₆(0.01)·√(4/6).
        Assert.That(Garch11.StandardizedQuantile(0.01, 6), Is.EqualTo(-3.142668 * Math.Sqrt(4.0 / 6)).Within(1e-6));
    }

    [Test]
    public void BinomialCdfMatchesTheBaselTable()
    {
        // Basel Committee (1996), Table 2, 250 days at 99 %: cumulative probability of at most x exceptions.
        Assert.That(Binomial.CDF(0.01, 250, 0), Is.EqualTo(0.0811).Within(5e-5));
        Assert.That(Binomial.CDF(0.01, 250, 4), Is.EqualTo(0.8922).Within(5e-5));
        Assert.That(Binomial.CDF(0.01, 250, 5), Is.EqualTo(0.9588).Within(5e-5));
        Assert.That(Binomial.CDF(0.01, 250, 9), Is.EqualTo(0.9997).Within(5e-5));
        // Binomial(3, ½): P(X ≤ 1) = (1 + 3)/8.
        Assert.That(Binomial.CDF(0.5, 3, 1), Is.EqualTo(0.5).Within(1e-14));
        // … and so the zones: green 0–4, yellow 5–9, red from 10.
        Assert.That(Risk.TrafficLightThresholds(250, 0.99), Is.EqualTo((5, 10)));
    }

    // ---- stylized facts

    [Test]
    public void MomentsOfAHandComputedSeries()
    {
        // x = 1, 2, 3, 4, 10: mean 20/5 = 4; deviations −3, −2, −1, 0, 6.
        // m₂ = (9 + 4 + 1 + 0 + 36)/5 = 10; m₃ = (−27 − 8 − 1 + 0 + 216)/5 = 36; m₄ = (81 + 16 + 1 + 0 + 1296)/5 = 278.8.
        // sd = √10, skewness = 36/10^1.5 = 1.1384199576606..., excess kurtosis = 278.8/100 − 3 = −0.212.
        double[] x = [1, 2, 3, 4, 10];
        var m = StylizedFacts.Describe(x);
        Assert.That(m.Mean, Is.EqualTo(4).Within(1e-15));
        Assert.That(m.StandardDeviation, Is.EqualTo(Math.Sqrt(10)).Within(1e-15));
        Assert.That(m.Skewness, Is.EqualTo(36 / Math.Pow(10, 1.5)).Within(1e-14));
        Assert.That(m.ExcessKurtosis, Is.EqualTo(-0.212).Within(1e-14));
        Assert.That(StylizedFacts.Mean(x), Is.EqualTo(4).Within(1e-15));
        Assert.That(StylizedFacts.StandardDeviation(x), Is.EqualTo(Math.Sqrt(10)).Within(1e-15));
        Assert.That(StylizedFacts.Skewness(x), Is.EqualTo(m.Skewness));
        Assert.That(StylizedFacts.ExcessKurtosis(x), Is.EqualTo(m.ExcessKurtosis));
        Assert.That(() => StylizedFacts.Describe([2.0, 2.0, 2.0]), Throws.TypeOf<FinGenException>());
    }

    [Test]
    public void HillEstimatorRecoversParetoIndex()
    {
        const double alpha = 3.0;
        // An exact Pareto sample: the n quantiles xᵢ = (n/i)^(1/α), i = 1..n (P(X > x) = x^(−α)).
        // The k largest are x₍ᵢ₎ = (n/i)^(1/α), so ln(x₍ᵢ₎/x₍ₖ₊₁₎) = ln((k + 1)/i)/α and
        // α̂ = α / (ln(k + 1) − ln(k!)/k), which tends to α as k grows.
        const int n = 100_000, k = 5_000;
        var quantiles = new double[n];
        for (int i = 1; i <= n; i++) quantiles[i - 1] = (i % 2 == 0 ? -1 : 1) * Math.Pow((double)n / i, 1 / alpha);
        double logKFactorial = 0;
        for (int i = 2; i <= k; i++) logKFactorial += Math.Log(i);
        double expected = alpha / (Math.Log(k + 1.0) - logKFactorial / k);
        Assert.That(StylizedFacts.HillTailIndex(quantiles), Is.EqualTo(expected).Within(1e-9).Percent); // default k = 5 % of n
        Assert.That(expected, Is.EqualTo(alpha).Within(0.1).Percent);

        // A random Pareto sample: xᵢ = uᵢ^(−1/α); the Hill estimate has standard error α/√k = 3/√10000 = 0.03.
        var u = new float[200_000];
        Philox.FillUniform(u, seed: 11, stream: 5, offset: 0);
        double[] random = Array.ConvertAll(u, v => Math.Pow(v, -1 / alpha));
        Assert.That(StylizedFacts.HillTailIndex(random, tailCount: 10_000), Is.EqualTo(alpha).Within(0.1));
    }

    [Test]
    public void AutocorrelationOfAnAlternatingSeriesIsClosedForm()
    {
        // x = +1, −1, +1, ... with n even: mean 0, γ(k) = (1/n)·Σ(−1)^(2t+k) = (−1)ᵏ(n − k)/n, γ(0) = 1.
        const int n = 100;
        var x = new double[n];
        for (int t = 0; t < n; t++) x[t] = t % 2 == 0 ? 1 : -1;
        double[] acf = StylizedFacts.Autocorrelation(x, 10);
        Assert.That(acf, Has.Length.EqualTo(11));
        for (int k = 0; k <= 10; k++)
        {
            Assert.That(acf[k], Is.EqualTo((k % 2 == 0 ? 1 : -1) * (n - k) / (double)n).Within(1e-15), $"lag {k}");
        }
    }

    [Test]
    public void AutocorrelationsOfReturnsAbsoluteAndSquaredByHand()
    {
        double[] r = [1, -2, 3, -4, 5];
        var acfs = StylizedFacts.Autocorrelations(r, 4);
        // |r| = 1..5: mean 3, centred −2, −1, 0, 1, 2; γ(0) = 10/5; γ(1) = (2 + 0 + 0 + 2)/5; γ(2) = (0 − 1 + 0)/5;
        // γ(3) = (−2 − 2)/5; γ(4) = −4/5 → ρ = 1, 0.4, −0.1, −0.4, −0.4 (statsmodels' acf gives the same).
        Assert.That(acfs.Absolute, Is.EqualTo(new[] { 1, 0.4, -0.1, -0.4, -0.4 }).Within(1e-15));
        // r² = 1, 4, 9, 16, 25: mean 11, centred −10, −7, −2, 5, 14; Σd² = 374; lag 1: 70 + 14 − 10 + 70 = 144.
        Assert.That(acfs.Squared[1], Is.EqualTo(144 / 374.0).Within(1e-15));
        // r: mean 0.6, centred 0.4, −2.6, 2.4, −4.6, 4.4; Σd² = 53.2; lag 1: −1.04 − 6.24 − 11.04 − 20.24 = −38.56.
        Assert.That(acfs.Returns[1], Is.EqualTo(-38.56 / 53.2).Within(1e-14));
        Assert.That(acfs.Returns[0], Is.EqualTo(1));
    }

    [Test]
    public void PowerLawDecayFitsAnExactPowerLawSkippingNonPositiveLags()
    {
        var acf = new double[51];
        acf[0] = 1;
        for (int k = 1; k <= 50; k++) acf[k] = 0.3 * Math.Pow(k, -0.4);
        acf[7] = -0.01; // non-positive lags are left out of the log–log regression
        acf[13] = 0;
        var fit = StylizedFacts.FitPowerLawDecay(acf);
        Assert.That(fit.Beta, Is.EqualTo(0.4).Within(1e-12));
        Assert.That(fit.Amplitude, Is.EqualTo(0.3).Within(1e-12));
        Assert.That(fit.LagsUsed, Is.EqualTo(48));

        // Volatility clustering of a GARCH series: |r| has a positive, decaying ACF.
        double[] garch = Garch11.Simulate(new Garch11Parameters(0, 2e-6, 0.08, 0.9, 6), 20_000, seed: 3);
        var decay = StylizedFacts.AbsoluteAutocorrelationDecay(garch, 100);
        Assert.That(decay.Beta, Is.GreaterThan(0));
        Assert.That(decay.LagsUsed, Is.GreaterThan(90));
    }

    [Test]
    public void LeverageEffectByHand()
    {
        double[] r = [1, -2, 3, -1, 2];
        // Lag 1: pairs (rₜ, r²ₜ₊₁) = (1, 4), (−2, 9), (3, 1), (−1, 4); means 0.25 and 4.5;
        // Σdxdy = 0.75·(−0.5) − 2.25·4.5 + 2.75·(−3.5) − 1.25·(−0.5) = −19.5; Σdx² = 14.75; Σdy² = 33.
        // Lag 2: pairs (1, 9), (−2, 1), (3, 4); means 2/3 and 14/3; Σdxdy = 87/9, Σdx² = 114/9, Σdy² = 294/9.
        double[] leverage = StylizedFacts.LeverageEffect(r, 2);
        Assert.That(leverage[0], Is.EqualTo(-19.5 / Math.Sqrt(14.75 * 33)).Within(1e-14)); // −0.883856...
        Assert.That(leverage[1], Is.EqualTo(87 / Math.Sqrt(114.0 * 294)).Within(1e-14));   //  0.475218...
    }

    [Test]
    public void GainLossAsymmetryByHand()
    {
        // θ = 0.5, T = 3, starts t = 0..3 (n − T + 1 = 4); cumulative returns after τ = 1, 2, 3 days:
        // t = 0: 0.25, 0.5, 0.75  → gain at τ = 2, no loss
        // t = 1: 0.25, 0.5, −0.5  → gain at 2, loss at 3
        // t = 2: 0.25, −0.75, −0.5 → loss at 2
        // t = 3: −1, −0.75, −0.5  → loss at 1
        double[] r = [0.25, 0.25, 0.25, -1, 0.25, 0.25];
        var g = StylizedFacts.GainLossAsymmetry(r, 0.5, 3);
        Assert.That(g.Gain, Is.EqualTo(new[] { 0, 0.5, 0 }));
        Assert.That(g.Loss, Is.EqualTo(new[] { 0.25, 0.25, 0.25 }));
        Assert.That(g.MostLikelyGainHorizon, Is.EqualTo(2));
        Assert.That(g.MostLikelyLossHorizon, Is.EqualTo(1));
    }

    [Test]
    public void AggregatedReturnsAreNonOverlappingSums()
    {
        Assert.That(StylizedFacts.AggregateReturns([1, 2, 3, 4, 5, 6, 7], 3), Is.EqualTo(new[] { 6.0, 15.0 }));
        Assert.That(StylizedFacts.AggregateReturns([1, 2], 1), Is.EqualTo(new[] { 1.0, 2.0 }));
    }

    // ---- distances

    [Test]
    public void WassersteinOfAShiftIsTheShift()
    {
        double[] x = Normals(1000, 1);
        double[] y = Array.ConvertAll(x, v => v + 0.37);
        Assert.That(Distances.Wasserstein1(x, y), Is.EqualTo(0.37).Within(1e-12));
        // The same empirical distribution in a sample twice as large is at distance 0.
        Assert.That(Distances.Wasserstein1(x, [.. x, .. x]), Is.EqualTo(0).Within(1e-15));
    }

    [Test]
    public void WassersteinOfHandSortedSamples()
    {
        // {0, 1, 3} vs {5, 6}: quantile functions on [0,⅓) [⅓,½) [½,⅔) [⅔,1) are (0,5) (1,5) (1,6) (3,6):
        // W₁ = 5/3 + 4/6 + 5/6 + 3/3 = 25/6. (Check with ∫|F − G|: ⅓·1 + ⅔·2 + 1·2 + ½·1 = 25/6.)
        Assert.That(Distances.Wasserstein1([3, 0, 1], [6, 5]), Is.EqualTo(25.0 / 6).Within(1e-14));
        // {0, 2, 4} vs {1, 3}: |F − G| is ⅓ on [0,1), ⅙ on [1,2), ⅙ on [2,3), ⅓ on [3,4): W₁ = 1.
        Assert.That(Distances.Wasserstein1([0, 2, 4], [1, 3]), Is.EqualTo(1).Within(1e-14));
        Assert.That(Distances.Wasserstein1([1, 3], [0, 2, 4]), Is.EqualTo(1).Within(1e-14));
    }

    [Test]
    public void AcfScoreOfAlternatingAgainstPeriodFour()
    {
        // a = +1, −1, ...: ρ = −0.99, 0.98, −0.97 at lags 1..3 (n = 100).
        // b = +1, +1, −1, −1, ...: lag-1 products alternate +1, −1 over 99 terms (sum 1); lag 2 products are all −1
        // (98 terms); lag 3 alternate −1, +1 over 97 terms (sum −1): ρ = 0.01, −0.98, −0.01.
        // Differences −1, 1.96, −0.96: score = √(1 + 3.8416 + 0.9216) = √5.7632.
        const int n = 100;
        var a = new double[n];
        var b = new double[n];
        for (int t = 0; t < n; t++)
        {
            a[t] = t % 2 == 0 ? 1 : -1;
            b[t] = t % 4 < 2 ? 1 : -1;
        }
        Assert.That(Distances.AcfScore(a, b, 3, ReturnTransform.Identity), Is.EqualTo(Math.Sqrt(5.7632)).Within(1e-13));
        // Averaging the ACFs of paths a and b gives the midpoint: half the distance.
        Assert.That(Distances.AcfScore(a, [a, b], 3, ReturnTransform.Identity), Is.EqualTo(Math.Sqrt(5.7632) / 2).Within(1e-13));

        double[] x = Normals(500, 2);
        var same = Distances.AcfScores(x, x, 20);
        Assert.That(same, Is.EqualTo(new AcfScoreSet(0, 0, 0)));
        double[] y = Normals(500, 3);
        Assert.That(Distances.AcfScores(x, y, 20).Absolute,
            Is.EqualTo(Distances.AcfScore(x, y, 20, ReturnTransform.Absolute)));
    }

    [Test]
    public void LeverageScoreOfANegatedSeriesIsTwiceTheNorm()
    {
        // corr(−rₜ, r²ₜ₊ₖ) = −corr(rₜ, r²ₜ₊ₖ), so the score is 2·‖ℓ‖ with ℓ from LeverageEffectByHand.
        double[] r = [1, -2, 3, -1, 2];
        double[] negated = [-1, 2, -3, 1, -2];
        double l1 = -19.5 / Math.Sqrt(14.75 * 33), l2 = 87 / Math.Sqrt(114.0 * 294);
        Assert.That(Distances.LeverageScore(r, negated, 2), Is.EqualTo(2 * Math.Sqrt(l1 * l1 + l2 * l2)).Within(1e-14));
    }

    [Test]
    public void MmdByHandOnTwoPointSamples()
    {
        // x = {0, 1}, y = {2, 3}. Pooled pairwise distances 1, 1, 1, 2, 2, 3: median (1 + 2)/2 = 1.5 = σ.
        // With k(d) = exp(−d²/(2·1.5²)): within-x and within-y means are k(1) each; the cross mean is
        // (k(2) + k(3) + k(1) + k(2))/4. MMD²ᵤ = 2k(1) − 2·(k(1) + 2k(2) + k(3))/4 = 1.5k(1) − k(2) − 0.5k(3) = 0.72233.
        static double K(double d) => Math.Exp(-d * d / (2 * 1.5 * 1.5));
        Assert.That(Distances.MaximumMeanDiscrepancy([0, 1], [2, 3]), Is.EqualTo(1.5 * K(1) - K(2) - 0.5 * K(3)).Within(1e-14));
    }

    [Test]
    public void MmdSeparatesShiftedNormalsAndNotIdenticalOnes()
    {
        double[] x = Normals(1000, 4);
        // Identical samples: the unbiased estimate is −2/m + 2Σ_(i≠j)k/(m²(m − 1)) ≤ 0, of order 1/m.
        double identical = Distances.MaximumMeanDiscrepancy(x, x);
        Assert.That(identical, Is.LessThanOrEqualTo(0).And.GreaterThan(-0.005));
        // Independent samples of one distribution: near 0.
        Assert.That(Math.Abs(Distances.MaximumMeanDiscrepancy(x, Normals(1000, 5))), Is.LessThan(0.01));
        // N(0, 1) vs N(1, 1): MMD² = 2√(σ²/(σ² + 2))·(1 − e^(−1/(2(σ² + 2)))) ≈ 0.18 for σ ≈ 1.1.
        double shifted = Distances.MaximumMeanDiscrepancy(x, Normals(1000, 6, mean: 1));
        Assert.That(shifted, Is.InRange(0.1, 0.26));
    }

    [Test]
    public void MmdSubsamplesDeterministicallyWithoutReplacement()
    {
        var values = new double[5000];
        for (int i = 0; i < values.Length; i++) values[i] = i;
        double[] picked = Distances.Subsample(values, 500, seed: 9, stream: 1);
        Assert.That(picked, Has.Length.EqualTo(500));
        Assert.That(picked, Is.Unique);
        Assert.That(picked, Is.EqualTo(Distances.Subsample(values, 500, seed: 9, stream: 1)));
        Assert.That(picked, Is.Not.EqualTo(Distances.Subsample(values, 500, seed: 10, stream: 1)));

        double[] x = Normals(5000, 7), y = Normals(5000, 8, mean: 0.5);
        double first = Distances.MaximumMeanDiscrepancy(x, y, maxPoints: 300, seed: 1);
        Assert.That(Distances.MaximumMeanDiscrepancy(x, y, maxPoints: 300, seed: 1), Is.EqualTo(first));
        Assert.That(Distances.MaximumMeanDiscrepancy(x, y, maxPoints: 300, seed: 2), Is.Not.EqualTo(first));
    }

    // ---- risk

    [Test]
    public void VarAndEsOfLossesOneToHundred()
    {
        // Returns −1..−100 (losses 1..100), shuffled. α = 95 %: w = n(1 − α) = 5, VaR = the 6th worst loss = 95,
        // ES = mean of the 5 worst = (100 + 99 + 98 + 97 + 96)/5 = 98.
        // α = 99 %: w = 1, VaR = 99, ES = 100. α = 97.5 %: w = 2.5, VaR = 98, ES = (100 + 99 + 0.5·98)/2.5 = 99.2.
        var returns = new double[100];
        for (int i = 0; i < 100; i++) returns[i] = -((i * 37) % 100 + 1);
        Assert.That(Risk.ValueAtRisk(returns, 0.95), Is.EqualTo(95));
        Assert.That(Risk.ExpectedShortfall(returns, 0.95), Is.EqualTo(98).Within(1e-12));
        Assert.That(Risk.ValueAtRisk(returns, 0.99), Is.EqualTo(99));
        Assert.That(Risk.ExpectedShortfall(returns, 0.99), Is.EqualTo(100).Within(1e-12));
        Assert.That(Risk.ValueAtRisk(returns, 0.975), Is.EqualTo(98));
        Assert.That(Risk.ExpectedShortfall(returns, 0.975), Is.EqualTo(99.2).Within(1e-12));
    }

    [Test]
    public void TwoDayVarUsesAggregatedReturns()
    {
        // Returns −1..−100 in order; 2-day sums −(1 + 2), −(3 + 4), ..., −(99 + 100): losses 3, 7, ..., 199 (n = 50).
        // α = 95 %: w = 2.5, VaR = 3rd worst = 191, ES = (199 + 195 + 0.5·191)/2.5 = 195.8.
        var returns = new double[100];
        for (int i = 0; i < 100; i++) returns[i] = -(i + 1);
        Assert.That(Risk.ValueAtRisk(returns, 0.95, horizon: 2), Is.EqualTo(191));
        Assert.That(Risk.ExpectedShortfall(returns, 0.95, horizon: 2), Is.EqualTo(195.8).Within(1e-12));
    }

    [Test]
    public void RollingVarUsesOnlyThePrecedingWindow()
    {
        double[] returns = [-1, -2, -3, -4, -5, 10];
        // Window 4 at 75 %: w = 1, VaR = 2nd worst loss of the 4 preceding days: days 0..3 → 3; days 1..4 → 4.
        Assert.That(Risk.RollingValueAtRisk(returns, 4, 0.75), Is.EqualTo(new[] { 3.0, 4.0 }));
    }

    [Test]
    public void KupiecOnTheTextbookExample()
    {
        // 250 days at 99 %, 8 exceptions: p = 0.01, x/T = 0.032.
        // ln L₀ = 242·ln 0.99 + 8·ln 0.01 = −2.432182 − 36.841361 = −39.273543
        // ln L₁ = 242·ln 0.968 + 8·ln 0.032 = −7.870614 − 27.536155 = −35.406768
        // LR = 2·(ln L₁ − ln L₀) = 7.733551; p = P(χ²₁ > 7.7336) = erfc(√(7.7336/2)) = 0.005420.
        var test = Risk.Kupiec(8, 250, 0.99);
        Assert.That(test.Statistic, Is.EqualTo(7.7335507244945205).Within(1e-10));
        Assert.That(test.DegreesOfFreedom, Is.EqualTo(1));
        Assert.That(test.PValue, Is.EqualTo(0.005420405194127794).Within(1e-9));
        // No exceptions: LR = −2·250·ln 0.99 = 5.025168. Exactly the expected rate (2 in 200): LR = 0, p = 1.
        Assert.That(Risk.Kupiec(0, 250, 0.99).Statistic, Is.EqualTo(-500 * Math.Log(0.99)).Within(1e-12));
        Assert.That(Risk.Kupiec(2, 200, 0.99).Statistic, Is.EqualTo(0).Within(1e-12));
        Assert.That(Risk.Kupiec(2, 200, 0.99).PValue, Is.EqualTo(1).Within(1e-6));
    }

    [Test]
    public void ChristoffersenOnAHandBuiltHitSequence()
    {
        // Hits 0 0 0 1 1 1 0 0 0 0 0 0 (T = 12). Transitions: n₀₀ = 7, n₀₁ = 1, n₁₀ = 1, n₁₁ = 2.
        // π₀₁ = 1/8, π₁₁ = 2/3, π = 3/11.
        // ln L_ind = 7 ln(7/8) + ln(1/8) + ln(1/3) + 2 ln(2/3); ln L₀ = 8 ln(8/11) + 3 ln(3/11); LR = 3.043550.
        bool[] hits = [false, false, false, true, true, true, false, false, false, false, false, false];
        double markov = 7 * Math.Log(7.0 / 8) + Math.Log(1.0 / 8) + Math.Log(1.0 / 3) + 2 * Math.Log(2.0 / 3);
        double independent = 8 * Math.Log(8.0 / 11) + 3 * Math.Log(3.0 / 11);
        var ind = Risk.ChristoffersenIndependence(hits);
        Assert.That(ind.Statistic, Is.EqualTo(2 * (markov - independent)).Within(1e-12));
        Assert.That(ind.Statistic, Is.EqualTo(3.0435500128062536).Within(1e-10));
        Assert.That(ind.PValue, Is.EqualTo(0.08105847219289397).Within(1e-9)); // erfc(√(LR/2))
        // Conditional coverage at 99 %: LR_POF(3 of 12) = 14.315884, + 3.043550 = 17.359434 ~ χ²(2): p = e^(−LR/2).
        var cc = Risk.ConditionalCoverage(hits, 0.99);
        Assert.That(cc.Statistic, Is.EqualTo(17.35943370324643).Within(1e-9));
        Assert.That(cc.DegreesOfFreedom, Is.EqualTo(2));
        Assert.That(cc.PValue, Is.EqualTo(Math.Exp(-cc.Statistic / 2)).Within(1e-14));
        // Evenly spread hits with π₀₁ = π₁₁ = π give LR_ind = 0: 0 0 1 1 0 0 0 1 0 0 has n₀₀ = 4, n₀₁ = 2, n₁₀ = 2, n₁₁ = 1.
        Assert.That(Risk.ChristoffersenIndependence([false, false, true, true, false, false, false, true, false, false]).Statistic,
            Is.EqualTo(0).Within(1e-12));
    }

    [Test]
    public void TrafficLightZones()
    {
        // Basel: 250 days at 99 %: green 0–4, yellow 5–9, red ≥ 10.
        Assert.That(Risk.TrafficLightThresholds(250, 0.99), Is.EqualTo((5, 10)));
        Assert.That(Risk.TrafficLight(0), Is.EqualTo(TrafficLightZone.Green));
        Assert.That(Risk.TrafficLight(4), Is.EqualTo(TrafficLightZone.Green));
        Assert.That(Risk.TrafficLight(5), Is.EqualTo(TrafficLightZone.Yellow));
        Assert.That(Risk.TrafficLight(9), Is.EqualTo(TrafficLightZone.Yellow));
        Assert.That(Risk.TrafficLight(10), Is.EqualTo(TrafficLightZone.Red));
        // The same rule on 500 days (P(X ≤ 8) = 0.932, P(X ≤ 9) = 0.968; P(X ≤ 14) = 0.99988, P(X ≤ 15) = 0.99996).
        Assert.That(Risk.TrafficLightThresholds(500, 0.99), Is.EqualTo((9, 15)));
        Assert.That(Risk.TrafficLightThresholds(250, 0.95), Is.EqualTo((18, 27)));
    }

    [Test]
    public void BacktestCombinesTheTests()
    {
        // VaR 1 every day; a −2 return is an exception. Same hits as the Christoffersen example.
        double[] returns = [0, 0.5, -0.5, -2, -2, -2, 0, 0, 0, 0, 0, -1];
        double[] valueAtRisk = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        var result = Risk.Backtest(returns, valueAtRisk, 0.99);
        Assert.That(result.Exceptions, Is.EqualTo(3));
        Assert.That(result.Observations, Is.EqualTo(12));
        Assert.That(result.Independence.Statistic, Is.EqualTo(3.0435500128062536).Within(1e-10));
        Assert.That(result.Kupiec.Statistic, Is.EqualTo(14.315883690440176).Within(1e-10));
        // 12 days at 99 %: P(X ≤ 0) = 0.886, P(X ≤ 1) = 0.9938, P(X ≤ 2) = 0.99979, P(X ≤ 3) = 0.999995: yellow from 1, red from 3.
        Assert.That(result.Zone, Is.EqualTo(TrafficLightZone.Red));
    }

    // ---- GARCH(1,1)

    [Test]
    public void GarchLogLikelihoodByHand()
    {
        var p = new Garch11Parameters(Mu: 0.001, Omega: 1e-5, Alpha: 0.1, Beta: 0.8, Nu: 5);
        double[] r = [0.01, -0.02, 0.005];
        // σ²₀ = population variance of r; σ²ₜ₊₁ = ω + α(rₜ − μ)² + βσ²ₜ.
        double mean = (0.01 - 0.02 + 0.005) / 3;
        double s0 = ((0.01 - mean) * (0.01 - mean) + (-0.02 - mean) * (-0.02 - mean) + (0.005 - mean) * (0.005 - mean)) / 3;
        double s1 = 1e-5 + 0.1 * 0.009 * 0.009 + 0.8 * s0;
        double s2 = 1e-5 + 0.1 * 0.021 * 0.021 + 0.8 * s1;
        // Unit-variance t₅ density: Γ(3)/(Γ(5/2)√(3π))·(1 + z²/3)^(−3), Γ(3) = 2, Γ(5/2) = ¾√π; ε = σz adds −½ ln σ².
        double logC = Math.Log(2 / (0.75 * Math.Sqrt(Math.PI) * Math.Sqrt(3 * Math.PI)));
        double Term(double e, double s) => logC - 0.5 * Math.Log(s) - 3 * Math.Log(1 + e * e / (3 * s));
        double expected = Term(0.009, s0) + Term(-0.021, s1) + Term(0.004, s2);
        Assert.That(Garch11.LogLikelihood(p, r), Is.EqualTo(expected).Within(1e-12));
        double[] variances = Garch11.ConditionalVariances(p, r);
        Assert.That(variances[1], Is.EqualTo(s1).Within(1e-18));
        Assert.That(Garch11.ForecastVariance(p, r), Is.EqualTo(1e-5 + 0.1 * 0.004 * 0.004 + 0.8 * s2).Within(1e-18));
    }

    [Test]
    public void GarchFitRecoversSimulatedParameters()
    {
        // Realistic daily values: 1 % unconditional volatility (ω/(1 − α − β) = 2e-6/0.02 = 1e-4).
        var truth = new Garch11Parameters(Mu: 3e-4, Omega: 2e-6, Alpha: 0.08, Beta: 0.90, Nu: 6);
        double[] r = Garch11.Simulate(truth, 20_000, seed: 2024);
        var fit = Garch11.Fit(r);
        var p = fit.Parameters;
        // Tolerances are about 3 standard errors of the MLE at n = 20 000 (α: 0.006, β: 0.008, ν: 0.35).
        Assert.That(fit.Converged, Is.True);
        Assert.That(p.Mu, Is.EqualTo(3e-4).Within(2.5e-4));
        Assert.That(p.Alpha, Is.EqualTo(0.08).Within(0.02));
        Assert.That(p.Beta, Is.EqualTo(0.90).Within(0.025));
        Assert.That(p.Persistence, Is.EqualTo(0.98).Within(0.008));
        Assert.That(p.Nu, Is.EqualTo(6).Within(1.2));
        Assert.That(p.Omega, Is.InRange(1e-6, 4e-6));
        // The maximum is a maximum: at least the likelihood of the true parameters, and the reported value.
        Assert.That(fit.LogLikelihood, Is.GreaterThanOrEqualTo(Garch11.LogLikelihood(truth, r) - 1e-6));
        Assert.That(fit.LogLikelihood, Is.EqualTo(Garch11.LogLikelihood(p, r)).Within(1e-9).Percent);
        // The maximum the hand-written Nelder–Mead found on this series before MathNet's simplex replaced it.
        Assert.That(fit.LogLikelihood, Is.EqualTo(65844.7509747701).Within(1e-6));
    }

    [Test]
    public void GarchSimulationIsSeededAndHasTheModelVariance()
    {
        var p = new Garch11Parameters(0, 2e-6, 0.08, 0.90, 6);
        double[] a = Garch11.Simulate(p, 50_000, seed: 1);
        Assert.That(Garch11.Simulate(p, 50_000, seed: 1), Is.EqualTo(a));
        Assert.That(Garch11.Simulate(p, 1000, seed: 2), Is.Not.EqualTo(a[..1000]));
        var m = StylizedFacts.Describe(a);
        Assert.That(m.StandardDeviation * m.StandardDeviation, Is.EqualTo(1e-4).Within(15).Percent);
        Assert.That(m.ExcessKurtosis, Is.GreaterThan(1)); // t innovations and volatility clustering: fat tails
    }

    [Test]
    public void InnovationSamplersHaveTheirMoments()
    {
        var cursor = new PhiloxCursor(5, 99);
        const int n = 200_000;
        double sumG = 0, sumG2 = 0, sumZ = 0, sumZ2 = 0;
        for (int i = 0; i < n; i++)
        {
            double g = cursor.NextGamma(3);
            sumG += g;
            sumG2 += g * g;
            double z = cursor.NextStandardizedStudentT(10);
            sumZ += z;
            sumZ2 += z * z;
        }
        // Gamma(3, 1): mean 3, variance 3. Unit-variance t₁₀: mean 0, variance 1.
        Assert.That(sumG / n, Is.EqualTo(3).Within(0.02));
        Assert.That(sumG2 / n - (sumG / n) * (sumG / n), Is.EqualTo(3).Within(0.06));
        Assert.That(sumZ / n, Is.EqualTo(0).Within(0.01));
        Assert.That(sumZ2 / n, Is.EqualTo(1).Within(0.02));
    }

    [Test]
    public void GarchVarForecastUsesTheStandardizedTQuantile()
    {
        var p = new Garch11Parameters(Mu: 5e-4, Omega: 1e-5, Alpha: 0.1, Beta: 0.8, Nu: 6);
        double[] r = [0.01, -0.02, 0.005];
        double sigma = Math.Sqrt(Garch11.ForecastVariance(p, r));
        // t₆(0.01) = −3.142668 (table), scaled to unit variance by √(4/6).
        double expected = -(5e-4 + sigma * -3.142668 * Math.Sqrt(4.0 / 6));
        Assert.That(Garch11.ForecastValueAtRisk(p, r, 0.99), Is.EqualTo(expected).Within(1e-4).Percent);

        // Rolling forecasts: the first is the forecast from the history alone; the next adds the first test day.
        double[] test = [-0.03, 0.002];
        double[] path = Garch11.ValueAtRiskForecasts(p, r, test, 0.99);
        Assert.That(path[0], Is.EqualTo(Garch11.ForecastValueAtRisk(p, r, 0.99)).Within(1e-15));
        double nextVariance = 1e-5 + 0.1 * (-0.03 - 5e-4) * (-0.03 - 5e-4) + 0.8 * sigma * sigma;
        Assert.That(path[1], Is.EqualTo(-(5e-4 + Math.Sqrt(nextVariance) * -3.142668 * Math.Sqrt(4.0 / 6))).Within(1e-4).Percent);
    }

    [Test]
    public void NelderMeadFindsTheRosenbrockMinimum()
    {
        int calls = 0;
        double Rosenbrock(double[] x) { calls++; return 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]); }
        var result = Minimizer.NelderMead(Rosenbrock, [-1.2, 1.0], [0.5, 0.5], tolerance: 1e-15, maxEvaluations: 10_000);
        Assert.That(result.Converged, Is.True);
        Assert.That(result.Point[0], Is.EqualTo(1).Within(1e-6));
        Assert.That(result.Point[1], Is.EqualTo(1).Within(1e-6));
        Assert.That(result.Value, Is.EqualTo(Rosenbrock(result.Point)).Within(0));
        Assert.That(result.Evaluations, Is.EqualTo(calls - 1), "every call counted (the last one is the check above)");

        // Out of budget: not converged, and the best point seen so far, not a throw.
        var starved = Minimizer.NelderMead(Rosenbrock, [-1.2, 1.0], [0.5, 0.5], tolerance: 1e-15, maxEvaluations: 30);
        Assert.That(starved.Converged, Is.False);
        Assert.That(starved.Value, Is.LessThan(Rosenbrock([-1.2, 1.0])));
        // Infeasible points (NaN, ∞) are walls, not crashes.
        var walled = Minimizer.NelderMead(x => x[0] < 0.5 ? double.NaN : (x[0] - 2) * (x[0] - 2), [1.0], [0.3], tolerance: 1e-14, maxEvaluations: 2000);
        Assert.That(walled.Point[0], Is.EqualTo(2).Within(1e-5));
    }

    // ---- historical simulation

    static double[] DistinctTraining(int n)
    {
        var training = new double[n];
        for (int i = 0; i < n; i++) training[i] = 0.01 * Math.Sin(i) + 1e-7 * i; // distinct values, so indices are recoverable
        return training;
    }

    [Test]
    public void FixedBlockBootstrapKeepsBlocksIntact()
    {
        const int blockLength = 20, n = 1010;
        double[] training = DistinctTraining(500);
        double[] sample = HistoricalSimulation.Sample(training, n, seed: 42, blockLength, BlockBootstrap.FixedLength);
        var indexOf = new Dictionary<double, int>();
        for (int i = 0; i < training.Length; i++) indexOf.Add(training[i], i);
        for (int start = 0; start < n; start += blockLength)
        {
            int length = Math.Min(blockLength, n - start);
            int first = indexOf[sample[start]];
            Assert.That(first, Is.LessThanOrEqualTo(training.Length - blockLength));
            // The block is a contiguous training slice, so it holds exactly that slice's multiset of values.
            double[] block = sample[start..(start + length)];
            Assert.That(block, Is.EqualTo(training[first..(first + length)]), $"block at {start}");
            Assert.That(block.Order(), Is.EqualTo(training[first..(first + length)].Order()));
        }
        Assert.That(HistoricalSimulation.Sample(training, n, seed: 42, blockLength, BlockBootstrap.FixedLength), Is.EqualTo(sample));
        Assert.That(HistoricalSimulation.Sample(training, n, seed: 43, blockLength, BlockBootstrap.FixedLength), Is.Not.EqualTo(sample));
    }

    [Test]
    public void StationaryBootstrapReadsCircularRunsOfMeanLength()
    {
        const int trainingLength = 300, n = 20_000;
        int[] indices = HistoricalSimulation.SampleIndices(trainingLength, n, seed: 7);
        int restarts = 1;
        for (int i = 1; i < n; i++)
        {
            if (indices[i] != (indices[i - 1] + 1) % trainingLength) restarts++;
        }
        // A new block starts with probability 1/20 at each position: about 1000 blocks (sd ≈ 31); a restart that
        // happens to land on the successor is invisible, which removes only about 1000/300 of them.
        Assert.That(restarts, Is.InRange(880, 1100));
        Assert.That(indices, Has.All.InRange(0, trainingLength - 1));

        double[] training = DistinctTraining(trainingLength);
        double[] sample = HistoricalSimulation.Sample(training, n, seed: 7);
        Assert.That(sample, Is.EqualTo(Array.ConvertAll(indices, i => training[i])));
        Assert.That(HistoricalSimulation.Sample(training, n, seed: 7), Is.EqualTo(sample));
        Assert.That(HistoricalSimulation.Sample(training, n, seed: 8), Is.Not.EqualTo(sample));
    }

    // ---- collapse check

    [Test]
    public void IndependentWindowsLikeTheRealOnesDoNotCollapse()
    {
        const int window = 28;
        var real = Normals(5000, 1);
        var generated = Array.ConvertAll(Normals(2000 * window, 2), v => (float)v);
        var c = CollapseCheck.Compute(generated, real, window, seed: 3);
        Assert.That(c.DiversityRatio, Is.EqualTo(1).Within(0.03));
        Assert.That(c.TemplateShare, Is.LessThan(0.01));
        Assert.That(c.RealTemplateShare, Is.LessThan(0.01));
        Assert.That(c.WorstLag.Gap, Is.LessThan(0.03));
        Assert.That(c.NearestNeighbourRatio, Is.EqualTo(1).Within(0.05));
        Assert.That(c.Collapsed, Is.False);
    }

    [Test]
    public void AFewRepeatedTemplatesCollapse()
    {
        const int window = 28, count = 2000;
        var real = Normals(5000, 1);
        var templates = Normals(3 * window, 4);
        var noise = Normals(count * window, 5, sd: 0.05);
        var generated = new float[count * window];
        for (int w = 0; w < count; w++)
            for (int t = 0; t < window; t++) generated[w * window + t] = (float)(templates[(w % 3) * window + t] + noise[w * window + t]);
        var c = CollapseCheck.Compute(generated, real, window, seed: 3);
        // Three templates: two random windows are the same template a third of the time (distance ≈ noise only),
        // otherwise as far apart as two real windows: ≈ 2/3 of the real diversity; the mean of three is a third of their energy.
        Assert.That(c.DiversityRatio, Is.EqualTo(2.0 / 3).Within(0.05));
        Assert.That(c.TemplateShare, Is.EqualTo(1.0 / 3).Within(0.12));
        Assert.That(c.NearestNeighbourRatio, Is.LessThan(0.1), "near-duplicates");
        Assert.That(c.Collapsed, Is.True);
    }

    [Test]
    public void APeriodFourPatternShowsAtLagTwo()
    {
        const int window = 28, count = 2000;
        var real = Normals(5000, 1);
        var noise = Normals(count * window, 6);
        var generated = new float[count * window];
        // +a, +a, −a, −a repeating with a random sign per window: a period-4 template that averages out across windows.
        for (int w = 0; w < count; w++)
        {
            double sign = noise[w * window] > 0 ? 1 : -1;
            for (int t = 0; t < window; t++) generated[w * window + t] = (float)(noise[w * window + t] + sign * ((t / 2) % 2 == 0 ? 1.0 : -1.0));
        }
        var c = CollapseCheck.Compute(generated, real, window, seed: 3);
        // Variance 2 (noise 1 + pattern 1); the pattern's autocorrelation is 0 at lag 1 (half the pairs agree), −1 at lag 2, +1 at lag 4: ÷ 2.
        Assert.That(c.Acf[1], Is.EqualTo(-0.5).Within(0.05));
        Assert.That(c.Acf[3], Is.EqualTo(0.5).Within(0.05));
        Assert.That(c.WorstLag.Gap, Is.GreaterThan(0.4));
        Assert.That(c.TemplateShare, Is.LessThan(0.01), "the sign flips, so no fixed template");
        Assert.That(c.Collapsed, Is.True);
    }

    [Test]
    public void TemplatesWithTheRealCovarianceStillShowAsNearDuplicates()
    {
        // 200 random templates, each repeated with a little noise: the windows' mean and covariance are close to the
        // real ones (what calibration enforces), so diversity, template share and autocorrelations look real; the
        // nearest neighbours do not.
        const int window = 28, count = 2000, templates = 200;
        var real = Normals(5000, 1);
        var shapes = Normals(templates * window, 7);
        var noise = Normals(count * window, 8, sd: 0.05);
        var generated = new float[count * window];
        for (int w = 0; w < count; w++)
            for (int t = 0; t < window; t++) generated[w * window + t] = (float)(shapes[(w % templates) * window + t] + noise[w * window + t]);
        var c = CollapseCheck.Compute(generated, real, window, seed: 3);
        Assert.That(c.DiversityRatio, Is.GreaterThan(0.9));
        Assert.That(c.TemplateShare, Is.LessThan(0.02));
        Assert.That(c.WorstLag.Gap, Is.LessThan(0.1));
        Assert.That(c.NearestNeighbourRatio, Is.LessThan(0.1));
        Assert.That(c.Collapsed, Is.True);
    }
}
