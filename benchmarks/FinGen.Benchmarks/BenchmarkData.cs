using FinGen.Native.Data;

namespace FinGen.Benchmarks;

/// <summary>The real samples both engines train on: MNIST digits from the embedded data, the same rows for both.</summary>
internal static class BenchmarkData
{
    private static readonly Lazy<ImageSet> Digits = new(() => EmbeddedData.Mnist(2048));

    /// <summary>[batch, 784] pixels in [0, 1]: digits 0, 1, 2, … (wrapping), a fixed batch reused every step.</summary>
    public static float[] Batch(int batch)
    {
        var digits = Digits.Value;
        int width = digits.PixelsPerImage;
        var data = new float[batch * width];
        for (int i = 0; i < batch; i++) digits.Image(i % digits.Count).CopyTo(data.AsSpan(i * width, width));
        return data;
    }
}
