using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

/// <summary>
/// The seed GAN: G z→128→128→784 (LeakyReLU, sigmoid out), D 784→128→128→1 (LeakyReLU, logit out), and the
/// DCGAN with the same training loop (networks from <see cref="ModelConfig.BuildGenerator"/> and
/// <see cref="ModelConfig.BuildDiscriminator"/>).
/// One D step then one G step per iteration; D sees real and fake rows as one batch of 2B (one GEMM per
/// layer instead of two); the generator loss is the non-saturating −log D(G(z)). With
/// <see cref="ModelConfig.SpectralNorm"/>, D's weights are normalized before its forward in each half of the step: with
/// the step's one power iteration before D's update, and with the same u and v after it (Miyato et al.'s Algorithm 1).
/// </summary>
public sealed class Gan : GenerativeModel
{
    private readonly Network _discriminator;
    private readonly ParameterSet _gParams, _dParams;
    private readonly NetworkWorkspace _gWork, _dWork;
    private readonly Tensor _z, _dInput, _targets, _ones, _lastLogits;
    private readonly Tensor _dCondition; // [2B, C]: the batch's conditions for the real rows, then again for the fake rows
    private readonly float[] _logitsHost;

    public Gan(IBackend backend, ModelConfig config) : base(backend, config)
    {
        if (!config.IsGan) Throw.Argument("not a GAN config");
        int b = config.BatchSize, width = config.DataWidth;

        var gLayout = new ParameterLayout();
        Generator = config.BuildGenerator(gLayout, out bool sigmoidAfter);
        SigmoidAfterGenerator = sigmoidAfter;
        var dLayout = new ParameterLayout();
        _discriminator = config.BuildDiscriminator(dLayout);
        _gParams = GeneratorParameters = AddNetwork("generator", gLayout);
        _dParams = AddNetwork("discriminator", dLayout);

        _gWork = Own(Generator.CreateWorkspace(backend, b));
        _dWork = Own(_discriminator.CreateWorkspace(backend, 2 * b));
        var buffers = Own(backend.Allocate((long)b * config.LatentSize + 2L * b * width + 2L * b + b + 2L * b + 2L * b * config.ConditionWidth));
        long offset = 0;
        if (config.ConditionWidth > 0) { _dCondition = buffers.Slice(offset, 2 * b, config.ConditionWidth, "d_condition"); offset += _dCondition.Length; }
        _z = buffers.Slice(offset, b, config.LatentSize, "z"); offset += _z.Length;
        _dInput = buffers.Slice(offset, 2 * b, width, "d_input"); offset += _dInput.Length;
        _targets = buffers.Slice(offset, 2 * b, 1, "targets"); offset += _targets.Length;
        _ones = buffers.Slice(offset, b, 1, "ones"); offset += _ones.Length;
        _lastLogits = buffers.Slice(offset, 2 * b, 1, "d_step_logits");
        // Real rows first (label 1), fake rows after (label 0).
        backend.Fill(_targets.SliceRows(0, b), config.RealLabel);
        backend.Fill(_targets.SliceRows(b, b), 0f);
        backend.Fill(_ones, 1f);
        _logitsHost = new float[2 * b];
    }

    public override IReadOnlyList<string> MetricNames { get; } = ["d_loss", "g_loss", "d_real", "d_fake"];

    protected override void Step()
    {
        var backend = Backend;
        int b = Config.BatchSize;
        float meanScale = 1f / b;

        // ---- discriminator: BCE(D(x), 1) + BCE(D(G(z)), 0), each a mean over the batch
        // A conditional GAN (Mirza & Osindero 2014): G and D see the batch's conditions c; a fake row has its real row's c.
        var c = Condition;
        if (!c.IsEmpty)
        {
            backend.Copy(c, _dCondition.SliceRows(0, b));
            backend.Copy(c, _dCondition.SliceRows(b, b));
        }
        _dParams.ZeroGradients();
        _discriminator.SpectralNormalize(backend, _dParams, _dWork, powerIteration: true); // the step's one power iteration
        DrawNoise(_z);
        var fake = Generator.Forward(backend, _gParams, _z, c, _gWork);
        backend.Copy(Batch, _dInput.SliceRows(0, b));
        backend.Copy(fake, _dInput.SliceRows(b, b));
        var logits = _discriminator.Forward(backend, _dParams, _dInput, _dCondition, _dWork);
        backend.BceWithLogitsForward(logits, _targets, meanScale, LossSlot(0));
        backend.BceWithLogitsBackward(logits, _targets, meanScale, _dWork.OutputGradient(2 * b));
        backend.Copy(logits, _lastLogits); // kept on the device for d_real/d_fake; D's workspace is reused below
        _discriminator.Backward(backend, _dParams, _dInput, _dCondition, _dWork, default, parameterGradients: true);
        OptimizerOf(_dParams).Apply();

        // ---- generator: non-saturating BCE(D(G(z)), 1); D's parameter gradients are not needed
        _gParams.ZeroGradients();
        _discriminator.SpectralNormalize(backend, _dParams, _dWork, powerIteration: false); // σ of the updated W, same u and v
        DrawNoise(_z);
        fake = Generator.Forward(backend, _gParams, _z, c, _gWork);
        logits = _discriminator.Forward(backend, _dParams, fake, c, _dWork);
        backend.BceWithLogitsForward(logits, _ones, meanScale, LossSlot(1));
        backend.BceWithLogitsBackward(logits, _ones, meanScale, _dWork.OutputGradient(b));
        _discriminator.Backward(backend, _dParams, fake, c, _dWork, _gWork.OutputGradient(b), parameterGradients: false);
        Generator.Backward(backend, _gParams, _z, c, _gWork, default, parameterGradients: true);
        OptimizerOf(_gParams).Apply();
    }

    protected override void ReadMetrics(Span<float> metrics)
    {
        int b = Config.BatchSize;
        Backend.Download(_lastLogits, _logitsHost);
        var losses = DownloadLosses();
        metrics[0] = losses[0];
        metrics[1] = losses[1];
        metrics[2] = MeanSigmoid(_logitsHost.AsSpan(0, b));
        metrics[3] = MeanSigmoid(_logitsHost.AsSpan(b, b));
    }

    private static float MeanSigmoid(ReadOnlySpan<float> logits)
    {
        double sum = 0;
        foreach (float x in logits) sum += 1.0 / (1.0 + Math.Exp(-x));
        return (float)(sum / logits.Length);
    }
}
