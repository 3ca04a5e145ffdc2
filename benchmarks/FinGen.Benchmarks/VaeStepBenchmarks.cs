using BenchmarkDotNet.Attributes;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Models;
using static TorchSharp.torch;

namespace FinGen.Benchmarks;

/// <summary>One training step of the seed VAE (BCE reconstruction + KL, Adam) in TorchSharp, the baseline, and in ours.</summary>
public class VaeStepBenchmarks
{
    private CpuSimdBackend _backend = null!;
    private GenerativeModel _ours = null!;
    private TorchVae _torch = null!;
    private float[] _batch = [];
    private readonly float[] _metrics = new float[3];

    [Params(64, 256)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Suite.Threads);
        var config = ModelConfig.Default(ModelKind.Vae) with { BatchSize = Batch };
        _backend = new CpuSimdBackend(Suite.Threads);
        _ours = GenerativeModel.Create(_backend, config);
        _ours.Initialize();
        _torch = new TorchVae(config, NoiseSource.Torch);
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
