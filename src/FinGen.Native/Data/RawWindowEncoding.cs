using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>
/// The window itself, scaled with fixed global bounds: pixel_t = x̃_t = clamp((r_t − lower)/(upper − lower), 0, 1),
/// laid out as √L×√L when L is a perfect square (L = 784 → 28×28), else as one row of L. Decoding is exact
/// up to float rounding: r_t = lower + pixel_t·(upper − lower); returns outside the bounds come back clipped.
/// </summary>
public sealed class RawWindowEncoding : IImageEncoding
{
    /// <summary>The <see cref="Name"/> and metadata "encoding" value.</summary>
    public const string EncodingName = "raw";
    /// <summary>Largest supported window length (a 1024×1024 image).</summary>
    public const int MaxWindowLength = 1 << 20;

    /// <summary>Creates the encoding; bounds must be finite with <paramref name="lower"/> &lt; <paramref name="upper"/>.</summary>
    public RawWindowEncoding(int windowLength, double lower, double upper)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowLength, MaxWindowLength);
        EncodingMetadata.CheckBounds(lower, upper, "raw window");
        WindowLength = windowLength;
        Lower = lower;
        Upper = upper;
        int side = (int)Math.Round(Math.Sqrt(windowLength));
        (Height, Width) = side * side == windowLength ? (side, side) : (1, windowLength);
    }

    /// <inheritdoc/>
    public string Name => EncodingName;
    /// <inheritdoc/>
    public int WindowLength { get; }
    /// <inheritdoc/>
    public int Height { get; }
    /// <inheritdoc/>
    public int Width { get; }
    /// <inheritdoc/>
    public bool CanDecode => true;
    /// <summary>The return mapped to pixel 0 (and the value smaller returns are clipped to).</summary>
    public double Lower { get; }
    /// <summary>The return mapped to pixel 1 (and the value larger returns are clipped to).</summary>
    public double Upper { get; }

    /// <summary>Bounds from quantiles of the training returns, as <see cref="GasfEncoding.Fit(ReadOnlySpan{double}, int, double, double)"/>.</summary>
    public static RawWindowEncoding Fit(ReadOnlySpan<double> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995)
    {
        var (lower, upper) = EncodingMetadata.FitBounds(trainingReturns, lowerQuantile, upperQuantile, "raw window");
        return new RawWindowEncoding(windowLength, lower, upper);
    }

    /// <summary><see cref="Fit(ReadOnlySpan{double}, int, double, double)"/> for float returns.</summary>
    public static RawWindowEncoding Fit(ReadOnlySpan<float> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995) =>
        Fit(EncodingMetadata.ToDouble(trainingReturns), windowLength, lowerQuantile, upperQuantile);

    /// <summary>Rebuilds the encoding from <see cref="ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static RawWindowEncoding FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var (window, lower, upper) = EncodingMetadata.ReadBounded(metadata, EncodingName, MaxWindowLength);
        return new RawWindowEncoding(window, lower, upper);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> ToMetadata() => EncodingMetadata.Bounded(EncodingName, WindowLength, Lower, Upper);

    /// <inheritdoc/>
    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        EncodingMetadata.CheckShapes(this, window, image);
        double range = Upper - Lower;
        for (int t = 0; t < window.Length; t++) image[t] = (float)EncodingMetadata.Scaled(window[t], Lower, range, t);
    }

    /// <summary>r_t = lower + clamp(pixel_t, 0, 1)·(upper − lower); a NaN pixel reads as ½, the middle of the bounds.</summary>
    public void Decode(ReadOnlySpan<float> image, Span<float> window)
    {
        EncodingMetadata.CheckShapes(this, window, image);
        double range = Upper - Lower;
        for (int t = 0; t < window.Length; t++)
        {
            double p = image[t];
            p = double.IsNaN(p) ? 0.5 : Math.Clamp(p, 0.0, 1.0);
            window[t] = (float)(Lower + p * range);
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"raw(L={WindowLength} as {Height}x{Width}, lower={Lower:R}, upper={Upper:R})");
}
