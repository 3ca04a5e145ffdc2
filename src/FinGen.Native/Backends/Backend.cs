using FinGen.Native.Backends.Cpu;

namespace FinGen.Native.Backends;

/// <summary>Maps names to backends; <c>FINGEN_BACKEND=cpu-ref|cpu</c> forces one (as Sep's SEPFORCEPARSER).</summary>
public static class Backend
{
    public const string EnvironmentVariable = "FINGEN_BACKEND";

    public static IReadOnlyList<string> CpuNames { get; } = ["cpu-ref", "cpu"];

    /// <summary>A CPU backend by name; null or empty means the environment's choice, else the SIMD backend.</summary>
    public static IBackend CreateCpu(string? name = null)
    {
        name = string.IsNullOrEmpty(name) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : name;
        return name switch
        {
            null or "" or "cpu" => new CpuSimdBackend(),
            "cpu-ref" => new CpuReferenceBackend(),
            _ => Throw.User<IBackend>($"{EnvironmentVariable}='{name}' is not a CPU backend; use one of: {string.Join(", ", CpuNames)}"),
        };
    }
}
