namespace FinGen.Native.Evaluation;

/// <summary>The first four moments of a sample, as population (biased, divide-by-n) estimates.</summary>
/// <param name="Mean">x̄ = Σxᵢ/n.</param>
/// <param name="StandardDeviation">√m₂ with mₖ = Σ(xᵢ − x̄)ᵏ/n.</param>
/// <param name="Skewness">g₁ = m₃/m₂^(3/2).</param>
/// <param name="ExcessKurtosis">g₂ = m₄/m₂² − 3 (zero for a normal distribution).</param>
public readonly record struct Moments(double Mean, double StandardDeviation, double Skewness, double ExcessKurtosis);

/// <summary>What a statistic is computed on: the returns r, their absolute values |r|, or their squares r².</summary>
public enum ReturnTransform
{
    /// <summary>r itself.</summary>
    Identity,
    /// <summary>|r|, the usual proxy for volatility clustering.</summary>
    Absolute,
    /// <summary>r².</summary>
    Squared,
}

/// <summary>Autocorrelations at lags 0..L (index = lag, element 0 is 1) of r, |r| and r².</summary>
public sealed record ReturnAutocorrelations(double[] Returns, double[] Absolute, double[] Squared);

/// <summary>A fitted decay ACF(k) ≈ <see cref="Amplitude"/>·k^(−<see cref="Beta"/>) over <see cref="LagsUsed"/> lags.</summary>
public readonly record struct PowerLawFit(double Beta, double Amplitude, int LagsUsed);

/// <summary>
/// The waiting-time distributions of the gain/loss asymmetry: <see cref="Gain"/>[τ − 1] is the fraction
/// of start days whose cumulative log return first reaches +<see cref="Theta"/> after exactly τ days,
/// <see cref="Loss"/>[τ − 1] the same for −θ, τ = 1..T. Each sums to at most 1 (the rest never reached θ
/// within T days).
/// </summary>
public sealed record GainLossDistribution(double Theta, double[] Gain, double[] Loss)
{
    /// <summary>The τ at which <see cref="Gain"/> peaks (the "optimal investment horizon"); 0 if θ is never reached.</summary>
    public int MostLikelyGainHorizon => PeakHorizon(Gain);

    /// <summary>The τ at which <see cref="Loss"/> peaks; 0 if −θ is never reached.</summary>
    public int MostLikelyLossHorizon => PeakHorizon(Loss);

    static int PeakHorizon(double[] distribution)
    {
        int best = 0;
        double bestValue = 0;
        for (int i = 0; i < distribution.Length; i++)
        {
            if (distribution[i] > bestValue) { bestValue = distribution[i]; best = i + 1; }
        }
        return best;
    }
}

/// <summary>
/// The stylized facts of daily log returns (Cont, "Empirical properties of asset returns: stylized facts
/// and statistical issues", Quantitative Finance 1, 2001) used to judge synthetic series as in Wiese et al.,
/// "Quant GANs: deep generation of financial time series" (Quantitative Finance 20, 2020): heavy tails,
/// absence of linear autocorrelation, volatility clustering, the leverage effect, gain/loss asymmetry and
/// aggregational Gaussianity. Inputs are log returns rₜ = ln(Pₜ₊₁/Pₜ), oldest first; every value must be
/// finite, and a statistic that divides by a variance throws <see cref="FinGenException"/> on a constant series.
/// </summary>
public static class StylizedFacts
{
    /// <summary>The share of the sample used by <see cref="HillTailIndex"/> when no k is given.</summary>
    public const double DefaultHillFraction = 0.05;

    /// <summary>x̄ = Σxᵢ/n.</summary>
    public static double Mean(ReadOnlySpan<double> x)
    {
        Checks.Series(x, 1, "returns", "a mean");
        double sum = 0;
        foreach (double v in x) sum += v;
        return sum / x.Length;
    }

    /// <summary>The population standard deviation √(Σ(xᵢ − x̄)²/n) (numpy's default ddof = 0).</summary>
    public static double StandardDeviation(ReadOnlySpan<double> x)
    {
        Checks.Series(x, 1, "returns", "a standard deviation");
        return Math.Sqrt(Checks.PopulationVariance(x, out _));
    }

    /// <summary>The population skewness g₁ = m₃/m₂^(3/2), mₖ = Σ(xᵢ − x̄)ᵏ/n (scipy.stats.skew with bias = True).</summary>
    public static double Skewness(ReadOnlySpan<double> x) => Describe(x).Skewness;

