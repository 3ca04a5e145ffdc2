using FinGen.Native.Data;
using FinGen.Native.Evaluation;
using MathNet.Numerics.Distributions;

namespace FinGen.Native.Tests;

/// <summary>
/// The generalized Pareto tail (<c>--tails gpd</c>): its distribution functions against MathNet's Pareto and exponential
/// and against each other, its maximum-likelihood fit recovering known parameters, and the calibration's quantile map
/// extending the training residuals' tails beyond their extremes while leaving the body as it was.
/// </summary>
[TestFixture]
public sealed class GeneralizedParetoTests
{
    static double[] Sample(GeneralizedPareto g, int n, int seed)
    {
        var rng = new Random(seed);
        var y = new double[n];
        for (int i = 0; i < n; i++) y[i] = g.InverseSurvival(1 - rng.NextDouble());
        return y;
    }

    [Test]
    public void TheDistributionFunctionsAgreeWithMathNetAndWithEachOther()
    {
        // 1 + ξY/σ is Pareto with scale 1 and shape 1/ξ; at ξ = 0, Y is exponential with mean σ.
        var heavy = new GeneralizedPareto(0.3, 0.8);
        var pareto = new Pareto(1, 1 / 0.3);
        var exponential = new Exponential(1 / 0.8);
        var light = new GeneralizedPareto(-0.25, 0.5); // bounded: support [0, σ/|ξ|] = [0, 2]
        foreach (double p in new[] { 0.9, 0.5, 0.1, 1e-3, 1e-6 })
        {
            Assert.That(heavy.InverseSurvival(p), Is.EqualTo((pareto.InverseCumulativeDistribution(1 - p) - 1) * 0.8 / 0.3).Within(1e-9).Percent, $"ξ > 0 at {p}");
            Assert.That(new GeneralizedPareto(0, 0.8).InverseSurvival(p), Is.EqualTo(exponential.InverseCumulativeDistribution(1 - p)).Within(1e-9).Percent, $"ξ = 0 at {p}");
            foreach (var g in new[] { heavy, light, new GeneralizedPareto(0, 0.8) })
                Assert.That(g.Survival(g.InverseSurvival(p)), Is.EqualTo(p).Within(1e-9).Percent, $"{g} at {p}");
        }
        Assert.That(light.Survival(2.0), Is.EqualTo(0));
        Assert.That(light.LogDensity(2.5), Is.EqualTo(double.NegativeInfinity));
        Assert.That(heavy.LogDensity(-0.1), Is.EqualTo(double.NegativeInfinity));
        // The density is −dS/dy (central differences in double).
        foreach (var g in new[] { heavy, light, new GeneralizedPareto(0, 0.8) })
            foreach (double y in new[] { 0.05, 0.4, 1.3 })
            {
                const double h = 1e-6;
                double numeric = -(g.Survival(y + h) - g.Survival(y - h)) / (2 * h);
                Assert.That(Math.Exp(g.LogDensity(y)), Is.EqualTo(numeric).Within(1e-6).Percent, $"{g} at {y}");
            }
        Assert.Throws<ArgumentException>(() => heavy.InverseSurvival(0));
    }

    [TestCase(0.25, 0.7)]
    [TestCase(0.0, 1.3)]
    [TestCase(-0.2, 0.4)]
    public void TheFitRecoversKnownParameters(double shape, double scale)
    {
        var truth = new GeneralizedPareto(shape, scale);
        var y = Sample(truth, 20_000, seed: 11);
        var fit = GeneralizedPareto.Fit(y);
        // Standard errors at n = 20,000: ξ about (1 + ξ)/√n ≈ 0.009, σ about 1.4 %.
        Assert.That(fit.Shape, Is.EqualTo(shape).Within(0.035), $"fitted {fit}");
        Assert.That(fit.Scale, Is.EqualTo(scale).Within(5).Percent, $"fitted {fit}");
        // The fit is a maximum of the likelihood: moving either parameter lowers it.
        double LogLikelihood(GeneralizedPareto g) => y.Sum(g.LogDensity);
        double best = LogLikelihood(fit);
        foreach (var moved in new[] { fit with { Shape = fit.Shape + 0.01 }, fit with { Shape = fit.Shape - 0.01 }, fit with { Scale = fit.Scale * 1.01 }, fit with { Scale = fit.Scale * 0.99 } })
            Assert.That(LogLikelihood(moved), Is.LessThan(best), $"{moved} against {fit}");
    }

