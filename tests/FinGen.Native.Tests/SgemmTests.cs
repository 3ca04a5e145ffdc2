using System.Runtime.InteropServices;
using FinGen.Native.Backends.Cpu;
using NUnit.Framework;

namespace FinGen.Native.Tests;

/// <summary>
/// Sgemm.Multiply (and Sgemm.Reference) against a float64 triple loop, over all four transpose combinations,
/// awkward sizes (tails of every tile and K block), alpha/beta, padded leading dimensions, and the
/// thread-count independence of the bits that training reproducibility relies on.
/// </summary>
[TestFixture]
public sealed unsafe class SgemmTests
{
    // Float32 accumulation error grows like sqrt(k) for random data; these leave over 5x headroom over what the
    // kernels produce here (checked by tightening them), while a dropped or doubled term (error ~0.1-1) fails loudly.
    private const double Atol = 4e-6;
    private const double Rtol = 4e-6;

    /// <summary>
    /// (m, n, k): every tile edge (Mr = 6, Nr = 16/64, strips 32 wide), several K blocks (256), vector and scalar tails, and the last
    /// row of shapes big enough (≥ 1M multiply-adds) to run on two threads, matrix-vector ones included.
    /// </summary>
    private static readonly (int M, int N, int K)[] AwkwardShapes =
    [
        (1, 1, 1), (1, 1, 785), (3, 3, 3), (1, 17, 31), (17, 1, 65), (1, 785, 129), (129, 1, 785),
        (31, 17, 129), (65, 127, 3), (127, 65, 785), (129, 31, 17), (785, 3, 65), (3, 785, 127), (17, 129, 1),
        (6, 64, 256), (7, 65, 257), (12, 128, 512), (65, 129, 31), (2, 2, 785),
        (256, 40, 300), (1, 4099, 300), (3001, 1, 400), (97, 200, 129),
        (12, 32, 257), (13, 32, 16), (67, 96, 300), // strips exactly 32 wide (a conv's 32 channels): the 6×32 kernel, whole and edge rows
    ];

    /// <summary>The MLP's forward (x·Wᵀ), weight-gradient (dyᵀ·x, beta 1) and input-gradient (dy·W) products at batch 64.</summary>
    private static readonly (bool TransA, bool TransB, int M, int N, int K, float Beta)[] SeedShapes =
    [
        (false, true, 64, 128, 100, 1f), (false, true, 64, 784, 128, 1f), (false, true, 64, 128, 784, 1f), (false, true, 64, 1, 128, 1f),
        (true, false, 128, 100, 64, 1f), (true, false, 784, 128, 64, 1f), (true, false, 128, 784, 64, 1f), (true, false, 1, 128, 64, 1f),
        (false, false, 64, 784, 128, 0f), (false, false, 64, 128, 784, 0f), (false, false, 64, 128, 1, 0f),
    ];

    [Test]
    public void MatchesFloat64_AllTransposes_AwkwardSizes(
        [ValueSource(nameof(AwkwardShapes))] (int M, int N, int K) shape, [Values] bool transA, [Values] bool transB)
    {
        Check(transA, transB, shape.M, shape.N, shape.K, alpha: 1f, beta: 0.5f, pad: 0, maxDegree: 2, seed: 1);
    }

    [Test]
    public void MatchesFloat64_SeedShapes([ValueSource(nameof(SeedShapes))] (bool TransA, bool TransB, int M, int N, int K, float Beta) s)
    {
        Check(s.TransA, s.TransB, s.M, s.N, s.K, alpha: 1f, s.Beta, pad: 0, maxDegree: CpuWorkers.Count, seed: 2);
    }

    [Test]
    public void MatchesFloat64_AlphaBeta(
        [Values(1f, -1.5f, 0f)] float alpha, [Values(0f, 1f, -0.75f)] float beta, [Values] bool transA, [Values] bool transB)
    {
        Check(transA, transB, 67, 131, 300, alpha, beta, pad: 0, maxDegree: 2, seed: 3);
        Check(transA, transB, 1, 70, 33, alpha, beta, pad: 0, maxDegree: 2, seed: 4);
        Check(transA, transB, 70, 1, 33, alpha, beta, pad: 0, maxDegree: 2, seed: 5);
    }

