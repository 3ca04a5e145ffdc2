using FinGen.Native.Data;
using FinGen.Native.Evaluation;

namespace FinGen.Native.Tests;

/// <summary>
/// The component GJR-GARCH(1,1)-t filter: it recovers the parameters of a long series it simulated, its likelihood is
/// the hand-computed one, it is GJR-GARCH when its long-run component is constant, it refuses invalid parameters, and
/// as <c>--filter component-gjr-garch</c> it round-trips through the data pipeline and checkpoint metadata.
/// </summary>
[TestFixture]
public sealed class ComponentGjrGarchTests
{
    // A long-run level of 1e-4 (1 % daily volatility) reverting at ρ = 0.99, short-run persistence 0.03 + 0.05 + 0.8 = 0.88.
    static readonly ComponentGjrGarchParameters Known = new(Mu: 3e-4, Omega: 1e-6, Rho: 0.99, Phi: 0.03, Alpha: 0.03, Gamma: 0.10, Beta: 0.80, Nu: 7);

    [Test]
    public void RecoversTheParametersOfALongSimulatedSeries()
    {
        var returns = ComponentGjrGarch.Simulate(Known, 20_000, seed: 12);
        var fit = ComponentGjrGarch.Fit(returns);
        var p = fit.Parameters;
        TestContext.Out.WriteLine($"{p} LL {fit.LogLikelihood} evaluations {fit.Evaluations}");
        Assert.Multiple(() =>
        {
            Assert.That(fit.Converged, Is.True);
            Assert.That(p.Mu, Is.EqualTo(Known.Mu).Within(1.5e-4));
            Assert.That(p.Rho, Is.EqualTo(Known.Rho).Within(0.01));
            Assert.That(p.Phi, Is.EqualTo(Known.Phi).Within(0.015));
            Assert.That(p.Alpha, Is.EqualTo(Known.Alpha).Within(0.02));
            Assert.That(p.Gamma, Is.EqualTo(Known.Gamma).Within(0.04));
            Assert.That(p.Beta, Is.EqualTo(Known.Beta).Within(0.08));
            Assert.That(p.Nu, Is.EqualTo(Known.Nu).Within(1.5));
            Assert.That(p.UnconditionalVariance, Is.EqualTo(Known.UnconditionalVariance).Within(0.3 * Known.UnconditionalVariance));
            // The maximum is at least as high as the likelihood at the truth.
            Assert.That(fit.LogLikelihood, Is.GreaterThanOrEqualTo(ComponentGjrGarch.LogLikelihood(Known, returns) - 1e-6));
        });
    }

    [Test]
    public void TheLikelihoodOfATinySeriesIsTheHandComputedOne()
    {
        double[] r = [0.01, -0.02, 0.005, -0.001];
        var p = new ComponentGjrGarchParameters(Mu: 0.001, Omega: 2e-6, Rho: 0.98, Phi: 0.04, Alpha: 0.05, Gamma: 0.1, Beta: 0.8, Nu: 5);
        // σ²₀ = q₀ = the population variance 1.2925e-4. Day 0: ε = 0.009, ε² = 8.1e-5, so
        // q₁ = 2e-6 + 0.98·1.2925e-4 + 0.04·(8.1e-5 − 1.2925e-4) = 1.26735e-4 and
        // σ²₁ = q₁ + 0.05·(8.1e-5 − 1.2925e-4) + 0.1·(0 − ½·1.2925e-4) + 0.8·0 = 1.1786e-4 (a gain: no leverage term).
        // Day 1: ε = −0.021, a loss: q₂ = 1.3912590e-4, σ²₂ = 1.8550240e-4; day 2: q₃ = 1.31563286e-4, σ²₃ = 1.55551896e-4.
        var states = VolatilityRecursion.States(p, r);
        double[] variances = [1.2925e-4, 1.1786e-4, 1.8550240e-4, 1.55551896e-4];
        double[] longRun = [1.2925e-4, 1.26735e-4, 1.3912590e-4, 1.31563286e-4];
        for (int t = 0; t < 4; t++)
        {
            Assert.That(states[t].Variance, Is.EqualTo(variances[t]).Within(1e-15), $"σ² of day {t}");
            Assert.That(states[t].LongRunVariance, Is.EqualTo(longRun[t]).Within(1e-15), $"q of day {t}");
        }
        // Σ ln Γ(3) − ln Γ(2.5) − ½ ln 3π − ½ ln σ²ₜ − 3·ln(1 + ε²ₜ/(3σ²ₜ)) over the four days (computed apart in double precision).
        Assert.That(ComponentGjrGarch.LogLikelihood(p, r), Is.EqualTo(11.718668437205755).Within(1e-12));
    }

