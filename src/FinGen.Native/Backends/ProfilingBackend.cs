using FinGen.Native.Memory;

namespace FinGen.Native.Backends;

/// <summary>
/// A timing decorator for <c>fingen bench --profile</c>: forwards every op to the backend it wraps, times it with an
/// <see cref="IOpTimer"/> (the host clock by default; the CUDA project has one that records events on the stream) and
/// tallies calls, time, FLOPs and bytes per op in arrays indexed by op, so an op allocates nothing.
/// <see cref="EndStep"/> closes a training step with its measured wall time, which is what "% of step" refers to.
///
/// FLOPs are counted for the compute-bound ops (linear and convolutions: 2 per multiply-add). Bytes are counted for the
/// memory-bound ops whose traffic the contract fixes: every element each tensor argument holds, read once and/or
/// written once (an accumulated gradient is read and written), 4 bytes a float. That is the compulsory traffic; an
/// implementation that reads twice moves more, so GB/s is a lower bound on what it moved. Batch norm gets neither:
/// its passes over x depend on the implementation.
/// </summary>
public sealed class ProfilingBackend : IBackend
{
    private enum Op
    {
        Upload, UploadScalars, Download, Fill, Copy, Add,
        LinearForward, LinearForwardFused, LinearBackward,
        LeakyReluForward, LeakyReluBackward, ReluForward, ReluBackward, SigmoidForward, SigmoidBackward, TanhForward, TanhBackward,
        BceForward, BceBackward, MseForward, MseBackward, KlForward, KlBackward, ReparameterizeForward, ReparameterizeBackward,
        PhiloxNormal, PhiloxStudentT, SgdStep, AdamStep,
        Conv2dForward, Conv2dBackward, ConvTranspose2dForward, ConvTranspose2dBackward,
        BatchNorm2dForwardTraining, BatchNorm2dForwardInference, BatchNorm2dBackward,
        SpectralNormForward, SpectralNormBackward,
    }

    /// <summary>The op names in <see cref="IOpTimer"/> index order: the enum's names in snake case ("linear_forward").</summary>
    public static IReadOnlyList<string> OpNames { get; } = Array.ConvertAll(Enum.GetNames<Op>(), SnakeCase);

    private static string SnakeCase(string name)
    {
        var text = new System.Text.StringBuilder(name.Length + 8);
        foreach (char c in name)
        {
            if (char.IsUpper(c) && text.Length > 0) text.Append('_');
            text.Append(char.ToLowerInvariant(c));
        }
        return text.ToString();
    }

    private readonly IBackend _inner;
    private readonly IOpTimer _timer;
    private readonly long[] _calls = new long[OpNames.Count];
    private readonly double[] _microseconds = new double[OpNames.Count];
    private readonly double[] _flops = new double[OpNames.Count];
    private readonly double[] _bytes = new double[OpNames.Count];
    private int _steps;
    private double _stepMicroseconds;

    /// <param name="inner">the backend that does the work (disposed with this one)</param>
    /// <param name="timer">how ops are timed (disposed with this one); null: <see cref="StopwatchOpTimer"/></param>
    public ProfilingBackend(IBackend inner, IOpTimer? timer = null)
    {
        _inner = inner;
        _timer = timer ?? new StopwatchOpTimer(inner);
    }

    public string Name => _inner.Name;

    /// <summary>What the op times are (the timer's <see cref="IOpTimer.Clock"/>).</summary>
    public string Clock => _timer.Clock;

    /// <summary>Forgets everything measured so far (pending measurements included).</summary>
    public void Reset()
    {
        _timer.Collect(_microseconds);
        Array.Clear(_calls);
        Array.Clear(_microseconds);
        Array.Clear(_flops);
        Array.Clear(_bytes);
        _steps = 0;
        _stepMicroseconds = 0;
    }

    /// <summary>Closes one step: collects the ops' pending times and adds <paramref name="wallMicroseconds"/>, the
    /// step's time as the caller measured it, to the steps' total.</summary>
    public void EndStep(double wallMicroseconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(wallMicroseconds);
        _timer.Collect(_microseconds);
        _steps++;
        _stepMicroseconds += wallMicroseconds;
    }