    [Test]
    public void LeadingDimensionsWiderThanTheMatrix([Values] bool transA, [Values] bool transB, [Values(1, 16)] int pad)
    {
        // Padding of A and B is NaN (any read of it poisons C) and padding of C must come back untouched.
        Check(transA, transB, 31, 129, 300, alpha: 0.75f, beta: 1f, pad, maxDegree: 2, seed: 6);
        Check(transA, transB, 13, 1, 17, alpha: 0.75f, beta: 1f, pad, maxDegree: 2, seed: 7);
        Check(transA, transB, 1, 40, 17, alpha: 0.75f, beta: 0f, pad, maxDegree: 2, seed: 8);
    }

    [Test]
    public void SeveralPackedColumnBlocks([Values] bool transB)
    {
        // Transposed B with n·k above the packed-B cap (4M floats) is packed and multiplied in several column
        // blocks; row-major B of the same size is read in place.
        Check(false, transB, 7, 5400, 785, alpha: 1f, beta: 0.5f, pad: 0, maxDegree: 2, seed: 9);
    }

    [Test]
    public void ReferenceMatchesFloat64([Values] bool transA, [Values] bool transB)
    {
        Check(transA, transB, 17, 31, 129, alpha: -1.25f, beta: 0.5f, pad: 3, maxDegree: 1, seed: 10, reference: true);
        Check(transA, transB, 5, 9, 7, alpha: 1f, beta: 0f, pad: 0, maxDegree: 1, seed: 11, reference: true);
    }

