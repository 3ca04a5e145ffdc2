using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
/// MNIST DCGAN), rather than 64 small per-image ones; the cost is a transpose of the [K, P·Q] blocks (8×8 AVX blocks,
/// done by each forward chunk on its own output tile while it is in L2). ConvTranspose2d, the data gradient of g, is
/// the same three pieces in another order.
/// Determinism: SGEMM results do not depend on the thread count, im2col and the transposes only move values, and
/// col2im runs whole images per task, adding each pixel's terms in a fixed (p, q) order.
/// The forward product and the data gradient never build the whole column matrix: tasks build and consume L2-sized
/// chunks of it (<see cref="ConvolvePixels"/>, <see cref="DeconvolvePixels"/>, <see cref="FilterGradient"/>).
/// Workspace: per-thread buffers, grown on demand and then reused, so a warm call allocates nothing.
/// </remarks>
internal static unsafe class CpuConvolution
{
    [ThreadStatic] private static float[]? t_pixels;
    [ThreadStatic] private static float[]? t_chunk;    // a worker's chunk of the column matrix
    [ThreadStatic] private static float[]? t_partials; // the filter gradient's per-chunk products
    [ThreadStatic] private static float[]? t_tile;     // a worker's chunk of a conv's output, pixel-major

    /// <summary>y = conv(x, W) + bias. x [N, C·H·W], weight [K, C·R·S], bias [K] or null, y [N, K·P·Q].</summary>
    public static void Conv2dForward(float* x, float* weight, float* bias, ConvGeometry g, float* y, int threads)
    {
        ConvolvePixels(x, weight, bias, g, y, threads);
    }

    /// <summary>dx = data gradient (each skipped when null), dW += filter gradient, dBias += Σ dy. dy [N, K·P·Q].</summary>
    public static void Conv2dBackward(float* x, float* weight, float* dy, ConvGeometry g, float* dx, float* dWeight, float* dBias, int threads)
    {
        var (pixelCount, filter, channels) = Sizes(g);
        int area = g.OutHeight * g.OutWidth;
        if (dx != null || dWeight != null)
        {
            float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
            ToPixelMajor(dy, g.Batch, channels, area, pixels, threads);
            if (dWeight != null) FilterGradient(x, pixels, g, dWeight, threads);
            if (dx != null) DeconvolvePixels(pixels, weight, null, g, dx, threads);
        }
        if (dBias != null) AddChannelSums(dy, g.Batch, channels, area, dBias, threads);
    }

