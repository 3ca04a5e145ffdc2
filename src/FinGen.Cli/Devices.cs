using FinGen.Native;
using FinGen.Native.Backends;
using FinGen.Native.Cuda;

namespace FinGen.Cli;

/// <summary>--device to a backend: cpu, cuda, or auto (CUDA when a device answers and the kernels are there, else CPU).</summary>
internal static class Devices
{
    public static IBackend Create(string device) => device switch
    {
        "cuda" => CreateCuda(),
        "auto" => CreateAuto(),
        _ => Backend.CreateCpu(),
    };

    private static IBackend CreateCuda()
    {
        try
        {
            return CudaBackend.Create();
        }
        catch (FinGenException e)
        {
            throw new FinGenException($"--device cuda: {e.Message}", e);
        }
    }

    /// <summary>
    /// CUDA when <see cref="CudaBackend.Probe"/> says it is usable, unless FINGEN_BACKEND forces a CPU backend; a
    /// CUDA set-up that fails anyway (e.g. kernels without code for this GPU) falls back to the CPU, whose name the
    /// run reports.
    /// </summary>
    private static IBackend CreateAuto()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Backend.EnvironmentVariable)) && CudaBackend.Probe().IsAvailable)
        {
            try
            {
                return CudaBackend.Create();
            }
            catch (FinGenException)
            {
                // fall through to the CPU
            }
        }
        return Backend.CreateCpu();
    }
}
