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
        if (threads > 1 && _generator is Mlp { ConditionWidth: 0 } mlp) _split = new SplitDraw(mlp, _parameters, _sigmoidAfter, Config.NoiseDegrees, threads);
        Condition = Data.ConditionFeatures.FromMetadata(DataMetadata);
        if ((Condition?.Width ?? 0) != _generator.ConditionWidth)
            Throw.User($"checkpoint: the generator takes a condition of {_generator.ConditionWidth} values but the data metadata describes {Condition?.Width ?? 0}");
    }

    /// <summary>A conditional model's condition (how c is computed from past returns, and the start history); null otherwise.</summary>
    public Data.ConditionFeatures? Condition { get; }

    /// <summary>Values per condition row (0 for an unconditional model).</summary>
    public int ConditionWidth => _generator.ConditionWidth;

    /// <summary>Loads a checkpoint written by <c>fingen train</c> (or <see cref="Checkpoint.Save"/>).</summary>
    /// <param name="threads">
    /// Threads one <see cref="Sample"/> call may use, the calling thread included (at most 64). With 1, the default,
    /// everything runs on the caller's thread. With more, a one-sample draw from an MLP generator (the seed GAN and
    /// VAE) splits its last, widest layer between the caller and threads − 1 threads the sampler owns; they poll
    /// for the next draw for a millisecond after each one (keeping those cores busy meanwhile), then sleep. Larger
    /// draws run their matrix products on the engine's worker pool. Use it when a core is free for it and latency
    /// matters more than throughput; many callers drawing at once are better served by threads = 1 each.
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
    /// <exception cref="ObjectDisposedException">The sampler was disposed (also when <see cref="Dispose"/> began during this call's start).</exception>
    public void Sample(Span<float> destination, int count, ulong seed) => Sample(destination, count, seed, first: 0);

    /// <summary>
    /// Samples <paramref name="first"/> .. <paramref name="first"/> + <paramref name="count"/> − 1 of the sequence
    /// <see cref="Sample(Span{float}, int, ulong)"/> draws under <paramref name="seed"/>: a large draw can be made in
    /// chunks with bounded memory (chunks of a multiple of 64 samples give exactly the numbers of one draw).
    /// </summary>
    public void Sample(Span<float> destination, int count, ulong seed, long first) => Sample(destination, [], count, seed, first);

    /// <summary>
    /// A conditional model's samples: sample i is drawn given row i of <paramref name="conditions"/> [count,
    /// <see cref="ConditionWidth"/>] (standardized, as <see cref="Data.ConditionFeatures.Compute"/> writes them); with no
    /// conditions a conditional model draws at c = 0, the training windows' average. Otherwise as
    /// <see cref="Sample(Span{float}, int, ulong, long)"/>: sample i's noise does not depend on <paramref name="count"/>.
    /// </summary>
    public void Sample(Span<float> destination, ReadOnlySpan<float> conditions, int count, ulong seed, long first = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        if (!conditions.IsEmpty && ConditionWidth == 0) Throw.Argument("this model takes no condition");
        Enter();
        try
        {
            if (first == 0 && count == 1 && _split is not null && destination.Length >= SampleSize && _split.TryDraw(destination, seed)) return;
            var workspace = _workspaces.Value!;
            Sampling.Generate(_backend, _generator, _parameters, _sigmoidAfter, Config.NoiseDegrees, workspace.Activations, workspace.Latent, destination, count, seed, first,
                workspace.Condition, conditions);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    // Dispose against calls in flight: a call counts itself in, then checks the flag; Dispose sets the flag, then waits
    // for the count to drain. Both sides use full fences (Interlocked), so either the call sees the flag and throws, or
    // Dispose sees the call and waits for it: no call ever runs on freed memory.
    private int _disposed;
    private int _inFlight;

    private void Enter()
    {
        Interlocked.Increment(ref _inFlight);
        if (Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Decrement(ref _inFlight);
            throw new ObjectDisposedException(nameof(Sampler));
        }
    }

    /// <summary>Waits for <see cref="Sample"/> calls in flight to return, then frees everything; later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        var spin = new SpinWait();
        while (Volatile.Read(ref _inFlight) != 0) spin.SpinOnce(sleep1Threshold: 20);
        foreach (var w in _workspaces.Values) w.Dispose();
        _workspaces.Dispose();
        _split?.Dispose();
        _parameters.Dispose();
        _backend.Dispose();
    }

    /// <summary>
    /// One sample through an MLP generator on a <see cref="CpuGang"/>. At batch 1 every layer is a matrix-vector
    /// product bound by reading its weights from cache, and the last layer (128→784 in the seed GAN, 400 KB) holds
    /// most of them, so only it is split: each member draws the latent vector and runs the narrow front layers
    /// itself (cheaper than a barrier, which costs two cache-line transfers between cores), then computes one
    /// contiguous slice of the last layer's outputs and writes it into the caller's buffer. Slices are whole
    /// 16-row blocks, so every output goes through the same code as in an unsplit draw (<see cref="Mlp.ForwardSlice"/>)
    /// and the numbers are identical.
    /// </summary>
    private sealed unsafe class SplitDraw : IDisposable
    {
        private readonly Mlp _mlp;
        private readonly ParameterSet _parameters;
        private readonly bool _sigmoidAfter;
        private readonly int _noiseDegrees;
        private readonly CpuSimdBackend _backend = new(threads: 1);
        private readonly CpuGang _gang;
        private readonly MlpWorkspace[] _activations; // one per member
        private readonly DeviceMemory _latent;        // one row per member
        private readonly int[] _bounds;               // member m computes last-layer outputs [_bounds[m], _bounds[m + 1])
        private readonly int _blocks;                 // 16-row blocks in the last layer
        private GCHandle _self;

        private struct Job
        {
            public nint Self;
            public float* Destination;
            public ulong Seed;
        }

        public SplitDraw(Mlp mlp, ParameterSet parameters, bool sigmoidAfter, int noiseDegrees, int threads)
        {
            _mlp = mlp;
            _noiseDegrees = noiseDegrees;
            _parameters = parameters;
            _sigmoidAfter = sigmoidAfter;
            _activations = new MlpWorkspace[threads];
            for (int m = 0; m < threads; m++) _activations[m] = (MlpWorkspace)mlp.CreateWorkspace(_backend, 1);
            _latent = _backend.Allocate((long)threads * mlp.InputWidth);
            _blocks = (mlp.OutputWidth + 15) / 16;
            _bounds = new int[threads + 1];
            Deal(_blocks / threads);
            _gang = new CpuGang(threads, TimeSpan.FromMilliseconds(1));
            _self = GCHandle.Alloc(this);
        }

        public bool TryDraw(Span<float> destination, ulong seed)
        {
            fixed (float* d = destination)
            {
                var job = new Job { Self = GCHandle.ToIntPtr(_self), Destination = d, Seed = seed };
                if (!_gang.TryRun(&Part, &job)) return false;
            }
            // Balance the parts, one 16-row block at a time: the partners start a cache-line transfer after the
            // caller and their finish reaches it one transfer late, so on a VM where that takes ~0.3 µs the caller
            // should take more than an even share, and on a machine with fast transfers less. Only which thread
            // computes a row changes, never how, so the samples stay identical. (Between jobs, the caller is
            // the only one touching the bounds; the next fork publishes them.)
            int callerBlocks = _bounds[1] / 16, partners = _gang.Size - 1;
            bool callerWaited = _gang.LastJoinWaits > 0;
            if (callerWaited && _blocks - callerBlocks > partners) Deal(callerBlocks + 1); // every partner keeps a block
            else if (!callerWaited && callerBlocks > 1) Deal(callerBlocks - 1);
            return true;
        }

        /// <summary>The caller's part is its first <paramref name="callerBlocks"/> blocks of 16 rows; the partners share the rest evenly.</summary>
        private void Deal(int callerBlocks)
        {
            int width = _mlp.OutputWidth, partners = _bounds.Length - 2; // _bounds has one entry per member, plus the end
            _bounds[0] = 0;
            for (int m = 1; m < _bounds.Length; m++)
                _bounds[m] = Math.Min(width, 16 * (callerBlocks + (int)((long)(_blocks - callerBlocks) * (m - 1) / partners)));
        }

        private static void Part(int member, void* state)
        {
            var job = (Job*)state;
            var self = (SplitDraw)GCHandle.FromIntPtr(job->Self).Target!;
            var mlp = self._mlp;
            var backend = self._backend;
            var work = self._activations[member];
            var x = self._latent.Slice((long)member * mlp.InputWidth, 1, mlp.InputWidth);
            LatentNoise.Fill(backend, x, self._noiseDegrees, job->Seed, (ulong)Philox.Stream.Sample, 0); // sample 0's offset, as in an unsplit draw
            int last = mlp.Layers - 1;
            for (int l = 0; l < last; l++)
            {
                mlp.ForwardSlice(backend, self._parameters, l, x, work.PreActivation(l, 1), work.Activated(l, 1), 0, mlp.Widths[l + 1]);
                x = work.Activated(l, 1);
            }
            int from = self._bounds[member], to = self._bounds[member + 1];
            if (from == to) return;
            var post = work.Activated(last, 1);
            mlp.ForwardSlice(backend, self._parameters, last, x, work.PreActivation(last, 1), post, from, to);
            var slice = new Tensor(post.Data + from, 1, to - from);
            if (self._sigmoidAfter) backend.SigmoidForward(slice, slice);
            slice.Span.CopyTo(new Span<float>(job->Destination + from, to - from));
        }

        public void Dispose()
        {
            _gang.Dispose();
            if (_self.IsAllocated) _self.Free();
            foreach (var work in _activations) work.Dispose();
            _latent.Dispose();
            _backend.Dispose();
        }
    }

    private sealed class Workspace(CpuSimdBackend backend, Network generator) : IDisposable
    {
        public NetworkWorkspace Activations { get; } = generator.CreateWorkspace(backend, Chunk);
        public DeviceMemory Latent { get; } = backend.Allocate((long)Chunk * generator.InputWidth);
        public DeviceMemory? Condition { get; } = generator.ConditionWidth > 0 ? backend.Allocate((long)Chunk * generator.ConditionWidth) : null;

        public void Dispose()
        {
            Activations.Dispose();
            Latent.Dispose();
            Condition?.Dispose();
        }
    }
}
