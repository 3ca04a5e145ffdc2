using System.Buffers;
using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>
/// Gramian Angular Difference Field with fixed global bounds, the antisymmetric twin of <see cref="GasfEncoding"/>:
/// x̃ = clamp((r − lower)/(upper − lower), 0, 1), φ = arccos x̃, G_ij = sin(φ_i − φ_j)
/// = √(1−x̃_i²)·x̃_j − x̃_i·√(1−x̃_j²), pixel = (G_ij + 1)/2. The diagonal is always ½ and pixel_ji = 1 − pixel_ij.
/// <para>
/// No decoder (<see cref="CanDecode"/> is false). With x̃ ∈ [0, 1] every φ lies in [0, π/2], so each difference
/// φ_i − φ_j lies in [−π/2, π/2] where arcsin is one-to-one: the image fixes every difference exactly, and
/// nothing more. Adding one constant to all angles (while they stay in [0, π/2]) leaves the image unchanged;
/// a flat window of returns all equal to a, for any a within the bounds, gives the same all-½ image.
/// The level of the window is lost, so returns cannot be recovered.
/// </para>
/// </summary>
public sealed class GadfEncoding : IImageEncoding
{
    /// <summary>The <see cref="Name"/> and metadata "encoding" value.</summary>
    public const string EncodingName = "gadf";
    /// <summary>Largest supported window length.</summary>
    public const int MaxWindowLength = GasfEncoding.MaxWindowLength;
    const int StackLimit = 256;

    /// <summary>Creates the encoding; bounds must be finite with <paramref name="lower"/> &lt; <paramref name="upper"/>.</summary>
    public GadfEncoding(int windowLength, double lower, double upper)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowLength, MaxWindowLength);
        EncodingMetadata.CheckBounds(lower, upper, "GADF");
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
    public bool CanDecode => false;
    /// <summary>The return mapped to x̃ = 0.</summary>
    public double Lower { get; }
    /// <summary>The return mapped to x̃ = 1.</summary>
    public double Upper { get; }

    /// <summary>Bounds from quantiles of the training returns, as <see cref="GasfEncoding.Fit(ReadOnlySpan{double}, int, double, double)"/>.</summary>
    public static GadfEncoding Fit(ReadOnlySpan<double> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995)
    {
        var (lower, upper) = EncodingMetadata.FitBounds(trainingReturns, lowerQuantile, upperQuantile, "GADF");
        return new GadfEncoding(windowLength, lower, upper);
    }

    /// <summary><see cref="Fit(ReadOnlySpan{double}, int, double, double)"/> for float returns.</summary>
    public static GadfEncoding Fit(ReadOnlySpan<float> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995) =>
        Fit(EncodingMetadata.ToDouble(trainingReturns), windowLength, lowerQuantile, upperQuantile);

    /// <summary>Rebuilds the encoding from <see cref="ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static GadfEncoding FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var (window, lower, upper) = EncodingMetadata.ReadBounded(metadata, EncodingName, MaxWindowLength);
        return new GadfEncoding(window, lower, upper);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> ToMetadata() => EncodingMetadata.Bounded(EncodingName, WindowLength, Lower, Upper);

    /// <inheritdoc/>
    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        EncodingMetadata.CheckShapes(this, window, image);
        int n = WindowLength;
        double[]? rented = n > StackLimit ? ArrayPool<double>.Shared.Rent(2 * n) : null;
        Span<double> buf = rented is null ? stackalloc double[2 * StackLimit] : rented;
        var x = buf[..n];   // cos φ
        var s = buf.Slice(n, n); // sin φ, never negative because φ ∈ [0, π/2]
        double range = Upper - Lower;
        for (int i = 0; i < n; i++)
        {
            x[i] = EncodingMetadata.Scaled(window[i], Lower, range, i);
            s[i] = Math.Sqrt(Math.Max(0.0, 1.0 - x[i] * x[i]));
        }
        for (int i = 0; i < n; i++)
        {
            image[i * n + i] = 0.5f;
            for (int j = i + 1; j < n; j++)
            {
                double g = s[i] * x[j] - x[i] * s[j]; // sin(φi − φj)
                image[i * n + j] = (float)Math.Clamp((g + 1.0) * 0.5, 0.0, 1.0);
                image[j * n + i] = (float)Math.Clamp((1.0 - g) * 0.5, 0.0, 1.0);
            }
        }
        if (rented is not null) ArrayPool<double>.Shared.Return(rented);
    }

    /// <summary>Always throws: the image keeps only differences of angles (see the class summary).</summary>
    public void Decode(ReadOnlySpan<float> image, Span<float> window) =>
        EncodingMetadata.CannotDecode(EncodingName, "sin(φi − φj) keeps only differences of angles, so the level of the window is lost");

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"gadf(L={WindowLength}, lower={Lower:R}, upper={Upper:R})");
}
