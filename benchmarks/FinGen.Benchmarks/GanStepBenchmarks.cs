using BenchmarkDotNet.Attributes;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Models;
using static TorchSharp.torch;

namespace FinGen.Benchmarks;

/// <summary>
/// One training step of the seed GAN (one D step + one G step, Adam, BCE: what <see cref="Gan"/>'s Step does) in
/// TorchSharp, the baseline, and in our engine, from the same weights on the same batch and thread count.
/// Both include handing the host batch to the engine and reading back the four metrics.
/// </summary>
public class GanStepBenchmarks
{
    private CpuSimdBackend _backend = null!;
    private GenerativeModel _ours = null!;
    private TorchGan _torch = null!;
    private float[] _batch = [];
    private readonly float[] _metrics = new float[4];

    [Params(1, 64, 256, 1024)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Suite.Threads);
        var config = ModelConfig.Default(ModelKind.Gan) with { BatchSize = Batch };
        _backend = new CpuSimdBackend(Suite.Threads);
        _ours = GenerativeModel.Create(_backend, config);
        _ours.Initialize();
        _torch = new TorchGan(config, NoiseSource.Torch);
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
