using FinGen.Native.Data;
using NUnit.Framework;

namespace FinGen.Native.Tests;

[TestFixture]
public class PreprocessingTests
{
    /// <summary>n standard normals from a seeded System.Random by Box–Muller (both values of each pair).</summary>
    static double[] Normals(int n, int seed)
    {
        var rng = new Random(seed);
        var z = new double[n];
        for (int i = 0; i < n; i += 2)
        {
            double radius = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())), angle = 2 * Math.PI * rng.NextDouble();
            z[i] = radius * Math.Cos(angle);
            if (i + 1 < n) z[i + 1] = radius * Math.Sin(angle);
        }
        return z;
    }

    // ---------------------------------------------------------------- Lambert W

    [Test]
    public void W0AtKnownValues()
    {
        Assert.That(LambertW.W0(1), Is.EqualTo(0.5671432904097838).Within(2e-16), "the omega constant");
        Assert.That(LambertW.W0(Math.E), Is.EqualTo(1.0).Within(2e-16));
        Assert.That(LambertW.W0(0), Is.EqualTo(0.0));
        // At the branch point W has a square-root singularity: an error ε in x (here the rounding of −1/e to
        // double, ~1e-17) moves W by ~√(2eε) ≈ 1e-8, so this is as close as double allows.
        Assert.That(LambertW.W0(-1 / Math.E), Is.EqualTo(-1.0).Within(1e-7));
        Assert.That(LambertW.W0(LambertW.BranchPoint), Is.EqualTo(-1.0).Within(1e-7));
        // W0(−ln2/2) = −ln 2, since −ln2·e^{−ln2} = −ln2/2; W0(2 ln 2) = ln 2, since ln2·e^{ln2} = 2 ln 2.
        Assert.That(LambertW.W0(-Math.Log(2) / 2), Is.EqualTo(-Math.Log(2)).Within(1e-15));
        Assert.That(LambertW.W0(2 * Math.Log(2)), Is.EqualTo(Math.Log(2)).Within(1e-15));
        Assert.That(LambertW.W0(10 * Math.Exp(10)), Is.EqualTo(10.0).Within(1e-14));
        Assert.Throws<ArgumentOutOfRangeException>(() => LambertW.W0(-0.37));
        Assert.Throws<ArgumentOutOfRangeException>(() => LambertW.W0(double.NaN));
    }

    [Test]
    public void W0SolvesWExpWEqualsXOnRandomArguments()
    {
        var rng = new Random(2024);
        double worst = 0;
        for (int i = 0; i < 30_000; i++)
        {
            double x = (i % 3) switch
            {
                0 => LambertW.BranchPoint * rng.NextDouble(),           // (−1/e, 0]
                1 => 10 * rng.NextDouble(),                              // [0, 10)
                _ => Math.Pow(10, -300 + 600 * rng.NextDouble()),       // 1e−300 .. 1e300
            };
            double w = LambertW.W0(x);
            Assert.That(w, Is.GreaterThanOrEqualTo(-1.0), $"principal branch at x = {x:R}");
            // For large x in log form, w + ln w = ln x, relative to ln x, so the check itself does not overflow.
            double error = x > 1e10 ? Math.Abs(w + Math.Log(w) - Math.Log(x)) / Math.Log(x) : Math.Abs(w * Math.Exp(w) - x) / Math.Max(Math.Abs(x), 1e-300);
            worst = Math.Max(worst, error);
        }
        TestContext.Out.WriteLine($"worst relative residual: {worst:E2}");
        Assert.That(worst, Is.LessThan(1e-14));
    }

    [Test]
    public void GaussianizeAndHeavyTailInvertEachOther()
    {
        var rng = new Random(7);
        foreach (double delta in new[] { 0.0, 0.05, 0.2, 1.0 })
        {
            for (int i = 0; i < 2000; i++)
            {
                double z = -8 + 16 * rng.NextDouble();
                double u = LambertW.HeavyTail(z, delta);
                Assert.That(LambertW.Gaussianize(u, delta), Is.EqualTo(z).Within(1e-13 * (1 + Math.Abs(z))), $"δ = {delta}, z = {z}");
                double v = -50 + 100 * rng.NextDouble();
                Assert.That(LambertW.HeavyTail(LambertW.Gaussianize(v, delta), delta), Is.EqualTo(v).Within(1e-13 * (1 + Math.Abs(v))), $"δ = {delta}, u = {v}");
            }
        }
        // By hand: δ = 0.5, z = 2 → u = 2·e^{0.5·0.5·4} = 2e, and back: W0(0.5·4e²) = W0(2e²) = 2 (2e² = 2·e²), so
        // Gaussianize = 2e·e^{−1} = 2.
        Assert.That(LambertW.HeavyTail(2, 0.5), Is.EqualTo(2 * Math.E).Within(1e-15));
        Assert.That(LambertW.Gaussianize(2 * Math.E, 0.5), Is.EqualTo(2.0).Within(1e-15));
        Assert.That(LambertW.Gaussianize(-2 * Math.E, 0.5), Is.EqualTo(-2.0).Within(1e-15), "odd");
    }

    // ---------------------------------------------------------------- robust standardization

    [Test]
    public void RobustScalerMatchesHandComputation()
    {
        // [1, 2, 3, 4, 100]: median 3; |r − 3| = [2, 1, 0, 1, 97] → sorted [0, 1, 1, 2, 97], MAD 1 → scale 1.4826.
        var odd = Preprocessing.FitRobust(new double[] { 4, 100, 1, 3, 2 });
        Assert.That((odd.Median, odd.Scale, odd.Delta), Is.EqualTo((3.0, 1.4826, 0.0)));
        Assert.That(odd.Apply(6.0), Is.EqualTo(3 / 1.4826).Within(1e-15));
        // [1, 2, 4, 10]: median (2 + 4)/2 = 3; |r − 3| = [2, 1, 1, 7] → MAD (1 + 2)/2 = 1.5 → scale 2.2239.
        var even = Preprocessing.FitRobust(new double[] { 10, 1, 4, 2 });
        Assert.That(even.Median, Is.EqualTo(3.0));
        Assert.That(even.Scale, Is.EqualTo(2.2239).Within(1e-15));
        Assert.That(even.Invert(1.0), Is.EqualTo(3 + 2.2239).Within(1e-15));

        UserError.Assert(() => Preprocessing.FitRobust(new double[] { 0, 0, 0, 0.01, -0.02 }), "median absolute deviation is 0");
        UserError.Assert(() => Preprocessing.FitRobust(new double[] { 0.01, double.NaN, 0.02 }), "NaN");
    }

    // ---------------------------------------------------------------- the δ fit

    [Test]
    public void DeltaIsNearZeroOnGaussianData()
    {
        var z = Normals(20_000, 1);
        var returns = z.Select(v => 0.0004 + 0.012 * v).ToArray();
        var p = Preprocessing.Fit(returns);
        TestContext.Out.WriteLine(p);
        // At δ = 0 the estimate's spread is about √(24/n)/12 ≈ 0.003 (kurtosis ≈ 3 + 12δ for small δ, and the sample
        // kurtosis has standard error √(24/n)); δ sits on the boundary, so only positive errors show.
        Assert.That(p.Delta, Is.LessThan(0.02));
        Assert.That(p.Scale, Is.EqualTo(0.012).Within(0.012 * 0.03));
        Assert.That(p.Median, Is.EqualTo(0.0004).Within(0.0004));
    }

    [Test]
    public void DeltaIsRecoveredFromSimulatedHeavyTails()
    {
        const double delta = 0.2, sigma = 0.01, mu = 0.0003;
        var z = Normals(20_000, 2);
        var returns = z.Select(v => mu + sigma * LambertW.HeavyTail(v, delta)).ToArray();
        var p = Preprocessing.Fit(returns);
        TestContext.Out.WriteLine(p);
        Assert.That(p.Delta, Is.EqualTo(delta).Within(0.05));
        Assert.That(p.Scale, Is.EqualTo(sigma).Within(sigma * 0.05));

        // The transformed returns are the simulated normals again, up to the estimation error.
        double sum = 0, sumSquares = 0, sumFourth = 0;
        foreach (double r in returns) { double g = p.Apply(r); sum += g; sumSquares += g * g; sumFourth += g * g * g * g; }
        double mean = sum / returns.Length, variance = sumSquares / returns.Length - mean * mean;
        double kurtosis = sumFourth / returns.Length / (variance * variance);
        TestContext.Out.WriteLine($"transformed: mean {mean:F4}, variance {variance:F4}, kurtosis {kurtosis:F3}");
        Assert.That(variance, Is.EqualTo(1.0).Within(0.05));
        Assert.That(kurtosis, Is.EqualTo(3.0).Within(0.2), "the heavy tails are gone");
    }

    // ---------------------------------------------------------------- round trips

    [Test]
    public void InvertUndoesApplyToFloatPrecisionAndApplyUndoesInvert()
    {
        var p = new Preprocessing(0.0003, 0.011, 0.25);
        var rng = new Random(5);
        var returns = new float[5000];
        for (int i = 0; i < returns.Length; i++) returns[i] = (float)(0.2 * (rng.NextDouble() - 0.5));
        var back = p.Invert(p.Apply(returns));
        for (int i = 0; i < returns.Length; i++)
            Assert.That(back[i], Is.EqualTo(returns[i]).Within(1e-6 * Math.Abs(returns[i]) + 1e-9), $"return {i}");

        // Any generated value decodes to a return that transforms back to it.
        for (int i = 0; i < 1000; i++)
        {
            double g = -6 + 12 * rng.NextDouble();
            Assert.That(p.Apply(p.Invert(g)), Is.EqualTo(g).Within(1e-12 * (1 + Math.Abs(g))));
        }

        var inPlace = (float[])returns.Clone();
        p.Apply(inPlace, inPlace);
        Assert.That(inPlace, Is.EqualTo(p.Apply(returns)), "in place equals out of place");
    }

    [Test]
    public void MetadataRoundTripIsExact()
    {
        var p = new Preprocessing(1.0 / 3, 0.1 + 0.2, Math.PI / 10);
        var metadata = p.ToMetadata();
        Assert.That(metadata["preprocessing"], Is.EqualTo("robust-lambertw"));
        var copy = Preprocessing.FromMetadata(new Dictionary<string, string>(metadata));
        Assert.That(copy, Is.EqualTo(p));
        Assert.That(BitConverter.DoubleToInt64Bits(copy.Scale), Is.EqualTo(BitConverter.DoubleToInt64Bits(p.Scale)));

        UserError.Assert(() => Preprocessing.FromMetadata(new Dictionary<string, string> { ["encoding"] = "gasf" }), "no 'preprocessing'");
        UserError.Assert(() => Preprocessing.FromMetadata(new Dictionary<string, string>(metadata) { ["preprocessing_delta"] = "-0.1" }), "preprocessing_delta", "[0, 5]");
        UserError.Assert(() => Preprocessing.FromMetadata(new Dictionary<string, string>(metadata) { ["preprocessing_scale"] = "abc" }), "preprocessing_scale 'abc'");
        UserError.Assert(() => Preprocessing.FromMetadata(new Dictionary<string, string>(metadata) { ["preprocessing"] = "box-cox" }), "'box-cox'");
    }
}