    /// <summary>The population excess kurtosis g₂ = m₄/m₂² − 3 (scipy.stats.kurtosis with fisher = True, bias = True).</summary>
    public static double ExcessKurtosis(ReadOnlySpan<double> x) => Describe(x).ExcessKurtosis;

    /// <summary>Mean, standard deviation, skewness and excess kurtosis, all population moments (see <see cref="Moments"/>).</summary>
    public static Moments Describe(ReadOnlySpan<double> x)
    {
        Checks.Series(x, 2, "returns", "skewness and kurtosis");
        double m2 = Checks.PopulationVariance(x, out double mean);
        if (m2 == 0) Throw.User("returns are constant (zero variance): skewness and kurtosis are undefined");
        double m3 = 0, m4 = 0;
        foreach (double v in x)
        {
            double d = v - mean, d2 = d * d;
            m3 += d2 * d;
            m4 += d2 * d2;
        }
        m3 /= x.Length;
        m4 /= x.Length;
        return new Moments(mean, Math.Sqrt(m2), m3 / (m2 * Math.Sqrt(m2)), m4 / (m2 * m2) - 3.0);
    }

    /// <summary>
    /// The Hill (1975) estimator of the tail index α of |r|: with |r|₍₁₎ ≥ |r|₍₂₎ ≥ ⋯ the absolute returns in
    /// decreasing order and k the number of tail observations,
    /// α̂ = 1 / ((1/k) Σᵢ₌₁ᵏ ln(|r|₍ᵢ₎/|r|₍ₖ₊₁₎)). For a Pareto tail P(|r| &gt; x) ∝ x^(−α) it estimates α
    /// (daily equity returns typically give 3–5). <paramref name="tailCount"/> defaults to
    /// ⌊0.05·n⌋ (at least 1); it must satisfy 1 ≤ k &lt; n, and |r|₍ₖ₊₁₎ must be positive.
    /// </summary>
    public static double HillTailIndex(ReadOnlySpan<double> returns, int? tailCount = null)
    {
        Checks.Series(returns, 2, "returns", "the Hill estimator");
        int k = tailCount ?? Math.Max(1, (int)(DefaultHillFraction * returns.Length));
        if (k < 1 || k >= returns.Length) Throw.User($"Hill tail count k = {k} must be in [1, {returns.Length - 1}] for {English.Plural(returns.Length, "return")}");
        var magnitudes = new double[returns.Length];
        for (int i = 0; i < returns.Length; i++) magnitudes[i] = Math.Abs(returns[i]);
        Array.Sort(magnitudes);
        Array.Reverse(magnitudes);
        double threshold = magnitudes[k];
        if (threshold <= 0) Throw.User($"Hill estimator: the {k + 1}-th largest absolute return is 0; use a smaller k");
        double sum = 0;
        for (int i = 0; i < k; i++) sum += Math.Log(magnitudes[i] / threshold);
        if (sum == 0) Throw.User($"Hill estimator: the {k + 1} largest absolute returns are equal; the tail index is undefined");
        return k / sum;
    }

    /// <summary>
    /// The sample autocorrelation function at lags 0..<paramref name="maxLag"/> (element k is lag k), with the
    /// standard biased estimator of statsmodels' <c>acf</c> (adjusted = False):
    /// ρ̂(k) = γ̂(k)/γ̂(0), γ̂(k) = (1/n) Σₜ₌₀ⁿ⁻¹⁻ᵏ (xₜ − x̄)(xₜ₊ₖ − x̄). Needs 0 ≤ maxLag &lt; n.
    /// </summary>
    public static double[] Autocorrelation(ReadOnlySpan<double> x, int maxLag)
    {
        Checks.Series(x, 2, "series", "an autocorrelation");
        if (maxLag < 0 || maxLag >= x.Length) Throw.User($"maximum lag {maxLag} must be in [0, {x.Length - 1}] for a series of {x.Length}");
        double variance = Checks.PopulationVariance(x, out double mean);
        if (variance == 0) Throw.User("series is constant (zero variance): its autocorrelation is undefined");
        int n = x.Length;
        var centered = new double[n];
        for (int t = 0; t < n; t++) centered[t] = x[t] - mean;
        var acf = new double[maxLag + 1];
        acf[0] = 1.0;
        for (int k = 1; k <= maxLag; k++)
        {
            double sum = 0;
            for (int t = 0; t + k < n; t++) sum += centered[t] * centered[t + k];
            acf[k] = sum / n / variance;
        }
        return acf;
    }

