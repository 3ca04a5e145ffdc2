using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FinGen.Native.Backends.Cpu;

/// <summary>One FMA throughput measurement: a vector width on some threads at once.</summary>
public sealed record FmaRate(int Bits, int Threads, double Gflops)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Gflops:F0} GFLOP/s ({Bits}-bit, {Threads} thread{(Threads == 1 ? "" : "s")})");
}

/// <summary>
/// The FMA peak this machine sustains as it is set up (its clock under load, a VM's share of a core), measured, not
/// taken from a datasheet: each thread runs <see cref="Chains"/> independent chains acc = acc·x + y on vectors that never
/// leave registers (12 chains cover FMA latency × FMA ports, 4–5 cycles × 2 on Zen 3 to 5, and with x and y fit the 16 ymm
/// registers of AVX2: the 16 chains used before spilled to the stack on Zen 3, which measured 49 GFLOP/s a thread where
/// TorchSharp's SGEMM then ran at 120–140 % of it), with no loads or stores, so the loop
/// is bound by FMA throughput alone. Once with Vector512 (AVX-512F) and once with Vector256 (FMA3), on one thread and on
/// every logical core at once; the best of a few repetitions counts. The ratio of the 512-bit to the 256-bit rate on one
/// thread tells how the part executes 512-bit FMAs: about 2 on full-width units (Zen 5 Turin), about 1 where each is
/// split in two halves (Zen 4).
/// </summary>
public sealed record FmaPeak(IReadOnlyList<FmaRate> Rates)
{
    public const int Chains = 12;
    /// <summary>Loop trips of one measurement: 12 M FMAs a thread, a few milliseconds.</summary>
    public const long Iterations = 1 << 20;

    /// <summary>The best rate on one thread, whichever width.</summary>
    public FmaRate PerThread => Rates.Where(r => r.Threads == 1).MaxBy(r => r.Gflops)!;

    /// <summary>The best rate on every core at once, whichever width.</summary>
    public FmaRate AllThreads => Rates.Where(r => r.Threads == Rates.Max(x => x.Threads)).MaxBy(r => r.Gflops)!;

    /// <summary>512-bit over 256-bit rate on one thread, or null without both widths.</summary>
    public double? WideOverNarrow =>
        Rates.FirstOrDefault(r => r.Bits == 512 && r.Threads == 1) is { } wide && Rates.FirstOrDefault(r => r.Bits == 256 && r.Threads == 1) is { } narrow
            ? wide.Gflops / narrow.Gflops : null;

    /// <summary>"212 GFLOP/s per thread (512-bit), 417 GFLOP/s on 2 threads; 512-bit FMAs 1.93× the 256-bit rate".</summary>
    public override string ToString()
    {
        if (Rates.Count == 0) return "no FMA instructions here";
        string ratio = WideOverNarrow is { } r ? string.Create(CultureInfo.InvariantCulture, $"; 512-bit FMAs {r:F2}× the 256-bit rate on one thread") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{PerThread.Gflops:F0} GFLOP/s per thread ({PerThread.Bits}-bit), {AllThreads.Gflops:F0} GFLOP/s on {AllThreads.Threads} threads{ratio}");
    }

    /// <summary>
    /// Measures the widths this CPU has on 1 and on <paramref name="threads"/> threads (default: every logical core),
    /// about 0.2 s. The repetitions go round every case in turn, so that a busy moment on shared cores costs each case
    /// a run alike rather than all of one case's runs.
    /// </summary>
    public static FmaPeak Measure(int threads = 0, int repetitions = 15)
    {
        if (threads <= 0) threads = Environment.ProcessorCount;
        var widths = new List<int>();
        if (Avx512F.IsSupported) widths.Add(512);
        if (Fma.IsSupported) widths.Add(256);
        var cases = widths.SelectMany(bits => (threads == 1 ? new[] { 1 } : [1, threads]).Select(count => (Bits: bits, Threads: count))).ToArray();
        var best = new double[cases.Length];
        for (int r = 0; r < repetitions; r++)
            for (int c = 0; c < cases.Length; c++) best[c] = Math.Max(best[c], Rate(cases[c].Bits, cases[c].Threads));
        return new FmaPeak(cases.Select((c, i) => new FmaRate(c.Bits, c.Threads, best[i])).ToArray());
    }

