using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// A fixed group of threads — the caller plus <see cref="Size"/> − 1 partner threads owned by the gang — that run
/// one job together, each its own statically assigned part, with barriers between the job's phases. Made for
/// jobs of a few microseconds whose phases depend on each other, such as one sample through a generator, split
/// layer by layer (<see cref="Sampler"/>).
/// </summary>
/// <remarks>
/// Why not <see cref="CpuWorkers"/>: it hands indices out dynamically (one contended atomic per chunk), lets the
/// caller take back a worker's part when the worker is slow to start (so a body may never wait for another),
/// and its idle workers yield to the OS while they poll, which costs up to a microsecond to notice a job. Here
/// every member is certain to run its part, so parts can meet at barriers, and an idle partner polls with
/// PAUSE only, noticing a job in about the time a cache line takes to cross cores. The price is a core kept
/// busy while the gang is idle for up to <c>spin</c>; after that a partner blocks on its event, and the next
/// job pays the OS wake-up (tens of µs on a VM) once.
/// Barrier waits turn to yielding after ~20 µs so that an oversubscribed machine (a partner descheduled in the
/// middle of a job) slows down instead of burning the core its partner needs.
/// One job runs at a time: <see cref="TryRun"/> returns false while another caller's job runs, so callers fall
/// back to doing the work alone.
/// </remarks>
internal sealed unsafe class CpuGang : IDisposable
{
    /// <summary>Each member's counters, alone on a cache line (the others poll them).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Member
    {
        /// <summary>Barriers this member has reached, over the gang's life; members stay in lockstep because every
        /// part of a job passes the same barriers.</summary>
        [FieldOffset(64)] public long Arrived;

        /// <summary>The last job this partner was asked to run (written by the caller).</summary>
        [FieldOffset(72)] public long Job;

        /// <summary>1 while the partner is (about to be) blocked on its event and needs a Set to see <see cref="Job"/>.</summary>
        [FieldOffset(80)] public int Sleeping;
    }

    private readonly Member[] _members;
    private readonly Thread[] _threads;
    private readonly AutoResetEvent[] _wake;
    private readonly long _spinTicks;
    private int _busy;
    private long _job;
    private volatile bool _stopping;
    private volatile bool _failed;
    private Exception? _error;
    private delegate*<int, CpuGang, void*, void> _body;
    private void* _state;

    /// <param name="size">Threads in a job, the caller included (2 or more).</param>
    /// <param name="spin">How long an idle partner keeps polling for the next job before it blocks.</param>
    public CpuGang(int size, TimeSpan spin)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        Size = size;
        _spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
        _members = new Member[size];
        _threads = new Thread[size - 1];
        _wake = new AutoResetEvent[size - 1];
        for (int p = 1; p < size; p++)
        {
            _wake[p - 1] = new AutoResetEvent(false);
            int member = p;
            _threads[p - 1] = new Thread(() => PartnerLoop(member), maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = $"FinGen gang partner {member}",
            };
            _threads[p - 1].Start();
        }
    }

    /// <summary>Threads in a job, the caller included; the caller is member 0.</summary>
    public int Size { get; }

    /// <summary>
    /// Runs <paramref name="body"/>(member, gang, <paramref name="state"/>) on every member at once and returns when
    /// all parts are done; false (and nothing run) when another job holds the gang. <paramref name="state"/> may
    /// point to the caller's stack: no part outlives the call. If a part throws, the others are released from
    /// their barriers and the first exception is rethrown here.
    /// </summary>
    public bool TryRun(delegate*<int, CpuGang, void*, void> body, void* state)
    {
        ArgumentNullException.ThrowIfNull(body);
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            _body = body;
            _state = state;
            long job = ++_job;
            for (int p = 1; p < Size; p++)
            {
                // Full fences on both sides (here and in WaitForJob): either the partner sees the job, or we see it sleeping.
                Interlocked.Exchange(ref _members[p].Job, job);
                if (Volatile.Read(ref _members[p].Sleeping) != 0) _wake[p - 1].Set();
            }
            RunPart(0);
            Barrier(0); // the join: every partner arrives here after its part
            _body = null;
            _state = null;
        }
        finally
        {
            try
            {
                if (_failed) Recover(); // rethrows the failure
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }
        return true;
    }

    /// <summary>Called by every member inside a job: returns once all members have reached this barrier.</summary>
    public void Barrier(int member)
    {
        long target = Interlocked.Increment(ref _members[member].Arrived);
        long start = 0;
        for (int p = 0; p < Size; p++)
        {
            int spins = 0;
            while (Volatile.Read(ref _members[p].Arrived) < target)
            {
                if (_failed) throw new OperationCanceledException("another part of the job failed");
                if (++spins < 256) { Pause(); continue; }
                spins = 0;
                long now = Stopwatch.GetTimestamp();
                if (start == 0) start = now;
                else if (now - start > Stopwatch.Frequency / 50_000) Thread.Yield(); // past ~20 µs: let a descheduled member run
            }
        }
    }

    private void RunPart(int member)
    {
        try
        {
            _body(member, this, _state);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
            _failed = true;
            if (member == 0) throw;
        }
    }

    /// <summary>After a failed job: wait for every partner to leave it, realign the barrier counters, rethrow.</summary>
    private void Recover()
    {
        for (int p = 1; p < Size; p++)
            while (Volatile.Read(ref _members[p].Job) != -_job) Thread.Yield();
        long arrived = 0;
        for (int p = 0; p < Size; p++) arrived = Math.Max(arrived, Volatile.Read(ref _members[p].Arrived));
        for (int p = 0; p < Size; p++) Volatile.Write(ref _members[p].Arrived, arrived);
        var error = _error;
        _error = null;
        _failed = false;
        for (int p = 1; p < Size; p++) Volatile.Write(ref _members[p].Job, _job);
        if (error is not OperationCanceledException and not null) ExceptionDispatchInfo.Throw(error);
    }

    private void PartnerLoop(int member)
    {
        long seen = 0;
        while (true)
        {
            long job = WaitForJob(member, seen);
            if (_stopping) return;
            seen = job;
            RunPart(member);
            if (_failed)
            {
                // Tell Recover this part is over (the negated job number), and do not arrive at the join.
                Volatile.Write(ref _members[member].Job, -job);
                while (Volatile.Read(ref _members[member].Job) == -job && !_stopping) Thread.Yield();
                continue;
            }
            Interlocked.Increment(ref _members[member].Arrived); // the join; the caller waits for it, we do not
        }
    }

    private long WaitForJob(int member, long seen)
    {
        ref Member me = ref _members[member];
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
            if (Volatile.Read(ref me.Job) == seen && !_stopping) _wake[member - 1].WaitOne();
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
