using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda.Interop;

/// <summary>
/// cuDNN (<c>libcudnn.so.9</c> or <c>.8</c>): optional, needed only by the convolutions; <c>fingen info</c> reports
/// its version (or why it is absent). Only what the engine calls: the handle, NCHW float tensor and filter
/// descriptors, 2-D convolution descriptors, the heuristic algorithm queries (<c>_v7</c>: no trial runs, no
/// allocation), their workspace sizes, the three convolution passes and <c>cudnnAddTensor</c> for the bias.
/// These are cuDNN's "legacy" API: deprecated in cuDNN 9 but present with the same signatures and values in
/// cuDNN 8 and 9 (cudnn_ops.h and cudnn_cnn.h of 9.x; cudnn_ops_infer.h and cudnn_cnn_infer.h of 8.x).
/// Scaling factors α and β are host pointers to floats (float data): output = α·op(inputs) + β·output.
/// </summary>
internal static unsafe partial class Cudnn
{
    public const string Library = NativeLibraries.Cudnn;

    [LibraryImport(Library)] internal static partial CudnnStatus cudnnCreate(nint* handle);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnDestroy(nint handle);
    [LibraryImport(Library)] internal static partial nuint cudnnGetVersion();
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnSetStream(nint handle, nint stream);
    [LibraryImport(Library)] internal static partial byte* cudnnGetErrorString(CudnnStatus status);

    // ---- descriptors (cudnn_ops.h; the convolution descriptor is cudnn_cnn.h's). Note the argument orders:
    // a tensor takes (format, dataType), a filter (dataType, format).
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnCreateTensorDescriptor(nint* descriptor);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnDestroyTensorDescriptor(nint descriptor);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnSetTensor4dDescriptor(nint descriptor, CudnnTensorFormat format, CudnnDataType dataType,
        int n, int c, int h, int w);

    [LibraryImport(Library)] internal static partial CudnnStatus cudnnCreateFilterDescriptor(nint* descriptor);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnDestroyFilterDescriptor(nint descriptor);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnSetFilter4dDescriptor(nint descriptor, CudnnDataType dataType, CudnnTensorFormat format,
        int k, int c, int h, int w);

    [LibraryImport(Library)] internal static partial CudnnStatus cudnnCreateConvolutionDescriptor(nint* descriptor);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnDestroyConvolutionDescriptor(nint descriptor);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnSetConvolution2dDescriptor(nint descriptor, int padH, int padW, int strideH, int strideW,
        int dilationH, int dilationW, CudnnConvolutionMode mode, CudnnDataType computeType);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnSetConvolutionMathType(nint descriptor, CudnnMathType mathType);

    // ---- algorithm choice (cudnn_cnn.h): heuristics ranked best first, each with its own status
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnGetConvolutionForwardAlgorithmMaxCount(nint handle, int* count);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnGetConvolutionBackwardDataAlgorithmMaxCount(nint handle, int* count);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(nint handle, int* count);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnGetConvolutionForwardAlgorithm_v7(nint handle, nint xDesc, nint wDesc, nint convDesc,
        nint yDesc, int requestedCount, int* returnedCount, CudnnAlgorithmPerformance* results);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnGetConvolutionBackwardDataAlgorithm_v7(nint handle, nint wDesc, nint dyDesc, nint convDesc,
        nint dxDesc, int requestedCount, int* returnedCount, CudnnAlgorithmPerformance* results);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnGetConvolutionBackwardFilterAlgorithm_v7(nint handle, nint xDesc, nint dyDesc, nint convDesc,
        nint dwDesc, int requestedCount, int* returnedCount, CudnnAlgorithmPerformance* results);

    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnGetConvolutionForwardWorkspaceSize(nint handle, nint xDesc, nint wDesc, nint convDesc,
        nint yDesc, int algorithm, nuint* bytes);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnGetConvolutionBackwardDataWorkspaceSize(nint handle, nint wDesc, nint dyDesc, nint convDesc,
        nint dxDesc, int algorithm, nuint* bytes);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnGetConvolutionBackwardFilterWorkspaceSize(nint handle, nint xDesc, nint dyDesc, nint convDesc,
        nint dwDesc, int algorithm, nuint* bytes);

