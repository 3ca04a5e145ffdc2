using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FinGen.Native.Backends;
using FinGen.Native.Cuda.Interop;
using FinGen.Native.Memory;
using FinGen.Native.Models;

namespace FinGen.Native.Cuda;

/// <summary>How cuBLAS multiplies fp32 matrices.</summary>
public enum CudaMath
{
    /// <summary>Full fp32 (CUBLAS_DEFAULT_MATH): the default, and what the parity tests hold to CPU tolerances.</summary>
    Fp32,
    /// <summary>TF32 tensor cores (inputs rounded to a 10-bit mantissa): faster, only when asked for; the backend's name says so.</summary>
    Tf32,
}

/// <summary>
/// The CUDA backend: the hand-written kernels of kernels/ (a fatbin embedded in this assembly, loaded with
/// cuModuleLoadData) for every op but the GEMMs, which are cuBLAS SGEMMs. Everything is queued on one stream of
/// the device's primary context, in order, with no implicit synchronization: only <see cref="Download"/>,
/// <see cref="Synchronize"/> and uploads larger than 4 MiB wait for the device (smaller ones are staged in pinned
/// memory and return at once). Ops allocate nothing managed: kernel
/// arguments are a stackalloc'd array of pointers to locals, CUfunction handles are looked up once, and small
/// uploads (a step's <see cref="StepScalars"/>, the by-value optimizers' hyper-parameters) go through a pinned ring
/// allocated at creation.
///
/// Graphs (<see cref="IGraphBackend"/>, <see cref="CudaGraph"/>): every op but those that wait or allocate can be
/// captured, the optimizers and noise included in their step-scalar forms, which read their per-step values from
/// device memory when they run.
///
/// Same contracts as <see cref="IBackend"/> and the CPU reference (the oracle of its parity tests). Not thread-safe:
/// one thread at a time, though not always the same one (each op makes the context current on its thread).
/// </summary>
public sealed unsafe partial class CudaBackend : IGraphBackend
{
    // The staging ring of UploadScalars: pinned slots of StepScalars.MaxFloats floats, each reused only once the copy
    // that last read it has completed (its event), so a host write never races a pending copy.
    private const int StagingSlots = 64;
    private const int StagingSlotBytes = StepScalars.MaxFloats * sizeof(float);

    // Uploads up to this size (a training batch) are staged in one of two pinned buffers and not waited for, so the
    // host gathers the next batch while the device runs the step; each buffer is rewritten only after its last copy
    // has completed (its event). Larger uploads (initial weights, checkpoints) copy from the caller's memory and wait.
    private const int UploadStagingBytes = 4 << 20;

    // cuBLAS's workspace, set explicitly so that a captured SGEMM uses this fixed buffer instead of allocating one
    // inside the capture (cuBLAS's advice for graphs; 32 MiB is its recommendation for Hopper, more than enough before).
    private const int CublasWorkspaceBytes = 32 << 20;

    private readonly List<SafeHandle> _owned = [];
    private readonly PrimaryContextHandle _context;
    private readonly nint _stream, _cublas;
    private readonly KernelTable _kernels;
    private readonly byte*[] _uploadHost = new byte*[2];
    private readonly nint[] _uploadCopied = new nint[2];
    private int _nextUpload;
    private readonly byte* _stagingHost;
    private readonly nint[] _stagingCopied;
    private int _nextStagingSlot;
    // The device slot the by-value SgdStep/AdamStep stage their hyper-parameters in (StepScalars' optimizer slot layout).
    private readonly Tensor _byValueHyper;
    // The loss forwards' stage-1 partial sums (LaunchConfiguration.MaxLossBlocks doubles); one stream orders their uses.
    private readonly double* _lossPartials;
    // ⟨G, W⟩ of SpectralNormBackward, between its two launches (one double; one stream orders its uses).
    private readonly double* _spectralDot;
    // The per-channel reductions' partial sums and statistics (CudaBackend.BatchNorm.cs); one stream orders their uses.
    private DeviceAllocationHandle? _channelWorkspace;
    private bool _disposed;
    private readonly List<string> _notes = [];

    // cuDNN for the convolutions: made on first use (cuDNN is optional), then one plan per geometry and one workspace.
    private nint _cudnn;
    private readonly Dictionary<ConvGeometry, ConvPlan> _convPlans = [];
    private DeviceAllocationHandle? _workspace;
    // Workspaces outgrown after a graph was captured: a graph may still launch work that uses them, so they live as long as the backend.
    private readonly List<DeviceAllocationHandle> _retiredWorkspaces = [];

