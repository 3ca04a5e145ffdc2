using System.Runtime.InteropServices;

namespace FinGen.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM during training: the first asks the run to stop after the step in progress (it then
/// writes its checkpoint and exits 130 or 143, the shell's codes for death by those signals); a second one exits at
/// once (130 or 143, for that signal), keeping the last periodic checkpoint.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _signal;

    public StopSignals(TextWriter error)
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, context => OnSignal(context, 130, error)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => OnSignal(context, 143, error)),
        ];
    }

    /// <summary>Cancelled by the first signal (or by <see cref="Cancel"/>).</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>130 after SIGINT, 143 after SIGTERM, 0 while none came.</summary>
    public int ExitCode => Volatile.Read(ref _signal);

    public string SignalName => ExitCode == 143 ? "SIGTERM" : "Ctrl-C";

    /// <summary>Stops the run as a signal would, without one (a divergence).</summary>
    public void Cancel() => _stop.Cancel();

    private void OnSignal(PosixSignalContext context, int code, TextWriter error)
    {
        context.Cancel = true; // no default termination: the training loop finishes its step and checkpoints
        if (Interlocked.CompareExchange(ref _signal, code, 0) != 0)
        {
            error.WriteLine("fingen: stopped at once (second signal); the last periodic checkpoint is kept");
            error.Flush();
            Environment.Exit(code);
        }
        error.WriteLine($"fingen: {(code == 143 ? "SIGTERM" : "Ctrl-C")}: finishing the current step and writing a checkpoint (again to stop at once)");
        error.Flush();
        _stop.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }
}
