using System.Text.Json;
using System.Text.Json.Serialization;

namespace FinGen.Native.Models;

public enum ModelKind { Gan, Vae }

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
    public float LeakySlope { get; set; } = 0.2f;
    /// <summary>The discriminator's target for real samples: below 1 is one-sided label smoothing (Salimans et al. 2016).</summary>
    public float RealLabel { get; set; } = 1f;
    public ReconstructionLoss Reconstruction { get; set; } = ReconstructionLoss.Bce;
    public OptimizerSettings Optimizer { get; set; } = new();
    public int BatchSize { get; set; } = 64;
    public ulong Seed { get; set; } = 42;

    /// <summary>The seed models: GAN z(100)→128→128→784 / 784→128→128→1 with Adam(2e-4, β1 0.5);
    /// VAE 784→128→(μ, log σ²) of 16 → 128→784 with Adam(2e-4, β1 0.9).</summary>
    public static ModelConfig Default(ModelKind kind) => kind == ModelKind.Vae
        ? new ModelConfig { Model = ModelKind.Vae, LatentSize = 16, Optimizer = new OptimizerSettings(Beta1: 0.9f) }
        : new ModelConfig();

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
        if (!(RealLabel > 0.5f && RealLabel <= 1f)) Throw.User($"real label {RealLabel} must be in (0.5, 1]");
        if (!(LeakySlope >= 0 && LeakySlope < 1)) Throw.User($"LeakyReLU slope {LeakySlope} must be in [0, 1)");
        Optimizer.Validate();
    }

    /// <summary>
    /// The network that turns latent noise into samples: the GAN's generator or the VAE's decoder, with the
    /// same parameter names as in training so a checkpoint's tensors load into it.
    /// </summary>
    /// <param name="sigmoidAfter">true when the network ends in logits that sampling passes through a sigmoid.</param>
    public Mlp BuildGenerator(ParameterLayout layout, out bool sigmoidAfter)
    {
        if (Model == ModelKind.Gan)
        {
            sigmoidAfter = false;
            return new Mlp(layout, "generator", [LatentSize, .. GeneratorHidden, DataWidth], Activation.LeakyRelu, Activation.Sigmoid, LeakySlope);
        }
        sigmoidAfter = Reconstruction == ReconstructionLoss.Bce;
        return new Mlp(layout, "decoder", [LatentSize, .. DecoderHidden, DataWidth], Activation.Relu,
            sigmoidAfter ? Activation.Identity : Activation.Sigmoid, LeakySlope);
    }

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
