using System.Buffers;
using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>
/// Turns a window of <see cref="WindowLength"/> returns into a <see cref="Height"/>×<see cref="Width"/> image
/// with pixels in [0, 1] (row-major), and, where <see cref="CanDecode"/>, back. Implementations keep fixed
/// global parameters (bounds, bin edges) fitted once on training returns, so that every window, real or
/// generated, is read on the same scale. <see cref="ImageEncodings"/> builds them by name.
/// </summary>
public interface IImageEncoding
{
    /// <summary>Short name stored in checkpoints, e.g. "gasf".</summary>
    string Name { get; }
    /// <summary>Returns per window (L).</summary>
    int WindowLength { get; }
    /// <summary>Image rows.</summary>
    int Height { get; }
    /// <summary>Image columns; an image has <see cref="Height"/>·<see cref="Width"/> pixels.</summary>
    int Width { get; }
    /// <summary>Whether <see cref="Decode"/> recovers returns; when false it throws <see cref="FinGenException"/>.</summary>
    bool CanDecode { get; }
    /// <summary>Encodes <paramref name="window"/> [L] into <paramref name="image"/> [Height·Width], pixels in [0, 1].</summary>
    void Encode(ReadOnlySpan<float> window, Span<float> image);
    /// <summary>Decodes <paramref name="image"/> [Height·Width] into <paramref name="window"/> [L] returns.</summary>
    void Decode(ReadOnlySpan<float> image, Span<float> window);
    /// <summary>Everything needed to rebuild the encoding (string → string), for a checkpoint.</summary>
    IReadOnlyDictionary<string, string> ToMetadata();
}

/// <summary>
/// Gramian Angular Summation Field with fixed global bounds [<see cref="Lower"/>, <see cref="Upper"/>]:
/// x̃ = clamp((r − lower)/(upper − lower), 0, 1), φ = arccos x̃, G_ij = cos(φ_i + φ_j)
/// = x̃_i x̃_j − √(1−x̃_i²)√(1−x̃_j²), pixel = (G_ij + 1)/2. The diagonal pixel is x̃_i², so decoding
/// reads r_i = lower + √pixel_ii·(upper − lower); returns outside the bounds come back clipped to them.
/// The bounds are the same for every window, so a generated image decodes to returns with their real scale.
/// </summary>
public sealed class GasfEncoding : IImageEncoding
{
    /// <summary>The <see cref="Name"/> and metadata "encoding" value.</summary>
    public const string EncodingName = "gasf";
    /// <summary>Largest supported window length.</summary>
    public const int MaxWindowLength = 4096;

    const int StackLimit = 256;