    [Test]
    public void WithAConstantLongRunComponentItIsGjrGarch()
    {
        // φ = 0 and q₀ = ω/(1 − ρ): qₜ = ω + ρq₀ = q₀ on every day, and σ²ₜ = q₀(1 − α − γ/2 − β) + (α + γ·1[ε < 0])ε² + βσ²ₜ₋₁.
        var component = Known with { Phi = 0 };
        double q = component.UnconditionalVariance;
        var gjr = new GjrGarchParameters(Known.Mu, q * (1 - Known.ShortRunPersistence), Known.Alpha, Known.Gamma, Known.Beta, Known.Nu);
        var returns = GjrGarch.Simulate(gjr, 2000, seed: 5);
        double start = 3e-4;
        var states = VolatilityRecursion.States(component, returns, new VolatilityState(start, q));
        var variances = GjrGarch.ConditionalVariances(gjr, returns, start);
        for (int t = 0; t < states.Length; t++)
        {
            Assert.That(states[t].LongRunVariance, Is.EqualTo(q).Within(1e-15 * q), $"q of day {t}");
            Assert.That(states[t].Variance, Is.EqualTo(variances[t]).Within(1e-12 * variances[t]), $"σ² of day {t}");
        }
    }

    [Test]
    public void AVarianceFarAboveTheLongRunLevelKeepsBothComponentsPositive()
    {
        // After a crash σ² is 40 times q; a flat day would take q to ω + ρq − φ(σ² − ε²) < 0 without the floor.
        var next = Known.Next(new VolatilityState(4e-3, 1e-4), Known.Mu);
        Assert.That(next.LongRunVariance, Is.EqualTo(Known.Omega));
        Assert.That(next.Variance, Is.GreaterThanOrEqualTo(Known.Omega));
    }

    [TestCase(1.0, 0.03, 0.80, 0.10, 7.0, "ρ = 1 must be below 1")]
    [TestCase(0.85, 0.03, 0.80, 0.10, 7.0, "must be below ρ = 0.85")]
    [TestCase(0.99, 0.85, 0.80, 0.10, 7.0, "φ = 0.85 must lie in [0, β = 0.8)")]
    [TestCase(0.99, -0.01, 0.80, 0.10, 7.0, "φ = -0.01 must lie in [0, β = 0.8)")]
    [TestCase(0.99, 0.03, 0.80, -0.10, 7.0, "must not be negative")]
    [TestCase(0.99, 0.03, 0.80, 0.10, 2.0, "ν = 2 must be finite and exceed 2")]
    public void InvalidParametersAreRefusedByName(double rho, double phi, double beta, double gamma, double nu, string expected)
    {
        var p = Known with { Rho = rho, Phi = phi, Beta = beta, Gamma = gamma, Nu = nu };
        Assert.That(() => p.Validate(), Throws.TypeOf<FinGenException>().With.Message.Contains(expected));
        Assert.That(() => ComponentGjrGarch.LogLikelihood(p, [0.01, -0.01, 0.02]), Throws.TypeOf<FinGenException>());
        Assert.That(() => (Known with { Omega = 0 }).Validate(), Throws.TypeOf<FinGenException>().With.Message.Contains("ω = 0 must be positive"));
    }