    // ---- the passes (cudnn_cnn.h); queued on the handle's stream
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnConvolutionForward(nint handle, float* alpha, nint xDesc, float* x, nint wDesc, float* w,
        nint convDesc, int algorithm, void* workspace, nuint workspaceBytes, float* beta, nint yDesc, float* y);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnConvolutionBackwardData(nint handle, float* alpha, nint wDesc, float* w, nint dyDesc, float* dy,
        nint convDesc, int algorithm, void* workspace, nuint workspaceBytes, float* beta, nint dxDesc, float* dx);
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnConvolutionBackwardFilter(nint handle, float* alpha, nint xDesc, float* x, nint dyDesc, float* dy,
        nint convDesc, int algorithm, void* workspace, nuint workspaceBytes, float* beta, nint dwDesc, float* dw);

    /// <summary>C = α·A + β·C, A broadcast over the dimensions where it is 1 (cudnn_ops.h): the convolutions' bias.</summary>
    [LibraryImport(Library)]
    internal static partial CudnnStatus cudnnAddTensor(nint handle, float* alpha, nint aDesc, float* a, float* beta, nint cDesc, float* c);

    /// <summary>CUDNN_VERSION as text: major·10000 + minor·100 + patch from cuDNN 9, major·1000 + minor·100 + patch before.</summary>
    public static string FormatVersion(ulong version) => version >= 90000
        ? $"{version / 10000}.{version / 100 % 100}.{version % 100}"
        : $"{version / 1000}.{version / 100 % 10}.{version % 100}";
}

/// <summary>cudnnStatus_t; its numbering changed in cuDNN 9, so names come from cudnnGetErrorString.</summary>
internal enum CudnnStatus
{
    Success = 0,
}

/// <summary>cudnnDataType_t (cudnn_graph.h in 9.x, cudnn_ops_infer.h in 8.x; same value).</summary>
internal enum CudnnDataType
{
    /// <summary>CUDNN_DATA_FLOAT</summary>
    Float = 0,
}

/// <summary>cudnnTensorFormat_t (cudnn_graph.h in 9.x, cudnn_ops_infer.h in 8.x).</summary>
internal enum CudnnTensorFormat
{
    /// <summary>CUDNN_TENSOR_NCHW: row-major, w fastest.</summary>
    Nchw = 0,
}

/// <summary>cudnnConvolutionMode_t (cudnn_graph.h in 9.x, cudnn_cnn_infer.h in 8.x).</summary>
internal enum CudnnConvolutionMode
{
    /// <summary>CUDNN_CROSS_CORRELATION: the filter is not flipped, as PyTorch's Conv2d and our ConvGeometry.</summary>
    CrossCorrelation = 1,
}

/// <summary>cudnnMathType_t (cudnn_graph.h in 9.x, cudnn_ops_infer.h in 8.x).</summary>
internal enum CudnnMathType
{
    /// <summary>CUDNN_DEFAULT_MATH: despite its name, permits TF32 tensor cores for float data from Ampere on.</summary>
    Default = 0,
    /// <summary>CUDNN_TENSOR_OP_MATH</summary>
    TensorOp = 1,
    /// <summary>CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: may even round float to half.</summary>
    TensorOpAllowConversion = 2,
    /// <summary>CUDNN_FMA_MATH (cuDNN 8.0+): only FMA kernels, i.e. full fp32 — what the parity tests need.</summary>
    Fma = 3,
}

/// <summary>cudnnDeterminism_t (cudnn_ops.h in 9.x, cudnn_ops_infer.h in 8.x).</summary>
internal enum CudnnDeterminism
{
    /// <summary>CUDNN_NON_DETERMINISTIC: e.g. atomics in backward-data algorithm 0 and backward-filter algorithms 0 and 3.</summary>
    NonDeterministic = 0,
    /// <summary>CUDNN_DETERMINISTIC</summary>
    Deterministic = 1,
}

/// <summary>
/// cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionBwdDataAlgoPerf_t and cudnnConvolutionBwdFilterAlgoPerf_t, which
/// share one layout (cudnn_cnn.h): { algo, status, float time, size_t memory, determinism, mathType, int reserved[3] },
/// 48 bytes on 64-bit platforms. The algorithm is kept as its number: it is only handed back to cuDNN.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CudnnAlgorithmPerformance
{
    public int Algorithm;
    public CudnnStatus Status;
    public float Time;
    public nuint Memory;
    public CudnnDeterminism Determinism;
    public CudnnMathType MathType;
    public fixed int Reserved[3];
}

/// <summary>A cuDNN handle, destroyed with its context current.</summary>
internal sealed class SafeCudnnHandle : ContextBoundHandle
{
    private SafeCudnnHandle(PrimaryContextHandle context, nint handle) : base(context, handle) { }

