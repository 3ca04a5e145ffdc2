using FinGen.Native.Data;
using FinGen.Native.Evaluation;
using FinGen.Native.Backends;
using FinGen.Native.Randomness;

namespace FinGen.Native.Tests;

/// <summary>
/// The volatility-filtered scenario pipeline: GJR-GARCH(1,1)-t recovers the parameters of series it simulated,
/// filtered historical simulation re-colours its own residuals, the filtered data pipeline round-trips the training
/// returns, the encodings clip no training return, the calibration pins the first two moments, and the conditional
/// forecasts rank a correct forecaster above a wrong one.
/// </summary>
[TestFixture]
public sealed class FilteredScenarioTests
{
    static readonly GjrGarchParameters Known = new(Mu: 4e-4, Omega: 2e-6, Alpha: 0.02, Gamma: 0.12, Beta: 0.88, Nu: 7);

    [Test]
    public void GjrGarchRecoversTheParametersOfASimulatedSeries()
    {
        var returns = GjrGarch.Simulate(Known, 8000, seed: 11);
        var fit = GjrGarch.Fit(returns);
        var p = fit.Parameters;
        Assert.Multiple(() =>
        {
            Assert.That(fit.Converged, Is.True);
            Assert.That(p.Mu, Is.EqualTo(Known.Mu).Within(2.5e-4));
            Assert.That(p.Alpha, Is.EqualTo(Known.Alpha).Within(0.025));
            Assert.That(p.Gamma, Is.EqualTo(Known.Gamma).Within(0.05));
            Assert.That(p.Beta, Is.EqualTo(Known.Beta).Within(0.03));
            Assert.That(p.Nu, Is.EqualTo(Known.Nu).Within(2.0));
            Assert.That(p.UnconditionalVariance, Is.EqualTo(Known.UnconditionalVariance).Within(0.25 * Known.UnconditionalVariance));
            // The maximum is at least as high as the likelihood at the truth.
            Assert.That(fit.LogLikelihood, Is.GreaterThanOrEqualTo(GjrGarch.LogLikelihood(Known, returns) - 1e-6));
        });
    }

    [Test]
    public void WithoutAsymmetryTheLikelihoodIsGarch11s()
    {
        var garch = new Garch11Parameters(3e-4, 3e-6, 0.08, 0.9, 6);
        var returns = Garch11.Simulate(garch, 600, seed: 5);
        Assert.That(GjrGarch.LogLikelihood(GjrGarchParameters.FromGarch(garch), returns),
            Is.EqualTo(Garch11.LogLikelihood(garch, returns)).Within(1e-9 * 600));
        var symmetric = GjrGarch.Fit(returns, symmetric: true).Parameters;
        Assert.That(symmetric.Gamma, Is.EqualTo(0));
    }

    [Test]
    public void TheAsymmetryRaisesTheVarianceAfterALossOnly()
    {
        Assert.That(Known.NextVariance(1e-4, Known.Mu - 0.01), Is.EqualTo(Known.Omega + (0.02 + 0.12) * 1e-4 + 0.88 * 1e-4).Within(1e-15));
        Assert.That(Known.NextVariance(1e-4, Known.Mu + 0.01), Is.EqualTo(Known.Omega + 0.02 * 1e-4 + 0.88 * 1e-4).Within(1e-15));
        Assert.That(() => (Known with { Beta = 0.95 }).Validate(), Throws.TypeOf<FinGenException>().With.Message.Contains("stationarity"));
    }

    [Test]
    public void RecolouringTheResidualsGivesBackTheReturns()
    {
        var returns = GjrGarch.Simulate(Known, 300, seed: 3);
        var z = GjrGarch.StandardizedResiduals(Known, returns);
        var again = new double[z.Length];
        GjrGarch.Recolour(Known, GjrGarch.ConditionalVariances(Known, returns)[0], z, again);
        for (int t = 0; t < returns.Length; t++) Assert.That(again[t], Is.EqualTo(returns[t]).Within(1e-12), $"day {t}");
    }