    /// <summary>The autocorrelation (see <see cref="Autocorrelation"/>) of r, |r| or r².</summary>
    public static double[] Autocorrelation(ReadOnlySpan<double> returns, int maxLag, ReturnTransform transform) =>
        Autocorrelation(Transform(returns, transform), maxLag);

    /// <summary>
    /// The ACFs of r (no linear autocorrelation expected), and of |r| and r² (slowly decaying, positive:
    /// volatility clustering) at lags 0..<paramref name="maxLag"/>.
    /// </summary>
    public static ReturnAutocorrelations Autocorrelations(ReadOnlySpan<double> returns, int maxLag) => new(
        Autocorrelation(returns, maxLag, ReturnTransform.Identity),
        Autocorrelation(returns, maxLag, ReturnTransform.Absolute),
        Autocorrelation(returns, maxLag, ReturnTransform.Squared));

    /// <summary>
    /// Fits ρ(k) ≈ A·k^(−β) to an autocorrelation vector (element k = lag k; element 0 is ignored) by ordinary
    /// least squares of ln ρ(k) on ln k over the lags k ≥ 1 with ρ(k) &gt; 0: β = −slope, A = e^intercept.
    /// Cont (2001) reports β ≈ 0.2–0.4 for the ACF of |r|. Needs at least two positive lags.
    /// </summary>
    public static PowerLawFit FitPowerLawDecay(ReadOnlySpan<double> acf)
    {
        Checks.Finite(acf, "autocorrelations");
        int count = 0;
        double sumX = 0, sumY = 0;
        for (int k = 1; k < acf.Length; k++)
        {
            if (acf[k] <= 0) continue;
            count++;
            sumX += Math.Log(k);
            sumY += Math.Log(acf[k]);
        }
        if (count < 2) Throw.User($"power-law fit needs at least 2 lags with a positive autocorrelation, found {count}");
        double meanX = sumX / count, meanY = sumY / count, sxx = 0, sxy = 0;
        for (int k = 1; k < acf.Length; k++)
        {
            if (acf[k] <= 0) continue;
            double dx = Math.Log(k) - meanX;
            sxx += dx * dx;
            sxy += dx * (Math.Log(acf[k]) - meanY);
        }
        double slope = sxy / sxx;
        return new PowerLawFit(-slope, Math.Exp(meanY - slope * meanX), count);
    }

    /// <summary>The power-law decay exponent of the ACF of |r| over lags 1..<paramref name="maxLag"/> (see <see cref="FitPowerLawDecay"/>).</summary>
    public static PowerLawFit AbsoluteAutocorrelationDecay(ReadOnlySpan<double> returns, int maxLag) =>
        FitPowerLawDecay(Autocorrelation(returns, maxLag, ReturnTransform.Absolute));

    /// <summary>
    /// The leverage effect ℓ(k) = corr(rₜ, r²ₜ₊ₖ) for k = 1..<paramref name="maxLag"/> (element k − 1 is lag k):
    /// the Pearson correlation of the n − k pairs (rₜ, r²ₜ₊ₖ), t = 0..n − 1 − k, each side centred on its own
    /// mean over those pairs. Negative for equities: falls in price precede rises in volatility
    /// (Black 1976; Bouchaud, Matacz &amp; Potters 2001; Wiese et al. 2020). Needs n − maxLag ≥ 2.
    /// </summary>
    public static double[] LeverageEffect(ReadOnlySpan<double> returns, int maxLag)
    {
        Checks.Series(returns, 3, "returns", "a leverage correlation");
        if (maxLag < 1 || maxLag > returns.Length - 2) Throw.User($"leverage maximum lag {maxLag} must be in [1, {returns.Length - 2}] for {English.Plural(returns.Length, "return")}");
        var result = new double[maxLag];
        for (int k = 1; k <= maxLag; k++)
        {
            int pairs = returns.Length - k;
            double meanX = 0, meanY = 0;
            for (int t = 0; t < pairs; t++)
            {
                meanX += returns[t];
                meanY += returns[t + k] * returns[t + k];
            }
            meanX /= pairs;
            meanY /= pairs;
            double sxy = 0, sxx = 0, syy = 0;
            for (int t = 0; t < pairs; t++)
            {
                double dx = returns[t] - meanX, dy = returns[t + k] * returns[t + k] - meanY;
                sxy += dx * dy;
                sxx += dx * dx;
                syy += dy * dy;
            }
            if (sxx == 0 || syy == 0) Throw.User($"leverage at lag {k}: returns or squared returns are constant; the correlation is undefined");
            result[k - 1] = sxy / Math.Sqrt(sxx * syy);
        }
        return result;
    }

