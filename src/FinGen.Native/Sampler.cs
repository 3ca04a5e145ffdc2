using System.Runtime.InteropServices;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Checkpoints;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native;

/// <summary>
/// The embedding API: load a trained checkpoint, then draw samples.
/// <code>
/// using var sampler = Sampler.Load("runs/gan/checkpoint.safetensors");
/// var images = new float[16 * sampler.SampleSize];
/// sampler.Sample(images, count: 16, seed: 7);
/// </code>
/// <see cref="Sample"/> is safe to call from many threads at once and allocates nothing after a thread's
/// first call: each thread gets its own workspace once and the weights are shared read-only. By default
/// everything runs on the calling thread (latency-sensitive callers bring their own parallelism); see
/// <see cref="Load"/>'s <c>threads</c> for spending more cores on one call. The same seed gives the same
/// samples, bit for bit, whatever the thread count.
/// </summary>
public sealed class Sampler : IDisposable
{
    private const int Chunk = 64;
    private readonly CpuSimdBackend _backend;
    private readonly ParameterSet _parameters;
    private readonly Network _generator;
    private readonly bool _sigmoidAfter;
    private readonly ThreadLocal<Workspace> _workspaces;
    private readonly SplitDraw? _split;

    private Sampler(Checkpoint.CheckpointFile checkpoint, int threads)
    {
        Config = checkpoint.Config;
        DataMetadata = checkpoint.Data;
        Threads = threads;
        _backend = new CpuSimdBackend(threads);
        var layout = new ParameterLayout();
        _generator = Config.BuildGenerator(layout, out _sigmoidAfter);
        _parameters = new ParameterSet(_backend, layout);
        foreach (var (t, shape) in _parameters.SavedTensors()) checkpoint.CopyInto(_backend, t, shape);
        _workspaces = new ThreadLocal<Workspace>(() => new Workspace(_backend, _generator), trackAllValues: true);
        if (threads > 1 && _generator is Mlp mlp) _split = new SplitDraw(mlp, _parameters, _sigmoidAfter, threads);
    }

