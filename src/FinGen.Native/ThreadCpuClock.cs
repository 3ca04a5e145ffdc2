using System.Diagnostics;
using FinGen.Native.Interop;

namespace FinGen.Native;

/// <summary>
/// The CPU time of the calling thread, for breaking a parallel job's time down by phase: on shared cores a thread's wall
/// time also counts the time it waited for a core, so phase times read from a stopwatch add up to more than the work
/// (measured: 12 s of "generation" in a run that used 4.6 s of CPU in all). Linux's thread CPU clock; elsewhere, or
/// where it fails, the stopwatch.
/// </summary>
internal static class ThreadCpuClock
{
    private static readonly bool Available = OperatingSystem.IsLinux() && TryRead(out _);

    /// <summary>Whether <see cref="Now"/> is CPU time (false: wall time).</summary>
    public static bool IsCpuTime => Available;

    /// <summary>The calling thread's CPU time so far (or a stopwatch reading), as <see cref="TimeSpan"/> ticks; only differences mean anything.</summary>
    public static long Now()
    {
        if (Available && TryRead(out long ticks)) return ticks;
        return Stopwatch.GetElapsedTime(0, Stopwatch.GetTimestamp()).Ticks;
    }

    private static unsafe bool TryRead(out long ticks)
    {
        Libc.TimeSpec time;
        try
        {
            if (Libc.ClockGetTime(Libc.ClockThreadCpuTime, &time) != 0)
            {
                ticks = 0;
                return false;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            ticks = 0;
            return false;
        }
        ticks = time.Seconds * TimeSpan.TicksPerSecond + time.Nanoseconds / 100;
        return true;
    }
}
