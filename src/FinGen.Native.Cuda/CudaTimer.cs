using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>
/// Times the work queued on a backend's stream between <see cref="Start"/> and <see cref="Stop"/> with two events,
/// measured on the device (no host clock, no synchronization until <see cref="ElapsedMilliseconds"/>).
/// </summary>
public sealed unsafe class CudaTimer : IDisposable
{
    private readonly CudaBackend _backend;
    private readonly SafeEventHandle _start, _stop;

    internal CudaTimer(CudaBackend backend)
    {
        _backend = backend;
        _start = SafeEventHandle.Create(backend.Context, Driver.EventDefault);
        try
        {
            _stop = SafeEventHandle.Create(backend.Context, Driver.EventDefault);
        }
        catch
        {
            _start.Dispose();
            throw;
        }
    }

    public void Start()
    {
        _backend.Enter();
        Check.Cu(Driver.cuEventRecord(_start.Value, _backend.Stream), nameof(Driver.cuEventRecord));
    }

    public void Stop()
    {
        _backend.Enter();
        Check.Cu(Driver.cuEventRecord(_stop.Value, _backend.Stream), nameof(Driver.cuEventRecord));
    }

    /// <summary>Waits for the stop event, then returns the device time between the two events.</summary>
    public float ElapsedMilliseconds()
    {
        _backend.Enter();
        Check.Cu(Driver.cuEventSynchronize(_stop.Value), nameof(Driver.cuEventSynchronize));
        float milliseconds;
        Check.Cu(Driver.cuEventElapsedTime(&milliseconds, _start.Value, _stop.Value), nameof(Driver.cuEventElapsedTime));
        return milliseconds;
    }

    public void Dispose()
    {
        _stop.Dispose();
        _start.Dispose();
    }
}
