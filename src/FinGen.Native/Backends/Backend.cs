using FinGen.Native.Backends.Cpu;

namespace FinGen.Native.Backends;

/// <summary>Maps names to backends; <c>FINGEN_BACKEND=cpu-ref|cpu</c> forces one (as Sep's SEPFORCEPARSER).</summary>
public static class Backend
{
    public const string EnvironmentVariable = "FINGEN_BACKEND";

    public static IReadOnlyList<string> CpuNames { get; } = ["cpu-ref", "cpu"];

    /// <summary>The variable that caps the CPU worker threads (see <see cref="CheckThreadsVariable"/>).</summary>
    public const string ThreadsVariable = "FINGEN_THREADS";

    /// <summary>
    /// Refuses a FINGEN_THREADS that is set but not a positive whole number, as an unknown FINGEN_BACKEND is refused
    /// (the worker pool, which reads it once, would otherwise ignore it silently and use every core).
    /// </summary>
    public static void CheckThreadsVariable()
    {
        string? text = Environment.GetEnvironmentVariable(ThreadsVariable);
        if (CpuWorkers.ParseCount(text) is null && !string.IsNullOrEmpty(text))
            Throw.User($"{ThreadsVariable}='{text}' is not a positive whole number of threads; unset it (every core) or set e.g. {ThreadsVariable}=2");
    }

    /// <summary>A CPU backend by name; null or empty means the environment's choice, else the SIMD backend.</summary>
    public static IBackend CreateCpu(string? name = null)
    {
        CheckThreadsVariable();
        name = string.IsNullOrEmpty(name) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : name;
        return name switch
        {
            null or "" or "cpu" => new CpuSimdBackend(),
            "cpu-ref" => new CpuReferenceBackend(),
            _ => Throw.User<IBackend>($"{EnvironmentVariable}='{name}' is not a CPU backend; use one of: {string.Join(", ", CpuNames)}"),
        };
    }
}
