using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Checkpoints;
using FinGen.Native.Data;
using FinGen.Native.Evaluation;
using FinGen.Native.Models;
using FinGen.Native.Randomness;
using FinGen.Native.Training;
using static FinGen.Native.Tests.TrainingRuns;

namespace FinGen.Native.Tests;

/// <summary>
/// Conditional generation (<c>--condition</c>): the condition features of a hand-made series, the conditional first
/// layer against finite differences and against one layer over [x | c], seeded training on both CPU backends, the
/// checkpoint round trip, and deterministic rollouts and forecasts that see the right history.
/// </summary>
[TestFixture]
public sealed class ConditionalGanTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-cond-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // ---- features

    [Test]
    public void RealizedVolatilityFeaturesOfAHandMadeSeries()
    {
        // 10 days nobody looks at, then 40 days of ±2 %, 15 of −1 %, 5 of ±3 % (the last 5 before the window).
        var past = new List<double>();
        past.AddRange(Enumerable.Repeat(0.5, 10));
        for (int i = 0; i < 40; i++) past.Add(i % 2 == 0 ? 0.02 : -0.02);
        past.AddRange(Enumerable.Repeat(-0.01, 15));
        for (int i = 0; i < 5; i++) past.Add(i % 2 == 0 ? -0.03 : 0.03);
        var features = new double[3];
        ConditionFeatures.Raw(ConditionKind.RealizedVol, 28, past.ToArray(), features);
        Assert.Multiple(() =>
        {
            Assert.That(features[0], Is.EqualTo(Math.Log(0.03)).Within(1e-12), "5 days");
            Assert.That(features[1], Is.EqualTo(0.5 * Math.Log((15 * 1e-4 + 5 * 9e-4) / 20)).Within(1e-12), "20 days");
            Assert.That(features[2], Is.EqualTo(0.5 * Math.Log((40 * 4e-4 + 15 * 1e-4 + 5 * 9e-4) / 60)).Within(1e-12), "60 days");
        });

        // With the previous window: its returns follow, oldest first.
        var withWindow = new double[3 + 4];
        ConditionFeatures.Raw(ConditionKind.RealizedVolWindow, 4, past.ToArray(), withWindow);
        Assert.That(withWindow[..3], Is.EqualTo(features));
        Assert.That(withWindow[3..], Is.EqualTo(new[] { 0.03, -0.03, 0.03, -0.03 }));

        // A run of zero returns has a floor instead of −∞; fewer than 60 days is refused.
        ConditionFeatures.Raw(ConditionKind.RealizedVol, 28, new double[60], features);
        Assert.That(features.All(double.IsFinite));
        Assert.That(() => ConditionFeatures.Raw(ConditionKind.RealizedVol, 28, new double[59], features), Throws.ArgumentException);
    }

    [Test]
    public void FittedFeaturesAreStandardizedOverTheTrainingWindowsAndClampedOutside()
    {
        var returns = GjrGarch.Simulate(Known, 1500, seed: 3);
        var starts = Enumerable.Range(60, 1400).ToArray();
        var (condition, rows) = ConditionFeatures.Fit(ConditionKind.RealizedVol, 28, [(returns, starts)], returns[^60..]);
        Assert.That(rows, Has.Length.EqualTo(3 * starts.Length));
        for (int f = 0; f < 3; f++)
        {
            var column = Enumerable.Range(0, starts.Length).Select(r => (double)rows[r * 3 + f]).ToArray();
            Assert.That(column.Average(), Is.EqualTo(0).Within(1e-5), $"feature {f} mean");
            Assert.That(Math.Sqrt(column.Select(v => v * v).Average()), Is.EqualTo(1).Within(1e-5), $"feature {f} deviation");
            Assert.That(condition.Lower[f], Is.EqualTo(column.Min()).Within(1e-5));
            Assert.That(condition.Upper[f], Is.EqualTo(column.Max()).Within(1e-5));
        }
        // Row k is the standardized Raw of the returns before start k.
        var c = new float[3];
        condition.Compute(returns.AsSpan(0, starts[700]), c);
        Assert.That(c, Is.EqualTo(rows.AsSpan(700 * 3, 3).ToArray()).Within(1e-6));
        // A crash far beyond anything in training is clamped to the training range.
        condition.Compute(Enumerable.Repeat(0.5, 60).ToArray(), c);
        Assert.That(c.Select(v => (double)v), Is.EqualTo(condition.Upper).Within(1e-6));
    }

    // ---- the conditional first layer

    [Test]
    public void ConditionalMlpBackwardMatchesFiniteDifferences()
    {
        using var backend = new CpuReferenceBackend();
        var layout = new ParameterLayout();
        var mlp = new Mlp(layout, "net", [5, 7, 6, 3], Activation.LeakyRelu, Activation.Sigmoid, 0.2f, conditionWidth: 4);
        Assert.That(layout.Entries.Select(e => e.Name), Does.Contain("net.0.condition_weight"));
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(seed: 3, ref offset);
        using var workspace = new MlpWorkspace(backend, mlp, 4);
        var rng = new System.Random(8);
        using var input = Buffer.Random(4, 5, rng);
        using var condition = Buffer.Random(4, 4, rng);
        using var upstream = Buffer.Random(4, 3, rng);
        using var dInput = Buffer.Filled(4, 5, float.NaN);

        double Loss()
        {
            var y = mlp.Forward(backend, parameters, input.T, condition.T, workspace).Span;
            Assert.That(y.Length, Is.EqualTo(4 * 3));
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)y[i] * upstream.Span[i];
            return sum;
        }

        Loss();
        upstream.Span.CopyTo(workspace.OutputGradient(4).Span);
        parameters.ZeroGradients();
        mlp.Backward(backend, parameters, input.T, condition.T, workspace, dInput.T, parameterGradients: true);
        var gradients = parameters.Gradients.All().Span.ToArray();
        FiniteDifferences.Check(Loss, parameters.Values.All().Span, gradients, 2e-3, 2e-2, k => FiniteDifferences.ParameterAt(layout, k));
        FiniteDifferences.Check(Loss, input.Span, dInput.Span.ToArray(), 2e-3, 2e-2, k => $"input[{k}]");
        // Without a condition a conditional MLP refuses to run, and a wrongly shaped one is refused.
        Assert.That(() => mlp.Forward(backend, parameters, input.T, workspace), Throws.ArgumentException);
        using var narrow = Buffer.Random(4, 3, rng);
        Assert.That(() => mlp.Forward(backend, parameters, input.T, narrow.T, workspace), Throws.ArgumentException);
    }

    [TestCaseSource(typeof(TestBackends), nameof(TestBackends.Names))]
    public void TheConditionalFirstLayerIsOneLinearLayerOverTheConcatenation(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var split = new ParameterLayout();
        var conditional = new Mlp(split, "net", [5, 7, 3], Activation.LeakyRelu, Activation.Identity, 0.2f, conditionWidth: 4);
        var joined = new ParameterLayout();
        var plain = new Mlp(joined, "net", [9, 7, 3], Activation.LeakyRelu, Activation.Identity, 0.2f);
        using var p = new ParameterSet(backend, split);
        using var q = new ParameterSet(backend, joined);
        ulong offset = 0;
        p.Initialize(seed: 5, ref offset);
        // q's first weight is [W_x | W_c]; everything else is copied as it is.
        var pv = p.Values.All().Span;
        var qv = q.Values.All().Span;
        Span<float> Of(ParameterLayout layout, Span<float> values, string name)
        {
            var e = layout.Entries.Single(x => x.Name == name);
            return values.Slice((int)e.Offset, e.Length);
        }
        for (int o = 0; o < 7; o++)
        {
            Of(split, pv, "net.0.weight").Slice(o * 5, 5).CopyTo(Of(joined, qv, "net.0.weight").Slice(o * 9, 5));
            Of(split, pv, "net.0.condition_weight").Slice(o * 4, 4).CopyTo(Of(joined, qv, "net.0.weight").Slice(o * 9 + 5, 4));
        }
        foreach (var name in new[] { "net.0.bias", "net.1.weight", "net.1.bias" }) Of(split, pv, name).CopyTo(Of(joined, qv, name));

        var rng = new System.Random(2);
        using var x = Buffer.Random(6, 5, rng);
        using var c = Buffer.Random(6, 4, rng);
        using var xc = new Buffer(6, 9);
        for (int b = 0; b < 6; b++)
        {
            x.Span.Slice(b * 5, 5).CopyTo(xc.Span.Slice(b * 9, 5));
            c.Span.Slice(b * 4, 4).CopyTo(xc.Span.Slice(b * 9 + 5, 4));
        }
        using var w1 = conditional.CreateWorkspace(backend, 6);
        using var w2 = plain.CreateWorkspace(backend, 6);
        var y1 = conditional.Forward(backend, p, x.T, c.T, w1).Span.ToArray();
        var y2 = plain.Forward(backend, q, xc.T, w2).Span.ToArray();
        Compare.Close(y1, y2, 1e-6, 1e-5, "conditional vs concatenated");
    }

    // ---- training

    static readonly GjrGarchParameters Known = new(Mu: 4e-4, Omega: 2e-6, Alpha: 0.02, Gamma: 0.12, Beta: 0.88, Nu: 7);

    static TrainingData? _series;

    /// <summary>A simulated GJR-GARCH price series through the default price pipeline with <c>--condition realized-vol</c>.</summary>
    static TrainingData Series => _series ??= DataSets.FromPanel(SimulatedPanel(900), DataOptions.Recommended with { Condition = ConditionKind.RealizedVol });

    static PricePanel SimulatedPanel(int days)
    {
        var returns = GjrGarch.Simulate(Known, days, seed: 21);
        var prices = new double[days + 1];
        prices[0] = 100;
        for (int t = 0; t < days; t++) prices[t + 1] = prices[t] * Math.Exp(returns[t]);
        var dates = Enumerable.Range(0, days + 1).Select(d => new DateOnly(2000, 1, 3).AddDays(d)).ToArray();
        return new PricePanel("simulated", dates, ["close"], [prices], MissingReport.None(MissingValues.Error));
    }

    static ModelConfig Config(TrainingData data) => ModelConfig.Default(ModelKind.Gan) with
    {
        DataWidth = data.Width, ImageSide = 0, ConditionWidth = data.ConditionWidth, BatchSize = 16, Seed = 77,
    };

    [Test]
    public void TheConditionalPipelineCarriesEachWindowsCondition()
    {
        var data = Series;
        int train = int.Parse(data.Metadata["train_returns"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Multiple(() =>
        {
            Assert.That(data.ConditionWidth, Is.EqualTo(3));
            Assert.That(data.Count, Is.EqualTo(train - 28 + 1 - 60), "the 60 windows without 60 days before them are left out");
            Assert.That(data.Conditions, Has.Length.EqualTo(data.Count * 3));
            Assert.That(data.Metadata[ConditionFeatures.KindKey], Is.EqualTo("realized-vol"));
        });
        // Window k starts at return 60 + k; its condition is that of the 60 returns before it.
        var (returns, _) = DataSets.SplitReturns(SimulatedPanel(900).Series(0));
        var condition = ConditionFeatures.FromMetadata(data.Metadata)!;
        var c = new float[3];
        foreach (int k in new[] { 0, 300, data.Count - 1 })
        {
            condition.Compute(returns.AsSpan(0, 60 + k), c);
            Assert.That(c, Is.EqualTo(data.ConditionRow(k).ToArray()).Within(1e-4), $"window {k}");
        }
        Assert.That(condition.History, Is.EqualTo(returns[^60..]).Within(1e-7), "the start history is the last training returns");
    }

    [Test]
    public void ReferenceAndSimdTrainTheConditionalGanAlike()
    {
        using var reference = new CpuReferenceBackend();
        using var simd = new CpuSimdBackend();
        var expected = Train(reference, Config(Series), 10, Series);
        var actual = Train(simd, Config(Series), 10, Series);
        TestContext.Out.WriteLine("d: " + string.Join(", ", expected.Select(l => l[0].ToString("R"))));
        for (int m = 0; m < expected[0].Length; m++)
            Compare.Close(actual.Select(l => l[m]).ToArray(), expected.Select(l => l[m]).ToArray(), 1e-4, 1e-3, $"metric {m}");
        Assert.That(Train(simd, Config(Series), 10, Series), Is.EqualTo(actual), "two runs are bit-identical");
        // The condition is used: the same run on other conditions gives other losses.
        var shuffled = Series with { Conditions = Series.Conditions!.Select(v => -v).ToArray() };
        Assert.That(Train(simd, Config(Series), 10, shuffled), Is.Not.EqualTo(actual));
        // An unconditional model cannot train on conditional data, nor a conditional one on plain data.
        Assert.That(() => Train(simd, Config(Series) with { ConditionWidth = 0 }, 1, Series), Throws.TypeOf<FinGenException>());
    }

    [Test]
    public void OnlyTheMlpModelsTakeACondition()
    {
        Assert.That(() => (ModelConfig.Default(ModelKind.Dcgan) with { ConditionWidth = 3 }).Validate(),
            Throws.TypeOf<FinGenException>().With.Message.Contains("--condition applies to --model gan or vae"));
        Assert.That(() => (ModelConfig.Default(ModelKind.ConvVae) with { ConditionWidth = 3 }).Validate(), Throws.TypeOf<FinGenException>());
    }

    [Test]
    public void ReferenceAndSimdTrainTheConditionalVaeAlike()
    {
        var config = ModelConfig.Default(ModelKind.Vae) with { DataWidth = Series.Width, ImageSide = 0, ConditionWidth = 3, BatchSize = 16, Seed = 77 };
        using var reference = new CpuReferenceBackend();
        using var simd = new CpuSimdBackend();
        var expected = Train(reference, config, 10, Series);
        var actual = Train(simd, config, 10, Series);
        for (int m = 0; m < expected[0].Length; m++)
            Compare.Close(actual.Select(l => l[m]).ToArray(), expected.Select(l => l[m]).ToArray(), 1e-4, 1e-3, $"metric {m}");
        Assert.That(Train(simd, config, 10, Series with { Conditions = Series.Conditions!.Select(v => -v).ToArray() }), Is.Not.EqualTo(actual),
            "the condition is used");
        // The decoder is what a checkpoint samples from: it takes the condition too.
        using var model = GenerativeModel.Create(simd, config);
        model.Initialize();
        string path = Path.Combine(_dir, "vae.safetensors");
        Checkpoint.Save(path, model, Series.Metadata);
        using var sampler = Sampler.Load(path);
        Assert.That(sampler.ConditionWidth, Is.EqualTo(3));
    }

    // ---- checkpoint, sampling, rollouts, forecasts

    string TrainedCheckpoint(int steps = 30)
    {
        using var backend = new CpuSimdBackend();
        using var model = GenerativeModel.Create(backend, Config(Series));
        model.Initialize();
        Run(model, steps, Series);
        string path = Path.Combine(_dir, "conditional.safetensors");
        Checkpoint.Save(path, model, DataSets.CalibratedMetadata(model, Series, 77));
        return path;
    }

    [Test]
    public void TheCheckpointKeepsTheConditionAndSamplesFollowIt()
    {
        string path = TrainedCheckpoint();
        var saved = ConditionFeatures.FromMetadata(Series.Metadata)!;
        using var sampler = Sampler.Load(path);
        var loaded = sampler.Condition!;
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Config.ConditionWidth, Is.EqualTo(3));
            Assert.That(sampler.ConditionWidth, Is.EqualTo(3));
            Assert.That(loaded.Kind, Is.EqualTo(ConditionKind.RealizedVol));
            Assert.That(loaded.Mean, Is.EqualTo(saved.Mean));
            Assert.That(loaded.Std, Is.EqualTo(saved.Std));
            Assert.That(loaded.Lower, Is.EqualTo(saved.Lower));
            Assert.That(loaded.Upper, Is.EqualTo(saved.Upper));
            Assert.That(loaded.History, Is.EqualTo(saved.History));
        });
        // The checkpoint's model resumes with the same condition width, and draws depend on the condition.
        using (var backend = new CpuSimdBackend())
        using (var model = Checkpoint.LoadModel(backend, Checkpoint.Read(path)))
            Assert.That(model.Config.ConditionWidth, Is.EqualTo(3));
        int size = sampler.SampleSize;
        var calm = Enumerable.Repeat(-1.5f, 3 * 8).ToArray();
        var stormy = Enumerable.Repeat(2.5f, 3 * 8).ToArray();
        var a = new float[8 * size];
        var b = new float[8 * size];
        var again = new float[8 * size];
        sampler.Sample(a, calm, 8, seed: 4);
        sampler.Sample(b, stormy, 8, seed: 4);
        sampler.Sample(again, calm, 8, seed: 4);
        Assert.That(again, Is.EqualTo(a));
        Assert.That(b, Is.Not.EqualTo(a));
    }

    [Test]
    public void RolloutsAreDeterministicForASeedAndStartFromTheHistory()
    {
        string path = TrainedCheckpoint();
        using var sampler = Sampler.Load(path);
        var encoding = DataSets.EncodingOf(sampler.DataMetadata)!;
        var filter = VolatilityFilter.FromMetadata(sampler.DataMetadata);
        var condition = sampler.Condition!;
        var first = DataSets.ReturnPaths(sampler, encoding, 5, 100, seed: 9, filter);
        var second = DataSets.ReturnPaths(sampler, encoding, 5, 100, seed: 9, filter);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(first.All(p => p.Length == 100 && p.All(double.IsFinite)));
        Assert.That(DataSets.ReturnPaths(sampler, encoding, 5, 100, seed: 10, filter), Is.Not.EqualTo(first));
        // Path p does not depend on how many paths are drawn with it.
        var three = DataSets.ConditionalReturnPaths(sampler, encoding, condition, condition.History, 3, 100, 9, filter);
        Assert.That(three, Is.EqualTo(first.Take(3).ToArray()));
        // Another history gives another first window (its condition differs); the independent-day mode does not apply.
        var stormy = condition.History.Select(r => r * 6).ToArray();
        var fromStorm = DataSets.ConditionalReturnPaths(sampler, encoding, condition, stormy, 3, 100, 9, filter);
        Assert.That(fromStorm[0][..28], Is.Not.EqualTo(first[0][..28]));
        Assert.That(() => DataSets.ReturnPaths(sampler, encoding, 5, 100, 9, filter, PathDays.Independent),
            Throws.TypeOf<FinGenException>().With.Message.Contains("conditional"));
    }

    [Test]
    public void ForecastScenariosLongerThanAWindowRollOutFromTheirOwnFirstWindow()
    {
        // A 5-day conditional model asked for 12-day scenarios: three windows, the later ones given the scenario so far.
        var data = DataSets.FromPanel(SimulatedPanel(900), DataOptions.Recommended with { Condition = ConditionKind.RealizedVol, Window = 5 });
        string path = Path.Combine(_dir, "five.safetensors");
        using (var backend = new CpuSimdBackend())
        using (var model = GenerativeModel.Create(backend, Config(data)))
        {
            model.Initialize();
            Run(model, 20, data);
            Checkpoint.Save(path, model, DataSets.CalibratedMetadata(model, data, 77));
        }
        using var sampler = Sampler.Load(path);
        var windows = new DataSets.ConditionalWindows(sampler, DataSets.EncodingOf(sampler.DataMetadata)!, sampler.Condition!,
            VolatilityFilter.FromMetadata(sampler.DataMetadata));
        var history = GjrGarch.Simulate(Known, 200, seed: 8);
        var five = new double[16 * 5];
        var twelve = new double[16 * 12];
        var again = new double[16 * 12];
        windows.Draw(history, new VolatilityState(1e-4, 0), 16, 5, seed: 3, five);
        windows.Draw(history, new VolatilityState(1e-4, 0), 16, 12, seed: 3, twelve);
        windows.Draw(history, new VolatilityState(1e-4, 0), 16, 12, seed: 3, again);
        Assert.That(again, Is.EqualTo(twelve));
        Assert.That(twelve.All(double.IsFinite));
        for (int k = 0; k < 16; k++) Assert.That(twelve.AsSpan(k * 12, 5).ToArray(), Is.EqualTo(five.AsSpan(k * 5, 5).ToArray()), $"scenario {k}'s first window");
        // The second window's condition is each scenario's own: scenarios differ from day 6 on, not only by their noise.
        Assert.That(Enumerable.Range(0, 16).Select(k => twelve[k * 12 + 5]).Distinct().Count(), Is.EqualTo(16));
    }

    /// <summary>Records the history each forecast day is given and answers with fixed innovations.</summary>
    sealed class RecordingInnovations : ConditionedInnovations
    {
        public readonly System.Collections.Concurrent.ConcurrentBag<(int Length, double Last)> Calls = [];

        public override void Draw(ReadOnlySpan<double> history, VolatilityState state, int count, int horizon, ulong seed, Span<double> z)
        {
            Calls.Add((history.Length, history[^1]));
            var cursor = new PhiloxCursor(seed, EvaluationStreams.ConditionalScenarios);
            for (int i = 0; i < z.Length; i++) z[i] = cursor.NextStandardizedStudentT(6);
        }
    }

    /// <summary>Innovations that are gains on some days: a broken conditional generator.</summary>
    sealed class GainsOnEvenDays : ConditionedInnovations
    {
        public override void Draw(ReadOnlySpan<double> history, VolatilityState state, int count, int horizon, ulong seed, Span<double> z)
        {
            var cursor = new PhiloxCursor(seed, EvaluationStreams.ConditionalScenarios);
            for (int i = 0; i < z.Length; i++) z[i] = 0.01 * cursor.NextStandardizedStudentT(6) + (history.Length % 2 == 0 ? 0.1 : 0);
        }
    }

    [Test]
    public void AForecasterWhoseScenariosAreAllGainsGetsNoEsBacktestButTheEvaluationGoesOn()
    {
        var returns = GjrGarch.Simulate(Known, 700, seed: 4);
        var results = ConditionalForecasts.Run(returns[..600], returns[600..], [new ConditionalSource("broken", null, null) { Conditioned = new GainsOnEvenDays() }], 200, seed: 3);
        var oneDay = results.Single(r => r.Horizon == 1 && r.Alpha == 0.975);
        Assert.That(oneDay.ExpectedShortfallBacktest, Is.Null);
        Assert.That(oneDay.Fz0Losses.All(double.IsFinite));
    }

    [Test]
    public void ConditionalForecastsGiveEachDayTheRealHistoryBeforeIt()
    {
        var returns = GjrGarch.Simulate(Known, 700, seed: 4);
        var train = returns[..600];
        var heldOut = returns[600..];
        var recording = new RecordingInnovations();
        var source = new ConditionalSource("conditional", Known, null) { Conditioned = recording };
        var results = ConditionalForecasts.Run(train, heldOut, [source], 200, seed: 3);
        Assert.That(recording.Calls.Select(c => c.Length).Order(), Is.EqualTo(Enumerable.Range(600, 100)));
        foreach (var (length, last) in recording.Calls) Assert.That(last, Is.EqualTo(returns[length - 1]));
        var oneDay = results.Single(r => r.Horizon == 1 && r.Alpha == 0.99);
        Assert.That(oneDay.ValueAtRisk.All(v => v > 0 && double.IsFinite(v)));
        // Deterministic for a seed, whatever the threads did.
        var again = ConditionalForecasts.Run(train, heldOut, [source with { Conditioned = new RecordingInnovations() }], 200, seed: 3);
        Assert.That(again.Single(r => r.Horizon == 1 && r.Alpha == 0.99).ValueAtRisk, Is.EqualTo(oneDay.ValueAtRisk));
    }
}

/// <summary>The conditional GAN on CUDA against the scalar reference (skipped where no device answers).</summary>
[TestFixture]
public sealed class CudaConditionalGanTests : CudaFixture
{
    [Test]
    public void TenConditionalTrainingStepsFollowTheReference()
    {
        var data = DataSets.FromPanel(EmbeddedData.Sp500(DataOptions.Recommended), DataOptions.Recommended with { Condition = ConditionKind.RealizedVol });
        var config = ModelConfig.Default(ModelKind.Gan) with { DataWidth = data.Width, ImageSide = 0, ConditionWidth = data.ConditionWidth, BatchSize = 16, Seed = 77 };
        using var reference = new CpuReferenceBackend();
        var expected = Train(reference, config, 10, data);
        var actual = Train(Cuda(), config, 10, data);
        for (int m = 0; m < expected[0].Length; m++)
            Compare.Close(actual.Select(l => l[m]).ToArray(), expected.Select(l => l[m]).ToArray(), 1e-4, 1e-3, $"metric {m}");
    }
}