    /// <summary>y = g's data gradient of x, + bias. x [N, K·P·Q], weight [K, C·R·S], bias [C] or null, y [N, C·H·W].</summary>
    public static void ConvTranspose2dForward(float* x, float* weight, float* bias, ConvGeometry g, float* y, int threads)
    {
        var (pixelCount, _, channels) = Sizes(g);
        float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
        ToPixelMajor(x, g.Batch, channels, g.OutHeight * g.OutWidth, pixels, threads);
        DeconvolvePixels(pixels, weight, bias, g, y, threads);
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
            float* pixels = Workspace(ref t_pixels, (long)pixelCount * channels);
            if (dWeight != null)
            {
                ToPixelMajor(x, g.Batch, channels, area, pixels, threads);
                FilterGradient(dy, pixels, g, dWeight, threads);
            }
            if (dx != null) ConvolvePixels(dy, weight, null, g, dx, threads);
        }
        if (dBias != null) AddChannelSums(dy, g.Batch, g.InChannels, g.InHeight * g.InWidth, dBias, threads);
    }

    /// <summary>Floats of one chunk of the column matrix: with the packed weights and the chunk's output it stays in a core's L2.</summary>
    private const int ChunkFloats = 64 * 1024;

    /// <summary>
    /// y [N, K·P·Q] = the pixel rows columns · Wᵀ (+ bias) without materializing the whole column matrix: each task builds
    /// the columns of a chunk of pixel rows in its own buffer, multiplies them into its own [rows, K] tile and transposes
    /// the tile onto the images' planes while it is still in L2. Materialized for the batch (12.8 MB for the DCGAN
    /// discriminator's second layer at batch 128), the column matrix made the convolution memory-bound: im2col took more
    /// time than the GEMM; a whole pixel-major product transposed afterwards was a round trip through memory of every
    /// output (a quarter of the first layer's time). Each output row is one dot product per K block in the same order
    /// however the rows are chunked, so the bits depend neither on the threads nor on the chunk size.
    /// </summary>
    private static void ConvolvePixels(float* x, float* weight, float* bias, ConvGeometry g, float* y, int threads)
    {
        var (pixelCount, filter, _) = Sizes(g);
        int rows = Math.Max(6, ChunkFloats / filter / 6 * 6); // whole 6-row register tiles
        // At least four chunks per thread where the layer allows it, so an uneven last chunk does not leave a core idle.
        rows = Math.Max(6, Math.Min(rows, (pixelCount + 4 * threads - 1) / (4 * threads) / 6 * 6));
        var job = new Job { Source = x, Destination = y, Bias = bias, Weight = weight, G = g, Chunk = rows };
        CpuWorkers.For((pixelCount + rows - 1) / rows, &ConvolveChunkTask, &job, threads);
    }

    private static void ConvolveChunkTask(int chunk, void* state)
    {
        ref Job job = ref *(Job*)state;
        var g = job.G;
        int filter = g.FilterSize, channels = g.OutChannels, area = g.OutHeight * g.OutWidth;
        float* columns = Im2ColChunk(ref job, chunk, out int first, out int rows);
        float* tile = Workspace(ref t_tile, (long)job.Chunk * channels);
        Sgemm.Multiply(false, true, rows, channels, filter, 1f, columns, filter, job.Weight, filter, 0f, tile, channels, maxDegree: 1);
        if (job.Bias != null)
        {
            // + bias[k] on every pixel row while the tile is hot: one rounding per value, as when it was added after the
            // transpose, without a call per channel and image.
            float* bias = job.Bias;
            int vectorEnd = Vector512.IsHardwareAccelerated ? channels / 16 * 16 : 0;
            for (int r = 0; r < rows; r++)
            {
                float* row = tile + (long)r * channels;
                int k = 0;
                for (; k < vectorEnd; k += 16) Vector512.Store(Vector512.Load(row + k) + Vector512.Load(bias + k), row + k);
                for (; k < channels; k++) row[k] += bias[k];
            }
        }
        // Rows first .. first + rows − 1 are pixels of one or more images: each image's run goes onto its planes.
        for (int pixel = first, end = first + rows; pixel < end;)
        {
            int n = pixel / area, i = pixel % area, length = Math.Min(area - i, end - pixel);
            float* to = job.Destination + ((long)n * channels) * area + i;
            Transpose(tile + (long)(pixel - first) * channels, length, channels, channels, to, area);
            pixel += length;
        }
    }

    /// <summary>
    /// dW [K, C·R·S] += pixelsᵀ · im2col(<paramref name="image"/>), a sum over every pixel row, in fixed chunks of rows: each
    /// task builds its chunk of columns and multiplies it into its own partial product, then the partials are added to dW
    /// in chunk order. Fixed chunks and a fixed order keep the bits independent of the thread count; building the whole
    /// column matrix instead made this GEMM memory-bound, and one GEMM with a K of N·P·Q had too few output tiles to share.
    /// </summary>
    private static void FilterGradient(float* image, float* pixels, ConvGeometry g, float* dWeight, int threads)
    {
        var (pixelCount, filter, channels) = Sizes(g);
        int rows = Math.Max(6, 4 * ChunkFloats / filter / 6 * 6);
        int chunks = (pixelCount + rows - 1) / rows;
        long size = (long)channels * filter;
        float* partials = Workspace(ref t_partials, chunks * size);
        var job = new Job { Source = image, Destination = partials, Weight = pixels, G = g, Chunk = rows };
        CpuWorkers.For(chunks, &FilterGradientChunkTask, &job, threads);
        // dW += the partials in chunk order, a slice of dW per task (each element's additions in the same order).
        var reduce = new Job { Source = partials, Destination = dWeight, Chunk = chunks, Area = (int)size };
        CpuWorkers.For((int)((size + ReduceSlice - 1) / ReduceSlice), &ReducePartialsTask, &reduce, threads);
    }

    private const int ReduceSlice = 4096;

    private static void ReducePartialsTask(int slice, void* state)
    {
        ref Job job = ref *(Job*)state;
        int start = slice * ReduceSlice, length = Math.Min(ReduceSlice, job.Area - start);
        var sum = new Span<float>(job.Destination + start, length);
        for (int c = 0; c < job.Chunk; c++) TensorPrimitives.Add(sum, new ReadOnlySpan<float>(job.Source + (long)c * job.Area + start, length), sum);
    }

    private static void FilterGradientChunkTask(int chunk, void* state)
    {
        ref Job job = ref *(Job*)state;
        var g = job.G;
        int filter = g.FilterSize, channels = g.OutChannels;
        float* columns = Im2ColChunk(ref job, chunk, out int first, out int rows);
        Sgemm.Multiply(true, false, channels, filter, rows, 1f, job.Weight + (long)first * channels, channels, columns, filter, 0f,
            job.Destination + (long)chunk * channels * filter, filter, maxDegree: 1);
    }

    /// <summary>The column-matrix rows of chunk <paramref name="chunk"/> of <c>job.Source</c>, built in this thread's chunk buffer.</summary>
    private static float* Im2ColChunk(ref Job job, int chunk, out int first, out int rows)
    {
        var g = job.G;
        int filter = g.FilterSize;
        first = chunk * job.Chunk;
        rows = Math.Min(job.Chunk, g.Batch * g.OutHeight * g.OutWidth - first);
        float* columns = Workspace(ref t_chunk, (long)job.Chunk * filter);
        // Walk (n, p, q) from the first row on rather than dividing each row's index: with one input channel (the first
        // layer) the three divisions were most of a row's cost.
        int area = g.OutHeight * g.OutWidth;
        int n = first / area, p = first % area / g.OutWidth, q = first % g.OutWidth;
        for (int r = 0; r < rows; r++)
        {
            Im2ColPixel(job.Source + (long)n * g.InSize, g, p, q, columns + (long)r * filter);
            if (++q == g.OutWidth)
            {
                q = 0;
                if (++p == g.OutHeight) { p = 0; n++; }
            }
        }
        return columns;
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
        public float* Source, Destination, Bias, Weight;
        public ConvGeometry G;
        public int Channels, Area; // for the transposes: blocks of [Channels, Area]
        public int Chunk;          // pixel rows a task takes (for col2im, whole images; for the bias sums, the batch)
    }

    /// <summary>
    /// Row <paramref name="pixel"/> = (n·P + p)·Q + q of the column matrix, columns[pixel, (c·R + r)·S + s] =
    /// x[n, c, p·stride − pad + r, q·stride − pad + s] (0 outside): the C·R·S inputs under that pixel's window.
    /// </summary>
    private static void Im2ColPixel(float* image, ConvGeometry g, int p, int q, float* row)
    {
        int C = g.InChannels, H = g.InHeight, W = g.InWidth, R = g.KernelHeight, S = g.KernelWidth;
        int w0 = q * g.Stride - g.Padding, h0 = p * g.Stride - g.Padding;
        // The window's columns [w0, w0 + S) and rows [h0, h0 + R) clipped to the image; the same for every channel.
        int first = Math.Max(0, -w0), last = Math.Min(S, W - w0);
        int top = Math.Max(0, -h0), bottom = Math.Min(R, H - h0);
        if (first >= last || top >= bottom)
        {
            new Span<float>(row, C * R * S).Clear();
            return;
        }
        // 4-wide windows (the DCGAN's): one vector per window row; at the left and right edges a masked load, whose
        // masked-off lanes are the zero padding and read nothing (half of a 7×7 output's pixels are on an edge).
        bool fourWide = S == 4 && (first == 0 && last == 4 || Avx.IsSupported);
        var mask = EdgeMask(first, last);
        for (int c = 0; c < C; c++)
        {
            float* plane = image + (long)c * H * W;
            float* to = row + c * R * S;
            if (top > 0) new Span<float>(to, top * S).Clear();
            for (int r = top; r < bottom; r++)
            {
                float* from = plane + (long)(h0 + r) * W + w0;
                float* dst = to + r * S;
                if (fourWide)
                {
                    Vector128.Store(first == 0 && last == 4 ? Vector128.Load(from) : Avx.MaskLoad(from, mask), dst);
                    continue;
                }
                for (int s = 0; s < first; s++) dst[s] = 0f;
                for (int s = first; s < last; s++) dst[s] = from[s];
                for (int s = last; s < S; s++) dst[s] = 0f;
            }
            if (bottom < R) new Span<float>(to + bottom * S, (R - bottom) * S).Clear();
        }
    }

    /// <summary>All-ones lanes [first, last) of four: the columns of a 4-wide window inside the image.</summary>
    private static Vector128<float> EdgeMask(int first, int last) =>
        Vector128.Create(first <= 0 && 0 < last ? -1 : 0, first <= 1 && 1 < last ? -1 : 0, first <= 2 && 2 < last ? -1 : 0, first <= 3 && 3 < last ? -1 : 0).AsSingle();

    /// <summary>
    /// x = col2im(pixels · W) + bias, by chunks of whole images: each task multiplies its images' pixel rows into its own
    /// L2-sized buffer of columns, then adds them onto those images' planes. Whole images per task means no two tasks
    /// touch one plane, and each plane is summed in the same order as ever, so the bits do not depend on the threads.
    /// </summary>
    private static void DeconvolvePixels(float* pixels, float* weight, float* bias, ConvGeometry g, float* x, int threads)
    {
        int area = g.OutHeight * g.OutWidth;
        int images = Math.Max(1, ChunkFloats / (area * g.FilterSize));
        var job = new Job { Source = pixels, Destination = x, Bias = bias, Weight = weight, G = g, Chunk = images };
        CpuWorkers.For((g.Batch + images - 1) / images, &DeconvolveChunkTask, &job, threads);
    }

    private static void DeconvolveChunkTask(int chunk, void* state)
    {
        ref Job job = ref *(Job*)state;
        var g = job.G;
        int area = g.OutHeight * g.OutWidth, filter = g.FilterSize, channels = g.OutChannels;
        int n0 = chunk * job.Chunk, count = Math.Min(job.Chunk, g.Batch - n0);
        float* columns = Workspace(ref t_chunk, (long)job.Chunk * area * filter);
        Sgemm.Multiply(false, false, count * area, filter, channels, 1f, job.Source + (long)n0 * area * channels, channels,
            job.Weight, filter, 0f, columns, filter, maxDegree: 1);
        for (int n = 0; n < count; n++)
            Col2ImImage(columns + (long)n * area * filter, filter, job.Bias, g, job.Destination + (long)(n0 + n) * g.InSize);
    }


    /// <summary>
    /// image [C, H, W] = bias (or 0) + the entries of its columns [P·Q, C·R·S] (row stride <paramref name="ld"/>) of every
    /// window covering each pixel: the columns are read once, in order, one window (p, q) at a time, and each window's
    /// C·R rows of S values are added onto the image, which stays in L1. Each pixel's terms are added in (p, q) order.
    /// Walking the columns by plane instead (one channel's entries of every window, then the next channel's) read them
    /// a cache line per window, 2 KB apart, and was a tenth of a DCGAN step.
    /// </summary>
    private static void Col2ImImage(float* columns, int ld, float* bias, ConvGeometry g, float* image)
    {
        int C = g.InChannels, H = g.InHeight, W = g.InWidth, R = g.KernelHeight, S = g.KernelWidth, P = g.OutHeight, Q = g.OutWidth;
        for (int c = 0; c < C; c++) new Span<float>(image + (long)c * H * W, H * W).Fill(bias == null ? 0f : bias[c]);
        for (int p = 0; p < P; p++)
        {
            int h0 = p * g.Stride - g.Padding;
            int top = Math.Max(0, -h0), bottom = Math.Min(R, H - h0);
            for (int q = 0; q < Q; q++)
            {
                float* window = columns + ((long)p * Q + q) * ld;
                int w0 = q * g.Stride - g.Padding;
                int first = Math.Max(0, -w0), last = Math.Min(S, W - w0);
                bool whole = S == 4 && first == 0 && last == 4; // (a masked store for the edges measured slower: microcoded on Zen)
                for (int c = 0; c < C; c++)
                {
                    float* plane = image + (long)c * H * W + w0;
                    float* from = window + c * R * S;
                    for (int r = top; r < bottom; r++)
                    {
                        float* to = plane + (h0 + r) * W;
                        float* values = from + r * S;
                        if (whole)
                        {
                            Vector128.Store(Vector128.Load(to) + Vector128.Load(values), to); // lane-wise: the same adds
                            continue;
                        }
                        for (int s = first; s < last; s++) to[s] += values[s];
                    }
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
        Transpose(from, channels, area, area, to, channels);
    }

    /// <summary>
    /// dst [cols, rows] = src [rows, cols]ᵀ (row strides <paramref name="lds"/> and <paramref name="ldd"/>): 8×8 blocks
    /// through the AVX transpose network, the ragged edges one value at a time. The element-by-element loops it replaced
    /// were a tenth of a DCGAN step (every conv's input gradient or output goes through one); only values move.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // optimized from the first call, as Sgemm's kernels are
    internal static void Transpose(float* src, int rows, int cols, nint lds, float* dst, nint ldd)
    {
        int fullRows = Avx.IsSupported ? rows / 8 * 8 : 0, fullCols = Avx.IsSupported ? cols / 8 * 8 : 0;
        for (int r = 0; r < fullRows; r += 8)
            for (int c = 0; c < fullCols; c += 8)
                Sgemm.Transpose8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
        for (int r = 0; r < rows; r++)
        {
            // The columns the blocks did not cover, then, for rows below the last whole block, all of them.
            for (int c = r < fullRows ? fullCols : 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
        }
    }

    /// <summary>
    /// sums[c] += Σ_{n,i} t[n, c·area + i], each plane summed by TensorPrimitives and the planes added in double, in
    /// order; one task per channel (on one thread, about 2 % of a DCGAN step), each channel's sum in the same order.
    /// </summary>
    private static void AddChannelSums(float* t, int batch, int channels, int area, float* sums, int threads)
    {
        var job = new Job { Source = t, Destination = sums, Channels = channels, Area = area, Chunk = batch };
        CpuWorkers.For(channels, &ChannelSumTask, &job, threads);
    }

    private static void ChannelSumTask(int c, void* state)
    {
        ref Job job = ref *(Job*)state;
        double sum = 0;
        for (int n = 0; n < job.Chunk; n++)
            sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(job.Source + ((long)n * job.Channels + c) * job.Area, job.Area));
        job.Destination[c] += (float)sum;
    }
}
