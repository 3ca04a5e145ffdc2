using BenchmarkDotNet.Attributes;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Models;
using static TorchSharp.torch;

namespace FinGen.Benchmarks;

/// <summary>
/// One training step of a seed model in TorchSharp, the baseline, and in our engine, from the same weights on the
/// same batch and thread count. Both include handing the host batch to the engine and reading back the metrics.
/// Subclasses name the model and their batch sizes.
/// </summary>
public abstract class TrainingStepBenchmarks
{
    private CpuSimdBackend _backend = null!;
    private GenerativeModel _ours = null!;
    private ITorchModel _torch = null!;
    private float[] _batch = [];
    private float[] _metrics = [];

    public abstract int Batch { get; set; }

    private protected abstract ModelKind Kind { get; }

    private protected abstract ITorchModel CreateTorch(ModelConfig config);

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Suite.Threads);
        var config = ModelConfig.Default(Kind) with { BatchSize = Batch };
        _backend = new CpuSimdBackend(Suite.Threads);
        _ours = GenerativeModel.Create(_backend, config);
        _ours.Initialize();
        _metrics = new float[_ours.MetricNames.Count];
        _torch = CreateTorch(config);
        _torch.CopyWeightsFrom(_ours);
        _batch = BenchmarkData.Batch(Batch);
    }

    [Benchmark(Baseline = true)]
    public void TorchSharp() => _torch.Step(_batch, _metrics);

    [Benchmark]
    public void FinGen() => _ours.TrainStep(_batch, _metrics);

    [GlobalCleanup]
    public void Cleanup()
    {
        _torch.Dispose();
        _ours.Dispose();
        _backend.Dispose();
    }
}

/// <summary>The seed GAN: one D step + one G step, Adam, BCE (what <see cref="Gan"/>'s Step does).</summary>
public class GanStepBenchmarks : TrainingStepBenchmarks
{
    [Params(1, 64, 256, 1024)]
    public override int Batch { get; set; }

    private protected override ModelKind Kind => ModelKind.Gan;

    private protected override ITorchModel CreateTorch(ModelConfig config) => new TorchGan(config, NoiseSource.Torch);
}

/// <summary>The seed VAE: BCE reconstruction + KL, Adam.</summary>
public class VaeStepBenchmarks : TrainingStepBenchmarks
{
    [Params(64, 256)]
    public override int Batch { get; set; }

    private protected override ModelKind Kind => ModelKind.Vae;

    private protected override ITorchModel CreateTorch(ModelConfig config) => new TorchVae(config, NoiseSource.Torch);
}

/// <summary>The DCGAN: the GAN step with a transposed-conv generator (batch norm) and a conv discriminator.</summary>
public class DcganStepBenchmarks : TrainingStepBenchmarks
{
    [Params(64)]
    public override int Batch { get; set; }

    private protected override ModelKind Kind => ModelKind.Dcgan;

    private protected override ITorchModel CreateTorch(ModelConfig config) => new TorchGan(config, NoiseSource.Torch);
}

/// <summary>The conv VAE: the VAE step with a conv encoder trunk and a transposed-conv decoder.</summary>
public class ConvVaeStepBenchmarks : TrainingStepBenchmarks
{
    [Params(64)]
    public override int Batch { get; set; }

    private protected override ModelKind Kind => ModelKind.ConvVae;

    private protected override ITorchModel CreateTorch(ModelConfig config) => new TorchVae(config, NoiseSource.Torch);
}
