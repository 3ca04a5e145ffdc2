using FinGen.Native.Models;
using FinGen.Native.Randomness;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Activation = FinGen.Native.Models.Activation;
using Sequential = FinGen.Native.Models.Sequential;
using FgTensor = FinGen.Native.Memory.Tensor;

namespace FinGen.Benchmarks;

/// <summary>
/// A TorchSharp twin of one of our networks, holding our parameter names' prefix ("generator"): layer l's weight is
/// "{prefix}.{l}.weight". It starts from our weights (copied tensor by tensor) so both engines compute the same
/// numbers, which <see cref="Parity"/> checks before anything is timed. Rows in, rows out: [B, In] → [B, Out].
/// </summary>
internal abstract class TorchNetwork(string prefix) : nn.Module<Tensor, Tensor>(prefix)
{
    public string Prefix { get; } = prefix;

    /// <summary>Copies our parameters and buffers (by name) into the torch modules, and checks them read back bit for bit.</summary>
    public abstract void CopyFrom(GenerativeModel model);

    /// <summary>The twin of <paramref name="network"/>: a <see cref="TorchMlp"/> for an <see cref="Mlp"/>, a
    /// <see cref="TorchSequential"/> for a <see cref="Sequential"/>.</summary>
    public static TorchNetwork Of(string prefix, Network network) => network switch
    {
        Mlp mlp => new TorchMlp(prefix, mlp),
        Sequential sequential => new TorchSequential(prefix, sequential),
        _ => throw new NotSupportedException($"no TorchSharp twin for {network.GetType().Name}"),
    };

    protected static void Copy(Dictionary<string, FgTensor> ours, string name, Tensor destination)
    {
        if (!ours.TryGetValue(name, out var source))
            throw new InvalidOperationException($"our model has no parameter '{name}'");
        if (source.Length != destination.numel())
            throw new InvalidOperationException($"'{name}' has {source.Length} values, the torch parameter {destination.numel()}");
        destination.data<float>().CopyFrom(source.Span, 0, 0);
        float[] back = destination.data<float>().ToArray();
        if (!back.AsSpan().SequenceEqual(source.Span))
            throw new InvalidOperationException($"'{name}' did not read back bit for bit from the torch parameter");
    }
}

/// <summary>
/// The TorchSharp twin of an <see cref="Mlp"/>, written the way a PyTorch user writes it: nn.Linear layers,
/// functional activations, autograd.
/// </summary>
internal sealed class TorchMlp : TorchNetwork
{
    private readonly ModuleList<Linear> layers;
    private readonly Activation _hidden, _output;
    private readonly double _slope;

    public TorchMlp(string prefix, IReadOnlyList<int> widths, Activation hidden, Activation output, float slope) : base(prefix)
    {
        _hidden = hidden;
        _output = output;
        _slope = slope;
        layers = nn.ModuleList(Enumerable.Range(0, widths.Count - 1).Select(l => nn.Linear(widths[l], widths[l + 1])).ToArray());
        RegisterComponents();
    }

    /// <summary>The same network as one of ours (its widths, activations and names).</summary>
    public TorchMlp(string prefix, Mlp mlp) : this(prefix, mlp.Widths, mlp.Hidden, mlp.Output, mlp.Slope) { }

    public override Tensor forward(Tensor x)
    {
        for (int l = 0; l < layers.Count; l++)
        {
            x = layers[l].forward(x);
            x = (l == layers.Count - 1 ? _output : _hidden) switch
            {
                Activation.Identity => x,
                Activation.Relu => nn.functional.relu(x),
                Activation.LeakyRelu => nn.functional.leaky_relu(x, _slope),
                Activation.Sigmoid => sigmoid(x),
                Activation.Tanh => tanh(x),
                var a => throw new NotSupportedException(a.ToString()),
            };
        }
        return x;
    }

    public override void CopyFrom(GenerativeModel model) => CopyFrom(model.CheckpointTensors());

    /// <summary>Copies the layers' weights and biases from our tensors of those names.</summary>
    public void CopyFrom(IEnumerable<FgTensor> tensors)
    {
        var ours = tensors.ToDictionary(t => t.Name);
        using var _ = no_grad();
        for (int l = 0; l < layers.Count; l++)
        {
            Copy(ours, $"{Prefix}.{l}.weight", layers[l].weight!);
            Copy(ours, $"{Prefix}.{l}.bias", layers[l].bias!);
        }
    }
}

/// <summary>One of our models in TorchSharp that trains step for step like ours.</summary>
internal interface ITorchModel : IDisposable
{
    void CopyWeightsFrom(GenerativeModel model);