    [Test]
    public void TooFewOrBadExcessesAreClearErrors()
    {
        Assert.That(() => GeneralizedPareto.Fit(new double[5]), Throws.TypeOf<FinGenException>().With.Message.Contains("at least 10"));
        Assert.That(() => GeneralizedPareto.Fit(Enumerable.Repeat(1.0, 20).ToArray()), Throws.TypeOf<FinGenException>().With.Message.Contains("not all equal"));
        var bad = Enumerable.Range(0, 20).Select(i => (double)i).ToArray();
        bad[3] = -1;
        Assert.That(() => GeneralizedPareto.Fit(bad), Throws.TypeOf<FinGenException>().With.Message.Contains("≥ 0"));
    }

    [Test]
    public void ParetoTailsReachBeyondTheTrainingExtremesAndLeaveTheBodyAlone()
    {
        const int n = 2;
        var encoding = new RawWindowEncoding(n, -50, 50);
        // "Training residuals": Student-t with 4 degrees of freedom, 3,000 days; "generated": many thin-tailed normals.
        var t = new StudentT(0, 1, 4, new Random(3));
        var training = Enumerable.Range(0, 3_000 * n).Select(_ => (float)t.Sample()).ToArray();
        var normal = new Normal(0, 1, new Random(4));
        var generated = Enumerable.Range(0, 200_000 * n).Select(_ => (float)normal.Sample()).ToArray();
        var empirical = CalibratedEncoding.Fit(encoding, generated, training);
        var pareto = CalibratedEncoding.Fit(encoding, generated, training, TailModel.GeneralizedPareto);
        var knots = CalibratedEncoding.KnotProbabilities;
        for (int k = 0; k < knots.Count; k++)
        {
            if (k > 0) Assert.That(pareto.To![k], Is.GreaterThanOrEqualTo(pareto.To[k - 1]), $"knot {k} is not increasing");
            if (knots[k] > CalibratedEncoding.TailFraction && knots[k] < 1 - CalibratedEncoding.TailFraction)
                Assert.That(pareto.To![k], Is.EqualTo(empirical.To![k]), $"body knot {k} (probability {knots[k]})");
        }
        Assert.That(pareto.From, Is.EqualTo(empirical.From), "the generated side does not change");
        // The empirical map ends at the training extremes; the Pareto one goes beyond them.
        double min = training.Min(), max = training.Max();
        Assert.That(empirical.To![0], Is.EqualTo(min).Within(1e-6));
        Assert.That(pareto.To![0], Is.LessThan(min));
        Assert.That(pareto.To[^1], Is.GreaterThan(max));
        // Its deep quantiles follow the t's, where 3,000 training days hold a handful of values.
        var image = new float[n];
        var window = new float[n];
        var decoded = new List<double>();
        for (int k = 0; k < generated.Length / n; k++)
        {
            encoding.Encode(generated.AsSpan(k * n, n), image);
            pareto.Decode(image, window);
            decoded.Add(window[0]);
            decoded.Add(window[1]);
        }
        decoded.Sort();
        var exact = new StudentT(0, 1, 4);
        foreach (double p in new[] { 1e-4, 1 - 1e-4 })
        {
            double q = decoded[(int)(p * (decoded.Count - 1))];
            Assert.That(q, Is.EqualTo(exact.InverseCumulativeDistribution(p)).Within(25).Percent, $"quantile {p}");
        }
        // The metadata keeps the tails.
        var rebuilt = (CalibratedEncoding)CalibratedEncoding.Wrap(encoding, pareto.ToMetadata());
        Assert.That(rebuilt.To, Is.EqualTo(pareto.To));
    }

    [Test]
    public void TheTailsOptionIsStoredAndNeedsAFilter()
    {
        var options = DataOptions.Recommended with { Tails = TailModel.GeneralizedPareto };
        var metadata = options.ToMetadata(["Close"]);
        Assert.That(metadata[DataOptions.TailsKey], Is.EqualTo("gpd"));
        Assert.That(DataOptions.FromMetadata(metadata).Tails, Is.EqualTo(TailModel.GeneralizedPareto));
        Assert.That(DataOptions.Recommended.ToMetadata(["Close"]).ContainsKey(DataOptions.TailsKey), Is.False, "the default writes no key");
        Assert.That(() => (DataOptions.Default with { Tails = TailModel.GeneralizedPareto }).Validate(),
            Throws.TypeOf<FinGenException>().With.Message.Contains("--tails gpd needs a volatility filter"));
        Assert.That(() => DataOptions.ParseTails("evt"), Throws.TypeOf<FinGenException>().With.Message.Contains("--tails 'evt'"));
    }
}
