using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FinGen.Native.Backends.Cpu;
using HostMemory = FinGen.Native.Memory.HostMemory;
using static TorchSharp.torch;

namespace FinGen.Benchmarks;

/// <summary>One GEMM of the seed models: C [m, n] = op(A) [m, k] · op(B) [k, n], row-major as our Sgemm takes it.</summary>
/// <remarks>A record: BenchmarkDotNet hands each benchmark process its own instance, equal to the setup's.</remarks>
/// <param name="Role">Where the seed GAN runs this GEMM (for the README, not the table).</param>
public sealed record GemmShape(bool TransA, bool TransB, int M, int N, int K, string Role) : IFlopCount
{
    public double Flops => 2.0 * M * N * K;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')} {M}x{N}x{K}");
}

/// <summary>A register-resident FMA loop of one vector width on some threads: what this machine can do at best.</summary>
public sealed record FmaCase(int Bits, int Threads) : IFlopCount, IThreadCount
{
    /// <summary>Every FMA is 2 flops per lane.</summary>
    public double Flops => (double)Threads * FmaPeakRunner.Iterations * FmaPeakRunner.Chains * (Bits / 32) * 2;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Bits}-bit, {Threads} thread{(Threads == 1 ? "" : "s")}"); // ≤ 20 characters, or the table trims it
}

/// <summary>
/// SGEMM at the seed models' shapes: our cache-blocked, register-tiled <see cref="Sgemm"/> against torch.addmm_
/// (libtorch's BLAS) into a preallocated C with beta 0, both on <see cref="Suite.Threads"/> threads. GFLOP/s =
/// 2·m·n·k over the mean time; "% of peak" holds it against the FMA peak measured in the same run.
///
/// How the peak is measured (<see cref="FmaPeakRunner"/>): each thread runs a loop of 16 independent FMA chains,
/// acc_i = acc_i·x + y, on vectors that never leave registers (no loads or stores in the loop; 16 chains cover FMA
/// latency × FMA ports, 4 cycles × 2 on Zen), so the loop is bound only by FMA throughput. It runs once with
/// Vector512 (AVX-512F vfmadd…ps zmm) and once with Vector256 (FMA3 ymm), on 1 thread (per core) and on
/// <see cref="Suite.Threads"/> threads started together (all cores). The best of the widths at a thread count is
/// that count's peak. It is what the cores sustain as this machine is set up (clock under load, a VM's share),
/// not a datasheet figure.
/// </summary>
[Config(typeof(SgemmColumns))]
public class SgemmBenchmarks
{
    private readonly Dictionary<GemmShape, Buffers> _buffers = [];
    private FmaPeakRunner _peak = null!;

    public static IEnumerable<GemmShape> Shapes() =>
    [
        // the seed GAN at batch 256 (D sees 2B = 512 rows in its step)
        new(false, true, 512, 128, 784, "D layer 0 forward, D step"),
        new(true, false, 128, 784, 512, "D layer 0 weight gradient, D step"),
        new(false, false, 256, 784, 128, "D layer 0 input gradient (into G), G step"),
        new(false, true, 256, 784, 128, "G output layer forward"),
        new(false, false, 256, 128, 784, "G output layer input gradient"),
        new(false, true, 512, 128, 128, "D hidden layer forward, D step"),
        // the seed GAN at batch 64
        new(false, true, 128, 128, 784, "D layer 0 forward, D step, batch 64"),
        new(true, false, 128, 784, 128, "D layer 0 weight gradient, D step, batch 64"),
    ];

