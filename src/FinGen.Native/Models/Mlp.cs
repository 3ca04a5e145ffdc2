using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

public enum Activation { Identity, Relu, LeakyRelu, Sigmoid, Tanh }

/// <summary>
/// A stack of Linear layers, each followed by an activation. It owns no memory: parameters live in a
/// <see cref="ParameterSet"/>, activations in an <see cref="MlpWorkspace"/>. Backward is written by hand,
/// layer by layer in reverse order.
///
/// A conditional MLP (<see cref="ConditionWidth"/> &gt; 0) takes a condition c beside its input x, and its first layer is
/// Linear([x | c]) written as two products, pre = x·W_xᵀ + b + c·W_cᵀ (W_c is "{prefix}.0.condition_weight"): the
/// same function as one layer over the concatenation, composed from the linear and add ops every backend has, with no
/// column-range copy. Its initialization is that of the one layer (fan-in In + C).
/// </summary>
public sealed class Mlp : Network
{
    private readonly int[] _weights, _biases;
    private readonly int _conditionWeight = -1;

    /// <param name="widths">input width, hidden widths..., output width</param>
    /// <param name="conditionWidth">values per condition row the first layer also takes (0: an unconditional MLP)</param>
    public Mlp(ParameterLayout layout, string prefix, IReadOnlyList<int> widths, Activation hidden, Activation output, float slope, int conditionWidth = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(conditionWidth);
        if (widths.Count < 2) Throw.Argument("an MLP needs an input and an output width");
        foreach (int w in widths) ArgumentOutOfRangeException.ThrowIfLessThan(w, 1, nameof(widths));
        Widths = [.. widths];
        Hidden = hidden;
        Output = output;
        Slope = slope;
        int layers = widths.Count - 1;
        _weights = new int[layers];
        _biases = new int[layers];
        ConditionWidth = conditionWidth;
        for (int l = 0; l < layers; l++)
        {
            int fanIn = widths[l] + (l == 0 ? conditionWidth : 0);
            _weights[l] = layout.Add($"{prefix}.{l}.weight", widths[l + 1], widths[l], fanIn);
            _biases[l] = layout.Add($"{prefix}.{l}.bias", 1, widths[l + 1], fanIn, shape: [widths[l + 1]]);
        }
        // Last, so an unconditional MLP of the same widths draws the same initial weights for every other tensor.
        if (conditionWidth > 0) _conditionWeight = layout.Add($"{prefix}.0.condition_weight", widths[1], conditionWidth, widths[0] + conditionWidth);
    }

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
                backend.LinearActivationForward(x, parameters.Value(_weights[l]), parameters.Value(_biases[l]), ActivationOf(l), Slope, pre, post);
            }
            x = post;
        }
        return x;
    }

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
            backend.LinearBackward(x, parameters.Value(_weights[l]), grad, dx,
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

    public MlpWorkspace(IBackend backend, Mlp mlp, int maxBatch)
    {
        _mlp = mlp;
        MaxBatch = maxBatch;
        int layers = mlp.Layers;
        _pre = new long[layers]; _post = new long[layers]; _grad = new long[layers];
        long offset = 0;
        for (int l = 0; l < layers; l++)
        {
            long size = (long)maxBatch * mlp.Widths[l + 1];
            _pre[l] = offset; offset += size;
            if (mlp.ActivationOf(l) == Activation.Identity) _post[l] = _pre[l];
            else { _post[l] = offset; offset += size; }
            _grad[l] = offset; offset += size;
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

    /// <summary>Where the caller writes dLoss/dOutput before <see cref="Mlp.Backward"/>.</summary>
    public override Tensor OutputGradient(int batch) => Gradient(_mlp.Layers - 1, batch);

    private Tensor View(long offset, int layer, int batch)
    {
        if ((uint)batch > (uint)MaxBatch) Throw.Argument($"batch {batch} exceeds the workspace's {MaxBatch}");
        return _memory.Slice(offset, batch, _mlp.Widths[layer + 1]);
    }

    public override void Dispose() => _memory.Dispose();
}
