using System.CommandLine;
using System.Reflection;
using System.Runtime.Intrinsics;
using FinGen.Native;
using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Cuda;

namespace FinGen.Cli;

internal static class InfoCommand
{
    public static string Version { get; } =
        typeof(InfoCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static Command Create(CliConsole console)
    {
        var command = new Command("info", "Show the version, the backends, the CPU (microarchitecture, SIMD, caches, measured FMA peak) and why CUDA is or is not available");
        command.SetAction(_ =>
        {
            var o = console.Out;
            o.WriteLine($"fingen {Version} (.NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription})");
            o.WriteLine($"backends: {string.Join(", ", Backend.CpuNames)}, cuda (--device auto: cuda when available, else cpu; {Backend.EnvironmentVariable} forces a CPU one)");
            var cpu = CpuDescription.Detect();
            o.WriteLine($"cpu: {cpu.Brand}; {cpu.Identity}");
            o.WriteLine($"  {English.Plural(cpu.LogicalCores, "logical core")}, {English.Plural(CpuWorkers.Count, "worker thread")}; SIMD {cpu.SimdExecution}");
            o.WriteLine($"  caches (per core unless shared): {cpu.CacheSummary}");
            o.WriteLine($"  FMA peak, measured now: {FmaPeak.Measure()}");
            WriteCuda(o);
            WriteNvtx(o);
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>"cuda: available: ..." or "cuda: not available: reason", then one line per device that answers.</summary>
    private static void WriteCuda(TextWriter o)
    {
        var cuda = CudaBackend.Probe();
        o.WriteLine(cuda.IsAvailable ? $"cuda: available: {cuda.Reason}" : $"cuda: not available: {cuda.Reason}");
        if (cuda.DeviceCount == 0) return;
        try
        {
            foreach (var device in CudaDeviceInfo.QueryAll()) o.WriteLine($"  {device}");
        }
        catch (CudaException e)
        {
            o.WriteLine($"  device query failed: {e.Message}");
        }
    }

    /// <summary>Whether <c>fingen bench --profile --device cuda</c> will name NVTX ranges after ops (for Nsight Systems).</summary>
    private static void WriteNvtx(TextWriter o)
    {
        var nvtx = FinGen.Native.Cuda.Interop.Nvtx.Attempt;
        o.WriteLine(nvtx.Loaded
            ? $"nvtx: {nvtx.LoadedFrom}{(Path.IsPathRooted(nvtx.LoadedFrom) ? "" : " from the OS default search")} (bench --profile on CUDA names a range after each op)"
            : $"nvtx: not found, so no ranges: {nvtx.Error}");
    }
}