    /// <summary>
    /// The table so far, slowest op first. Per-step figures divide by the steps closed with <see cref="EndStep"/>
    /// (by 1 when none was), and "% of step" is of their measured time, or of the ops' summed time when no step was.
    /// </summary>
    public Profile Report()
    {
        _timer.Collect(_microseconds);
        int steps = Math.Max(_steps, 1);
        double opsTotal = _microseconds.Sum();
        double reference = _steps > 0 ? _stepMicroseconds : opsTotal;
        var rows = new List<OpProfile>();
        for (int op = 0; op < OpNames.Count; op++)
        {
            if (_calls[op] == 0) continue;
            double us = _microseconds[op];
            rows.Add(new OpProfile(OpNames[op], _calls[op], (double)_calls[op] / steps, us / steps,
                reference > 0 ? 100 * us / reference : 0,
                _flops[op] > 0 && us > 0 ? _flops[op] / us / 1e3 : null,
                _bytes[op] > 0 && us > 0 ? _bytes[op] / us / 1e3 : null));
        }
        rows.Sort((a, b) => b.MicrosecondsPerStep.CompareTo(a.MicrosecondsPerStep));
        return new Profile(_timer.Clock, _steps, _steps > 0 ? _stepMicroseconds / _steps : 0, opsTotal / steps, rows);
    }

    private void Start(Op op) => _timer.Start((int)op);

    private void Stop(Op op, double flops = 0, double floatsMoved = 0)
    {
        _timer.Stop((int)op);
        _calls[(int)op]++;
        _flops[(int)op] += flops;
        _bytes[(int)op] += floatsMoved * sizeof(float);
    }

    public DeviceMemory Allocate(long count) => _inner.Allocate(count);
    public void Synchronize() => _inner.Synchronize();

    public void Dispose()
    {
        _timer.Dispose();
        _inner.Dispose();
    }

    // Each op: Start, the wrapped op, Stop with its FLOPs or the floats it must read and write (see the class comment).
    // An op that throws leaves its measurement open; the profile is then not worth reading anyway.

    public void Upload(ReadOnlySpan<float> source, Tensor destination)
    {
        Start(Op.Upload);
        _inner.Upload(source, destination);
        Stop(Op.Upload, floatsMoved: source.Length);
    }

    public void Download(Tensor source, Span<float> destination)
    {
        Start(Op.Download);
        _inner.Download(source, destination);
        Stop(Op.Download, floatsMoved: source.Length);
    }

    public void Fill(Tensor destination, float value)
    {
        Start(Op.Fill);
        _inner.Fill(destination, value);
        Stop(Op.Fill, floatsMoved: destination.Length);
    }

    public void Copy(Tensor source, Tensor destination)
    {
        Start(Op.Copy);
        _inner.Copy(source, destination);
        Stop(Op.Copy, floatsMoved: 2.0 * source.Length);
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        Start(Op.Add);
        _inner.Add(a, b, y);
        Stop(Op.Add, floatsMoved: 3.0 * a.Length);
    }