    [Test]
    public void KZeroScalesC()
    {
        using var c = new Buf(3 * 5, seed: 12);
        var before = c.Span.ToArray();
        Sgemm.Multiply(false, false, 3, 5, 0, 1f, null, 1, null, 5, 0.5f, c.P, 5, 2);
        Assert.That(c.Span.ToArray(), Is.EqualTo(before.Select(v => v * 0.5f).ToArray()));

        c.Span.Fill(float.NaN);
        Sgemm.Multiply(true, true, 3, 5, 0, 1f, null, 3, null, 1, 0f, c.P, 5, 2);
        Assert.That(c.Span.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void EmptyOutputTouchesNothing()
    {
        Assert.That(() =>
        {
            Sgemm.Multiply(false, false, 0, 5, 3, 1f, null, 3, null, 5, 0f, null, 5, 2);
            Sgemm.Multiply(false, false, 4, 0, 3, 1f, null, 3, null, 1, 0f, null, 1, 2);
        }, Throws.Nothing);
    }

    [Test]
    public void RejectsBadArguments()
    {
        using var x = new Buf(64, seed: 13);
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, -1, 2, 2, 1f, x.P, 2, x.P, 2, 0f, x.P, 2, 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, 2, 2, 3, 1f, x.P, 2, x.P, 2, 0f, x.P, 2, 1)); // lda < k
            Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(true, false, 3, 2, 2, 1f, x.P, 2, x.P, 2, 0f, x.P, 2, 1));  // lda < m
            Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, true, 2, 3, 2, 1f, x.P, 2, x.P, 1, 0f, x.P, 3, 1));  // ldb < k
            Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, 2, 3, 2, 1f, x.P, 2, x.P, 3, 0f, x.P, 2, 1)); // ldc < n
        });
    }

    [Test]
    public void BitsDoNotDependOnThreadCount(
        [Values] bool transA, [Values] bool transB,
        [Values(1, 2, 64, 67, 256)] int m, [Values(1, 40, 100, 128, 785)] int n, [Values(100, 784)] int k)
    {
        int lda = transA ? m : k, ldb = transB ? k : n;
        using var a = new Buf((transA ? k : m) * lda, seed: m + 31 * n);
        using var b = new Buf((transB ? n : k) * ldb, seed: k + 7);
        using var c0 = new Buf(m * n, seed: 14);
        using var c1 = new Buf(m * n, seed: 14);
        using var c2 = new Buf(m * n, seed: 14);
        Sgemm.Multiply(transA, transB, m, n, k, 0.9f, a.P, lda, b.P, ldb, 1f, c0.P, n, maxDegree: 1);
        Sgemm.Multiply(transA, transB, m, n, k, 0.9f, a.P, lda, b.P, ldb, 1f, c1.P, n, maxDegree: 2);
        Sgemm.Multiply(transA, transB, m, n, k, 0.9f, a.P, lda, b.P, ldb, 1f, c2.P, n, maxDegree: 16);
        Assert.Multiple(() =>
        {
            Assert.That(FirstBitDifference(c0, c1), Is.Null, "maxDegree 1 vs 2");
            Assert.That(FirstBitDifference(c0, c2), Is.Null, "maxDegree 1 vs 16");
        });
    }

    /// <summary>
    /// The fused epilogue (bias in the store, leaky ReLU or ReLU into a second buffer) gives exactly the bits of the
    /// unfused composition: C = bias broadcast, Multiply with alpha = beta = 1, then the activation over C. Every tile
    /// edge, several K blocks, both matrix-vector paths, padded leading dimensions, 1 and 2 threads; the activations'
    /// inputs straddle zero (random signs), so a select written the wrong way round, a bias added twice or in a later
    /// K block, or the activation read from the first K block's partial sums all fail.
    /// </summary>
    [Test]
    public void MultiplyBiasEqualsBiasThenMultiplyThenActivation(
        [ValueSource(nameof(AwkwardShapes))] (int M, int N, int K) shape, [Values] bool transA, [Values] bool transB,
        [Values(-1f, 0f, 0.2f)] float slope, [Values(1, 2)] int maxDegree)
    {
        var (m, n, k) = shape;
        int lda = transA ? m : k, ldb = transB ? k : n, ldc = n + 3, ldp = n + 5;
        using var a = new Buf((transA ? k : m) * lda, seed: m + 17 * n + k);
        using var b = new Buf((transB ? n : k) * ldb, seed: 3 * k + n);
        using var bias = new Buf(n, seed: n + 99);
        using var want = new Buf(m * ldc, seed: 1);
        using var wantPost = new Buf(m * ldp, seed: 2);
        using var got = new Buf(m * ldc, seed: 3);
        using var gotPost = new Buf(m * ldp, seed: 4);
        using var gotNoPost = new Buf(m * ldc, seed: 5);
        for (int i = 0; i < m; i++)
        {
            bias.Span.CopyTo(new Span<float>(want.P + (long)i * ldc, n));
            new Span<float>(wantPost.P + (long)i * ldp + n, ldp - n).CopyTo(new Span<float>(gotPost.P + (long)i * ldp + n, ldp - n));
        }
        Sgemm.Multiply(transA, transB, m, n, k, 1f, a.P, lda, b.P, ldb, 1f, want.P, ldc, maxDegree);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float v = want.P[(long)i * ldc + j];
                wantPost.P[(long)i * ldp + j] = v > 0 ? v : slope * v;
            }

        Sgemm.MultiplyBias(transA, transB, m, n, k, a.P, lda, b.P, ldb, bias.P, got.P, ldc, gotPost.P, ldp, slope, maxDegree);
        Sgemm.MultiplyBias(transA, transB, m, n, k, a.P, lda, b.P, ldb, bias.P, gotNoPost.P, ldc, null, 0, slope, maxDegree);
        using var wantRows = Rows(want, m, n, ldc);
        using var gotRows = Rows(got, m, n, ldc);
        using var gotNoPostRows = Rows(gotNoPost, m, n, ldc);
        Assert.Multiple(() =>
        {
            Assert.That(FirstBitDifference(wantRows, gotRows), Is.Null, "pre-activation");
            Assert.That(FirstBitDifference(wantRows, gotNoPostRows), Is.Null, "pre-activation without post");
            Assert.That(FirstBitDifference(wantPost, gotPost), Is.Null, "post-activation (and post's padding untouched)");
        });
    }

    [Test]
    public void MultiplyBiasWithKZeroIsTheBiasAndItsActivation()
    {
        using var bias = new Buf(5, seed: 8);
        using var c = new Buf(3 * 5, seed: 9);
        using var post = new Buf(3 * 5, seed: 10);
        Sgemm.MultiplyBias(false, true, 3, 5, 0, null, 1, null, 1, bias.P, c.P, 5, post.P, 5, 0.1f, 2);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
            {
                Assert.That(c.P[i * 5 + j], Is.EqualTo(bias.P[j]));
                Assert.That(post.P[i * 5 + j], Is.EqualTo(bias.P[j] > 0 ? bias.P[j] : 0.1f * bias.P[j]));
            }
    }

    /// <summary>The m × n part of a matrix with leading dimension ld, packed, for bit comparisons.</summary>
    private static Buf Rows(Buf x, int m, int n, int ld)
    {
        var packed = new Buf(m * n, seed: 0);
        for (int i = 0; i < m; i++) new Span<float>(x.P + (long)i * ld, n).CopyTo(new Span<float>(packed.P + (long)i * n, n));
        return packed;
    }

    [Test]
    public void SteadyStateCallsDoNotAllocate([Values(1, 2)] int maxDegree)
    {
        using var a = new Buf(64 * 784, seed: 17);
        using var b = new Buf(784 * 128, seed: 18);
        using var c = new Buf(128 * 784, seed: 19);
        void Step()
        {
            Sgemm.Multiply(false, true, 64, 128, 784, 1f, a.P, 784, b.P, 784, 1f, c.P, 128, maxDegree);   // forward
            Sgemm.Multiply(false, false, 64, 784, 128, 1f, c.P, 128, b.P, 784, 0f, a.P, 784, maxDegree);  // input gradient
            Sgemm.Multiply(true, false, 128, 784, 64, 1f, c.P, 128, a.P, 784, 1f, b.P, 784, maxDegree);   // weight gradient
            Sgemm.Multiply(false, true, 64, 1, 128, 1f, c.P, 128, b.P, 128, 1f, a.P, 1, maxDegree);       // n == 1
        }
        for (int i = 0; i < 3; i++) Step(); // per-thread buffers are created on first use
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Step();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void ConcurrentCallersGetCorrectResults()
    {
        // Several threads racing for the worker pool: the losers run inline, and everyone must still be right.
        const int m = 64, n = 200, k = 300;
        using var a = new Buf(m * k, seed: 15);
        using var b = new Buf(n * k, seed: 16);
        using var expected = new Buf(m * n, seed: 0);
        Sgemm.Multiply(false, true, m, n, k, 1f, a.P, k, b.P, k, 0f, expected.P, n, 1);
        var outputs = Enumerable.Range(0, 4).Select(_ => new Buf(m * n, seed: 0)).ToArray();
        try
        {
            var threads = outputs.Select(o => new Thread(() =>
            {
                for (int rep = 0; rep < 20; rep++) Sgemm.Multiply(false, true, m, n, k, 1f, a.P, k, b.P, k, 0f, o.P, n, 2);
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            Assert.That(outputs.Select(o => FirstBitDifference(expected, o)), Is.All.Null);
        }
        finally
        {
            foreach (var o in outputs) o.Dispose();
        }
    }

    [Test]
    public void WorkersRunEveryIndexOnceAndSurviveExceptions()
    {
        var hits = new int[1000];
        Exception? caught = null;
        fixed (int* h = hits)
        {
            try
            {
                CpuWorkers.For(1000, &ThrowAt500, h, 2);
            }
            catch (InvalidOperationException e)
            {
                caught = e;
            }

            Array.Clear(hits);
            for (int rep = 0; rep < 50; rep++) CpuWorkers.For(1000, &Count, h, 2);
        }
        Assert.Multiple(() =>
        {
            Assert.That(caught, Is.Not.Null.And.Message.Contains("index 500"), "the body's exception reaches the caller");
            Assert.That(hits, Is.All.EqualTo(50), "every index runs exactly once per call afterwards");
        });
    }

    private static void Count(int i, void* state) => Interlocked.Increment(ref ((int*)state)[i]);

    private static void ThrowAt500(int i, void* state)
    {
        if (i == 500) throw new InvalidOperationException("boom at index 500");
        ((int*)state)[i]++;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /// <summary>
    /// Runs Multiply (or Reference) on random data with every leading dimension widened by <paramref name="pad"/>
    /// and compares with a float64 triple loop; NaN in A/B padding and a sentinel in C padding catch stray accesses.
    /// With beta == 0 the old C is NaN, which must not leak into the result.
    /// </summary>
    private static void Check(bool transA, bool transB, int m, int n, int k, float alpha, float beta, int pad,
        int maxDegree, int seed, bool reference = false)
    {
        int aRows = transA ? k : m, aCols = transA ? m : k, lda = aCols + pad;
        int bRows = transB ? n : k, bCols = transB ? k : n, ldb = bCols + pad;
        int ldc = n + pad;
        using var a = new Buf(aRows * lda, seed);
        using var b = new Buf(bRows * ldb, seed + 1000);
        using var c = new Buf(m * ldc, seed + 2000);
        PoisonPadding(a, aRows, aCols, lda, float.NaN);
        PoisonPadding(b, bRows, bCols, ldb, float.NaN);
        PoisonPadding(c, m, n, ldc, 12345f);
        if (beta == 0f)
            for (int i = 0; i < m; i++) new Span<float>(c.P + (long)i * ldc, n).Fill(float.NaN);

        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = transA ? a.P[(long)p * lda + i] : a.P[(long)i * lda + p];
                    double y = transB ? b.P[(long)j * ldb + p] : b.P[(long)p * ldb + j];
                    sum += x * y;
                }
                expected[i * n + j] = alpha * sum + (beta == 0f ? 0 : beta * (double)c.P[(long)i * ldc + j]);
            }
        }

        if (reference) Sgemm.Reference(transA, transB, m, n, k, alpha, a.P, lda, b.P, ldb, beta, c.P, ldc, maxDegree);
        else Sgemm.Multiply(transA, transB, m, n, k, alpha, a.P, lda, b.P, ldb, beta, c.P, ldc, maxDegree);

        double scale = Math.Sqrt(Math.Max(1, k));
        double worstExcess = double.NegativeInfinity;
        string worst = "";
        string? paddingWritten = null;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double got = c.P[(long)i * ldc + j], want = expected[i * n + j];
                double tol = (Atol * Math.Max(1, Math.Abs(alpha)) + Rtol * Math.Abs(want)) * scale;
                double excess = double.IsFinite(got) ? Math.Abs(got - want) - tol : double.PositiveInfinity;
                if (excess > worstExcess)
                {
                    worstExcess = excess;
                    worst = $"C[{i},{j}] = {got:R}, expected {want:R}, |diff| {Math.Abs(got - want):E3} vs tolerance {tol:E3}";
                }
            }
            for (int j = n; j < ldc; j++)
                if (c.P[(long)i * ldc + j] != 12345f) paddingWritten ??= $"C[{i},{j}]";
        }
        string what = $"{(reference ? "Reference" : "Multiply")}(transA {transA}, transB {transB}, m {m}, n {n}, k {k}, alpha {alpha}, beta {beta}, pad {pad}, maxDegree {maxDegree})";
        Assert.Multiple(() =>
        {
            Assert.That(worstExcess, Is.LessThanOrEqualTo(0), $"{what}: worst element {worst}");
            Assert.That(paddingWritten, Is.Null, $"{what}: wrote into the padding of C");
        });
    }

    private static void PoisonPadding(Buf buf, int rows, int cols, int ld, float value)
    {
        for (int r = 0; r < rows; r++) new Span<float>(buf.P + (long)r * ld + cols, ld - cols).Fill(value);
    }

    private static string? FirstBitDifference(Buf x, Buf y)
    {
        for (int i = 0; i < x.Length; i++)
            if (BitConverter.SingleToInt32Bits(x.P[i]) != BitConverter.SingleToInt32Bits(y.P[i]))
                return $"element {i}: {x.P[i]:R} vs {y.P[i]:R}";
        return null;
    }

    /// <summary>Native, 64-byte-aligned floats filled from a seeded Random with magnitudes in [0.25, 1] (never zero).</summary>
    private sealed class Buf : IDisposable
    {
        public Buf(int length, int seed)
        {
            Length = length;
            P = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, length) * sizeof(float), 64);
            var random = new System.Random(seed);
            for (int i = 0; i < length; i++)
                P[i] = (float)((0.25 + 0.75 * random.NextDouble()) * (random.Next(2) == 0 ? -1 : 1));
        }

        public float* P { get; private set; }

        public int Length { get; }

        public Span<float> Span => new(P, Length);

        public void Dispose()
        {
            NativeMemory.AlignedFree(P);
            P = null;
        }
    }
}
