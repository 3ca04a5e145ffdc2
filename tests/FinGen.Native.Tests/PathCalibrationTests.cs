using FinGen.Native.Data;
using FinGen.Native.Evaluation;

namespace FinGen.Native.Tests;

/// <summary>
/// <c>--path-calibration variance-persistence</c>: the recursion that re-colours long paths keeps the fitted persistence
/// and the training variance under the residuals' own second moments, where the fitted recursion (which assumes
/// symmetric residuals) drifts; it is stored in the checkpoint, used for paths and never for conditional forecasts.
/// </summary>
[TestFixture]
public sealed class PathCalibrationTests
{
    // γ large and the residuals skewed below, as on the S&P 500: their κ = E z²·1[z < 0] is above ½.
    static readonly GjrGarchParameters Fitted = new(Mu: 4e-4, Omega: 2e-6, Alpha: 0.01, Gamma: 0.17, Beta: 0.89, Nu: 8);

    /// <summary>Unit-variance-ish residuals skewed to the left: a normal with its negative side stretched.</summary>
    static float[] SkewedResiduals(int n, int seed)
    {
        var rng = new Random(seed);
        var z = new float[n];
        for (int i = 0; i < n; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            z[i] = (float)(g < 0 ? 1.15 * g : 0.85 * g);
        }
        return z;
    }

    static (double M2, double Kappa) Moments(float[] z) =>
        (z.Average(v => (double)v * v), z.Sum(v => v < 0 ? (double)v * v : 0) / z.Length);

    [Test]
    public void TheCalibratedRecursionHasTheFittedPersistenceAndTheTrainingVarianceUnderTheResiduals()
    {
        var z = SkewedResiduals(50_000, 1);
        var (m2, kappa) = Moments(z);
        Assert.That(kappa / m2, Is.GreaterThan(0.55), "skewed: more of the variance below zero");
        double s2 = 1.5e-4;
        var p = VolatilityFilter.CalibratePaths(Fitted, z, s2, PathCalibration.VariancePersistence)!.Value;
        // Under these residuals the uncalibrated recursion is far more persistent than it says.
        Assert.That(Fitted.Alpha * m2 + Fitted.Gamma * kappa + Fitted.Beta, Is.GreaterThan(Fitted.Persistence + 0.01));
        Assert.That(p.Alpha * m2 + p.Gamma * kappa + p.Beta, Is.EqualTo(Fitted.Persistence).Within(1e-12));
        Assert.That(m2 * p.Omega / (1 - Fitted.Persistence), Is.EqualTo(s2).Within(1e-12 * s2));
        Assert.That(p.Beta, Is.EqualTo(Fitted.Beta));
        Assert.That(p.Gamma / p.Alpha, Is.EqualTo(Fitted.Gamma / Fitted.Alpha).Within(1e-9), "ARCH and leverage scaled alike");
        Assert.That(p with { Omega = 0, Alpha = 0, Gamma = 0 }, Is.EqualTo(Fitted with { Omega = 0, Alpha = 0, Gamma = 0 }), "μ, β and ν kept");
        Assert.That(VolatilityFilter.CalibratePaths(Fitted, z, s2, PathCalibration.None), Is.Null);
        Assert.That(VolatilityFilter.CalibratePaths(Fitted with { Alpha = 0, Gamma = 0 }, z, s2, PathCalibration.VariancePersistence), Is.Null,
            "nothing to scale without ARCH and leverage terms");
    }

    [Test]
    public void ALongPathReColouredByItHasTheTrainingVarianceWhereTheFittedOneDrifts()
    {
        // Residuals bootstrapped from a skewed sample, as the calibrated generator reproduces the training residuals' marginal.
        var sample = SkewedResiduals(5_000, 2);
        double s2 = Fitted.UnconditionalVariance;
        var calibrated = VolatilityFilter.CalibratePaths(Fitted, sample, s2, PathCalibration.VariancePersistence)!.Value;
        var rng = new Random(3);
        var z = new float[400_000];
        for (int i = 0; i < z.Length; i++) z[i] = sample[rng.Next(sample.Length)];
        double MeanSquare(GjrGarchParameters p)
        {
            var r = new float[z.Length];
            VolatilityRecursion.Recolour(p, p.Start(s2), z, r);
            return r.Skip(1000).Average(v => ((double)v - p.Mu) * ((double)v - p.Mu));
        }
        double withCalibration = MeanSquare(calibrated), without = MeanSquare(Fitted);
        TestContext.Out.WriteLine($"mean square / s²: calibrated {withCalibration / s2:F3}, fitted {without / s2:F3}");
        Assert.That(withCalibration / s2, Is.InRange(0.9, 1.1));
        Assert.That(without / s2, Is.GreaterThan(1.3));
    }