    public void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Start(Op.LinearForward);
        _inner.LinearForward(x, weight, bias, y);
        Stop(Op.LinearForward, flops: 2.0 * x.Rows * x.Cols * y.Cols);
    }

    public void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Models.Activation activation, float slope, Tensor pre, Tensor post)
    {
        Start(Op.LinearForwardFused);
        _inner.LinearActivationForward(x, weight, bias, activation, slope, pre, post);
        Stop(Op.LinearForwardFused, flops: 2.0 * x.Rows * x.Cols * pre.Cols);
    }

    public void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Start(Op.LinearBackward);
        _inner.LinearBackward(x, weight, dy, dx, dWeight, dBias);
        Stop(Op.LinearBackward, flops: 2.0 * x.Rows * x.Cols * dy.Cols * Present(dx, dWeight));
    }

    public void LeakyReluForward(Tensor x, float slope, Tensor y)
    {
        Start(Op.LeakyReluForward);
        _inner.LeakyReluForward(x, slope, y);
        Stop(Op.LeakyReluForward, floatsMoved: 2.0 * x.Length);
    }

    public void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx)
    {
        Start(Op.LeakyReluBackward);
        _inner.LeakyReluBackward(x, dy, slope, dx);
        Stop(Op.LeakyReluBackward, floatsMoved: 3.0 * x.Length);
    }

    public void ReluForward(Tensor x, Tensor y)
    {
        Start(Op.ReluForward);
        _inner.ReluForward(x, y);
        Stop(Op.ReluForward, floatsMoved: 2.0 * x.Length);
    }

    public void ReluBackward(Tensor x, Tensor dy, Tensor dx)
    {
        Start(Op.ReluBackward);
        _inner.ReluBackward(x, dy, dx);
        Stop(Op.ReluBackward, floatsMoved: 3.0 * x.Length);
    }

    public void SigmoidForward(Tensor x, Tensor y)
    {
        Start(Op.SigmoidForward);
        _inner.SigmoidForward(x, y);
        Stop(Op.SigmoidForward, floatsMoved: 2.0 * x.Length);
    }

    public void SigmoidBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Start(Op.SigmoidBackward);
        _inner.SigmoidBackward(y, dy, dx);
        Stop(Op.SigmoidBackward, floatsMoved: 3.0 * y.Length);
    }

    public void TanhForward(Tensor x, Tensor y)
    {
        Start(Op.TanhForward);
        _inner.TanhForward(x, y);
        Stop(Op.TanhForward, floatsMoved: 2.0 * x.Length);
    }

    public void TanhBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Start(Op.TanhBackward);
        _inner.TanhBackward(y, dy, dx);
        Stop(Op.TanhBackward, floatsMoved: 3.0 * y.Length);
    }

    // Losses read two tensors and write one float (forward) or one tensor (backward).
    public void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss)
    {
        Start(Op.BceForward);
        _inner.BceWithLogitsForward(logits, targets, scale, loss);
        Stop(Op.BceForward, floatsMoved: 2.0 * logits.Length + 1);
    }

    public void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits)
    {
        Start(Op.BceBackward);
        _inner.BceWithLogitsBackward(logits, targets, scale, dLogits);
        Stop(Op.BceBackward, floatsMoved: 3.0 * logits.Length);
    }

    public void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss)
    {
        Start(Op.MseForward);
        _inner.MseForward(prediction, target, scale, loss);
        Stop(Op.MseForward, floatsMoved: 2.0 * prediction.Length + 1);
    }

    public void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction)
    {
        Start(Op.MseBackward);
        _inner.MseBackward(prediction, target, scale, dPrediction);
        Stop(Op.MseBackward, floatsMoved: 3.0 * prediction.Length);
    }

    public void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss)
    {
        Start(Op.KlForward);
        _inner.GaussianKlForward(mu, logVar, scale, loss);
        Stop(Op.KlForward, floatsMoved: 2.0 * mu.Length + 1);
    }

    public void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar)
    {
        Start(Op.KlBackward);
        _inner.GaussianKlBackward(mu, logVar, scale, dMu, dLogVar);
        Stop(Op.KlBackward, floatsMoved: 6.0 * mu.Length); // μ, log σ² read; dMu, dLogVar accumulated (read and written)
    }

    public void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z)
    {
        Start(Op.ReparameterizeForward);
        _inner.ReparameterizeForward(mu, logVar, epsilon, z);
        Stop(Op.ReparameterizeForward, floatsMoved: 4.0 * mu.Length);
    }

    public void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar)
    {
        Start(Op.ReparameterizeBackward);
        _inner.ReparameterizeBackward(logVar, epsilon, dz, dMu, dLogVar);
        Stop(Op.ReparameterizeBackward, floatsMoved: 5.0 * logVar.Length);
    }

    public void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset)
    {
        Start(Op.PhiloxNormal);
        _inner.FillNormal(destination, seed, stream, offset);
        Stop(Op.PhiloxNormal, floatsMoved: destination.Length);
    }

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum)
    {
        Start(Op.SgdStep);
        _inner.SgdStep(parameters, gradients, velocity, learningRate, momentum);
        Stop(Op.SgdStep, floatsMoved: 5.0 * parameters.Length); // p and velocity read and written, g read
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        Start(Op.AdamStep);
        _inner.AdamStep(parameters, gradients, m, v, learningRate, beta1, beta2, epsilon, step);
        Stop(Op.AdamStep, floatsMoved: 7.0 * parameters.Length); // p, m, v read and written, g read
    }

    public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta)
    {
        Start(Op.PhiloxNormal);
        _inner.FillNormal(destination, seed, stream, offset, delta);
        Stop(Op.PhiloxNormal, floatsMoved: destination.Length);
    }

    public void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees)
    {
        Start(Op.PhiloxStudentT);
        _inner.FillStudentT(destination, seed, stream, offset, degrees);
        Stop(Op.PhiloxStudentT, floatsMoved: destination.Length);
    }

    public void FillStudentT(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta, int degrees)
    {
        Start(Op.PhiloxStudentT);
        _inner.FillStudentT(destination, seed, stream, offset, delta, degrees);
        Stop(Op.PhiloxStudentT, floatsMoved: destination.Length);
    }

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper)
    {
        Start(Op.SgdStep);
        _inner.SgdStep(parameters, gradients, velocity, hyper);
        Stop(Op.SgdStep, floatsMoved: 5.0 * parameters.Length);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper)
    {
        Start(Op.AdamStep);
        _inner.AdamStep(parameters, gradients, m, v, hyper);
        Stop(Op.AdamStep, floatsMoved: 7.0 * parameters.Length);
    }

    public void UploadScalars(ReadOnlySpan<float> source, Tensor destination)
    {
        Start(Op.UploadScalars);
        _inner.UploadScalars(source, destination);
        Stop(Op.UploadScalars, floatsMoved: source.Length);
    }

    /// <summary>Multiply-adds ×2 of one convolution of g, the same for its data gradient and its filter gradient.</summary>
    private static double ConvFlops(ConvGeometry g) => 2.0 * g.Batch * g.OutChannels * g.OutHeight * g.OutWidth * g.FilterSize;

    private static int Present(Tensor a, Tensor b) => (a.IsEmpty ? 0 : 1) + (b.IsEmpty ? 0 : 1);

    public void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        Start(Op.Conv2dForward);
        _inner.Conv2dForward(x, weight, bias, g, y);
        Stop(Op.Conv2dForward, flops: ConvFlops(g));
    }

    public void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Start(Op.Conv2dBackward);
        _inner.Conv2dBackward(x, weight, dy, g, dx, dWeight, dBias);
        Stop(Op.Conv2dBackward, flops: ConvFlops(g) * Present(dx, dWeight));
    }

    public void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        Start(Op.ConvTranspose2dForward);
        _inner.ConvTranspose2dForward(x, weight, bias, g, y);
        Stop(Op.ConvTranspose2dForward, flops: ConvFlops(g));
    }

    public void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Start(Op.ConvTranspose2dBackward);
        _inner.ConvTranspose2dBackward(x, weight, dy, g, dx, dWeight, dBias);
        Stop(Op.ConvTranspose2dBackward, flops: ConvFlops(g) * Present(dx, dWeight));
    }

    public void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd)
    {
        Start(Op.BatchNorm2dForwardTraining);
        _inner.BatchNorm2dForwardTraining(x, gamma, beta, channels, momentum, epsilon, runningMean, runningVar, y, saveMean, saveInvStd);
        Stop(Op.BatchNorm2dForwardTraining);
    }

    public void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y)
    {
        Start(Op.BatchNorm2dForwardInference);
        _inner.BatchNorm2dForwardInference(x, gamma, beta, channels, epsilon, runningMean, runningVar, y);
        Stop(Op.BatchNorm2dForwardInference);
    }

    public void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dGamma, Tensor dBeta)
    {
        Start(Op.BatchNorm2dBackward);
        _inner.BatchNorm2dBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta);
        Stop(Op.BatchNorm2dBackward);
    }

    public void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized)
    {
        Start(Op.SpectralNormForward);
        _inner.SpectralNormForward(weight, u, v, powerIteration, sigma, normalized);
        Stop(Op.SpectralNormForward, floatsMoved: 2.0 * weight.Length + 2.0 * (u.Length + v.Length) + 1);
    }

    public void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight)
    {
        Start(Op.SpectralNormBackward);
        _inner.SpectralNormBackward(weight, u, v, sigma, dNormalized, dWeight);
        Stop(Op.SpectralNormBackward, floatsMoved: 4.0 * weight.Length + u.Length + v.Length + 1);
    }
}

