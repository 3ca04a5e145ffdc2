using System.Runtime.InteropServices;

namespace FinGen.Native.Interop;

/// <summary>The C library (Linux), only what the engine calls: the calling thread's CPU clock.</summary>
internal static unsafe partial class Libc
{
    private const string Library = "libc";

    /// <summary>CLOCK_THREAD_CPUTIME_ID: CPU time the calling thread has consumed, user and system.</summary>
    public const int ClockThreadCpuTime = 3;

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Library, EntryPoint = "clock_gettime")]
    internal static partial int ClockGetTime(int clock, TimeSpec* time);
}
