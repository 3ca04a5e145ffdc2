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

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically (see <see cref="SafeTensors.Write"/>).</summary>
    /// <param name="run">What the run that writes it was started with, recorded so that <c>fingen train --resume DIR</c> can finish it alike.</param>
    /// <param name="replace">False to refuse an existing file (claiming a new run folder).</param>
    /// <exception cref="NonFiniteCheckpointException">A parameter or optimizer value is NaN or infinite: nothing is written.</exception>
    public static void Save(string path, GenerativeModel model, IReadOnlyDictionary<string, string> dataMetadata, RunRecord? run = null, bool replace = true)
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
        if (run is not null)
        {
            metadata[Prefix + UntilStepKey] = Invariant(run.UntilStep);
            metadata[Prefix + CheckpointEveryKey] = Invariant(run.CheckpointEvery);
        }
        foreach (var (key, value) in dataMetadata) metadata[Prefix + "data." + key] = value;

        var tensors = model.CheckpointTensors().Select(t => ToSafeTensor(model.Backend, t, model.CheckpointShape(t))).ToList();
        foreach (var t in tensors)
        {
            int bad = FirstNonFinite(t.Data);
            if (bad >= 0) throw new NonFiniteCheckpointException(path, t.Name, t.Data[bad], model.State.Step);
        }
        SafeTensors.Write(path, tensors, metadata, replace);
    }

    /// <summary>The metadata key (after <c>fingen.</c>) of the step a run was started to reach.</summary>
    public const string UntilStepKey = "run.until_step";

    /// <summary>The metadata key (after <c>fingen.</c>) of the run's checkpoint interval in steps.</summary>
    public const string CheckpointEveryKey = "run.checkpoint_every";

    /// <summary>Index of the first NaN or infinity in <paramref name="values"/>, or −1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        // A vectorized sum of a block, times 0, is 0 when every value is finite and NaN when one is NaN or ±∞, so a clean
        // block costs one SIMD pass; a NaN result (or a sum of finite values that overflowed) is then scanned exactly.
        const int Block = 4096;
        for (int start = 0; start < values.Length; start += Block)
        {
            var block = values.Slice(start, Math.Min(Block, values.Length - start));
            if (float.IsFinite(System.Numerics.Tensors.TensorPrimitives.Sum(block) * 0f)) continue;
            for (int i = 0; i < block.Length; i++)
                if (!float.IsFinite(block[i])) return start + i;
        }
        return -1;
    }

    /// <summary>Reads and validates a checkpoint file: its safetensors structure and its config.</summary>
    public static CheckpointFile Read(string path)
    {
        var file = SafeTensors.Read(path);
        if (!file.Metadata.TryGetValue(Prefix + "config", out var json))
            Throw.User($"{path}: not a FinGen checkpoint (no '{Prefix}config' in the safetensors metadata)");
        var config = ModelConfig.FromJson(json, path);
        foreach (var entry in file.Entries)
        {
            if (entry.DType != "F32") continue;
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(entry.Bytes.Span);
            int bad = FirstNonFinite(values);
            if (bad >= 0)
                Throw.User($"{path}: tensor '{entry.Name}' holds {Describe(values[bad])} (the run diverged); use a checkpoint from before, or train again with a lower --lr");
        }
        var data = file.Metadata.Where(kv => kv.Key.StartsWith(Prefix + "data.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[(Prefix.Length + 5)..], kv => kv.Value);
        CheckDataMetadata(path, config, data);
        return new CheckpointFile(path, config, file, data);
    }

    /// <summary>
    /// The data metadata is read again by sample, eval and resume (the encoding to decode with, the data options to
    /// reload with): check it once here, so a damaged or lying checkpoint is one message naming the file, up front.
    /// </summary>
    private static void CheckDataMetadata(string path, ModelConfig config, IReadOnlyDictionary<string, string> data)
    {
        Data.IImageEncoding? encoding;
        try
        {
            encoding = Data.DataSets.EncodingOf(data);
            Data.DataOptions.FromMetadata(data);
        }
        catch (FinGenException e)
        {
            throw new FinGenException($"{path}: {e.Message}", e);
        }
        if (encoding is not null && encoding.Height * encoding.Width != config.DataWidth)
            Throw.User($"{path}: its data metadata describe {encoding.Height}×{encoding.Width} images (window_length {encoding.WindowLength}), but the model's samples have {config.DataWidth} values");
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

    internal static string Describe(float value) => float.IsNaN(value) ? "NaN" : value > 0 ? "+∞" : "−∞";

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Invariant(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    public sealed record CheckpointFile(string Path, ModelConfig Config, SafeTensorsFile File, IReadOnlyDictionary<string, string> Data)
    {
        /// <summary>The step the run that wrote this checkpoint was started to reach; null for checkpoints that predate it.</summary>
        public long? UntilStep => File.Metadata.ContainsKey(Prefix + UntilStepKey) ? Long(UntilStepKey) : null;

        /// <summary>The run's checkpoint interval in steps; null for checkpoints that predate it.</summary>
        public int? CheckpointEvery => File.Metadata.ContainsKey(Prefix + CheckpointEveryKey) ? (int)Math.Clamp(Long(CheckpointEveryKey), 1, int.MaxValue) : null;

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

/// <summary>What a run folder's checkpoint records about the run, so that resuming it in place finishes it alike.</summary>
/// <param name="UntilStep">The step the run was started to reach.</param>
/// <param name="CheckpointEvery">Steps between its periodic checkpoints.</param>
public sealed record RunRecord(long UntilStep, int CheckpointEvery);

/// <summary>A model about to be checkpointed holds NaN or ±∞: training diverged, and nothing was written.</summary>
public sealed class NonFiniteCheckpointException(string path, string tensor, float value, long step)
    : Exception($"{path}: not written: tensor '{tensor}' holds {Checkpoint.Describe(value)} at step {step}")
{
    public string Tensor { get; } = tensor;
    public long Step { get; } = step;
}
