namespace FinGen.Native.Data;

/// <summary>
/// The principal branch W₀ of the Lambert W function (the w ≥ −1 solving w·eʷ = x, for x ≥ −1/e) and the
/// heavy-tail Lambert W × Gaussian transform of Goerg (2015, "The Lambert Way to Gaussianize Heavy-Tailed
/// Data"), which QuantGAN uses to make return distributions closer to normal before training.
/// </summary>
public static class LambertW
{
    /// <summary>−1/e, the branch point: W₀(−1/e) = −1.</summary>
    public const double BranchPoint = -0.36787944117144233;

    /// <summary>
    /// W₀(<paramref name="x"/>) in double. Near the branch point it uses the series in p = √(2(e·x + 1)),
    /// W = −1 + p − p²/3 + 11p³/72 − 43p⁴/540 + …; elsewhere Halley's iteration on f(w) = w·eʷ − x,
    /// w ← w − f / (eʷ(w + 1) − (w + 2)f / (2w + 2)), from ln(1 + x) or, for large x, ln x − ln ln x.
    /// Arguments below −1/e (beyond rounding of −1/e itself) throw.
    /// </summary>
    public static double W0(double x)
    {
        if (x == 0) return 0;
        if (double.IsPositiveInfinity(x)) return double.PositiveInfinity;
        double p2 = 2.0 * (Math.E * x + 1.0);
        if (double.IsNaN(x) || p2 < -1e-15)
            throw new ArgumentOutOfRangeException(nameof(x), x, "W₀ is defined for x ≥ −1/e");
        double p = Math.Sqrt(Math.Max(p2, 0.0));
        double w;
        if (p < 1e-3) return BranchSeries(p); // the series' next term, ~0.045·p⁵, is below double rounding
        else if (x < -0.25) w = BranchSeries(p);
        else if (x < Math.E) w = Math.Log(1.0 + x);
        else
        {
            double l = Math.Log(x);
            w = l - Math.Log(l);
        }
        for (int iteration = 0; iteration < 32; iteration++)
        {
            double ew = Math.Exp(w), f = w * ew - x, wp1 = w + 1.0;
            double step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1));
            if (!double.IsFinite(step)) break;
            w -= step;
            if (Math.Abs(step) <= 4e-16 * Math.Abs(w)) break;
        }
        return w;
    }

    private static double BranchSeries(double p) => -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0 + p * (-43.0 / 540.0))));

    /// <summary>
    /// The Gaussianizing map u ↦ W_δ(u) = sign(u)·√(W₀(δu²)/δ), written as u·exp(−W₀(δu²)/2) (equal because
    /// W₀(x)/x = e^{−W₀(x)}), which stays exact for small δu². δ = 0 is the identity.
    /// </summary>
    public static double Gaussianize(double u, double delta)
    {
        if (delta == 0) return u;
        return u * Math.Exp(-0.5 * W0(delta * u * u));
    }

    /// <summary>The inverse of <see cref="Gaussianize"/>, the heavy-tail transform z ↦ z·exp(δz²/2).</summary>
    public static double HeavyTail(double z, double delta) => z * Math.Exp(0.5 * delta * z * z);

    /// <summary>
    /// The mean negative log-likelihood of <paramref name="u"/> under U = σ·Z·exp(δZ²/2), Z ~ N(0, 1):
    /// with z = W_δ(u/σ), log f(u) = −½ ln 2π − z²/2 − ln σ − δz²/2 − ln(1 + δz²), the last two terms from
    /// du/dz = σ·exp(δz²/2)(1 + δz²).
    /// </summary>
    public static double NegativeLogLikelihood(ReadOnlySpan<double> u, double scale, double delta)
    {
        if (!(scale > 0) || !(delta >= 0)) return double.PositiveInfinity;
        double sum = 0;
        foreach (double v in u)
        {
            double z = Gaussianize(v / scale, delta), z2 = z * z;
            sum += 0.5 * (1.0 + delta) * z2 + Math.Log(1.0 + delta * z2);
        }
        return sum / u.Length + Math.Log(scale) + 0.5 * Math.Log(2.0 * Math.PI);
    }
}
