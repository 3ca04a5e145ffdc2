using System.Text.Json;
using FinGen.Native.Backends;
using System.Text.Json.Serialization;

namespace FinGen.Native.Models;

public enum ModelKind
{
    /// <summary>The seed GAN: MLP generator and discriminator.</summary>
    Gan,
    /// <summary>The seed VAE: MLP encoder and decoder.</summary>
    Vae,
    /// <summary>A DCGAN (Radford et al. 2016): transposed-conv generator with batch norm, conv discriminator.</summary>
    Dcgan,
    /// <summary>A VAE with a conv encoder and a transposed-conv decoder.</summary>
    ConvVae,
}

public enum ReconstructionLoss
{
    /// <summary>Binary cross-entropy on the decoder's logits, summed over pixels (the decoder's sigmoid is applied when sampling).</summary>
    Bce,
    /// <summary>Squared error of the decoder's sigmoid output, summed over pixels.</summary>
    Mse,
}

/// <summary>
/// Everything that defines a model and how it trains. Stored as JSON in the checkpoint's metadata so a
/// checkpoint rebuilds its model with no other input. Settable rather than init-only: System.Text.Json's
/// source generator assigns every init-only property, so a field missing from an older checkpoint would
/// become 0 instead of keeping its default.
/// </summary>
public sealed record ModelConfig
{
    public ModelKind Model { get; set; } = ModelKind.Gan;
    /// <summary>Values per sample (784 for a 28×28 image).</summary>
    public int DataWidth { get; set; } = 784;
    /// <summary>Side of the square image a sample is, for plots; 0 when samples are not images.</summary>
    public int ImageSide { get; set; } = 28;
    public int LatentSize { get; set; } = 100;
    public int[] GeneratorHidden { get; set; } = [128, 128];
    public int[] DiscriminatorHidden { get; set; } = [128, 128];
    public int[] EncoderHidden { get; set; } = [128];
    public int[] DecoderHidden { get; set; } = [128];
    /// <summary>Conv models: channels after the first and the second stride-2 convolution (28×28 → 14×14 → 7×7).</summary>
    public int[] ConvChannels { get; set; } = [32, 64];
    public float LeakySlope { get; set; } = 0.2f;
    /// <summary>The discriminator's target for real samples: below 1 is one-sided label smoothing (Salimans et al. 2016).</summary>
    public float RealLabel { get; set; } = 1f;
    /// <summary>
    /// GANs: spectral normalization of every discriminator weight (Miyato et al. 2018): W/σ(W) with σ from one power
    /// iteration a step on persistent vectors (see <see cref="Network.SpectralNormalize"/>). Off by default.
    /// </summary>
    public bool SpectralNorm { get; set; }
    public ReconstructionLoss Reconstruction { get; set; } = ReconstructionLoss.Bce;
    /// <summary>The generator's latent noise: 0 for standard normal, else unit-variance Student-t with this many degrees
    /// of freedom (3 … 64; GAN family only, see <see cref="LatentNoise"/>).</summary>
    public int NoiseDegrees { get; set; }
    public OptimizerSettings Optimizer { get; set; } = new();
    public int BatchSize { get; set; } = 64;
    /// <summary>
    /// Values of the condition c a conditional GAN's generator and discriminator see with every sample (G(z, c), D(x, c)),
    /// or a conditional VAE's encoder and decoder (q(z | x, c), p(x | z, c) with a N(0, 1) prior); see
    /// <see cref="Data.ConditionFeatures"/>. 0, the default, for an unconditional model.
    /// </summary>
    public int ConditionWidth { get; set; }
    public ulong Seed { get; set; } = 42;

    /// <summary>The seed models: GAN z(100)→128→128→784 / 784→128→128→1 with Adam(2e-4, β1 0.5);
    /// VAE 784→128→(μ, log σ²) of 16 → 128→784 with Adam(2e-4, β1 0.9).</summary>
    /// <remarks>The conv models use the same optimizers and latent sizes as their MLP counterparts.</remarks>
    public static ModelConfig Default(ModelKind kind) => kind is ModelKind.Vae or ModelKind.ConvVae
        ? new ModelConfig { Model = kind, LatentSize = 16, Optimizer = new OptimizerSettings(Beta1: 0.9f) }
        : new ModelConfig { Model = kind };

    /// <summary>True for the GAN family (one generator, one discriminator).</summary>
    public bool IsGan => Model is ModelKind.Gan or ModelKind.Dcgan;

    /// <summary>True for the conv models.</summary>
    public bool IsConvolutional => Model is ModelKind.Dcgan or ModelKind.ConvVae;

    /// <summary>The model's name on the command line: gan, vae, dcgan, conv-vae.</summary>
    public static string CliName(ModelKind kind) => kind == ModelKind.ConvVae ? "conv-vae" : kind.ToString().ToLowerInvariant();

