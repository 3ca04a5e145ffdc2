using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda.Interop;

/// <summary>
/// cuBLAS (<c>libcublas.so.13</c>, <c>.12</c> or <c>.11</c>), only what the engine calls: the handle, its stream
/// and math mode, its workspace, the version and SGEMM. The <c>_v2</c> names are the symbols cublas_v2.h maps to. cuBLAS is
/// column-major; <see cref="CudaBackend"/> turns row-major products around (Cᵀ = Bᵀ·Aᵀ).
/// </summary>
internal static unsafe partial class Cublas
{
    public const string Library = NativeLibraries.Cublas;

    [LibraryImport(Library)] internal static partial CublasStatus cublasCreate_v2(nint* handle);
    [LibraryImport(Library)] internal static partial CublasStatus cublasDestroy_v2(nint handle);
    [LibraryImport(Library)] internal static partial CublasStatus cublasSetStream_v2(nint handle, nint stream);
    [LibraryImport(Library)] internal static partial CublasStatus cublasSetMathMode(nint handle, CublasMath mode);
    [LibraryImport(Library)] internal static partial CublasStatus cublasGetVersion_v2(nint handle, int* version);
    /// <summary>The device buffer cuBLAS uses as scratch on the handle's stream (since cuBLAS 11.0); a captured SGEMM then allocates nothing.</summary>
    [LibraryImport(Library)] internal static partial CublasStatus cublasSetWorkspace_v2(nint handle, void* workspace, nuint bytes);

    /// <summary>C = α·op(A)·op(B) + β·C, column-major; α and β are host pointers (the default pointer mode).</summary>
    [LibraryImport(Library)]
    internal static partial CublasStatus cublasSgemm_v2(nint handle, CublasOperation transA, CublasOperation transB,
        int m, int n, int k, float* alpha, float* a, int lda, float* b, int ldb, float* beta, float* c, int ldc);

    /// <summary>CUBLAS_VERSION's encoding (major·10000 + minor·100 + patch) as text.</summary>
    public static string FormatVersion(int version) => $"{version / 10000}.{version / 100 % 100}.{version % 100}";
}

internal enum CublasStatus
{
    Success = 0,
    NotInitialized = 1,
    AllocFailed = 3,
    InvalidValue = 7,
    ArchMismatch = 8,
    MappingError = 11,
    ExecutionFailed = 13,
    InternalError = 14,
    NotSupported = 15,
    LicenseError = 16,
}

internal enum CublasOperation
{
    None = 0,
    Transpose = 1,
}

internal enum CublasMath
{
    /// <summary>CUBLAS_DEFAULT_MATH: SGEMM in full fp32.</summary>
    Default = 0,
    /// <summary>CUBLAS_TF32_TENSOR_OP_MATH: SGEMM may round inputs to TF32 (10-bit mantissa) on tensor cores.</summary>
    Tf32TensorOp = 3,
}

/// <summary>cuBLAS has no name lookup before 11.4, so the statuses are named here (cublas_api.h's words).</summary>
internal static class CublasStatusNames
{
    public static (string Name, string Text) Describe(CublasStatus status) => status switch
    {
        CublasStatus.Success => ("CUBLAS_STATUS_SUCCESS", "success"),
        CublasStatus.NotInitialized => ("CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"),
        CublasStatus.AllocFailed => ("CUBLAS_STATUS_ALLOC_FAILED", "resource allocation failed"),
        CublasStatus.InvalidValue => ("CUBLAS_STATUS_INVALID_VALUE", "an unsupported value or parameter was passed to the function"),
        CublasStatus.ArchMismatch => ("CUBLAS_STATUS_ARCH_MISMATCH", "the function requires a feature absent from the device architecture"),
        CublasStatus.MappingError => ("CUBLAS_STATUS_MAPPING_ERROR", "an access to GPU memory space failed"),
        CublasStatus.ExecutionFailed => ("CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"),
        CublasStatus.InternalError => ("CUBLAS_STATUS_INTERNAL_ERROR", "an internal cuBLAS operation failed"),
        CublasStatus.NotSupported => ("CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"),
        CublasStatus.LicenseError => ("CUBLAS_STATUS_LICENSE_ERROR", "the functionality requested requires some license"),
        _ => ($"CUBLAS_STATUS_{(int)status}", "unknown cuBLAS status"),
    };
}

/// <summary>A cuBLAS handle, destroyed with its context current (it may be released on the finalizer thread).</summary>
internal sealed class SafeCublasHandle : ContextBoundHandle
{
    private SafeCublasHandle(PrimaryContextHandle context, nint handle) : base(context, handle) { }

    /// <summary>A handle on the current context (the caller made <paramref name="context"/> current).</summary>
    public static unsafe SafeCublasHandle Create(PrimaryContextHandle context)
    {
        nint handle;
        Check.Blas(Cublas.cublasCreate_v2(&handle), nameof(Cublas.cublasCreate_v2));
        return new SafeCublasHandle(context, handle);
    }

    protected override void Destroy(nint handle) => Cublas.cublasDestroy_v2(handle);
}
