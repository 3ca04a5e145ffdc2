using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FinGen.Native.Randomness;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the counter-based
/// generator behind cuRAND's and PyTorch's CUDA random numbers. Counter-based means value number n of a
/// stream is a pure function of (seed, stream, n): a GPU thread can compute exactly the numbers the CPU
/// computes, in any order, with no shared state. That is why the engine uses it for all its noise.
///
/// Layout (the contract the CUDA kernels reproduce): key = seed (low word, high word);
/// counter = (block low, block high, stream low, stream high) where block = n / 4; lane n % 4.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Streams used by the engine, so that independent draws never overlap.</summary>
    public enum Stream : ulong
    {
        Init = 1,
        Noise = 2,
        Batches = 3,
        Sample = 4,
        /// <summary>The shuffle that deals generated days out independently (<see cref="Data.PathDays.Independent"/>).</summary>
        PathDays = 5,
        /// <summary>The starting vectors u and v of spectral normalization's power iteration (<see cref="Models.ParameterInit.UnitVector"/>).</summary>
        SpectralNorm = 6,
        /// <summary>Each path's drawn long-run volatility level (<see cref="Data.FilterStart.Drawn"/>).</summary>
        PathStarts = 7,
    }

    /// <summary>One Philox4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint X0, uint X1, uint X2, uint X3) Block(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Block number <paramref name="block"/> of stream <paramref name="stream"/> under <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint X0, uint X1, uint X2, uint X3) Block(ulong seed, ulong stream, ulong block) =>
        Block((uint)block, (uint)(block >> 32), (uint)stream, (uint)(stream >> 32), (uint)seed, (uint)(seed >> 32));

    /// <summary>Maps a 32-bit word to (0, 1), never 0 or 1, so that log(u) is finite: (x + 0.5) / 2³².</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double ToOpenUnit(uint x) => (x + 0.5) * (1.0 / 4294967296.0);

    /// <summary>
    /// Standard normals n = offset, offset+1, ... of a stream into <paramref name="destination"/>.
    /// Box–Muller on the block's lane pairs (0,1) and (2,3): lane 0/2 take the cosine, 1/3 the sine.
    /// Computed in double and rounded once to float, so a GPU using double precision gets the same floats.
    /// </summary>
    public static void FillNormal(Span<float> destination, ulong seed, ulong stream, ulong offset)
    {
        int i = 0;
        while (i < destination.Length)
        {
            ulong n = offset + (ulong)i;
            ulong block = n >> 2;
            var (x0, x1, x2, x3) = Block(seed, stream, block);
            var (a0, a1) = BoxMuller(x0, x1);
            var (a2, a3) = BoxMuller(x2, x3);
            for (int lane = (int)(n & 3); lane < 4 && i < destination.Length; lane++, i++)
            {
                destination[i] = lane switch { 0 => a0, 1 => a1, 2 => a2, _ => a3 };
            }
        }
    }

    /// <summary>The smallest and largest degrees of freedom of <see cref="FillStudentT"/>.</summary>
    public const int MinStudentTDegrees = 3, MaxStudentTDegrees = 64;

    /// <summary>
    /// Student-t numbers n = offset, offset+1, ... with <paramref name="degrees"/> degrees of freedom ν, scaled to unit
    /// variance: number n is z₀·√((ν − 2) / (z₁² + … + z_ν²)), where z_j is normal number n·(ν + 1) + j of the same
    /// stream (<see cref="FillNormal"/>'s floats), the sum taken in that order in double and the result rounded once
    /// to float. A t variable is a normal over the root of an independent χ²_ν / ν; ν + 1 normals a number keeps
    /// it counter-based (a function of (seed, stream, n) only), so kernels/philox.cu's fg_philox_student_t computes
    /// the same floats in any launch shape. The unit variance keeps a generator's input on the scale it has with
    /// normal noise; the tails are the t's (excess kurtosis 6 / (ν − 4) for ν &gt; 4).
    /// </summary>
    public static void FillStudentT(Span<float> destination, ulong seed, ulong stream, ulong offset, int degrees, bool vectorized = false)
    {
        CheckStudentTDegrees(degrees);
        // The normals of numbers offset .. offset + count − 1 are one contiguous range of the stream, drawn a chunk at
        // a time into a scratch buffer on the stack (32 numbers of at most 65 normals: 8 KiB).
        const int Chunk = 32;
        int per = degrees + 1;
        Span<float> scratch = stackalloc float[Chunk * (MaxStudentTDegrees + 1)];
        for (int start = 0; start < destination.Length; start += Chunk)
        {
            int count = Math.Min(Chunk, destination.Length - start);
            var normals = scratch[..(count * per)];
            ulong first = (offset + (ulong)start) * (ulong)per;
            if (vectorized) FillNormalVectorized(normals, seed, stream, first);
            else FillNormal(normals, seed, stream, first);
            for (int i = 0; i < count; i++) destination[start + i] = StudentT(normals.Slice(i * per, per), degrees);
        }
    }

    /// <summary>z₀·√((ν − 2) / Σⱼ zⱼ²) for normals z₀ … z_ν, in double, rounded once (the kernel's order of operations).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float StudentT(ReadOnlySpan<float> normals, int degrees)
    {
        double sum = 0;
        for (int j = 1; j <= degrees; j++) sum += (double)normals[j] * normals[j];
        return (float)(normals[0] * Math.Sqrt((degrees - 2) / sum));
    }

    public static void CheckStudentTDegrees(int degrees)
    {
        if (degrees < MinStudentTDegrees || degrees > MaxStudentTDegrees)
            Throw.Argument($"Student-t noise needs {MinStudentTDegrees} to {MaxStudentTDegrees} degrees of freedom (unit variance needs more than 2), got {degrees}");
    }

    /// <summary>
    /// The numbers of <see cref="FillNormal"/>, eight Philox blocks at a time in Vector512&lt;ulong&gt; lanes and
    /// Box–Muller in Vector512&lt;double&gt; (log, sqrt and sin/cos were ~¾ of the scalar cost, Philox the rest). .NET's vector log and sin/cos are within an ulp of the
    /// scalar ones in double, and the result is rounded to float once, so the floats match the scalar path except
    /// where a double lands within an ulp of a float rounding boundary (tests check the two agree to 1 float ulp).
    /// Where 512-bit vectors are not accelerated, AVX2 takes four blocks at a time in Vector256 (<see cref="FillNormal256"/>,
    /// the same numbers to the bit); without AVX2, <see cref="FillNormal"/>.
    /// </summary>
    public static void FillNormalVectorized(Span<float> destination, ulong seed, ulong stream, ulong offset)
    {
        if (Vector512.IsHardwareAccelerated) FillNormal512(destination, seed, stream, offset);
        else if (Avx2.IsSupported) FillNormal256(destination, seed, stream, offset);
        else FillNormal(destination, seed, stream, offset);
    }

    /// <summary><see cref="FillNormalVectorized"/>'s 512-bit path (callable anywhere: unaccelerated, Vector512 is emulated, to the same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void FillNormal512(Span<float> destination, ulong seed, ulong stream, ulong offset)
    {
        // Head: up to the next block boundary; tail: what is left after whole groups of eight blocks.
        int head = (int)Math.Min((ulong)destination.Length, (4 - (offset & 3)) & 3);
        FillNormal(destination[..head], seed, stream, offset);
        int i = head;
        ulong block = (offset + (ulong)head) >> 2;
        var scale = Vector512.Create(1.0 / 4294967296.0);
        var half = Vector512.Create(0.5);
        var minusTwo = Vector512.Create(-2.0);
        var twoPi = Vector512.Create(2.0 * Math.PI);
        for (; i + 32 <= destination.Length; i += 32, block += 8)
        {
            var (x0, x1, x2, x3) = Blocks8(seed, stream, block);
            // Box–Muller on lane pairs (0, 1) and (2, 3) of each block, as BoxMuller does.
            var radiusA = Vector512.Sqrt(minusTwo * Vector512.Log((Vector512.ConvertToDouble(x0) + half) * scale));
            var (sinA, cosA) = Vector512.SinCos(twoPi * ((Vector512.ConvertToDouble(x1) + half) * scale));
            var radiusB = Vector512.Sqrt(minusTwo * Vector512.Log((Vector512.ConvertToDouble(x2) + half) * scale));
            var (sinB, cosB) = Vector512.SinCos(twoPi * ((Vector512.ConvertToDouble(x3) + half) * scale));
            var lane0 = radiusA * cosA; var lane1 = radiusA * sinA;
            var lane2 = radiusB * cosB; var lane3 = radiusB * sinB;
            var d = destination.Slice(i, 32);
            for (int b = 0; b < 8; b++)
            {
                d[4 * b] = (float)lane0.GetElement(b);
                d[4 * b + 1] = (float)lane1.GetElement(b);
                d[4 * b + 2] = (float)lane2.GetElement(b);
                d[4 * b + 3] = (float)lane3.GetElement(b);
            }
        }
        FillNormal(destination[i..], seed, stream, offset + (ulong)i);
    }

    /// <summary>
    /// <see cref="FillNormal512"/> on AVX2 (Zen 3 has no AVX-512, and the scalar Box–Muller was a tenth of a GAN step there):
    /// four blocks at a time, each Box–Muller lane the same vector log, sqrt and sin/cos in double as the 512-bit path's
    /// (.NET computes them lane by lane with one algorithm at every width), so the same floats to the bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void FillNormal256(Span<float> destination, ulong seed, ulong stream, ulong offset)
    {
        int head = (int)Math.Min((ulong)destination.Length, (4 - (offset & 3)) & 3);
        FillNormal(destination[..head], seed, stream, offset);
        int i = head;
        ulong block = (offset + (ulong)head) >> 2;
        var scale = Vector256.Create(1.0 / 4294967296.0);
        var half = Vector256.Create(0.5);
        var minusTwo = Vector256.Create(-2.0);
        var twoPi = Vector256.Create(2.0 * Math.PI);
        for (; i + 16 <= destination.Length; i += 16, block += 4)
        {
            var (x0, x1, x2, x3) = Blocks4(seed, stream, block);
            var radiusA = Vector256.Sqrt(minusTwo * Vector256.Log((ToDouble(x0) + half) * scale));
            var (sinA, cosA) = Vector256.SinCos(twoPi * ((ToDouble(x1) + half) * scale));
            var radiusB = Vector256.Sqrt(minusTwo * Vector256.Log((ToDouble(x2) + half) * scale));
            var (sinB, cosB) = Vector256.SinCos(twoPi * ((ToDouble(x3) + half) * scale));
            // Rows: Box–Muller lane 0..3, columns: blocks 0..3; transposed, each block's four floats are consecutive.
            Vector128<float> r0 = Avx.ConvertToVector128Single(radiusA * cosA), r1 = Avx.ConvertToVector128Single(radiusA * sinA);
            Vector128<float> r2 = Avx.ConvertToVector128Single(radiusB * cosB), r3 = Avx.ConvertToVector128Single(radiusB * sinB);
            Vector128<float> t0 = Sse.UnpackLow(r0, r1), t1 = Sse.UnpackLow(r2, r3), t2 = Sse.UnpackHigh(r0, r1), t3 = Sse.UnpackHigh(r2, r3);
            var d = destination.Slice(i, 16);
            Sse.MoveLowToHigh(t0, t1).CopyTo(d);
            Sse.MoveHighToLow(t1, t0).CopyTo(d[4..]);
            Sse.MoveLowToHigh(t2, t3).CopyTo(d[8..]);
            Sse.MoveHighToLow(t3, t2).CopyTo(d[12..]);
        }
        FillNormal(destination[i..], seed, stream, offset + (ulong)i);
    }

    /// <summary>Exactly (double)x for x &lt; 2⁵² (x is a 32-bit word here): AVX2 has no 64-bit integer conversion, so x goes into the mantissa of 2⁵².</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ToDouble(Vector256<ulong> x) =>
        (x | Vector256.Create(0x4330_0000_0000_0000UL)).AsDouble() - Vector256.Create(4503599627370496.0);

    /// <summary><see cref="Blocks8"/> for four blocks on AVX2, whose vpmuludq is exactly the 32×32 → 64-bit product of each lane's low word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<ulong> X0, Vector256<ulong> X1, Vector256<ulong> X2, Vector256<ulong> X3) Blocks4(ulong seed, ulong stream, ulong first)
    {
        var low = Vector256.Create(0xFFFF_FFFFUL);
        var blocks = Vector256.Create(first) + Vector256.Create(0UL, 1, 2, 3);
        Vector256<ulong> c0 = blocks & low, c1 = blocks >>> 32;
        Vector256<ulong> c2 = Vector256.Create((ulong)(uint)stream), c3 = Vector256.Create(stream >> 32);
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        var m0 = Vector256.Create((ulong)M0).AsUInt32();
        var m1 = Vector256.Create((ulong)M1).AsUInt32();
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            var p0 = Avx2.Multiply(m0, c0.AsUInt32());
            var p1 = Avx2.Multiply(m1, c2.AsUInt32());
            (c0, c1, c2, c3) = ((p1 >>> 32) ^ c1 ^ Vector256.Create((ulong)k0), p1 & low, (p0 >>> 32) ^ c3 ^ Vector256.Create((ulong)k1), p0 & low);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// Blocks <paramref name="first"/> .. first + 7 at once: each 32-bit word held in a 64-bit lane so that one
    /// vector multiply gives the full 32×32 → 64-bit product <see cref="Block(uint, uint, uint, uint, uint, uint)"/> takes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<ulong> X0, Vector512<ulong> X1, Vector512<ulong> X2, Vector512<ulong> X3) Blocks8(ulong seed, ulong stream, ulong first)
    {
        var low = Vector512.Create(0xFFFF_FFFFUL);
        var blocks = Vector512.Create(first) + Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
        Vector512<ulong> c0 = blocks & low, c1 = blocks >>> 32;
        Vector512<ulong> c2 = Vector512.Create((ulong)(uint)stream), c3 = Vector512.Create(stream >> 32);
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        var m0 = Vector512.Create((ulong)M0);
        var m1 = Vector512.Create((ulong)M1);
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            var p0 = m0 * c0;
            var p1 = m1 * c2;
            (c0, c1, c2, c3) = ((p1 >>> 32) ^ c1 ^ Vector512.Create((ulong)k0), p1 & low, (p0 >>> 32) ^ c3 ^ Vector512.Create((ulong)k1), p0 & low);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Uniform floats in (0, 1), value n = offset + i of the stream.</summary>
    public static void FillUniform(Span<float> destination, ulong seed, ulong stream, ulong offset)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)ToOpenUnit(Word(seed, stream, offset + (ulong)i));
        }
    }

    /// <summary>Word n of a stream.</summary>
    public static uint Word(ulong seed, ulong stream, ulong n)
    {
        var (x0, x1, x2, x3) = Block(seed, stream, n >> 2);
        return (n & 3) switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
    }

    /// <summary>
    /// Words <paramref name="offset"/> .. offset + destination.Length − 1 of a stream, exactly <see cref="Word"/>'s,
    /// eight blocks at a time where 512-bit vectors are accelerated (four with AVX2): a shuffle of millions of days would otherwise
    /// compute each block four times, once per word it takes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FillWords(Span<uint> destination, ulong seed, ulong stream, ulong offset)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            int head = (int)Math.Min((ulong)destination.Length, (4 - (offset & 3)) & 3);
            for (; i < head; i++) destination[i] = Word(seed, stream, offset + (ulong)i);
            ulong block = (offset + (ulong)head) >> 2;
            for (; i + 32 <= destination.Length; i += 32, block += 8)
            {
                var (x0, x1, x2, x3) = Blocks8(seed, stream, block);
                var d = destination.Slice(i, 32);
                for (int b = 0; b < 8; b++)
                {
                    d[4 * b] = (uint)x0.GetElement(b);
                    d[4 * b + 1] = (uint)x1.GetElement(b);
                    d[4 * b + 2] = (uint)x2.GetElement(b);
                    d[4 * b + 3] = (uint)x3.GetElement(b);
                }
            }
        }
        else if (Avx2.IsSupported)
        {
            int head = (int)Math.Min((ulong)destination.Length, (4 - (offset & 3)) & 3);
            for (; i < head; i++) destination[i] = Word(seed, stream, offset + (ulong)i);
            ulong block = (offset + (ulong)head) >> 2;
            for (; i + 16 <= destination.Length; i += 16, block += 4)
            {
                var (x0, x1, x2, x3) = Blocks4(seed, stream, block);
                var d = destination.Slice(i, 16);
                for (int b = 0; b < 4; b++)
                {
                    d[4 * b] = (uint)x0.GetElement(b);
                    d[4 * b + 1] = (uint)x1.GetElement(b);
                    d[4 * b + 2] = (uint)x2.GetElement(b);
                    d[4 * b + 3] = (uint)x3.GetElement(b);
                }
            }
        }
        while (i < destination.Length)
        {
            ulong n = offset + (ulong)i;
            var (x0, x1, x2, x3) = Block(seed, stream, n >> 2);
            for (int lane = (int)(n & 3); lane < 4 && i < destination.Length; lane++, i++)
                destination[i] = lane switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
        }
    }

    /// <summary>An integer uniform in [0, bound) from word n (Lemire's multiply-shift; bias below 2⁻³² · bound).</summary>
    public static int NextInt(ulong seed, ulong stream, ulong n, int bound) => Bounded(Word(seed, stream, n), bound);

    /// <summary>The integer in [0, bound) that <see cref="NextInt"/> takes from <paramref name="word"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Bounded(uint word, int bound) => (int)(((ulong)word * (ulong)bound) >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float, float) BoxMuller(uint a, uint b)
    {
        double radius = Math.Sqrt(-2.0 * Math.Log(ToOpenUnit(a)));
        double angle = 2.0 * Math.PI * ToOpenUnit(b);
        return ((float)(radius * Math.Cos(angle)), (float)(radius * Math.Sin(angle)));
    }
}