    [Test]
    public void FilteredHistoricalSimulationRecoloursItsOwnResiduals()
    {
        var train = GjrGarch.Simulate(Known, 3000, seed: 8);
        var fhs = FilteredHistoricalSimulation.Create(train);
        var path = fhs.Simulate(50, seed: 4);
        Assert.That(fhs.Simulate(50, seed: 4), Is.EqualTo(path));
        var p = fhs.Fit.Parameters;
        double variance = fhs.NextVariance;
        var residuals = new HashSet<double>(fhs.Residuals);
        for (int t = 0; t < path.Length; t++)
        {
            double z = (path[t] - p.Mu) / Math.Sqrt(variance);
            Assert.That(residuals.Any(r => Math.Abs(r - z) < 1e-9), $"day {t}'s innovation {z} is not a training residual");
            variance = p.NextVariance(variance, path[t]);
        }
    }

    [Test]
    public void TheFilteredPipelineDecodesItsTrainingWindowsBackToReturns()
    {
        var panel = EmbeddedData.Sp500(DataOptions.Recommended);
        var data = DataSets.FromPanel(panel, DataOptions.Recommended);
        var encoding = DataSets.EncodingOf(data.Metadata)!;
        var filter = VolatilityFilter.FromMetadata(data.Metadata)!;
        var (train, _) = DataSets.SplitReturns(panel.Series(0));
        var variances = GjrGarch.ConditionalVariances((GjrGarchParameters)filter.Recursion, train);
        // The pipeline filters the float returns it windows, so the two agree to float precision.
        Assert.That(filter.Start.Variance, Is.EqualTo(variances[^1]).Within(1e-5 * variances[^1]));
        var window = new float[encoding.WindowLength];
        foreach (int k in new[] { 0, 2000, data.Count - 1 })
        {
            encoding.Decode(data.Row(k), window);
            filter.Recolour(filter.Recursion.Start(variances[k]), window, window);
            for (int i = 0; i < window.Length; i++)
                Assert.That(window[i], Is.EqualTo(train[k + i]).Within(2e-5 + 1e-3 * Math.Abs(train[k + i])), $"window {k}, day {i}");
        }
    }

    [TestCase("raw")]
    [TestCase("gasf")]
    public void TheMostExtremeTrainingReturnRoundTrips(string name)
    {
        var panel = EmbeddedData.Sp500(DataOptions.Default);
        var (train, _) = DataSets.SplitReturns(panel.Series(0));
        var returns = Array.ConvertAll(train, r => (float)r);
        var encoding = ImageEncodings.Fit(name, returns, 28);
        foreach (int extreme in new[] { Array.IndexOf(returns, returns.Min()), Array.IndexOf(returns, returns.Max()) })
        {
            int start = Math.Clamp(extreme - 10, 0, returns.Length - 28);
            var window = returns.AsSpan(start, 28).ToArray();
            var image = new float[encoding.Height * encoding.Width];
            var back = new float[28];
            encoding.Encode(window, image);
            encoding.Decode(image, back);
            Assert.That(back[extreme - start], Is.EqualTo(window[extreme - start]).Within(1e-4), $"{name}: the return {window[extreme - start]} was clipped");
        }
    }

