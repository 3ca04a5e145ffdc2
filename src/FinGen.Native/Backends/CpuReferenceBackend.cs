using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native.Backends;

/// <summary>
/// The oracle: plain scalar loops, written to be obviously right rather than fast. Every other backend is
/// tested against it, and its backward ops are tested against float64 finite differences. Sums of losses
/// run in double. Public for embedding and testing; the SIMD backend derives from it and overrides the hot ops.
/// </summary>
public unsafe class CpuReferenceBackend : IBackend
{
    public virtual string Name => "cpu-ref";

    // ---- memory
    public DeviceMemory Allocate(long count) => new HostMemory(count);

    public void Upload(ReadOnlySpan<float> source, Tensor destination) => source.CopyTo(destination.Span);

    public void Download(Tensor source, Span<float> destination) => source.Span.CopyTo(destination);

    public virtual void Fill(Tensor destination, float value) => destination.Span.Fill(value);

    public virtual void Copy(Tensor source, Tensor destination)
    {
        if (source.Length != destination.Length) Throw.Argument($"copy {source} into {destination}: lengths differ");
        source.Span.CopyTo(destination.Span);
    }

    public virtual void Add(Tensor a, Tensor b, Tensor y)
    {
        Shapes.Same(a, b); Shapes.Same(a, y);
        for (int i = 0; i < a.Length; i++) y.Data[i] = a.Data[i] + b.Data[i];
    }

    public void Synchronize() { }

