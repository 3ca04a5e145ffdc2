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
public sealed unsafe class CudaBackend : IGraphBackend
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

    // ---- linear: cuBLAS is column-major, and a row-major [r, c] buffer read column-major is its transpose (c×r),
    // so each row-major product C = A·B is computed as the column-major Cᵀ = Bᵀ·Aᵀ.

    public void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Shapes.Linear(x, weight, bias, y);
        Enter();
        int batch = x.Rows, inputs = x.Cols, outputs = y.Cols;
        if (y.Length == 0) return;
        // yᵀ (Out×B) = W (Out×In) · xᵀ (In×B): W's buffer reads as Wᵀ, so it is transposed; x's reads as xᵀ.
        Gemm(CublasOperation.Transpose, CublasOperation.None, outputs, batch, inputs,
            weight.Data, inputs, x.Data, inputs, 0f, y.Data, outputs);
        float* py = y.Data, pb = bias.Data;
        void** args = stackalloc void*[] { &py, &pb, &batch, &outputs };
        LaunchElementwise(_kernels.BiasAddRows, y.Length, args);
    }

    public void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Activation activation, float slope, Tensor pre, Tensor post)
    {
        Shapes.Linear(x, weight, bias, pre);
        if (activation != Activation.Identity) Shapes.Same(pre, post);
        Enter();
        int batch = x.Rows, inputs = x.Cols, outputs = pre.Cols;
        if (pre.Length == 0) return;
        Gemm(CublasOperation.Transpose, CublasOperation.None, outputs, batch, inputs,
            weight.Data, inputs, x.Data, inputs, 0f, pre.Data, outputs);
        // fg_bias_activation_forward's codes (kernels/activations.cu); ReLU is leaky ReLU with slope 0.
        int code = activation switch
        {
            Activation.Identity => 0,
            Activation.Relu or Activation.LeakyRelu => 1,
            Activation.Sigmoid => 2,
            Activation.Tanh => 3,
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, null),
        };
        if (activation == Activation.Relu) slope = 0f;
        float* ppre = pre.Data, pb = bias.Data, ppost = post.Data;
        void** args = stackalloc void*[] { &ppre, &pb, &ppost, &slope, &code, &batch, &outputs };
        LaunchElementwise(_kernels.BiasActivationForward, pre.Length, args);
    }

    public void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.LinearBackward(x, weight, dy, dx, dWeight, dBias);
        Enter();
        int batch = x.Rows, inputs = x.Cols, outputs = dy.Cols;
        if (!dx.IsEmpty && dx.Length > 0)
        {
            // dxᵀ (In×B) = Wᵀ (In×Out) · dyᵀ (Out×B), overwritten (β = 0): both buffers already read that way.
            Gemm(CublasOperation.None, CublasOperation.None, inputs, batch, outputs,
                weight.Data, inputs, dy.Data, outputs, 0f, dx.Data, inputs);
        }
        if (dWeight.IsEmpty) return;
        if (dWeight.Length > 0)
        {
            // dWᵀ (In×Out) += xᵀ (In×B) · dy (B×Out), accumulated (β = 1): dy's buffer reads as dyᵀ, so it is transposed.
            Gemm(CublasOperation.None, CublasOperation.Transpose, inputs, outputs, batch,
                x.Data, inputs, dy.Data, outputs, 1f, dWeight.Data, inputs);
        }
        float* pdy = dy.Data, pdb = dBias.Data;
        void** args = stackalloc void*[] { &pdy, &pdb, &batch, &outputs };
        LaunchElementwise(_kernels.BiasGradAccumulate, outputs, args); // one thread a column
    }

    // ---- activations

    public void LeakyReluForward(Tensor x, float slope, Tensor y)
    {
        Shapes.Same(x, y);
        Enter();
        float* px = x.Data, py = y.Data;
        int n = x.Length;
        void** args = stackalloc void*[] { &px, &py, &slope, &n };
        LaunchElementwise(_kernels.LeakyReluForward, n, args);
    }

    public void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx)
    {
        Shapes.Same(x, dy); Shapes.Same(x, dx);
        Enter();
        float* px = x.Data, pdy = dy.Data, pdx = dx.Data;
        int n = x.Length;
        void** args = stackalloc void*[] { &px, &pdy, &pdx, &slope, &n };
        LaunchElementwise(_kernels.LeakyReluBackward, n, args);
    }

    public void ReluForward(Tensor x, Tensor y) => LeakyReluForward(x, 0f, y);

    public void ReluBackward(Tensor x, Tensor dy, Tensor dx) => LeakyReluBackward(x, dy, 0f, dx);

    public void SigmoidForward(Tensor x, Tensor y) => Unary(_kernels.SigmoidForward, x, y);

    public void SigmoidBackward(Tensor y, Tensor dy, Tensor dx) => UnaryBackward(_kernels.SigmoidBackward, y, dy, dx);

    public void TanhForward(Tensor x, Tensor y) => Unary(_kernels.TanhForward, x, y);

    public void TanhBackward(Tensor y, Tensor dy, Tensor dx) => UnaryBackward(_kernels.TanhBackward, y, dy, dx);

    private void Unary(nint kernel, Tensor x, Tensor y, [CallerMemberName] string op = "")
    {
        Shapes.Same(x, y, op);
        Enter();
        float* px = x.Data, py = y.Data;
        int n = x.Length;
        void** args = stackalloc void*[] { &px, &py, &n };
        LaunchElementwise(kernel, n, args);
    }

    private void UnaryBackward(nint kernel, Tensor y, Tensor dy, Tensor dx, [CallerMemberName] string op = "")
    {
        Shapes.Same(y, dy, op); Shapes.Same(y, dx, op);
        Enter();
        float* py = y.Data, pdy = dy.Data, pdx = dx.Data;
        int n = y.Length;
        void** args = stackalloc void*[] { &py, &pdy, &pdx, &n };
        LaunchElementwise(kernel, n, args);
    }

    // ---- losses: the forward reductions are two launches in a fixed order (partial sums, then loss[0])

    public void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss) =>
        LossForward(_kernels.BceLogitsForward, logits, targets, scale, loss);

    public void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits) =>
        LossBackward(_kernels.BceLogitsBackward, logits, targets, scale, dLogits);

    public void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss) =>
        LossForward(_kernels.MseForward, prediction, target, scale, loss);

    public void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction) =>
        LossBackward(_kernels.MseBackward, prediction, target, scale, dPrediction);

    public void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss) =>
        LossForward(_kernels.GaussianKlForward, mu, logVar, scale, loss);

    public void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar)
    {
        Shapes.Same(mu, logVar); Shapes.Same(mu, dMu); Shapes.Same(mu, dLogVar);
        Enter();
        float* pmu = mu.Data, plv = logVar.Data, pdmu = dMu.Data, pdlv = dLogVar.Data;
        int n = mu.Length;
        void** args = stackalloc void*[] { &pmu, &plv, &pdmu, &pdlv, &scale, &n };
        LaunchElementwise(_kernels.GaussianKlBackward, n, args);
    }

    private void LossForward(nint kernel, Tensor a, Tensor b, float scale, Tensor loss, [CallerMemberName] string op = "")
    {
        Shapes.Same(a, b, op); Shapes.Scalar(loss);
        Enter();
        float* pa = a.Data, pb = b.Data, pl = loss.Data;
        double* partials = _lossPartials;
        int n = a.Length;
        // Two stages, each in a fixed order (kernels/losses.cu): up to 256 blocks of partial sums, then one block adds them.
        void** args = stackalloc void*[] { &pa, &pb, &partials, &n };
        Launch(kernel, LaunchConfiguration.LossGrid(n), LaunchConfiguration.ReductionBlock, args);
        void** finish = stackalloc void*[] { &partials, &n, &scale, &pl };
        Launch(_kernels.LossFinish, 1, LaunchConfiguration.ReductionBlock, finish);
    }

    private void LossBackward(nint kernel, Tensor a, Tensor b, float scale, Tensor grad, [CallerMemberName] string op = "")
    {
        Shapes.Same(a, b, op); Shapes.Same(a, grad, op);
        Enter();
        float* pa = a.Data, pb = b.Data, pg = grad.Data;
        int n = a.Length;
        void** args = stackalloc void*[] { &pa, &pb, &pg, &scale, &n };
        LaunchElementwise(kernel, n, args);
    }

    // ---- reparameterization

    public void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z)
    {
        Shapes.Same(mu, logVar); Shapes.Same(mu, epsilon); Shapes.Same(mu, z);
        Enter();
        float* pmu = mu.Data, plv = logVar.Data, peps = epsilon.Data, pz = z.Data;
        int n = mu.Length;
        void** args = stackalloc void*[] { &pmu, &plv, &peps, &pz, &n };
        LaunchElementwise(_kernels.ReparameterizeForward, n, args);
    }

    public void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar)
    {
        Shapes.Same(logVar, epsilon); Shapes.Same(logVar, dz); Shapes.Same(logVar, dMu); Shapes.Same(logVar, dLogVar);
        Enter();
        float* plv = logVar.Data, peps = epsilon.Data, pdz = dz.Data, pdmu = dMu.Data, pdlv = dLogVar.Data;
        int n = logVar.Length;
        void** args = stackalloc void*[] { &plv, &peps, &pdz, &pdmu, &pdlv, &n };
        LaunchElementwise(_kernels.ReparameterizeBackward, n, args);
    }

    // ---- random numbers

    public void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset)
    {
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        void** args = stackalloc void*[] { &y, &n, &seed, &stream, &offset };
        if (n > 0) Launch(_kernels.PhiloxNormal, LaunchConfiguration.PhiloxGrid(n), LaunchConfiguration.Block, args);
    }

    public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta)
    {
        CheckOffset(offset);
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        ulong* at = (ulong*)offset.Data;
        void** args = stackalloc void*[] { &y, &n, &seed, &stream, &at, &delta };
        if (n > 0) Launch(_kernels.PhiloxNormalAt, LaunchConfiguration.PhiloxGrid(n), LaunchConfiguration.Block, args);
    }

    private static void CheckOffset(Tensor offset)
    {
        if (offset.Length < 2 || ((nuint)offset.Data & 7) != 0)
            Throw.Argument($"{offset}: a noise offset is two floats holding an 8-byte-aligned 64-bit integer");
    }

    // ---- optimizers: hyper-parameters are read from device memory. The step-scalar forms take them from a block the
    // caller uploaded (capturable); the by-value forms upload them first into one device slot of the backend's (not
    // capturable, as every upload). One slot is enough: the copy, the kernel that reads it and the next copy into it are
    // ordered on the one stream.

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum)
    {
        Span<float> hyper = stackalloc float[StepScalars.OptimizerSlotFloats];
        hyper[0] = learningRate; hyper[1] = momentum;
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, velocity);
        UploadScalars(hyper, _byValueHyper);
        SgdStep(parameters, gradients, velocity, _byValueHyper);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        Span<float> hyper = stackalloc float[StepScalars.OptimizerSlotFloats];
        hyper[0] = learningRate; hyper[1] = beta1; hyper[2] = beta2; hyper[3] = epsilon;
        hyper[4] = BitConverter.Int32BitsToSingle(step);
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        UploadScalars(hyper, _byValueHyper);
        AdamStep(parameters, gradients, m, v, _byValueHyper);
    }

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, velocity);
        if (hyper.Length < 2) Throw.Argument($"{hyper}: SGD's hyper-parameters are [lr, momentum]");
        Enter();
        float* ph = hyper.Data;
        float* p = parameters.Data, g = gradients.Data, v = velocity.Data;
        int n = parameters.Length;
        void** args = stackalloc void*[] { &p, &g, &v, &ph, &n };
        LaunchElementwise(_kernels.SgdStep, n, args);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        if (hyper.Length < 5) Throw.Argument($"{hyper}: Adam's hyper-parameters are [lr, β1, β2, ε, t]");
        Enter();
        float* ph = hyper.Data;
        int* step = (int*)(ph + 4);
        float* p = parameters.Data, g = gradients.Data, pm = m.Data, pv = v.Data;
        int n = parameters.Length;
        void** args = stackalloc void*[] { &p, &g, &pm, &pv, &ph, &step, &n };
        LaunchElementwise(_kernels.AdamStep, n, args);
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the next slot of the pinned ring and queues its copy to the device; returns
    /// without waiting for the device. A slot is rewritten only after the copy that last read it has completed (its
    /// event), and with 64 slots that wait is almost always already over. Not capturable: it waits on an event, and a
    /// captured copy would replay the slot's bytes of capture time.
    /// </summary>
    public void UploadScalars(ReadOnlySpan<float> source, Tensor destination)
    {
        StepScalars.CheckUpload(source, destination);
        EnterWaiting();
        if (source.Length == 0) return;
        int slot = _nextStagingSlot;
        _nextStagingSlot = (slot + 1) % StagingSlots;
        nint copied = _stagingCopied[slot];
        Check.Cu(Driver.cuEventSynchronize(copied), nameof(Driver.cuEventSynchronize));
        float* host = (float*)(_stagingHost + slot * StagingSlotBytes);
        source.CopyTo(new Span<float>(host, source.Length));
        Check.Cu(Driver.cuMemcpyHtoDAsync_v2(Address(destination), host, Bytes(source.Length), _stream), nameof(Driver.cuMemcpyHtoDAsync_v2));
        Check.Cu(Driver.cuEventRecord(copied, _stream), nameof(Driver.cuEventRecord));
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

    // ---- convolutions: cuDNN (loaded on first use), one plan per geometry. Row-major [N, C·H·W] is NCHW, and
    // [K, C·R·S] is cuDNN's KCRS filter, so tensors go to cuDNN as they are. A transposed convolution is the data
    // gradient of its geometry g, so its three passes are g's three passes in other roles:
    //   conv        y = fwd(x)            dX = bwdData(dY)    dW += bwdFilter(x, dY)
    //   transposed  y = bwdData(x)        dX = fwd(dY)        dW += bwdFilter(dY, x)
    // Overwrites use β = 0, accumulations β = 1; bias gradients are fg_channel_sum_accumulate (deterministic).

    public void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        CheckConvForward(x, g.InSize, weight, bias, g.OutChannels, y, g.OutSize, g);
        Enter();
        var plan = ConvPlanFor(g);
        int algorithm = plan.Algorithm(this, ConvPass.Forward);
        float zero = 0f, one = 1f;
        Check.Dnn(Cudnn.cudnnConvolutionForward(_cudnn, &one, plan.Input, x.Data, plan.Filter, weight.Data, plan.Convolution,
            algorithm, Workspace, WorkspaceBytes, &zero, plan.Output, y.Data), nameof(Cudnn.cudnnConvolutionForward));
        if (!bias.IsEmpty)
            Check.Dnn(Cudnn.cudnnAddTensor(_cudnn, &one, plan.OutputBias, bias.Data, &one, plan.Output, y.Data), nameof(Cudnn.cudnnAddTensor));
    }

    public void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        CheckConvBackward(x, g.InSize, weight, dy, g.OutSize, dx, dWeight, dBias, g.OutChannels, g);
        Enter();
        var plan = ConvPlanFor(g);
        float zero = 0f, one = 1f;
        if (!dx.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.BackwardData);
            Check.Dnn(Cudnn.cudnnConvolutionBackwardData(_cudnn, &one, plan.Filter, weight.Data, plan.Output, dy.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &zero, plan.Input, dx.Data), nameof(Cudnn.cudnnConvolutionBackwardData));
        }
        if (!dWeight.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.BackwardFilter);
            Check.Dnn(Cudnn.cudnnConvolutionBackwardFilter(_cudnn, &one, plan.Input, x.Data, plan.Output, dy.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &one, plan.Filter, dWeight.Data), nameof(Cudnn.cudnnConvolutionBackwardFilter));
        }
        if (!dBias.IsEmpty) ChannelSumAccumulate(dy, dBias, g.Batch, g.OutChannels, g.OutHeight * g.OutWidth);
    }

    public void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        CheckConvForward(x, g.OutSize, weight, bias, g.InChannels, y, g.InSize, g);
        Enter();
        var plan = ConvPlanFor(g);
        int algorithm = plan.Algorithm(this, ConvPass.BackwardData);
        float zero = 0f, one = 1f;
        Check.Dnn(Cudnn.cudnnConvolutionBackwardData(_cudnn, &one, plan.Filter, weight.Data, plan.Output, x.Data, plan.Convolution,
            algorithm, Workspace, WorkspaceBytes, &zero, plan.Input, y.Data), nameof(Cudnn.cudnnConvolutionBackwardData));
        if (!bias.IsEmpty)
            Check.Dnn(Cudnn.cudnnAddTensor(_cudnn, &one, plan.InputBias, bias.Data, &one, plan.Input, y.Data), nameof(Cudnn.cudnnAddTensor));
    }

    public void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        CheckConvBackward(x, g.OutSize, weight, dy, g.InSize, dx, dWeight, dBias, g.InChannels, g);
        Enter();
        var plan = ConvPlanFor(g);
        float zero = 0f, one = 1f;
        if (!dx.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.Forward);
            Check.Dnn(Cudnn.cudnnConvolutionForward(_cudnn, &one, plan.Input, dy.Data, plan.Filter, weight.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &zero, plan.Output, dx.Data), nameof(Cudnn.cudnnConvolutionForward));
        }
        if (!dWeight.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.BackwardFilter);
            Check.Dnn(Cudnn.cudnnConvolutionBackwardFilter(_cudnn, &one, plan.Input, dy.Data, plan.Output, x.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &one, plan.Filter, dWeight.Data), nameof(Cudnn.cudnnConvolutionBackwardFilter));
        }
        if (!dBias.IsEmpty) ChannelSumAccumulate(dy, dBias, g.Batch, g.InChannels, g.InHeight * g.InWidth);
    }

    private void ChannelSumAccumulate(Tensor dy, Tensor dBias, int batch, int channels, int spatial)
    {
        float* pdy = dy.Data, pdb = dBias.Data;
        void** args = stackalloc void*[] { &pdy, &pdb, &batch, &channels, &spatial };
        Launch(_kernels.ChannelSumAccumulate, LaunchConfiguration.ChannelGrid(channels), LaunchConfiguration.ChannelBlock, args);
    }

    /// <summary>The plan of <paramref name="g"/>: made (descriptors created) on first use, then a dictionary lookup.</summary>
    private ConvPlan ConvPlanFor(ConvGeometry g)
    {
        if (_convPlans.TryGetValue(g, out var plan)) return plan;
        if (Capturing) ThrowCapturing($"the first convolution of {g} (it creates cuDNN descriptors)");
        EnsureCudnn();
        plan = new ConvPlan(g, this);
        _convPlans.Add(g, plan);
        return plan;
    }

    /// <summary>
    /// Loads cuDNN and makes the handle on our stream, once. cuDNN is optional for everything but the convolutions,
    /// so its absence surfaces here, as one line naming every place that was tried.
    /// </summary>
    private void EnsureCudnn()
    {
        if (_cudnn != 0) return;
        var attempt = NativeLibraries.Load(NativeLibraries.Cudnn);
        if (!attempt.Loaded) throw new FinGenException($"cuDNN was not found, and the convolutions need it: {attempt.Error}");
        try
        {
            _cudnn = Own(SafeCudnnHandle.Create(_context, _stream)).Value;
        }
        catch (EntryPointNotFoundException e)
        {
            throw new FinGenException($"cuDNN at {attempt.LoadedFrom} is too old for the convolutions (8.0 or later is needed): {e.Message}", e);
        }
    }

    private void* Workspace => _workspace is null ? null : (void*)_workspace.Pointer;

    private nuint WorkspaceBytes => _workspace?.Bytes ?? 0;

    /// <summary>
    /// Grows the one cuDNN workspace to at least <paramref name="bytes"/>; it is never shrunk, so once every pass of
    /// every geometry has run, no op allocates. The old buffer may still be read by queued work, so the stream is
    /// drained before it is freed.
    /// </summary>
    private void EnsureWorkspace(nuint bytes)
    {
        if (bytes == 0 || (_workspace is not null && _workspace.Bytes >= bytes)) return;
        if (Capturing) ThrowCapturing("growing the cuDNN workspace");
        Check.Cu(Driver.cuStreamSynchronize(_stream), nameof(Driver.cuStreamSynchronize));
        // A captured step may use the old workspace on every replay (sampling with a new geometry can grow it mid-training).
        if (GraphsExist && _workspace is not null) _retiredWorkspaces.Add(_workspace);
        else _workspace?.Dispose();
        _workspace = null;
        try
        {
            _workspace = DeviceAllocationHandle.Allocate(_context, bytes);
        }
        catch (CudaException e) when (e.Status == (int)CUresult.ErrorOutOfMemory)
        {
            throw new FinGenException($"out of GPU memory allocating a {bytes}-byte cuDNN workspace on {Info.Name} ({e.Message})", e);
        }
    }

    private enum ConvPass { Forward, BackwardData, BackwardFilter }

    /// <summary>
    /// One geometry's cuDNN descriptors (owned by the backend, destroyed with it) and the algorithm of each pass, chosen
    /// on the pass's first call from cuDNN's heuristics (the <c>_v7</c> queries: no trial runs, no allocation) and kept.
    /// The choice is the best-ranked algorithm that succeeds in full fp32 and is deterministic, else the best fp32 one.
    /// </summary>
    private sealed class ConvPlan
    {
        private readonly int[] _algorithms = [-1, -1, -1];
        private readonly ConvGeometry _geometry;

        public ConvPlan(ConvGeometry g, CudaBackend backend)
        {
            _geometry = g;
            Input = backend.Own(SafeCudnnDescriptorHandle.Tensor(g.Batch, g.InChannels, g.InHeight, g.InWidth)).Value;
            Output = backend.Own(SafeCudnnDescriptorHandle.Tensor(g.Batch, g.OutChannels, g.OutHeight, g.OutWidth)).Value;
            Filter = backend.Own(SafeCudnnDescriptorHandle.Filter(g.OutChannels, g.InChannels, g.KernelHeight, g.KernelWidth)).Value;
            Convolution = backend.Own(SafeCudnnDescriptorHandle.Convolution(g.Padding, g.Stride)).Value;
            InputBias = backend.Own(SafeCudnnDescriptorHandle.Tensor(1, g.InChannels, 1, 1)).Value;
            OutputBias = backend.Own(SafeCudnnDescriptorHandle.Tensor(1, g.OutChannels, 1, 1)).Value;
        }

        /// <summary>[N, C, H, W]: a convolution's input, a transposed convolution's output.</summary>
        public nint Input { get; }
        /// <summary>[N, K, P, Q]: a convolution's output, a transposed convolution's input.</summary>
        public nint Output { get; }
        /// <summary>[K, C, R, S]</summary>
        public nint Filter { get; }
        public nint Convolution { get; }
        /// <summary>[1, C, 1, 1]: a transposed convolution's bias.</summary>
        public nint InputBias { get; }
        /// <summary>[1, K, 1, 1]: a convolution's bias.</summary>
        public nint OutputBias { get; }

        /// <summary>The pass's algorithm, chosen on first use (which also grows the backend's workspace to fit it).</summary>
        public int Algorithm(CudaBackend backend, ConvPass pass)
        {
            int chosen = _algorithms[(int)pass];
            return chosen >= 0 ? chosen : Choose(backend, pass);
        }

        private int Choose(CudaBackend backend, ConvPass pass)
        {
            if (backend.Capturing) ThrowCapturing($"choosing the cuDNN {pass} algorithm of {_geometry}");
            const int Capacity = 16; // cuDNN 8 and 9 have at most 8 algorithms a pass
            var results = stackalloc CudnnAlgorithmPerformance[Capacity];
            int returned = 0, available = 0;
            nint handle = backend._cudnn;
            string call;
            switch (pass)
            {
                case ConvPass.Forward:
                    Check.Dnn(Cudnn.cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &available), nameof(Cudnn.cudnnGetConvolutionForwardAlgorithmMaxCount));
                    break;
                case ConvPass.BackwardData:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &available), nameof(Cudnn.cudnnGetConvolutionBackwardDataAlgorithmMaxCount));
                    break;
                default:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &available), nameof(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithmMaxCount));
                    break;
            }
            int requested = System.Math.Clamp(available, 1, Capacity);
            switch (pass)
            {
                case ConvPass.Forward:
                    call = nameof(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7);
                    Check.Dnn(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7(handle, Input, Filter, Convolution, Output, requested, &returned, results), call);
                    break;
                case ConvPass.BackwardData:
                    call = nameof(Cudnn.cudnnGetConvolutionBackwardDataAlgorithm_v7);
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, Filter, Output, Convolution, Input, requested, &returned, results), call);
                    break;
                default:
                    call = nameof(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7);
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, Input, Output, Convolution, Filter, requested, &returned, results), call);
                    break;
            }
            int algorithm = CudnnAlgorithmChoice.Pick(new ReadOnlySpan<CudnnAlgorithmPerformance>(results, System.Math.Clamp(returned, 0, requested)), out bool deterministic);
            if (algorithm < 0) throw new FinGenException($"{call}: cuDNN has no full-fp32 (FMA math) {pass} algorithm for {_geometry}");
            if (!deterministic)
                backend._notes.Add($"cuDNN has only non-deterministic {pass} algorithms for {_geometry}: algorithm {algorithm} is used, " +
                    "and two runs may differ in the last bits");

            nuint bytes;
            switch (pass)
            {
                case ConvPass.Forward:
                    Check.Dnn(Cudnn.cudnnGetConvolutionForwardWorkspaceSize(handle, Input, Filter, Convolution, Output, algorithm, &bytes),
                        nameof(Cudnn.cudnnGetConvolutionForwardWorkspaceSize));
                    break;
                case ConvPass.BackwardData:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize(handle, Filter, Output, Convolution, Input, algorithm, &bytes),
                        nameof(Cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize));
                    break;
                default:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, Input, Output, Convolution, Filter, algorithm, &bytes),
                        nameof(Cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize));
                    break;
            }
            backend.EnsureWorkspace(bytes);
            _algorithms[(int)pass] = algorithm;
            return algorithm;
        }
    }

    private static void CheckConvForward(Tensor x, int xSize, Tensor weight, Tensor bias, int biasSize, Tensor y, int ySize, ConvGeometry g)
    {
        g.Validate();
        Shapes.Is(x, g.Batch, xSize, "x");
        Shapes.Is(weight, g.OutChannels, g.FilterSize, "weight");
        if (!bias.IsEmpty) Shapes.Is(bias, 1, biasSize, "bias");
        Shapes.Is(y, g.Batch, ySize, "y");
    }

    private static void CheckConvBackward(Tensor x, int xSize, Tensor weight, Tensor dy, int dySize, Tensor dx, Tensor dWeight, Tensor dBias,
        int biasSize, ConvGeometry g)
    {
        g.Validate();
        Shapes.Is(x, g.Batch, xSize, "x");
        Shapes.Is(weight, g.OutChannels, g.FilterSize, "weight");
        Shapes.Is(dy, g.Batch, dySize, "dy");
        if (!dx.IsEmpty) Shapes.Is(dx, g.Batch, xSize, "dx");
        if (!dWeight.IsEmpty) Shapes.Is(dWeight, g.OutChannels, g.FilterSize, "dWeight");
        if (!dBias.IsEmpty) Shapes.Is(dBias, 1, biasSize, "dBias");
    }

    // ---- batch normalization: kernels/batchnorm.cu, one block a channel for the reductions

    public void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd)
    {
        // The CPU reference's contract, shared (Shapes): among others, more than one value per channel (N·H·W > 1).
        int spatial = Shapes.BatchNormTraining(x, gamma, beta, channels, runningMean, runningVar, y, saveMean, saveInvStd);
        Enter();
        if (x.Length == 0) return;
        float* px = x.Data, pg = gamma.Data, pb = beta.Data, py = y.Data, psm = saveMean.Data, psi = saveInvStd.Data,
            prm = runningMean.Data, prv = runningVar.Data;
        int batch = x.Rows;
        void** args = stackalloc void*[] { &px, &pg, &pb, &py, &psm, &psi, &prm, &prv, &momentum, &epsilon, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormForwardTraining, LaunchConfiguration.ChannelGrid(channels), LaunchConfiguration.ChannelBlock, args);
    }

    public void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y)
    {
        int spatial = Shapes.BatchNormInference(x, gamma, beta, channels, runningMean, runningVar, y);
        Enter();
        float* px = x.Data, pg = gamma.Data, pb = beta.Data, prm = runningMean.Data, prv = runningVar.Data, py = y.Data;
        int batch = x.Rows;
        void** args = stackalloc void*[] { &px, &pg, &pb, &prm, &prv, &py, &epsilon, &batch, &channels, &spatial };
        LaunchElementwise(_kernels.BatchNormForwardInference, x.Length, args);
    }

    public void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd,
        Tensor dx, Tensor dGamma, Tensor dBeta)
    {
        int spatial = Shapes.BatchNormBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta);
        if (dGamma.IsEmpty != dBeta.IsEmpty) Throw.Argument("BatchNorm2dBackward: dGamma and dBeta must both be given or both be empty");
        Enter();
        if (x.Length == 0 || (dx.IsEmpty && dGamma.IsEmpty)) return;
        float* px = x.Data, pg = gamma.Data, pdy = dy.Data, psm = saveMean.Data, psi = saveInvStd.Data,
            pdx = dx.Data, pdg = dGamma.Data, pdb = dBeta.Data;
        int batch = x.Rows;
        void** args = stackalloc void*[] { &px, &pg, &pdy, &psm, &psi, &pdx, &pdg, &pdb, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormBackward, LaunchConfiguration.ChannelGrid(channels), LaunchConfiguration.ChannelBlock, args);
    }
}

/// <summary>How the backend picks a cuDNN algorithm from a <c>_v7</c> heuristic query's ranked results.</summary>
internal static class CudnnAlgorithmChoice
{
    /// <summary>
    /// Ranked results → the first deterministic success in FMA math (full fp32), else the first FMA success (and
    /// <paramref name="deterministic"/> false), else −1. Only CUDNN_FMA_MATH qualifies: tensor-op entries round float
    /// inputs (TF32 or half), and CUDNN_DEFAULT_MATH permits TF32 from Ampere on.
    /// </summary>
    internal static int Pick(ReadOnlySpan<CudnnAlgorithmPerformance> results, out bool deterministic)
    {
        int fallback = -1;
        foreach (ref readonly var result in results)
        {
            if (result.Status != CudnnStatus.Success || result.MathType != CudnnMathType.Fma) continue;
            if (result.Determinism == CudnnDeterminism.Deterministic)
            {
                deterministic = true;
                return result.Algorithm;
            }
            if (fallback < 0) fallback = result.Algorithm;
        }
        deterministic = false;
        return fallback;
    }
}
