namespace FinGen.Native.Evaluation;

/// <summary>The ACF scores of <see cref="Distances.AcfScores"/> for r, |r| and r².</summary>
public readonly record struct AcfScoreSet(double Returns, double Absolute, double Squared);

/// <summary>
/// Distances between a real and a synthetic return series, as used to score generators in
/// Wiese et al., "Quant GANs" (2020): the Wasserstein-1 distance between the marginal distributions,
/// the ACF and leverage scores between their dependence structures, and the kernel maximum mean discrepancy.
/// </summary>
public static class Distances
{
    /// <summary>Default cap on the points per sample in <see cref="MaximumMeanDiscrepancy"/>.</summary>
    public const int DefaultMmdMaxPoints = 1000;

    /// <summary>
    /// The Wasserstein-1 (earth mover's) distance between the empirical distributions of two 1-D samples,
    /// exactly: W₁ = ∫₀¹ |F⁻¹(u) − G⁻¹(u)| du, with F⁻¹, G⁻¹ the step quantile functions of the sorted
    /// samples (value i of m on u ∈ [i/m, (i + 1)/m)). The integral is summed over the merged breakpoints
    /// {i/m} ∪ {j/n}, compared in integers. Equals ∫|F(x) − G(x)| dx (scipy.stats.wasserstein_distance).
    /// The samples may differ in size; each needs at least one value.
    /// </summary>
    public static double Wasserstein1(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Checks.Series(x, 1, "first sample", "a Wasserstein distance");
        Checks.Series(y, 1, "second sample", "a Wasserstein distance");
        double[] a = x.ToArray(), b = y.ToArray();
        Array.Sort(a);
        Array.Sort(b);
        long m = a.Length, n = b.Length;
        // Breakpoints in units of 1/(m·n): step i of a ends at (i + 1)·n, step j of b at (j + 1)·m.
        long i = 0, j = 0, position = 0;
        double total = 0;
        while (i < m && j < n)
        {
            long endA = (i + 1) * n, endB = (j + 1) * m;
            long end = Math.Min(endA, endB);
            total += (end - position) * Math.Abs(a[i] - b[j]);
            position = end;
            if (endA == end) i++;
            if (endB == end) j++;
        }
        return total / ((double)m * n);
    }

    /// <summary>
    /// The Quant GAN ACF score for one transform: ‖ρ_real − ρ_synthetic‖₂ over lags 1..<paramref name="maxLag"/>,
    /// where ρ is the autocorrelation (<see cref="StylizedFacts.Autocorrelation(ReadOnlySpan{double}, int)"/>) of
    /// r, |r| or r². Lag 0 (always 1) is left out.
    /// </summary>
    public static double AcfScore(ReadOnlySpan<double> real, ReadOnlySpan<double> synthetic, int maxLag, ReturnTransform transform)
    {
        Checks.AtLeast(maxLag, 1, "ACF score maximum lag");
        double[] a = StylizedFacts.Autocorrelation(real, maxLag, transform);
        double[] b = StylizedFacts.Autocorrelation(synthetic, maxLag, transform);
        return EuclideanDistance(a.AsSpan(1), b.AsSpan(1));
    }

    /// <summary>
    /// The ACF score for several synthetic paths: the synthetic ACF is the mean of the paths' ACFs
    /// (Wiese et al. 2020 average over generated paths), then ‖ρ_real − mean ρ_path‖₂ over lags 1..L.
    /// </summary>
    public static double AcfScore(ReadOnlySpan<double> real, IReadOnlyList<double[]> syntheticPaths, int maxLag, ReturnTransform transform)
    {
        ArgumentNullException.ThrowIfNull(syntheticPaths);
        Checks.AtLeast(maxLag, 1, "ACF score maximum lag");
        if (syntheticPaths.Count == 0) Throw.User("ACF score needs at least one synthetic path");
        double[] a = StylizedFacts.Autocorrelation(real, maxLag, transform);
        var mean = new double[maxLag + 1];
        foreach (double[] path in syntheticPaths)
        {
            double[] acf = StylizedFacts.Autocorrelation(path, maxLag, transform);
            for (int k = 0; k <= maxLag; k++) mean[k] += acf[k] / syntheticPaths.Count;
        }
        return EuclideanDistance(a.AsSpan(1), mean.AsSpan(1));
    }

    /// <summary>The ACF scores of r, |r| and r² (see <see cref="AcfScore(ReadOnlySpan{double}, ReadOnlySpan{double}, int, ReturnTransform)"/>).</summary>
    public static AcfScoreSet AcfScores(ReadOnlySpan<double> real, ReadOnlySpan<double> synthetic, int maxLag) => new(
        AcfScore(real, synthetic, maxLag, ReturnTransform.Identity),
        AcfScore(real, synthetic, maxLag, ReturnTransform.Absolute),
        AcfScore(real, synthetic, maxLag, ReturnTransform.Squared));

