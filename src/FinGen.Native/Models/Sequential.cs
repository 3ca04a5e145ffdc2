using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

/// <summary>One layer of a <see cref="Sequential"/> network; images are NCHW, one image per row.</summary>
public abstract record LayerSpec;

/// <summary>nn.Linear(In, Out).</summary>
public sealed record LinearSpec(int In, int Out) : LayerSpec;

/// <summary>nn.Conv2d over <see cref="Geometry"/> (its Batch is ignored; the input's rows are the batch).</summary>
public sealed record Conv2dSpec(ConvGeometry Geometry) : LayerSpec;

/// <summary>
/// nn.ConvTranspose2d, described by the convolution whose data gradient it is (see
/// <see cref="IBackend.ConvTranspose2dForward"/>): it maps Geometry.OutChannels × OutHeight × OutWidth to
/// Geometry.InChannels × InHeight × InWidth.
/// </summary>
public sealed record ConvTranspose2dSpec(ConvGeometry Geometry) : LayerSpec;

/// <summary>nn.BatchNorm2d(Channels) over images of <see cref="Spatial"/> = H·W pixels per channel.</summary>
public sealed record BatchNorm2dSpec(int Channels, int Spatial, float Momentum = 0.1f, float Epsilon = 1e-5f) : LayerSpec;

/// <summary>An activation; <see cref="Activation.Identity"/> is not allowed (leave the layer out).</summary>
public sealed record ActivationSpec(Activation Activation, float Slope = 0f) : LayerSpec;

/// <summary>
/// nn.Flatten or nn.Unflatten: a no-op here, since an image is already one row, kept so the layer indices (and so
/// the parameter names) match the same network written as a PyTorch nn.Sequential.
/// </summary>
public sealed record ReshapeSpec(string TorchName, int Width) : LayerSpec;

/// <summary>
/// A stack of layers, as PyTorch's nn.Sequential: parameters are named "{prefix}.{index}.weight" with the
/// layer's index in the stack, with PyTorch's shapes, so a checkpoint loads into the equivalent nn.Sequential.
/// Backward is written by hand, layer by layer in reverse order. With spectral normalization every Linear and Conv2d
/// layer uses W/σ(W) (a conv kernel as the matrix [K, C·R·S]; see <see cref="Network.SpectralNormalize"/>).
/// </summary>
public sealed class Sequential : Network
{
    private readonly LayerSpec[] _layers;
    private readonly int[] _widths; // _widths[l] = output width of layer l; _widths[-1] is the input
    private readonly int[] _weight, _bias, _runningMean, _runningVar, _u, _v;

