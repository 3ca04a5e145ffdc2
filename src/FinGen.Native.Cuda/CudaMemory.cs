using FinGen.Native.Cuda.Interop;
using FinGen.Native.Memory;

namespace FinGen.Native.Cuda;

/// <summary>
/// Device memory from <see cref="CudaBackend.Allocate"/>. <see cref="DeviceMemory.Pointer"/> is the device address
/// cast to <c>float*</c>: tensors slice it with ordinary pointer arithmetic, but only the CUDA backend may
/// dereference it (never <see cref="Tensor.Span"/>). Freed by its SafeHandle, on the finalizer thread if need be.
/// </summary>
public sealed unsafe class CudaMemory : DeviceMemory
{
    private readonly DeviceAllocationHandle _allocation;

    internal CudaMemory(DeviceAllocationHandle allocation, long count) : base(count) => _allocation = allocation;

    public override float* Pointer => (float*)_allocation.Pointer;

    /// <summary>The <c>CUdeviceptr</c>.</summary>
    public ulong DevicePointer => _allocation.Pointer;

    /// <summary>cuMemFree synchronizes with the device, so work still queued on this memory finishes first.</summary>
    public override void Dispose() => _allocation.Dispose();
}
