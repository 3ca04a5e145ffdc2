using System.Globalization;
using FinGen.Native.Evaluation;

namespace FinGen.Native.Data;

/// <summary>
/// The transform applied to log returns before they are encoded: a robust standardization followed by the
/// inverse heavy-tail Lambert W transform of Goerg (2015), as in QuantGAN (Wiese et al., 2020):
/// <c>Apply</c>: r ↦ z = W_δ((r − <see cref="Median"/>) / <see cref="Scale"/>), and
/// <c>Invert</c>: z ↦ r = <see cref="Median"/> + <see cref="Scale"/>·z·exp(δz²/2), exact for any z, so generated
/// values decode to returns. With <see cref="Delta"/> = 0 it is the plain affine standardization.
/// </summary>
public sealed record Preprocessing
{
    /// <summary>The metadata "preprocessing" value.</summary>
    public const string MethodName = "robust-lambertw";
    /// <summary>σ̂ = MAD·1.4826 estimates the standard deviation of normal data (1.4826 ≈ 1/Φ⁻¹(¾)).</summary>
    public const double MadToSigma = 1.4826;
    /// <summary>Largest δ the fit considers; Goerg reports δ well below 1 for financial returns.</summary>
    public const double MaxDelta = 5.0;

    const string KeyMethod = "preprocessing", KeyMedian = "preprocessing_median", KeyScale = "preprocessing_scale", KeyDelta = "preprocessing_delta";

    /// <summary>Creates the transform; <paramref name="scale"/> &gt; 0, 0 ≤ <paramref name="delta"/> ≤ <see cref="MaxDelta"/>, all finite.</summary>
    public Preprocessing(double median, double scale, double delta)
    {
        if (!double.IsFinite(median)) throw new ArgumentOutOfRangeException(nameof(median), median, "the median must be finite");
        if (!(scale > 0) || !double.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the scale must be finite and positive");
        if (!(delta >= 0 && delta <= MaxDelta)) throw new ArgumentOutOfRangeException(nameof(delta), delta, $"δ must be in [0, {MaxDelta}]");
        Median = median;
        Scale = scale;
        Delta = delta;
    }

    /// <summary>The location subtracted first: the median of the training returns.</summary>
    public double Median { get; }
    /// <summary>The divisor after the median: MAD·1.4826 for <see cref="FitRobust(ReadOnlySpan{double})"/>, refined with δ by <see cref="Fit(ReadOnlySpan{double})"/>.</summary>
    public double Scale { get; }
    /// <summary>The heavy-tail parameter δ ≥ 0 (0: no Lambert W step).</summary>
    public double Delta { get; }

    /// <summary>
    /// Robust standardization only: Median = median of the training returns (the mean of the two middle values
    /// for an even count), Scale = 1.4826·median |r − Median|, Delta = 0.
    /// </summary>
    public static Preprocessing FitRobust(ReadOnlySpan<double> trainingReturns)
    {
        var sorted = EncodingMetadata.SortedTrainingReturns(trainingReturns, "the robust standardization");
        double median = MedianOfSorted(sorted);
        for (int i = 0; i < sorted.Length; i++) sorted[i] = Math.Abs(sorted[i] - median);
        Array.Sort(sorted);
        double mad = MedianOfSorted(sorted);
        if (!(mad > 0))
            Throw.User($"cannot standardize the training returns: at least half of them equal the median {EncodingMetadata.R(median)}, so their median absolute deviation is 0");
        return new Preprocessing(median, MadToSigma * mad, 0);
    }

    /// <summary>
    /// The robust standardization, then the Lambert W × Gaussian model u = (r − median)/s₀ = σ·Z·exp(δZ²/2),
    /// Z ~ N(0, 1), fitted by maximum likelihood over (σ, δ) with MathNet's Nelder–Mead simplex. The median stays the location:
    /// the model is symmetric and monotone in Z, so its median is exactly the location. σ is fitted together with
    /// δ because heavier tails also widen the middle (MAD·1.4826 of δ = 0.2 data overstates σ by about 5 %), so
    /// δ alone on the MAD-scaled data would be biased; the result's Scale is s₀·σ̂.
    /// </summary>
    public static Preprocessing Fit(ReadOnlySpan<double> trainingReturns)
    {
        var robust = FitRobust(trainingReturns);
        var u = new double[trainingReturns.Length];
        for (int i = 0; i < u.Length; i++) u[i] = (trainingReturns[i] - robust.Median) / robust.Scale;
        // Coordinates (ln σ, √δ): unconstrained, and √δ keeps δ ≥ 0 without a wall at 0 for Gaussian data.
        double Objective(double[] p)
        {
            double delta = p[1] * p[1];
            return delta > MaxDelta ? double.PositiveInfinity : LambertW.NegativeLogLikelihood(u, Math.Exp(p[0]), delta);
        }
        var result = Minimizer.NelderMead(Objective, [0.0, 0.3], [0.1, 0.2], tolerance: 1e-12, maxEvaluations: 2000);
        double sigma = Math.Exp(result.Point[0]), fitted = result.Point[1] * result.Point[1];
        if (!double.IsFinite(result.Value) || !(sigma > 0) || !double.IsFinite(sigma))
            Throw.User("cannot fit the Lambert W tail parameter: the likelihood has no finite optimum on these training returns");
        return new Preprocessing(robust.Median, robust.Scale * sigma, fitted);
    }

    /// <summary><see cref="FitRobust(ReadOnlySpan{double})"/> for float returns.</summary>
    public static Preprocessing FitRobust(ReadOnlySpan<float> trainingReturns) => FitRobust(EncodingMetadata.ToDouble(trainingReturns));

    /// <summary><see cref="Fit(ReadOnlySpan{double})"/> for float returns.</summary>
    public static Preprocessing Fit(ReadOnlySpan<float> trainingReturns) => Fit(EncodingMetadata.ToDouble(trainingReturns));

    private static double MedianOfSorted(double[] sorted)
    {
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }

    /// <summary>One return to its transformed value: W_δ((r − Median)/Scale).</summary>
    public double Apply(double r) => LambertW.Gaussianize((r - Median) / Scale, Delta);

    /// <summary>One transformed value back to its return: Median + Scale·z·exp(δz²/2).</summary>
    public double Invert(double z) => Median + Scale * LambertW.HeavyTail(z, Delta);

    /// <summary>Applies the transform to <paramref name="returns"/> [n], writing <paramref name="transformed"/> [n] (may be the same span).</summary>
    public void Apply(ReadOnlySpan<float> returns, Span<float> transformed)
    {
        if (transformed.Length != returns.Length) throw new ArgumentException($"output has {transformed.Length} values, expected {returns.Length}", nameof(transformed));
        for (int i = 0; i < returns.Length; i++) transformed[i] = (float)Apply(returns[i]);
    }

    /// <summary>Inverts the transform on <paramref name="transformed"/> [n], writing <paramref name="returns"/> [n] (may be the same span).</summary>
    public void Invert(ReadOnlySpan<float> transformed, Span<float> returns)
    {
        if (returns.Length != transformed.Length) throw new ArgumentException($"output has {returns.Length} values, expected {transformed.Length}", nameof(returns));
        for (int i = 0; i < transformed.Length; i++) returns[i] = (float)Invert(transformed[i]);
    }

    /// <summary>The transformed copy of <paramref name="returns"/>.</summary>
    public float[] Apply(ReadOnlySpan<float> returns)
    {
        var result = new float[returns.Length];
        Apply(returns, result);
        return result;
    }

    /// <summary>The returns <paramref name="transformed"/> came from.</summary>
    public float[] Invert(ReadOnlySpan<float> transformed)
    {
        var result = new float[transformed.Length];
        Invert(transformed, result);
        return result;
    }

    /// <summary>The transform as string metadata; its keys are prefixed so that they can sit beside an encoding's.</summary>
    public IReadOnlyDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        [KeyMethod] = MethodName,
        [KeyMedian] = EncodingMetadata.R(Median),
        [KeyScale] = EncodingMetadata.R(Scale),
        [KeyDelta] = EncodingMetadata.R(Delta),
    };

