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

    public IReadOnlyList<ParameterEntry> Entries => _entries;

    /// <summary>Floats in the block, alignment gaps included.</summary>
    public long Count { get; private set; }

    /// <returns>The index of the new tensor.</returns>
    public int Add(string name, int rows, int cols, int fanIn)
    {
        if (_entries.Any(e => e.Name == name)) Throw.Argument($"parameter '{name}' added twice");
        _entries.Add(new ParameterEntry(name, rows, cols, Count, fanIn));
        Count += ((long)rows * cols + AlignFloats - 1) / AlignFloats * AlignFloats;
        return _entries.Count - 1;
    }
}

/// <param name="FanIn">The layer's input width, for PyTorch's default initialization U(−1/√fanIn, 1/√fanIn).</param>
public sealed record ParameterEntry(string Name, int Rows, int Cols, long Offset, int FanIn)
{
    public int Length => Rows * Cols;
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
    }

    public ParameterLayout Layout { get; }
    public DeviceMemory Values { get; }
    public DeviceMemory Gradients { get; }
    public IReadOnlyList<ParameterEntry> Entries => Layout.Entries;

    public Tensor Value(int index) => Slice(Values, index);
    public Tensor Gradient(int index) => Slice(Gradients, index);

    public static Tensor Slice(DeviceMemory memory, ParameterEntry e) => memory.Slice(e.Offset, e.Rows, e.Cols, e.Name);

    private Tensor Slice(DeviceMemory memory, int index) => Slice(memory, Layout.Entries[index]);

    public void ZeroGradients() => _backend.Fill(Gradients.All(), 0f);

    /// <summary>
    /// PyTorch's nn.Linear default, U(−1/√fanIn, 1/√fanIn) for weights and biases, drawn from Philox so that
    /// the same seed gives the same network on every backend. <paramref name="offset"/> advances.
    /// </summary>
    public void Initialize(ulong seed, ref ulong offset)
    {
        float[] host = new float[Layout.Count];
        foreach (var e in Entries)
        {
            var slice = host.AsSpan((int)e.Offset, e.Length);
            Philox.FillUniform(slice, seed, (ulong)Philox.Stream.Init, offset);
            offset += (ulong)e.Length;
            float bound = 1f / MathF.Sqrt(e.FanIn);
            foreach (ref float v in slice) v = (2f * v - 1f) * bound;
        }
        _backend.Upload(host, Values.All());
    }

    public void Dispose()
    {
        Values.Dispose();
        Gradients.Dispose();
    }
}
