using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

public enum Activation { Identity, Relu, LeakyRelu, Sigmoid, Tanh }

/// <summary>
/// A stack of Linear layers, each followed by an activation. It owns no memory: parameters live in a
/// <see cref="ParameterSet"/>, activations in an <see cref="MlpWorkspace"/>. Backward is written by hand,
/// layer by layer in reverse order. With spectral normalization every layer multiplies by W/σ(W) instead of W
/// (see <see cref="Network.SpectralNormalize"/>), and its weight's gradient goes back through the normalization.
///
/// A conditional MLP (<see cref="ConditionWidth"/> &gt; 0) takes a condition c beside its input x, and its first layer is
/// Linear([x | c]) written as two products, pre = x·W_xᵀ + b + c·W_cᵀ (W_c is "{prefix}.0.condition_weight"): the
/// same function as one layer over the concatenation, composed from the linear and add ops every backend has, with no
/// column-range copy. Its initialization is that of the one layer (fan-in In + C). A conditional MLP is not spectrally
/// normalized (the model config refuses the two together).
/// </summary>
public sealed class Mlp : Network
{
    private readonly int[] _weights, _biases, _u, _v;
    private readonly int _conditionWeight = -1;

    /// <param name="widths">input width, hidden widths..., output width</param>
    /// <param name="spectralNorm">normalize every weight by its largest singular value, with persistent power-iteration
    /// vectors "{prefix}.{l}.weight_u" [Out] and "weight_v" [In] (PyTorch's buffer names)</param>
    /// <param name="conditionWidth">values per condition row the first layer also takes (0: an unconditional MLP)</param>
    public Mlp(ParameterLayout layout, string prefix, IReadOnlyList<int> widths, Activation hidden, Activation output, float slope,
        bool spectralNorm = false, int conditionWidth = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(conditionWidth);
        if (widths.Count < 2) Throw.Argument("an MLP needs an input and an output width");
        if (spectralNorm && conditionWidth > 0) Throw.Argument("a conditional MLP is not spectrally normalized");
        foreach (int w in widths) ArgumentOutOfRangeException.ThrowIfLessThan(w, 1, nameof(widths));
        Widths = [.. widths];
        Hidden = hidden;
        Output = output;
        Slope = slope;
        int layers = widths.Count - 1;
        _weights = new int[layers];
        _biases = new int[layers];
        _u = new int[layers];
        _v = new int[layers];
        SpectralNorm = spectralNorm;
        ConditionWidth = conditionWidth;
        for (int l = 0; l < layers; l++)
        {
            int fanIn = widths[l] + (l == 0 ? conditionWidth : 0);
            _weights[l] = layout.Add($"{prefix}.{l}.weight", widths[l + 1], widths[l], fanIn);
            _biases[l] = layout.Add($"{prefix}.{l}.bias", 1, widths[l + 1], fanIn, shape: [widths[l + 1]]);
        }
        // After every weight, so that the weights drawn from the seed do not depend on the option.
        for (int l = 0; l < layers && spectralNorm; l++)
        {
            _u[l] = layout.AddUnitVector($"{prefix}.{l}.weight_u", widths[l + 1]);
            _v[l] = layout.AddUnitVector($"{prefix}.{l}.weight_v", widths[l]);
        }
        // Last, so an unconditional MLP of the same widths draws the same initial weights for every other tensor.
        if (conditionWidth > 0) _conditionWeight = layout.Add($"{prefix}.0.condition_weight", widths[1], conditionWidth, widths[0] + conditionWidth);
    }

    public override bool SpectralNorm { get; }

    public override int ConditionWidth { get; }

    public int[] Widths { get; }
    public Activation Hidden { get; }
    public Activation Output { get; }
    public float Slope { get; }
    public int Layers => Widths.Length - 1;
    public override int InputWidth => Widths[0];
    public override int OutputWidth => Widths[^1];

    public override NetworkWorkspace CreateWorkspace(IBackend backend, int maxBatch) => new MlpWorkspace(backend, this, maxBatch);

    public Activation ActivationOf(int layer) => layer == Layers - 1 ? Output : Hidden;

    /// <inheritdoc/>
    public override Tensor Forward(IBackend backend, ParameterSet parameters, Tensor input, NetworkWorkspace workspace, bool training = true)
    {
        if (ConditionWidth > 0) Throw.Argument($"this MLP needs a condition of {ConditionWidth} values per row");
        return Forward(backend, parameters, input, default, workspace, training);
    }

