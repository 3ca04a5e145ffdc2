using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>
/// Whether the CUDA backend can run here and, either way, why (one line). Decided by <c>cuInit</c> succeeding with
/// at least one device (a loadable libcuda.so.1 is not enough: it exists on machines with no GPU), the kernels
/// being present (embedded or <c>FINGEN_KERNELS</c>) and cuBLAS loading.
/// </summary>
/// <param name="IsAvailable">true when <see cref="CudaBackend.Create"/> can be expected to succeed.</param>
/// <param name="Reason">One line: what was found, or what is missing, e.g.
/// "no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected)".</param>
/// <param name="DeviceCount">Devices cuInit found (0 when it failed).</param>
/// <param name="DriverVersion">The driver's CUDA version ("13.0"), or null when libcuda did not load.</param>
public sealed record CudaAvailability(bool IsAvailable, string Reason, int DeviceCount, string? DriverVersion)
{
    internal static unsafe CudaAvailability Probe()
    {
        var driver = NativeLibraries.Load(NativeLibraries.Cuda);
        if (!driver.Loaded) return new(false, $"no CUDA driver: {driver.Error}", 0, null);
        try
        {
            string? driverVersion = QueryDriverVersion();
            var status = Driver.cuInit(0);
            if (status != CUresult.Success)
                return new(false, $"no CUDA device ({Check.DriverError(status, nameof(Driver.cuInit)).Message})", 0, driverVersion);
            int count;
            status = Driver.cuDeviceGetCount(&count);
            if (status != CUresult.Success)
                return new(false, $"no CUDA device ({Check.DriverError(status, nameof(Driver.cuDeviceGetCount)).Message})", 0, driverVersion);
            if (count < 1) return new(false, "no CUDA device (cuDeviceGetCount: 0 devices)", 0, driverVersion);

            var kernels = KernelImage.Locate(out string problem);
            if (kernels is null) return new(false, problem, count, driverVersion);
            var cublas = NativeLibraries.Load(NativeLibraries.Cublas);
            if (!cublas.Loaded) return new(false, $"cuBLAS not found: {cublas.Error}", count, driverVersion);
            string devices = count == 1 ? "1 device" : $"{count} devices";
            return new(true, $"{devices}, driver {driverVersion}, kernels from {kernels.Description}, cuBLAS {cublas.LoadedFrom}", count, driverVersion);
        }
        catch (EntryPointNotFoundException e)
        {
            return new(false, $"the CUDA driver ({driver.LoadedFrom}) is too old: {e.Message}", 0, null);
        }
    }

    /// <summary>cuDriverGetVersion needs no cuInit: "13.0" from 13000.</summary>
    internal static unsafe string? QueryDriverVersion()
    {
        int version;
        return Driver.cuDriverGetVersion(&version) == CUresult.Success ? $"{version / 1000}.{version % 1000 / 10}" : null;
    }
}
