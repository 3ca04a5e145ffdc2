using BenchmarkDotNet.Attributes;
using FinGen.Native;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Checkpoints;
using FinGen.Native.Models;
using static TorchSharp.torch;

namespace FinGen.Benchmarks;

/// <summary>
/// Drawing samples from a trained seed-GAN checkpoint: our embedding API (<see cref="Sampler.Sample"/>: Philox
/// normals, generator forward, copy into the caller's span) against the TorchSharp generator with the same weights
/// (normal_ into a preallocated latent, forward under no_grad, copy into the same span).
/// By default Sampler runs everything on the calling thread (callers bring their own parallelism), so torch gets
/// one thread here too; <see cref="SamplingTwoThreadsBenchmarks"/> gives both engines two.
/// </summary>
[EngineThreads(1)]
public class SamplingBenchmarks
{
    /// <summary>Threads per call, for both engines (must match the class's EngineThreads, which the report shows).</summary>
    protected virtual int Threads => 1;

    private const ulong Seed = 7;
    private string _directory = "";
    private Sampler _sampler = null!;
    private TorchMlp _generator = null!;
    private Tensor _latent = null!;
    private float[] _destination = [];

    [Params(1, 4096)]
    public int Count { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Threads);
        var config = ModelConfig.Default(ModelKind.Gan);
        using var backend = new CpuSimdBackend(1);
        using var model = GenerativeModel.Create(backend, config);
        model.Initialize();
        _directory = Directory.CreateTempSubdirectory("fingen-bench-").FullName;
        string path = Path.Combine(_directory, Checkpoint.FileName);
        Checkpoint.Save(path, model, new Dictionary<string, string>());
        _sampler = Sampler.Load(path, Threads);
        _generator = new TorchMlp("generator", (Mlp)config.BuildGenerator(new ParameterLayout(), out bool sigmoidAfter));
        if (sigmoidAfter) throw new InvalidOperationException("the seed GAN's generator ends in its own sigmoid");
        _generator.CopyFrom(model);
        _generator.eval();
        _latent = empty(Count, config.LatentSize);
        _destination = new float[Count * _sampler.SampleSize];
    }

    [Benchmark(Baseline = true)]
    public void TorchSharp()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _latent.normal_();
        _generator.forward(_latent).data<float>().CopyTo(_destination, 0, 0);
    }

    [Benchmark]
    public void FinGen() => _sampler.Sample(_destination, Count, Seed);

    [GlobalCleanup]
    public void Cleanup()
    {
        _latent.Dispose();
        _generator.Dispose();
        _sampler.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>
/// Sampling with two threads per call for both engines: Sampler splits the last layer of a one-sample draw between
/// the caller and a partner thread it owns (<c>Sampler.Load(path, threads: 2)</c>), and runs larger draws' GEMMs on
/// the worker pool; torch gets two intra-op threads.
/// </summary>
[EngineThreads(2)]
public class SamplingTwoThreadsBenchmarks : SamplingBenchmarks
{
    protected override int Threads => 2;
}