    /// <inheritdoc/>
    public override Tensor Forward(IBackend backend, ParameterSet parameters, Tensor input, Tensor condition, NetworkWorkspace workspace, bool training = true)
    {
        var work = Own(workspace);
        if (input.Cols != InputWidth) Throw.Argument($"input {input} does not match the network's width {InputWidth}");
        int batch = input.Rows;
        CheckCondition(condition, batch);
        var x = input;
        for (int l = 0; l < Layers; l++)
        {
            var pre = work.PreActivation(l, batch);
            var post = work.Activated(l, batch);
            if (l == 0 && ConditionWidth > 0)
            {
                // pre = x·W_xᵀ + b, then + c·W_cᵀ (a zero bias: b is added once), then the activation.
                var fromCondition = work.ConditionProduct(batch);
                backend.LinearForward(x, parameters.Value(_weights[0]), parameters.Value(_biases[0]), pre);
                backend.LinearForward(condition, parameters.Value(_conditionWeight), work.ZeroBias, fromCondition);
                backend.Add(pre, fromCondition, pre);
                ActivationOps.Forward(backend, ActivationOf(0), Slope, pre, post);
            }
            else
            {
                backend.LinearActivationForward(x, Weight(parameters, work, l), parameters.Value(_biases[l]), ActivationOf(l), Slope, pre, post);
            }
            x = post;
        }
        return x;
    }

    /// <inheritdoc/>
    public override void SpectralNormalize(IBackend backend, ParameterSet parameters, NetworkWorkspace workspace, bool powerIteration)
    {
        if (!SpectralNorm) return;
        var work = Own(workspace);
        for (int l = 0; l < Layers; l++)
            backend.SpectralNormForward(parameters.Value(_weights[l]), parameters.Buffer(_u[l]), parameters.Buffer(_v[l]), powerIteration,
                work.Sigma(l), work.Normalized(l));
    }

    /// <summary>The matrix layer <paramref name="l"/> multiplies by: W, or W/σ from the workspace.</summary>
    private Tensor Weight(ParameterSet parameters, MlpWorkspace work, int l) => SpectralNorm ? work.Normalized(l) : parameters.Value(_weights[l]);

    private void CheckCondition(Tensor condition, int batch)
    {
        if (ConditionWidth == 0 && !condition.IsEmpty) Throw.Argument($"this MLP takes no condition, got {condition}");
        if (ConditionWidth > 0 && (condition.IsEmpty || condition.Rows != batch || condition.Cols != ConditionWidth))
            Throw.Argument($"condition {condition} does not match [{batch}, {ConditionWidth}]");
    }

    /// <summary>
    /// One input row through layer <paramref name="layer"/>, outputs [<paramref name="from"/>, <paramref name="to"/>)
    /// only: <paramref name="x"/> is [1, In], <paramref name="pre"/> and <paramref name="post"/> are the layer's
    /// whole [1, Out] rows, of which this writes the slice. Each output is computed exactly as <see cref="Forward"/>
    /// computes it (one dot product per weight row), so disjoint slices on different threads give the same numbers.
    /// </summary>
    internal unsafe void ForwardSlice(IBackend backend, ParameterSet parameters, int layer, Tensor x, Tensor pre, Tensor post, int from, int to)
    {
        if (SpectralNorm) Throw.Argument("a slice of a spectrally normalized layer needs its workspace's W/σ; sample from a generator");
        var w = parameters.Value(_weights[layer]);
        var b = parameters.Value(_biases[layer]);
        int n = to - from;
        backend.LinearActivationForward(x, new Tensor(w.Data + (long)from * w.Cols, n, w.Cols), new Tensor(b.Data + from, 1, n),
            ActivationOf(layer), Slope, new Tensor(pre.Data + from, 1, n), new Tensor(post.Data + from, 1, n));
    }

    /// <inheritdoc/>
    public override void Backward(IBackend backend, ParameterSet parameters, Tensor input, NetworkWorkspace workspace,
        Tensor inputGradient, bool parameterGradients)
    {
        if (ConditionWidth > 0) Throw.Argument($"this MLP needs a condition of {ConditionWidth} values per row");
        Backward(backend, parameters, input, default, workspace, inputGradient, parameterGradients);
    }

    /// <inheritdoc/>
    public override void Backward(IBackend backend, ParameterSet parameters, Tensor input, Tensor condition, NetworkWorkspace workspace,
        Tensor inputGradient, bool parameterGradients)
    {
        var work = Own(workspace);
        int batch = input.Rows;
        CheckCondition(condition, batch);
        for (int l = Layers - 1; l >= 0; l--)
        {
            var grad = work.Gradient(l, batch);
            ActivationOps.Backward(backend, ActivationOf(l), Slope, work.PreActivation(l, batch), work.Activated(l, batch), grad);
            var x = l == 0 ? input : work.Activated(l - 1, batch);
            var dx = l == 0 ? inputGradient : work.Gradient(l - 1, batch);
            if (SpectralNorm && parameterGradients)
            {
                // The layer's dW is the gradient with respect to W/σ (accumulated into a zeroed scratch), taken back through σ.
                var dNormalized = work.NormalizedGradient(l);
                backend.Fill(dNormalized, 0f);
                backend.LinearBackward(x, work.Normalized(l), grad, dx, dNormalized, parameters.Gradient(_biases[l]));
                backend.SpectralNormBackward(parameters.Value(_weights[l]), parameters.Buffer(_u[l]), parameters.Buffer(_v[l]), work.Sigma(l),
                    dNormalized, parameters.Gradient(_weights[l]));
                continue;
            }
            backend.LinearBackward(x, Weight(parameters, work, l), grad, dx,
                parameterGradients ? parameters.Gradient(_weights[l]) : default,
                parameterGradients ? parameters.Gradient(_biases[l]) : default);
            if (l == 0 && ConditionWidth > 0 && parameterGradients)
            {
                // dW_c += dPreᵀ·c; the op's bias gradient goes to a scratch row (b's was accumulated just above), and the
                // condition, being data, gets no gradient.
                backend.LinearBackward(condition, parameters.Value(_conditionWeight), grad, default,
                    parameters.Gradient(_conditionWeight), work.ScratchBiasGradient);
            }
        }
    }

