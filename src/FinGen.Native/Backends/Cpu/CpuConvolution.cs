using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// Conv2d and ConvTranspose2d on the CPU as GEMMs over an im2col matrix, for the SIMD backend.
/// </summary>
/// <remarks>
/// The im2col matrix is pixel-major: one row per output pixel (n, p, q) of the convolution g, holding the C·R·S input
/// values under its window (zeros where the window hangs over the padding), so
/// <code>
///   columns [N·P·Q, C·R·S]      pixels [N·P·Q, K]      (an output or its gradient, one row per pixel)
///   forward      pixels  = columns · Wᵀ               then scatter pixels back to NCHW
///   data grad    columns = pixels · W                  then col2im: add each column entry back onto its input pixel
///   filter grad  dW     += pixelsᵀ · columns
/// </code>
/// Pixel-major makes all three plain row-major GEMMs with one big dimension (N·P·Q = 3136 or 12544 at batch 64 in the
/// MNIST DCGAN), rather than 64 small per-image ones; the cost is a transpose of the [K, P·Q] blocks, which is small
/// next to the GEMM. ConvTranspose2d, the data gradient of g, is the same three pieces in another order.
/// Determinism: SGEMM results do not depend on the thread count, im2col and the transposes only move values, and
/// col2im runs one task per (image, channel), each adding into its own plane in a fixed order.
/// Workspace: two per-thread buffers, grown on demand and then reused, so a warm call allocates nothing.
/// </remarks>
internal static unsafe class CpuConvolution
{
    [ThreadStatic] private static float[]? t_columns;
    [ThreadStatic] private static float[]? t_pixels;

    /// <summary>y = conv(x, W) + bias. x [N, C·H·W], weight [K, C·R·S], bias [K] or null, y [N, K·P·Q].</summary>
    public static void Conv2dForward(float* x, float* weight, float* bias, ConvGeometry g, float* y, int threads)
    {
        var (pixelCount, filter, channels) = Sizes(g);
        float* columns = Workspace(ref t_columns, (long)pixelCount * filter);
        float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
        Im2Col(x, g, columns, threads);
        Sgemm.Multiply(false, true, pixelCount, channels, filter, 1f, columns, filter, weight, filter, 0f, pixels, channels, threads);
        FromPixelMajor(pixels, bias, g.Batch, channels, g.OutHeight * g.OutWidth, y, threads);
    }

    /// <summary>dx = data gradient (each skipped when null), dW += filter gradient, dBias += Σ dy. dy [N, K·P·Q].</summary>
    public static void Conv2dBackward(float* x, float* weight, float* dy, ConvGeometry g, float* dx, float* dWeight, float* dBias, int threads)
    {
        var (pixelCount, filter, channels) = Sizes(g);
        int area = g.OutHeight * g.OutWidth;
        if (dx != null || dWeight != null)
        {
            float* columns = Workspace(ref t_columns, (long)pixelCount * filter);
            float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
            ToPixelMajor(dy, g.Batch, channels, area, pixels, threads);
            if (dWeight != null)
            {
                Im2Col(x, g, columns, threads);
                Sgemm.Multiply(true, false, channels, filter, pixelCount, 1f, pixels, channels, columns, filter, 1f, dWeight, filter, threads);
            }
            if (dx != null)
            {
                Sgemm.Multiply(false, false, pixelCount, filter, channels, 1f, pixels, channels, weight, filter, 0f, columns, filter, threads);
                Col2Im(columns, null, g, dx, threads);
            }
        }
        if (dBias != null) AddChannelSums(dy, g.Batch, channels, area, dBias);
    }

    /// <summary>y = g's data gradient of x, + bias. x [N, K·P·Q], weight [K, C·R·S], bias [C] or null, y [N, C·H·W].</summary>
    public static void ConvTranspose2dForward(float* x, float* weight, float* bias, ConvGeometry g, float* y, int threads)
    {
        var (pixelCount, filter, channels) = Sizes(g);
        float* columns = Workspace(ref t_columns, (long)pixelCount * filter);
        float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
        ToPixelMajor(x, g.Batch, channels, g.OutHeight * g.OutWidth, pixels, threads);
        Sgemm.Multiply(false, false, pixelCount, filter, channels, 1f, pixels, channels, weight, filter, 0f, columns, filter, threads);
        Col2Im(columns, bias, g, y, threads);
    }