    [Test]
    public void TheCalibrationGivesGeneratedWindowsTheDataMeanAndCovariance()
    {
        const int n = 4;
        var encoding = new RawWindowEncoding(n, -10, 10);
        // "Data": correlated days with a drift; "generated": another mean, scale and correlation.
        var data = Correlated(20_000, n, seed: 1, mean: 0.3, scale: 1.0, rho: 0.2);
        var generated = Correlated(20_000, n, seed: 2, mean: -0.5, scale: 1.7, rho: -0.4);
        var calibrated = CalibratedEncoding.Fit(encoding, generated, data);
        // The affine step alone pins the mean vector and covariance matrix exactly on the sample it was fitted on.
        var affine = new CalibratedEncoding(encoding, calibrated.Shift, calibrated.Matrix);
        var (dataMean, dataCov) = Moments(data, n);
        var (mean, cov) = Moments(DecodeAll(affine, encoding, generated, n), n);
        for (int i = 0; i < n; i++)
        {
            Assert.That(mean[i], Is.EqualTo(dataMean[i]).Within(1e-3), $"mean of day {i}");
            for (int j = 0; j < n; j++) Assert.That(cov[i, j], Is.EqualTo(dataCov[i, j]).Within(2e-3), $"covariance ({i}, {j})");
        }
        // The quantile map then gives the pooled values the data's quantiles, and keeps the moments close.
        var decoded = DecodeAll(calibrated, encoding, generated, n);
        var sortedData = data.Select(v => (double)v).Order().ToArray();
        var sortedDecoded = decoded.Select(v => (double)v).Order().ToArray();
        foreach (double q in new[] { 0.0, 0.001, 0.025, 0.5, 0.975, 0.999, 1.0 })
            Assert.That(sortedDecoded[(int)(q * (sortedDecoded.Length - 1))], Is.EqualTo(sortedData[(int)(q * (sortedData.Length - 1))]).Within(0.01), $"quantile {q}: " + string.Join(" ", new[] { 0.0, 0.001, 0.025, 0.5, 0.975, 0.999, 1.0 }.Select(p => $"{sortedDecoded[(int)(p * (sortedDecoded.Length - 1))]:F3}/{sortedData[(int)(p * (sortedData.Length - 1))]:F3}")));
        (mean, cov) = Moments(decoded, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) Assert.That(cov[i, j], Is.EqualTo(dataCov[i, j]).Within(0.03), $"covariance ({i}, {j}) after the quantile map");
        var image = new float[n];
        // Encode inverts Decode, and the metadata rebuilds the same map.
        var window = new float[] { 0.4f, -1.2f, 2.0f, 0.1f };
        var again = new float[n];
        calibrated.Encode(window, image);
        calibrated.Decode(image, again);
        Assert.That(again, Is.EqualTo(window).Within(1e-4));
        var rebuilt = CalibratedEncoding.Wrap(encoding, calibrated.ToMetadata());
        rebuilt.Decode(image, again);
        Assert.That(again, Is.EqualTo(window).Within(1e-4));
    }

    [Test]
    public void Fz0MatchesAHandComputedValue()
    {
        // y = −3 %, VaR = 2 %, ES = 2.5 % at a = 2.5 %: −1/(a·e)·(v − y) = 1600·0.01 = 16, v/e = 0.8, ln(−e) = ln 0.025.
        Assert.That(ConditionalForecasts.Fz0(-0.03, 0.02, 0.025, 0.025), Is.EqualTo(16 + 0.8 + Math.Log(0.025) - 1).Within(1e-12));
        // No exceedance: only v/e + ln(−e) − 1.
        Assert.That(ConditionalForecasts.Fz0(0.01, 0.02, 0.025, 0.025), Is.EqualTo(0.8 + Math.Log(0.025) - 1).Within(1e-12));
    }

    [Test]
    public void ConditionalForecastsRankTheTrueModelAboveAnOverconfidentOne()
    {
        var series = GjrGarch.Simulate(Known, 4000, seed: 21);
        var train = series[..3000];
        var heldOut = series[3000..];
        var truth = new ConditionalSource("truth", Known, Innovations.StudentT(Known.Nu));
        // Innovations of the right shape at half their scale: VaR and ES too small by half.
        var halfT = GjrGarch.StandardizedResiduals(Known, GjrGarch.Simulate(Known, 20_000, seed: 99)).Select(z => 0.5 * z).ToArray();
        var overconfident = new ConditionalSource("overconfident", Known, Innovations.Bootstrap(halfT));
        var results = ConditionalForecasts.Run(train, heldOut, [truth, overconfident], scenarios: 1000, seed: 3);
        var good = results.Single(r => r.Source == "truth" && r.Alpha == 0.99 && r.Horizon == 1);
        var bad = results.Single(r => r.Source == "overconfident" && r.Alpha == 0.99 && r.Horizon == 1);
        Assert.Multiple(() =>
        {
            Assert.That(good.Backtest.Kupiec.PValue, Is.GreaterThan(0.01), "the true model's 99 % VaR is rejected");
            Assert.That(bad.Backtest.Exceptions, Is.GreaterThan(3 * good.Backtest.Exceptions + 5));
            Assert.That(good.MeanFz0, Is.LessThan(bad.MeanFz0));
            Assert.That(results.Select(r => r.Horizon).Distinct(), Is.EquivalentTo(ConditionalForecasts.Horizons));
            Assert.That(results.Single(r => r.Source == "truth" && r.Alpha == 0.99 && r.Horizon == 10).Backtest.Observations, Is.EqualTo(100));
        });
        // The same seed gives the same forecasts, whatever the thread schedule.
        var again = ConditionalForecasts.Run(train, heldOut, [truth], scenarios: 1000, seed: 3);
        Assert.That(again.Single(r => r.Alpha == 0.99 && r.Horizon == 1).ValueAtRisk, Is.EqualTo(good.ValueAtRisk));
    }