    private MlpWorkspace Own(NetworkWorkspace workspace) =>
        workspace is MlpWorkspace w && w.Owner == this ? w : throw new ArgumentException("not a workspace of this network", nameof(workspace));
}

/// <summary>An MLP's activations and activation gradients for up to <see cref="MaxBatch"/> rows: one allocation.</summary>
public sealed class MlpWorkspace : NetworkWorkspace
{
    private readonly Mlp _mlp;
    private readonly DeviceMemory _memory;
    private readonly long[] _pre, _post, _grad;
    private readonly long[] _normalized, _normalizedGrad, _sigma; // spectral normalization's W/σ, its gradient and σ

    public MlpWorkspace(IBackend backend, Mlp mlp, int maxBatch)
    {
        _mlp = mlp;
        MaxBatch = maxBatch;
        int layers = mlp.Layers;
        _pre = new long[layers]; _post = new long[layers]; _grad = new long[layers];
        _normalized = new long[layers]; _normalizedGrad = new long[layers]; _sigma = new long[layers];
        long offset = 0;
        for (int l = 0; l < layers; l++)
        {
            long size = (long)maxBatch * mlp.Widths[l + 1];
            _pre[l] = offset; offset += size;
            if (mlp.ActivationOf(l) == Activation.Identity) _post[l] = _pre[l];
            else { _post[l] = offset; offset += size; }
            _grad[l] = offset; offset += size;
            if (!mlp.SpectralNorm) continue;
            long weights = (long)mlp.Widths[l + 1] * mlp.Widths[l];
            _normalized[l] = offset; offset += weights;
            _normalizedGrad[l] = offset; offset += weights;
            _sigma[l] = offset; offset += 1;
        }
        if (mlp.ConditionWidth > 0)
        {
            // c·W_cᵀ [maxBatch, Out₀], a zero bias [1, Out₀] (the allocation is zeroed and never written) and a scratch bias gradient.
            _conditionProduct = offset; offset += (long)maxBatch * mlp.Widths[1];
            _zeroBias = offset; offset += mlp.Widths[1];
            _scratchBias = offset; offset += mlp.Widths[1];
        }
        _memory = backend.Allocate(offset);
    }

    private readonly long _conditionProduct = -1, _zeroBias = -1, _scratchBias = -1;

    internal Tensor ConditionProduct(int batch) => View(_conditionProduct, 0, batch);
    internal Tensor ZeroBias => _memory.Slice(_zeroBias, 1, _mlp.Widths[1]);
    internal Tensor ScratchBiasGradient => _memory.Slice(_scratchBias, 1, _mlp.Widths[1]);

    public override int MaxBatch { get; }

    internal Mlp Owner => _mlp;

    public Tensor PreActivation(int layer, int batch) => View(_pre[layer], layer, batch);
    public Tensor Activated(int layer, int batch) => View(_post[layer], layer, batch);
    public Tensor Gradient(int layer, int batch) => View(_grad[layer], layer, batch);

    /// <summary>Spectral normalization's W/σ of layer <paramref name="layer"/> [Out, In].</summary>
    public Tensor Normalized(int layer) => Matrix(_normalized, layer);
    /// <summary>The gradient with respect to <see cref="Normalized"/> [Out, In].</summary>
    public Tensor NormalizedGradient(int layer) => Matrix(_normalizedGrad, layer);
    /// <summary>Spectral normalization's σ of layer <paramref name="layer"/> [1, 1].</summary>
    public Tensor Sigma(int layer)
    {
        if (!_mlp.SpectralNorm) Throw.Argument("the network has no spectral normalization");
        return _memory.Slice(_sigma[layer], 1, 1);
    }

    private Tensor Matrix(long[] offsets, int layer)
    {
        if (!_mlp.SpectralNorm) Throw.Argument("the network has no spectral normalization");
        return _memory.Slice(offsets[layer], _mlp.Widths[layer + 1], _mlp.Widths[layer]);
    }

    /// <summary>Where the caller writes dLoss/dOutput before <see cref="Mlp.Backward"/>.</summary>
    public override Tensor OutputGradient(int batch) => Gradient(_mlp.Layers - 1, batch);

    private Tensor View(long offset, int layer, int batch)
    {
        if ((uint)batch > (uint)MaxBatch) Throw.Argument($"batch {batch} exceeds the workspace's {MaxBatch}");
        return _memory.Slice(offset, batch, _mlp.Widths[layer + 1]);
    }

    public override void Dispose() => _memory.Dispose();
}
