using FinGen.Native.Models;
using TorchSharp;
using static TorchSharp.torch;
using Activation = FinGen.Native.Models.Activation;
using FgTensor = FinGen.Native.Memory.Tensor;

namespace FinGen.Benchmarks;

/// <summary>
/// The TorchSharp twin of one of our <see cref="Sequential"/> networks: an nn.Sequential with one module per layer
/// at the same index, so "{prefix}.{l}.weight" names the same tensor in both (Conv2d, ConvTranspose2d, BatchNorm2d
/// with its running statistics, the activations, Flatten/Unflatten). Our networks take and give one image per
/// row; a torch conv wants NCHW, so forward views the rows as images before a leading conv and flattens an image
/// output back to rows, as a PyTorch user would around a model that starts or ends with a convolution.
/// </summary>
internal sealed class TorchSequential : TorchNetwork
{
    private readonly nn.Module<Tensor, Tensor> layers;
    private readonly LayerSpec[] _specs;
    private readonly nn.Module[] _modules;
    private readonly long[]? _inputImage; // [-1, C, H, W] when the first layer is a convolution

    public TorchSequential(string prefix, Sequential network) : base(prefix)
    {
        _specs = [.. network.Layers];
        _modules = new nn.Module[_specs.Length];
        var named = new (string, nn.Module<Tensor, Tensor>)[_specs.Length];
        for (int l = 0; l < _specs.Length; l++)
        {
            var module = Module(_specs, l);
            _modules[l] = module;
            named[l] = (l.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        }
        layers = nn.Sequential(named);
        if (_specs[0] is Conv2dSpec) _inputImage = [-1, .. ImageAt(_specs, 0)];
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (_inputImage is not null) x = x.view(_inputImage);
        x = layers.forward(x);
        return x.dim() > 2 ? x.flatten(1) : x;
    }

    public override void CopyFrom(GenerativeModel model)
    {
        var ours = model.CheckpointTensors().ToDictionary(t => t.Name);
        using var _ = no_grad();
        for (int l = 0; l < _specs.Length; l++)
        {
            string name = $"{Prefix}.{l}";
            switch (_modules[l])
            {
                case TorchSharp.Modules.Linear m:
                    CopyWeightAndBias(ours, name, m.weight!, m.bias!);
                    break;
                case TorchSharp.Modules.Conv2d m:
                    CopyWeightAndBias(ours, name, m.weight!, m.bias!);
                    break;
                case TorchSharp.Modules.ConvTranspose2d m:
                    CopyWeightAndBias(ours, name, m.weight!, m.bias!);
                    break;
                case TorchSharp.Modules.BatchNorm2d m:
                    CopyWeightAndBias(ours, name, m.weight!, m.bias!);
                    Copy(ours, $"{name}.running_mean", m.running_mean!);
                    Copy(ours, $"{name}.running_var", m.running_var!);
                    break;
            }
        }
    }

    private static void CopyWeightAndBias(Dictionary<string, FgTensor> ours, string name, Tensor weight, Tensor bias)
    {
        Copy(ours, $"{name}.weight", weight);
        Copy(ours, $"{name}.bias", bias);
    }

    private static nn.Module<Tensor, Tensor> Module(LayerSpec[] specs, int l) => specs[l] switch
    {
        LinearSpec s => nn.Linear(s.In, s.Out),
        Conv2dSpec { Geometry: var g } => nn.Conv2d(g.InChannels, g.OutChannels, (g.KernelHeight, g.KernelWidth),
            stride: (g.Stride, g.Stride), padding: (g.Padding, g.Padding)),
        // Ours is the data gradient of g, mapping g's output back to its input: PyTorch's ConvTranspose2d(g.Out, g.In),
        // whose weight [g.OutChannels, g.InChannels, R, S] is laid out as ours.
        ConvTranspose2dSpec { Geometry: var g } => nn.ConvTranspose2d(g.OutChannels, g.InChannels, (g.KernelHeight, g.KernelWidth),
            stride: (g.Stride, g.Stride), padding: (g.Padding, g.Padding), output_padding: (0, 0)),
        BatchNorm2dSpec s => nn.BatchNorm2d(s.Channels, eps: s.Epsilon, momentum: s.Momentum),
        ActivationSpec { Activation: Activation.Relu } => nn.ReLU(),
        ActivationSpec { Activation: Activation.LeakyRelu, Slope: var slope } => nn.LeakyReLU(slope),
        ActivationSpec { Activation: Activation.Sigmoid } => nn.Sigmoid(),
        ActivationSpec { Activation: Activation.Tanh } => nn.Tanh(),
        ReshapeSpec { TorchName: "Flatten" } => nn.Flatten(),
        ReshapeSpec { TorchName: "Unflatten" } => nn.Unflatten(1, ImageAt(specs, l + 1)),
        var s => throw new NotSupportedException($"layer {l}: no TorchSharp module for {s}"),
    };

    /// <summary>[C, H, W] of the images that reach layer <paramref name="from"/>: the input of the next convolution at or after it.</summary>
    private static long[] ImageAt(LayerSpec[] specs, int from)
    {
        for (int l = from; l < specs.Length; l++)
        {
            switch (specs[l])
            {
                case Conv2dSpec { Geometry: var g }:
                    return [g.InChannels, g.InHeight, g.InWidth];
                case ConvTranspose2dSpec { Geometry: var g }:
                    return [g.OutChannels, g.OutHeight, g.OutWidth];
                case LinearSpec or ReshapeSpec:
                    throw new NotSupportedException($"layer {from}: the image shape is lost at layer {l} before any convolution");
            }
        }
        throw new NotSupportedException($"layer {from}: no convolution follows to give the image shape");
    }
}
