using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>
/// A CUDA, cuBLAS or cuDNN call that failed: the call, the status's name and its text, e.g.
/// <c>cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected</c>.
/// </summary>
public sealed class CudaException : Exception
{
    public CudaException(string call, int status, string statusName, string statusText)
        : base($"{call}: {statusName}: {statusText}")
    {
        Call = call;
        Status = status;
        StatusName = statusName;
        StatusText = statusText;
    }

    /// <summary>The function that failed, e.g. <c>cuMemAlloc_v2</c>.</summary>
    public string Call { get; }

    /// <summary>The numeric status (<c>CUresult</c>, <c>cublasStatus_t</c> or <c>cudnnStatus_t</c>).</summary>
    public int Status { get; }

    /// <summary>e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
    public string StatusName { get; }

    /// <summary>e.g. <c>out of memory</c>.</summary>
    public string StatusText { get; }
}

/// <summary>Status checks: an inlined compare on the hot path, the exception built out of line.</summary>
internal static unsafe class Check
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Cu(CUresult status, string call)
    {
        if (status != CUresult.Success) ThrowDriver(status, call);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Blas(CublasStatus status, string call)
    {
        if (status != CublasStatus.Success) ThrowCublas(status, call);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dnn(CudnnStatus status, string call)
    {
        if (status != CudnnStatus.Success) ThrowCudnn(status, call);
    }

    [DoesNotReturn, StackTraceHidden]
    public static void ThrowDriver(CUresult status, string call) => throw DriverError(status, call);

    [DoesNotReturn, StackTraceHidden]
    private static void ThrowCublas(CublasStatus status, string call)
    {
        var (name, text) = CublasStatusNames.Describe(status);
        throw new CudaException(call, (int)status, name, text);
    }

    [DoesNotReturn, StackTraceHidden]
    private static void ThrowCudnn(CudnnStatus status, string call)
    {
        string text = Marshal.PtrToStringUTF8((nint)Cudnn.cudnnGetErrorString(status)) ?? "unknown cuDNN status";
        throw new CudaException(call, (int)status, text, $"cudnnStatus_t {(int)status}");
    }

    /// <summary>The driver's own name and text for a status (libcuda is loaded: a call just returned it).</summary>
    public static CudaException DriverError(CUresult status, string call)
    {
        byte* name = null, text = null;
        string statusName = Driver.cuGetErrorName(status, &name) == CUresult.Success && name != null
            ? Marshal.PtrToStringUTF8((nint)name)! : $"CUresult {(int)status}";
        string statusText = Driver.cuGetErrorString(status, &text) == CUresult.Success && text != null
            ? Marshal.PtrToStringUTF8((nint)text)! : "unknown CUDA error";
        return new CudaException(call, (int)status, statusName, statusText);
    }
}
