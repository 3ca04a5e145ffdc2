using FinGen.Native.Randomness;

namespace FinGen.Native.Tests;

[TestFixture]
public sealed class PhiloxTests
{
    // Known-answer vectors of Philox4x32-10 from the Random123 distribution (tests/kat_vectors):
    // counter words c0..c3, key words k0 k1, expected output words.
    [TestCase(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint x0, uint x1, uint x2, uint x3)
    {
        Assert.That(Philox.Block(c0, c1, c2, c3, k0, k1), Is.EqualTo((x0, x1, x2, x3)));
    }

    [Test]
    public void CounterLayoutPutsBlockInLowWordsAndStreamInHighWords()
    {
        ulong seed = 0x0123456789abcdef, stream = 0xfedcba9876543210, block = 0x1122334455667788;
        Assert.That(Philox.Block(seed, stream, block),
            Is.EqualTo(Philox.Block(0x55667788u, 0x11223344u, 0x76543210u, 0xfedcba98u, 0x89abcdefu, 0x01234567u)));
    }

    [TestCase(0UL, 1)]
    [TestCase(3UL, 7)]
    [TestCase(5UL, 100)]
    [TestCase((1UL << 40) + 2, 67)]
    public void FillWordsGivesEachWordOfTheStream(ulong offset, int count)
    {
        var words = new uint[count];
        Philox.FillWords(words, seed: 77, stream: 5, offset);
        for (int i = 0; i < count; i++) Assert.That(words[i], Is.EqualTo(Philox.Word(77, 5, offset + (ulong)i)), $"word {offset + (ulong)i}");
    }

    [Test]
    public void NormalsAreStandardAndStartAnywhere()
    {
        var values = new float[200_001];
        Philox.FillNormal(values, seed: 5, stream: 2, offset: 0);
        double mean = values.Average(v => (double)v);
        double variance = values.Average(v => (v - mean) * (v - mean));
        Assert.That(mean, Is.EqualTo(0).Within(0.01));
        Assert.That(Math.Sqrt(variance), Is.EqualTo(1).Within(0.01));
        // About 4.55 % of a standard normal lies beyond ±2.
        Assert.That(values.Count(v => Math.Abs(v) > 2) / (double)values.Length, Is.EqualTo(0.0455).Within(0.002));

        var tail = new float[1001];
        Philox.FillNormal(tail, seed: 5, stream: 2, offset: 12_345);
        Assert.That(tail, Is.EqualTo(values.AsSpan(12_345, 1001).ToArray()));
    }

    [Test]
    public void UniformsAreOpenIntervalAndSeedsDiffer()
    {
        Assert.That(Philox.ToOpenUnit(0), Is.GreaterThan(0));
        Assert.That(Philox.ToOpenUnit(uint.MaxValue), Is.LessThan(1));
        var a = new float[64];
        var b = new float[64];
        Philox.FillUniform(a, 1, 1, 0);
        Philox.FillUniform(b, 2, 1, 0);
        Assert.That(a, Is.Not.EqualTo(b));
        Assert.That(a, Has.All.InRange(0f, 1f));
        var counts = new int[10];
        for (ulong n = 0; n < 100_000; n++) counts[Philox.NextInt(3, 3, n, 10)]++;
        Assert.That(counts, Has.All.InRange(9_600, 10_400));
    }

    [TestCase(0UL, 100)]
    [TestCase(1UL, 100)]
    [TestCase(3UL, 17)]
    [TestCase(6UL, 1000)]
    [TestCase(12345UL, 4099)]
    [TestCase((1UL << 34) - 41, 200)] // the block number crosses 2³², carrying into the counter's second word
    public void VectorizedNormalsAreTheScalarOnesToAFloatUlp(ulong offset, int count)
    {
        var scalar = new float[count];
        var vector = new float[count];
        vector.AsSpan().Fill(float.NaN);
        Philox.FillNormal(scalar, 42, 4, offset);
        Philox.FillNormalVectorized(vector, 42, 4, offset);
        int exact = 0;
        for (int i = 0; i < count; i++)
        {
            Assert.That(vector[i], Is.EqualTo(scalar[i]).Within(1).Ulps, $"normal {offset + (ulong)i}");
            if (vector[i] == scalar[i]) exact++;
        }
        // A 1-ulp difference needs a double within an ulp of a float rounding boundary: rare.
        Assert.That(exact, Is.GreaterThanOrEqualTo(count - Math.Max(1, count / 100)), "nearly every value is bit-identical");
    }

    [TestCase(0UL, 100)]
    [TestCase(3UL, 17)]
    [TestCase(6UL, 1000)]
    [TestCase((1UL << 34) - 41, 200)]
    public void TheAvx2NormalsAreThe512BitOnesToTheBit(ulong offset, int count)
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Ignore("no AVX2 on this CPU");
        // Where 512-bit vectors are not accelerated .NET emulates them with the same per-lane algorithm, so this runs on
        // Zen 3 and Zen 4 alike, and a checkpoint's noise is the same on both.
        var wide = new float[count];
        var narrow = new float[count];
        narrow.AsSpan().Fill(float.NaN);
        Philox.FillNormal512(wide, 42, 4, offset);
        Philox.FillNormal256(narrow, 42, 4, offset);
        for (int i = 0; i < count; i++)
            Assert.That(BitConverter.SingleToInt32Bits(narrow[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(wide[i])), $"normal {offset + (ulong)i}: {narrow[i]} vs {wide[i]}");
    }

    // ---- Student-t noise

    [TestCase(3)]
    [TestCase(5)]
    [TestCase(12)]
    public void StudentTNumberNIsItsDefinitionFromNormalsOfTheSameStream(int degrees)
    {
        const ulong offset = 1001;
        var values = new float[37];
        Philox.FillStudentT(values, seed: 8, stream: 2, offset, degrees);
        var normals = new float[degrees + 1];
        for (int i = 0; i < values.Length; i++)
        {
            Philox.FillNormal(normals, 8, 2, (offset + (ulong)i) * (ulong)(degrees + 1));
            double sum = normals.Skip(1).Sum(z => (double)z * z);
            Assert.That(values[i], Is.EqualTo((float)(normals[0] * Math.Sqrt((degrees - 2) / sum))), $"number {offset + (ulong)i}");
        }
        // Any split of a draw into consecutive offsets gives the same numbers (the 32-number scratch chunks included).
        var tail = new float[20];
        Philox.FillStudentT(tail, 8, 2, offset + 17, degrees);
        Assert.That(tail, Is.EqualTo(values.AsSpan(17, 20).ToArray()));
    }

    [Test]
    public void StudentTNoiseHasUnitVarianceAndTheTailsOfItsDistribution()
    {
        const int degrees = 6, n = 200_000;
        var values = new float[n];
        Philox.FillStudentT(values, seed: 3, stream: 2, offset: 0, degrees);
        double mean = values.Average(v => (double)v);
        double variance = values.Average(v => (v - mean) * (v - mean));
        Assert.That(mean, Is.EqualTo(0).Within(0.01));
        Assert.That(variance, Is.EqualTo(1).Within(0.03));
        // Beyond ±3 unit-variance standard deviations: a t(6) scaled by √(4/6) puts P(|T| > 3·√1.5) there, against 0.27 % for a normal.
        double scale = Math.Sqrt((degrees - 2.0) / degrees);
        double expected = 2 * (1 - MathNet.Numerics.Distributions.StudentT.CDF(0, 1, degrees, 3 / scale));
        double observed = values.Count(v => Math.Abs(v) > 3) / (double)n;
        Assert.That(observed, Is.EqualTo(expected).Within(0.1 * expected), "tail beyond ±3");
        Assert.That(observed, Is.GreaterThan(2.5 * 0.0027), "heavier than the normal's");
        // Kolmogorov–Smirnov distance to the scaled t's distribution function.
        Array.Sort(values);
        double ks = 0;
        for (int i = 0; i < n; i += 97)
        {
            double f = MathNet.Numerics.Distributions.StudentT.CDF(0, scale, degrees, values[i]);
            ks = Math.Max(ks, Math.Max(Math.Abs(f - (double)i / n), Math.Abs(f - (i + 1.0) / n)));
        }
        Assert.That(ks, Is.LessThan(0.005));
    }

    [Test]
    public void VectorizedStudentTIsTheScalarOneToAFewUlps()
    {
        var scalar = new float[5000];
        var vector = new float[5000];
        Philox.FillStudentT(scalar, 42, 4, 77, 5);
        Philox.FillStudentT(vector, 42, 4, 77, 5, vectorized: true);
        for (int i = 0; i < scalar.Length; i++) Assert.That(vector[i], Is.EqualTo(scalar[i]).Within(4).Ulps, $"number {77 + i}");
    }

    [TestCase(2)]
    [TestCase(65)]
    public void StudentTRefusesDegreesWithoutAUnitVariance(int degrees)
    {
        Assert.That(() => Philox.FillStudentT(new float[4], 1, 2, 0, degrees), Throws.InstanceOf<ArgumentException>().With.Message.Contains("degrees of freedom"));
    }
}
