using System.Runtime.InteropServices;
using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

/// <summary>
/// The values of a training step that change from one step to the next, in backend memory, where the ops that use
/// them read them when they run: the position of the step's noise in its Philox stream, and each optimizer's
/// hyper-parameters with Adam's step t. The host writes the whole block before every step (one
/// <see cref="IBackend.UploadScalars"/>: on CUDA an asynchronous copy from pinned memory, queued ahead of the step),
/// and a step's ops take only its address.
///
/// Why: a captured CUDA graph replays every op with the argument values it had at capture, so a step captured once can
/// be replayed every step only if nothing it passes by value changes. Going through every op a GAN, VAE, DCGAN or conv
/// VAE step issues: tensors are fixed addresses (the batch tensor, parameters, gradients, optimizer state, workspaces,
/// the label vectors filled once, batch norm's running and saved statistics, the loss slots the metrics are read
/// from after the step); the other scalars are constants of the config (loss scales 1/B, leaky-ReLU slopes, batch
/// norm's momentum and ε, the seed and Philox stream ids, convolution geometries). Only the noise offset and the
/// optimizers' t (and their learning rates, should a schedule ever change them) vary, so they alone live here. One small block (rather than a value per op) keeps it to one copy a
/// step, and the same block serves every backend: the CPU backends read it from their (host) memory, so the same
/// model code runs eagerly, captured or replayed, and a test can record a step on the CPU and replay it to prove
/// that nothing per-step was baked in.
///
/// Layout, in floats: [0, 2) the noise offset (a little-endian ulong in the two floats' bits); [2, 8) unused; then
/// one slot of <see cref="OptimizerSlotFloats"/> per optimizer: [lr, β1 (SGD: momentum), β2, ε, t (int32 bits), unused ×3].
/// </summary>
public sealed class StepScalars : IDisposable
{
    /// <summary>The most floats <see cref="IBackend.UploadScalars"/> copies at once (256 bytes).</summary>
    public const int MaxFloats = 64;

    public const int OptimizerSlotFloats = 8;
    private const int FirstOptimizerSlot = 8;

    /// <summary>Optimizer slots a block holds.</summary>
    public const int MaxOptimizers = (MaxFloats - FirstOptimizerSlot) / OptimizerSlotFloats;

    private readonly IBackend _backend;
    private readonly DeviceMemory _memory;
    private readonly float[] _host;

    /// <param name="optimizers">how many optimizer slots the block holds (1 to <see cref="MaxOptimizers"/>).</param>
    public StepScalars(IBackend backend, int optimizers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(optimizers, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(optimizers, MaxOptimizers);
        _backend = backend;
        Optimizers = optimizers;
        _host = new float[FirstOptimizerSlot + optimizers * OptimizerSlotFloats];
        _memory = backend.Allocate(_host.Length);
    }

    public int Optimizers { get; }

    /// <summary>[1, 2]: the noise offset as the ops read it.</summary>
    public Tensor NoiseOffset => _memory.Slice(0, 1, 2, "step.noise_offset");

    /// <summary>[1, <see cref="OptimizerSlotFloats"/>]: optimizer <paramref name="slot"/>'s hyper-parameters as the ops read them.</summary>
    public Tensor OptimizerHyper(int slot) => _memory.Slice(SlotStart(slot), 1, OptimizerSlotFloats, "step.optimizer");

    /// <summary>Sets the noise offset in the host copy (sent by <see cref="Upload"/>).</summary>
    public void SetNoiseOffset(ulong offset) => MemoryMarshal.Write(MemoryMarshal.AsBytes(_host.AsSpan(0, 2)), in offset);

    /// <summary>Adam's slot in the host copy (sent by <see cref="Upload"/>).</summary>
    public void SetAdam(int slot, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        var h = _host.AsSpan(SlotStart(slot), OptimizerSlotFloats);
        h[0] = learningRate; h[1] = beta1; h[2] = beta2; h[3] = epsilon;
        h[4] = BitConverter.Int32BitsToSingle(step);
    }

    /// <summary>SGD's slot in the host copy (sent by <see cref="Upload"/>).</summary>
    public void SetSgd(int slot, float learningRate, float momentum)
    {
        var h = _host.AsSpan(SlotStart(slot), OptimizerSlotFloats);
        h[0] = learningRate; h[1] = momentum;
    }

    /// <summary>Queues the copy of the whole block to the backend, ahead of the step that reads it. Never inside a capture.</summary>
    public void Upload() => _backend.UploadScalars(_host, _memory.All());

    private int SlotStart(int slot)
    {
        if ((uint)slot >= (uint)Optimizers) Throw.Argument($"optimizer slot {slot} outside the {Optimizers} of this block");
        return FirstOptimizerSlot + slot * OptimizerSlotFloats;
    }

    public void Dispose() => _memory.Dispose();

    // ---- how the CPU backends read a block (host memory), at the time the op runs

    /// <summary>The ulong in a [1, 2] noise-offset tensor (host memory).</summary>
    public static unsafe ulong ReadOffset(Tensor offset)
    {
        if (offset.Length < 2) Throw.Argument($"{offset}: a noise offset is two floats' bits");
        return *(ulong*)offset.Data;
    }

    public static (float LearningRate, float Momentum) ReadSgd(Tensor hyper)
    {
        if (hyper.Length < 2) Throw.Argument($"{hyper}: SGD's hyper-parameters are [lr, momentum]");
        var h = hyper.Span;
        return (h[0], h[1]);
    }

    public static (float LearningRate, float Beta1, float Beta2, float Epsilon, int Step) ReadAdam(Tensor hyper)
    {
        if (hyper.Length < 5) Throw.Argument($"{hyper}: Adam's hyper-parameters are [lr, β1, β2, ε, t]");
        var h = hyper.Span;
        return (h[0], h[1], h[2], h[3], BitConverter.SingleToInt32Bits(h[4]));
    }

    /// <summary>The checks every backend's <see cref="IBackend.UploadScalars"/> makes.</summary>
    public static void CheckUpload(ReadOnlySpan<float> source, Tensor destination)
    {
        if (source.Length > MaxFloats) Throw.Argument($"UploadScalars copies at most {MaxFloats} floats, not {source.Length}");
        if (source.Length > destination.Length) Throw.Argument($"upload of {source.Length} scalars into {destination}: destination too short");
    }
}
