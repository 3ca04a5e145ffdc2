using FinGen.Native.Backends;
using FinGen.Native.Checkpoints;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;
using FinGen.Native.Training;

namespace FinGen.Native.Tests;

/// <summary>
/// The capture contract of a training step, checked on the CPU backends through <see cref="RecordingGraphBackend"/>,
/// which records a captured step's ops with their argument values and replays them as a CUDA graph would: a run that
/// captures a step after the warm-up and replays it must equal a run of eager steps bit for bit (metrics of every
/// step, parameters, optimizer state, counters, the checkpoint file). Any per-step value that a step passed by value
/// instead of reading it from backend memory would be replayed as it was at capture, and the runs would differ.
/// </summary>
[TestFixture]
public sealed class GraphReplayTests
{
    private const int Steps = 7; // 2 eager warm-up steps, 1 captured, 4 replays

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (var backend in TestBackends.Names)
        {
            foreach (var kind in new[] { ModelKind.Gan, ModelKind.Vae, ModelKind.Dcgan, ModelKind.ConvVae })
                yield return new TestCaseData(backend, kind, OptimizerKind.Adam, false).SetArgDisplayNames(backend, ModelConfig.CliName(kind), "adam");
            yield return new TestCaseData(backend, ModelKind.Vae, OptimizerKind.Sgd, false).SetArgDisplayNames(backend, "vae", "sgd");
            yield return new TestCaseData(backend, ModelKind.Gan, OptimizerKind.Gd, false).SetArgDisplayNames(backend, "gan", "gd");
            // Spectral normalization: u and v change every step on the device, inside the captured step.
            foreach (var kind in new[] { ModelKind.Gan, ModelKind.Dcgan })
                yield return new TestCaseData(backend, kind, OptimizerKind.Adam, true).SetArgDisplayNames(backend, ModelConfig.CliName(kind), "adam", "spectral-norm");
        }
    }

    private static ModelConfig Config(ModelKind kind, OptimizerKind optimizer, bool spectralNorm = false)
    {
        var config = ModelConfig.Default(kind) with { BatchSize = 8, Seed = 4321, SpectralNorm = spectralNorm };
        if (kind is ModelKind.Dcgan or ModelKind.ConvVae) config = config with { ConvChannels = [4, 8] };
        // A learning rate large enough that every step moves the parameters visibly.
        return config with { Optimizer = config.Optimizer with { Kind = optimizer, LearningRate = 1e-3f } };
    }

    /// <summary>The metrics of every step, and the checkpoint file the run ends with.</summary>
    private sealed record Run(float[][] Metrics, byte[] Checkpoint, bool Replayed, int CapturedOps);

    private static Run Train(IBackend backend, ModelConfig config, int steps, Action<GenerativeModel, long>? afterStep = null)
    {
        using var model = GenerativeModel.Create(backend, config);
        model.Initialize();
        var metrics = new List<float[]>();
        new Trainer(model, TrainingRuns.MnistDigits).Run(steps, (step, m) =>
        {
            metrics.Add(m.ToArray());
            afterStep?.Invoke(model, step);
        });
        string path = Path.Combine(Path.GetTempPath(), $"fingen-graph-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(path, model, TrainingRuns.MnistDigits.Metadata);
            return new Run([.. metrics], File.ReadAllBytes(path), model.IsReplaying, (backend as RecordingGraphBackend)?.CapturedOps ?? 0);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void ReplayedStepsEqualEagerStepsBitForBit(string backendName, ModelKind kind, OptimizerKind optimizer, bool spectralNorm)
    {
        var config = Config(kind, optimizer, spectralNorm);
        using var eagerBackend = TestBackends.Create(backendName);
        var eager = Train(eagerBackend, config, Steps);
        Assert.That(eager.Replayed, Is.False, "a CPU backend never replays in production");

        using var recorder = new RecordingGraphBackend(TestBackends.Create(backendName));
        var replayed = Train(recorder, config, Steps);
        Assert.That(replayed.Replayed, "the step after the warm-up is captured and replayed");
        Assert.That(replayed.CapturedOps, Is.GreaterThan(10), "the captured step holds the whole step's ops");

        for (int s = 0; s < Steps; s++)
            Assert.That(replayed.Metrics[s], Is.EqualTo(eager.Metrics[s]), $"metrics of step {s + 1}");
        Assert.That(replayed.Checkpoint, Is.EqualTo(eager.Checkpoint), "checkpoint (parameters, buffers, optimizer state, counters)");
        // The runs must actually have moved: equal because both trained, not because neither did.
        Assert.That(eager.Metrics[^1], Is.Not.EqualTo(eager.Metrics[0]));
    }

    /// <summary>
    /// The sensitivity of the test above: if the per-step block stopped changing after the capture (as if the captured
    /// step had baked its noise offset and Adam's t in), the replays would differ from the eager run.
    /// </summary>
    [TestCase(ModelKind.Gan, OptimizerKind.Adam)]
    [TestCase(ModelKind.Vae, OptimizerKind.Adam)]
    [TestCase(ModelKind.Gan, OptimizerKind.Gd)]
    public void ReplaysWithStaleStepScalarsDiffer(ModelKind kind, OptimizerKind optimizer)
    {
        var config = Config(kind, optimizer);
        using var eagerBackend = new CpuReferenceBackend();
        var eager = Train(eagerBackend, config, Steps);

        using var recorder = new RecordingGraphBackend(new CpuReferenceBackend());
        var stale = Train(recorder, config, Steps, (model, _) => recorder.FreezeScalars = model.IsReplaying);
        Assert.That(stale.Replayed);
        int captured = GenerativeModel.GraphWarmupSteps + 1;
        for (int s = 0; s < captured; s++)
            Assert.That(stale.Metrics[s], Is.EqualTo(eager.Metrics[s]), $"step {s + 1} ran with fresh scalars");
        Assert.That(stale.Metrics[captured], Is.Not.EqualTo(eager.Metrics[captured]), "the first replay with stale scalars");
        Assert.That(stale.Checkpoint, Is.Not.EqualTo(eager.Checkpoint));
    }

    [Test]
    public void AFailedCaptureFallsBackToEagerStepsWithTheSameResults()
    {
        var config = Config(ModelKind.Dcgan, OptimizerKind.Adam);
        using var cpu = new CpuReferenceBackend();
        var eager = Train(cpu, config, Steps);
        using var recorder = new RecordingGraphBackend(new CpuReferenceBackend()) { FailCaptures = true };
        string? failure = null;
        var fallback = Train(recorder, config, Steps, (model, _) => failure = model.GraphFailure);
        Assert.That(fallback.Replayed, Is.False);
        Assert.That(failure, Does.Contain("simulated: the capture was invalidated"));
        Assert.That(fallback.Metrics, Is.EqualTo(eager.Metrics));
        Assert.That(fallback.Checkpoint, Is.EqualTo(eager.Checkpoint));
    }

    [Test]
    public void WithoutUseGraphNothingIsCaptured()
    {
        var config = Config(ModelKind.Gan, OptimizerKind.Adam);
        using var recorder = new RecordingGraphBackend(new CpuReferenceBackend());
        using var model = GenerativeModel.Create(recorder, config);
        model.UseGraph = false;
        model.Initialize();
        new Trainer(model, TrainingRuns.MnistDigits).Run(Steps);
        Assert.That(model.IsReplaying, Is.False);
        Assert.That(recorder.CapturedOps, Is.Zero);
    }

    [Test]
    public void AResumedReplayingRunEqualsAnUninterruptedEagerOne()
    {
        var config = Config(ModelKind.Vae, OptimizerKind.Adam);
        using var cpu = new CpuReferenceBackend();
        var uninterrupted = Train(cpu, config, 2 * Steps);

        string path = Path.Combine(Path.GetTempPath(), $"fingen-graph-{Guid.NewGuid():N}.safetensors");
        try
        {
            var metrics = new List<float[]>();
            using var recorder = new RecordingGraphBackend(new CpuReferenceBackend());
            using (var model = GenerativeModel.Create(recorder, config))
            {
                model.Initialize();
                new Trainer(model, TrainingRuns.MnistDigits).Run(Steps, (_, m) => metrics.Add(m.ToArray()));
                Assert.That(model.IsReplaying);
                Checkpoint.Save(path, model, TrainingRuns.MnistDigits.Metadata);
            }
            using (var model = Checkpoint.LoadModel(recorder, Checkpoint.Read(path)))
            {
                new Trainer(model, TrainingRuns.MnistDigits).Run(2 * Steps, (_, m) => metrics.Add(m.ToArray()));
                Assert.That(model.IsReplaying, "the resumed model warms up and captures again");
            }
            Assert.That(metrics, Is.EqualTo(uninterrupted.Metrics));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void ReplayedStepsAllocateNothingManaged()
    {
        var config = Config(ModelKind.Gan, OptimizerKind.Adam);
        using var recorder = new RecordingGraphBackend(new CpuReferenceBackend());
        using var model = GenerativeModel.Create(recorder, config);
        model.Initialize();
        var trainer = new Trainer(model, TrainingRuns.MnistDigits);
        trainer.Run(GenerativeModel.GraphWarmupSteps + 2);
        Assert.That(model.IsReplaying);
        long before = GC.GetAllocatedBytesForCurrentThread();
        trainer.Run(model.State.Step + 5);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "managed bytes allocated by 5 replayed steps");
    }

    [Test]
    public void CaptureRefusesWhatWaitsOrAllocates()
    {
        using var recorder = new RecordingGraphBackend(new CpuReferenceBackend());
        using var memory = recorder.Allocate(16);
        var t = memory.Slice(0, 1, 16);
        using var graph = recorder.CreateGraph();
        graph.BeginCapture();
        Assert.Throws<InvalidOperationException>(() => recorder.Upload(new float[16], t));
        Assert.Throws<InvalidOperationException>(() => recorder.UploadScalars(new float[2], t));
        Assert.Throws<InvalidOperationException>(() => recorder.Download(t, new float[16]));
        Assert.Throws<InvalidOperationException>(() => recorder.Synchronize());
        Assert.Throws<InvalidOperationException>(() => recorder.Allocate(1));
        Assert.Throws<InvalidOperationException>(() => recorder.AdamStep(t, t, t, t, 1e-3f, 0.9f, 0.999f, 1e-8f, 1));
        recorder.Fill(t, 2.5f);
        graph.EndCapture();
        var host = new float[16];
        recorder.Download(t, host);
        Assert.That(host, Has.All.EqualTo(0f), "capturing runs nothing");
        graph.Launch();
        recorder.Download(t, host);
        Assert.That(host, Has.All.EqualTo(2.5f));
    }

    // ---- the step-scalar forms of the ops against their by-value forms, on random inputs

    [TestCaseSource(typeof(TestBackends), nameof(TestBackends.Names))]
    public unsafe void StepScalarOpsEqualTheirByValueForms(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(2024);
        const int n = 1037;
        using var scalars = new StepScalars(backend, 2);

        // Noise at a random offset read from memory, plus a delta, against the by-value draw.
        ulong offset = (ulong)rng.NextInt64(0, long.MaxValue / 2), delta = (ulong)rng.Next(0, 100_000);
        scalars.SetNoiseOffset(offset);
        scalars.SetAdam(0, 3e-3f, 0.8f, 0.99f, 1e-7f, 17);
        scalars.SetSgd(1, 2e-2f, 0.7f);
        scalars.Upload();
        Assert.That(StepScalars.ReadOffset(scalars.NoiseOffset), Is.EqualTo(offset));
        using var noise = Buffer.Filled(1, n, float.NaN);
        using var expectedNoise = Buffer.Filled(1, n, float.NaN);
        backend.FillNormal(noise.T, 99, (ulong)Philox.Stream.Noise, scalars.NoiseOffset, delta);
        backend.FillNormal(expectedNoise.T, 99, (ulong)Philox.Stream.Noise, offset + delta);
        Assert.That(noise.Span.ToArray(), Is.EqualTo(expectedNoise.Span.ToArray()));

        // Adam with t from memory.
        using var p = Buffer.Random(1, n, rng); using var g = Buffer.Random(1, n, rng);
        using var m = Buffer.Random(1, n, rng, -0.1, 0.1); using var v = Buffer.Random(1, n, rng, 0, 0.1);
        using var p2 = p.Clone(); using var m2 = m.Clone(); using var v2 = v.Clone();
        using var p3 = p.Clone(); using var m3 = m.Clone(); using var v3 = v.Clone();
        backend.AdamStep(p.T, g.T, m.T, v.T, scalars.OptimizerHyper(0));
        backend.AdamStep(p2.T, g.T, m2.T, v2.T, 3e-3f, 0.8f, 0.99f, 1e-7f, 17);
        Assert.That(p.Span.ToArray(), Is.EqualTo(p2.Span.ToArray()), "Adam parameters");
        Assert.That(m.Span.ToArray(), Is.EqualTo(m2.Span.ToArray()), "Adam m");
        Assert.That(v.Span.ToArray(), Is.EqualTo(v2.Span.ToArray()), "Adam v");
        backend.AdamStep(p3.T, g.T, m3.T, v3.T, 3e-3f, 0.8f, 0.99f, 1e-7f, 1);
        Assert.That(p3.Span.ToArray(), Is.Not.EqualTo(p2.Span.ToArray()), "t matters (bias correction)");

        // SGD with momentum from memory.
        using var vel = Buffer.Random(1, n, rng); using var vel2 = vel.Clone();
        using var q = Buffer.Random(1, n, rng); using var q2 = q.Clone();
        backend.SgdStep(q.T, g.T, vel.T, scalars.OptimizerHyper(1));
        backend.SgdStep(q2.T, g.T, vel2.T, 2e-2f, 0.7f);
        Assert.That(q.Span.ToArray(), Is.EqualTo(q2.Span.ToArray()), "SGD parameters");
        Assert.That(vel.Span.ToArray(), Is.EqualTo(vel2.Span.ToArray()), "SGD velocity");
    }

    [Test]
    public void UploadScalarsRefusesMoreThanABlock()
    {
        using var backend = new CpuReferenceBackend();
        using var memory = backend.Allocate(2 * StepScalars.MaxFloats);
        Assert.Throws<ArgumentException>(() => backend.UploadScalars(new float[StepScalars.MaxFloats + 1], memory.All()));
        Assert.Throws<ArgumentException>(() => backend.UploadScalars(new float[3], memory.Slice(0, 1, 2)));
    }
}