    /// <summary>
    /// The leverage score: ‖ℓ_real − ℓ_synthetic‖₂ over lags 1..<paramref name="maxLag"/>, with
    /// ℓ(k) = corr(rₜ, r²ₜ₊ₖ) from <see cref="StylizedFacts.LeverageEffect"/> (Wiese et al. 2020).
    /// </summary>
    public static double LeverageScore(ReadOnlySpan<double> real, ReadOnlySpan<double> synthetic, int maxLag) =>
        EuclideanDistance(StylizedFacts.LeverageEffect(real, maxLag), StylizedFacts.LeverageEffect(synthetic, maxLag));

    /// <summary>
    /// The unbiased estimate of the squared maximum mean discrepancy (Gretton et al., "A kernel two-sample
    /// test", JMLR 13, 2012, Lemma 6):
    /// MMD²ᵤ = Σ_(i≠j) k(xᵢ, xⱼ)/(m(m − 1)) + Σ_(i≠j) k(yᵢ, yⱼ)/(n(n − 1)) − 2 Σᵢⱼ k(xᵢ, yⱼ)/(mn),
    /// with the Gaussian kernel k(a, b) = exp(−(a − b)²/(2σ²)) and σ chosen by the median heuristic: the
    /// median of |zᵢ − zⱼ|, i &lt; j, over the pooled (subsampled) points z (mean of the two middle values
    /// for an even count; σ = 1 if that median is 0, i.e. when most points coincide).
    /// MMD²ᵤ can be slightly negative when the samples come from one distribution; it is near 0 then.
    /// Cost is quadratic, so a sample larger than <paramref name="maxPoints"/> is first replaced by
    /// <paramref name="maxPoints"/> of its points drawn without replacement (a partial Fisher–Yates shuffle
    /// driven by Philox words of <paramref name="seed"/>, one stream per sample): the same inputs and seed
    /// always give the same value. Each sample needs at least two values.
    /// </summary>
    public static double MaximumMeanDiscrepancy(ReadOnlySpan<double> x, ReadOnlySpan<double> y, int maxPoints = DefaultMmdMaxPoints, ulong seed = 0)
    {
        Checks.Series(x, 2, "first sample", "an MMD estimate");
        Checks.Series(y, 2, "second sample", "an MMD estimate");
        Checks.AtLeast(maxPoints, 2, "MMD maximum points per sample");
        double[] a = Subsample(x, maxPoints, seed, EvaluationStreams.MmdSubsampleX);
        double[] b = Subsample(y, maxPoints, seed, EvaluationStreams.MmdSubsampleY);
        double sigma = MedianPairwiseDistance(a, b);
        if (sigma == 0) sigma = 1;
        double scale = -1.0 / (2.0 * sigma * sigma);

        double xx = 0;
        for (int i = 0; i < a.Length; i++)
            for (int j = i + 1; j < a.Length; j++) xx += Math.Exp(scale * (a[i] - a[j]) * (a[i] - a[j]));
        double yy = 0;
        for (int i = 0; i < b.Length; i++)
            for (int j = i + 1; j < b.Length; j++) yy += Math.Exp(scale * (b[i] - b[j]) * (b[i] - b[j]));
        double xy = 0;
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < b.Length; j++) xy += Math.Exp(scale * (a[i] - b[j]) * (a[i] - b[j]));
        double m = a.Length, n = b.Length;
        // The off-diagonal sums were taken over i < j, half of Σ_(i≠j).
        return 2.0 * xx / (m * (m - 1)) + 2.0 * yy / (n * (n - 1)) - 2.0 * xy / (m * n);
    }

    /// <summary>
    /// At most <paramref name="maxPoints"/> values of <paramref name="values"/>, drawn without replacement by a
    /// partial Fisher–Yates shuffle: step i swaps position i with i + NextInt(seed, stream, i, count − i).
    /// Returns a copy of all values when there are no more than <paramref name="maxPoints"/>.
    /// </summary>
    internal static double[] Subsample(ReadOnlySpan<double> values, int maxPoints, ulong seed, ulong stream)
    {
        double[] copy = values.ToArray();
        if (copy.Length <= maxPoints) return copy;
        for (int i = 0; i < maxPoints; i++)
        {
            int j = i + Randomness.Philox.NextInt(seed, stream, (ulong)i, copy.Length - i);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }
        return copy[..maxPoints];
    }

    /// <summary>The median of |zᵢ − zⱼ| over all pairs i &lt; j of the pooled samples.</summary>
    internal static double MedianPairwiseDistance(double[] a, double[] b)
    {
        double[] pooled = [.. a, .. b];
        long pairs = (long)pooled.Length * (pooled.Length - 1) / 2;
        if (pairs > Array.MaxLength) Throw.User($"MMD: {pooled.Length} pooled points are too many for the median heuristic; lower the maximum points");
        var distances = new double[pairs];
        long p = 0;
        for (int i = 0; i < pooled.Length; i++)
            for (int j = i + 1; j < pooled.Length; j++) distances[p++] = Math.Abs(pooled[i] - pooled[j]);
        Array.Sort(distances);
        long middle = pairs / 2;
        return pairs % 2 == 1 ? distances[middle] : 0.5 * (distances[middle - 1] + distances[middle]);
    }

    static double EuclideanDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int k = 0; k < a.Length; k++) sum += (a[k] - b[k]) * (a[k] - b[k]);
        return Math.Sqrt(sum);
    }
}
