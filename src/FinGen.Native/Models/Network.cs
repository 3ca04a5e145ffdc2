using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

/// <summary>
/// A feed-forward network written against <see cref="IBackend"/>: it owns no memory. Parameters live in a
/// <see cref="ParameterSet"/> (laid out by the constructor), activations in a workspace made by
/// <see cref="CreateWorkspace"/>. <see cref="Mlp"/> is the seed models' network; <see cref="Sequential"/>
/// adds convolutions and batch normalization.
/// </summary>
public abstract class Network
{
    /// <summary>Values per input row.</summary>
    public abstract int InputWidth { get; }
    /// <summary>Values per output row.</summary>
    public abstract int OutputWidth { get; }

    /// <summary>Activations and their gradients for up to <paramref name="maxBatch"/> rows, in one allocation.</summary>
    public abstract NetworkWorkspace CreateWorkspace(IBackend backend, int maxBatch);

    /// <summary>
    /// Runs the network on <paramref name="input"/> [B, In]; returns the output [B, Out] inside the workspace.
    /// <paramref name="training"/> selects batch statistics (and updates the running ones) in batch-norm layers;
    /// sampling passes false to use the running statistics.
    /// </summary>
    public abstract Tensor Forward(IBackend backend, ParameterSet parameters, Tensor input, NetworkWorkspace workspace, bool training = true);

    /// <summary>True when the network's weight matrices are spectrally normalized (see <see cref="SpectralNormalize"/>).</summary>
    public virtual bool SpectralNorm => false;

    /// <summary>
    /// Spectral normalization (Miyato et al. 2018), for a network built with it: writes σ = uᵀWv and W/σ of every weight
    /// matrix into <paramref name="workspace"/>, where <see cref="Forward"/> and <see cref="Backward"/> read them, after
    /// one power-iteration step on the persistent u and v (buffers of the parameter set, so checkpoints keep them) when
    /// <paramref name="powerIteration"/>. Call it before a forward whenever the weights have changed: a GAN step calls it
    /// with the iteration before the discriminator's forward, and without it once the discriminator's update has
    /// changed W. Does nothing for a network without spectral normalization.
    /// </summary>
    public virtual void SpectralNormalize(IBackend backend, ParameterSet parameters, NetworkWorkspace workspace, bool powerIteration)
    {
    }

    /// <summary>
    /// Backward from the gradient the caller wrote into <see cref="NetworkWorkspace.OutputGradient"/> (with respect to
    /// the output). Accumulates parameter gradients when <paramref name="parameterGradients"/>; overwrites
    /// <paramref name="inputGradient"/> [B, In] unless it is empty. Needs the activations of the last training-mode
    /// <see cref="Forward"/> on the same input.
    /// </summary>
    public abstract void Backward(IBackend backend, ParameterSet parameters, Tensor input, NetworkWorkspace workspace,
        Tensor inputGradient, bool parameterGradients);

    /// <summary>Values per condition row a conditional network takes beside its input (0: none).</summary>
    public virtual int ConditionWidth => 0;

    /// <summary>
    /// <see cref="Forward(IBackend, ParameterSet, Tensor, NetworkWorkspace, bool)"/> of a conditional network, with
    /// <paramref name="condition"/> [B, <see cref="ConditionWidth"/>] beside the input; an unconditional network takes an
    /// empty condition.
    /// </summary>
    public virtual Tensor Forward(IBackend backend, ParameterSet parameters, Tensor input, Tensor condition, NetworkWorkspace workspace, bool training = true)
    {
        if (!condition.IsEmpty) Throw.Argument($"this network takes no condition, got {condition}");
        return Forward(backend, parameters, input, workspace, training);
    }

    /// <summary>
    /// <see cref="Backward(IBackend, ParameterSet, Tensor, NetworkWorkspace, Tensor, bool)"/> of a conditional network,
    /// with the condition of the forward pass. No gradient flows into the condition (it is data, never a parameter).
    /// </summary>
    public virtual void Backward(IBackend backend, ParameterSet parameters, Tensor input, Tensor condition, NetworkWorkspace workspace,
        Tensor inputGradient, bool parameterGradients)
    {
        if (!condition.IsEmpty) Throw.Argument($"this network takes no condition, got {condition}");
        Backward(backend, parameters, input, workspace, inputGradient, parameterGradients);
    }
}

/// <summary>A network's activation memory for up to <see cref="MaxBatch"/> rows.</summary>
public abstract class NetworkWorkspace : IDisposable
{
    public abstract int MaxBatch { get; }

    /// <summary>Where the caller writes dLoss/dOutput [batch, Out] before <see cref="Network.Backward"/>.</summary>
    public abstract Tensor OutputGradient(int batch);

    public abstract void Dispose();
}

/// <summary>Activation forward and backward through the backend, shared by every network.</summary>
internal static class ActivationOps
{
    /// <summary>post = f(pre). Identity does nothing: its workspace aliases post to pre.</summary>
    public static void Forward(IBackend backend, Activation activation, float slope, Tensor pre, Tensor post)
    {
        switch (activation)
        {
            case Activation.Identity: break;
            case Activation.Relu: backend.ReluForward(pre, post); break;
            case Activation.LeakyRelu: backend.LeakyReluForward(pre, slope, post); break;
            case Activation.Sigmoid: backend.SigmoidForward(pre, post); break;
            case Activation.Tanh: backend.TanhForward(pre, post); break;
        }
    }

    /// <summary>In place: the gradient with respect to post becomes the one with respect to pre.</summary>
    public static void Backward(IBackend backend, Activation activation, float slope, Tensor pre, Tensor post, Tensor grad)
    {
        switch (activation)
        {
            case Activation.Identity: break;
            case Activation.Relu: backend.ReluBackward(pre, grad, grad); break;
            case Activation.LeakyRelu: backend.LeakyReluBackward(pre, grad, slope, grad); break;
            case Activation.Sigmoid: backend.SigmoidBackward(post, grad, grad); break;
            case Activation.Tanh: backend.TanhBackward(post, grad, grad); break;
        }
    }
}