    /// <summary>Loads a checkpoint written by <c>fingen train</c> (or <see cref="Checkpoint.Save"/>).</summary>
    /// <param name="threads">
    /// Threads one <see cref="Sample"/> call may use, the calling thread included (at most 64). With 1, the default,
    /// everything runs on the caller's thread. With more, a one-sample draw from an MLP generator (the seed GAN and
    /// VAE) is split layer by layer across the caller and threads − 1 threads the sampler owns; they poll for the
    /// next draw for a millisecond after each one (keeping those cores busy meanwhile), then sleep. Larger draws
    /// run their matrix products on the engine's worker pool. Use it when a core is free for it and latency matters
    /// more than throughput; many callers drawing at once are better served by threads = 1 each.
    /// </param>
    public static Sampler Load(string checkpointPath, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads, 64);
        return new(Checkpoint.Read(checkpointPath), threads);
    }

    /// <summary>Threads one call may use (see <see cref="Load"/>).</summary>
    public int Threads { get; }

    public ModelConfig Config { get; }

    /// <summary>What the checkpoint says about its data (e.g. the image encoding), for decoding samples.</summary>
    public IReadOnlyDictionary<string, string> DataMetadata { get; }

    /// <summary>Values per sample.</summary>
    public int SampleSize => _generator.OutputWidth;

    public int LatentSize => _generator.InputWidth;

    /// <summary>
    /// Writes <paramref name="count"/> samples [count, SampleSize] in [0, 1] into <paramref name="destination"/>.
    /// The same seed gives the same samples, bit for bit for any thread count, and sample i is the same whatever
    /// <paramref name="count"/> up to float rounding (one sample takes matrix-vector products, several take blocked GEMMs).
    /// </summary>
    public void Sample(Span<float> destination, int count, ulong seed)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count == 1 && _split is not null && destination.Length >= SampleSize && _split.TryDraw(destination, seed)) return;
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
        _split?.Dispose();
        _parameters.Dispose();
        _backend.Dispose();
    }

    /// <summary>
    /// One sample through an MLP generator on a <see cref="CpuGang"/>: every member draws the latent vector itself
    /// (cheaper than waiting for one copy), then each layer's outputs are dealt out in contiguous slices, one per
    /// member, with a barrier before the next layer reads them. At batch 1 each layer is a matrix-vector product
    /// bound by reading its weights from cache, so a slice per core divides the time of the big last layer.
    /// Slices are multiples of 16 rows (except the layer's last), so every output goes through the same code as in
    /// an unsplit draw — <see cref="Mlp.ForwardSlice"/> — and the numbers are identical.
    /// </summary>
    private sealed unsafe class SplitDraw : IDisposable
    {
        private readonly Mlp _mlp;
        private readonly ParameterSet _parameters;
        private readonly bool _sigmoidAfter;
        private readonly CpuSimdBackend _backend = new(threads: 1);
        private readonly CpuGang _gang;
        private readonly MlpWorkspace _activations;
        private readonly DeviceMemory _latent;       // one row per member
        private readonly int[,] _bounds;             // [layer, member] first output; [layer, Size] = layer width
        private GCHandle _self;

        private struct Job
        {
            public nint Self;
            public float* Destination;
            public ulong Seed;
        }

        public SplitDraw(Mlp mlp, ParameterSet parameters, bool sigmoidAfter, int threads)
        {
            _mlp = mlp;
            _parameters = parameters;
            _sigmoidAfter = sigmoidAfter;
            _activations = (MlpWorkspace)mlp.CreateWorkspace(_backend, 1);
            _latent = _backend.Allocate((long)threads * mlp.InputWidth);
            _bounds = new int[mlp.Layers, threads + 1];
            for (int l = 0; l < mlp.Layers; l++)
            {
                int width = mlp.Widths[l + 1];
                int blocks = (width + 15) / 16;
                for (int m = 0; m <= threads; m++) _bounds[l, m] = Math.Min(width, (int)((long)blocks * m / threads) * 16);
            }
            _gang = new CpuGang(threads, TimeSpan.FromMilliseconds(1));
            _self = GCHandle.Alloc(this);
        }

        public bool TryDraw(Span<float> destination, ulong seed)
        {
            fixed (float* d = destination)
            {
                var job = new Job { Self = GCHandle.ToIntPtr(_self), Destination = d, Seed = seed };
                return _gang.TryRun(&Part, &job);
            }
        }

        private static void Part(int member, CpuGang gang, void* state)
        {
            var job = (Job*)state;
            var self = (SplitDraw)GCHandle.FromIntPtr(job->Self).Target!;
            var mlp = self._mlp;
            var backend = self._backend;
            var x = self._latent.Slice((long)member * mlp.InputWidth, 1, mlp.InputWidth);
            backend.FillNormal(x, job->Seed, (ulong)Philox.Stream.Sample, 0); // sample 0's offset, as in an unsplit draw
            int last = mlp.Layers - 1;
            for (int l = 0; l <= last; l++)
            {
                int from = self._bounds[l, member], to = self._bounds[l, member + 1];
                var pre = self._activations.PreActivation(l, 1);
                var post = self._activations.Activated(l, 1);
                if (from < to)
                {
                    mlp.ForwardSlice(backend, self._parameters, l, x, pre, post, from, to);
                    if (l == last)
                    {
                        var slice = new Tensor(post.Data + from, 1, to - from);
                        if (self._sigmoidAfter) backend.SigmoidForward(slice, slice);
                        slice.Span.CopyTo(new Span<float>(job->Destination + from, to - from));
                    }
                }
                if (l < last) gang.Barrier(member);
                x = post;
            }
        }

        public void Dispose()
        {
            _gang.Dispose();
            if (_self.IsAllocated) _self.Free();
            _activations.Dispose();
            _latent.Dispose();
            _backend.Dispose();
        }
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
