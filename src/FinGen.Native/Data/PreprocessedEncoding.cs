namespace FinGen.Native.Data;

/// <summary>
/// An encoding of preprocessed returns: <see cref="Encode"/> transforms a window of returns with
/// <see cref="Preprocessing"/> (robust standardization, optionally Lambert W Gaussianization) before the inner
/// encoding, and <see cref="Decode"/> inverts it after the inner decoder, so every caller that decodes generated
/// images gets returns on their real scale without knowing a transform was there.
/// </summary>
public sealed class PreprocessedEncoding(Preprocessing preprocessing, IImageEncoding inner) : IImageEncoding
{
    public Preprocessing Preprocessing { get; } = preprocessing;
    public IImageEncoding Inner { get; } = inner;

    public string Name => Inner.Name;
    public int WindowLength => Inner.WindowLength;
    public int Height => Inner.Height;
    public int Width => Inner.Width;
    public bool CanDecode => Inner.CanDecode;

    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        Span<float> transformed = window.Length <= 1024 ? stackalloc float[window.Length] : new float[window.Length];
        Preprocessing.Apply(window, transformed);
        Inner.Encode(transformed, image);
    }

    public void Decode(ReadOnlySpan<float> image, Span<float> window)
    {
        Inner.Decode(image, window);
        Preprocessing.Invert(window, window);
    }

    public IReadOnlyDictionary<string, string> ToMetadata()
    {
        var metadata = new Dictionary<string, string>(Inner.ToMetadata());
        foreach (var (key, value) in Preprocessing.ToMetadata()) metadata[key] = value;
        return metadata;
    }

    public override string ToString() => $"{Inner} of {Preprocessing}";
}