    [Test]
    public void TheFilterRoundTripsThroughMetadataAndOldGjrMetadataStillLoads()
    {
        var filter = new VolatilityFilter(Known, new VolatilityState(1.5e-4, 1.1e-4));
        var metadata = new Dictionary<string, string>
        {
            [VolatilityFilter.KindKey] = VolatilityFilter.ComponentGjrGarchName,
            [VolatilityFilter.ParametersKey] = VolatilityFilter.ToMetadata([filter]),
        };
        var back = VolatilityFilter.FromMetadata(metadata)!;
        Assert.That(back.Kind, Is.EqualTo(VolatilityFilterKind.ComponentGjrGarch));
        Assert.That(back.Recursion, Is.EqualTo(Known));
        Assert.That(back.Start, Is.EqualTo(filter.Start));

        // A checkpoint written before the component filter: the kind "gjr-garch" and 7 numbers.
        var old = new Dictionary<string, string>
        {
            [VolatilityFilter.KindKey] = "gjr-garch",
            [VolatilityFilter.ParametersKey] = "0.0004 2E-06 0.02 0.12 0.88 7 0.00015",
        };
        var gjr = VolatilityFilter.FromMetadata(old)!;
        Assert.That(gjr.Kind, Is.EqualTo(VolatilityFilterKind.GjrGarch));
        Assert.That(gjr.Recursion, Is.EqualTo(new GjrGarchParameters(4e-4, 2e-6, 0.02, 0.12, 0.88, 7)));
        Assert.That(gjr.Start, Is.EqualTo(new VolatilityState(1.5e-4, 0)));

        // The component kind with the GJR's 7 numbers is refused, naming what it needs.
        old[VolatilityFilter.KindKey] = VolatilityFilter.ComponentGjrGarchName;
        Assert.That(() => VolatilityFilter.FromMetadata(old), Throws.TypeOf<FinGenException>().With.Message.Contains("needs 10 numbers"));
        Assert.That(() => VolatilityFilter.ParseKind("component"), Throws.TypeOf<FinGenException>().With.Message.Contains("--filter 'component' is not one of"));
    }

    [Test]
    public void TheComponentFilteredPipelineDecodesItsTrainingWindowsBackToReturns()
    {
        var options = DataOptions.Recommended with { Filter = VolatilityFilterKind.ComponentGjrGarch, PathCalibration = PathCalibration.None };
        var panel = EmbeddedData.Sp500(options);
        var data = DataSets.FromPanel(panel, options);
        var encoding = DataSets.EncodingOf(data.Metadata)!;
        var filter = VolatilityFilter.FromMetadata(data.Metadata)!;
        Assert.That(filter.Kind, Is.EqualTo(VolatilityFilterKind.ComponentGjrGarch));
        var p = (ComponentGjrGarchParameters)filter.Recursion;
        TestContext.Out.WriteLine($"S&P 500 training part: {p}");
        var (train, _) = DataSets.SplitReturns(panel.Series(0));
        var states = VolatilityRecursion.States(p, train);
        // The pipeline filters the float returns it windows, so the two agree to float precision.
        Assert.That(filter.Start.Variance, Is.EqualTo(states[^1].Variance).Within(1e-4 * states[^1].Variance));
        Assert.That(filter.Start.LongRunVariance, Is.EqualTo(states[^1].LongRunVariance).Within(1e-4 * states[^1].LongRunVariance));
        var window = new float[encoding.WindowLength];
        foreach (int k in new[] { 0, 2000, data.Count - 1 })
        {
            encoding.Decode(data.Row(k), window);
            filter.Recolour(states[k], window, window);
            for (int i = 0; i < window.Length; i++)
                Assert.That(window[i], Is.EqualTo(train[k + i]).Within(2e-5 + 1e-3 * Math.Abs(train[k + i])), $"window {k}, day {i}");
        }
    }
}