    /// <summary>
    /// dx = conv(dy, W) (skipped when null); dW += filter gradient of g with dy in the input's place and x in the output
    /// gradient's; dBias += Σ dy over (n, h, w). dy [N, C·H·W], dx [N, K·P·Q].
    /// </summary>
    public static void ConvTranspose2dBackward(float* x, float* weight, float* dy, ConvGeometry g, float* dx, float* dWeight, float* dBias, int threads)
    {
        var (pixelCount, filter, channels) = Sizes(g);
        int area = g.OutHeight * g.OutWidth;
        if (dx != null || dWeight != null)
        {
            float* columns = Workspace(ref t_columns, (long)pixelCount * filter);
            float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
            Im2Col(dy, g, columns, threads);
            if (dWeight != null)
            {
                ToPixelMajor(x, g.Batch, channels, area, pixels, threads);
                Sgemm.Multiply(true, false, channels, filter, pixelCount, 1f, pixels, channels, columns, filter, 1f, dWeight, filter, threads);
            }
            if (dx != null)
            {
                Sgemm.Multiply(false, true, pixelCount, channels, filter, 1f, columns, filter, weight, filter, 0f, pixels, channels, threads);
                FromPixelMajor(pixels, null, g.Batch, channels, area, dx, threads);
            }
        }
        if (dBias != null) AddChannelSums(dy, g.Batch, g.InChannels, g.InHeight * g.InWidth, dBias);
    }

    /// <summary>(N·P·Q, C·R·S, K): the GEMM dimensions.</summary>
    private static (int Pixels, int Filter, int Channels) Sizes(ConvGeometry g)
    {
        long pixels = (long)g.Batch * g.OutHeight * g.OutWidth;
        if (pixels * Math.Max(g.FilterSize, g.OutChannels) > Array.MaxLength)
            Throw.Argument($"convolution {g} is too large for the CPU workspace");
        return ((int)pixels, g.FilterSize, g.OutChannels);
    }

    /// <summary>A pinned per-thread buffer of at least <paramref name="count"/> floats; contents are not kept.</summary>
    private static float* Workspace(ref float[]? buffer, long count)
    {
        if (buffer == null || buffer.Length < count)
        {
            buffer = null; // let the old one go before the new one is taken
            buffer = GC.AllocateUninitializedArray<float>((int)Math.Max(count, 1), pinned: true);
        }
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
    }

    // ---- data movement, each spread over the workers

    private struct Job
    {
        public float* Source, Destination, Bias;
        public ConvGeometry G;
        public int Channels, Area; // for the transposes: blocks of [Channels, Area]
    }

    /// <summary>columns[(n·P + p)·Q + q, (c·R + r)·S + s] = x[n, c, p·stride − pad + r, q·stride − pad + s], 0 outside.</summary>
    private static void Im2Col(float* x, ConvGeometry g, float* columns, int threads)
    {
        var job = new Job { Source = x, Destination = columns, G = g };
        CpuWorkers.For(g.Batch * g.OutHeight, &Im2ColTask, &job, threads);
    }

    /// <summary>One row of output pixels (n, p): Q rows of the column matrix.</summary>
    private static void Im2ColTask(int index, void* state)
    {
        ref Job job = ref *(Job*)state;
        var g = job.G;
        int n = index / g.OutHeight, p = index % g.OutHeight;
        int C = g.InChannels, H = g.InHeight, W = g.InWidth, R = g.KernelHeight, S = g.KernelWidth, filter = g.FilterSize;
        float* image = job.Source + (long)n * g.InSize;
        float* row = job.Destination + (long)index * g.OutWidth * filter;
        for (int q = 0; q < g.OutWidth; q++, row += filter)
        {
            int w0 = q * g.Stride - g.Padding;
            // The window's columns [w0, w0 + S) clipped to the image: a contiguous run of every input row.
            int first = Math.Max(0, -w0), last = Math.Min(S, W - w0);
            for (int c = 0; c < C; c++)
            {
                for (int r = 0; r < R; r++)
                {
                    float* to = row + (c * R + r) * S;
                    int h = p * g.Stride - g.Padding + r;
                    if (h < 0 || h >= H || first >= last)
                    {
                        new Span<float>(to, S).Clear();
                        continue;
                    }
                    float* from = image + ((long)c * H + h) * W + w0;
                    for (int s = 0; s < first; s++) to[s] = 0f;
                    for (int s = first; s < last; s++) to[s] = from[s];
                    for (int s = last; s < S; s++) to[s] = 0f;
                }
            }
        }
    }

