namespace FinGen.Native.Memory;

/// <summary>
/// One allocation owned by a backend: host memory for the CPU backends, device memory for CUDA.
/// Tensors are slices of it; the owner disposes it once.
/// </summary>
public abstract unsafe class DeviceMemory : IDisposable
{
    protected DeviceMemory(long count) => Count = count;

    /// <summary>Number of floats.</summary>
    public long Count { get; }

    /// <summary>Base address (host or device, depending on the backend).</summary>
    public abstract float* Pointer { get; }

    /// <summary>A [rows, cols] view starting <paramref name="offset"/> floats in.</summary>
    public Tensor Slice(long offset, int rows, int cols, string name = "")
    {
        if (offset < 0 || offset + (long)rows * cols > Count)
            Throw.Argument($"slice '{name}' [{offset}, {offset + (long)rows * cols}) outside an allocation of {Count} floats");
        return new Tensor(Pointer + offset, rows, cols, name);
    }

    public Tensor All(string name = "") => Slice(0, 1, checked((int)Count), name);

    public abstract void Dispose();
}

/// <summary>Host memory: 64-byte aligned, zeroed, freed by its SafeHandle.</summary>
public sealed unsafe class HostMemory(long count) : DeviceMemory(count)
{
    private readonly NativeBuffer _buffer = new(count);

    public override float* Pointer => _buffer.Pointer;

    public override void Dispose() => _buffer.Dispose();
}