    /// <summary>Creates the encoding; bounds must be finite with <paramref name="lower"/> &lt; <paramref name="upper"/>.</summary>
    public GasfEncoding(int windowLength, double lower, double upper)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowLength, MaxWindowLength);
        EncodingMetadata.CheckBounds(lower, upper, "GASF");
        WindowLength = windowLength;
        Lower = lower;
        Upper = upper;
    }

    /// <inheritdoc/>
    public string Name => EncodingName;
    /// <inheritdoc/>
    public int WindowLength { get; }
    /// <inheritdoc/>
    public int Height => WindowLength;
    /// <inheritdoc/>
    public int Width => WindowLength;
    /// <inheritdoc/>
    public bool CanDecode => true;
    /// <summary>The return mapped to x̃ = 0 (and the value smaller returns are clipped to).</summary>
    public double Lower { get; }
    /// <summary>The return mapped to x̃ = 1 (and the value larger returns are clipped to).</summary>
    public double Upper { get; }

    /// <summary>
    /// Chooses the bounds from the training returns: the <paramref name="lowerQuantile"/> and
    /// <paramref name="upperQuantile"/> quantiles, linearly interpolated between order statistics
    /// (sorted x[0..n-1], h = (n−1)·q, q-quantile = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]); numpy's default).
    /// Pass only the training part of the series (see <see cref="MarketImages.SplitByTime"/>).
    /// </summary>
    public static GasfEncoding Fit(ReadOnlySpan<double> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995)
    {
        var (lower, upper) = EncodingMetadata.FitBounds(trainingReturns, lowerQuantile, upperQuantile, "GASF");
        return new GasfEncoding(windowLength, lower, upper);
    }

    /// <summary><see cref="Fit(ReadOnlySpan{double}, int, double, double)"/> for float returns.</summary>
    public static GasfEncoding Fit(ReadOnlySpan<float> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995)
    {
        return Fit(EncodingMetadata.ToDouble(trainingReturns), windowLength, lowerQuantile, upperQuantile);
    }

    /// <summary>Rebuilds the encoding from <see cref="ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static GasfEncoding FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var (window, lower, upper) = EncodingMetadata.ReadBounded(metadata, EncodingName, MaxWindowLength);
        return new GasfEncoding(window, lower, upper);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> ToMetadata() => EncodingMetadata.Bounded(EncodingName, WindowLength, Lower, Upper);

    /// <inheritdoc/>
    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        int n = WindowLength;
        if (window.Length != n) throw new ArgumentException($"window has {window.Length} returns, expected {n}", nameof(window));
        if (image.Length != n * n) throw new ArgumentException($"image has {image.Length} pixels, expected {n * n}", nameof(image));

        double[]? rented = n > StackLimit ? ArrayPool<double>.Shared.Rent(2 * n) : null;
        Span<double> buf = rented is null ? stackalloc double[2 * StackLimit] : rented;
        var x = buf[..n];
        var s = buf.Slice(n, n);
        double range = Upper - Lower;
        for (int i = 0; i < n; i++)
        {
            double xi = Math.Clamp((window[i] - Lower) / range, 0.0, 1.0);
            if (double.IsNaN(xi)) throw new ArgumentException($"window[{i}] is NaN", nameof(window));
            x[i] = xi;
            s[i] = Math.Sqrt(Math.Max(0.0, 1.0 - xi * xi));
        }
        for (int i = 0; i < n; i++)
        {
            double xi = x[i], si = s[i];
            image[i * n + i] = (float)(xi * xi); // (2x̃² − 1 + 1)/2, exact form
            for (int j = i + 1; j < n; j++)
            {
                float p = (float)Math.Clamp((xi * x[j] - si * s[j] + 1.0) * 0.5, 0.0, 1.0);
                image[i * n + j] = p;
                image[j * n + i] = p;
            }
        }
        if (rented is not null) ArrayPool<double>.Shared.Return(rented);
    }

    /// <summary>Gauss–Newton sweeps of <see cref="Decode"/>; each costs about 3·L² operations.</summary>
    public const int LeastSquaresIterations = 30;

    /// <summary>
    /// Decodes with a least-squares fit of the angles to the whole matrix: φ minimizing
    /// Σᵢⱼ (Gᵢⱼ − cos(φᵢ + φⱼ))² over φ ∈ [0, π/2], started from the diagonal. Each φᵢ then rests on the 2L − 1
    /// pixels of its row and column instead of one, which matters for a generator's noisy images; on an exact
    /// GASF the start is already the optimum and nothing moves.
    /// </summary>
    public void Decode(ReadOnlySpan<float> image, Span<float> window)
    {
        int n = WindowLength;
        CheckDecodeShapes(image, window);
        double[]? rented = n > StackLimit ? ArrayPool<double>.Shared.Rent(2 * n) : null;
        Span<double> buf = rented is null ? stackalloc double[2 * StackLimit] : rented;
        var phi = buf[..n];
        var next = buf.Slice(n, n);
        for (int i = 0; i < n; i++) phi[i] = Math.Acos(DiagonalX(image, n, i));
        for (int iteration = 0; iteration < LeastSquaresIterations; iteration++)
        {
            // Jacobi Gauss–Newton with the diagonal of JᵀJ, damped by ½ because the coordinates are coupled.
            for (int k = 0; k < n; k++)
            {
                double numerator = 0, denominator = 1e-12;
                for (int j = 0; j < n; j++)
                {
                    // Pixel (k, j) and its mirror (j, k) both depend on φk through cos(φk + φj); the diagonal
                    // pixel is one term, with derivative −2 sin 2φk.
                    double angle = phi[k] + phi[j];
                    double model = Math.Cos(angle);
                    if (j == k)
                    {
                        double jacobian = -2.0 * Math.Sin(angle);
                        numerator += jacobian * (2.0 * Pixel(image, k * n + k) - 1.0 - model);
                        denominator += jacobian * jacobian;
                    }
                    else
                    {
                        double jacobian = -Math.Sin(angle);
                        double residual = (2.0 * Pixel(image, k * n + j) - 1.0 - model) + (2.0 * Pixel(image, j * n + k) - 1.0 - model);
                        numerator += jacobian * residual;
                        denominator += 2.0 * jacobian * jacobian;
                    }
                }
                next[k] = Math.Clamp(phi[k] + 0.5 * numerator / denominator, 0.0, Math.PI / 2);
            }
            next.CopyTo(phi);
        }
        double range = Upper - Lower;
        for (int i = 0; i < n; i++) window[i] = (float)(Lower + Math.Cos(phi[i]) * range);
        if (rented is not null) ArrayPool<double>.Shared.Return(rented);
    }

    /// <summary>Decodes from the diagonal alone: x̃ᵢ = √pixelᵢᵢ, since Gᵢᵢ = cos 2φᵢ = 2x̃ᵢ² − 1.</summary>
    public void DecodeDiagonal(ReadOnlySpan<float> image, Span<float> window)
    {
        int n = WindowLength;
        CheckDecodeShapes(image, window);
        double range = Upper - Lower;
        for (int i = 0; i < n; i++) window[i] = (float)(Lower + DiagonalX(image, n, i) * range);
    }

    private void CheckDecodeShapes(ReadOnlySpan<float> image, Span<float> window)
    {
        int n = WindowLength;
        if (image.Length != n * n) throw new ArgumentException($"image has {image.Length} pixels, expected {n * n}", nameof(image));
        if (window.Length != n) throw new ArgumentException($"window has {window.Length} returns, expected {n}", nameof(window));
    }

    private static double Pixel(ReadOnlySpan<float> image, int index)
    {
        double p = image[index];
        return double.IsNaN(p) ? 0.5 : Math.Clamp(p, 0.0, 1.0);
    }

    private static double DiagonalX(ReadOnlySpan<float> image, int n, int i)
    {
        double p = image[i * n + i];
        return double.IsNaN(p) ? 0.0 : Math.Sqrt(Math.Clamp(p, 0.0, 1.0));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"gasf(L={WindowLength}, lower={Lower:R}, upper={Upper:R})");
}