    /// <summary>
    /// Gain/loss asymmetry by inverse statistics (Jensen, Johansen &amp; Simonsen, Physica A 324, 2003; used by
    /// Wiese et al. 2020). For each start day t = 0..n − T (every start sees the full horizon T =
    /// <paramref name="maxHorizon"/>), the waiting times are τ⁺(t) = min{τ ≥ 1 : Σᵢ₌₀^(τ−1) rₜ₊ᵢ ≥ θ} and
    /// τ⁻(t) = min{τ ≥ 1 : Σᵢ₌₀^(τ−1) rₜ₊ᵢ ≤ −θ}, searched up to T. Gain[τ − 1] = #{t : τ⁺(t) = τ}/(n − T + 1),
    /// Loss likewise. Equity indices reach −θ sooner than +θ (the loss distribution peaks earlier).
    /// Needs θ &gt; 0 and 1 ≤ T ≤ n.
    /// </summary>
    public static GainLossDistribution GainLossAsymmetry(ReadOnlySpan<double> returns, double theta, int maxHorizon)
    {
        Checks.Series(returns, 1, "returns", "gain/loss asymmetry");
        if (!(theta > 0) || !double.IsFinite(theta)) Throw.User($"gain/loss threshold θ = {theta} must be positive and finite");
        if (maxHorizon < 1 || maxHorizon > returns.Length) Throw.User($"gain/loss horizon {maxHorizon} must be in [1, {returns.Length}] for {English.Plural(returns.Length, "return")}");
        int starts = returns.Length - maxHorizon + 1;
        var gain = new double[maxHorizon];
        var loss = new double[maxHorizon];
        for (int t = 0; t < starts; t++)
        {
            bool gainFound = false, lossFound = false;
            double cumulative = 0;
            for (int tau = 1; tau <= maxHorizon && !(gainFound && lossFound); tau++)
            {
                cumulative += returns[t + tau - 1];
                if (!gainFound && cumulative >= theta) { gain[tau - 1]++; gainFound = true; }
                if (!lossFound && cumulative <= -theta) { loss[tau - 1]++; lossFound = true; }
            }
        }
        for (int i = 0; i < maxHorizon; i++)
        {
            gain[i] /= starts;
            loss[i] /= starts;
        }
        return new GainLossDistribution(theta, gain, loss);
    }

    /// <summary>
    /// k-day log returns: sums of k consecutive daily log returns over non-overlapping windows,
    /// Rⱼ = Σᵢ₌₀^(k−1) r_(jk+i), j = 0..⌊n/k⌋ − 1; a trailing remainder of fewer than k days is dropped.
    /// (Aggregational Gaussianity: their distribution approaches the normal as k grows.)
    /// </summary>
    public static double[] AggregateReturns(ReadOnlySpan<double> returns, int days)
    {
        Checks.AtLeast(days, 1, "aggregation horizon (days)");
        Checks.Finite(returns, "returns");
        var result = new double[returns.Length / days];
        for (int j = 0; j < result.Length; j++)
        {
            double sum = 0;
            for (int i = 0; i < days; i++) sum += returns[j * days + i];
            result[j] = sum;
        }
        return result;
    }

    /// <summary>r, |r| or r², elementwise, as a new array.</summary>
    public static double[] Transform(ReadOnlySpan<double> returns, ReturnTransform transform)
    {
        var result = new double[returns.Length];
        for (int i = 0; i < returns.Length; i++)
        {
            double r = returns[i];
            result[i] = transform switch
            {
                ReturnTransform.Identity => r,
                ReturnTransform.Absolute => Math.Abs(r),
                ReturnTransform.Squared => r * r,
                _ => Throw.User<double>($"unknown return transform {transform}"),
            };
        }
        return result;
    }
}