    [Test]
    public void OneDayForecastsAreTheInnovationsQuantilesScaledByTheFilteredVolatility()
    {
        var series = GjrGarch.Simulate(Known, 1500, seed: 31);
        var truth = new ConditionalSource("truth", Known, Innovations.StudentT(Known.Nu));
        var results = ConditionalForecasts.Run(series[..1000], series[1000..], [truth], scenarios: 200, seed: 5);
        var variances = GjrGarch.ConditionalVariances(Known, series, Checks.PopulationVariance(series[..1000], out _));
        double q = GjrGarch.StandardizedQuantile(0.01, Known.Nu);
        var oneDay = results.Single(r => r.Alpha == 0.99 && r.Horizon == 1);
        foreach (int t in new[] { 0, 250, 499 })
        {
            double exact = -(Known.Mu + Math.Sqrt(variances[1000 + t]) * q);
            Assert.That(oneDay.ValueAtRisk[t], Is.EqualTo(exact).Within(0.02 * exact), $"day {t}: 400,000 draws give the t quantile to about 1 %");
        }
    }

    [Test]
    public void TheKnotGuideFindsTheBinarySearchSegment()
    {
        // Knots with runs of equal values and a tail as dense as the real ones; values on, between and beyond them.
        var from = new[] { -9.0, -4, -4, -4, -3.5, -1, -0.25, 0, 0, 1e-9, 0.5, 0.5, 2, 2.0000001, 7, 7 };
        var to = from.Select((v, k) => 0.9 * v + 0.01 * k).ToArray();
        var guide = new CalibratedEncoding.KnotGuide(from);
        var values = new List<double>(from) { -12, -9.5, 9, double.NegativeInfinity, double.PositiveInfinity, -0.0, double.Epsilon };
        var random = new Random(4);
        for (int i = 0; i < 20_000; i++) values.Add(-10 + 18 * random.NextDouble());
        foreach (double v in values) Assert.That(guide.Interpolate(from, to, v), Is.EqualTo(BinarySearchInterpolate(from, to, v)), $"v = {v:R}");
    }

    /// <summary>CalibratedEncoding's quantile map as it was written first, and is still used outside the guide's range: a binary search over every knot.</summary>
    internal static double BinarySearchInterpolate(double[] xs, double[] ys, double v) => CalibratedEncoding.Interpolate(xs, ys, v);

    [Test]
    public void IndependentDaysDealOutExactlyTheGeneratedDays()
    {
        using var sampler = TrainedSampler();
        var encoding = DataSets.EncodingOf(sampler.DataMetadata)!;
        var independent = DataSets.ReturnPaths(sampler, encoding, 3, 56, seed: 4, filter: null, days: PathDays.Independent);
        var pool = DataSets.DecodedWindows(sampler, encoding, 3 * 2, seed: 4);
        Assert.That(independent.SelectMany(p => p).OrderBy(v => v), Is.EqualTo(pool.Select(v => (double)v).OrderBy(v => v)));
        Assert.That(DataSets.ReturnPaths(sampler, encoding, 3, 56, seed: 4, filter: null, days: PathDays.Independent), Is.EqualTo(independent));
        var windows = DataSets.ReturnPaths(sampler, encoding, 3, 56, seed: 4, filter: null, days: PathDays.Windows);
        Assert.That(windows.SelectMany(p => p), Is.Not.EqualTo(independent.SelectMany(p => p)), "the days were reordered");
    }