    /// <param name="batch">[B, DataWidth] samples (host)</param>
    /// <param name="metrics">the values of our metrics.csv, in its order</param>
    void Step(ReadOnlySpan<float> batch, Span<float> metrics);
}

/// <summary>Where a torch model's noise comes from: torch's own generator when timing, our Philox stream for parity.</summary>
internal abstract class NoiseSource
{
    public abstract void Fill(Tensor destination);

    /// <summary>torch's default CPU generator: what a PyTorch training loop does.</summary>
    public static NoiseSource Torch { get; } = new TorchNoise();

    private sealed class TorchNoise : NoiseSource
    {
        public override void Fill(Tensor destination) => destination.normal_();
    }
}

/// <summary>The very normals our models draw: Philox stream Noise of the config's seed, consumed in the same order.</summary>
internal sealed class PhiloxNoise(ulong seed) : NoiseSource
{
    private ulong _offset;
    private float[] _host = [];

    public override void Fill(Tensor destination)
    {
        int n = (int)destination.numel();
        if (_host.Length != n) _host = new float[n];
        Philox.FillNormal(_host, seed, (ulong)Philox.Stream.Noise, _offset);
        _offset += (ulong)n;
        destination.data<float>().CopyFrom(_host, 0, 0);
    }
}

/// <summary>
/// The seed GAN or the DCGAN in TorchSharp, stepping exactly as <see cref="Gan"/> does: one D step on real and fake
/// rows as one batch of 2B (fake made under no_grad, so G's batch norm still updates its running statistics, as
/// ours does), loss = BCE-with-logits summed over the 2B rows / B; then one G step with the non-saturating loss, D's
/// parameters frozen (requires_grad off) so that, as in ours, no D weight gradients are computed for it. Adam on
/// each network; the same four metrics are produced on the host.
/// </summary>
internal sealed class TorchGan : ITorchModel
{
    private readonly TorchNetwork _g, _d;
    private readonly optim.Optimizer _gOpt, _dOpt;
    private readonly Parameter[] _dParams;
    private readonly Tensor _z, _dInput, _dReal, _dFake, _targets, _ones;
    private readonly float[] _logitsHost;
    private readonly NoiseSource _noise;
    private readonly int _batch;

    public TorchGan(ModelConfig config, NoiseSource noise)
    {
        int b = _batch = config.BatchSize;
        _noise = noise;
        if (!config.IsGan) throw new ArgumentException($"{config.Model} is not a GAN", nameof(config));
        _g = TorchNetwork.Of("generator", config.BuildGenerator(new ParameterLayout(), out _));
        _d = TorchNetwork.Of("discriminator", config.BuildDiscriminator(new ParameterLayout()));
        var o = config.Optimizer;
        _gOpt = optim.Adam(_g.parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Epsilon);
        _dOpt = optim.Adam(_d.parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Epsilon);
        _dParams = [.. _d.parameters()];
        _z = empty(b, config.LatentSize);
        _dInput = empty(2 * b, config.DataWidth);
        _dReal = _dInput.narrow(0, 0, b);
        _dFake = _dInput.narrow(0, b, b);
        using (var real = full(b, 1, config.RealLabel))
        using (var fake = zeros(b, 1))
            _targets = cat([real, fake]);
        _ones = ones(b, 1);
        _logitsHost = new float[2 * b];
    }

    public void CopyWeightsFrom(GenerativeModel model)
    {
        _g.CopyFrom(model);
        _d.CopyFrom(model);
    }

    /// <param name="batch">[B, DataWidth] real samples (host)</param>
    /// <param name="metrics">d_loss, g_loss, d_real, d_fake, as our metrics.csv</param>
    public void Step(ReadOnlySpan<float> batch, Span<float> metrics)
    {
        using var scope = NewDisposeScope();
        int b = _batch;

        // ---- discriminator
        _dOpt.zero_grad();
        _dReal.data<float>().CopyFrom(batch, 0, 0);
        _noise.Fill(_z);
        using (no_grad()) _dFake.copy_(_g.forward(_z));
        var logits = _d.forward(_dInput);
        var dLoss = nn.functional.binary_cross_entropy_with_logits(logits, _targets, reduction: nn.Reduction.Sum).mul(1.0 / b);
        dLoss.backward();
        _dOpt.step();
        logits.data<float>().CopyTo(_logitsHost, 0, 0);

        // ---- generator: D frozen, gradients flow through it to G only
        _gOpt.zero_grad();
        _noise.Fill(_z);
        foreach (var p in _dParams) p.requires_grad = false;
        var gLogits = _d.forward(_g.forward(_z));
        var gLoss = nn.functional.binary_cross_entropy_with_logits(gLogits, _ones);
        gLoss.backward();
        _gOpt.step();
        foreach (var p in _dParams) p.requires_grad = true;

        metrics[0] = dLoss.item<float>();
        metrics[1] = gLoss.item<float>();
        metrics[2] = MeanSigmoid(_logitsHost.AsSpan(0, b));
        metrics[3] = MeanSigmoid(_logitsHost.AsSpan(b, b));
    }