    /// <summary>GFLOP/s of one run of the loop on <paramref name="threads"/> threads released together.</summary>
    private static double Rate(int bits, int threads)
    {
        using var start = new Barrier(threads);
        var workers = new Thread[threads - 1];
        for (int t = 0; t < workers.Length; t++)
        {
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait();
                Sink(Loop(bits, Iterations));
            }) { IsBackground = true };
            workers[t].Start();
        }
        start.SignalAndWait();
        long begin = Stopwatch.GetTimestamp();
        Sink(Loop(bits, Iterations));
        foreach (var w in workers) w.Join();
        long end = Stopwatch.GetTimestamp();
        return Flops(bits, threads) / Stopwatch.GetElapsedTime(begin, end).TotalSeconds / 1e9;
    }

    /// <summary>Flops of one measurement: every FMA is 2 a lane.</summary>
    public static double Flops(int bits, int threads) => (double)threads * Iterations * Chains * (bits / 32) * 2;

    private static float _sink;

    private static void Sink(float value) => Volatile.Write(ref _sink, value);

    /// <summary>The loop at a width: <paramref name="iterations"/> trips of <see cref="Chains"/> FMAs; the sum keeps it from being optimized away.</summary>
    public static float Loop(int bits, long iterations) => bits == 512 ? Loop512(iterations) : Loop256(iterations);

    // acc = acc·x + y with x just under 1: values stay finite and normal (no denormal slow paths) for any length.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Loop512(long iterations)
    {
        var x = Vector512.Create(0.9999999f);
        var y = Vector512.Create(1e-3f);
        Vector512<float> a0 = Vector512.Create(0.00f), a1 = Vector512.Create(0.01f), a2 = Vector512.Create(0.02f), a3 = Vector512.Create(0.03f);
        Vector512<float> a4 = Vector512.Create(0.04f), a5 = Vector512.Create(0.05f), a6 = Vector512.Create(0.06f), a7 = Vector512.Create(0.07f);
        Vector512<float> a8 = Vector512.Create(0.08f), a9 = Vector512.Create(0.09f), a10 = Vector512.Create(0.10f), a11 = Vector512.Create(0.11f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, x, y); a1 = Avx512F.FusedMultiplyAdd(a1, x, y);
            a2 = Avx512F.FusedMultiplyAdd(a2, x, y); a3 = Avx512F.FusedMultiplyAdd(a3, x, y);
            a4 = Avx512F.FusedMultiplyAdd(a4, x, y); a5 = Avx512F.FusedMultiplyAdd(a5, x, y);
            a6 = Avx512F.FusedMultiplyAdd(a6, x, y); a7 = Avx512F.FusedMultiplyAdd(a7, x, y);
            a8 = Avx512F.FusedMultiplyAdd(a8, x, y); a9 = Avx512F.FusedMultiplyAdd(a9, x, y);
            a10 = Avx512F.FusedMultiplyAdd(a10, x, y); a11 = Avx512F.FusedMultiplyAdd(a11, x, y);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Loop256(long iterations)
    {
        var x = Vector256.Create(0.9999999f);
        var y = Vector256.Create(1e-3f);
        Vector256<float> a0 = Vector256.Create(0.00f), a1 = Vector256.Create(0.01f), a2 = Vector256.Create(0.02f), a3 = Vector256.Create(0.03f);
        Vector256<float> a4 = Vector256.Create(0.04f), a5 = Vector256.Create(0.05f), a6 = Vector256.Create(0.06f), a7 = Vector256.Create(0.07f);
        Vector256<float> a8 = Vector256.Create(0.08f), a9 = Vector256.Create(0.09f), a10 = Vector256.Create(0.10f), a11 = Vector256.Create(0.11f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, x, y); a1 = Fma.MultiplyAdd(a1, x, y);
            a2 = Fma.MultiplyAdd(a2, x, y); a3 = Fma.MultiplyAdd(a3, x, y);
            a4 = Fma.MultiplyAdd(a4, x, y); a5 = Fma.MultiplyAdd(a5, x, y);
            a6 = Fma.MultiplyAdd(a6, x, y); a7 = Fma.MultiplyAdd(a7, x, y);
            a8 = Fma.MultiplyAdd(a8, x, y); a9 = Fma.MultiplyAdd(a9, x, y);
            a10 = Fma.MultiplyAdd(a10, x, y); a11 = Fma.MultiplyAdd(a11, x, y);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}