    /// <summary>The <see cref="ModelKind"/> a command-line name stands for.</summary>
    public static ModelKind ParseCliName(string name) => name switch
    {
        "gan" => ModelKind.Gan,
        "vae" => ModelKind.Vae,
        "dcgan" => ModelKind.Dcgan,
        "conv-vae" => ModelKind.ConvVae,
        _ => Throw.User<ModelKind>($"unknown model '{name}': use gan, vae, dcgan or conv-vae"),
    };

    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value < 1) Throw.User($"{name} must be at least 1, got {value}");
        }
        Positive(DataWidth, "data width");
        Positive(LatentSize, "latent size");
        Positive(BatchSize, "batch size");
        foreach (var w in GeneratorHidden.Concat(DiscriminatorHidden).Concat(EncoderHidden).Concat(DecoderHidden)) Positive(w, "hidden width");
        if (ImageSide != 0 && ImageSide * ImageSide != DataWidth) Throw.User($"image side {ImageSide} does not match data width {DataWidth}");
        if (IsConvolutional)
        {
            if (ConvChannels.Length != 2) Throw.User($"conv_channels needs 2 values, got {ConvChannels.Length}");
            foreach (var c in ConvChannels) Positive(c, "conv channels");
            if (ImageSide < 4 || ImageSide % 4 != 0)
                Throw.User($"{CliName(Model)} needs square images whose side is a multiple of 4 (28×28 MNIST or market images); this data has {DataWidth} values per sample");
        }
        if (SpectralNorm && !IsGan) Throw.User($"spectral normalization applies to a GAN's discriminator (gan, dcgan), not to {CliName(Model)}");
        if (ConditionWidth < 0) Throw.User($"condition width must be at least 0, got {ConditionWidth}");
        if (ConditionWidth > 0 && Model is not (ModelKind.Gan or ModelKind.Vae))
            Throw.User($"--condition applies to --model gan or vae (the MLP models), not to {CliName(Model)}");
        if (SpectralNorm && ConditionWidth > 0) Throw.User("--spectral-norm and --condition do not go together: a conditional discriminator is not spectrally normalized");
        if (!(RealLabel > 0.5f && RealLabel <= 1f)) Throw.User($"real label {RealLabel} must be in (0.5, 1]");
        if (!(LeakySlope >= 0 && LeakySlope < 1)) Throw.User($"LeakyReLU slope {LeakySlope} must be in [0, 1)");
        if (NoiseDegrees != 0)
        {
            if (!IsGan) Throw.User($"Student-t noise is for the GAN family (gan, dcgan); the {CliName(Model)}'s latent prior is the normal of its KL term");
            if (NoiseDegrees < Randomness.Philox.MinStudentTDegrees || NoiseDegrees > Randomness.Philox.MaxStudentTDegrees)
                Throw.User($"Student-t noise needs {Randomness.Philox.MinStudentTDegrees} to {Randomness.Philox.MaxStudentTDegrees} degrees of freedom, got {NoiseDegrees}");
        }
        Optimizer.Validate();
    }

    /// <summary>
    /// The network that turns latent noise into samples: the GAN's generator or the VAE's decoder, with the
    /// same parameter names as in training so a checkpoint's tensors load into it.
    /// </summary>
    /// <param name="sigmoidAfter">true when the network ends in logits that sampling passes through a sigmoid.</param>
    public Network BuildGenerator(ParameterLayout layout, out bool sigmoidAfter)
    {
        switch (Model)
        {
            case ModelKind.Gan:
                sigmoidAfter = false;
                return new Mlp(layout, "generator", [LatentSize, .. GeneratorHidden, DataWidth], Activation.LeakyRelu, Activation.Sigmoid, LeakySlope, conditionWidth: ConditionWidth);
            case ModelKind.Vae:
                sigmoidAfter = Reconstruction == ReconstructionLoss.Bce;
                return new Mlp(layout, "decoder", [LatentSize, .. DecoderHidden, DataWidth], Activation.Relu,
                    sigmoidAfter ? Activation.Identity : Activation.Sigmoid, LeakySlope, conditionWidth: ConditionWidth);
            case ModelKind.Dcgan:
            {
                // z → Linear → Unflatten(c2, q, q) → BN → ReLU → ConvT(c2→c1, 2q) → BN → ReLU → ConvT(c1→1, side) → Sigmoid
                var (side, q, c1, c2) = ConvSizes();
                sigmoidAfter = false;
                return new Sequential(layout, "generator", LatentSize,
                [
                    new LinearSpec(LatentSize, c2 * q * q),
                    new ReshapeSpec("Unflatten", c2 * q * q),
                    new BatchNorm2dSpec(c2, q * q),
                    new ActivationSpec(Activation.Relu),
                    new ConvTranspose2dSpec(Down(c1, 2 * q, c2)),
                    new BatchNorm2dSpec(c1, 4 * q * q),
                    new ActivationSpec(Activation.Relu),
                    new ConvTranspose2dSpec(Down(1, side, c1)),
                    new ActivationSpec(Activation.Sigmoid),
                ]);
            }
            default:
            {
                // z → Linear → ReLU → Unflatten(c2, q, q) → ConvT(c2→c1) → ReLU → ConvT(c1→1) → logits (BCE) or Sigmoid (MSE)
                var (side, q, c1, c2) = ConvSizes();
                sigmoidAfter = Reconstruction == ReconstructionLoss.Bce;
                List<LayerSpec> layers =
                [
                    new LinearSpec(LatentSize, c2 * q * q),
                    new ActivationSpec(Activation.Relu),
                    new ReshapeSpec("Unflatten", c2 * q * q),
                    new ConvTranspose2dSpec(Down(c1, 2 * q, c2)),
                    new ActivationSpec(Activation.Relu),
                    new ConvTranspose2dSpec(Down(1, side, c1)),
                ];
                if (!sigmoidAfter) layers.Add(new ActivationSpec(Activation.Sigmoid));
                return new Sequential(layout, "decoder", LatentSize, layers);
            }
        }
    }

    /// <summary>The GAN's discriminator: samples → one logit.</summary>
    public Network BuildDiscriminator(ParameterLayout layout)
    {
        if (Model == ModelKind.Gan)
            return new Mlp(layout, "discriminator", [DataWidth, .. DiscriminatorHidden, 1], Activation.LeakyRelu, Activation.Identity, LeakySlope, SpectralNorm, ConditionWidth);
        if (Model != ModelKind.Dcgan) Throw.Argument($"{Model} has no discriminator");
        // Conv(1→c1, side→2q) → LeakyReLU → Conv(c1→c2, 2q→q) → LeakyReLU → Flatten → Linear → logit (no batch norm:
        // D sees real and fake rows as one batch, and batch statistics would mix them).
        var (side, q, c1, c2) = ConvSizes();
        return new Sequential(layout, "discriminator", DataWidth,
        [
            new Conv2dSpec(Down(1, side, c1)),
            new ActivationSpec(Activation.LeakyRelu, LeakySlope),
            new Conv2dSpec(Down(c1, 2 * q, c2)),
            new ActivationSpec(Activation.LeakyRelu, LeakySlope),
            new ReshapeSpec("Flatten", c2 * q * q),
            new LinearSpec(c2 * q * q, 1),
        ], SpectralNorm);
    }

    /// <summary>The VAE's encoder up to the hidden layer the μ and log σ² heads read (ReLU'd).</summary>
    public Network BuildEncoder(ParameterLayout layout)
    {
        if (Model == ModelKind.Vae)
            return new Mlp(layout, "encoder", [DataWidth, .. EncoderHidden], Activation.Relu, Activation.Relu, LeakySlope, conditionWidth: ConditionWidth);
        if (Model != ModelKind.ConvVae) Throw.Argument($"{Model} has no encoder");
        var (side, q, c1, c2) = ConvSizes();
        return new Sequential(layout, "encoder", DataWidth,
        [
            new Conv2dSpec(Down(1, side, c1)),
            new ActivationSpec(Activation.Relu),
            new Conv2dSpec(Down(c1, 2 * q, c2)),
            new ActivationSpec(Activation.Relu),
            new ReshapeSpec("Flatten", c2 * q * q),
            new LinearSpec(c2 * q * q, EncoderHidden[^1]),
            new ActivationSpec(Activation.Relu),
        ]);
    }

    private (int Side, int Quarter, int C1, int C2) ConvSizes() => (ImageSide, ImageSide / 4, ConvChannels[0], ConvChannels[1]);

    /// <summary>A 4×4, stride-2, padding-1 convolution that halves <paramref name="side"/>: channels → outChannels.</summary>
    private static ConvGeometry Down(int channels, int side, int outChannels) =>
        new(1, channels, side, side, outChannels, 4, 4, Stride: 2, Padding: 1);

    public string ToJson() => JsonSerializer.Serialize(this, ConfigJson.Default.ModelConfig);

    public static ModelConfig FromJson(string json, string source)
    {
        try
        {
            var config = JsonSerializer.Deserialize(json, ConfigJson.Default.ModelConfig)
                ?? Throw.User<ModelConfig>($"{source}: the model config is empty");
            config.Validate();
            return config;
        }
        catch (FinGenException e)
        {
            return Throw.User<ModelConfig>($"{source}: the model config is invalid: {e.Message}");
        }
        catch (JsonException e)
        {
            return Throw.User<ModelConfig>($"{source}: the model config is not valid JSON ({e.Message})");
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(ModelConfig))]
internal sealed partial class ConfigJson : JsonSerializerContext;
