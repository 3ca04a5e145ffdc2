using System.Globalization;
using FinGen.Native.Backends;
using FinGen.Native.Memory;
using FinGen.Native.Models;

namespace FinGen.Native.Checkpoints;

/// <summary>
/// A model and its training state as one safetensors file: parameters under PyTorch's names and shapes
/// (Linear weights [out, in], conv weights [K, C, R, S], biases [out], batch norm's running statistics), optimizer state beside them ("….adam_m"), and in
/// <c>__metadata__</c> the config JSON, the step, the RNG positions, the optimizer step counts and whatever
/// describes the data (e.g. the image encoding's bounds).
/// </summary>
public static class Checkpoint
{
    public const string FileName = "checkpoint.safetensors";
    private const string Prefix = "fingen.";

    public static void Save(string path, GenerativeModel model, IReadOnlyDictionary<string, string> dataMetadata)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [Prefix + "version"] = "1",
            [Prefix + "config"] = model.Config.ToJson(),
            [Prefix + "step"] = Invariant(model.State.Step),
            [Prefix + "rng.noise_offset"] = Invariant(model.State.NoiseOffset),
            [Prefix + "rng.batch_offset"] = Invariant(model.State.BatchOffset),
        };
        foreach (var (network, optimizer) in model.Optimizers()) metadata[$"{Prefix}optimizer.{network}.steps"] = Invariant(optimizer.Steps);
        foreach (var (key, value) in dataMetadata) metadata[Prefix + "data." + key] = value;

        var tensors = model.CheckpointTensors().Select(t => ToSafeTensor(model.Backend, t, model.CheckpointShape(t))).ToList();
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Reads and validates a checkpoint file: its safetensors structure and its config.</summary>
    public static CheckpointFile Read(string path)
    {
        var file = SafeTensors.Read(path);
        if (!file.Metadata.TryGetValue(Prefix + "config", out var json))
            Throw.User($"{path}: not a FinGen checkpoint (no '{Prefix}config' in the safetensors metadata)");
        var config = ModelConfig.FromJson(json, path);
        var data = file.Metadata.Where(kv => kv.Key.StartsWith(Prefix + "data.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[(Prefix.Length + 5)..], kv => kv.Value);
        return new CheckpointFile(path, config, file, data);
    }

    /// <summary>A model on <paramref name="backend"/> with every tensor and counter restored, ready to resume.</summary>
    public static GenerativeModel LoadModel(IBackend backend, CheckpointFile checkpoint)
    {
        var model = GenerativeModel.Create(backend, checkpoint.Config);
        try
        {
            foreach (var t in model.CheckpointTensors()) checkpoint.CopyInto(backend, t, model.CheckpointShape(t));
            model.State.Step = checkpoint.Long("step");
            model.State.NoiseOffset = (ulong)checkpoint.Long("rng.noise_offset");
            model.State.BatchOffset = (ulong)checkpoint.Long("rng.batch_offset");
            foreach (var (network, optimizer) in model.Optimizers()) optimizer.Steps = (int)checkpoint.Long($"optimizer.{network}.steps");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    internal static SafeTensorsTensor ToSafeTensor(IBackend backend, Tensor t, int[] shape)
    {
        var data = new float[t.Length];
        backend.Download(t, data);
        return new SafeTensorsTensor(t.Name, shape, data);
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Invariant(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    public sealed record CheckpointFile(string Path, ModelConfig Config, SafeTensorsFile File, IReadOnlyDictionary<string, string> Data)
    {
        public long Long(string key)
        {
            if (!File.Metadata.TryGetValue(Prefix + key, out var text))
                Throw.User($"{Path}: the checkpoint lacks '{Prefix}{key}' in its metadata");
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < 0)
                Throw.User($"{Path}: metadata '{Prefix}{key}' = '{text}' is not a non-negative integer");
            return value;
        }

        /// <summary>Copies the tensor of the same name into <paramref name="destination"/>, checking it has <paramref name="expected"/> shape.</summary>
        public void CopyInto(IBackend backend, Tensor destination, int[] expected)
        {
            var source = File.Get(destination.Name);
            // Checkpoints before 2026-11-28 stored a one-row weight (the discriminator's last layer, [1, 128]) as a vector.
            bool legacyVector = expected is [1, var cols] && source.Shape is [var length] && length == cols;
            if (!source.Shape.SequenceEqual(expected) && !legacyVector)
                Throw.User($"{Path}: tensor '{destination.Name}' has shape [{string.Join(",", source.Shape)}], the config needs [{string.Join(",", expected)}]");
            backend.Upload(source.Data, destination);
        }
    }
}