    /// <param name="spectralNorm">normalize every Linear and Conv2d weight by its largest singular value, with persistent
    /// power-iteration vectors "{prefix}.{l}.weight_u" [rows] and "weight_v" [cols] (PyTorch's buffer names); a network
    /// with a transposed convolution is refused</param>
    public Sequential(ParameterLayout layout, string prefix, int inputWidth, IReadOnlyList<LayerSpec> layers, bool spectralNorm = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputWidth, 1);
        if (layers.Count == 0) Throw.Argument("a network needs at least one layer");
        _layers = [.. layers];
        int n = _layers.Length;
        _widths = new int[n];
        _weight = new int[n]; _bias = new int[n]; _runningMean = new int[n]; _runningVar = new int[n];
        _u = new int[n]; _v = new int[n];
        SpectralNorm = spectralNorm;
        InputWidth = inputWidth;
        int width = inputWidth;
        for (int l = 0; l < n; l++)
        {
            string name = $"{prefix}.{l}";
            _weight[l] = _bias[l] = _runningMean[l] = _runningVar[l] = -1;
            switch (_layers[l])
            {
                case LinearSpec s:
                    Expect(l, width, s.In);
                    _weight[l] = layout.Add($"{name}.weight", s.Out, s.In, s.In);
                    _bias[l] = layout.Add($"{name}.bias", 1, s.Out, s.In, shape: [s.Out]);
                    width = s.Out;
                    break;
                case Conv2dSpec { Geometry: var g }:
                    g.Validate();
                    Expect(l, width, g.InSize);
                    _weight[l] = layout.Add($"{name}.weight", g.OutChannels, g.FilterSize, g.FilterSize,
                        shape: [g.OutChannels, g.InChannels, g.KernelHeight, g.KernelWidth]);
                    _bias[l] = layout.Add($"{name}.bias", 1, g.OutChannels, g.FilterSize, shape: [g.OutChannels]);
                    width = g.OutSize;
                    break;
                case ConvTranspose2dSpec { Geometry: var g }:
                    g.Validate();
                    Expect(l, width, g.OutSize);
                    // PyTorch's fan-in for ConvTranspose2d is weight.size(1)·kH·kW = the transposed layer's output channels·R·S.
                    _weight[l] = layout.Add($"{name}.weight", g.OutChannels, g.FilterSize, g.FilterSize,
                        shape: [g.OutChannels, g.InChannels, g.KernelHeight, g.KernelWidth]);
                    _bias[l] = layout.Add($"{name}.bias", 1, g.InChannels, g.FilterSize, shape: [g.InChannels]);
                    width = g.InSize;
                    break;
                case BatchNorm2dSpec s:
                    if (s.Channels < 1 || s.Spatial < 1) Throw.Argument($"layer {l}: invalid {s}");
                    Expect(l, width, s.Channels * s.Spatial);
                    _weight[l] = layout.Add($"{name}.weight", 1, s.Channels, 1, ParameterInit.Constant, [s.Channels], value: 1f);
                    _bias[l] = layout.Add($"{name}.bias", 1, s.Channels, 1, ParameterInit.Constant, [s.Channels], value: 0f);
                    _runningMean[l] = layout.AddBuffer($"{name}.running_mean", s.Channels, 0f);
                    _runningVar[l] = layout.AddBuffer($"{name}.running_var", s.Channels, 1f);
                    break;
                case ActivationSpec s:
                    if (s.Activation == Activation.Identity) Throw.Argument($"layer {l}: leave identity activations out");
                    break;
                case ReshapeSpec s:
                    Expect(l, width, s.Width);
                    break;
                default:
                    Throw.Argument($"layer {l}: unknown layer {_layers[l]}");
                    break;
            }
            _widths[l] = width;
        }
        // After every weight, so that the weights drawn from the seed do not depend on the option.
        for (int l = 0; l < n; l++)
        {
            _u[l] = _v[l] = -1;
            if (!spectralNorm || !Normalizes(l)) continue;
            if (_layers[l] is ConvTranspose2dSpec) Throw.Argument($"layer {l}: spectral normalization of a transposed convolution is not supported");
            var w = layout.Entries[_weight[l]];
            _u[l] = layout.AddUnitVector($"{prefix}.{l}.weight_u", w.Rows);
            _v[l] = layout.AddUnitVector($"{prefix}.{l}.weight_v", w.Cols);
        }
    }

    public override bool SpectralNorm { get; }

    /// <summary>Whether layer <paramref name="l"/> is one spectral normalization applies to (a weight matrix).</summary>
    private bool Normalizes(int l) => _layers[l] is LinearSpec or Conv2dSpec or ConvTranspose2dSpec;

    /// <summary>Whether layer <paramref name="l"/> uses W/σ from the workspace.</summary>
    internal bool IsNormalized(int l) => _u[l] >= 0;

    internal (int Rows, int Cols) WeightShape(int l) => _layers[l] switch
    {
        LinearSpec s => (s.Out, s.In),
        Conv2dSpec { Geometry: var g } => (g.OutChannels, g.FilterSize),
        _ => throw new ArgumentOutOfRangeException(nameof(l), $"layer {l} has no weight matrix"),
    };

    private static void Expect(int layer, int width, int expected)
    {
        if (width != expected) Throw.Argument($"layer {layer} takes {expected} values per row but gets {width}");
    }

    public IReadOnlyList<LayerSpec> Layers => _layers;
    public override int InputWidth { get; }
    public override int OutputWidth => _widths[^1];

    /// <summary>Whether layer <paramref name="l"/>'s output is the same memory as its input (no-op layers).</summary>
    internal bool AliasesInput(int l) => _layers[l] is ReshapeSpec;

    /// <summary>Whether layer <paramref name="l"/>'s output gradient is the same memory as its input gradient (in-place backward).</summary>
    internal bool AliasesGradient(int l) => l > 0 && _layers[l] is ReshapeSpec or ActivationSpec;

    internal int WidthOf(int l) => _widths[l];
    internal int InputWidthOf(int l) => l == 0 ? InputWidth : _widths[l - 1];

    public override NetworkWorkspace CreateWorkspace(IBackend backend, int maxBatch) => new SequentialWorkspace(backend, this, maxBatch);

    public override Tensor Forward(IBackend backend, ParameterSet parameters, Tensor input, NetworkWorkspace workspace, bool training = true)
    {
        if (input.Cols != InputWidth) Throw.Argument($"input {input} does not match the network's width {InputWidth}");
        var work = Own(workspace);
        int batch = input.Rows;
        var x = input;
        for (int l = 0; l < _layers.Length; l++)
        {
            var y = AliasesInput(l) ? x : work.Output(l, batch);
            switch (_layers[l])
            {
                case LinearSpec when l + 1 < _layers.Length && _layers[l + 1] is ActivationSpec { Activation: Activation.Relu or Activation.LeakyRelu } a:
                    // Linear then ReLU: one fused op (a CPU backend applies the activation as SGEMM stores each tile),
                    // the same values in the same two buffers as the two ops.
                    backend.LinearActivationForward(x, Weight(parameters, work, l), parameters.Value(_bias[l]), a.Activation, a.Slope,
                        y, work.Output(l + 1, batch));
                    x = work.Output(++l, batch);
                    continue;
                case LinearSpec:
                    backend.LinearForward(x, Weight(parameters, work, l), parameters.Value(_bias[l]), y);
                    break;
                case Conv2dSpec s:
                    backend.Conv2dForward(x, Weight(parameters, work, l), parameters.Value(_bias[l]), s.Geometry with { Batch = batch }, y);
                    break;
                case ConvTranspose2dSpec s:
                    backend.ConvTranspose2dForward(x, parameters.Value(_weight[l]), parameters.Value(_bias[l]), s.Geometry with { Batch = batch }, y);
                    break;
                case BatchNorm2dSpec s when training:
                    backend.BatchNorm2dForwardTraining(x, parameters.Value(_weight[l]), parameters.Value(_bias[l]), s.Channels, s.Momentum, s.Epsilon,
                        parameters.Buffer(_runningMean[l]), parameters.Buffer(_runningVar[l]), y, work.SaveMean(l), work.SaveInvStd(l));
                    break;
                case BatchNorm2dSpec s:
                    backend.BatchNorm2dForwardInference(x, parameters.Value(_weight[l]), parameters.Value(_bias[l]), s.Channels, s.Epsilon,
                        parameters.Buffer(_runningMean[l]), parameters.Buffer(_runningVar[l]), y);
                    break;
                case ActivationSpec s:
                    ActivationOps.Forward(backend, s.Activation, s.Slope, x, y);
                    break;
            }
            x = y;
        }
        return x;
    }

    public override void SpectralNormalize(IBackend backend, ParameterSet parameters, NetworkWorkspace workspace, bool powerIteration)
    {
        if (!SpectralNorm) return;
        var work = Own(workspace);
        for (int l = 0; l < _layers.Length; l++)
        {
            if (!IsNormalized(l)) continue;
            backend.SpectralNormForward(parameters.Value(_weight[l]), parameters.Buffer(_u[l]), parameters.Buffer(_v[l]), powerIteration,
                work.Sigma(l), work.Normalized(l));
        }
    }

    /// <summary>The weight layer <paramref name="l"/> applies: W, or W/σ from the workspace.</summary>
    private Tensor Weight(ParameterSet parameters, SequentialWorkspace work, int l) => IsNormalized(l) ? work.Normalized(l) : parameters.Value(_weight[l]);

    public override void Backward(IBackend backend, ParameterSet parameters, Tensor input, NetworkWorkspace workspace,
        Tensor inputGradient, bool parameterGradients)
    {
        var work = Own(workspace);
        int batch = input.Rows;
        for (int l = _layers.Length - 1; l >= 0; l--)
        {
            var dy = work.Gradient(l, batch);
            var x = Input(work, input, l, batch);
            var dx = l == 0 ? inputGradient : work.Gradient(l - 1, batch);
            Tensor dW = parameterGradients && _weight[l] >= 0 ? parameters.Gradient(_weight[l]) : default;
            Tensor dB = parameterGradients && _bias[l] >= 0 ? parameters.Gradient(_bias[l]) : default;
            // A normalized layer's op accumulates the gradient with respect to W/σ into a zeroed scratch; it is taken back
            // through σ into dW after the op.
            bool normalizedGradient = IsNormalized(l) && !dW.IsEmpty;
            if (normalizedGradient)
            {
                dW = work.NormalizedGradient(l);
                backend.Fill(dW, 0f);
            }
            switch (_layers[l])
            {
                case LinearSpec:
                    backend.LinearBackward(x, Weight(parameters, work, l), dy, dx, dW, dB);
                    break;
                case Conv2dSpec s:
                    backend.Conv2dBackward(x, Weight(parameters, work, l), dy, s.Geometry with { Batch = batch }, dx, dW, dB);
                    break;
                case ConvTranspose2dSpec s:
                    backend.ConvTranspose2dBackward(x, parameters.Value(_weight[l]), dy, s.Geometry with { Batch = batch }, dx, dW, dB);
                    break;
                case BatchNorm2dSpec s:
                    if (dx.IsEmpty) dx = work.Scratch(l, batch); // the backward op always writes dX
                    if (!parameterGradients) (dW, dB) = (work.ScratchGamma(l), work.ScratchBeta(l));
                    backend.BatchNorm2dBackward(x, parameters.Value(_weight[l]), dy, s.Channels, work.SaveMean(l), work.SaveInvStd(l), dx, dW, dB);
                    break;
                case ActivationSpec s:
                    // In place on dy; for l > 0 dy is the same memory as dx (see AliasesGradient).
                    ActivationOps.Backward(backend, s.Activation, s.Slope, x, work.Output(l, batch), dy);
                    if (l == 0 && !dx.IsEmpty) backend.Copy(dy, dx);
                    break;
                case ReshapeSpec:
                    if (l == 0 && !dx.IsEmpty) backend.Copy(dy, dx);
                    break;
            }
            if (normalizedGradient)
                backend.SpectralNormBackward(parameters.Value(_weight[l]), parameters.Buffer(_u[l]), parameters.Buffer(_v[l]), work.Sigma(l),
                    dW, parameters.Gradient(_weight[l]));
        }
    }

    private static Tensor Input(SequentialWorkspace work, Tensor input, int l, int batch)
    {
        // The input of layer l is the output of the nearest earlier layer that owns memory, or the network's input.
        return l == 0 ? input : work.OutputOrInput(l - 1, batch, input);
    }

    private SequentialWorkspace Own(NetworkWorkspace workspace) =>
        workspace is SequentialWorkspace w && w.Owner == this ? w : throw new ArgumentException("not a workspace of this network", nameof(workspace));
}