    private CudaBackend(int ordinal, CudaMath math, KernelImage image)
    {
        try
        {
            int device;
            Check.Cu(Driver.cuDeviceGet(&device, ordinal), nameof(Driver.cuDeviceGet));
            _context = Own(PrimaryContextHandle.Retain(device));
            _context.MakeCurrent();
            _stream = Own(SafeStreamHandle.Create(_context)).Value;
            _kernels = new KernelTable(Own(LoadKernels(image, device)).Value, image.Description);

            _cublas = Own(SafeCublasHandle.Create(_context)).Value;
            Check.Blas(Cublas.cublasSetStream_v2(_cublas, _stream), nameof(Cublas.cublasSetStream_v2));
            Check.Blas(Cublas.cublasSetMathMode(_cublas, math == CudaMath.Tf32 ? CublasMath.Tf32TensorOp : CublasMath.Default),
                nameof(Cublas.cublasSetMathMode));

            var cublasWorkspace = Own(DeviceAllocationHandle.Allocate(_context, CublasWorkspaceBytes));
            // After cublasSetStream, which resets the workspace to cuBLAS's own pool.
            Check.Blas(Cublas.cublasSetWorkspace_v2(_cublas, (void*)cublasWorkspace.Pointer, CublasWorkspaceBytes),
                nameof(Cublas.cublasSetWorkspace_v2));

            for (int i = 0; i < 2; i++)
            {
                _uploadHost[i] = Own(PinnedHostHandle.Allocate(_context, UploadStagingBytes)).Pointer;
                _uploadCopied[i] = Own(SafeEventHandle.Create(_context, Driver.EventDisableTiming)).Value;
            }
            _stagingHost = Own(PinnedHostHandle.Allocate(_context, StagingSlots * StagingSlotBytes)).Pointer;
            _stagingCopied = new nint[StagingSlots];
            for (int i = 0; i < StagingSlots; i++) _stagingCopied[i] = Own(SafeEventHandle.Create(_context, Driver.EventDisableTiming)).Value;
            var byValueHyper = Own(DeviceAllocationHandle.Allocate(_context, StepScalars.OptimizerSlotFloats * sizeof(float)));
            _byValueHyper = new Tensor((float*)byValueHyper.Pointer, 1, StepScalars.OptimizerSlotFloats, "by_value_hyper");
            _lossPartials = (double*)Own(DeviceAllocationHandle.Allocate(_context, LaunchConfiguration.MaxLossBlocks * sizeof(double))).Pointer;
            _spectralDot = (double*)Own(DeviceAllocationHandle.Allocate(_context, sizeof(double))).Pointer;
            _channelWorkspace = AllocateChannelWorkspace((nuint)LaunchConfiguration.PreallocatedChannelWorkspaceDoubles * sizeof(double));

            Math = math;
            Info = CudaDeviceInfo.Query(ordinal, _cublas);
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>
    /// Says whether CUDA is usable here and why not: cuInit with at least one device, the kernels present, cuBLAS
    /// loadable. Cheap after the first call; never throws for a missing GPU or library.
    /// </summary>
    public static CudaAvailability Probe() => CudaAvailability.Probe();

    /// <summary>
    /// A backend on device <paramref name="device"/>. Throws a <see cref="FinGenException"/> with a one-line reason
    /// when CUDA is not usable (the reason <see cref="Probe"/> gives) or the set-up fails.
    /// </summary>
    public static CudaBackend Create(int device = 0, CudaMath math = CudaMath.Fp32)
    {
        var availability = Probe();
        if (!availability.IsAvailable) throw new FinGenException(availability.Reason);
        if ((uint)device >= (uint)availability.DeviceCount)
            throw new FinGenException($"CUDA device {device} does not exist ({availability.DeviceCount} found)");
        var image = KernelImage.Locate(out string problem) ?? throw new FinGenException(problem);
        try
        {
            return new CudaBackend(device, math, image);
        }
        catch (CudaException e)
        {
            throw new FinGenException($"CUDA set-up on device {device} failed: {e.Message}", e);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new FinGenException($"CUDA set-up on device {device} failed: a CUDA library is too old ({e.Message})", e);
        }
    }

    /// <summary>"cuda", or "cuda-tf32" when GEMMs may use TF32.</summary>
    public string Name => Math == CudaMath.Tf32 ? "cuda-tf32" : "cuda";

    public CudaMath Math { get; }

    /// <summary>The device and library versions, for <c>fingen info</c> and logs.</summary>
    public CudaDeviceInfo Info { get; } = null!;

    /// <summary>What the backend had to settle for, one line each (e.g. a non-deterministic cuDNN algorithm); empty when nothing.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>A graph that captures work queued on this backend's stream (see <see cref="CudaGraph"/>).</summary>
    public CudaGraph CreateGraph()
    {
        Enter();
        return new CudaGraph(this);
    }

    IBackendGraph IGraphBackend.CreateGraph() => CreateGraph();

    /// <summary>Set once a graph has been instantiated: from then on no buffer a captured op may use is freed before the backend.</summary>
    internal bool GraphsExist { get; set; }

    /// <summary>A pair of events that times work on this backend's stream.</summary>
    public CudaTimer CreateTimer()
    {
        Enter();
        return new CudaTimer(this);
    }

    internal PrimaryContextHandle Context => _context;
    internal nint Stream => _stream;

    /// <summary>Set while a <see cref="CudaGraph"/> captures the stream: calls that wait for the device are refused then.</summary>
    internal bool Capturing { get; set; }

    // ---- memory

    public DeviceMemory Allocate(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        EnterWaiting();
        long floats = System.Math.Max(1, count); // cuMemAlloc refuses 0 bytes; an empty allocation still gets an address
        DeviceAllocationHandle allocation;
        try
        {
            allocation = DeviceAllocationHandle.Allocate(_context, (nuint)floats * sizeof(float));
        }
        catch (CudaException e) when (e.Status == (int)CUresult.ErrorOutOfMemory)
        {
            throw new FinGenException($"out of GPU memory allocating {floats * sizeof(float)} bytes on {Info.Name} ({e.Message})", e);
        }
        try
        {
            // Queued on the stream like every op, so whatever is queued next sees zeros.
            Check.Cu(Driver.cuMemsetD32Async(allocation.Pointer, 0, (nuint)floats, _stream), nameof(Driver.cuMemsetD32Async));
        }
        catch
        {
            allocation.Dispose();
            throw;
        }
        return new CudaMemory(allocation, count);
    }

    public void Upload(ReadOnlySpan<float> source, Tensor destination)
    {
        if (source.Length > destination.Length) Throw.Argument($"upload of {source.Length} values into {destination}: destination too short");
        EnterWaiting();
        if (source.Length == 0) return;
        nuint bytes = Bytes(source.Length);
        if (bytes <= UploadStagingBytes)
        {
            int slot = _nextUpload;
            _nextUpload = 1 - slot;
            Check.Cu(Driver.cuEventSynchronize(_uploadCopied[slot]), nameof(Driver.cuEventSynchronize));
            source.CopyTo(new Span<float>(_uploadHost[slot], source.Length));
            Check.Cu(Driver.cuMemcpyHtoDAsync_v2(Address(destination), _uploadHost[slot], bytes, _stream), nameof(Driver.cuMemcpyHtoDAsync_v2));
            Check.Cu(Driver.cuEventRecord(_uploadCopied[slot], _stream), nameof(Driver.cuEventRecord));
            return;
        }
        fixed (float* host = source)
        {
            Check.Cu(Driver.cuMemcpyHtoDAsync_v2(Address(destination), host, Bytes(source.Length), _stream), nameof(Driver.cuMemcpyHtoDAsync_v2));
            // The source is pageable memory the caller may reuse as soon as we return.
            Check.Cu(Driver.cuStreamSynchronize(_stream), nameof(Driver.cuStreamSynchronize));
        }
    }

    public void Download(Tensor source, Span<float> destination)
    {
        if (destination.Length < source.Length) Throw.Argument($"download of {source} into {destination.Length} values: destination too short");
        EnterWaiting();
        if (source.Length == 0) return;
        // Everything queued so far must be done before the copy reads the device; this is also where a failed
        // kernel surfaces. The stream is idle afterwards, so the synchronous copy waits for nothing else.
        Check.Cu(Driver.cuStreamSynchronize(_stream), nameof(Driver.cuStreamSynchronize));
        fixed (float* host = destination)
            Check.Cu(Driver.cuMemcpyDtoH_v2(host, Address(source), Bytes(source.Length)), nameof(Driver.cuMemcpyDtoH_v2));
    }

    public void Fill(Tensor destination, float value)
    {
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        void** args = stackalloc void*[] { &y, &value, &n };
        LaunchElementwise(_kernels.Fill, n, args);
    }

    public void Copy(Tensor source, Tensor destination)
    {
        if (source.Length != destination.Length) Throw.Argument($"copy {source} into {destination}: lengths differ");
        Enter();
        if (source.Length == 0) return;
        Check.Cu(Driver.cuMemcpyDtoDAsync_v2(Address(destination), Address(source), Bytes(source.Length), _stream), nameof(Driver.cuMemcpyDtoDAsync_v2));
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        Shapes.Same(a, b); Shapes.Same(a, y);
        Enter();
        float* pa = a.Data, pb = b.Data, py = y.Data;
        int n = a.Length;
        void** args = stackalloc void*[] { &pa, &pb, &py, &n };
        LaunchElementwise(_kernels.Add, n, args);
    }

    public void Synchronize()
    {
        EnterWaiting();
        Check.Cu(Driver.cuStreamSynchronize(_stream), nameof(Driver.cuStreamSynchronize));
    }

    // ---- plumbing

    /// <summary>Checks the backend is alive and makes its context current on this thread: the entry of every op.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Enter()
    {
        if (_disposed) ThrowDisposed();
        _context.MakeCurrent();
    }

    /// <summary><see cref="Enter"/> for calls that wait for the device or allocate, which a stream capture forbids.</summary>
    private void EnterWaiting([CallerMemberName] string op = "")
    {
        Enter();
        if (Capturing) ThrowCapturing(op);
    }

    private void Gemm(CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        float alpha = 1f;
        // Leading dimensions must be ≥ 1 even when a dimension is 0.
        Check.Blas(Cublas.cublasSgemm_v2(_cublas, transA, transB, m, n, k, &alpha,
            a, System.Math.Max(1, lda), b, System.Math.Max(1, ldb), &beta, c, System.Math.Max(1, ldc)), nameof(Cublas.cublasSgemm_v2));
    }

    /// <summary>Queues one launch on the stream; <paramref name="args"/> points at each argument's value, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Launch(nint function, uint grid, uint block, void** args) =>
        Check.Cu(Driver.cuLaunchKernel(function, grid, 1, 1, block, 1, 1, 0, _stream, args, null), nameof(Driver.cuLaunchKernel));

    /// <summary>A grid-stride kernel over <paramref name="items"/> at the ABI's grid(items); nothing to do when 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LaunchElementwise(nint function, long items, void** args)
    {
        if (items > 0) Launch(function, LaunchConfiguration.Grid(items), LaunchConfiguration.Block, args);
    }

    private static ulong Address(Tensor t) => (ulong)t.Data;

    private static nuint Bytes(int count) => (nuint)count * sizeof(float);

    private T Own<T>(T handle) where T : SafeHandle
    {
        _owned.Add(handle);
        return handle;
    }

    [DoesNotReturn, StackTraceHidden]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(CudaBackend));

    [DoesNotReturn, StackTraceHidden]
    private static void ThrowCapturing(string op) =>
        throw new InvalidOperationException($"{op} cannot run while a CUDA graph captures the stream (it waits for the device or allocates)");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Release();
        GC.SuppressFinalize(this);
    }

