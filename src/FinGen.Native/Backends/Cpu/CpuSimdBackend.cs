using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Tensor = FinGen.Native.Memory.Tensor;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// The fast CPU backend: the reference backend with its hot ops overridden by our cache-blocked SGEMM
/// (parallel over the output, never over K, so results do not depend on the thread count) and SIMD
/// elementwise loops. Loss sums stay in the reference's double-precision loops where they are a small share of
/// a step (they are then independent of vector width); the BCE of a VAE's reconstruction, which is not, runs in
/// SIMD with chunked double sums.
/// </summary>
public sealed unsafe class CpuSimdBackend : CpuReferenceBackend
{
    private readonly int _threads;

    /// <param name="threads">Worker threads for GEMMs; 0 means every core (or FINGEN_THREADS).</param>
    public CpuSimdBackend(int threads = 0) => _threads = threads > 0 ? threads : CpuWorkers.Count;

    public override string Name => "cpu";

    public int Threads => _threads;

    /// <summary>
    /// A step zeroes both networks' gradients (~1 MB at the seed sizes) and copies batches of activations: on one
    /// core that is memory bandwidth left unused, so big ones are cut into <see cref="MemoryChunk"/>-float pieces
    /// spread over the workers (the values are the same however they are cut).
    /// </summary>
    public override void Fill(Tensor destination, float value)
    {
        if (destination.Length < 2 * MemoryChunk || _threads == 1)
        {
            base.Fill(destination, value);
            return;
        }
        var job = new MemoryJob { Destination = destination.Data, Length = destination.Length, Value = value };
        CpuWorkers.For((int)((job.Length + MemoryChunk - 1) / MemoryChunk), &FillTask, &job, _threads);
    }

    public override void Copy(Tensor source, Tensor destination)
    {
        bool overlap = source.Data < destination.Data + destination.Length && destination.Data < source.Data + source.Length;
        if (source.Length != destination.Length || source.Length < 2 * MemoryChunk || _threads == 1 || overlap)
        {
            base.Copy(source, destination); // which refuses lengths that differ, and moves overlapping ranges as memmove does
            return;
        }
        var job = new MemoryJob { Source = source.Data, Destination = destination.Data, Length = destination.Length };
        CpuWorkers.For((int)((job.Length + MemoryChunk - 1) / MemoryChunk), &CopyTask, &job, _threads);
    }

    private const int MemoryChunk = 32 * 1024; // floats: 128 KB a piece

    private struct MemoryJob
    {
        public float* Source, Destination;
        public long Length;
        public float Value;
    }

    private static void FillTask(int chunk, void* state)
    {
        var job = (MemoryJob*)state;
        long i = (long)chunk * MemoryChunk;
        new Span<float>(job->Destination + i, (int)Math.Min(MemoryChunk, job->Length - i)).Fill(job->Value);
    }

    private static void CopyTask(int chunk, void* state)
    {
        var job = (MemoryJob*)state;
        long i = (long)chunk * MemoryChunk;
        int n = (int)Math.Min(MemoryChunk, job->Length - i);
        new ReadOnlySpan<float>(job->Source + i, n).CopyTo(new Span<float>(job->Destination + i, n));
    }

