using System.Diagnostics;
using FinGen.Native.Memory;

namespace FinGen.Native.Backends;

/// <summary>
/// A timing decorator for <c>fingen bench --profile</c>: forwards every op to the backend it wraps and adds the
/// op's wall time, synchronized before and after so queued GPU work is charged to the op that queued it, to a
/// per-op tally. The synchronization changes what is measured on a GPU (no overlap between ops), so profiles
/// explain where time goes; plain steps/s come from an unwrapped backend. Linear and convolution ops also count their FLOPs.
/// </summary>
public sealed class ProfilingBackend(IBackend inner) : IBackend
{
    private readonly Dictionary<string, OpTotals> _totals = [];
    private readonly Stopwatch _clock = new();

    public sealed class OpTotals
    {
        public long Calls { get; set; }
        public double Microseconds { get; set; }
        public double Flops { get; set; }
    }

    public string Name => inner.Name;

    /// <summary>The tally so far, by op name.</summary>
    public IReadOnlyDictionary<string, OpTotals> Totals => _totals;

    public void Reset() => _totals.Clear();

    private void Time(string op, double flops, Action run)
    {
        inner.Synchronize();
        _clock.Restart();
        run();
        inner.Synchronize();
        double us = _clock.Elapsed.TotalMicroseconds;
        if (!_totals.TryGetValue(op, out var totals)) _totals[op] = totals = new OpTotals();
        totals.Calls++;
        totals.Microseconds += us;
        totals.Flops += flops;
    }

    public DeviceMemory Allocate(long count) => inner.Allocate(count);
    public void Synchronize() => inner.Synchronize();
    public void Dispose() => inner.Dispose();

    public void Upload(ReadOnlySpan<float> source, Tensor destination)
    {
        var copy = source.ToArray(); // profiling only: a lambda cannot capture a span
        Time("upload", 0, () => inner.Upload(copy, destination));
    }

    public void Download(Tensor source, Span<float> destination)
    {
        var buffer = new float[destination.Length];
        Time("download", 0, () => inner.Download(source, buffer));
        buffer.CopyTo(destination);
    }

    public void Fill(Tensor destination, float value) => Time("fill", 0, () => inner.Fill(destination, value));
    public void Copy(Tensor source, Tensor destination) => Time("copy", 0, () => inner.Copy(source, destination));
    public void Add(Tensor a, Tensor b, Tensor y) => Time("add", a.Length, () => inner.Add(a, b, y));

