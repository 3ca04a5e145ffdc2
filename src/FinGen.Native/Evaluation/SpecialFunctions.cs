namespace FinGen.Native.Evaluation;

/// <summary>
/// The special functions behind the tests' p-values and the Student-t quantiles, in double precision:
/// ln Γ, the regularized incomplete gamma functions P and Q, the regularized incomplete beta function,
/// and the χ², Student-t and binomial distribution functions built on them.
/// Algorithms: Lanczos (1964) for ln Γ; the power series and the Legendre continued fraction
/// (evaluated by the modified Lentz method) for P and Q, and the continued fraction of I_x(a, b),
/// as laid out in Press et al., <i>Numerical Recipes</i>, 3rd ed., §6.1, §6.2 and §6.4.
/// </summary>
public static class SpecialFunctions
{
    const double Epsilon = 5e-16; // about two units in the last place: a Lentz factor this close to 1 has converged
    const double Tiny = 1e-300;
    const int MaxIterations = 10_000;

    // Lanczos approximation with g = 7 and nine coefficients (relative error below 1e-15 for x > 0).
    const double LanczosG = 7.0;
    static readonly double[] LanczosCoefficients =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
        -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
        1.5056327351493116e-7,
    ];

    /// <summary>
    /// ln Γ(x) for x &gt; 0. Lanczos: Γ(z + 1) = √(2π)·(z + g + ½)^(z + ½)·e^(−(z + g + ½))·A_g(z),
    /// A_g(z) = c₀ + Σₖ cₖ/(z + k); below ½ the reflection Γ(x)Γ(1 − x) = π/sin(πx) is used.
    /// </summary>
    public static double LogGamma(double x)
    {
        if (!(x > 0)) Throw.User($"ln Γ(x) needs x > 0, got {x}");
        if (x < 0.5) return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1.0 - x);
        double z = x - 1.0;
        double sum = LanczosCoefficients[0];
        for (int k = 1; k < LanczosCoefficients.Length; k++) sum += LanczosCoefficients[k] / (z + k);
        double t = z + LanczosG + 0.5;
        return 0.5 * Math.Log(2.0 * Math.PI) + (z + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    /// <summary>
    /// The regularized lower incomplete gamma function P(a, x) = γ(a, x)/Γ(a) = (1/Γ(a))∫₀ˣ t^(a−1) e^(−t) dt,
    /// a &gt; 0, x ≥ 0. For x &lt; a + 1 the series P = e^(−x) x^a / Γ(a + 1) · Σₙ xⁿ/((a + 1)⋯(a + n));
    /// otherwise P = 1 − Q with Q from its continued fraction (see <see cref="RegularizedGammaQ"/>).
    /// </summary>
    public static double RegularizedGammaP(double a, double x)
    {
        CheckGammaArguments(a, x);
        if (x == 0) return 0;
        return x < a + 1 ? GammaSeries(a, x) : 1.0 - GammaContinuedFraction(a, x);
    }

    /// <summary>
    /// The regularized upper incomplete gamma function Q(a, x) = 1 − P(a, x), computed directly in the
    /// upper range so that small tail probabilities keep their relative precision. For x ≥ a + 1,
    /// Q = e^(−x) x^a / Γ(a) · 1/(x + 1 − a − 1·(1 − a)/(x + 3 − a − 2·(2 − a)/(x + 5 − a − ⋯))).
    /// </summary>
    public static double RegularizedGammaQ(double a, double x)
    {
        CheckGammaArguments(a, x);
        if (x == 0) return 1;
        return x < a + 1 ? 1.0 - GammaSeries(a, x) : GammaContinuedFraction(a, x);
    }

    /// <summary>P(X ≤ x) for X ~ χ²(k): P(k/2, x/2). Zero for x ≤ 0.</summary>
    public static double ChiSquaredCdf(double x, double degreesOfFreedom)
    {
        if (!(degreesOfFreedom > 0)) Throw.User($"χ² degrees of freedom must be positive, got {degreesOfFreedom}");
        return x <= 0 ? 0 : RegularizedGammaP(0.5 * degreesOfFreedom, 0.5 * x);
    }

    /// <summary>P(X &gt; x) for X ~ χ²(k): Q(k/2, x/2), the p-value of a likelihood-ratio statistic x. One for x ≤ 0.</summary>
    public static double ChiSquaredSurvival(double x, double degreesOfFreedom)
    {
        if (!(degreesOfFreedom > 0)) Throw.User($"χ² degrees of freedom must be positive, got {degreesOfFreedom}");
        return x <= 0 ? 1 : RegularizedGammaQ(0.5 * degreesOfFreedom, 0.5 * x);
    }

    /// <summary>
    /// The regularized incomplete beta function I_x(a, b) = B(x; a, b)/B(a, b), a, b &gt; 0, 0 ≤ x ≤ 1.
    /// I_x(a, b) = x^a (1 − x)^b / (a·B(a, b)) · 1/(1 + d₁/(1 + d₂/(1 + ⋯))) with
    /// d₂ₘ₊₁ = −(a + m)(a + b + m)x/((a + 2m)(a + 2m + 1)), d₂ₘ = m(b − m)x/((a + 2m − 1)(a + 2m)),
    /// used for x &lt; (a + 1)/(a + b + 2); above that, I_x(a, b) = 1 − I_(1−x)(b, a).
    /// </summary>
    public static double RegularizedBeta(double x, double a, double b)
    {
        if (!(a > 0 && b > 0)) Throw.User($"incomplete beta needs a, b > 0, got a = {a}, b = {b}");
        if (!(x >= 0 && x <= 1)) Throw.User($"incomplete beta needs 0 ≤ x ≤ 1, got {x}");
        if (x == 0) return 0;
        if (x == 1) return 1;
        double logFront = LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1.0 - x);
        if (x < (a + 1.0) / (a + b + 2.0)) return Math.Exp(logFront) * BetaContinuedFraction(x, a, b) / a;
        return 1.0 - Math.Exp(logFront) * BetaContinuedFraction(1.0 - x, b, a) / b;
    }

    /// <summary>
    /// P(T ≤ t) for T ~ Student-t(ν): with x = ν/(ν + t²), P(|T| &gt; |t|) = I_x(ν/2, ½), so the CDF is
    /// 1 − ½I_x(ν/2, ½) for t &gt; 0 and ½I_x(ν/2, ½) for t ≤ 0.
    /// </summary>
    public static double StudentTCdf(double t, double nu)
    {
        if (!(nu > 0)) Throw.User($"Student-t degrees of freedom must be positive, got {nu}");
        if (double.IsNaN(t)) Throw.User("Student-t CDF of NaN");
        if (double.IsInfinity(t)) return t > 0 ? 1 : 0;
        double tail = 0.5 * RegularizedBeta(nu / (nu + t * t), 0.5 * nu, 0.5);
        return t > 0 ? 1.0 - tail : tail;
    }

    /// <summary>
    /// The p-quantile of Student-t(ν), 0 &lt; p &lt; 1: the t with P(T ≤ t) = p. Found by bracketing and
    /// bisection on the upper tail ½I_x(ν/2, ½) = min(p, 1 − p) to a relative width of 1e-15, then
    /// signed by the symmetry t_p = −t_(1−p).
    /// </summary>
    public static double StudentTQuantile(double p, double nu)
    {
        if (!(nu > 0)) Throw.User($"Student-t degrees of freedom must be positive, got {nu}");
        Checks.Level(p, "probability");
        if (p == 0.5) return 0;
        double tailTarget = Math.Min(p, 1.0 - p);
        double lo = 0, hi = 1;
        while (UpperTail(hi, nu) > tailTarget)
        {
            lo = hi;
            hi *= 2;
            if (hi > 1e300) break;
        }
        for (int i = 0; i < 2000 && hi - lo > 1e-15 * hi; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (UpperTail(mid, nu) > tailTarget) lo = mid; else hi = mid;
        }
        double t = 0.5 * (lo + hi);
        return p > 0.5 ? t : -t;
    }

    /// <summary>
    /// P(X ≤ k) for X ~ Binomial(n, p): Σᵢ₌₀ᵏ C(n, i) pⁱ (1 − p)ⁿ⁻ⁱ, each term formed in logarithms
    /// (ln C(n, i) = ln Γ(n + 1) − ln Γ(i + 1) − ln Γ(n − i + 1)) so that large n does not underflow.
    /// </summary>
    public static double BinomialCdf(int k, int n, double p)
    {
        Checks.AtLeast(n, 0, "number of trials");
        if (!(p >= 0 && p <= 1)) Throw.User($"binomial probability {p} must be in [0, 1]");
        if (k < 0) return 0;
        if (k >= n) return 1;
        if (p == 0) return 1;
        if (p == 1) return 0;
        double logP = Math.Log(p), logQ = double.LogP1(-p), logNFactorial = LogGamma(n + 1.0);
        double sum = 0;
        for (int i = 0; i <= k; i++)
        {
            sum += Math.Exp(logNFactorial - LogGamma(i + 1.0) - LogGamma(n - i + 1.0) + i * logP + (n - i) * logQ);
        }
        return Math.Min(sum, 1.0);
    }

    static double UpperTail(double t, double nu) => 0.5 * RegularizedBeta(nu / (nu + t * t), 0.5 * nu, 0.5);

    static void CheckGammaArguments(double a, double x)
    {
        if (!(a > 0)) Throw.User($"incomplete gamma needs a > 0, got {a}");
        if (!(x >= 0)) Throw.User($"incomplete gamma needs x ≥ 0, got {x}");
    }

    // P(a, x) by its series; converges quickly for x < a + 1.
    static double GammaSeries(double a, double x)
    {
        double denominator = a;
        double term = 1.0 / a;
        double sum = term;
        for (int n = 1; n < MaxIterations; n++)
        {
            denominator += 1;
            term *= x / denominator;
            sum += term;
            if (Math.Abs(term) < Math.Abs(sum) * Epsilon) break;
        }
        return sum * Math.Exp(-x + a * Math.Log(x) - LogGamma(a));
    }

    // Q(a, x) by the continued fraction, evaluated with the modified Lentz method; for x ≥ a + 1.
    static double GammaContinuedFraction(double a, double x)
    {
        double b = x + 1.0 - a;
        double c = 1.0 / Tiny;
        double d = 1.0 / b;
        double h = d;
        for (int i = 1; i < MaxIterations; i++)
        {
            double an = -i * (i - a);
            b += 2.0;
            d = an * d + b;
            if (Math.Abs(d) < Tiny) d = Tiny;
            c = b + an / c;
            if (Math.Abs(c) < Tiny) c = Tiny;
            d = 1.0 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1.0) < Epsilon) break;
        }
        return Math.Exp(-x + a * Math.Log(x) - LogGamma(a)) * h;
    }

    // The continued fraction of I_x(a, b) (without its prefactor), modified Lentz; for x < (a + 1)/(a + b + 2).
    static double BetaContinuedFraction(double x, double a, double b)
    {
        double c = 1.0;
        double d = 1.0 - (a + b) * x / (a + 1.0);
        if (Math.Abs(d) < Tiny) d = Tiny;
        d = 1.0 / d;
        double h = d;
        for (int m = 1; m < MaxIterations; m++)
        {
            int m2 = 2 * m;
            double even = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
            d = 1.0 + even * d;
            if (Math.Abs(d) < Tiny) d = Tiny;
            c = 1.0 + even / c;
            if (Math.Abs(c) < Tiny) c = Tiny;
            d = 1.0 / d;
            h *= d * c;
            double odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
            d = 1.0 + odd * d;
            if (Math.Abs(d) < Tiny) d = Tiny;
            c = 1.0 + odd / c;
            if (Math.Abs(c) < Tiny) c = Tiny;
            d = 1.0 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1.0) < Epsilon) break;
        }
        return h;
    }
}
