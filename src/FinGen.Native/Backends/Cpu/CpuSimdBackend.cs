using System.Numerics;
using System.Numerics.Tensors;
using Tensor = FinGen.Native.Memory.Tensor;
using FinGen.Native.Memory;
using FinGen.Native.Randomness;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// The fast CPU backend: the reference backend with its hot ops overridden by our cache-blocked SGEMM
/// (parallel over the output, never over K, so results do not depend on the thread count) and SIMD
/// elementwise loops. Loss sums stay in the reference's double-precision loops: they are a small share of
/// a step and keep the reported losses independent of vector width.
/// </summary>
public sealed unsafe class CpuSimdBackend : CpuReferenceBackend
{
    private readonly int _threads;

    /// <param name="threads">Worker threads for GEMMs; 0 means every core (or FINGEN_THREADS).</param>
    public CpuSimdBackend(int threads = 0) => _threads = threads > 0 ? threads : CpuWorkers.Count;

    public override string Name => "cpu";

    public int Threads => _threads;

    public override void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Shapes.Linear(x, weight, bias, y);
        var biasRow = bias.Span;
        for (int b = 0; b < y.Rows; b++) biasRow.CopyTo(new Span<float>(y.Data + (long)b * y.Cols, y.Cols));
        Sgemm.Multiply(false, true, x.Rows, y.Cols, x.Cols, 1f, x.Data, x.Cols, weight.Data, weight.Cols, 1f, y.Data, y.Cols, _threads);
    }

    public override void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.LinearBackward(x, weight, dy, dx, dWeight, dBias);
        int batch = x.Rows, inputs = x.Cols, outputs = dy.Cols;
        if (!dx.IsEmpty)
            Sgemm.Multiply(false, false, batch, inputs, outputs, 1f, dy.Data, outputs, weight.Data, inputs, 0f, dx.Data, inputs, _threads);
        if (dWeight.IsEmpty) return;
        Sgemm.Multiply(true, false, outputs, inputs, batch, 1f, dy.Data, outputs, x.Data, inputs, 1f, dWeight.Data, inputs, _threads);
        var dBiasRow = dBias.Span;
        for (int b = 0; b < batch; b++)
            TensorPrimitives.Add(dBiasRow, new ReadOnlySpan<float>(dy.Data + (long)b * outputs, outputs), dBiasRow);
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
        int i = 0, n = x.Length, w = Vector<float>.Count;
        var s = new Vector<float>(slope);
        for (; i <= n - w; i += w)
        {
            var v = Vector.Load(x.Data + i);
            Vector.Store(Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, v * s), y.Data + i);
        }
        for (; i < n; i++) y.Data[i] = x.Data[i] > 0 ? x.Data[i] : slope * x.Data[i];
    }

    public override void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx)
    {
        Shapes.Same(x, dy); Shapes.Same(x, dx);
        int i = 0, n = x.Length, w = Vector<float>.Count;
        var s = new Vector<float>(slope);
        for (; i <= n - w; i += w)
        {
            var g = Vector.Load(dy.Data + i);
            Vector.Store(Vector.ConditionalSelect(Vector.GreaterThan(Vector.Load(x.Data + i), Vector<float>.Zero), g, g * s), dx.Data + i);
        }
        for (; i < n; i++) dx.Data[i] = x.Data[i] > 0 ? dy.Data[i] : slope * dy.Data[i];
    }

    public override void SigmoidForward(Tensor x, Tensor y)
    {
        Shapes.Same(x, y);
        TensorPrimitives.Sigmoid(x.Span, y.Span);
    }

    public override void SigmoidBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Shapes.Same(y, dy); Shapes.Same(y, dx);
        int i = 0, n = y.Length, w = Vector<float>.Count;
        for (; i <= n - w; i += w)
        {
            var v = Vector.Load(y.Data + i);
            Vector.Store(Vector.Load(dy.Data + i) * v * (Vector<float>.One - v), dx.Data + i);
        }
        for (; i < n; i++) dx.Data[i] = dy.Data[i] * y.Data[i] * (1f - y.Data[i]);
    }

    public override void TanhForward(Tensor x, Tensor y)
    {
        Shapes.Same(x, y);
        TensorPrimitives.Tanh(x.Span, y.Span);
    }

    public override void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits)
    {
        Shapes.Same(logits, targets); Shapes.Same(logits, dLogits);
        TensorPrimitives.Sigmoid(logits.Span, dLogits.Span);
        TensorPrimitives.Subtract(dLogits.Span, targets.Span, dLogits.Span);
        TensorPrimitives.Multiply(dLogits.Span, scale, dLogits.Span);
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
    }

    private static void NormalTask(int chunk, void* state)
    {
        ref NormalJob job = ref *(NormalJob*)state;
        int start = chunk * NormalChunk, count = Math.Min(NormalChunk, job.Length - start);
        Philox.FillNormalVectorized(new Span<float>(job.Data + start, count), job.Seed, job.Stream, job.Offset + (ulong)start);
    }

    public override void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        float correction1 = 1f - MathF.Pow(beta1, step);
        float correction2 = 1f - MathF.Pow(beta2, step);
        int i = 0, n = parameters.Length, w = Vector<float>.Count;
        var b1 = new Vector<float>(beta1); var b1c = new Vector<float>(1f - beta1);
        var b2 = new Vector<float>(beta2); var b2c = new Vector<float>(1f - beta2);
        var c1 = new Vector<float>(correction1); var c2 = new Vector<float>(correction2);
        var lr = new Vector<float>(learningRate); var eps = new Vector<float>(epsilon);
        for (; i <= n - w; i += w)
        {
            var g = Vector.Load(gradients.Data + i);
            var mi = b1 * Vector.Load(m.Data + i) + b1c * g;
            var vi = b2 * Vector.Load(v.Data + i) + b2c * g * g;
            Vector.Store(mi, m.Data + i);
            Vector.Store(vi, v.Data + i);
            var update = lr * (mi / c1) / (Vector.SquareRoot(vi / c2) + eps);
            Vector.Store(Vector.Load(parameters.Data + i) - update, parameters.Data + i);
        }
        if (i < n)
        {
            var tail = n - i;
            base.AdamStep(new Tensor(parameters.Data + i, 1, tail), new Tensor(gradients.Data + i, 1, tail),
                new Tensor(m.Data + i, 1, tail), new Tensor(v.Data + i, 1, tail), learningRate, beta1, beta2, epsilon, step);
        }
    }
}
