using System.Diagnostics;

namespace FinGen.Native.Backends;

/// <summary>
/// How <see cref="ProfilingBackend"/> times one op: <see cref="Start"/> just before the op is queued on the wrapped
/// backend, <see cref="Stop"/> just after, both with the op's index in <see cref="ProfilingBackend.OpNames"/>.
/// A timer may keep measurements pending (a GPU's events are read only after the device got there);
/// <see cref="Collect"/> completes them and adds each op's time into the caller's array. Implementations allocate
/// nothing per op. The core library has the host-clock one (<see cref="StopwatchOpTimer"/>); the CUDA project adds one
/// that records events on the backend's stream, which this library cannot reference.
/// </summary>
public interface IOpTimer : IDisposable
{
    /// <summary>What the times are, for the table's header, e.g. "host wall time, synchronized around each op".</summary>
    string Clock { get; }

    void Start(int op);

    void Stop(int op);

    /// <summary>Completes every pending measurement (waiting for the device where needed) and adds each op's
    /// microseconds into <paramref name="microseconds"/>[op]; afterwards nothing is pending.</summary>
    void Collect(Span<double> microseconds);
}

/// <summary>
/// Host wall time per op, with the wrapped backend synchronized before and after so queued device work is charged
/// to the op that queued it (a no-op on the CPU backends). On a GPU that serializes host and device, so it explains
/// where time goes but slows the step; the CUDA event timer does not.
/// </summary>
public sealed class StopwatchOpTimer(IBackend inner) : IOpTimer
{
    private double[] _pending = new double[ProfilingBackend.OpNames.Count];
    private long _started;

    public string Clock => inner.Name.StartsWith("cpu", StringComparison.Ordinal)
        ? "host wall time"
        : "host wall time, device synchronized around each op";

    public void Start(int op)
    {
        inner.Synchronize();
        _started = Stopwatch.GetTimestamp();
    }

    public void Stop(int op)
    {
        inner.Synchronize();
        _pending[op] += (Stopwatch.GetTimestamp() - _started) * 1e6 / Stopwatch.Frequency;
    }

    public void Collect(Span<double> microseconds)
    {
        for (int op = 0; op < _pending.Length; op++) microseconds[op] += _pending[op];
        Array.Clear(_pending);
    }

    public void Dispose() => _pending = [];
}
