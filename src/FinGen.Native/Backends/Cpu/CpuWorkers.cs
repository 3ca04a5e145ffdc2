using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// A tiny persistent thread pool for the hot CPU ops (SGEMM and friends).
/// </summary>
/// <remarks>
/// Why not <c>Parallel.For</c>: a training step runs dozens of small GEMMs (tens of microseconds each), and
/// Parallel.For allocates closures, tasks and partitioners on every call and pays a scheduling hop through the
/// shared ThreadPool. Here <see cref="Count"/> − 1 worker threads are started once and reused; the caller runs
/// a share of the loop itself. Between jobs a worker polls for ~1 ms (so back-to-back ops in one step are
/// handed over in about a microsecond), yielding as it polls so it never starves a thread sharing its core,
/// then blocks on its own event so an idle process burns no CPU. A call allocates nothing: the body is a function
/// pointer and its arguments travel as one <c>void*</c>, usually the address of a struct on the caller's stack,
/// which is safe because <see cref="For"/> does not return before every worker has left the body.
/// One job runs at a time. A call made while another is running (from a second thread, or from inside a body)
/// runs its whole loop inline on the calling thread instead of waiting, so it can never deadlock.
/// </remarks>
internal static unsafe class CpuWorkers
{
    /// <summary>Threads a job may use, the caller included: FINGEN_THREADS if set to a positive number, else every core.</summary>
    public static int Count { get; } = ReadCount();

    /// <summary>
    /// How long an idle worker polls for the next job before it blocks: long enough to bridge the single-threaded
    /// stretches of a training step (an optimizer update takes a few hundred µs), short enough that an idle process
    /// stops burning a core almost at once. Waking a blocked thread costs tens of µs on a VM.
    /// </summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 1_000; // 1 ms

    private static int s_busy;      // 1 while a job owns the workers
    private static bool s_started;  // worker threads created; only touched while s_busy is held

    // The current job: written by the dispatcher before it raises the workers' Go flags, read by them after.
    private static delegate*<int, void*, void> s_body;
    private static void* s_state;
    private static int s_count;
    private static int s_next;          // next index to claim
    private static int s_running;       // workers that have not yet finished the current job
    private static Exception? s_error;  // first exception thrown by a body, rethrown by the caller

    private static readonly Slot[] Slots = new Slot[Math.Max(0, Count - 1)];
    private static readonly AutoResetEvent[] Wake = new AutoResetEvent[Slots.Length];

    /// <summary>One worker's flags, alone on a cache line (the caller writes them while the worker polls them).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Slot
    {
        /// <summary>
        /// 1 = "take part in the current job". Whoever turns it back to 0 (atomically) owns that part: the worker,
        /// which then runs and counts itself off <see cref="s_running"/>, or the caller, which takes back the part
        /// of a worker that has not started by the time every index is claimed, so a worker that is still waking
        /// up never delays the caller. Flags are raised only once the previous job has fully finished, so a job
        /// is never run twice by one worker.
        /// </summary>
        [FieldOffset(64)] public int Go;

        /// <summary>1 while the worker is (about to be) blocked on its event and needs a Set to see Go.</summary>
        [FieldOffset(68)] public int Sleeping;
    }

    /// <summary>
    /// Runs <paramref name="body"/>(i, <paramref name="state"/>) for every i in [0, <paramref name="count"/>) on
    /// up to <paramref name="maxDegree"/> threads, the calling thread included, and returns when all are done.
    /// Indices are handed out dynamically, so the body must not care which thread runs which index. If a body
    /// throws, the remaining indices are skipped and the first exception is rethrown here.
    /// </summary>
    public static void For(int count, delegate*<int, void*, void> body, void* state, int maxDegree)
    {
        ArgumentNullException.ThrowIfNull(body);
        int degree = Math.Min(Math.Min(maxDegree, Count), count);
        if (degree <= 1 || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body(i, state);
            return;
        }

        Exception? error;
        try
        {
            EnsureStarted();
            int helpers = degree - 1;
            s_body = body;
            s_state = state;
            s_count = count;
            s_next = 0;
            s_error = null;
            Volatile.Write(ref s_running, helpers);
            for (int w = 0; w < helpers; w++)
            {
                // Full fences on both sides (here and in WaitForWork): either the worker sees Go, or we see Sleeping.
                Interlocked.Exchange(ref Slots[w].Go, 1);
                if (Volatile.Read(ref Slots[w].Sleeping) != 0) Wake[w].Set();
            }

            RunShare();

            // All indices are claimed. Take back the parts of workers that have not started; the others hold at
            // most one index each, so spinning (with yields) is the right way to wait for them.
            for (int w = 0; w < helpers; w++)
                if (Interlocked.CompareExchange(ref Slots[w].Go, 0, 1) == 1) Interlocked.Decrement(ref s_running);
            var spinner = new SpinWait();
            while (Volatile.Read(ref s_running) != 0) spinner.SpinOnce(sleep1Threshold: -1);
            error = s_error;
            s_error = null;
            s_body = null;
            s_state = null;
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }
        if (error != null) ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>Claims and runs indices of the current job until none are left; never throws.</summary>
    private static void RunShare()
    {
        var body = s_body;
        var state = s_state;
        int count = s_count;
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref s_next) - 1) < count) body(i, state);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref s_error, e, null);
            Volatile.Write(ref s_next, count); // stop everyone else early
        }
    }

    private static void EnsureStarted()
    {
        if (s_started) return;
        for (int w = 0; w < Slots.Length; w++)
        {
            Wake[w] = new AutoResetEvent(false);
            int index = w;
            var thread = new Thread(() => WorkerLoop(index), maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = $"FinGen CPU worker {index + 1}",
            };
            thread.Start();
        }
        s_started = true;
    }

    private static void WorkerLoop(int index)
    {
        ref Slot slot = ref Slots[index];
        var wake = Wake[index];
        while (true)
        {
            WaitForWork(ref slot, wake);
            if (Interlocked.CompareExchange(ref slot.Go, 0, 1) != 1) continue; // the caller took this part back
            RunShare(); // catches the body's exceptions; anything escaping here is a bug and crashes the process loudly
            Interlocked.Decrement(ref s_running);
        }
    }

    private static void WaitForWork(ref Slot slot, AutoResetEvent wake)
    {
        long start = Stopwatch.GetTimestamp();
        var spinner = new SpinWait();
        while (Volatile.Read(ref slot.Go) == 0)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks)
            {
                spinner.SpinOnce(sleep1Threshold: -1); // pauses, then yields, so a co-scheduled caller still runs
                continue;
            }
            // Block. Announce it first, then look at Go once more (see For): a Set that races with this is not
            // lost because the event stays signalled, and a stale signal only costs one extra loop.
            Interlocked.Exchange(ref slot.Sleeping, 1);
            if (Volatile.Read(ref slot.Go) == 0) wake.WaitOne();
            Volatile.Write(ref slot.Sleeping, 0);
            // Being woken means jobs are arriving again: poll afresh. (Without this, a worker whose part was
            // taken back while it woke up would block again at once, and keep missing every job shorter than
            // its wake-up latency.)
            start = Stopwatch.GetTimestamp();
            spinner.Reset();
        }
    }

    private static int ReadCount() =>
        ParseCount(Environment.GetEnvironmentVariable("FINGEN_THREADS")) ?? Math.Max(1, Environment.ProcessorCount);

    /// <summary>A FINGEN_THREADS value as a thread count (at most 1024), or null when it is unset or not a positive whole number.</summary>
    internal static int? ParseCount(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? Math.Min(n, 1024) : null;
}
