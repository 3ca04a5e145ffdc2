using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda.Interop;

/// <summary>
/// cuDNN (<c>libcudnn.so.9</c> or <c>.8</c>): optional. No op uses it yet; <c>fingen info</c> reports its version
/// (or why it is absent), and a handle can be made on the backend's stream for the ops that will.
/// </summary>
internal static unsafe partial class Cudnn
{
    public const string Library = NativeLibraries.Cudnn;

    [LibraryImport(Library)] internal static partial CudnnStatus cudnnCreate(nint* handle);
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnDestroy(nint handle);
    [LibraryImport(Library)] internal static partial nuint cudnnGetVersion();
    [LibraryImport(Library)] internal static partial CudnnStatus cudnnSetStream(nint handle, nint stream);
    [LibraryImport(Library)] internal static partial byte* cudnnGetErrorString(CudnnStatus status);

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
