using FinGen.Native.Backends;
using FinGen.Native.Memory;
using FinGen.Native.Randomness;

namespace FinGen.Native.Models;

/// <summary>Names and shapes of a network's parameters, collected before anything is allocated.</summary>
public sealed class ParameterLayout
{
    // Each tensor starts on a 64-byte boundary so SIMD loads of a row never straddle two tensors.
    private const int AlignFloats = 16;
    private readonly List<ParameterEntry> _entries = [];
    private readonly List<ParameterEntry> _buffers = [];

    public IReadOnlyList<ParameterEntry> Entries => _entries;

    /// <summary>Non-trainable state saved with the parameters (batch norm's running statistics).</summary>
    public IReadOnlyList<ParameterEntry> Buffers => _buffers;

    /// <summary>Floats in the block, alignment gaps included.</summary>
    public long Count { get; private set; }

    /// <summary>Floats in the buffer block, alignment gaps included.</summary>
    public long BufferCount { get; private set; }

    /// <param name="shape">the shape PyTorch gives the tensor when it is not [rows, cols] (e.g. a conv weight [K, C, R, S]).</param>
    /// <returns>The index of the new tensor.</returns>
    /// <param name="value">the fill value when <paramref name="init"/> is <see cref="ParameterInit.Constant"/>.</param>
    public int Add(string name, int rows, int cols, int fanIn, ParameterInit init = ParameterInit.Uniform, int[]? shape = null, float value = 0f)
    {
        CheckNew(name, rows, cols, shape);
        _entries.Add(new ParameterEntry(name, rows, cols, Count, fanIn, init, shape, value));
        Count += Aligned((long)rows * cols);
        return _entries.Count - 1;
    }

    /// <summary>A non-trainable vector of <paramref name="length"/> filled with <paramref name="initialValue"/>: no gradient, no optimizer state.</summary>
    /// <returns>The index of the new buffer.</returns>
    public int AddBuffer(string name, int length, float initialValue)
    {
        CheckNew(name, 1, length, null);
        _buffers.Add(new ParameterEntry(name, 1, length, BufferCount, 0, ParameterInit.Constant, [length], initialValue));
        BufferCount += Aligned(length);
        return _buffers.Count - 1;
    }

    /// <summary>
    /// A non-trainable vector of <paramref name="length"/> that starts as a unit vector in a random direction
    /// (<see cref="ParameterInit.UnitVector"/>): spectral normalization's u and v.
    /// </summary>
    /// <returns>The index of the new buffer.</returns>
    public int AddUnitVector(string name, int length)
    {
        CheckNew(name, 1, length, null);
        _buffers.Add(new ParameterEntry(name, 1, length, BufferCount, 0, ParameterInit.UnitVector, [length]));
        BufferCount += Aligned(length);
        return _buffers.Count - 1;
    }

    private void CheckNew(string name, int rows, int cols, int[]? shape)
    {
        if (_entries.Any(e => e.Name == name) || _buffers.Any(e => e.Name == name)) Throw.Argument($"parameter '{name}' added twice");
        if (shape is not null && shape.Aggregate(1L, (p, d) => p * d) != (long)rows * cols)
            Throw.Argument($"parameter '{name}': shape [{string.Join(",", shape)}] does not hold {rows}x{cols} values");
    }

    private static long Aligned(long count) => (count + AlignFloats - 1) / AlignFloats * AlignFloats;
}

/// <summary>How <see cref="ParameterSet.Initialize"/> fills a tensor.</summary>
public enum ParameterInit
{
    /// <summary>PyTorch's default for Linear and Conv layers: U(−1/√fanIn, 1/√fanIn).</summary>
    Uniform,
    /// <summary>Every element <see cref="ParameterEntry.Value"/> (batch norm's γ = 1, β = 0, running statistics).</summary>
    Constant,
    /// <summary>
    /// Philox normals of stream <see cref="Philox.Stream.SpectralNorm"/> divided by their norm: a random direction, as
    /// PyTorch's spectral_norm starts u and v (buffers only).
    /// </summary>
    UnitVector,
}

