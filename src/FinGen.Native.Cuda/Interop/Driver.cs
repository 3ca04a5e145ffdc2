using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda.Interop;

/// <summary>
/// The CUDA driver API (<c>libcuda.so.1</c>), only what the engine calls. Entry points are the symbols the driver
/// exports, so the versioned ones carry their suffix (cuda.h maps <c>cuMemAlloc</c> to <c>cuMemAlloc_v2</c>, and so
/// on). Handles are raw: <c>CUcontext</c>, <c>CUstream</c>, <c>CUevent</c>, <c>CUmodule</c>, <c>CUfunction</c>,
/// <c>CUgraph</c> and <c>CUgraphExec</c> are pointers (<see cref="nint"/>), <c>CUdevice</c> is an int and
/// <c>CUdeviceptr</c> a 64-bit integer (<see cref="ulong"/>). Every signature is blittable, so the generated stubs
/// marshal nothing. Ownership lives in <see cref="SafeCudaHandles"/>; statuses are checked through <see cref="Check"/>.
/// </summary>
internal static unsafe partial class Driver
{
    public const string Library = NativeLibraries.Cuda;

    // ---- initialization, version, errors
    [LibraryImport(Library)] internal static partial CUresult cuInit(uint flags);
    [LibraryImport(Library)] internal static partial CUresult cuDriverGetVersion(int* driverVersion);
    [LibraryImport(Library)] internal static partial CUresult cuGetErrorName(CUresult error, byte** name);
    [LibraryImport(Library)] internal static partial CUresult cuGetErrorString(CUresult error, byte** text);

    // ---- devices
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGetCount(int* count);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGetAttribute(int* value, CUdeviceAttribute attribute, int device);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceTotalMem_v2(nuint* bytes, int device);

    // ---- contexts: the device's primary context, the one the runtime (and so cuBLAS) shares
    [LibraryImport(Library)] internal static partial CUresult cuDevicePrimaryCtxRetain(nint* context, int device);
    [LibraryImport(Library)] internal static partial CUresult cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(Library)] internal static partial CUresult cuCtxSetCurrent(nint context);

    // ---- memory
    [LibraryImport(Library)] internal static partial CUresult cuMemAlloc_v2(ulong* pointer, nuint bytes);
    [LibraryImport(Library)] internal static partial CUresult cuMemFree_v2(ulong pointer);
    [LibraryImport(Library)] internal static partial CUresult cuMemAllocHost_v2(void** pointer, nuint bytes);
    [LibraryImport(Library)] internal static partial CUresult cuMemFreeHost(void* pointer);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoD_v2(ulong destination, ulong source, nuint bytes);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuMemsetD32Async(ulong destination, uint value, nuint count, nint stream);

    // ---- streams and events
    [LibraryImport(Library)] internal static partial CUresult cuStreamCreate(nint* stream, uint flags);
    [LibraryImport(Library)] internal static partial CUresult cuStreamDestroy_v2(nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuStreamSynchronize(nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuEventCreate(nint* @event, uint flags);
    [LibraryImport(Library)] internal static partial CUresult cuEventRecord(nint @event, nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuEventSynchronize(nint @event);
    [LibraryImport(Library)] internal static partial CUresult cuEventElapsedTime(float* milliseconds, nint start, nint end);
    [LibraryImport(Library)] internal static partial CUresult cuEventDestroy_v2(nint @event);

    // ---- modules and launches
    [LibraryImport(Library)] internal static partial CUresult cuModuleLoadData(nint* module, void* image);
    [LibraryImport(Library)] internal static partial CUresult cuModuleUnload(nint module);
    [LibraryImport(Library)] internal static partial CUresult cuModuleGetFunction(nint* function, nint module, byte* name);

    [LibraryImport(Library)]
    internal static partial CUresult cuLaunchKernel(nint function,
        uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemoryBytes, nint stream, void** kernelParameters, void** extra);

    // ---- graphs (stream capture)
    [LibraryImport(Library)] internal static partial CUresult cuStreamBeginCapture_v2(nint stream, CUstreamCaptureMode mode);
    [LibraryImport(Library)] internal static partial CUresult cuStreamEndCapture(nint stream, nint* graph);
    [LibraryImport(Library)] internal static partial CUresult cuGraphInstantiateWithFlags(nint* graphExec, nint graph, ulong flags);
    [LibraryImport(Library)] internal static partial CUresult cuGraphLaunch(nint graphExec, nint stream);
    [LibraryImport(Library)] internal static partial CUresult cuGraphExecDestroy(nint graphExec);
    [LibraryImport(Library)] internal static partial CUresult cuGraphDestroy(nint graph);

    // ---- flags (cuda.h)
    /// <summary>CU_STREAM_DEFAULT: a blocking stream, ordered with the legacy default stream.</summary>
    public const uint StreamDefault = 0;
    /// <summary>CU_STREAM_NON_BLOCKING: no implicit ordering with the legacy default stream (the backend's stream).</summary>
    public const uint StreamNonBlocking = 1;
    public const uint EventDefault = 0;
    /// <summary>CU_EVENT_DISABLE_TIMING: the cheapest event, for ordering only.</summary>
    public const uint EventDisableTiming = 2;
}

/// <summary>The <c>CUresult</c> values the engine names; any other is reported through cuGetErrorName.</summary>
internal enum CUresult
{
    Success = 0,
    ErrorInvalidValue = 1,
    ErrorOutOfMemory = 2,
    ErrorNotInitialized = 3,
    ErrorDeinitialized = 4,
    ErrorNoDevice = 100,
    ErrorNoBinaryForGpu = 209,
    ErrorNotFound = 500,
}

/// <summary><c>CUdevice_attribute</c>: only the ones the engine reads.</summary>
internal enum CUdeviceAttribute
{
    MultiprocessorCount = 16,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
}

internal enum CUstreamCaptureMode
{
    Global = 0,
    /// <summary>Only this thread's unsafe calls (allocation, synchronization) invalidate the capture.</summary>
    ThreadLocal = 1,
    Relaxed = 2,
}
