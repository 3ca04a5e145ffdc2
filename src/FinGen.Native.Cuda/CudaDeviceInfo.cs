using System.Globalization;
using System.Text;
using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>What <c>fingen info</c> says about a device and the libraries that drive it.</summary>
/// <param name="Ordinal">The device number (<c>--device cuda</c> uses 0).</param>
/// <param name="Name">e.g. "NVIDIA H100 80GB HBM3".</param>
/// <param name="Multiprocessors">Streaming multiprocessors.</param>
/// <param name="ComputeCapability">"9.0" for Hopper.</param>
/// <param name="TotalMemoryBytes">Device memory.</param>
/// <param name="DriverVersion">The CUDA version the driver supports, e.g. "13.0".</param>
/// <param name="CublasVersion">e.g. "13.0.2", or null with <paramref name="CublasMissing"/> saying why.</param>
/// <param name="CublasMissing">Why cuBLAS is absent; null when it loaded.</param>
/// <param name="CudnnVersion">e.g. "9.10.2", or null with <paramref name="CudnnMissing"/> saying why (cuDNN is optional).</param>
/// <param name="CudnnMissing">Why cuDNN is absent; null when it loaded.</param>
public sealed record CudaDeviceInfo(
    int Ordinal, string Name, int Multiprocessors, string ComputeCapability, long TotalMemoryBytes, string DriverVersion,
    string? CublasVersion, string? CublasMissing, string? CudnnVersion, string? CudnnMissing)
{
    /// <summary>What the CPU stand-in for the CUDA libraries (tests/CudaStandIn) calls its device: its name starts so.</summary>
    public const string StandInNamePrefix = "FinGen CPU stand-in";

    /// <summary>True on the CPU stand-in, which runs the real kernels on the CPU to prove them correct: never time it.</summary>
    public bool IsStandIn => Name.StartsWith(StandInNamePrefix, StringComparison.Ordinal);

    /// <summary>One line, e.g. "device 0: NVIDIA H100 80GB HBM3, compute 9.0, 132 SMs, 79.2 GiB; driver 13.0; cuBLAS 13.0.2; cuDNN 9.10.2".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"device {Ordinal}: {Name}, compute {ComputeCapability}, {Multiprocessors} SMs, {TotalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB; " +
        $"driver {DriverVersion}; cuBLAS {CublasVersion ?? "not available: " + CublasMissing}; cuDNN {CudnnVersion ?? "not available: " + CudnnMissing}");

    /// <summary>Every device cuInit finds; empty when there is no driver or no device (<see cref="CudaBackend.Probe"/> says why).</summary>
    public static IReadOnlyList<CudaDeviceInfo> QueryAll()
    {
        var availability = CudaAvailability.Probe();
        var devices = new List<CudaDeviceInfo>();
        for (int i = 0; i < availability.DeviceCount; i++) devices.Add(Query(i, cublasHandle: 0));
        return devices;
    }

    /// <summary>
    /// Reads the device's properties (cuInit has succeeded). cuBLAS reports its version only through a handle:
    /// the backend passes its own; otherwise a temporary one is made on the device's primary context.
    /// </summary>
    internal static unsafe CudaDeviceInfo Query(int ordinal, nint cublasHandle)
    {
        int device;
        Check.Cu(Driver.cuDeviceGet(&device, ordinal), nameof(Driver.cuDeviceGet));
        byte* name = stackalloc byte[256];
        Check.Cu(Driver.cuDeviceGetName(name, 256, device), nameof(Driver.cuDeviceGetName));
        int length = 0;
        while (length < 256 && name[length] != 0) length++;
        int sms = Attribute(device, CUdeviceAttribute.MultiprocessorCount);
        int major = Attribute(device, CUdeviceAttribute.ComputeCapabilityMajor);
        int minor = Attribute(device, CUdeviceAttribute.ComputeCapabilityMinor);
        nuint bytes;
        Check.Cu(Driver.cuDeviceTotalMem_v2(&bytes, device), nameof(Driver.cuDeviceTotalMem_v2));
        var (cublas, cublasMissing) = CublasVersionOf(device, cublasHandle);
        var (cudnn, cudnnMissing) = QueryCudnnVersion();
        return new CudaDeviceInfo(ordinal, Encoding.UTF8.GetString(name, length), sms, $"{major}.{minor}", (long)bytes,
            CudaAvailability.QueryDriverVersion() ?? "unknown", cublas, cublasMissing, cudnn, cudnnMissing);
    }

    internal static unsafe int Attribute(int device, CUdeviceAttribute attribute)
    {
        int value;
        Check.Cu(Driver.cuDeviceGetAttribute(&value, attribute, device), nameof(Driver.cuDeviceGetAttribute));
        return value;
    }

    private static unsafe (string? Version, string? Missing) CublasVersionOf(int device, nint handle)
    {
        var library = NativeLibraries.Load(NativeLibraries.Cublas);
        if (!library.Loaded) return (null, library.Error);
        try
        {
            int version;
            if (handle != 0)
            {
                Check.Blas(Cublas.cublasGetVersion_v2(handle, &version), nameof(Cublas.cublasGetVersion_v2));
                return (Cublas.FormatVersion(version), null);
            }
            using var context = PrimaryContextHandle.Retain(device);
            context.MakeCurrent();
            using var temporary = SafeCublasHandle.Create(context);
            Check.Blas(Cublas.cublasGetVersion_v2(temporary.Value, &version), nameof(Cublas.cublasGetVersion_v2));
            return (Cublas.FormatVersion(version), null);
        }
        catch (CudaException e)
        {
            return (null, e.Message);
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, e.Message);
        }
    }

    private static (string? Version, string? Missing) QueryCudnnVersion()
    {
        var library = NativeLibraries.Load(NativeLibraries.Cudnn);
        if (!library.Loaded) return (null, library.Error);
        try
        {
            return (Cudnn.FormatVersion(Cudnn.cudnnGetVersion()), null);
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, e.Message);
        }
    }
}