    /// <summary>A handle on the current context whose work goes to <paramref name="stream"/>.</summary>
    public static unsafe SafeCudnnHandle Create(PrimaryContextHandle context, nint stream)
    {
        nint handle;
        Check.Dnn(Cudnn.cudnnCreate(&handle), nameof(Cudnn.cudnnCreate));
        var safe = new SafeCudnnHandle(context, handle);
        try
        {
            Check.Dnn(Cudnn.cudnnSetStream(handle, stream), nameof(Cudnn.cudnnSetStream));
        }
        catch
        {
            safe.Dispose();
            throw;
        }
        return safe;
    }

    protected override void Destroy(nint handle) => Cudnn.cudnnDestroy(handle);
}

/// <summary>A cuDNN descriptor (host-side state only: no context is needed to destroy it).</summary>
internal sealed class SafeCudnnDescriptorHandle : SafeHandle
{
    private readonly CudnnDescriptorKind _kind;

    private SafeCudnnDescriptorHandle(CudnnDescriptorKind kind) : base(0, ownsHandle: true) => _kind = kind;

    public override bool IsInvalid => handle == 0;

    public nint Value => handle;

    /// <summary>An NCHW float tensor descriptor of n × c × h × w.</summary>
    public static unsafe SafeCudnnDescriptorHandle Tensor(int n, int c, int h, int w)
    {
        nint descriptor;
        Check.Dnn(Cudnn.cudnnCreateTensorDescriptor(&descriptor), nameof(Cudnn.cudnnCreateTensorDescriptor));
        var safe = Wrap(CudnnDescriptorKind.Tensor, descriptor);
        SetOrDispose(safe, Cudnn.cudnnSetTensor4dDescriptor(descriptor, CudnnTensorFormat.Nchw, CudnnDataType.Float, n, c, h, w),
            nameof(Cudnn.cudnnSetTensor4dDescriptor));
        return safe;
    }

    /// <summary>A float filter descriptor of k × c × h × w in NCHW (KCRS) order, PyTorch's Conv2d weight layout.</summary>
    public static unsafe SafeCudnnDescriptorHandle Filter(int k, int c, int h, int w)
    {
        nint descriptor;
        Check.Dnn(Cudnn.cudnnCreateFilterDescriptor(&descriptor), nameof(Cudnn.cudnnCreateFilterDescriptor));
        var safe = Wrap(CudnnDescriptorKind.Filter, descriptor);
        SetOrDispose(safe, Cudnn.cudnnSetFilter4dDescriptor(descriptor, CudnnDataType.Float, CudnnTensorFormat.Nchw, k, c, h, w),
            nameof(Cudnn.cudnnSetFilter4dDescriptor));
        return safe;
    }

    /// <summary>A 2-D cross-correlation, float compute, full fp32 math (<see cref="CudnnMathType.Fma"/>).</summary>
    public static unsafe SafeCudnnDescriptorHandle Convolution(int padding, int stride)
    {
        nint descriptor;
        Check.Dnn(Cudnn.cudnnCreateConvolutionDescriptor(&descriptor), nameof(Cudnn.cudnnCreateConvolutionDescriptor));
        var safe = Wrap(CudnnDescriptorKind.Convolution, descriptor);
        SetOrDispose(safe, Cudnn.cudnnSetConvolution2dDescriptor(descriptor, padding, padding, stride, stride, 1, 1,
            CudnnConvolutionMode.CrossCorrelation, CudnnDataType.Float), nameof(Cudnn.cudnnSetConvolution2dDescriptor));
        SetOrDispose(safe, Cudnn.cudnnSetConvolutionMathType(descriptor, CudnnMathType.Fma), nameof(Cudnn.cudnnSetConvolutionMathType));
        return safe;
    }

    private static SafeCudnnDescriptorHandle Wrap(CudnnDescriptorKind kind, nint descriptor)
    {
        var safe = new SafeCudnnDescriptorHandle(kind);
        safe.SetHandle(descriptor);
        return safe;
    }

    private static void SetOrDispose(SafeCudnnDescriptorHandle safe, CudnnStatus status, string call)
    {
        if (status == CudnnStatus.Success) return;
        safe.Dispose();
        Check.Dnn(status, call);
    }

    protected override bool ReleaseHandle()
    {
        // A destroy cannot fail in a way we could act on here.
        _ = _kind switch
        {
            CudnnDescriptorKind.Tensor => Cudnn.cudnnDestroyTensorDescriptor(handle),
            CudnnDescriptorKind.Filter => Cudnn.cudnnDestroyFilterDescriptor(handle),
            _ => Cudnn.cudnnDestroyConvolutionDescriptor(handle),
        };
        return true;
    }
}

internal enum CudnnDescriptorKind
{
    Tensor,
    Filter,
    Convolution,
}
