using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// A fixed group of threads — the caller plus <see cref="Size"/> − 1 partner threads owned by the gang — that run
/// one short job together, each member its own statically assigned part: a fork and a join, nothing in between.
/// Made for jobs of a few microseconds, such as one sample through a generator (<see cref="Sampler"/>).
/// </summary>
/// <remarks>
/// Why not <see cref="CpuWorkers"/>: its idle workers yield to the OS while they poll (a system call that can
/// make them notice a job a microsecond late), and it hands indices out through a shared counter. Here an idle
/// partner polls with PAUSE only, so a job costs two cache-line transfers between cores (the fork and the
/// join). On the 2-vCPU VM the benchmarks run on, a transfer takes ~0.3 µs, which is why a job has no
/// barriers: each would cost two more. The price is a core kept busy while the gang is idle, for up to
/// <c>spin</c>; after that a partner blocks on its event, and the next job pays the OS wake-up (tens of µs on a
/// VM) once. One job runs at a time: <see cref="TryRun"/> returns false while another caller's job runs, so
/// callers fall back to doing the work alone.
/// </remarks>
internal sealed unsafe class CpuGang : IDisposable
{
    /// <summary>One partner's flags, alone on a cache line (the caller writes Job, the partner writes Done).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Partner
    {
        /// <summary>The last job this partner was asked to run.</summary>
        [FieldOffset(64)] public long Job;

        /// <summary>The last job this partner finished.</summary>
        [FieldOffset(72)] public long Done;

        /// <summary>1 while the partner is (about to be) blocked on its event and needs a Set to see <see cref="Job"/>.</summary>
        [FieldOffset(80)] public int Sleeping;
    }

    private readonly Partner[] _partners;
    private readonly Thread[] _threads;
    private readonly AutoResetEvent[] _wake;
    private readonly Exception?[] _errors;
    private readonly long _spinTicks;
    private int _busy;
    private long _job;
    private volatile bool _stopping;
    private delegate*<int, void*, void> _body;
    private void* _state;

    /// <param name="size">Threads in a job, the caller included (2 or more).</param>
    /// <param name="spin">How long an idle partner keeps polling for the next job before it blocks.</param>
    public CpuGang(int size, TimeSpan spin)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        Size = size;
        _spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
        _partners = new Partner[size - 1];
        _errors = new Exception?[size - 1];
        _threads = new Thread[size - 1];
        _wake = new AutoResetEvent[size - 1];
        for (int p = 0; p < size - 1; p++)
        {
            _wake[p] = new AutoResetEvent(false);
            int index = p;
            _threads[p] = new Thread(() => PartnerLoop(index), maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = $"FinGen gang partner {index + 1}",
            };
            _threads[p].Start();
        }
    }

    /// <summary>Threads in a job, the caller included; the caller is member 0, partners are 1..Size−1.</summary>
    public int Size { get; }

    /// <summary>
    /// How many times the caller polled at the last job's join before every partner was done: 0 when the partners
    /// finished first. Callers that can move work between parts use it to balance them.
    /// </summary>
    public int LastJoinWaits { get; private set; }

    /// <summary>
    /// Runs <paramref name="body"/>(member, <paramref name="state"/>) on every member at once and returns when all
    /// parts are done; false (and nothing run) when another job holds the gang. <paramref name="state"/> may point
    /// to the caller's stack: no part outlives the call. Parts must not wait for each other. If parts throw, every
    /// part still runs to its end and the caller's exception, else the first partner's, is rethrown here.
    /// </summary>
    public bool TryRun(delegate*<int, void*, void> body, void* state)
    {
        ArgumentNullException.ThrowIfNull(body);
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            _body = body;
            _state = state;
            long job = ++_job;
            for (int p = 0; p < _partners.Length; p++)
            {
                // Full fences on both sides (here and in WaitForJob): either the partner sees the job, or we see it sleeping.
                Interlocked.Exchange(ref _partners[p].Job, job);
                if (Volatile.Read(ref _partners[p].Sleeping) != 0) _wake[p].Set();
            }
            try
            {
                body(0, state);
            }
            finally
            {
                // The join, even when our part threw: the partners may still be reading the caller's state.
                int waited = 0;
                for (int p = 0; p < _partners.Length; p++)
                {
                    // A partner descheduled mid-job (an oversubscribed machine) needs this core: yield after ~100 µs.
                    for (; Volatile.Read(ref _partners[p].Done) != job; waited++)
                        if (waited < 4096) Pause();
                        else Thread.Yield();
                }
                LastJoinWaits = waited;
                _body = null;
                _state = null;
            }
            for (int p = 0; p < _errors.Length; p++)
            {
                var error = _errors[p];
                if (error is null) continue;
                Array.Clear(_errors);
                ExceptionDispatchInfo.Throw(error);
            }
        }
        finally
        {
            Array.Clear(_errors);
            Volatile.Write(ref _busy, 0);
        }
        return true;
    }

    private void PartnerLoop(int index)
    {
        long seen = 0;
        while (true)
        {
            long job = WaitForJob(index, seen);
            if (_stopping) return;
            seen = job;
            try
            {
                _body(index + 1, _state);
            }
            catch (Exception e)
            {
                _errors[index] = e; // published by the Done write below
            }
            Volatile.Write(ref _partners[index].Done, job);
        }
    }

    private long WaitForJob(int index, long seen)
    {
        ref Partner me = ref _partners[index];
        long start = Stopwatch.GetTimestamp();
        int spins = 0;
        while (true)
        {
            long job = Volatile.Read(ref me.Job);
            if (job != seen || _stopping) return job;
            if (++spins < 1024) { Pause(); continue; }
            spins = 0;
            if (Stopwatch.GetTimestamp() - start < _spinTicks) continue;
            // Block. Announce it first, then look once more (see TryRun): a Set racing with this is not lost,
            // because the event stays signalled, and a stale signal only costs one more loop.
            Interlocked.Exchange(ref me.Sleeping, 1);
            if (Volatile.Read(ref me.Job) == seen && !_stopping) _wake[index].WaitOne();
            Volatile.Write(ref me.Sleeping, 0);
            start = Stopwatch.GetTimestamp();
        }
    }

    private static void Pause()
    {
        if (X86Base.IsSupported) X86Base.Pause();
        else Thread.SpinWait(1);
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        foreach (var wake in _wake) wake.Set();
        foreach (var thread in _threads) thread.Join();
        foreach (var wake in _wake) wake.Dispose();
    }
}