/// <summary>From prices to training images: log returns, time split, sliding-window encoding.</summary>
public static class MarketImages
{
    /// <summary>The price path S₀, S₀·e^{r₀}, S₀·e^{r₀+r₁}, ... of log returns: returns.Length + 1 prices.</summary>
    public static double[] Prices(double start, ReadOnlySpan<double> returns)
    {
        var prices = new double[returns.Length + 1];
        prices[0] = start;
        for (int t = 0; t < returns.Length; t++) prices[t + 1] = prices[t] * Math.Exp(returns[t]);
        return prices;
    }

    /// <summary>r_t = ln(close_t / close_{t−1}) for t = 1..n−1 (computed in double); length n − 1.</summary>
    public static float[] LogReturns(PriceSeries s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var c = s.Closes;
        if (c.Length < 2) return [];
        var r = new float[c.Length - 1];
        for (int t = 1; t < c.Length; t++)
        {
            if (!(c[t] > 0 && c[t - 1] > 0) || !double.IsFinite(c[t]) || !double.IsFinite(c[t - 1]))
                Throw.User($"{s.Source}: price {t - 1} or {t} is not a positive finite number; cannot take log returns");
            r[t - 1] = (float)Math.Log(c[t] / c[t - 1]);
        }
        return r;
    }

    /// <summary>
    /// Encodes every window returns[k·stride .. k·stride + L) as an image; images are
    /// [count, Height·Width] row-major. Fewer than L returns throws <see cref="FinGenException"/>.
    /// </summary>
    public static (float[] images, int count) EncodeWindows(ReadOnlySpan<float> returns, IImageEncoding enc, int stride = 1)
    {
        ArgumentNullException.ThrowIfNull(enc);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        int L = enc.WindowLength, size = enc.Height * enc.Width;
        if (returns.Length < L)
            Throw.User($"{English.Plural(returns.Length, "return")} is too few: one window of {L} returns needs at least {L}");
        int count = (returns.Length - L) / stride + 1;
        if ((long)count * size > Array.MaxLength)
            Throw.User($"{count} windows of {size} pixels do not fit in one array; use a larger stride");
        var images = new float[count * size];
        for (int k = 0; k < count; k++)
            enc.Encode(returns.Slice(k * stride, L), images.AsSpan(k * size, size));
        return (images, count);
    }

    /// <summary>
    /// Splits a series by time: the last round(n·<paramref name="heldOutFraction"/>) values are held out
    /// (for evaluation only: never train on them or fit encoding bounds on them), the rest is training data.
    /// Both parts are copies.
    /// </summary>
    public static (float[] train, float[] heldOut) SplitByTime(float[] returns, double heldOutFraction = 0.2)
    {
        ArgumentNullException.ThrowIfNull(returns);
        if (!(heldOutFraction >= 0 && heldOutFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutFraction), heldOutFraction, "held-out fraction must be in [0, 1)");
        int held = (int)Math.Round(returns.Length * heldOutFraction, MidpointRounding.AwayFromZero);
        int train = returns.Length - held;
        return (returns[..train], returns[train..]);
    }
}
