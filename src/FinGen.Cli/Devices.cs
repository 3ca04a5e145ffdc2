using FinGen.Native;
using FinGen.Native.Backends;

namespace FinGen.Cli;

/// <summary>--device to a backend. CUDA arrives with its own backend; until then asking for it is a clear error.</summary>
internal static class Devices
{
    public const string CudaMissing = "no CUDA backend in this build yet; FinGen runs on the CPU (--device cpu or auto)";

    public static IBackend Create(string device) => device switch
    {
        "cuda" => throw new FinGenException($"--device cuda: {CudaMissing}"),
        _ => Backend.CreateCpu(),
    };
}
