using FinGen.Native.Memory;
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

    public void Fill(Tensor destination, float value) => destination.Span.Fill(value);

    public void Copy(Tensor source, Tensor destination)
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

    // ---- random numbers
    public virtual void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset) =>
        Philox.FillNormal(destination.Span, seed, stream, offset);

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

    // ---- convolutions and batch normalization (TODO(conv): being written)
    public virtual void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) => throw new NotImplementedException("TODO(conv): " + nameof(Conv2dForward));
    public virtual void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) => throw new NotImplementedException("TODO(conv): " + nameof(Conv2dBackward));
    public virtual void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) => throw new NotImplementedException("TODO(conv): " + nameof(ConvTranspose2dForward));
    public virtual void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) => throw new NotImplementedException("TODO(conv): " + nameof(ConvTranspose2dBackward));
    public virtual void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd) => throw new NotImplementedException("TODO(conv): " + nameof(BatchNorm2dForwardTraining));
    public virtual void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y) => throw new NotImplementedException("TODO(conv): " + nameof(BatchNorm2dForwardInference));
    public virtual void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dGamma, Tensor dBeta) => throw new NotImplementedException("TODO(conv): " + nameof(BatchNorm2dBackward));
}
