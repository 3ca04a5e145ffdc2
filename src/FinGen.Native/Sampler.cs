using FinGen.Native.Backends.Cpu;
using FinGen.Native.Checkpoints;
using FinGen.Native.Memory;
using FinGen.Native.Models;

namespace FinGen.Native;

/// <summary>
/// The embedding API: load a trained checkpoint, then draw samples.
/// <code>
/// using var sampler = Sampler.Load("runs/gan/checkpoint.safetensors");
/// var images = new float[16 * sampler.SampleSize];
/// sampler.Sample(images, count: 16, seed: 7);
/// </code>
/// <see cref="Sample"/> is safe to call from many threads at once and allocates nothing after a thread's
/// first call: each thread gets its own workspace once, the weights are shared read-only, and the GEMMs run
/// on the calling thread (latency-sensitive callers bring their own parallelism).
/// </summary>
public sealed class Sampler : IDisposable
{
    private const int Chunk = 64;
    private readonly CpuSimdBackend _backend = new(threads: 1);
    private readonly ParameterSet _parameters;
    private readonly Network _generator;
    private readonly bool _sigmoidAfter;
    private readonly ThreadLocal<Workspace> _workspaces;

    private Sampler(Checkpoint.CheckpointFile checkpoint)
    {
        Config = checkpoint.Config;
        DataMetadata = checkpoint.Data;
        var layout = new ParameterLayout();
        _generator = Config.BuildGenerator(layout, out _sigmoidAfter);
        _parameters = new ParameterSet(_backend, layout);
        foreach (var (t, shape) in _parameters.SavedTensors()) checkpoint.CopyInto(_backend, t, shape);
        _workspaces = new ThreadLocal<Workspace>(() => new Workspace(_backend, _generator), trackAllValues: true);
    }

    public static Sampler Load(string checkpointPath) => new(Checkpoint.Read(checkpointPath));

    public ModelConfig Config { get; }

    /// <summary>What the checkpoint says about its data (e.g. the image encoding), for decoding samples.</summary>
    public IReadOnlyDictionary<string, string> DataMetadata { get; }

    /// <summary>Values per sample.</summary>
    public int SampleSize => _generator.OutputWidth;

    public int LatentSize => _generator.InputWidth;

    /// <summary>
    /// Writes <paramref name="count"/> samples [count, SampleSize] in [0, 1] into <paramref name="destination"/>.
    /// The same seed gives the same samples, and sample i does not depend on <paramref name="count"/>.
    /// </summary>
    public void Sample(Span<float> destination, int count, ulong seed)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var workspace = _workspaces.Value!;
        Sampling.Generate(_backend, _generator, _parameters, _sigmoidAfter, workspace.Activations, workspace.Latent, destination, count, seed);
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var w in _workspaces.Values) w.Dispose();
        _workspaces.Dispose();
        _parameters.Dispose();
        _backend.Dispose();
    }

    private sealed class Workspace(CpuSimdBackend backend, Network generator) : IDisposable
    {
        public NetworkWorkspace Activations { get; } = generator.CreateWorkspace(backend, Chunk);
        public DeviceMemory Latent { get; } = backend.Allocate((long)Chunk * generator.InputWidth);

        public void Dispose()
        {
            Activations.Dispose();
            Latent.Dispose();
        }
    }
}
