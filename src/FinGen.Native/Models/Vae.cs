using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

/// <summary>
/// The seed VAE: encoder 784→128 (ReLU) → μ, log σ² (z_dim each); z = μ + σ·ε; decoder z→128 (ReLU)→784.
/// Loss per batch = reconstruction (BCE on the decoder's logits, or MSE of its sigmoid; summed over pixels,
/// mean over the batch) + KL(N(μ, σ²) ‖ N(0, 1)) (summed over z, mean over the batch). The conv VAE swaps the
/// encoder trunk and the decoder for conv networks (see <see cref="ModelConfig.BuildEncoder"/>).
/// A conditional VAE (Sohn et al. 2015, with a N(0, 1) prior) gives the batch's conditions c to the encoder's and the
/// decoder's first layers: q(z | x, c), p(x | z, c).
/// </summary>
public sealed class Vae : GenerativeModel
{
    private readonly Network _trunk;
    private readonly Mlp _muHead, _logVarHead;
    private readonly ParameterSet _params;
    private readonly NetworkWorkspace _trunkWork, _muWork, _logVarWork, _decoderWork;
    private readonly Tensor _epsilon, _z, _dz, _dHidden;

    public Vae(IBackend backend, ModelConfig config) : base(backend, config)
    {
        if (config.Model is not (ModelKind.Vae or ModelKind.ConvVae)) Throw.Argument("not a VAE config");
        int b = config.BatchSize, latent = config.LatentSize;
        var layout = new ParameterLayout();
        _trunk = config.BuildEncoder(layout);
        int hidden = _trunk.OutputWidth;
        _muHead = new Mlp(layout, "encoder.mu", [hidden, latent], Activation.Identity, Activation.Identity, 0);
        _logVarHead = new Mlp(layout, "encoder.logvar", [hidden, latent], Activation.Identity, Activation.Identity, 0);
        Generator = config.BuildGenerator(layout, out bool sigmoidAfter);
        SigmoidAfterGenerator = sigmoidAfter;
        _params = GeneratorParameters = AddNetwork("vae", layout);

        _trunkWork = Own(_trunk.CreateWorkspace(backend, b));
        _muWork = Own(_muHead.CreateWorkspace(backend, b));
        _logVarWork = Own(_logVarHead.CreateWorkspace(backend, b));
        _decoderWork = Own(Generator.CreateWorkspace(backend, b));
        var buffers = Own(backend.Allocate(3L * b * latent + (long)b * hidden));
        _epsilon = buffers.Slice(0, b, latent, "epsilon");
        _z = buffers.Slice((long)b * latent, b, latent, "z");
        _dz = buffers.Slice(2L * b * latent, b, latent, "dz");
        _dHidden = buffers.Slice(3L * b * latent, b, hidden, "d_hidden");
    }

    public override IReadOnlyList<string> MetricNames { get; } = ["loss", "recon", "kl"];

    protected override void Step()
    {
        var backend = Backend;
        int b = Config.BatchSize;
        float meanScale = 1f / b;
        var x = Batch;
        var c = Condition; // empty for an unconditional VAE

        _params.ZeroGradients();
        var hidden = _trunk.Forward(backend, _params, x, c, _trunkWork);
        var mu = _muHead.Forward(backend, _params, hidden, _muWork);
        var logVar = _logVarHead.Forward(backend, _params, hidden, _logVarWork);
        DrawNoise(_epsilon);
        backend.ReparameterizeForward(mu, logVar, _epsilon, _z);
        var output = Generator.Forward(backend, _params, _z, c, _decoderWork);

        var dOutput = _decoderWork.OutputGradient(b);
        if (Config.Reconstruction == ReconstructionLoss.Bce)
        {
            backend.BceWithLogitsForward(output, x, meanScale, LossSlot(1));
            backend.BceWithLogitsBackward(output, x, meanScale, dOutput);
        }
        else
        {
            backend.MseForward(output, x, meanScale, LossSlot(1));
            backend.MseBackward(output, x, meanScale, dOutput);
        }
        backend.GaussianKlForward(mu, logVar, meanScale, LossSlot(2));

        Generator.Backward(backend, _params, _z, c, _decoderWork, _dz, parameterGradients: true);
        var dMu = _muWork.OutputGradient(b);
        var dLogVar = _logVarWork.OutputGradient(b);
        backend.ReparameterizeBackward(logVar, _epsilon, _dz, dMu, dLogVar);
        backend.GaussianKlBackward(mu, logVar, meanScale, dMu, dLogVar);
        var dTrunk = _trunkWork.OutputGradient(b);
        _muHead.Backward(backend, _params, hidden, _muWork, dTrunk, parameterGradients: true);
        _logVarHead.Backward(backend, _params, hidden, _logVarWork, _dHidden, parameterGradients: true);
        backend.Add(dTrunk, _dHidden, dTrunk);
        _trunk.Backward(backend, _params, x, c, _trunkWork, default, parameterGradients: true);
        OptimizerOf(_params).Apply();
    }

    protected override void ReadMetrics(Span<float> metrics)
    {
        var losses = DownloadLosses();
        metrics[0] = losses[1] + losses[2];
        metrics[1] = losses[1];
        metrics[2] = losses[2];
    }
}
