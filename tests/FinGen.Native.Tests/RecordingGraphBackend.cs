using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

/// <summary>
/// A CPU stand-in for CUDA graphs, so that the capture contract of a training step can be tested without a GPU. It
/// forwards every op to a CPU backend, except between <see cref="IBackendGraph.BeginCapture"/> and
/// <see cref="IBackendGraph.EndCapture"/>, where it records each op as a closure over its arguments (tensor
/// addresses, sizes and scalars as they were at capture) without running it, as stream capture does; a launch runs
/// the closures in order. What a closure reads from memory it reads when it runs, as a kernel does, and nothing else
/// about the host's state at replay time reaches it: a per-step value a step passed by value is replayed as it was.
/// Like the CUDA backend it refuses, while capturing, every call that waits for the device or allocates, and the
/// by-value optimizer steps (which upload their hyper-parameters there).
/// </summary>
internal sealed class RecordingGraphBackend(IBackend inner) : IGraphBackend
{
    private List<Action>? _recording;

    public IBackend Inner => inner;

    /// <summary>When set, <see cref="UploadScalars"/> is dropped: the test that shows the step scalars are what replays depend on.</summary>
    public bool FreezeScalars { get; set; }

    /// <summary>When set, EndCapture fails as an invalidated CUDA capture does (nothing recorded, nothing run).</summary>
    public bool FailCaptures { get; set; }

    /// <summary>Ops recorded by the last capture.</summary>
    public int CapturedOps { get; private set; }

    public string Name => inner.Name + "+graph";

    public IBackendGraph CreateGraph() => new Graph(this);

    private sealed class Graph(RecordingGraphBackend backend) : IBackendGraph
    {
        private Action[]? _ops;

        public bool IsReady => _ops is not null;

        public void BeginCapture()
        {
            if (backend._recording is not null) throw new InvalidOperationException("already capturing");
            _ops = null;
            backend._recording = [];
        }

        public void EndCapture()
        {
            var recording = backend._recording ?? throw new InvalidOperationException("EndCapture without BeginCapture");
            backend._recording = null;
            if (backend.FailCaptures) throw new InvalidOperationException("simulated: the capture was invalidated");
            _ops = [.. recording];
            backend.CapturedOps = _ops.Length;
        }

        public void Launch()
        {
            var ops = _ops ?? throw new InvalidOperationException("nothing captured");
            foreach (var op in ops) op();
        }

        public void Dispose()
        {
            backend._recording = null;
            _ops = null;
        }
    }

    private void Op(Action run)
    {
        if (_recording is null) run();
        else _recording.Add(run);
    }

    private void Refuse(string op)
    {
        if (_recording is not null) throw new InvalidOperationException($"{op} while capturing: it waits for the device or allocates");
    }

    // ---- not capturable

    public DeviceMemory Allocate(long count)
    {
        Refuse(nameof(Allocate));
        return inner.Allocate(count);
    }

    public void Upload(ReadOnlySpan<float> source, Tensor destination)
    {
        Refuse(nameof(Upload));
        inner.Upload(source, destination);
    }

    public void UploadScalars(ReadOnlySpan<float> source, Tensor destination)
    {
        Refuse(nameof(UploadScalars));
        if (!FreezeScalars) inner.UploadScalars(source, destination);
    }

    public void Download(Tensor source, Span<float> destination)
    {
        Refuse(nameof(Download));
        inner.Download(source, destination);
    }