/// <summary>A <see cref="Sequential"/>'s activations, gradients and batch-norm statistics, in one allocation.</summary>
public sealed class SequentialWorkspace : NetworkWorkspace
{
    private readonly DeviceMemory _memory;
    private readonly long[] _output, _grad, _stats;
    private readonly long[] _normalized; // spectral normalization: W/σ, its gradient, then σ, of each normalized layer
    private readonly bool[] _outputIsInput;

    public SequentialWorkspace(IBackend backend, Sequential network, int maxBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        Owner = network;
        MaxBatch = maxBatch;
        int n = network.Layers.Count;
        _output = new long[n]; _grad = new long[n]; _stats = new long[n]; _normalized = new long[n];
        _outputIsInput = new bool[n];
        long offset = 0;
        for (int l = 0; l < n; l++)
        {
            long size = (long)maxBatch * network.WidthOf(l);
            if (network.AliasesInput(l))
            {
                _outputIsInput[l] = l == 0 || _outputIsInput[l - 1];
                _output[l] = l == 0 ? -1 : _output[l - 1];
            }
            else { _output[l] = offset; offset += size; }
            if (network.AliasesGradient(l)) _grad[l] = _grad[l - 1];
            else { _grad[l] = offset; offset += size; }
            _stats[l] = -1;
            if (network.Layers[l] is BatchNorm2dSpec bn)
            {
                // saveMean, saveInvStd, scratch dGamma, scratch dBeta [C] each, then a scratch dX for a first layer.
                _stats[l] = offset;
                offset += 4L * bn.Channels + (l == 0 ? (long)maxBatch * network.InputWidth : 0);
            }
            _normalized[l] = -1;
            if (network.IsNormalized(l))
            {
                var (rows, cols) = network.WeightShape(l);
                _normalized[l] = offset;
                offset += 2L * rows * cols + 1;
            }
        }
        _memory = backend.Allocate(Math.Max(offset, 1));
    }

