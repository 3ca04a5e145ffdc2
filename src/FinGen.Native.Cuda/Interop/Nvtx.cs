using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda.Interop;

/// <summary>
/// NVTX ranges and marks (<c>libnvToolsExt.so.1</c>, NVTX v2's C API, which NVTX 3's headers keep), so Nsight Systems
/// shows the engine's op names over its kernels. Only what the profiler uses; names are null-terminated UTF-8 that the
/// caller keeps pinned, so a call marshals nothing.
///
/// The library is a thin dispatcher: without a tool attached (Nsight sets <c>NVTX_INJECTION64_PATH</c>) every call
/// returns at once, and the push and pop return <see cref="NoPushPopTracking"/>. CUDA 13 no longer ships the library
/// (NVTX 3 is header-only there), so scripts/build-kernels.sh also builds <c>libfingen_nvtx.so</c>, the same entry points
/// compiled from the toolkit's NVTX 3 headers (kernels/nvtx/fingen_nvtx.cpp), which FinGen.Native.Cuda copies next to
/// the app and the resolver tries second, in each folder. On a CUDA 13 machine where neither is found (kernels not
/// built there, no pip wheel) nothing loads, <c>fingen info</c> says so, and profiles simply have no ranges: the event
/// timings do not depend on NVTX.
/// </summary>
internal static unsafe partial class Nvtx
{
    public const string Library = NativeLibraries.Nvtx;

    /// <summary>NVTX_NO_PUSH_POP_TRACKING (nvToolsExt.h): what push and pop return when no tool keeps track of ranges.</summary>
    public const int NoPushPopTracking = -2;

    /// <summary>Opens a range on this thread; returns its zero-based nesting level, or a negative value (see
    /// <see cref="NoPushPopTracking"/>) when no tool tracks ranges or on error.</summary>
    [LibraryImport(Library)] internal static partial int nvtxRangePushA(byte* message);

    /// <summary>Closes this thread's innermost range; returns the level of the range it closed, or a negative value.</summary>
    [LibraryImport(Library)] internal static partial int nvtxRangePop();

    /// <summary>An instant event on the timeline.</summary>
    [LibraryImport(Library)] internal static partial void nvtxMarkA(byte* message);

    private static readonly Lazy<NativeLibraries.LoadAttempt> s_attempt = new(() => NativeLibraries.Load(Library));

    /// <summary>Whether the library loaded (once; a missing one is no error, just no ranges). Never throws.</summary>
    public static bool IsAvailable => s_attempt.Value.Loaded;

    /// <summary>Where the library came from, or every place tried.</summary>
    public static NativeLibraries.LoadAttempt Attempt => s_attempt.Value;
}
