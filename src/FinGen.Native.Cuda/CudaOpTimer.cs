using System.Runtime.InteropServices;
using System.Text;
using FinGen.Native.Backends;
using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>
/// Times each op of a <see cref="ProfilingBackend"/> over a <see cref="CudaBackend"/> on the device: a pair of events
/// recorded on the backend's stream around the op, from a pool created up front. Nothing waits per op: the pairs are
/// read in one pass (one cuEventSynchronize on the last stop event, then cuEventElapsedTime per pair) when the profiler
/// collects, once a step, or when the pool is full. So the step runs as it would unprofiled, bar two event records per
/// op, and an op's time is the device time between its first and last queued work, launch gaps excluded.
///
/// Ops that wait on the host (upload, download) are timed the same way: from when the stream reached the start event to
/// when the stop event was recorded after the wait, which includes the copy. When NVTX loads, each op is also a range
/// named after it (pushed before the start event, popped after the stop event), from names encoded once into a pinned
/// buffer. Nothing per op allocates.
/// </summary>
public sealed unsafe class CudaOpTimer : IOpTimer
{
    /// <summary>Event pairs in the pool: enough for a step of the largest model here without an early collect.</summary>
    public const int DefaultCapacity = 1024;

    private readonly CudaBackend _backend;
    private readonly SafeEventHandle[] _events; // [start 0, stop 0, start 1, stop 1, ...]
    private readonly nint[] _starts, _stops;
    private readonly int[] _ops;
    private readonly double[] _pending;
    private readonly byte[] _names; // null-terminated UTF-8, pinned
    private readonly byte*[] _namePointers;
    private readonly bool _ranges;
    private int _count;
    private bool _open;

    /// <param name="backend">the backend whose stream is timed</param>
    /// <param name="opNames">the op names by index (<see cref="ProfilingBackend.OpNames"/>): the NVTX range names</param>
    /// <param name="capacity">event pairs before a collect is forced</param>
    /// <param name="nvtxRanges">wrap each op in an NVTX range when the library loads</param>
    public CudaOpTimer(CudaBackend backend, IReadOnlyList<string> opNames, int capacity = DefaultCapacity, bool nvtxRanges = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _backend = backend;
        _starts = new nint[capacity];
        _stops = new nint[capacity];
        _ops = new int[capacity];
        _pending = new double[opNames.Count];
        _events = new SafeEventHandle[2 * capacity];
        backend.Enter();
        try
        {
            for (int i = 0; i < capacity; i++)
            {
                _starts[i] = (_events[2 * i] = SafeEventHandle.Create(backend.Context, Driver.EventDefault)).Value;
                _stops[i] = (_events[2 * i + 1] = SafeEventHandle.Create(backend.Context, Driver.EventDefault)).Value;
            }
        }
        catch
        {
            Dispose();
            throw;
        }

        _names = GC.AllocateUninitializedArray<byte>(opNames.Sum(n => Encoding.UTF8.GetByteCount(n) + 1), pinned: true);
        _namePointers = new byte*[opNames.Count];
        int offset = 0;
        for (int op = 0; op < opNames.Count; op++)
        {
            _namePointers[op] = (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_names, offset);
            offset += Encoding.UTF8.GetBytes(opNames[op], _names.AsSpan(offset));
            _names[offset++] = 0;
        }
        _ranges = nvtxRanges && Nvtx.IsAvailable;
    }

    public string Clock => _ranges
        ? "device time between CUDA events around each op (NVTX ranges on)"
        : "device time between CUDA events around each op";

    /// <summary>Whether each op is also an NVTX range (the option was on and the library loaded).</summary>
    public bool NvtxRanges => _ranges;

    /// <summary>Event pairs recorded and not yet read.</summary>
    public int Pending => _count;

    public void Start(int op)
    {
        if (_count == _starts.Length) Resolve();
        _backend.Enter();
        if (_ranges) Nvtx.nvtxRangePushA(_namePointers[op]);
        Check.Cu(Driver.cuEventRecord(_starts[_count], _backend.Stream), nameof(Driver.cuEventRecord));
        _open = true;
    }

    public void Stop(int op)
    {
        if (!_open) throw new InvalidOperationException($"CudaOpTimer.Stop({op}) without a Start");
        _backend.Enter();
        Check.Cu(Driver.cuEventRecord(_stops[_count], _backend.Stream), nameof(Driver.cuEventRecord));
        if (_ranges) Nvtx.nvtxRangePop();
        _ops[_count++] = op;
        _open = false;
    }

    public void Collect(Span<double> microseconds)
    {
        Resolve();
        for (int op = 0; op < _pending.Length; op++) microseconds[op] += _pending[op];
        Array.Clear(_pending);
    }

    /// <summary>Waits once for the last stop event, then reads every pair into the pending totals.</summary>
    private void Resolve()
    {
        if (_count == 0) return;
        if (_backend.Capturing) throw new InvalidOperationException("CUDA op times cannot be read while a graph captures the stream");
        _backend.Enter();
        // The stream runs in order, so when its last stop event has completed every earlier event has too.
        Check.Cu(Driver.cuEventSynchronize(_stops[_count - 1]), nameof(Driver.cuEventSynchronize));
        for (int i = 0; i < _count; i++)
        {
            float milliseconds;
            Check.Cu(Driver.cuEventElapsedTime(&milliseconds, _starts[i], _stops[i]), nameof(Driver.cuEventElapsedTime));
            _pending[_ops[i]] += milliseconds * 1000.0;
        }
        _count = 0;
    }

    public void Dispose()
    {
        foreach (var e in _events) e?.Dispose();
        _count = 0;
    }
}
