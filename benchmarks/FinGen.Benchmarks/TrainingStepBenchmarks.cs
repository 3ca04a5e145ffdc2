using BenchmarkDotNet.Attributes;
using FinGen.Native.Backends;
using FinGen.Native.Data;
using FinGen.Native.Models;
using FinGen.Native.Training;

namespace FinGen.Benchmarks;

/// <summary>
/// One training step of the seed models on each CPU backend. The framework baseline (TorchSharp) joins this
/// class as the Baseline in the benchmarks issue, so that the Ratio column is the figure.
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    private GenerativeModel _model = null!;
    private Trainer _trainer = null!;
    private IBackend _backend = null!;

    [Params("gan", "vae")]
    public string Model { get; set; } = "gan";

    [Params(64, 256)]
    public int Batch { get; set; }

    [Params("cpu")]
    public string Backend { get; set; } = "cpu";

    [GlobalSetup]
    public void Setup()
    {
        _backend = FinGen.Native.Backends.Backend.CreateCpu(Backend);
        var kind = Model == "vae" ? ModelKind.Vae : ModelKind.Gan;
        _model = GenerativeModel.Create(_backend, ModelConfig.Default(kind) with { BatchSize = Batch });
        _model.Initialize();
        _trainer = new Trainer(_model, DataSets.FromImages(EmbeddedData.Mnist(2048)));
    }

    [Benchmark]
    public void Step() => _trainer.Run(_model.State.Step + 1);

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _backend.Dispose();
    }
}