    // ---- linear
    public virtual void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Shapes.Linear(x, weight, bias, y);
        int batch = x.Rows, inputs = x.Cols, outputs = y.Cols;
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outputs; o++)
            {
                float sum = bias.Data[o];
                for (int i = 0; i < inputs; i++) sum += x.Data[b * inputs + i] * weight.Data[o * inputs + i];
                y.Data[b * outputs + o] = sum;
            }
        }
    }

    /// <summary>The two ops it fuses, so every CPU backend gives exactly the unfused values.</summary>
    public virtual void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Activation activation, float slope, Tensor pre, Tensor post)
    {
        LinearForward(x, weight, bias, pre);
        ActivationOps.Forward(this, activation, slope, pre, post);
    }

    public virtual void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.LinearBackward(x, weight, dy, dx, dWeight, dBias);
        int batch = x.Rows, inputs = x.Cols, outputs = dy.Cols;
        if (!dx.IsEmpty)
        {
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < inputs; i++)
                {
                    float sum = 0;
                    for (int o = 0; o < outputs; o++) sum += dy.Data[b * outputs + o] * weight.Data[o * inputs + i];
                    dx.Data[b * inputs + i] = sum;
                }
            }
        }
        if (dWeight.IsEmpty) return;
        for (int o = 0; o < outputs; o++)
        {
            float biasSum = 0;
            for (int b = 0; b < batch; b++) biasSum += dy.Data[b * outputs + o];
            dBias.Data[o] += biasSum;
            for (int i = 0; i < inputs; i++)
            {
                float sum = 0;
                for (int b = 0; b < batch; b++) sum += dy.Data[b * outputs + o] * x.Data[b * inputs + i];
                dWeight.Data[o * inputs + i] += sum;
            }
        }
    }

    // ---- activations
    public virtual void LeakyReluForward(Tensor x, float slope, Tensor y)
    {
        Shapes.Same(x, y);
        for (int i = 0; i < x.Length; i++) y.Data[i] = x.Data[i] > 0 ? x.Data[i] : slope * x.Data[i];
    }

    public virtual void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx)
    {
        Shapes.Same(x, dy); Shapes.Same(x, dx);
        for (int i = 0; i < x.Length; i++) dx.Data[i] = x.Data[i] > 0 ? dy.Data[i] : slope * dy.Data[i];
    }

    public virtual void ReluForward(Tensor x, Tensor y) => LeakyReluForward(x, 0f, y);

    public virtual void ReluBackward(Tensor x, Tensor dy, Tensor dx) => LeakyReluBackward(x, dy, 0f, dx);

    public virtual void SigmoidForward(Tensor x, Tensor y)
    {
        Shapes.Same(x, y);
        for (int i = 0; i < x.Length; i++) y.Data[i] = Sigmoid(x.Data[i]);
    }

    public virtual void SigmoidBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Shapes.Same(y, dy); Shapes.Same(y, dx);
        for (int i = 0; i < y.Length; i++) dx.Data[i] = dy.Data[i] * y.Data[i] * (1f - y.Data[i]);
    }

    public virtual void TanhForward(Tensor x, Tensor y)
    {
        Shapes.Same(x, y);
        for (int i = 0; i < x.Length; i++) y.Data[i] = MathF.Tanh(x.Data[i]);
    }

    public virtual void TanhBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Shapes.Same(y, dy); Shapes.Same(y, dx);
        for (int i = 0; i < y.Length; i++) dx.Data[i] = dy.Data[i] * (1f - y.Data[i] * y.Data[i]);
    }

    // ---- losses
    public virtual void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss)
    {
        Shapes.Same(logits, targets); Shapes.Scalar(loss);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double x = logits.Data[i], t = targets.Data[i];
            // log(1 + e^x) − x·t written so that neither exp overflows nor log sees 0.
            sum += Math.Max(x, 0) - x * t + Math.Log(1 + Math.Exp(-Math.Abs(x)));
        }
        loss.Data[0] = (float)(scale * sum);
    }

    public virtual void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits)
    {
        Shapes.Same(logits, targets); Shapes.Same(logits, dLogits);
        for (int i = 0; i < logits.Length; i++) dLogits.Data[i] = scale * (Sigmoid(logits.Data[i]) - targets.Data[i]);
    }

    public virtual void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss)
    {
        Shapes.Same(prediction, target); Shapes.Scalar(loss);
        double sum = 0;
        for (int i = 0; i < prediction.Length; i++)
        {
            double d = (double)prediction.Data[i] - target.Data[i];
            sum += d * d;
        }
        loss.Data[0] = (float)(scale * sum);
    }

    public virtual void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction)
    {
        Shapes.Same(prediction, target); Shapes.Same(prediction, dPrediction);
        for (int i = 0; i < prediction.Length; i++) dPrediction.Data[i] = 2f * scale * (prediction.Data[i] - target.Data[i]);
    }

    public virtual void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss)
    {
        Shapes.Same(mu, logVar); Shapes.Scalar(loss);
        double sum = 0;
        for (int i = 0; i < mu.Length; i++)
        {
            double m = mu.Data[i], lv = logVar.Data[i];
            sum += -0.5 * (1 + lv - m * m - Math.Exp(lv));
        }
        loss.Data[0] = (float)(scale * sum);
    }

    public virtual void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar)
    {
        Shapes.Same(mu, logVar); Shapes.Same(mu, dMu); Shapes.Same(mu, dLogVar);
        for (int i = 0; i < mu.Length; i++)
        {
            dMu.Data[i] += scale * mu.Data[i];
            dLogVar.Data[i] += scale * 0.5f * (MathF.Exp(logVar.Data[i]) - 1f);
        }
    }

    // ---- reparameterization
    public virtual void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z)
    {
        Shapes.Same(mu, logVar); Shapes.Same(mu, epsilon); Shapes.Same(mu, z);
        for (int i = 0; i < mu.Length; i++) z.Data[i] = mu.Data[i] + MathF.Exp(0.5f * logVar.Data[i]) * epsilon.Data[i];
    }

    public virtual void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar)
    {
        Shapes.Same(logVar, epsilon); Shapes.Same(logVar, dz); Shapes.Same(logVar, dMu); Shapes.Same(logVar, dLogVar);
        for (int i = 0; i < logVar.Length; i++)
        {
            float g = dz.Data[i];
            dLogVar.Data[i] = g * 0.5f * MathF.Exp(0.5f * logVar.Data[i]) * epsilon.Data[i];
            dMu.Data[i] = g;
        }
    }

    // ---- spectral normalization: the rounding points are IBackend's, which the CUDA kernels follow

    /// <summary>A norm below this counts as this (PyTorch's normalize), so a zero vector stays finite.</summary>
    internal const double SpectralNormEpsilon = 1e-12;

    public virtual void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized)
    {
        Shapes.SpectralNorm(weight, u, v, sigma, normalized);
        int rows = weight.Rows, cols = weight.Cols;
        float* w = weight.Data, pu = u.Data, pv = v.Data;
        double sigmaSum = 0;
        if (powerIteration)
        {
            // v = Wᵀu / ‖Wᵀu‖
            for (int j = 0; j < cols; j++)
            {
                double sum = 0;
                for (int i = 0; i < rows; i++) sum += (double)w[(long)i * cols + j] * pu[i];
                pv[j] = (float)sum;
            }
            Normalize(pv, cols);
            // u = Wv / ‖Wv‖, with r = Wv kept in u until the norm is known; σ = Σ u_i·r_i
            for (int i = 0; i < rows; i++) pu[i] = (float)RowDot(w + (long)i * cols, pv, cols);
            double norm = Math.Max(Math.Sqrt(SumOfSquares(pu, rows)), SpectralNormEpsilon);
            for (int i = 0; i < rows; i++)
            {
                float r = pu[i];
                pu[i] = (float)(r / norm);
                sigmaSum += (double)pu[i] * r;
            }
        }
        else
        {
            for (int i = 0; i < rows; i++) sigmaSum += (double)pu[i] * (float)RowDot(w + (long)i * cols, pv, cols);
        }
        float s = (float)sigmaSum;
        sigma.Data[0] = s;
        for (long k = 0; k < weight.Length; k++) normalized.Data[k] = w[k] / s;
    }

    public virtual void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight)
    {
        Shapes.SpectralNorm(weight, u, v, sigma, dNormalized);
        Shapes.Same(weight, dWeight);
        int rows = weight.Rows, cols = weight.Cols;
        double dot = 0;
        for (long k = 0; k < weight.Length; k++) dot += (double)dNormalized.Data[k] * weight.Data[k];
        double s = sigma.Data[0];
        double c = dot / (s * s);
        for (int i = 0; i < rows; i++)
        {
            double cu = c * u.Data[i];
            for (int j = 0; j < cols; j++)
            {
                long k = (long)i * cols + j;
                dWeight.Data[k] += (float)(dNormalized.Data[k] / s - cu * v.Data[j]);
            }
        }
    }

    private static double RowDot(float* row, float* x, int n)
    {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += (double)row[j] * x[j];
        return sum;
    }

    private static double SumOfSquares(float* x, int n)
    {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += (double)x[j] * x[j];
        return sum;
    }

    private static void Normalize(float* x, int n)
    {
        double norm = Math.Max(Math.Sqrt(SumOfSquares(x, n)), SpectralNormEpsilon);
        for (int j = 0; j < n; j++) x[j] = (float)(x[j] / norm);
    }

    // ---- random numbers
    public virtual void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset) =>
        Philox.FillNormal(destination.Span, seed, stream, offset);

    // The step-scalar forms read their values here, when the op runs, and hand them to the by-value forms (which the
    // SIMD backend overrides), so both forms give the same bits.
    public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta) =>
        FillNormal(destination, seed, stream, StepScalars.ReadOffset(offset) + delta);

    public virtual void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees) =>
        Philox.FillStudentT(destination.Span, seed, stream, offset, degrees);

    public void FillStudentT(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta, int degrees) =>
        FillStudentT(destination, seed, stream, StepScalars.ReadOffset(offset) + delta, degrees);

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper)
    {
        var h = StepScalars.ReadSgd(hyper);
        SgdStep(parameters, gradients, velocity, h.LearningRate, h.Momentum);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper)
    {
        var h = StepScalars.ReadAdam(hyper);
        AdamStep(parameters, gradients, m, v, h.LearningRate, h.Beta1, h.Beta2, h.Epsilon, h.Step);
    }

    public void UploadScalars(ReadOnlySpan<float> source, Tensor destination)
    {
        StepScalars.CheckUpload(source, destination);
        source.CopyTo(destination.Span);
    }

    // ---- optimizers
    public virtual void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, velocity);
        for (int i = 0; i < parameters.Length; i++)
        {
            float v = momentum * velocity.Data[i] + gradients.Data[i];
            velocity.Data[i] = v;
            parameters.Data[i] -= learningRate * v;
        }
    }

    public virtual void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        ScalarAdam(parameters, gradients, m, v, learningRate, beta1, beta2, epsilon, step);
    }

    /// <summary>Adam one element at a time: the reference, and the SIMD backend's tail.</summary>
    protected static void ScalarAdam(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        float correction1 = 1f - MathF.Pow(beta1, step);
        float correction2 = 1f - MathF.Pow(beta2, step);
        for (int i = 0; i < parameters.Length; i++)
        {
            float g = gradients.Data[i];
            float mi = beta1 * m.Data[i] + (1f - beta1) * g;
            float vi = beta2 * v.Data[i] + (1f - beta2) * g * g;
            m.Data[i] = mi;
            v.Data[i] = vi;
            float mHat = mi / correction1;
            float vHat = vi / correction2;
            parameters.Data[i] -= learningRate * mHat / (MathF.Sqrt(vHat) + epsilon);
        }
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected static float Sigmoid(float x) => x >= 0 ? 1f / (1f + MathF.Exp(-x)) : MathF.Exp(x) / (1f + MathF.Exp(x));

    // ---- convolutions. Three loops define everything (see ConvGeometry for the layout):
    //   forward      y[n,k,p,q]  = Σ_{c,r,s} W[k,c,r,s]·x[n,c,h,w]            with h = p·stride − pad + r, w = q·stride − pad + s
    //   data grad    dx[n,c,h,w] = Σ_{k,r,s} W[k,c,r,s]·dy[n,k,p,q]           over the (p, q) that reach (h, w)
    //   filter grad  dW[k,c,r,s] = Σ_{n,p,q} dy[n,k,p,q]·x[n,c,h,w]
    // ConvTranspose2d is the data gradient of g, so its forward is the data-gradient loop, its dX the forward loop, and
    // its dW the filter-gradient loop with its own dY (shaped like g's input) in x's place and its own x in dy's place.

    public virtual void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        Shapes.Conv(x, weight, bias, g, y);
        ConvolveReference(x.Data, weight.Data, bias.Data, g, y.Data);
    }

    public virtual void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.ConvBackward(x, weight, dy, g, dx, dWeight, dBias);
        if (!dx.IsEmpty) ConvDataGradientReference(dy.Data, weight.Data, null, g, dx.Data);
        if (!dWeight.IsEmpty) ConvFilterGradientReference(x.Data, dy.Data, g, dWeight.Data);
        if (!dBias.IsEmpty) ChannelSumsReference(dy.Data, g.Batch, g.OutChannels, g.OutHeight * g.OutWidth, dBias.Data);
    }

    public virtual void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        Shapes.ConvTranspose(x, weight, bias, g, y);
        ConvDataGradientReference(x.Data, weight.Data, bias.Data, g, y.Data);
    }

    public virtual void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.ConvTransposeBackward(x, weight, dy, g, dx, dWeight, dBias);
        if (!dx.IsEmpty) ConvolveReference(dy.Data, weight.Data, null, g, dx.Data);
        if (!dWeight.IsEmpty) ConvFilterGradientReference(dy.Data, x.Data, g, dWeight.Data);
        if (!dBias.IsEmpty) ChannelSumsReference(dy.Data, g.Batch, g.InChannels, g.InHeight * g.InWidth, dBias.Data);
    }

    /// <summary>y = conv(x, W) + bias (bias [K] or null). x [N, C·H·W], weight [K, C·R·S], y [N, K·P·Q].</summary>
    private static void ConvolveReference(float* x, float* weight, float* bias, ConvGeometry g, float* y)
    {
        int C = g.InChannels, H = g.InHeight, W = g.InWidth, K = g.OutChannels, R = g.KernelHeight, S = g.KernelWidth;
        int P = g.OutHeight, Q = g.OutWidth;
        for (int n = 0; n < g.Batch; n++)
            for (int k = 0; k < K; k++)
                for (int p = 0; p < P; p++)
                    for (int q = 0; q < Q; q++)
                    {
                        double sum = bias == null ? 0 : bias[k];
                        for (int c = 0; c < C; c++)
                            for (int r = 0; r < R; r++)
                            {
                                int h = p * g.Stride - g.Padding + r;
                                if (h < 0 || h >= H) continue;
                                for (int s = 0; s < S; s++)
                                {
                                    int w = q * g.Stride - g.Padding + s;
                                    if (w < 0 || w >= W) continue;
                                    sum += (double)weight[((k * C + c) * R + r) * S + s] * x[((n * C + c) * H + h) * W + w];
                                }
                            }
                        y[((n * K + k) * P + p) * Q + q] = (float)sum;
                    }
    }

    /// <summary>
    /// dx = conv's data gradient of dy, plus bias (bias [C] or null), written as a gather so each output is one sum:
    /// (h, w) is reached by (p, r) with p·stride = h + pad − r, and likewise for (q, s). dy [N, K·P·Q], dx [N, C·H·W].
    /// </summary>
    private static void ConvDataGradientReference(float* dy, float* weight, float* bias, ConvGeometry g, float* dx)
    {
        int C = g.InChannels, H = g.InHeight, W = g.InWidth, K = g.OutChannels, R = g.KernelHeight, S = g.KernelWidth;
        int P = g.OutHeight, Q = g.OutWidth;
        for (int n = 0; n < g.Batch; n++)
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                    {
                        double sum = bias == null ? 0 : bias[c];
                        for (int k = 0; k < K; k++)
                            for (int r = 0; r < R; r++)
                            {
                                int ph = h + g.Padding - r;
                                if (ph < 0 || ph % g.Stride != 0 || ph / g.Stride >= P) continue;
                                int p = ph / g.Stride;
                                for (int s = 0; s < S; s++)
                                {
                                    int qw = w + g.Padding - s;
                                    if (qw < 0 || qw % g.Stride != 0 || qw / g.Stride >= Q) continue;
                                    int q = qw / g.Stride;
                                    sum += (double)weight[((k * C + c) * R + r) * S + s] * dy[((n * K + k) * P + p) * Q + q];
                                }
                            }
                        dx[((n * C + c) * H + h) * W + w] = (float)sum;
                    }
    }

    /// <summary>dW += conv's filter gradient: Σ_{n,p,q} dy[n,k,p,q]·x[n,c,h,w]. x [N, C·H·W], dy [N, K·P·Q], dW [K, C·R·S].</summary>
    private static void ConvFilterGradientReference(float* x, float* dy, ConvGeometry g, float* dWeight)
    {
        int C = g.InChannels, H = g.InHeight, W = g.InWidth, K = g.OutChannels, R = g.KernelHeight, S = g.KernelWidth;
        int P = g.OutHeight, Q = g.OutWidth;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++)
                for (int r = 0; r < R; r++)
                    for (int s = 0; s < S; s++)
                    {
                        double sum = 0;
                        for (int n = 0; n < g.Batch; n++)
                            for (int p = 0; p < P; p++)
                            {
                                int h = p * g.Stride - g.Padding + r;
                                if (h < 0 || h >= H) continue;
                                for (int q = 0; q < Q; q++)
                                {
                                    int w = q * g.Stride - g.Padding + s;
                                    if (w < 0 || w >= W) continue;
                                    sum += (double)dy[((n * K + k) * P + p) * Q + q] * x[((n * C + c) * H + h) * W + w];
                                }
                            }
                        dWeight[((k * C + c) * R + r) * S + s] += (float)sum;
                    }
    }

    /// <summary>sums[c] += Σ_{n,i} t[n, c·spatial + i].</summary>
    private static void ChannelSumsReference(float* t, int batch, int channels, int spatial, float* sums)
    {
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++) sum += t[((long)n * channels + c) * spatial + i];
            sums[c] += (float)sum;
        }
    }

    // ---- batch normalization: channel c of image n is the row slice x[n, c·spatial .. (c + 1)·spatial)

    public virtual void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd)
    {
        int spatial = Shapes.BatchNormTraining(x, gamma, beta, channels, runningMean, runningVar, y, saveMean, saveInvStd);
        int batch = x.Rows;
        long m = (long)batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++) sum += x.Data[((long)n * channels + c) * spatial + i];
            double mean = sum / m;
            double squares = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++)
                {
                    double d = x.Data[((long)n * channels + c) * spatial + i] - mean;
                    squares += d * d;
                }
            double variance = squares / m; // biased: the one that normalizes
            double invStd = 1 / Math.Sqrt(variance + epsilon);
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++)
                {
                    long at = ((long)n * channels + c) * spatial + i;
                    y.Data[at] = (float)(gamma.Data[c] * (x.Data[at] - mean) * invStd + beta.Data[c]);
                }
            saveMean.Data[c] = (float)mean;
            saveInvStd.Data[c] = (float)invStd;
            runningMean.Data[c] = (float)((1 - momentum) * runningMean.Data[c] + momentum * mean);
            runningVar.Data[c] = (float)((1 - momentum) * runningVar.Data[c] + momentum * variance * m / (m - 1));
        }
    }

    public virtual void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y)
    {
        int spatial = Shapes.BatchNormInference(x, gamma, beta, channels, runningMean, runningVar, y);
        for (int c = 0; c < channels; c++)
        {
            double invStd = 1 / Math.Sqrt((double)runningVar.Data[c] + epsilon);
            for (int n = 0; n < x.Rows; n++)
                for (int i = 0; i < spatial; i++)
                {
                    long at = ((long)n * channels + c) * spatial + i;
                    y.Data[at] = (float)(gamma.Data[c] * (x.Data[at] - (double)runningMean.Data[c]) * invStd + beta.Data[c]);
                }
        }
    }

    /// <summary>dx = γ·invstd/m · (m·dy − Σdy − x̂·Σ(dy·x̂)) with x̂ = (x − μ)·invstd, from the saved μ and invstd.</summary>
    public virtual void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd,
        Tensor dx, Tensor dGamma, Tensor dBeta)
    {
        int spatial = Shapes.BatchNormBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta);
        int batch = x.Rows;
        long m = (long)batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            double mean = saveMean.Data[c], invStd = saveInvStd.Data[c];
            double sumDy = 0, sumDyXHat = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++)
                {
                    long at = ((long)n * channels + c) * spatial + i;
                    sumDy += dy.Data[at];
                    sumDyXHat += dy.Data[at] * (x.Data[at] - mean) * invStd;
                }
            if (!dGamma.IsEmpty) dGamma.Data[c] += (float)sumDyXHat;
            if (!dBeta.IsEmpty) dBeta.Data[c] += (float)sumDy;
            if (dx.IsEmpty) continue;
            double scale = gamma.Data[c] * invStd / m;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++)
                {
                    long at = ((long)n * channels + c) * spatial + i;
                    double xHat = (x.Data[at] - mean) * invStd;
                    dx.Data[at] = (float)(scale * (m * (double)dy.Data[at] - sumDy - xHat * sumDyXHat));
                }
        }
    }
}
