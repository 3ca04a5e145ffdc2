using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

public enum Activation { Identity, Relu, LeakyRelu, Sigmoid, Tanh }

/// <summary>
/// A stack of Linear layers, each followed by an activation. It owns no memory: parameters live in a
/// <see cref="ParameterSet"/>, activations in an <see cref="MlpWorkspace"/>. Backward is written by hand,
/// layer by layer in reverse order.
/// </summary>
public sealed class Mlp
{
    private readonly int[] _weights, _biases;

    /// <param name="widths">input width, hidden widths..., output width</param>
    public Mlp(ParameterLayout layout, string prefix, IReadOnlyList<int> widths, Activation hidden, Activation output, float slope)
    {
        if (widths.Count < 2) Throw.Argument("an MLP needs an input and an output width");
        foreach (int w in widths) ArgumentOutOfRangeException.ThrowIfLessThan(w, 1, nameof(widths));
        Widths = [.. widths];
        Hidden = hidden;
        Output = output;
        Slope = slope;
        int layers = widths.Count - 1;
        _weights = new int[layers];
        _biases = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            _weights[l] = layout.Add($"{prefix}.{l}.weight", widths[l + 1], widths[l], widths[l]);
            _biases[l] = layout.Add($"{prefix}.{l}.bias", 1, widths[l + 1], widths[l]);
        }
    }

    public int[] Widths { get; }
    public Activation Hidden { get; }
    public Activation Output { get; }
    public float Slope { get; }
    public int Layers => Widths.Length - 1;
    public int InputWidth => Widths[0];
    public int OutputWidth => Widths[^1];

    public Activation ActivationOf(int layer) => layer == Layers - 1 ? Output : Hidden;

    /// <summary>Runs the network on <paramref name="input"/> [B, In]; returns the output [B, Out] inside the workspace.</summary>
    public Tensor Forward(IBackend backend, ParameterSet parameters, Tensor input, MlpWorkspace workspace)
    {
        if (input.Cols != InputWidth) Throw.Argument($"input {input} does not match the network's width {InputWidth}");
        int batch = input.Rows;
        var x = input;
        for (int l = 0; l < Layers; l++)
        {
            var pre = workspace.PreActivation(l, batch);
            var post = workspace.Activated(l, batch);
            backend.LinearForward(x, parameters.Value(_weights[l]), parameters.Value(_biases[l]), pre);
            ActivationForward(backend, ActivationOf(l), pre, post);
            x = post;
        }
        return x;
    }

    /// <summary>
    /// Backward from the gradient the caller wrote into <see cref="MlpWorkspace.OutputGradient"/> (with respect to
    /// the output after its activation). Accumulates parameter gradients when <paramref name="parameterGradients"/>;
    /// overwrites <paramref name="inputGradient"/> [B, In] unless it is empty.
    /// </summary>
    public void Backward(IBackend backend, ParameterSet parameters, Tensor input, MlpWorkspace workspace,
        Tensor inputGradient, bool parameterGradients)
    {
        int batch = input.Rows;
        for (int l = Layers - 1; l >= 0; l--)
        {
            var grad = workspace.Gradient(l, batch);
            ActivationBackward(backend, ActivationOf(l), workspace.PreActivation(l, batch), workspace.Activated(l, batch), grad);
            var x = l == 0 ? input : workspace.Activated(l - 1, batch);
            var dx = l == 0 ? inputGradient : workspace.Gradient(l - 1, batch);
            backend.LinearBackward(x, parameters.Value(_weights[l]), grad, dx,
                parameterGradients ? parameters.Gradient(_weights[l]) : default,
                parameterGradients ? parameters.Gradient(_biases[l]) : default);
        }
    }

    private void ActivationForward(IBackend backend, Activation activation, Tensor pre, Tensor post)
    {
        switch (activation)
        {
            case Activation.Identity: break; // the workspace aliases post to pre
            case Activation.Relu: backend.ReluForward(pre, post); break;
            case Activation.LeakyRelu: backend.LeakyReluForward(pre, Slope, post); break;
            case Activation.Sigmoid: backend.SigmoidForward(pre, post); break;
            case Activation.Tanh: backend.TanhForward(pre, post); break;
        }
    }

    // In place: the gradient with respect to the activated output becomes the one with respect to pre.
    private void ActivationBackward(IBackend backend, Activation activation, Tensor pre, Tensor post, Tensor grad)
    {
        switch (activation)
        {
            case Activation.Identity: break;
            case Activation.Relu: backend.ReluBackward(pre, grad, grad); break;
            case Activation.LeakyRelu: backend.LeakyReluBackward(pre, grad, Slope, grad); break;
            case Activation.Sigmoid: backend.SigmoidBackward(post, grad, grad); break;
            case Activation.Tanh: backend.TanhBackward(post, grad, grad); break;
        }
    }
}

/// <summary>An MLP's activations and activation gradients for up to <see cref="MaxBatch"/> rows: one allocation.</summary>
public sealed class MlpWorkspace : IDisposable
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
        _memory = backend.Allocate(offset);
    }

    public int MaxBatch { get; }

    public Tensor PreActivation(int layer, int batch) => View(_pre[layer], layer, batch);
    public Tensor Activated(int layer, int batch) => View(_post[layer], layer, batch);
    public Tensor Gradient(int layer, int batch) => View(_grad[layer], layer, batch);

    /// <summary>Where the caller writes dLoss/dOutput before <see cref="Mlp.Backward"/>.</summary>
    public Tensor OutputGradient(int batch) => Gradient(_mlp.Layers - 1, batch);

    private Tensor View(long offset, int layer, int batch)
    {
        if ((uint)batch > (uint)MaxBatch) Throw.Argument($"batch {batch} exceeds the workspace's {MaxBatch}");
        return _memory.Slice(offset, batch, _mlp.Widths[layer + 1]);
    }

    public void Dispose() => _memory.Dispose();
}
