using FinGen.Native.Randomness;

namespace FinGen.Native.Evaluation;

/// <summary>
/// The Philox streams the evaluation code draws from. They sit far above the engine's own
/// <see cref="Philox.Stream"/> values, so an evaluation draw never reuses training noise.
/// </summary>
static class EvaluationStreams
{
    const ulong Base = 0x4556_414C_0000_0000; // "EVAL" in the high word
    public const ulong MmdSubsampleX = Base + 1;
    public const ulong MmdSubsampleY = Base + 2;
    public const ulong GarchInnovations = Base + 3;
    public const ulong FixedBlockBootstrap = Base + 4;
    public const ulong StationaryBootstrap = Base + 5;
    public const ulong GjrInnovations = Base + 16;
    public const ulong FilteredBootstrap = Base + 17;
    public const ulong ConditionalScenarios = Base + 18;
    public const ulong ComponentGjrInnovations = Base + 19;
    // The forecast scores take a block of their own, so that streams added meanwhile after Base + 5 cannot collide with them.
    public const ulong AcerbiSzekelyReplications = Base + 0x100;
    public const ulong PathBootstrap = Base + 0x101;
}

/// <summary>
/// A sequential reader of one Philox stream in double precision: word n, n+1, ... of (seed, stream).
/// Uniforms take 53 random bits from two words; normals are Box–Muller in double (both values used);
/// gammas are Marsaglia–Tsang (2000). Every value is a pure function of (seed, stream, position), so
/// a run is reproducible bit for bit.
/// </summary>
struct PhiloxCursor(ulong seed, ulong stream)
{
    ulong _position;
    double _spareNormal;
    bool _hasSpare;

    /// <summary>The next 32-bit word of the stream.</summary>
    public uint NextWord() => Philox.Word(seed, stream, _position++);

    /// <summary>A uniform in the open interval (0, 1): (k + 0.5)/2⁵³ with k a 53-bit integer.</summary>
    public double NextUniform()
    {
        ulong high = NextWord() >> 6; // 26 bits
        ulong low = NextWord() >> 5;  // 27 bits
        ulong k = (high << 27) | low;
        return (k + 0.5) * (1.0 / 9007199254740992.0);
    }

    /// <summary>A standard normal (Box–Muller: √(−2 ln u₁)·cos(2πu₂), then the sine as the next value).</summary>
    public double NextNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }
        double radius = Math.Sqrt(-2.0 * Math.Log(NextUniform()));
        double angle = 2.0 * Math.PI * NextUniform();
        _spareNormal = radius * Math.Sin(angle);
        _hasSpare = true;
        return radius * Math.Cos(angle);
    }

    /// <summary>
    /// A Gamma(<paramref name="shape"/>, 1) variate. Marsaglia &amp; Tsang, "A simple method for generating
    /// gamma variables" (ACM TOMS 26, 2000): d = a − 1/3, c = 1/√(9d), v = (1 + c·x)³ with x normal,
    /// accept d·v when ln u &lt; x²/2 + d − d·v + d·ln v. For a &lt; 1, Gamma(a) = Gamma(a + 1)·u^(1/a).
    /// </summary>
    public double NextGamma(double shape)
    {
        if (shape < 1) return NextGamma(shape + 1) * Math.Pow(NextUniform(), 1.0 / shape);
        double d = shape - 1.0 / 3.0;
        double c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x = NextNormal();
            double v = 1.0 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            double u = NextUniform();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>
    /// A Student-t variate with ν &gt; 2 degrees of freedom scaled to unit variance:
    /// z = x / √(χ²_ν/ν) · √((ν − 2)/ν), with x normal and χ²_ν = 2·Gamma(ν/2, 1).
    /// </summary>
    public double NextStandardizedStudentT(double nu)
    {
        double x = NextNormal();
        double chiSquared = 2.0 * NextGamma(0.5 * nu);
        return x / Math.Sqrt(chiSquared / nu) * Math.Sqrt((nu - 2.0) / nu);
    }
}
