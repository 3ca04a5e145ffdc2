using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>
/// Unthresholded recurrence plot with a fixed global scale: pixel_ij = min(|r_i − r_j| / scale, 1), so the
/// diagonal is 0 and the image is symmetric. <see cref="Fit(ReadOnlySpan{double}, int, double, double)"/> takes
/// the scale as the width of the training returns' central quantile range, the largest distance two returns
/// inside the GASF bounds can have.
/// <para>
/// No decoder (<see cref="CanDecode"/> is false): distances are unchanged by adding one constant to every
/// return (r → r + c) and by flipping every sign (r → −r), so a window, its negation and its shifts give
/// one image.
/// </para>
/// </summary>
public sealed class RecurrencePlotEncoding : IImageEncoding
{
    /// <summary>The <see cref="Name"/> and metadata "encoding" value.</summary>
    public const string EncodingName = "recurrence";
    /// <summary>Largest supported window length.</summary>
    public const int MaxWindowLength = GasfEncoding.MaxWindowLength;
    const string KeyScale = "scale";

    /// <summary>Creates the encoding; <paramref name="scale"/> must be finite and positive.</summary>
    public RecurrencePlotEncoding(int windowLength, double scale)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowLength, MaxWindowLength);
        if (!(scale > 0) || !double.IsFinite(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "the recurrence scale must be finite and positive");
        WindowLength = windowLength;
        Scale = scale;
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
    /// <summary>The distance drawn as pixel 1; larger distances are clamped to it.</summary>
    public double Scale { get; }

    /// <summary>Scale = the <paramref name="upperQuantile"/> minus the <paramref name="lowerQuantile"/> quantile of the training returns.</summary>
    public static RecurrencePlotEncoding Fit(ReadOnlySpan<double> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995)
    {
        var (lower, upper) = EncodingMetadata.FitBounds(trainingReturns, lowerQuantile, upperQuantile, "recurrence plot scale");
        return new RecurrencePlotEncoding(windowLength, upper - lower);
    }

    /// <summary><see cref="Fit(ReadOnlySpan{double}, int, double, double)"/> for float returns.</summary>
    public static RecurrencePlotEncoding Fit(ReadOnlySpan<float> trainingReturns, int windowLength, double lowerQuantile = 0.005, double upperQuantile = 0.995) =>
        Fit(EncodingMetadata.ToDouble(trainingReturns), windowLength, lowerQuantile, upperQuantile);

    /// <summary>Rebuilds the encoding from <see cref="ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static RecurrencePlotEncoding FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        EncodingMetadata.RequireName(metadata, EncodingName);
        int window = EncodingMetadata.GetWindowLength(metadata, MaxWindowLength);
        double scale = EncodingMetadata.GetDouble(metadata, KeyScale);
        if (!(scale > 0)) Throw.User($"image encoding metadata: {KeyScale} {EncodingMetadata.R(scale)} must be positive");
        return new RecurrencePlotEncoding(window, scale);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        [EncodingMetadata.KeyEncoding] = EncodingName,
        [EncodingMetadata.KeyWindow] = WindowLength.ToString(CultureInfo.InvariantCulture),
        [KeyScale] = EncodingMetadata.R(Scale),
    };

    /// <inheritdoc/>
    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        EncodingMetadata.CheckShapes(this, window, image);
        int n = WindowLength;
        for (int i = 0; i < n; i++)
            if (float.IsNaN(window[i])) throw new ArgumentException($"window[{i}] is NaN", nameof(window));
        for (int i = 0; i < n; i++)
        {
            image[i * n + i] = 0f;
            for (int j = i + 1; j < n; j++)
            {
                float p = (float)Math.Min(Math.Abs((double)window[i] - window[j]) / Scale, 1.0);
                image[i * n + j] = p;
                image[j * n + i] = p;
            }
        }
    }

    /// <summary>Always throws: distances do not see shifts or sign flips (see the class summary).</summary>
    public void Decode(ReadOnlySpan<float> image, Span<float> window) =>
        EncodingMetadata.CannotDecode(EncodingName, "|ri − rj| is the same for a window, its shifts and its negation");

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"recurrence(L={WindowLength}, scale={Scale:R})");
}