    /// <summary>The bias is added as SGEMM stores each tile (<see cref="Sgemm.MultiplyBias"/>): no broadcast pass, no re-read of y.</summary>
    public override void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Shapes.Linear(x, weight, bias, y);
        Sgemm.MultiplyBias(false, true, x.Rows, y.Cols, x.Cols, x.Data, x.Cols, weight.Data, weight.Cols, bias.Data,
            y.Data, y.Cols, null, 0, 0f, _threads);
    }

    /// <summary>
    /// ReLU and leaky ReLU are applied in SGEMM's store too, so a hidden layer is one pass over its output; sigmoid and
    /// tanh keep their own pass (TensorPrimitives' vector approximations, whose bits an element-wise epilogue would not
    /// reproduce). The same values as the unfused ops, bit for bit.
    /// </summary>
    public override void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Activation activation, float slope, Tensor pre, Tensor post)
    {
        if (activation is not (Activation.Relu or Activation.LeakyRelu))
        {
            base.LinearActivationForward(x, weight, bias, activation, slope, pre, post);
            return;
        }
        Shapes.Linear(x, weight, bias, pre);
        Shapes.Same(pre, post);
        if (pre.Data == post.Data && pre.Length > 0) Throw.Argument("a fused activation's post may not alias pre");
        Sgemm.MultiplyBias(false, true, x.Rows, pre.Cols, x.Cols, x.Data, x.Cols, weight.Data, weight.Cols, bias.Data,
            pre.Data, pre.Cols, post.Data, post.Cols, activation == Activation.Relu ? 0f : slope, _threads);
    }

    /// <summary>
    /// dX = dY·W and dW += dYᵀ·X are the same number of multiply-adds (batch·in·out). On two threads, when both are
    /// wanted and each is big enough to be worth a thread of its own (what SGEMM itself would split), each thread
    /// computes one of them whole: one fork and join instead of two, and no GEMM cut into halves with ragged edges.
    /// Smaller ones (a batch-1 step) stay on the calling thread, as SGEMM keeps them, with no fork at all; on more
    /// threads each GEMM is spread over every thread in turn. The bits are the same either way (SGEMM's results do not
    /// depend on its thread count).
    /// </summary>
    public override void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.LinearBackward(x, weight, dy, dx, dWeight, dBias);
        var job = new LinearBackwardJob
        {
            X = x.Data, Weight = weight.Data, Dy = dy.Data, Dx = dx.Data, DWeight = dWeight.Data, DBias = dBias.Data,
            Batch = x.Rows, Inputs = x.Cols, Outputs = dy.Cols,
        };
        if (_threads == 2 && !dx.IsEmpty && !dWeight.IsEmpty && (long)job.Batch * job.Inputs * job.Outputs >= Sgemm.MinFmasPerThread)
        {
            job.Threads = 1;
            CpuWorkers.For(2, &LinearBackwardTask, &job, 2);
            return;
        }
        job.Threads = _threads;
        if (!dx.IsEmpty) LinearBackwardTask(0, &job);
        if (!dWeight.IsEmpty) LinearBackwardTask(1, &job);
    }

    private struct LinearBackwardJob
    {
        public float* X, Weight, Dy, Dx, DWeight, DBias;
        public int Batch, Inputs, Outputs, Threads;
    }

    /// <summary>Part 0: dX = dY·W. Part 1: dW += dYᵀ·X and dB += Σ_b dY, on <see cref="LinearBackwardJob.Threads"/> threads.</summary>
    private static void LinearBackwardTask(int part, void* state)
    {
        ref LinearBackwardJob j = ref *(LinearBackwardJob*)state;
        if (part == 0)
        {
            Sgemm.Multiply(false, false, j.Batch, j.Inputs, j.Outputs, 1f, j.Dy, j.Outputs, j.Weight, j.Inputs, 0f, j.Dx, j.Inputs, j.Threads);
            return;
        }
        Sgemm.Multiply(true, false, j.Outputs, j.Inputs, j.Batch, 1f, j.Dy, j.Outputs, j.X, j.Inputs, 1f, j.DWeight, j.Inputs, j.Threads);
        var dBiasRow = new Span<float>(j.DBias, j.Outputs);
        for (int b = 0; b < j.Batch; b++)
            TensorPrimitives.Add(dBiasRow, new ReadOnlySpan<float>(j.Dy + (long)b * j.Outputs, j.Outputs), dBiasRow);
    }

    // ---- convolutions as im2col + SGEMM (CpuConvolution); an empty tensor's Data is null, which the kernels read as "skip"
    public override void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        Shapes.Conv(x, weight, bias, g, y);
        CpuConvolution.Conv2dForward(x.Data, weight.Data, bias.Data, g, y.Data, _threads);
    }

    public override void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.ConvBackward(x, weight, dy, g, dx, dWeight, dBias);
        CpuConvolution.Conv2dBackward(x.Data, weight.Data, dy.Data, g, dx.Data, dWeight.Data, dBias.Data, _threads);
    }

    public override void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        Shapes.ConvTranspose(x, weight, bias, g, y);
        CpuConvolution.ConvTranspose2dForward(x.Data, weight.Data, bias.Data, g, y.Data, _threads);
    }

    public override void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.ConvTransposeBackward(x, weight, dy, g, dx, dWeight, dBias);
        CpuConvolution.ConvTranspose2dBackward(x.Data, weight.Data, dy.Data, g, dx.Data, dWeight.Data, dBias.Data, _threads);
    }

    // ---- batch normalization, parallel over channels (CpuBatchNorm)
    public override void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd)
    {
        int spatial = Shapes.BatchNormTraining(x, gamma, beta, channels, runningMean, runningVar, y, saveMean, saveInvStd);
        CpuBatchNorm.ForwardTraining(x.Data, gamma.Data, beta.Data, x.Rows, channels, spatial, momentum, epsilon,
            runningMean.Data, runningVar.Data, y.Data, saveMean.Data, saveInvStd.Data, _threads);
    }

    public override void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y)
    {
        int spatial = Shapes.BatchNormInference(x, gamma, beta, channels, runningMean, runningVar, y);
        CpuBatchNorm.ForwardInference(x.Data, gamma.Data, beta.Data, x.Rows, channels, spatial, epsilon, runningMean.Data, runningVar.Data, y.Data, _threads);
    }

    public override void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd,
        Tensor dx, Tensor dGamma, Tensor dBeta)
    {
        int spatial = Shapes.BatchNormBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta);
        CpuBatchNorm.Backward(x.Data, gamma.Data, dy.Data, x.Rows, channels, spatial, saveMean.Data, saveInvStd.Data,
            dx.Data, dGamma.Data, dBeta.Data, _threads);
    }

    // TensorPrimitives has no LeakyReLU, so this one is a plain Vector<float> select.
    public override void LeakyReluForward(Tensor x, float slope, Tensor y)
    {
        Shapes.Same(x, y);
        Elementwise(&LeakyReluForwardTask, x.Data, null, y.Data, x.Length, slope);
    }

    public override void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx)
    {
        Shapes.Same(x, dy); Shapes.Same(x, dx);
        Elementwise(&LeakyReluBackwardTask, x.Data, dy.Data, dx.Data, x.Length, slope);
    }

    /// <summary>
    /// An element-wise op over <paramref name="n"/> values: on the calling thread, or for a conv layer's activations
    /// (400 K values at batch 64 in the DCGAN, a few per cent of its step on one core) in <see cref="MemoryChunk"/>
    /// pieces over the workers. Each value's result depends on that value alone, so the bits do not depend on the cut.
    /// </summary>
    private void Elementwise(delegate*<int, void*, void> task, float* x, float* y, float* z, int n, float slope)
    {
        var job = new ElementwiseJob { X = x, Y = y, Z = z, Length = n, Slope = slope };
        if (n < 2 * MemoryChunk || _threads == 1) task(-1, &job);
        else CpuWorkers.For((n + MemoryChunk - 1) / MemoryChunk, task, &job, _threads);
    }

    private struct ElementwiseJob
    {
        public float* X, Y, Z;
        public int Length;
        public float Slope;
    }

    /// <summary>The range of piece <paramref name="chunk"/> (−1: all of it).</summary>
    private static (int Start, int End) Piece(int chunk, int length) =>
        chunk < 0 ? (0, length) : (chunk * MemoryChunk, Math.Min(length, (chunk + 1) * MemoryChunk));

    private static void LeakyReluForwardTask(int chunk, void* state)
    {
        var job = (ElementwiseJob*)state;
        var (i, n) = Piece(chunk, job->Length);
        float* x = job->X, y = job->Z;
        int w = Vector<float>.Count;
        var s = new Vector<float>(job->Slope);
        for (; i <= n - w; i += w)
        {
            var v = Vector.Load(x + i);
            Vector.Store(Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, v * s), y + i);
        }
        for (; i < n; i++) y[i] = x[i] > 0 ? x[i] : job->Slope * x[i];
    }

    private static void LeakyReluBackwardTask(int chunk, void* state)
    {
        var job = (ElementwiseJob*)state;
        var (i, n) = Piece(chunk, job->Length);
        float* x = job->X, dy = job->Y, dx = job->Z;
        int w = Vector<float>.Count;
        var s = new Vector<float>(job->Slope);
        for (; i <= n - w; i += w)
        {
            var g = Vector.Load(dy + i);
            Vector.Store(Vector.ConditionalSelect(Vector.GreaterThan(Vector.Load(x + i), Vector<float>.Zero), g, g * s), dx + i);
        }
        for (; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : job->Slope * dy[i];
    }

    public override void SigmoidForward(Tensor x, Tensor y)
    {
        Shapes.Same(x, y);
        TensorPrimitives.Sigmoid(x.Span, y.Span);
    }

    public override void SigmoidBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Shapes.Same(y, dy); Shapes.Same(y, dx);
        Elementwise(&SigmoidBackwardTask, y.Data, dy.Data, dx.Data, y.Length, 0f);
    }

    private static void SigmoidBackwardTask(int chunk, void* state)
    {
        var job = (ElementwiseJob*)state;
        var (i, n) = Piece(chunk, job->Length);
        float* y = job->X, dy = job->Y, dx = job->Z;
        int w = Vector<float>.Count;
        for (; i <= n - w; i += w)
        {
            var v = Vector.Load(y + i);
            Vector.Store(Vector.Load(dy + i) * v * (Vector<float>.One - v), dx + i);
        }
        for (; i < n; i++) dx[i] = dy[i] * y[i] * (1f - y[i]);
    }

    public override void TanhForward(Tensor x, Tensor y)
    {
        Shapes.Same(x, y);
        TensorPrimitives.Tanh(x.Span, y.Span);
    }

    /// <summary>
    /// The BCE loss of a VAE's reconstruction is one log and one exp per pixel (200 K of them at batch 256): in the
    /// reference's scalar double loop that was half of the whole training step. Here each fixed chunk of
    /// <see cref="LossChunk"/> elements computes its terms in float SIMD and sums them in double, and the chunks'
    /// sums are added in chunk order, so the loss does not depend on the thread count (it may differ from the
    /// reference's by float rounding of the terms, ~1e-7 relative).
    /// </summary>
    public override void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss)
    {
        Shapes.Same(logits, targets); Shapes.Scalar(loss);
        int n = logits.Length, chunks = (n + LossChunk - 1) / LossChunk;
        if (chunks <= 1)
        {
            loss.Data[0] = (float)(scale * BceChunk(logits.Data, targets.Data, n));
            return;
        }
        t_lossPartials = t_lossPartials is { Length: var length } && length >= chunks ? t_lossPartials : new double[chunks];
        fixed (double* partials = t_lossPartials)
        {
            var job = new LossJob { X = logits.Data, T = targets.Data, Length = n, Partials = partials };
            CpuWorkers.For(chunks, &BceTask, &job, _threads);
            double sum = 0;
            for (int c = 0; c < chunks; c++) sum += partials[c];
            loss.Data[0] = (float)(scale * sum);
        }
    }

    private const int LossChunk = 8192;
    [ThreadStatic] private static double[]? t_lossPartials;

    private struct LossJob
    {
        public float* X, T;
        public int Length;
        public double* Partials;
    }

    private static void BceTask(int chunk, void* state)
    {
        var job = (LossJob*)state;
        int start = chunk * LossChunk;
        job->Partials[chunk] = BceChunk(job->X + start, job->T + start, Math.Min(LossChunk, job->Length - start));
    }

    /// <summary>Σ max(x, 0) − x·t + log(1 + e^−|x|) over <paramref name="n"/> elements: terms in float, sums in double.</summary>
    private static double BceChunk(float* x, float* t, int n)
    {
        int i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<double> lo = default, hi = default;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.Load(x + i);
                var term = Vector512.Max(v, Vector512<float>.Zero) - v * Vector512.Load(t + i)
                    + Vector512.Log(Vector512<float>.One + Vector512.Exp(-Vector512.Abs(v)));
                var (a, b) = Vector512.Widen(term);
                lo += a;
                hi += b;
            }
            sum = Vector512.Sum(lo + hi);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> lo = default, hi = default;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.Load(x + i);
                var term = Vector256.Max(v, Vector256<float>.Zero) - v * Vector256.Load(t + i)
                    + Vector256.Log(Vector256<float>.One + Vector256.Exp(-Vector256.Abs(v)));
                var (a, b) = Vector256.Widen(term);
                lo += a;
                hi += b;
            }
            sum = Vector256.Sum(lo + hi);
        }
        for (; i < n; i++)
        {
            double v = x[i];
            sum += Math.Max(v, 0) - v * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(v)));
        }
        return sum;
    }

    /// <summary>
    /// dL/dx = scale·(σ(x) − t), TensorPrimitives' σ, in chunks of <see cref="LossChunk"/> spread over the workers (a
    /// VAE's reconstruction has 50 K logits at batch 64). The ops are
    /// element-wise and every chunk but a whole tensor shorter than one vector is at least a vector long, so each
    /// element gets TensorPrimitives' vector result as in one call over the whole tensor: the same bits.
    /// </summary>
    public override void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits)
    {
        Shapes.Same(logits, targets); Shapes.Same(logits, dLogits);
        var job = new BceGradientJob { X = logits.Data, T = targets.Data, D = dLogits.Data, Length = logits.Length, Scale = scale };
        int chunks = Math.Max(1, logits.Length / LossChunk); // the last chunk takes the rest: never shorter than a chunk
        if (chunks == 1) BceGradientTask(0, &job);
        else CpuWorkers.For(chunks, &BceGradientTask, &job, _threads);
    }

    private struct BceGradientJob
    {
        public float* X, T, D;
        public int Length;
        public float Scale;
    }

    private static void BceGradientTask(int chunk, void* state)
    {
        var job = (BceGradientJob*)state;
        int start = chunk * LossChunk, chunks = Math.Max(1, job->Length / LossChunk);
        int n = chunk == chunks - 1 ? job->Length - start : LossChunk;
        var d = new Span<float>(job->D + start, n);
        TensorPrimitives.Sigmoid(new ReadOnlySpan<float>(job->X + start, n), d);
        TensorPrimitives.Subtract(d, new ReadOnlySpan<float>(job->T + start, n), d);
        TensorPrimitives.Multiply(d, job->Scale, d);
    }

    /// <summary>
    /// The same numbers as <see cref="Philox.FillNormal"/>, computed in parallel: Philox is counter-based, so each
    /// chunk starts at its own offset and the result does not depend on how the work is split. (Box–Muller in
    /// double was a quarter of a GAN step when run on one thread.)
    /// </summary>
    public override void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset)
    {
        var job = new NormalJob { Data = destination.Data, Length = destination.Length, Seed = seed, Stream = stream, Offset = offset };
        int chunks = (job.Length + NormalChunk - 1) / NormalChunk;
        CpuWorkers.For(chunks, &NormalTask, &job, _threads);
    }

    private const int NormalChunk = 1024; // a multiple of 4, so chunks start on Philox block boundaries

    private struct NormalJob
    {
        public float* Data;
        public int Length;
        public ulong Seed, Stream, Offset;
        public int Degrees;
    }

    /// <summary>
    /// <see cref="Philox.FillStudentT"/>'s numbers in parallel chunks, each drawing its normals with the vectorized
    /// Philox (so they match the reference backend's to the normals' ulp, as <see cref="FillNormal(Tensor, ulong, ulong, ulong)"/>'s do).
    /// </summary>
    public override void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees)
    {
        Philox.CheckStudentTDegrees(degrees);
        var job = new NormalJob { Data = destination.Data, Length = destination.Length, Seed = seed, Stream = stream, Offset = offset, Degrees = degrees };
        int chunks = (job.Length + StudentTChunk - 1) / StudentTChunk;
        CpuWorkers.For(chunks, &StudentTTask, &job, _threads);
    }

    private const int StudentTChunk = 256;

    private static void StudentTTask(int chunk, void* state)
    {
        ref NormalJob job = ref *(NormalJob*)state;
        int start = chunk * StudentTChunk, count = Math.Min(StudentTChunk, job.Length - start);
        Philox.FillStudentT(new Span<float>(job.Data + start, count), job.Seed, job.Stream, job.Offset + (ulong)start, job.Degrees, vectorized: true);
    }

    private static void NormalTask(int chunk, void* state)
    {
        ref NormalJob job = ref *(NormalJob*)state;
        int start = chunk * NormalChunk, count = Math.Min(NormalChunk, job.Length - start);
        Philox.FillNormalVectorized(new Span<float>(job.Data + start, count), job.Seed, job.Stream, job.Offset + (ulong)start);
    }

    /// <summary>
    /// Adam over fixed chunks on the worker pool: it streams seven floats per parameter, a fifth of a GAN step at
    /// batch 64 on one thread. Each element's update is the same whichever thread runs its chunk (chunks are whole
    /// vectors; only the last chunk has a scalar tail), so the result does not depend on the thread count.
    /// </summary>
    public override void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        var job = new AdamJob
        {
            P = parameters.Data, G = gradients.Data, M = m.Data, V = v.Data, Length = parameters.Length,
            LearningRate = learningRate, Beta1 = beta1, Beta2 = beta2, Epsilon = epsilon, Step = step,
            Correction1 = 1f - MathF.Pow(beta1, step), Correction2 = 1f - MathF.Pow(beta2, step),
        };
        CpuWorkers.For((job.Length + AdamChunk - 1) / AdamChunk, &AdamTask, &job, _threads);
    }

    private const int AdamChunk = 16384; // a multiple of every vector width

    // ---- spectral normalization: the reference's double arithmetic in Vector<double> lanes. Wᵀu, W/σ and the backward's
    // elements do each element's operations in the reference's order, so they give its bits; the row dots (Wv), norms
    // and ⟨G, W⟩ add in lanes, within double rounding of its sequential sums. A default discriminator's SN ops are a
    // third of a CPU step in the scalar reference.

    /// <summary>The most columns whose double accumulators fit on the stack (32 KiB); wider matrices take the reference.</summary>
    private const int SpectralStackColumns = 4096;

    public override void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized)
    {
        Shapes.SpectralNorm(weight, u, v, sigma, normalized);
        int rows = weight.Rows, cols = weight.Cols;
        if (cols > SpectralStackColumns)
        {
            base.SpectralNormForward(weight, u, v, powerIteration, sigma, normalized);
            return;
        }
        float* w = weight.Data, pu = u.Data, pv = v.Data;
        double sigmaSum = 0;
        if (powerIteration)
        {
            // v = Wᵀu / ‖Wᵀu‖: each column's sum down the rows in row order, as the reference, a vector of columns at a time.
            Span<double> sums = stackalloc double[cols];
            sums.Clear();
            for (int i = 0; i < rows; i++) AddScaledRow(w + (long)i * cols, pu[i], sums);
            double squares = 0;
            for (int j = 0; j < cols; j++)
            {
                float vj = (float)sums[j];
                pv[j] = vj;
                squares += (double)vj * vj;
            }
            double vNorm = Math.Max(Math.Sqrt(squares), SpectralNormEpsilon);
            for (int j = 0; j < cols; j++) pv[j] = (float)(pv[j] / vNorm);
            squares = 0;
            for (int i = 0; i < rows; i++)
            {
                float r = (float)DotDouble(w + (long)i * cols, pv, cols);
                pu[i] = r;
                squares += (double)r * r;
            }
            double uNorm = Math.Max(Math.Sqrt(squares), SpectralNormEpsilon);
            for (int i = 0; i < rows; i++)
            {
                float r = pu[i];
                pu[i] = (float)(r / uNorm);
                sigmaSum += (double)pu[i] * r;
            }
        }
        else
        {
            for (int i = 0; i < rows; i++) sigmaSum += (double)pu[i] * (float)DotDouble(w + (long)i * cols, pv, cols);
        }
        float s = (float)sigmaSum;
        sigma.Data[0] = s;
        TensorPrimitives.Divide(weight.Span, s, normalized.Span);
    }

    public override void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight)
    {
        Shapes.SpectralNorm(weight, u, v, sigma, dNormalized);
        Shapes.Same(weight, dWeight);
        int rows = weight.Rows, cols = weight.Cols, wd = Vector<double>.Count;
        double s = sigma.Data[0];
        double c = DotDouble(dNormalized.Data, weight.Data, weight.Length) / (s * s);
        var sv = new Vector<double>(s);
        for (int i = 0; i < rows; i++)
        {
            double cu = c * u.Data[i];
            var cuv = new Vector<double>(cu);
            float* g = dNormalized.Data + (long)i * cols, dw = dWeight.Data + (long)i * cols, pv = v.Data;
            int j = 0;
            for (; j <= cols - 2 * wd; j += 2 * wd)
            {
                Vector.Widen(Vector.Load(g + j), out var g0, out var g1);
                Vector.Widen(Vector.Load(pv + j), out var v0, out var v1);
                var update = Vector.Narrow(g0 / sv - cuv * v0, g1 / sv - cuv * v1);
                Vector.Store(Vector.Load(dw + j) + update, dw + j);
            }
            for (; j < cols; j++) dw[j] += (float)(g[j] / s - cu * pv[j]);
        }
    }

    /// <summary>sums[j] += (double)row[j] · scale, a vector of columns at a time (each element one multiply and one add, as a scalar loop).</summary>
    private static void AddScaledRow(float* row, float scale, Span<double> sums)
    {
        int n = sums.Length, wd = Vector<double>.Count, j = 0;
        var k = new Vector<double>(scale);
        fixed (double* acc = sums)
        {
            for (; j <= n - 2 * wd; j += 2 * wd)
            {
                Vector.Widen(Vector.Load(row + j), out var r0, out var r1);
                Vector.Store(Vector.Load(acc + j) + r0 * k, acc + j);
                Vector.Store(Vector.Load(acc + j + wd) + r1 * k, acc + j + wd);
            }
            for (; j < n; j++) acc[j] += (double)row[j] * scale;
        }
    }

    /// <summary>Σ a_j·b_j in double, in Vector&lt;double&gt; lanes and then a sequential tail.</summary>
    private static double DotDouble(float* a, float* b, int n)
    {
        int wd = Vector<double>.Count, j = 0;
        var sum0 = Vector<double>.Zero;
        var sum1 = Vector<double>.Zero;
        for (; j <= n - 2 * wd; j += 2 * wd)
        {
            Vector.Widen(Vector.Load(a + j), out var a0, out var a1);
            Vector.Widen(Vector.Load(b + j), out var b0, out var b1);
            sum0 += a0 * b0;
            sum1 += a1 * b1;
        }
        double sum = Vector.Sum(sum0 + sum1);
        for (; j < n; j++) sum += (double)a[j] * b[j];
        return sum;
    }

    private struct AdamJob
    {
        public float* P, G, M, V;
        public int Length, Step;
        public float LearningRate, Beta1, Beta2, Epsilon, Correction1, Correction2;
    }

    private static void AdamTask(int chunk, void* state)
    {
        var job = (AdamJob*)state;
        int i = chunk * AdamChunk, n = Math.Min(job->Length, i + AdamChunk), w = Vector<float>.Count;
        float* p = job->P, gradients = job->G, m = job->M, v = job->V;
        var b1 = new Vector<float>(job->Beta1); var b1c = new Vector<float>(1f - job->Beta1);
        var b2 = new Vector<float>(job->Beta2); var b2c = new Vector<float>(1f - job->Beta2);
        var c1 = new Vector<float>(job->Correction1); var c2 = new Vector<float>(job->Correction2);
        var lr = new Vector<float>(job->LearningRate); var eps = new Vector<float>(job->Epsilon);
        for (; i <= n - w; i += w)
        {
            var g = Vector.Load(gradients + i);
            var mi = b1 * Vector.Load(m + i) + b1c * g;
            var vi = b2 * Vector.Load(v + i) + b2c * g * g;
            Vector.Store(mi, m + i);
            Vector.Store(vi, v + i);
            var update = lr * (mi / c1) / (Vector.SquareRoot(vi / c2) + eps);
            Vector.Store(Vector.Load(p + i) - update, p + i);
        }
        if (i < n)
        {
            int tail = n - i;
            ScalarAdam(new Tensor(p + i, 1, tail), new Tensor(gradients + i, 1, tail), new Tensor(m + i, 1, tail), new Tensor(v + i, 1, tail),
                job->LearningRate, job->Beta1, job->Beta2, job->Epsilon, job->Step);
        }
    }
}