    /// <summary>Rebuilds the transform from <see cref="ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static Preprocessing FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var method = metadata.TryGetValue(KeyMethod, out var m) ? m
            : Throw.User<string>($"preprocessing metadata has no '{KeyMethod}' (keys found: {string.Join(", ", metadata.Keys)})");
        if (method != MethodName) Throw.User($"preprocessing metadata: {KeyMethod} is '{method}', expected '{MethodName}'");
        double median = Parse(metadata, KeyMedian), scale = Parse(metadata, KeyScale), delta = Parse(metadata, KeyDelta);
        if (!(scale > 0)) Throw.User($"preprocessing metadata: {KeyScale} {EncodingMetadata.R(scale)} must be positive");
        if (!(delta >= 0 && delta <= MaxDelta)) Throw.User($"preprocessing metadata: {KeyDelta} {EncodingMetadata.R(delta)} must be in [0, {MaxDelta.ToString(CultureInfo.InvariantCulture)}]");
        return new Preprocessing(median, scale, delta);
    }

    private static double Parse(IReadOnlyDictionary<string, string> metadata, string key)
    {
        var s = metadata.TryGetValue(key, out var v) ? v
            : Throw.User<string>($"preprocessing metadata has no '{key}' (keys found: {string.Join(", ", metadata.Keys)})");
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d
            : Throw.User<double>($"preprocessing metadata: {key} '{s}' is not a finite number");
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"preprocessing(median={Median:R}, scale={Scale:R}, delta={Delta:R})");
}