    private void Release()
    {
        // Let queued work finish before its module, stream and buffers go; a failure here has nowhere to go.
        if (_owned.Count > 1 && _context.TryMakeCurrent() == CUresult.Success && _stream != 0) Driver.cuStreamSynchronize(_stream);
        _workspace?.Dispose();
        _workspace = null;
        _channelWorkspace?.Dispose();
        _channelWorkspace = null;
        foreach (var retired in _retiredWorkspaces) retired.Dispose();
        _retiredWorkspaces.Clear();
        _convPlans.Clear();
        _cudnn = 0;
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    private SafeModuleHandle LoadKernels(KernelImage image, int device)
    {
        try
        {
            // The image outlives the module (Own releases in reverse order): lazy loading reads it after cuModuleLoadData.
            var (bytes, module) = image.Load(_context);
            Own(bytes);
            return module;
        }
        catch (CudaException e) when (e.Status == (int)CUresult.ErrorNoBinaryForGpu)
        {
            int major = CudaDeviceInfo.Attribute(device, CUdeviceAttribute.ComputeCapabilityMajor);
            int minor = CudaDeviceInfo.Attribute(device, CUdeviceAttribute.ComputeCapabilityMinor);
            throw new FinGenException($"{image.Description} has no code for this GPU (compute capability {major}.{minor}): " +
                $"rebuild the kernels for it (FINGEN_CUDA_ARCHITECTURES, scripts/build-kernels.sh)", e);
        }
    }

}
