using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Checkpoints;
using FinGen.Native.Data;
using FinGen.Native.Models;
using FinGen.Native.Training;
using static FinGen.Native.Tests.TrainingRuns;

namespace FinGen.Native.Tests;

/// <summary>The DCGAN and the conv VAE: backends agree, runs resume exactly, checkpoints look like PyTorch's, they learn.</summary>
[TestFixture]
public sealed class ConvModelTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-conv-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // Narrow channels keep the scalar reference quick; the wiring is the same as the default [32, 64].
    private static ModelConfig Config(ModelKind kind, int batch = 8) =>
        ModelConfig.Default(kind) with { BatchSize = batch, Seed = 77, ConvChannels = [4, 8] };

    [TestCase(ModelKind.Dcgan)]
    [TestCase(ModelKind.ConvVae)]
    public void SimdBackendFollowsTheReference(ModelKind kind)
    {
        using var reference = new CpuReferenceBackend();
        using var simd = new CpuSimdBackend();
        var expected = Train(reference, Config(kind), 5);
        var actual = Train(simd, Config(kind), 5);
        for (int m = 0; m < expected[0].Length; m++)
            Compare.Close(actual.Select(l => l[m]).ToArray(), expected.Select(l => l[m]).ToArray(), 1e-4, 1e-3, $"metric {m}");
        Assert.That(expected.SelectMany(l => l), Has.All.Matches<float>(float.IsFinite));
    }

    [TestCase(ModelKind.Dcgan)]
    [TestCase(ModelKind.ConvVae)]
    public void AResumedRunEqualsAnUninterruptedOne(ModelKind kind)
    {
        using var backend = new CpuSimdBackend();
        var config = Config(kind);
        float[][] uninterrupted;
        using (var model = GenerativeModel.Create(backend, config))
        {
            model.Initialize();
            uninterrupted = Run(model, 6);
        }
        string half = Path.Combine(_dir, "half.safetensors");
        var resumed = new List<float[]>();
        using (var model = GenerativeModel.Create(backend, config))
        {
            model.Initialize();
            resumed.AddRange(Run(model, 3));
            Checkpoint.Save(half, model, MnistDigits.Metadata);
        }
        using (var model = Checkpoint.LoadModel(backend, Checkpoint.Read(half)))
            resumed.AddRange(Run(model, 3));
        Assert.That(resumed, Is.EqualTo(uninterrupted));
    }

    [Test]
    public void DcganCheckpointHasPyTorchNamesShapesAndRunningStatistics()
    {
        using var backend = new CpuSimdBackend();
        var config = Config(ModelKind.Dcgan);
        string path = Path.Combine(_dir, "dcgan.safetensors");
        using (var model = GenerativeModel.Create(backend, config))
        {
            model.Initialize();
            Run(model, 2);
            Checkpoint.Save(path, model, MnistDigits.Metadata);
        }
        var file = SafeTensors.Read(path);
        // generator = Linear(100, 8·7·7), Unflatten, BatchNorm2d(8), ReLU, ConvTranspose2d(8, 4, 4, 2, 1), BatchNorm2d(4), ReLU, ConvTranspose2d(4, 1, 4, 2, 1), Sigmoid
        Assert.That(file.Get("generator.0.weight").Shape, Is.EqualTo(new[] { 392, 100 }));
        Assert.That(file.Get("generator.2.running_mean").Shape, Is.EqualTo(new[] { 8 }));
        Assert.That(file.Get("generator.4.weight").Shape, Is.EqualTo(new[] { 8, 4, 4, 4 }));
        Assert.That(file.Get("generator.4.bias").Shape, Is.EqualTo(new[] { 4 }));
        Assert.That(file.Get("generator.7.weight").Shape, Is.EqualTo(new[] { 4, 1, 4, 4 }));
        Assert.That(file.Get("generator.7.weight.adam_m").Shape, Is.EqualTo(new[] { 4, 1, 4, 4 }));
        // discriminator = Conv2d(1, 4, 4, 2, 1), LeakyReLU, Conv2d(4, 8, 4, 2, 1), LeakyReLU, Flatten, Linear(392, 1)
        Assert.That(file.Get("discriminator.0.weight").Shape, Is.EqualTo(new[] { 4, 1, 4, 4 }));
        Assert.That(file.Get("discriminator.2.weight").Shape, Is.EqualTo(new[] { 8, 4, 4, 4 }));
        Assert.That(file.Get("discriminator.5.weight").Shape, Is.EqualTo(new[] { 1, 392 }));
        // Two training steps ran the generator forward four times in training mode: the running statistics moved.
        var runningVar = file.Get("generator.5.running_var").Data;
        Assert.That(runningVar, Has.Some.Not.EqualTo(1f));
        Assert.That(runningVar, Has.All.GreaterThan(0f));
    }

    [TestCase(ModelKind.Dcgan)]
    [TestCase(ModelKind.ConvVae)]
    public void TheSamplerMatchesTheModelInInferenceMode(ModelKind kind)
    {
        using var backend = new CpuSimdBackend();
        string path = Path.Combine(_dir, "model.safetensors");
        var expected = new float[6 * 784];
        using (var model = GenerativeModel.Create(backend, Config(kind)))
        {
            model.Initialize();
            Run(model, 3);
            Checkpoint.Save(path, model, MnistDigits.Metadata);
            model.Generate(expected, 6, seed: 5);
        }
        using var sampler = Sampler.Load(path);
        var actual = new float[6 * 784];
        sampler.Sample(actual, 6, seed: 5);
        Compare.Close(actual, expected, 1e-6, 1e-5, "samples");
        Assert.That(actual, Has.All.InRange(0f, 1f));
        // Inference mode: a sample does not depend on the others drawn with it (no batch statistics).
        var first = new float[784];
        sampler.Sample(first, 1, seed: 5);
        Compare.Close(first, actual.AsSpan(0, 784), 1e-6, 1e-5, "sample 0 alone");
    }

    [Test]
    public void ConvVaeLossFallsOnMnist()
    {
        using var backend = new CpuSimdBackend();
        var config = Config(ModelKind.ConvVae, batch: 32) with { Optimizer = new OptimizerSettings(LearningRate: 1e-3f, Beta1: 0.9f) };
        var losses = Train(backend, config, 80);
        double first = losses.Take(5).Average(l => l[0]);
        double last = losses.TakeLast(5).Average(l => l[0]);
        Assert.That(last, Is.LessThan(0.75 * first), $"loss went from {first:F1} to {last:F1}");
    }

    [Test]
    public void DcganDiscriminatorLearnsToTellRealFromFake()
    {
        using var backend = new CpuSimdBackend();
        var losses = Train(backend, Config(ModelKind.Dcgan, batch: 32) with { ConvChannels = [16, 32] }, 60);
        TestContext.Out.WriteLine(string.Join(" ", losses.Select(l => $"{l[2]:F2}/{l[3]:F2}")));
        Assert.That(losses[0][2] - losses[0][3], Is.LessThan(0.05), "D starts undecided");
        Assert.That(losses[^1][2] - losses[^1][3], Is.GreaterThan(0.1), $"d_real {losses[^1][2]}, d_fake {losses[^1][3]}");
    }

    [TestCase(ModelKind.Dcgan)]
    [TestCase(ModelKind.ConvVae)]
    public void ConvModelsNeedSquareImagesWithASideDivisibleByFour(ModelKind kind)
    {
        var e = Assert.Throws<FinGenException>(() => (Config(kind) with { DataWidth = 30 * 30, ImageSide = 30 }).Validate());
        Assert.That(e!.Message, Does.Contain("multiple of 4"));
        Assert.That(e.Message, Does.Contain(ModelConfig.CliName(kind)));
        Assert.DoesNotThrow(() => (Config(kind) with { DataWidth = 32 * 32, ImageSide = 32 }).Validate());
    }

    [Test]
    public void AOneRowWeightIsAMatrixAsInPyTorchAndOldVectorCheckpointsStillLoad()
    {
        using var backend = new CpuSimdBackend();
        var config = ModelConfig.Default(ModelKind.Gan) with { BatchSize = 8 };
        string path = Path.Combine(_dir, "gan.safetensors");
        using (var model = GenerativeModel.Create(backend, config))
        {
            model.Initialize();
            Checkpoint.Save(path, model, MnistDigits.Metadata);
        }
        var file = SafeTensors.Read(path);
        // nn.Linear(128, 1).weight is [1, 128]; its bias is [1].
        Assert.That(file.Get("discriminator.2.weight").Shape, Is.EqualTo(new[] { 1, 128 }));
        Assert.That(file.Get("discriminator.2.bias").Shape, Is.EqualTo(new[] { 1 }));

        // Earlier checkpoints wrote that weight as a vector [128]: they must still load, to the same values.
        string legacy = Path.Combine(_dir, "legacy.safetensors");
        var tensors = file.Names.Select(n => file.Get(n)).Select(t => t.Name == "discriminator.2.weight" || t.Name.StartsWith("discriminator.2.weight.", StringComparison.Ordinal)
            ? new SafeTensorsTensor(t.Name, [128], t.Data) : t).ToList();
        SafeTensors.Write(legacy, tensors, file.Metadata);
        using var loaded = Checkpoint.LoadModel(backend, Checkpoint.Read(legacy));
        var saved = Path.Combine(_dir, "resaved.safetensors");
        Checkpoint.Save(saved, loaded, MnistDigits.Metadata);
        Assert.That(SafeTensors.Read(saved).Get("discriminator.2.weight").Data, Is.EqualTo(file.Get("discriminator.2.weight").Data));
    }
}