    internal Sequential Owner { get; }
    public override int MaxBatch { get; }

    internal Tensor Output(int l, int batch) => View(_output[l], batch, Owner.WidthOf(l));
    internal Tensor OutputOrInput(int l, int batch, Tensor input) => _outputIsInput[l] ? input : Output(l, batch);
    internal Tensor Gradient(int l, int batch) => View(_grad[l], batch, Owner.WidthOf(l));
    internal Tensor SaveMean(int l) => Stat(l, 0);
    internal Tensor SaveInvStd(int l) => Stat(l, 1);
    internal Tensor ScratchGamma(int l) => Stat(l, 2);
    internal Tensor ScratchBeta(int l) => Stat(l, 3);
    internal Tensor Scratch(int l, int batch) => _memory.Slice(_stats[l] + 4L * Channels(l), batch, Owner.InputWidthOf(l));

    public override Tensor OutputGradient(int batch) => Gradient(Owner.Layers.Count - 1, batch);

    internal Tensor Normalized(int l) => NormalizedPart(l, 0);
    internal Tensor NormalizedGradient(int l) => NormalizedPart(l, 1);
    internal Tensor Sigma(int l)
    {
        var (rows, cols) = Owner.WeightShape(l);
        return _memory.Slice(NormalizedOffset(l) + 2L * rows * cols, 1, 1);
    }

    private Tensor NormalizedPart(int l, int which)
    {
        var (rows, cols) = Owner.WeightShape(l);
        return _memory.Slice(NormalizedOffset(l) + which * (long)rows * cols, rows, cols);
    }

    private long NormalizedOffset(int l) => _normalized[l] >= 0 ? _normalized[l] : Throw.Argument<long>($"layer {l} is not spectrally normalized");

    private int Channels(int l) => ((BatchNorm2dSpec)Owner.Layers[l]).Channels;
    private Tensor Stat(int l, int which) => _memory.Slice(_stats[l] + which * (long)Channels(l), 1, Channels(l));

    private Tensor View(long offset, int batch, int width)
    {
        if ((uint)batch > (uint)MaxBatch) Throw.Argument($"batch {batch} exceeds the workspace's {MaxBatch}");
        if (offset < 0) Throw.Argument("the layer's output is the network's input");
        return _memory.Slice(offset, batch, width);
    }

    public override void Dispose() => _memory.Dispose();
}
