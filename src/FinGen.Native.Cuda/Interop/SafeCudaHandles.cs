using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda.Interop;

/// <summary>
/// A device's primary context, retained once and released by <see cref="ReleaseHandle"/>. Every other CUDA
/// object holds a reference on it (<see cref="ContextBoundHandle"/>), so the context outlives all of them even
/// when they are released late, on the finalizer thread.
/// </summary>
internal sealed class PrimaryContextHandle : SafeHandle
{
    // Which context this thread last made current through us: a thread-static read per op instead of a driver call.
    [ThreadStatic] private static nint t_current;

    private PrimaryContextHandle(int device) : base(0, ownsHandle: true) => Device = device;

    public int Device { get; }

    public override bool IsInvalid => handle == 0;

    public static unsafe PrimaryContextHandle Retain(int device)
    {
        var safe = new PrimaryContextHandle(device);
        nint context;
        Check.Cu(Driver.cuDevicePrimaryCtxRetain(&context, device), nameof(Driver.cuDevicePrimaryCtxRetain));
        safe.SetHandle(context);
        return safe;
    }

    /// <summary>Makes the context current on the calling thread (CUDA contexts are per thread).</summary>
    public void MakeCurrent()
    {
        nint context = handle;
        if (t_current == context) return;
        Check.Cu(Driver.cuCtxSetCurrent(context), nameof(Driver.cuCtxSetCurrent));
        t_current = context;
    }

    /// <summary>As <see cref="MakeCurrent"/>, for release paths that must not throw.</summary>
    public CUresult TryMakeCurrent()
    {
        nint context = handle;
        if (t_current == context) return CUresult.Success;
        var status = Driver.cuCtxSetCurrent(context);
        if (status == CUresult.Success) t_current = context;
        return status;
    }

    protected override bool ReleaseHandle()
    {
        // The driver may already be shut down at process exit (CUDA_ERROR_DEINITIALIZED): nothing is left to free then.
        Driver.cuDevicePrimaryCtxRelease_v2(Device);
        if (t_current == handle) t_current = 0;
        return true;
    }
}

/// <summary>
/// A CUDA object that belongs to a context: it holds a reference on the context from birth, and its release
/// makes the context current (it may run on the finalizer thread) before destroying the object. Created only
/// once the native object exists, so an invalid handle never holds a reference.
/// </summary>
internal abstract class ContextBoundHandle : SafeHandle
{
    private readonly PrimaryContextHandle _context;

    protected ContextBoundHandle(PrimaryContextHandle context, nint value) : base(0, ownsHandle: true)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(value);
    }

    public override bool IsInvalid => handle == 0;

    public nint Value => handle;

    protected abstract void Destroy(nint value);

    protected sealed override bool ReleaseHandle()
    {
        // Errors are not actionable here (a release must not throw; at process exit the driver may be gone).
        if (_context.TryMakeCurrent() == CUresult.Success) Destroy(handle);
        _context.DangerousRelease();
        return true;
    }
}

/// <summary>Device memory from cuMemAlloc_v2.</summary>
internal sealed class DeviceAllocationHandle : ContextBoundHandle
{
    private DeviceAllocationHandle(PrimaryContextHandle context, ulong pointer, nuint bytes) : base(context, (nint)pointer) => Bytes = bytes;

    public ulong Pointer => (ulong)Value;

    public nuint Bytes { get; }

    /// <summary>Allocates on the current context (the caller made <paramref name="context"/> current).</summary>
    public static unsafe DeviceAllocationHandle Allocate(PrimaryContextHandle context, nuint bytes)
    {
        ulong pointer;
        Check.Cu(Driver.cuMemAlloc_v2(&pointer, bytes), nameof(Driver.cuMemAlloc_v2));
        return new DeviceAllocationHandle(context, pointer, bytes);
    }

    protected override void Destroy(nint value) => Driver.cuMemFree_v2((ulong)value);
}

/// <summary>Page-locked host memory from cuMemAllocHost_v2: the source of truly asynchronous host-to-device copies.</summary>
internal sealed unsafe class PinnedHostHandle : ContextBoundHandle
{
    private PinnedHostHandle(PrimaryContextHandle context, void* pointer) : base(context, (nint)pointer) { }

    public byte* Pointer => (byte*)Value;

    public static PinnedHostHandle Allocate(PrimaryContextHandle context, nuint bytes)
    {
        void* pointer;
        Check.Cu(Driver.cuMemAllocHost_v2(&pointer, bytes), nameof(Driver.cuMemAllocHost_v2));
        return new PinnedHostHandle(context, pointer);
    }

    protected override void Destroy(nint value) => Driver.cuMemFreeHost((void*)value);
}

internal sealed class SafeStreamHandle : ContextBoundHandle
{
    private SafeStreamHandle(PrimaryContextHandle context, nint stream) : base(context, stream) { }

    public static unsafe SafeStreamHandle Create(PrimaryContextHandle context)
    {
        nint stream;
        // Non-blocking: never ordered with the legacy default stream, so another thread's synchronous copy (a Download on
        // another backend) neither waits for this stream nor invalidates a capture in progress on it.
        Check.Cu(Driver.cuStreamCreate(&stream, Driver.StreamNonBlocking), nameof(Driver.cuStreamCreate));
        return new SafeStreamHandle(context, stream);
    }

    protected override void Destroy(nint value) => Driver.cuStreamDestroy_v2(value);
}

internal sealed class SafeEventHandle : ContextBoundHandle
{
    private SafeEventHandle(PrimaryContextHandle context, nint @event) : base(context, @event) { }

    public static unsafe SafeEventHandle Create(PrimaryContextHandle context, uint flags)
    {
        nint @event;
        Check.Cu(Driver.cuEventCreate(&@event, flags), nameof(Driver.cuEventCreate));
        return new SafeEventHandle(context, @event);
    }

    protected override void Destroy(nint value) => Driver.cuEventDestroy_v2(value);
}

internal sealed class SafeModuleHandle : ContextBoundHandle
{
    private SafeModuleHandle(PrimaryContextHandle context, nint module) : base(context, module) { }

    /// <summary>Loads a fatbin (or cubin/PTX) image. The image must stay alive while the module is loaded: with lazy
    /// loading (CUDA 12.2+) the driver reads it again when functions are fetched.</summary>
    public static unsafe SafeModuleHandle Load(PrimaryContextHandle context, void* image)
    {
        nint module;
        Check.Cu(Driver.cuModuleLoadData(&module, image), nameof(Driver.cuModuleLoadData));
        return new SafeModuleHandle(context, module);
    }

    protected override void Destroy(nint value) => Driver.cuModuleUnload(value);
}

internal sealed class SafeGraphHandle(PrimaryContextHandle context, nint graph) : ContextBoundHandle(context, graph)
{
    protected override void Destroy(nint value) => Driver.cuGraphDestroy(value);
}

internal sealed class SafeGraphExecHandle(PrimaryContextHandle context, nint graphExec) : ContextBoundHandle(context, graphExec)
{
    protected override void Destroy(nint value) => Driver.cuGraphExecDestroy(value);
}
