using FinGen.Native.Backends;
using FinGen.Native.Checkpoints;
using FinGen.Native.Cuda;
using FinGen.Native.Data;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;
using FinGen.Native.Training;

namespace FinGen.Native.Tests;

/// <summary>
/// Training with a captured and replayed CUDA graph: bit for bit the eager CUDA run (same kernels, same order, same
/// values read from device memory), and within tolerance of the CPU reference; the step-scalar forms of the ops
/// against their by-value forms on the device; no managed allocation per replayed step. The CPU-side proof of the
/// capture contract is GraphReplayTests; this fixture is what only a GPU can check. Where no device
/// answers every test is ignored with the probe's reason.
/// </summary>
[TestFixture]
public sealed class CudaGraphTests : CudaFixture
{
    private const int Steps = 10;

    // Its own digits rather than TrainingRuns': the GPU check compiles this file without the CLI helpers.
    private static TrainingData? _mnist;
    private static TrainingData Mnist => _mnist ??= DataSets.FromImages(EmbeddedData.Mnist(512));

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (var kind in new[] { ModelKind.Gan, ModelKind.Vae, ModelKind.Dcgan, ModelKind.ConvVae })
            yield return new TestCaseData(kind, OptimizerKind.Adam, false).SetArgDisplayNames(ModelConfig.CliName(kind), "adam");
        yield return new TestCaseData(ModelKind.Vae, OptimizerKind.Sgd, false).SetArgDisplayNames("vae", "sgd");
        yield return new TestCaseData(ModelKind.Gan, OptimizerKind.Gd, false).SetArgDisplayNames("gan", "gd");
        // Spectral normalization: the power iteration and W/σ inside the captured step.
        foreach (var kind in new[] { ModelKind.Gan, ModelKind.Dcgan })
            yield return new TestCaseData(kind, OptimizerKind.Adam, true).SetArgDisplayNames(ModelConfig.CliName(kind), "adam", "spectral-norm");
    }

    private static ModelConfig Config(ModelKind kind, OptimizerKind optimizer, bool spectralNorm)
    {
        var config = ModelConfig.Default(kind) with { BatchSize = 32, Seed = 1234, SpectralNorm = spectralNorm };
        if (kind is ModelKind.Dcgan or ModelKind.ConvVae) config = config with { ConvChannels = [8, 16] };
        return config with { Optimizer = config.Optimizer with { Kind = optimizer } };
    }

    private sealed record Run(float[][] Metrics, byte[] Checkpoint, bool Replayed, string? GraphFailure);

    private static Run Train(IBackend backend, ModelConfig config, bool useGraph)
    {
        using var model = GenerativeModel.Create(backend, config);
        model.UseGraph = useGraph;
        model.Initialize();
        var metrics = new List<float[]>();
        new Trainer(model, Mnist).Run(Steps, (_, m) => metrics.Add(m.ToArray()));
        string path = Path.Combine(Path.GetTempPath(), $"fingen-cuda-graph-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(path, model, Mnist.Metadata);
            return new Run([.. metrics], File.ReadAllBytes(path), model.IsReplaying, model.GraphFailure);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void ReplayedTrainingEqualsEagerTrainingBitForBit(ModelKind kind, OptimizerKind optimizer, bool spectralNorm)
    {
        var cuda = Cuda();
        var config = Config(kind, optimizer, spectralNorm);
        var eager = Train(cuda, config, useGraph: false);
        var replayed = Train(cuda, config, useGraph: true);
        Assert.That(eager.Replayed, Is.False);
        Assert.That(replayed.Replayed, $"steps {GenerativeModel.GraphWarmupSteps + 2}..{Steps} are replays of a captured step; capture: {replayed.GraphFailure}");
        for (int s = 0; s < Steps; s++)
            Assert.That(replayed.Metrics[s], Is.EqualTo(eager.Metrics[s]), $"metrics of step {s + 1}");
        Assert.That(replayed.Checkpoint, Is.EqualTo(eager.Checkpoint), "checkpoint (parameters, buffers, optimizer state, counters)");
        Assert.That(eager.Metrics[^1], Is.Not.EqualTo(eager.Metrics[0]), "training moved");
    }

    /// <summary>
    /// The MLP models hold CudaParityTests' training tolerance; the conv models a looser one, since cuDNN's algorithms
    /// sum in other orders than the CPU's im2col GEMMs and ten steps of training carry those differences along.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void ReplayedTrainingFollowsTheCpuReference(ModelKind kind, OptimizerKind optimizer, bool spectralNorm)
    {
        var cuda = Cuda();
        var config = Config(kind, optimizer, spectralNorm);
        using var reference = new CpuReferenceBackend();
        var expected = Train(reference, config, useGraph: true);
        var actual = Train(cuda, config, useGraph: true);
        Assert.That(actual.Replayed, $"capture: {actual.GraphFailure}");
        bool conv = kind is ModelKind.Dcgan or ModelKind.ConvVae;
        double atol = conv ? 1e-3 : 1e-4, rtol = conv ? 1e-2 : 1e-3;
        TestContext.Out.WriteLine("cuda graph: " + string.Join(" | ", actual.Metrics.Select(m => string.Join(", ", m))));
        for (int m = 0; m < expected.Metrics[0].Length; m++)
            Compare.Close(actual.Metrics.Select(l => l[m]).ToArray(), expected.Metrics.Select(l => l[m]).ToArray(), atol, rtol, $"metric {m}");
    }

    [Test]
    public void ReplayedStepsAllocateNothingManaged()
    {
        var cuda = Cuda();
        using var model = GenerativeModel.Create(cuda, Config(ModelKind.Dcgan, OptimizerKind.Adam, spectralNorm: false));
        model.Initialize();
        var trainer = new Trainer(model, Mnist);
        trainer.Run(GenerativeModel.GraphWarmupSteps + 2);
        Assert.That(model.IsReplaying, $"capture: {model.GraphFailure}");
        long before = GC.GetAllocatedBytesForCurrentThread();
        trainer.Run(model.State.Step + 5);
        cuda.Synchronize();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "managed bytes allocated by 5 replayed steps");
    }

    [Test]
    public void StepScalarOpsEqualTheirByValueForms()
    {
        var cuda = Cuda();
        var rng = new System.Random(77);
        const int n = 100_003;
        using var scalars = new StepScalars(cuda, 2);
        ulong offset = (ulong)rng.NextInt64(0, long.MaxValue / 2) | 1, delta = 7; // odd: draws start inside a Philox block
        scalars.SetNoiseOffset(offset);
        scalars.SetAdam(0, 3e-3f, 0.8f, 0.99f, 1e-7f, 17);
        scalars.SetSgd(1, 2e-2f, 0.7f);
        scalars.Upload();

        using var noise = cuda.Allocate(2L * n);
        cuda.FillNormal(noise.Slice(0, 1, n), 99, (ulong)Philox.Stream.Noise, scalars.NoiseOffset, delta);
        cuda.FillNormal(noise.Slice(n, 1, n), 99, (ulong)Philox.Stream.Noise, offset + delta);
        var drawn = new float[2 * n];
        cuda.Download(noise.All(), drawn);
        Assert.That(drawn.AsSpan(0, n).ToArray(), Is.EqualTo(drawn.AsSpan(n, n).ToArray()), "noise at the offset in memory");
        cuda.FillStudentT(noise.Slice(0, 1, n), 99, (ulong)Philox.Stream.Noise, scalars.NoiseOffset, delta, 5);
        cuda.FillStudentT(noise.Slice(n, 1, n), 99, (ulong)Philox.Stream.Noise, offset + delta, 5);
        cuda.Download(noise.All(), drawn);
        Assert.That(drawn.AsSpan(0, n).ToArray(), Is.EqualTo(drawn.AsSpan(n, n).ToArray()), "Student-t noise at the offset in memory");

        using var p = Buffer.Random(1, n, rng); using var g = Buffer.Random(1, n, rng);
        using var m = Buffer.Random(1, n, rng, -0.1, 0.1); using var v = Buffer.Random(1, n, rng, 0, 0.1);
        var a = new[] { new DeviceBuffer(cuda, p), new DeviceBuffer(cuda, g), new DeviceBuffer(cuda, m), new DeviceBuffer(cuda, v) };
        var b = new[] { new DeviceBuffer(cuda, p), new DeviceBuffer(cuda, g), new DeviceBuffer(cuda, m), new DeviceBuffer(cuda, v) };
        try
        {
            cuda.AdamStep(a[0].T, a[1].T, a[2].T, a[3].T, scalars.OptimizerHyper(0));
            cuda.AdamStep(b[0].T, b[1].T, b[2].T, b[3].T, 3e-3f, 0.8f, 0.99f, 1e-7f, 17);
            for (int i = 0; i < 4; i++) Assert.That(a[i].Read(), Is.EqualTo(b[i].Read()), $"Adam buffer {i}");
            cuda.SgdStep(a[0].T, a[1].T, a[2].T, scalars.OptimizerHyper(1));
            cuda.SgdStep(b[0].T, b[1].T, b[2].T, 2e-2f, 0.7f);
            for (int i = 0; i < 3; i++) Assert.That(a[i].Read(), Is.EqualTo(b[i].Read()), $"SGD buffer {i}");
        }
        finally
        {
            foreach (var d in a.Concat(b)) d.Dispose();
        }
    }

    /// <summary>A captured draw and Adam step follow the values uploaded before each launch, not those of capture time.</summary>
    [Test]
    public void ACapturedStepReadsTheScalarsOfEachLaunch()
    {
        var cuda = Cuda();
        var rng = new System.Random(5);
        const int n = 4099;
        using var scalars = new StepScalars(cuda, 1);
        using var memory = cuda.Allocate(3L * n);
        var z = memory.Slice(0, 1, n);
        using var p = Buffer.Random(1, n, rng); using var g = Buffer.Random(1, n, rng);
        using var m = Buffer.Random(1, n, rng, -0.1, 0.1); using var v = Buffer.Random(1, n, rng, 0, 0.1);
        var graphBuffers = new[] { new DeviceBuffer(cuda, p), new DeviceBuffer(cuda, g), new DeviceBuffer(cuda, m), new DeviceBuffer(cuda, v) };
        var eagerBuffers = new[] { new DeviceBuffer(cuda, p), new DeviceBuffer(cuda, g), new DeviceBuffer(cuda, m), new DeviceBuffer(cuda, v) };
        try
        {
            scalars.SetNoiseOffset(0);
            scalars.SetAdam(0, 1e-3f, 0.9f, 0.999f, 1e-8f, 1);
            scalars.Upload();
            using var graph = cuda.CreateGraph();
            graph.BeginCapture();
            Assert.Throws<InvalidOperationException>(() => scalars.Upload(), "uploads are refused while capturing");
            Assert.Throws<InvalidOperationException>(() => cuda.AdamStep(graphBuffers[0].T, graphBuffers[1].T, graphBuffers[2].T, graphBuffers[3].T,
                1e-3f, 0.9f, 0.999f, 1e-8f, 1), "the by-value form uploads");
            cuda.FillNormal(z, 11, (ulong)Philox.Stream.Noise, scalars.NoiseOffset, 3);
            cuda.AdamStep(graphBuffers[0].T, graphBuffers[1].T, graphBuffers[2].T, graphBuffers[3].T, scalars.OptimizerHyper(0));
            graph.EndCapture();

            var actual = new float[n];
            var expected = new float[n];
            for (int t = 1; t <= 4; t++)
            {
                ulong offset = (ulong)rng.NextInt64(0, 1L << 40);
                scalars.SetNoiseOffset(offset);
                scalars.SetAdam(0, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
                scalars.Upload();
                graph.Launch();
                cuda.Download(z, actual);
                cuda.FillNormal(memory.Slice(n, 1, n), 11, (ulong)Philox.Stream.Noise, offset + 3);
                cuda.Download(memory.Slice(n, 1, n), expected);
                Assert.That(actual, Is.EqualTo(expected), $"launch {t}: noise");
                cuda.AdamStep(eagerBuffers[0].T, eagerBuffers[1].T, eagerBuffers[2].T, eagerBuffers[3].T, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
                Assert.That(graphBuffers[0].Read(), Is.EqualTo(eagerBuffers[0].Read()), $"launch {t}: Adam parameters");
            }
        }
        finally
        {
            foreach (var d in graphBuffers.Concat(eagerBuffers)) d.Dispose();
        }
    }

    /// <summary>
    /// A capture in progress survives another thread's synchronous copy on another backend (the legacy default stream):
    /// the backend's stream is CU_STREAM_NON_BLOCKING. With a blocking stream the copy fails with
    /// CUDA_ERROR_STREAM_CAPTURE_IMPLICIT and the capture is invalidated (the stand-in enforces this as CUDA does).
    /// </summary>
    [Test]
    public void ACaptureSurvivesADownloadFromAnotherThread()
    {
        var cuda = Cuda();
        using var other = CudaBackend.Create();
        using var elsewhere = other.Allocate(16);
        other.Synchronize();
        using var mine = cuda.Allocate(16);
        cuda.Synchronize();
        using var graph = cuda.CreateGraph();
        graph.BeginCapture();
        cuda.Fill(mine.Slice(0, 1, 16), 2.5f);
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                other.Download(elsewhere.Slice(0, 1, 16), new float[16]);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        Assert.That(failure, Is.Null, "the other thread's download");
        graph.EndCapture();
        graph.Launch();
        var back = new float[16];
        cuda.Download(mine.Slice(0, 1, 16), back);
        Assert.That(back, Has.All.EqualTo(2.5f));
    }
}