/// <param name="FanIn">The layer's input width, for PyTorch's default initialization U(−1/√fanIn, 1/√fanIn).</param>
/// <param name="Shape">The shape in a checkpoint when it is not [Rows, Cols] (or [Cols] for one row).</param>
/// <param name="Value">The fill value of a <see cref="ParameterInit.Constant"/> tensor.</param>
public sealed record ParameterEntry(string Name, int Rows, int Cols, long Offset, int FanIn,
    ParameterInit Init = ParameterInit.Uniform, int[]? Shape = null, float Value = 0f)
{
    public int Length => Rows * Cols;

    /// <summary>The tensor's shape in a checkpoint: PyTorch's, as given when added, else [Rows, Cols].</summary>
    public int[] ExportShape => Shape ?? [Rows, Cols];
}

/// <summary>
/// A network's parameters and their gradients: one allocation each, sliced into named tensors, so an
/// optimizer updates the whole network in one call over one contiguous block.
/// </summary>
public sealed class ParameterSet : IDisposable
{
    private readonly IBackend _backend;

    public ParameterSet(IBackend backend, ParameterLayout layout)
    {
        _backend = backend;
        Layout = layout;
        Values = backend.Allocate(layout.Count);
        Gradients = backend.Allocate(layout.Count);
        StateBuffers = layout.BufferCount > 0 ? backend.Allocate(layout.BufferCount) : null;
    }

    public ParameterLayout Layout { get; }
    public DeviceMemory Values { get; }
    public DeviceMemory Gradients { get; }
    /// <summary>The layout's buffers (null when it has none).</summary>
    public DeviceMemory? StateBuffers { get; }
    public IReadOnlyList<ParameterEntry> Entries => Layout.Entries;

    public Tensor Value(int index) => Slice(Values, index);
    public Tensor Gradient(int index) => Slice(Gradients, index);
    public Tensor Buffer(int index) => Slice(StateBuffers!, Layout.Buffers[index]);

    /// <summary>Parameters then buffers, named: what a checkpoint stores of this set (optimizer state aside).</summary>
    public IEnumerable<(Tensor Tensor, int[] Shape)> SavedTensors()
    {
        foreach (var e in Entries) yield return (Slice(Values, e), e.ExportShape);
        foreach (var e in Layout.Buffers) yield return (Slice(StateBuffers!, e), e.ExportShape);
    }

    public static Tensor Slice(DeviceMemory memory, ParameterEntry e) => memory.Slice(e.Offset, e.Rows, e.Cols, e.Name);

    private Tensor Slice(DeviceMemory memory, int index) => Slice(memory, Layout.Entries[index]);

    public void ZeroGradients() => _backend.Fill(Gradients.All(), 0f);

    /// <summary>
    /// PyTorch's nn.Linear default, U(−1/√fanIn, 1/√fanIn) for weights and biases, drawn from Philox so that
    /// the same seed gives the same network on every backend; constants for batch norm's γ, β and running
    /// statistics; random unit vectors for spectral normalization's u and v, drawn after every weight (so a network
    /// gets the same weights with and without them). <paramref name="offset"/> advances over the uniform tensors, then
    /// over the unit vectors (on their own stream).
    /// </summary>
    public void Initialize(ulong seed, ref ulong offset)
    {
        float[] host = new float[Layout.Count];
        foreach (var e in Entries)
        {
            var slice = host.AsSpan((int)e.Offset, e.Length);
            if (e.Init == ParameterInit.Constant)
            {
                slice.Fill(e.Value);
                continue;
            }
            Philox.FillUniform(slice, seed, (ulong)Philox.Stream.Init, offset);
            offset += (ulong)e.Length;
            float bound = 1f / MathF.Sqrt(e.FanIn);
            foreach (ref float v in slice) v = (2f * v - 1f) * bound;
        }
        _backend.Upload(host, Values.All());
        if (StateBuffers is null) return;
        float[] buffers = new float[Layout.BufferCount];
        foreach (var e in Layout.Buffers)
        {
            var slice = buffers.AsSpan((int)e.Offset, e.Length);
            if (e.Init != ParameterInit.UnitVector)
            {
                slice.Fill(e.Value);
                continue;
            }
            Philox.FillNormal(slice, seed, (ulong)Philox.Stream.SpectralNorm, offset);
            offset += (ulong)e.Length;
            double squares = 0;
            foreach (float x in slice) squares += (double)x * x;
            double norm = Math.Max(Math.Sqrt(squares), CpuReferenceBackend.SpectralNormEpsilon);
            foreach (ref float x in slice) x = (float)(x / norm);
        }
        _backend.Upload(buffers, StateBuffers.All());
    }

    public void Dispose()
    {
        StateBuffers?.Dispose();
        Values.Dispose();
        Gradients.Dispose();
    }
}