    [Test]
    public void TheDefaultPipelineStoresItAndPathsUseItButNotForecasts()
    {
        var options = DataOptions.Recommended;
        Assert.That(options.PathCalibration, Is.EqualTo(PathCalibration.VariancePersistence));
        var panel = EmbeddedData.Sp500(options);
        var data = DataSets.FromPanel(panel, options);
        Assert.That(data.Metadata[DataOptions.PathCalibrationKey], Is.EqualTo(VolatilityFilter.VariancePersistenceName));
        var filter = VolatilityFilter.FromMetadata(data.Metadata)!;
        var fitted = (GjrGarchParameters)filter.Recursion;
        var path = (GjrGarchParameters)filter.PathRecursion!;
        // Recomputed from the training returns as the pipeline filtered them.
        var (train, _) = DataSets.SplitReturns(panel.Series(0));
        var floats = Array.ConvertAll(train, r => (float)r);
        var (_, residuals) = VolatilityFilter.Fit(VolatilityFilterKind.GjrGarch, floats, "again");
        var expected = VolatilityFilter.CalibratePaths(fitted, residuals, Checks.PopulationVariance(Array.ConvertAll(floats, v => (double)v), out _), PathCalibration.VariancePersistence)!.Value;
        Assert.That(path.Omega, Is.EqualTo(expected.Omega).Within(1e-6 * expected.Omega));
        Assert.That(path.Gamma, Is.EqualTo(expected.Gamma).Within(1e-6 * expected.Gamma));
        TestContext.Out.WriteLine($"S&P 500: fitted {fitted}, paths {path}");
        Assert.That(filter.ForPaths().Recursion, Is.EqualTo(path));
        Assert.That(filter.ForPaths().Start, Is.EqualTo(filter.Start), "a path's first day keeps the last state");
        Assert.That(filter.ForPaths().PathRecursion, Is.Null);
        Assert.That(filter.Recursion, Is.EqualTo(fitted), "conditional forecasts keep the fitted recursion");

        var plain = DataSets.FromPanel(panel, options with { PathCalibration = PathCalibration.None });
        Assert.That(plain.Metadata.ContainsKey(VolatilityFilter.PathParametersKey), Is.False);
        Assert.That(VolatilityFilter.FromMetadata(plain.Metadata)!.ForPaths().Recursion, Is.EqualTo(fitted));
    }

    [Test]
    public void BadMetadataAndOptionsAreRefusedByName()
    {
        var metadata = new Dictionary<string, string>
        {
            [VolatilityFilter.KindKey] = VolatilityFilter.GjrGarchName,
            [VolatilityFilter.ParametersKey] = "0.0004 2E-06 0.02 0.12 0.88 7 0.00015",
            [VolatilityFilter.PathParametersKey] = "0.0004 1E-06 0.01 0.1 0.88 7",
        };
        Assert.That(VolatilityFilter.FromMetadata(metadata)!.PathRecursion, Is.EqualTo(new GjrGarchParameters(4e-4, 1e-6, 0.01, 0.1, 0.88, 7)));
        metadata[VolatilityFilter.PathParametersKey] = "0.0004 1E-06 0.01 0.1 0.88";
        Assert.That(() => VolatilityFilter.FromMetadata(metadata), Throws.TypeOf<FinGenException>().With.Message.Contains("needs 6 numbers per column"));
        metadata[VolatilityFilter.PathParametersKey] = "0.0004 1E-06 0.01 0.1 0.98 7";
        Assert.That(() => VolatilityFilter.FromMetadata(metadata), Throws.TypeOf<FinGenException>(), "a non-stationary path recursion");
        metadata[VolatilityFilter.KindKey] = VolatilityFilter.ComponentGjrGarchName;
        metadata[VolatilityFilter.ParametersKey] = "0.0003 1E-06 0.99 0.03 0.03 0.1 0.8 7 0.00015 0.0001";
        Assert.That(() => VolatilityFilter.FromMetadata(metadata), Throws.TypeOf<FinGenException>().With.Message.Contains("needs filter 'gjr-garch'"));

        Assert.That(() => (DataOptions.Recommended with { Filter = VolatilityFilterKind.ComponentGjrGarch }).Validate(),
            Throws.TypeOf<FinGenException>().With.Message.EqualTo("--path-calibration variance-persistence needs --filter gjr-garch"));
        Assert.That(() => VolatilityFilter.ParseCalibration("variance"), Throws.TypeOf<FinGenException>().With.Message.EqualTo("--path-calibration 'variance' is not one of none, variance-persistence"));
        var options = DataOptions.Recommended;
        Assert.That(DataOptions.FromMetadata(options.ToMetadata(["Close"])).PathCalibration, Is.EqualTo(PathCalibration.VariancePersistence));
        Assert.That(DataOptions.FromMetadata(new Dictionary<string, string> { [VolatilityFilter.KindKey] = "gjr-garch" }).PathCalibration, Is.EqualTo(PathCalibration.None),
            "a checkpoint from before the option re-colours as it always did");
        Assert.That(options.ToString(), Does.Contain("path calibration variance-persistence"));
    }
}
