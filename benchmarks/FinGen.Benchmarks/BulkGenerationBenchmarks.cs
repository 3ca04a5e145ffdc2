using System.Globalization;
using BenchmarkDotNet.Attributes;
using FinGen.Native.Backends.Cpu;
using DeviceMemory = FinGen.Native.Memory.DeviceMemory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;
using static TorchSharp.torch;
using FgTensor = FinGen.Native.Memory.Tensor;

namespace FinGen.Benchmarks;

/// <summary>
/// Bulk scenario generation's arithmetic: the GAN generator's forward on a large batch of latent vectors, ours
/// (<see cref="Network.Forward"/> on <see cref="CpuSimdBackend"/>) against the same generator in TorchSharp (the
/// <see cref="TorchMlp"/> twin under no_grad), same weights, same latent batch, both on <see cref="Suite.Threads"/>
/// threads. <c>fingen sample --paths 100000 --length 252</c> draws 900,000 windows; batches of 4,096 and 16,384 are
/// what a bulk draw hands the generator at once. Width 28 is the price GAN that command samples (one window of 28
/// returns a sample), 784 the seed image GAN. The latent noise is drawn once, outside the timing. Both outputs are
/// checked against each other before anything is timed.
/// </summary>
public class BulkGenerationBenchmarks
{
    private CpuSimdBackend _backend = null!;
    private ParameterSet _parameters = null!;
    private Network _generator = null!;
    private NetworkWorkspace _workspace = null!;
    private DeviceMemory _latentMemory = null!;
    private FgTensor _latent;
    private TorchMlp _torch = null!;
    private TorchSharp.torch.Tensor _torchLatent = null!;

    [Params(4096, 16384)]
    public int Batch { get; set; }

    /// <summary>Values a sample: 28 (the price GAN's window of returns) or 784 (the seed GAN's 28×28 image).</summary>
    [Params(28, 784)]
    public int Width { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Suite.Threads);
        var config = ModelConfig.Default(ModelKind.Gan) with { DataWidth = Width, ImageSide = Width == 784 ? 28 : 0 };
        _backend = new CpuSimdBackend(Suite.Threads);
        var layout = new ParameterLayout();
        _generator = config.BuildGenerator(layout, out bool sigmoidAfter);
        if (sigmoidAfter) throw new InvalidOperationException("the GAN's generator ends in its own sigmoid");
        _parameters = new ParameterSet(_backend, layout);
        ulong offset = 0;
        _parameters.Initialize(seed: 1, ref offset);
        _workspace = _generator.CreateWorkspace(_backend, Batch);

        var latent = new float[Batch * config.LatentSize];
        Philox.FillNormal(latent, seed: 2, (ulong)Philox.Stream.Sample, 0);
        _latentMemory = _backend.Allocate(latent.Length);
        _latent = _latentMemory.Slice(0, Batch, config.LatentSize);
        _backend.Upload(latent, _latent);
        _torch = new TorchMlp("generator", (Mlp)_generator);
        _torch.CopyFrom(_parameters.SavedTensors().Select(t => t.Tensor));
        _torch.eval();
        _torchLatent = tensor(latent, [Batch, config.LatentSize]);
        CheckParity();
    }

    /// <summary>Both engines' outputs agree within |a − b| ≤ 1e-5 + 1e-4·|torch| everywhere, or nothing is timed.</summary>
    private void CheckParity()
    {
        var ours = new float[Batch * Width];
        _backend.Download(_generator.Forward(_backend, _parameters, _latent, _workspace, training: false), ours);
        float[] theirs;
        using (no_grad())
        using (var y = _torch.forward(_torchLatent)) theirs = y.data<float>().ToArray();
        double worst = 0;
        int at = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            double excess = Math.Abs(ours[i] - theirs[i]) - (1e-5 + 1e-4 * Math.Abs(theirs[i]));
            if (excess > worst) (worst, at) = (excess, i);
        }
        if (worst > 0)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"the generators disagree at output {at}: FinGen {ours[at]:R}, TorchSharp {theirs[at]:R}"));
    }

    [Benchmark(Baseline = true)]
    public void TorchSharp()
    {
        using var noGrad = no_grad();
        using var y = _torch.forward(_torchLatent);
    }

    [Benchmark]
    public void FinGen() => _generator.Forward(_backend, _parameters, _latent, _workspace, training: false);

    [GlobalCleanup]
    public void Cleanup()
    {
        _torchLatent.Dispose();
        _torch.Dispose();
        _latentMemory.Dispose();
        _workspace.Dispose();
        _parameters.Dispose();
        _backend.Dispose();
    }
}