/// <summary>One row of a <see cref="Profile"/>: an op's calls and time per step, its share of the step, and its rate
/// (GFLOP/s for FLOP-counted ops, GB/s for byte-counted ones; null where not counted).</summary>
public sealed record OpProfile(string Op, long Calls, double CallsPerStep, double MicrosecondsPerStep, double PercentOfStep,
    double? GflopsPerSecond, double? GigabytesPerSecond);

/// <summary>
/// What <see cref="ProfilingBackend.Report"/> measured. <see cref="StepMicroseconds"/> is the mean measured step (0 when
/// no step was closed, and then <see cref="OpProfile.PercentOfStep"/> is of <see cref="OpsMicroseconds"/>, the ops' summed
/// time per step). The step's time outside every op (host work between ops, launch gaps, the profiler's own cost) is
/// <see cref="StepMicroseconds"/> − <see cref="OpsMicroseconds"/>.
/// </summary>
public sealed record Profile(string Clock, int Steps, double StepMicroseconds, double OpsMicroseconds, IReadOnlyList<OpProfile> Ops)
{
    /// <summary>Per step, the measured time outside every op (0 when no step was closed).</summary>
    public double OutsideMicroseconds => Steps > 0 ? StepMicroseconds - OpsMicroseconds : 0;

    /// <summary><see cref="OutsideMicroseconds"/> as a share of the measured step.</summary>
    public double OutsidePercent => StepMicroseconds > 0 ? 100 * OutsideMicroseconds / StepMicroseconds : 0;
}
