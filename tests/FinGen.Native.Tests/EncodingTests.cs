using FinGen.Native.Data;
using NUnit.Framework;

namespace FinGen.Native.Tests;

/// <summary>Asserts a one-line <see cref="FinGenException"/> whose message contains every fragment.</summary>
internal static class UserError
{
    public static string Assert(TestDelegate action, params string[] fragments)
    {
        var ex = NUnit.Framework.Assert.Throws<FinGenException>(action);
        var message = ex!.Message;
        NUnit.Framework.Assert.That(message, Does.Not.Contain("\n").And.Not.Contain("\r"), "message must be one line");
        foreach (var f in fragments) NUnit.Framework.Assert.That(message, Does.Contain(f));
        return message;
    }
}

[TestFixture]
public class EncodingTests
{
    const double Lower = -0.02, Upper = 0.03;

    static IEnumerable<string> Names => ImageEncodings.Names;

    /// <summary>Heavy-ish training returns: Student-like noise from a ratio of normals, seeded.</summary>
    static float[] TrainingReturns(int n, int seed)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            r[i] = (float)(0.0003 + 0.01 * g * (1 + 0.3 * Math.Abs(g)));
        }
        return r;
    }

    static float[] Uniform(Random rng, int n, double lo, double hi)
    {
        var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = (float)(lo + rng.NextDouble() * (hi - lo));
        return r;
    }

    static float[] Encode(IImageEncoding encoding, float[] window)
    {
        var image = new float[encoding.Height * encoding.Width];
        encoding.Encode(window, image);
        return image;
    }

    // ---------------------------------------------------------------- every encoding

    [TestCaseSource(nameof(Names))]
    public void PixelsAreInUnitRangeEvenForReturnsOutsideTheFittedBounds(string name)
    {
        var train = TrainingReturns(5000, 1);
        var encoding = ImageEncodings.Fit(name, train, 28);
        Assert.That(encoding.Name, Is.EqualTo(name));
        var rng = new Random(2);
        for (int trial = 0; trial < 50; trial++)
        {
            var window = Uniform(rng, 28, -0.15, 0.15); // beyond the 0.5 %..99.5 % bounds
            var image = Encode(encoding, window);
            Assert.That(image, Has.All.InRange(0f, 1f));
        }
    }

    [TestCaseSource(nameof(Names))]
    public void MetadataRoundTripRebuildsAnIdenticalEncoder(string name)
    {
        var encoding = ImageEncodings.Fit(name, TrainingReturns(3000, 5), 16);
        var metadata = encoding.ToMetadata();
        Assert.That(metadata["encoding"], Is.EqualTo(name));
        var copy = ImageEncodings.FromMetadata(new Dictionary<string, string>(metadata));
        Assert.That(copy.GetType(), Is.EqualTo(encoding.GetType()));
        Assert.That(copy.ToMetadata(), Is.EqualTo(metadata));
        Assert.That((copy.WindowLength, copy.Height, copy.Width, copy.CanDecode), Is.EqualTo((encoding.WindowLength, encoding.Height, encoding.Width, encoding.CanDecode)));
        var window = Uniform(new Random(6), 16, -0.05, 0.05);
        Assert.That(Encode(copy, window), Is.EqualTo(Encode(encoding, window)), "bit for bit");

        // Through the checkpoint path: data metadata of kind "prices" carrying the encoding's keys.
        var data = new Dictionary<string, string>(metadata) { ["kind"] = "prices", ["source"] = "test" };
        Assert.That(DataSets.EncodingOf(data)!.ToMetadata(), Is.EqualTo(metadata));
    }

    [TestCaseSource(nameof(Names))]
    public void DecodeEitherRecoversTheWindowOrSaysItCannot(string name)
    {
        var encoding = ImageEncodings.Fit(name, TrainingReturns(3000, 8), 9);
        var window = Uniform(new Random(9), 9, -0.005, 0.005); // well inside the bounds
        var image = Encode(encoding, window);
        var back = new float[9];
        if (encoding.CanDecode)
        {
            encoding.Decode(image, back);
            Assert.That(back, Is.EqualTo(window).Within(1e-6));
        }
        else
        {
            UserError.Assert(() => encoding.Decode(image, back), $"the {name} encoding cannot be decoded");
        }
        Assert.That(encoding.CanDecode, Is.EqualTo(name is "gasf" or "raw"));
    }

    [Test]
    public void FactoryErrorsNameTheEncodingAndListTheValidOnes()
    {
        var train = TrainingReturns(100, 3);
        UserError.Assert(() => ImageEncodings.Fit("gasff", train, 28), "'gasff'", "gasf, gadf, mtf, recurrence, raw");
        UserError.Assert(() => ImageEncodings.FromMetadata(new Dictionary<string, string> { ["encoding"] = "wavelet" }), "'wavelet'", "gasf, gadf, mtf, recurrence, raw");
        UserError.Assert(() => ImageEncodings.FromMetadata(new Dictionary<string, string> { ["window_length"] = "28" }), "no 'encoding'", "window_length");
        UserError.Assert(() => ImageEncodings.FromMetadata(new Dictionary<string, string> { ["encoding"] = "recurrence", ["window_length"] = "28", ["scale"] = "-1" }), "scale", "positive");
        UserError.Assert(() => ImageEncodings.FromMetadata(new Dictionary<string, string> { ["encoding"] = "raw", ["window_length"] = "0", ["lower"] = "0", ["upper"] = "1" }), "window_length '0'");
        UserError.Assert(() => ImageEncodings.Fit("mtf", new float[] { 0.01f, 0.01f, 0.01f }, 4), "constant");
        Assert.That(ImageEncodings.Names, Is.EqualTo(new[] { "gasf", "gadf", "mtf", "recurrence", "raw" }));
    }

    // ---------------------------------------------------------------- GASF through the factory

    [Test]
    public void GasfFromTheFactoryStillRoundTrips()
    {
        var train = TrainingReturns(5000, 11);
        var encoding = ImageEncodings.Fit("gasf", train, 28);
        var gasf = (GasfEncoding)encoding;
        Assert.That((gasf.Height, gasf.Width), Is.EqualTo((28, 28)));
        var rng = new Random(12);
        var back = new float[28];
        for (int trial = 0; trial < 20; trial++)
        {
            var window = Uniform(rng, 28, gasf.Lower, gasf.Upper);
            encoding.Decode(Encode(encoding, window), back);
            for (int i = 0; i < 28; i++) Assert.That(back[i], Is.EqualTo(window[i]).Within(1e-5 * (gasf.Upper - gasf.Lower)));
        }
    }

    // ---------------------------------------------------------------- GADF

    [Test]
    public void GadfMatchesAHandComputedWindow()
    {
        // Bounds [−0.5, 0.5] map r = [−0.5, 0.1, 0.5] to x̃ = cos φ = [0, 0.6, 1], so sin φ = [1, 0.8, 0].
        // G_ij = sin(φi − φj) = sin φi·x̃j − x̃i·sin φj:
        //   G01 = 1·0.6 − 0·0.8 = 0.6,  G02 = 1·1 − 0·0 = 1,  G12 = 0.8·1 − 0.6·0 = 0.8,  G_ji = −G_ij,  G_ii = 0.
        // pixel = (G + 1)/2. The ends are exact floats on purpose: sin φ = √(1 − x̃²) has a square-root
        // singularity at x̃ = 1, where the float rounding of 0.03 (say) would move sin φ by ~2e-4.
        var encoding = new GadfEncoding(3, -0.5, 0.5);
        var image = Encode(encoding, [-0.5f, 0.1f, 0.5f]);
        float[] expected =
        [
            0.5f, 0.8f, 1.0f,
            0.2f, 0.5f, 0.9f,
            0.0f, 0.1f, 0.5f,
        ];
        Assert.That(image, Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void GadfCannotSeeTheLevelOfAWindow()
    {
        // Why it has no decoder: a shift of every angle leaves every difference, and so the image, unchanged.
        var encoding = new GadfEncoding(5, Lower, Upper);
        var low = Encode(encoding, [-0.01f, -0.01f, -0.01f, -0.01f, -0.01f]);
        var high = Encode(encoding, [0.02f, 0.02f, 0.02f, 0.02f, 0.02f]);
        Assert.That(low, Is.EqualTo(high));
        Assert.That(low, Has.All.EqualTo(0.5f));
        UserError.Assert(() => encoding.Decode(low, new float[5]), "gadf");
    }

    // ---------------------------------------------------------------- MTF

    [Test]
    public void MtfMatchesAHandComputedWindow()
    {
        // Training 1..9, Q = 3: edges at the 1/3 and 2/3 quantiles, h = 8/3 → 3 + ⅔·(4 − 3) = 11/3 and
        // h = 16/3 → 6 + ⅓·(7 − 6) = 19/3. Window [5, 1, 5, 9] → bins [1, 0, 1, 2].
        // Transitions 1→0, 0→1, 1→2: W row 0 = [0, 1, 0], row 1 = [½, 0, ½], row 2 never left → [⅓, ⅓, ⅓].
        // M_ij = W[b_i, b_j]: row i = 0 (bin 1) = [W11, W10, W11, W12] = [0, ½, 0, ½]; i = 1 (bin 0) = [1, 0, 1, 0];
        // i = 2 as i = 0; i = 3 (bin 2) = ⅓ everywhere.
        var encoding = MarkovTransitionFieldEncoding.Fit(new double[] { 9, 1, 8, 2, 7, 3, 6, 4, 5 }, 4, bins: 3);
        Assert.That(encoding.Edges, Is.EqualTo(new[] { 11.0 / 3, 19.0 / 3 }).Within(1e-12));
        var image = Encode(encoding, [5f, 1f, 5f, 9f]);
        const float third = 1f / 3;
        float[] expected =
        [
            0, 0.5f, 0, 0.5f,
            1, 0, 1, 0,
            0, 0.5f, 0, 0.5f,
            third, third, third, third,
        ];
        Assert.That(image, Is.EqualTo(expected).Within(1e-7));

        var w = new double[9];
        encoding.TransitionMatrix([5f, 1f, 5f, 9f], w);
        Assert.That(w, Is.EqualTo(new[] { 0, 1, 0, 0.5, 0, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3 }).Within(1e-15));
    }

    [Test]
    public void MtfBinsPutAValueOnAnEdgeInTheLowerBin()
    {
        var encoding = new MarkovTransitionFieldEncoding(4, [-0.01, 0.0, 0.0, 0.01]); // tied edges: bin 2 is empty
        Assert.That(encoding.Bins, Is.EqualTo(5));
        Assert.That(encoding.Bin(-0.02), Is.EqualTo(0));
        Assert.That(encoding.Bin(-0.01), Is.EqualTo(0));
        Assert.That(encoding.Bin(-0.005), Is.EqualTo(1));
        Assert.That(encoding.Bin(0.0), Is.EqualTo(1));
        Assert.That(encoding.Bin(0.005), Is.EqualTo(3));
        Assert.That(encoding.Bin(0.5), Is.EqualTo(4));
    }

    [Test]
    public void MtfTransitionRowsSumToOne()
    {
        var encoding = MarkovTransitionFieldEncoding.Fit(TrainingReturns(5000, 21), 28, bins: 8);
        var rng = new Random(22);
        var w = new double[64];
        for (int trial = 0; trial < 100; trial++)
        {
            encoding.TransitionMatrix(Uniform(rng, 28, -0.04, 0.04), w);
            for (int a = 0; a < 8; a++)
            {
                double sum = 0;
                for (int b = 0; b < 8; b++) { Assert.That(w[a * 8 + b], Is.InRange(0.0, 1.0)); sum += w[a * 8 + b]; }
                Assert.That(sum, Is.EqualTo(1.0).Within(1e-12), $"row {a}");
            }
        }
    }

    [Test]
    public void MtfFitsQuantileEdgesAndRejectsBadEdgeMetadata()
    {
        var encoding = MarkovTransitionFieldEncoding.Fit(TrainingReturns(10_000, 31), 28, bins: 4);
        var train = TrainingReturns(10_000, 31);
        for (int k = 0; k < 3; k++)
        {
            double fraction = train.Count(r => r <= encoding.Edges[k]) / (double)train.Length;
            Assert.That(fraction, Is.EqualTo((k + 1) / 4.0).Within(1e-3), $"edge {k}");
        }
        var metadata = new Dictionary<string, string>(encoding.ToMetadata()) { ["bins"] = "5" };
        UserError.Assert(() => ImageEncodings.FromMetadata(metadata), "bin_edges has 3 values", "5 bins need 4");
        metadata = new Dictionary<string, string>(encoding.ToMetadata()) { ["bin_edges"] = "0.01,0,0.02" };
        UserError.Assert(() => ImageEncodings.FromMetadata(metadata), "must not decrease");
    }

    // ---------------------------------------------------------------- recurrence plot

    [Test]
    public void RecurrencePlotMatchesAHandComputedWindow()
    {
        // scale 0.04, r = [0.01, −0.01, 0.03, 0.05]; pixel = min(|ri − rj|/0.04, 1):
        // |r0−r1| = 0.02 → ½, |r0−r2| = 0.02 → ½, |r0−r3| = 0.04 → 1, |r1−r2| = 0.04 → 1, |r1−r3| = 0.06 → 1 (clamped),
        // |r2−r3| = 0.02 → ½; the diagonal is 0.
        var encoding = new RecurrencePlotEncoding(4, 0.04);
        var image = Encode(encoding, [0.01f, -0.01f, 0.03f, 0.05f]);
        float[] expected =
        [
            0, 0.5f, 0.5f, 1,
            0.5f, 0, 1, 1,
            0.5f, 1, 0, 0.5f,
            1, 1, 0.5f, 0,
        ];
        Assert.That(image, Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void RecurrenceScaleIsTheCentralQuantileRangeAndTheImageIgnoresShiftAndSign()
    {
        // 0, 1, …, 100: the 0.005 and 0.995 quantiles sit at h = 0.5 and 99.5, so the scale is 99.
        var ramp = Enumerable.Range(0, 101).Select(i => (double)i).ToArray();
        Assert.That(RecurrencePlotEncoding.Fit(ramp, 8).Scale, Is.EqualTo(99.0).Within(1e-12));

        var encoding = new RecurrencePlotEncoding(6, 0.05);
        float[] window = [0.01f, -0.02f, 0.005f, 0.0f, 0.015f, -0.01f];
        var image = Encode(encoding, window);
        Assert.That(Encode(encoding, window.Select(r => -r).ToArray()), Is.EqualTo(image), "sign flip");
        Assert.That(Encode(encoding, window.Select(r => r + 0.25f).ToArray()), Is.EqualTo(image).Within(1e-6), "shift");
        UserError.Assert(() => encoding.Decode(image, new float[6]), "recurrence");
    }

    // ---------------------------------------------------------------- raw window

    [TestCase(784, 28, 28)]
    [TestCase(4, 2, 2)]
    [TestCase(28, 1, 28)]
    [TestCase(1, 1, 1)]
    [TestCase(30, 1, 30)]
    public void RawWindowIsSquareWhenItCanBe(int length, int height, int width)
    {
        var encoding = new RawWindowEncoding(length, Lower, Upper);
        Assert.That((encoding.Height, encoding.Width), Is.EqualTo((height, width)));
    }

    [Test]
    public void RawWindowMatchesAHandComputedWindow()
    {
        // x̃ = (r + 0.02)/0.05: −0.02 → 0, 0.01 → 0.6, 0.03 → 1, 0.1 → 2.4, clipped to 1.
        var encoding = new RawWindowEncoding(4, Lower, Upper);
        Assert.That(Encode(encoding, [-0.02f, 0.01f, 0.03f, 0.1f]), Is.EqualTo(new[] { 0f, 0.6f, 1f, 1f }).Within(1e-6));
    }

    [Test]
    public void RawWindowRoundTripIsExactToFloatPrecision()
    {
        var encoding = new RawWindowEncoding(784, Lower, Upper);
        var rng = new Random(41);
        var back = new float[784];
        double range = Upper - Lower, worst = 0;
        for (int trial = 0; trial < 20; trial++)
        {
            var window = Uniform(rng, 784, Lower, Upper);
            encoding.Decode(Encode(encoding, window), back);
            for (int t = 0; t < 784; t++)
            {
                // Two float roundings: the pixel (≤ 2⁻²⁴ of the range) and the decoded return (≤ 2⁻²⁴ of |r|).
                double error = Math.Abs(back[t] - (double)window[t]), allowed = (range + Math.Abs(window[t])) * Math.Pow(2, -24);
                worst = Math.Max(worst, error / allowed);
            }
        }
        TestContext.Out.WriteLine($"worst error / float rounding bound: {worst:F3}");
        Assert.That(worst, Is.LessThanOrEqualTo(1.0));
    }

    [Test]
    public void EncodeWindowsLaysOutNonSquareImages()
    {
        var returns = Uniform(new Random(51), 40, Lower, Upper);
        var encoding = new RawWindowEncoding(28, Lower, Upper);
        var (images, count) = MarketImages.EncodeWindows(returns, encoding, stride: 4);
        Assert.That(count, Is.EqualTo(4)); // windows start at 0, 4, 8, 12
        Assert.That(images, Has.Length.EqualTo(4 * 28));
        Assert.That(images[3 * 28 + 5], Is.EqualTo((float)((returns[12 + 5] - Lower) / (Upper - Lower))).Within(1e-7));
    }
}