    public void Synchronize()
    {
        Refuse(nameof(Synchronize));
        inner.Synchronize();
    }

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum)
    {
        Refuse("a by-value SgdStep");
        inner.SgdStep(parameters, gradients, velocity, learningRate, momentum);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        Refuse("a by-value AdamStep");
        inner.AdamStep(parameters, gradients, m, v, learningRate, beta1, beta2, epsilon, step);
    }

    public void Dispose() => inner.Dispose();

    // ---- capturable: recorded with their arguments' values

    public void Fill(Tensor destination, float value) => Op(() => inner.Fill(destination, value));
    public void Copy(Tensor source, Tensor destination) => Op(() => inner.Copy(source, destination));
    public void Add(Tensor a, Tensor b, Tensor y) => Op(() => inner.Add(a, b, y));
    public void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y) => Op(() => inner.LinearForward(x, weight, bias, y));
    public void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias) =>
        Op(() => inner.LinearBackward(x, weight, dy, dx, dWeight, dBias));
    public void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Models.Activation activation, float slope, Tensor pre, Tensor post) =>
        Op(() => inner.LinearActivationForward(x, weight, bias, activation, slope, pre, post));
    public void LeakyReluForward(Tensor x, float slope, Tensor y) => Op(() => inner.LeakyReluForward(x, slope, y));
    public void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx) => Op(() => inner.LeakyReluBackward(x, dy, slope, dx));
    public void ReluForward(Tensor x, Tensor y) => Op(() => inner.ReluForward(x, y));
    public void ReluBackward(Tensor x, Tensor dy, Tensor dx) => Op(() => inner.ReluBackward(x, dy, dx));
    public void SigmoidForward(Tensor x, Tensor y) => Op(() => inner.SigmoidForward(x, y));
    public void SigmoidBackward(Tensor y, Tensor dy, Tensor dx) => Op(() => inner.SigmoidBackward(y, dy, dx));
    public void TanhForward(Tensor x, Tensor y) => Op(() => inner.TanhForward(x, y));
    public void TanhBackward(Tensor y, Tensor dy, Tensor dx) => Op(() => inner.TanhBackward(y, dy, dx));
    public void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss) => Op(() => inner.BceWithLogitsForward(logits, targets, scale, loss));
    public void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits) => Op(() => inner.BceWithLogitsBackward(logits, targets, scale, dLogits));
    public void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss) => Op(() => inner.MseForward(prediction, target, scale, loss));
    public void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction) => Op(() => inner.MseBackward(prediction, target, scale, dPrediction));
    public void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss) => Op(() => inner.GaussianKlForward(mu, logVar, scale, loss));
    public void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar) => Op(() => inner.GaussianKlBackward(mu, logVar, scale, dMu, dLogVar));
    public void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z) => Op(() => inner.ReparameterizeForward(mu, logVar, epsilon, z));
    public void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar) => Op(() => inner.ReparameterizeBackward(logVar, epsilon, dz, dMu, dLogVar));
    public void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) => Op(() => inner.Conv2dForward(x, weight, bias, g, y));
    public void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) =>
        Op(() => inner.Conv2dBackward(x, weight, dy, g, dx, dWeight, dBias));
    public void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) => Op(() => inner.ConvTranspose2dForward(x, weight, bias, g, y));
    public void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) =>
        Op(() => inner.ConvTranspose2dBackward(x, weight, dy, g, dx, dWeight, dBias));
    public void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd) =>
        Op(() => inner.BatchNorm2dForwardTraining(x, gamma, beta, channels, momentum, epsilon, runningMean, runningVar, y, saveMean, saveInvStd));
    public void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y) =>
        Op(() => inner.BatchNorm2dForwardInference(x, gamma, beta, channels, epsilon, runningMean, runningVar, y));
    public void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dGamma, Tensor dBeta) =>
        Op(() => inner.BatchNorm2dBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta));
    public void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized) =>
        Op(() => inner.SpectralNormForward(weight, u, v, powerIteration, sigma, normalized));
    public void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight) =>
        Op(() => inner.SpectralNormBackward(weight, u, v, sigma, dNormalized, dWeight));
    public void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset) => Op(() => inner.FillNormal(destination, seed, stream, offset));
    public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta) =>
        Op(() => inner.FillNormal(destination, seed, stream, offset, delta));
    public void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees) =>
        Op(() => inner.FillStudentT(destination, seed, stream, offset, degrees));
    public void FillStudentT(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta, int degrees) =>
        Op(() => inner.FillStudentT(destination, seed, stream, offset, delta, degrees));
    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper) => Op(() => inner.SgdStep(parameters, gradients, velocity, hyper));
    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper) => Op(() => inner.AdamStep(parameters, gradients, m, v, hyper));
}