    // As Gan.MeanSigmoid: the same host arithmetic on the downloaded logits.
    private static float MeanSigmoid(ReadOnlySpan<float> logits)
    {
        double sum = 0;
        foreach (float x in logits) sum += 1.0 / (1.0 + Math.Exp(-x));
        return (float)(sum / logits.Length);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _z, _dReal, _dFake, _dInput, _targets, _ones }) t.Dispose();
        _gOpt.Dispose();
        _dOpt.Dispose();
        _g.Dispose();
        _d.Dispose();
    }
}

/// <summary>
/// The seed VAE or the conv VAE in TorchSharp, as <see cref="Vae"/>: encoder trunk (ReLU) → μ and log σ² heads;
/// z = μ + e^{½ log σ²}·ε; decoder → logits; loss = BCE-with-logits summed over pixels / B + KL summed over z / B; one Adam over everything.
/// </summary>
internal sealed class TorchVae : ITorchModel
{
    private readonly TorchNetwork _trunk, _mu, _logVar, _decoder;
    private readonly optim.Optimizer _opt;
    private readonly Tensor _x, _epsilon;
    private readonly NoiseSource _noise;
    private readonly int _batch;

    public TorchVae(ModelConfig config, NoiseSource noise)
    {
        if (config.Reconstruction != ReconstructionLoss.Bce) throw new NotSupportedException("the benchmark VAE uses the BCE reconstruction loss");
        int b = _batch = config.BatchSize;
        _noise = noise;
        var encoder = config.BuildEncoder(new ParameterLayout());
        _trunk = TorchNetwork.Of("encoder", encoder);
        int hidden = encoder.OutputWidth;
        _mu = new TorchMlp("encoder.mu", [hidden, config.LatentSize], Activation.Identity, Activation.Identity, 0);
        _logVar = new TorchMlp("encoder.logvar", [hidden, config.LatentSize], Activation.Identity, Activation.Identity, 0);
        _decoder = TorchNetwork.Of("decoder", config.BuildGenerator(new ParameterLayout(), out _));
        var o = config.Optimizer;
        _opt = optim.Adam([.. _trunk.parameters(), .. _mu.parameters(), .. _logVar.parameters(), .. _decoder.parameters()],
            o.LearningRate, o.Beta1, o.Beta2, o.Epsilon);
        _x = empty(b, config.DataWidth);
        _epsilon = empty(b, config.LatentSize);
    }

    public void CopyWeightsFrom(GenerativeModel model)
    {
        foreach (var m in new[] { _trunk, _mu, _logVar, _decoder }) m.CopyFrom(model);
    }

    /// <param name="batch">[B, DataWidth] samples in [0, 1] (host)</param>
    /// <param name="metrics">loss, recon, kl, as our metrics.csv</param>
    public void Step(ReadOnlySpan<float> batch, Span<float> metrics)
    {
        using var scope = NewDisposeScope();
        double meanScale = 1.0 / _batch;
        _opt.zero_grad();
        _x.data<float>().CopyFrom(batch, 0, 0);
        var hidden = _trunk.forward(_x);
        var mu = _mu.forward(hidden);
        var logVar = _logVar.forward(hidden);
        _noise.Fill(_epsilon);
        var z = mu + exp(logVar * 0.5) * _epsilon;
        var logits = _decoder.forward(z);
        var recon = nn.functional.binary_cross_entropy_with_logits(logits, _x, reduction: nn.Reduction.Sum).mul(meanScale);
        var kl = (1 + logVar - mu.square() - logVar.exp()).sum().mul(-0.5 * meanScale);
        var loss = recon + kl;
        loss.backward();
        _opt.step();
        float r = recon.item<float>(), k = kl.item<float>();
        metrics[0] = r + k;
        metrics[1] = r;
        metrics[2] = k;
    }

    public void Dispose()
    {
        _x.Dispose();
        _epsilon.Dispose();
        _opt.Dispose();
        foreach (var m in new[] { _trunk, _mu, _logVar, _decoder }) m.Dispose();
    }
}