    public void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y) =>
        Time("linear_forward", 2.0 * x.Rows * x.Cols * y.Cols, () => inner.LinearForward(x, weight, bias, y));

    public void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias) =>
        Time("linear_backward", 2.0 * x.Rows * x.Cols * dy.Cols * ((dx.IsEmpty ? 0 : 1) + (dWeight.IsEmpty ? 0 : 1)),
            () => inner.LinearBackward(x, weight, dy, dx, dWeight, dBias));

    public void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Models.Activation activation, float slope, Tensor pre, Tensor post) =>
        Time("linear_forward_fused", 2.0 * x.Rows * x.Cols * pre.Cols, () => inner.LinearActivationForward(x, weight, bias, activation, slope, pre, post));

    public void LeakyReluForward(Tensor x, float slope, Tensor y) => Time("leaky_relu_forward", 0, () => inner.LeakyReluForward(x, slope, y));
    public void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx) => Time("leaky_relu_backward", 0, () => inner.LeakyReluBackward(x, dy, slope, dx));
    public void ReluForward(Tensor x, Tensor y) => Time("relu_forward", 0, () => inner.ReluForward(x, y));
    public void ReluBackward(Tensor x, Tensor dy, Tensor dx) => Time("relu_backward", 0, () => inner.ReluBackward(x, dy, dx));
    public void SigmoidForward(Tensor x, Tensor y) => Time("sigmoid_forward", 0, () => inner.SigmoidForward(x, y));
    public void SigmoidBackward(Tensor y, Tensor dy, Tensor dx) => Time("sigmoid_backward", 0, () => inner.SigmoidBackward(y, dy, dx));
    public void TanhForward(Tensor x, Tensor y) => Time("tanh_forward", 0, () => inner.TanhForward(x, y));
    public void TanhBackward(Tensor y, Tensor dy, Tensor dx) => Time("tanh_backward", 0, () => inner.TanhBackward(y, dy, dx));

    public void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss) => Time("bce_forward", 0, () => inner.BceWithLogitsForward(logits, targets, scale, loss));
    public void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits) => Time("bce_backward", 0, () => inner.BceWithLogitsBackward(logits, targets, scale, dLogits));
    public void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss) => Time("mse_forward", 0, () => inner.MseForward(prediction, target, scale, loss));
    public void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction) => Time("mse_backward", 0, () => inner.MseBackward(prediction, target, scale, dPrediction));
    public void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss) => Time("kl_forward", 0, () => inner.GaussianKlForward(mu, logVar, scale, loss));
    public void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar) => Time("kl_backward", 0, () => inner.GaussianKlBackward(mu, logVar, scale, dMu, dLogVar));
    public void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z) => Time("reparameterize_forward", 0, () => inner.ReparameterizeForward(mu, logVar, epsilon, z));
    public void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar) => Time("reparameterize_backward", 0, () => inner.ReparameterizeBackward(logVar, epsilon, dz, dMu, dLogVar));
    public void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset) => Time("philox_normal", 0, () => inner.FillNormal(destination, seed, stream, offset));

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum) =>
        Time("sgd_step", 0, () => inner.SgdStep(parameters, gradients, velocity, learningRate, momentum));

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step) =>
        Time("adam_step", 0, () => inner.AdamStep(parameters, gradients, m, v, learningRate, beta1, beta2, epsilon, step));

    public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta) =>
        Time("philox_normal", 0, () => inner.FillNormal(destination, seed, stream, offset, delta));
    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper) =>
        Time("sgd_step", 0, () => inner.SgdStep(parameters, gradients, velocity, hyper));
    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper) =>
        Time("adam_step", 0, () => inner.AdamStep(parameters, gradients, m, v, hyper));
    public void UploadScalars(ReadOnlySpan<float> source, Tensor destination) => inner.UploadScalars(source, destination);

    /// <summary>Multiply-adds ×2 of one convolution of g, the same for its data gradient and its filter gradient.</summary>
    private static double ConvFlops(ConvGeometry g) => 2.0 * g.Batch * g.OutChannels * g.OutHeight * g.OutWidth * g.FilterSize;

    private static int Present(Tensor a, Tensor b) => (a.IsEmpty ? 0 : 1) + (b.IsEmpty ? 0 : 1);

    public void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) =>
        Time("conv2d_forward", ConvFlops(g), () => inner.Conv2dForward(x, weight, bias, g, y));
    public void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) =>
        Time("conv2d_backward", ConvFlops(g) * Present(dx, dWeight), () => inner.Conv2dBackward(x, weight, dy, g, dx, dWeight, dBias));
    public void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) =>
        Time("conv_transpose2d_forward", ConvFlops(g), () => inner.ConvTranspose2dForward(x, weight, bias, g, y));
    public void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) =>
        Time("conv_transpose2d_backward", ConvFlops(g) * Present(dx, dWeight), () => inner.ConvTranspose2dBackward(x, weight, dy, g, dx, dWeight, dBias));
    public void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd) =>
        Time("batch_norm2d_forward_training", 0, () => inner.BatchNorm2dForwardTraining(x, gamma, beta, channels, momentum, epsilon, runningMean, runningVar, y, saveMean, saveInvStd));
    public void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y) =>
        Time("batch_norm2d_forward_inference", 0, () => inner.BatchNorm2dForwardInference(x, gamma, beta, channels, epsilon, runningMean, runningVar, y));
    public void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dGamma, Tensor dBeta) =>
        Time("batch_norm2d_backward", 0, () => inner.BatchNorm2dBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta));
}