    [Test]
    public void AVerdictNamesAWinnerOnlyWhenItsIntervalSeparates()
    {
        var real = GjrGarch.Simulate(Known, 600, seed: 41);
        var close = Enumerable.Range(0, 30).Select(i => GjrGarch.Simulate(Known, 600, seed: 100 + (ulong)i)).ToArray();
        var twin = Enumerable.Range(0, 30).Select(i => GjrGarch.Simulate(Known, 600, seed: 200 + (ulong)i)).ToArray();
        var wide = close.Select(p => p.Select(r => 3 * r).ToArray()).ToArray();
        var rows = Verdict.Build(real, new Dictionary<string, double[][]> { ["close"] = close, ["twin"] = twin, ["wide"] = wide }, [], 50, 10, seed: 1);
        var std = rows.Single(r => r.Measure == "|std − held-out std|");
        Assert.That(std.Values.Single(v => v.Source == "wide").Interval.Lower, Is.GreaterThan(std.Values.Single(v => v.Source == "close").Interval.Upper));
        // Two draws of one process do not separate, so neither wins although "wide" is far behind.
        Assert.That(std.Winner, Is.Null);
        var alone = Verdict.Build(real, new Dictionary<string, double[][]> { ["close"] = close, ["wide"] = wide }, [], 50, 10, seed: 1);
        Assert.That(alone.Single(r => r.Measure == "|std − held-out std|").Winner, Is.EqualTo("close"));
        foreach (var row in rows)
            foreach (var (_, ci) in row.Values) Assert.That(ci.Lower, Is.LessThanOrEqualTo(ci.Upper), row.Measure);
    }

    static Sampler TrainedSampler()
    {
        var options = DataOptions.Recommended;
        var data = DataSets.FromPanel(EmbeddedData.Sp500(options), options);
        string dir = Directory.CreateTempSubdirectory("fingen-days-").FullName;
        string path = Path.Combine(dir, "checkpoint.safetensors");
        using (var backend = Backend.CreateCpu("cpu-ref"))
        using (var model = Models.GenerativeModel.Create(backend, Models.ModelConfig.Default(Models.ModelKind.Gan) with { DataWidth = data.Width, ImageSide = 0 }))
        {
            model.Initialize();
            Checkpoints.Checkpoint.Save(path, model, data.Metadata);
        }
        return Sampler.Load(path);
    }

    static float[] Correlated(int count, int n, ulong seed, double mean, double scale, double rho)
    {
        var normals = new float[count * n];
        Philox.FillNormal(normals, seed, stream: 91, offset: 0);
        var result = new float[count * n];
        for (int k = 0; k < count; k++)
        {
            double previous = 0;
            for (int i = 0; i < n; i++)
            {
                double x = i == 0 ? normals[k * n] : rho * previous + Math.Sqrt(1 - rho * rho) * normals[k * n + i];
                previous = x;
                result[k * n + i] = (float)(mean + scale * x);
            }
        }
        return result;
    }

    static float[] DecodeAll(CalibratedEncoding calibrated, IImageEncoding encoding, float[] generated, int n)
    {
        var decoded = new float[generated.Length];
        var image = new float[n];
        for (int k = 0; k < generated.Length / n; k++)
        {
            encoding.Encode(generated.AsSpan(k * n, n), image);
            calibrated.Decode(image, decoded.AsSpan(k * n, n));
        }
        return decoded;
    }

    static (double[] Mean, double[,] Covariance) Moments(float[] windows, int n)
    {
        int count = windows.Length / n;
        var mean = new double[n];
        var cov = new double[n, n];
        for (int k = 0; k < count; k++)
            for (int i = 0; i < n; i++) mean[i] += windows[k * n + i] / (double)count;
        for (int k = 0; k < count; k++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) cov[i, j] += (windows[k * n + i] - mean[i]) * (windows[k * n + j] - mean[j]) / count;
        return (mean, cov);
    }
}