    /// <summary>x[n, c] = bias[c] (or 0) + the column entries of every window that covers each pixel; one task per (n, c).</summary>
    private static void Col2Im(float* columns, float* bias, ConvGeometry g, float* x, int threads)
    {
        var job = new Job { Source = columns, Destination = x, Bias = bias, G = g };
        CpuWorkers.For(g.Batch * g.InChannels, &Col2ImTask, &job, threads);
    }

    private static void Col2ImTask(int index, void* state)
    {
        ref Job job = ref *(Job*)state;
        var g = job.G;
        int n = index / g.InChannels, c = index % g.InChannels;
        int H = g.InHeight, W = g.InWidth, R = g.KernelHeight, S = g.KernelWidth, P = g.OutHeight, Q = g.OutWidth, filter = g.FilterSize;
        float* plane = job.Destination + (long)index * H * W;
        new Span<float>(plane, H * W).Fill(job.Bias == null ? 0f : job.Bias[c]);
        for (int p = 0; p < P; p++)
        {
            for (int q = 0; q < Q; q++)
            {
                float* window = job.Source + ((long)(n * P + p) * Q + q) * filter + c * R * S;
                int w0 = q * g.Stride - g.Padding;
                int first = Math.Max(0, -w0), last = Math.Min(S, W - w0);
                for (int r = 0; r < R; r++)
                {
                    int h = p * g.Stride - g.Padding + r;
                    if (h < 0 || h >= H) continue;
                    float* to = plane + h * W + w0;
                    float* from = window + r * S;
                    for (int s = first; s < last; s++) to[s] += from[s];
                }
            }
        }
    }

    /// <summary>pixels[n·area + i, k] = source[n, k·area + i]: each image's [channels, area] block transposed.</summary>
    private static void ToPixelMajor(float* source, int batch, int channels, int area, float* pixels, int threads)
    {
        var job = new Job { Source = source, Destination = pixels, Channels = channels, Area = area };
        CpuWorkers.For(batch, &ToPixelMajorTask, &job, threads);
    }

    private static void ToPixelMajorTask(int n, void* state)
    {
        ref Job job = ref *(Job*)state;
        int channels = job.Channels, area = job.Area;
        float* from = job.Source + (long)n * channels * area;
        float* to = job.Destination + (long)n * channels * area;
        for (int i = 0; i < area; i++)
            for (int k = 0; k < channels; k++) to[i * channels + k] = from[k * area + i];
    }

    /// <summary>destination[n, k·area + i] = pixels[n·area + i, k] + bias[k] (bias may be null).</summary>
    private static void FromPixelMajor(float* pixels, float* bias, int batch, int channels, int area, float* destination, int threads)
    {
        var job = new Job { Source = pixels, Destination = destination, Bias = bias, Channels = channels, Area = area };
        CpuWorkers.For(batch, &FromPixelMajorTask, &job, threads);
    }

    private static void FromPixelMajorTask(int n, void* state)
    {
        ref Job job = ref *(Job*)state;
        int channels = job.Channels, area = job.Area;
        float* from = job.Source + (long)n * channels * area;
        float* to = job.Destination + (long)n * channels * area;
        for (int k = 0; k < channels; k++)
        {
            float b = job.Bias == null ? 0f : job.Bias[k];
            float* plane = to + k * area;
            for (int i = 0; i < area; i++) plane[i] = from[i * channels + k] + b;
        }
    }

    /// <summary>sums[c] += Σ_{n,i} t[n, c·area + i], each plane summed by TensorPrimitives and the planes added in double, in order.</summary>
    private static void AddChannelSums(float* t, int batch, int channels, int area, float* sums)
    {
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++) sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(t + ((long)n * channels + c) * area, area));
            sums[c] += (float)sum;
        }
    }
}