    public static IEnumerable<FmaCase> PeakCases()
    {
        int[] widths = Avx512F.IsSupported ? [512, 256] : Fma.IsSupported ? [256] : [];
        int[] threads = Suite.Threads > 1 ? [1, Suite.Threads] : [1];
        foreach (int w in widths)
            foreach (int t in threads)
                yield return new FmaCase(w, t);
    }

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(Suite.Threads);
        var random = new Random(12345);
        foreach (var shape in Shapes()) _buffers[shape] = new Buffers(shape, random);
        _peak = new FmaPeakRunner(Suite.Threads);
    }

    [Benchmark(Baseline = true)]
    [ArgumentsSource(nameof(Shapes))]
    public void TorchSharp(GemmShape shape)
    {
        var b = _buffers[shape];
        using var scope = NewDisposeScope();
        b.TorchC.addmm_(b.TorchOpA, b.TorchOpB, beta: 0, alpha: 1);
    }

    // Not named FinGen: the code BenchmarkDotNet generates derives from this class and names the argument type
    // FinGen.Benchmarks.GemmShape, where a method called FinGen would hide the namespace.
    [Benchmark(Description = "FinGen")]
    [ArgumentsSource(nameof(Shapes))]
    public unsafe void FinGenSgemm(GemmShape shape)
    {
        var b = _buffers[shape];
        Sgemm.Multiply(shape.TransA, shape.TransB, shape.M, shape.N, shape.K, 1f,
            b.A.Pointer, shape.TransA ? shape.M : shape.K,
            b.B.Pointer, shape.TransB ? shape.K : shape.N,
            0f, b.C.Pointer, shape.N, Suite.Threads);
    }

    [Benchmark]
    [ArgumentsSource(nameof(PeakCases))]
    public float FmaPeak(FmaCase peak) => _peak.Run(peak.Bits, peak.Threads);

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in _buffers.Values) b.Dispose();
        _peak.Dispose();
    }

    /// <summary>A, B, C for one shape: ours in 64-byte aligned host memory, torch's tensors holding the same values.</summary>
    private sealed class Buffers : IDisposable
    {
        public Buffers(GemmShape s, Random random)
        {
            A = new HostMemory((long)s.M * s.K);
            B = new HostMemory((long)s.K * s.N);
            C = new HostMemory((long)s.M * s.N);
            var a = A.All().Span;
            var b = B.All().Span;
            foreach (ref float v in a) v = random.NextSingle() - 0.5f;
            foreach (ref float v in b) v = random.NextSingle() - 0.5f;
            TorchA = s.TransA ? empty(s.K, s.M) : empty(s.M, s.K);
            TorchB = s.TransB ? empty(s.N, s.K) : empty(s.K, s.N);
            TorchA.data<float>().CopyFrom(a, 0, 0);
            TorchB.data<float>().CopyFrom(b, 0, 0);
            TorchOpA = s.TransA ? TorchA.t() : TorchA;
            TorchOpB = s.TransB ? TorchB.t() : TorchB;
            TorchC = zeros(s.M, s.N);
        }

        public HostMemory A { get; }
        public HostMemory B { get; }
        public HostMemory C { get; }
        public Tensor TorchA { get; }
        public Tensor TorchB { get; }
        public Tensor TorchOpA { get; }
        public Tensor TorchOpB { get; }
        public Tensor TorchC { get; }

        public void Dispose()
        {
            // Tensor.Equals compares values, so views are told apart from their base by reference.
            if (!ReferenceEquals(TorchOpA, TorchA)) TorchOpA.Dispose();
            if (!ReferenceEquals(TorchOpB, TorchB)) TorchOpB.Dispose();
            TorchA.Dispose();
            TorchB.Dispose();
            TorchC.Dispose();
            A.Dispose();
            B.Dispose();
            C.Dispose();
        }
    }
}

/// <summary>The SGEMM table's extra columns (the suite's own come from <see cref="Suite.Config"/>).</summary>
internal sealed class SgemmColumns : ManualConfig
{
    public SgemmColumns() => AddColumn(new GflopsColumn(), new PercentOfPeakColumn());
}

/// <summary>
/// The FMA throughput loop and the threads that run it together (see <see cref="SgemmBenchmarks"/> for the method).
/// Helper threads are started once and wait on a semaphore; a call releases as many as it needs, runs one share
/// itself and waits for the others, so thread start-up is never timed and the shares overlap fully (each is ~1–3 ms).
/// </summary>
internal sealed class FmaPeakRunner : IDisposable
{
    public const int Chains = FmaPeak.Chains;
    public const long Iterations = FmaPeak.Iterations;

    private readonly Thread[] _helpers;
    private readonly SemaphoreSlim _start = new(0);
    private readonly CountdownEvent _done = new(0);
    private readonly float[] _sinks;
    private volatile int _bits;
    private volatile bool _stopping;

    public FmaPeakRunner(int maxThreads)
    {
        _sinks = new float[maxThreads];
        _helpers = new Thread[maxThreads - 1];
        for (int i = 0; i < _helpers.Length; i++)
        {
            int slot = i + 1;
            _helpers[i] = new Thread(() => Help(slot)) { IsBackground = true, Name = $"FMA peak {slot}" };
            _helpers[i].Start();
        }
    }

    public float Run(int bits, int threads)
    {
        _bits = bits;
        int helpers = threads - 1;
        if (helpers > 0)
        {
            _done.Reset(helpers);
            _start.Release(helpers);
        }
        float result = Loop(bits);
        if (helpers > 0) _done.Wait();
        return result + _sinks[0];
    }

    private void Help(int slot)
    {
        while (true)
        {
            _start.Wait();
            if (_stopping) return;
            _sinks[slot] = Loop(_bits);
            _done.Signal();
        }
    }

    private static float Loop(int bits) => FmaPeak.Loop(bits, Iterations);

    public void Dispose()
    {
        _stopping = true;
        _start.Release(_helpers.Length);
        foreach (var t in _helpers) t.Join();
        _start.Dispose();
        _done.Dispose();
    }
}
