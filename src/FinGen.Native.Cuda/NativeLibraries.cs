using System.Reflection;
using System.Runtime.InteropServices;

namespace FinGen.Native.Cuda;

/// <summary>
/// The one place that finds CUDA's shared libraries. The <c>[LibraryImport]</c> bindings name logical libraries
/// (<see cref="Cuda"/>, <see cref="Cublas"/>, <see cref="Cudnn"/>, <see cref="Nvtx"/>); one resolver registered on this assembly maps
/// each to the first of its versioned file names that loads, probing in order:
/// the app folder, <c>FINGEN_CUDA_PATH</c>, <c>CUDA_PATH</c> and <c>CUDA_PATH/lib64</c>, <c>/usr/local/cuda/lib64</c>,
/// <c>/usr/local/cuda/targets/x86_64-linux/lib</c>, the <c>nvidia/*/lib</c> folders of pip wheels under the usual
/// Python roots, then the OS default search (<c>LD_LIBRARY_PATH</c>, the ld.so cache). Every try is recorded
/// (path and result), and that trace is the error when nothing loads.
///
/// Loading a library says nothing about a GPU: <c>libcuda.so.1</c> can be present with no device. Whether CUDA is
/// usable is <see cref="CudaBackend.Probe"/>'s question, answered by cuInit.
/// </summary>
internal static class NativeLibraries
{
    /// <summary>Logical names used by the bindings; never file names, so only this resolver can satisfy them.</summary>
    public const string Cuda = "fingen-cuda-driver", Cublas = "fingen-cublas", Cudnn = "fingen-cudnn", Nvtx = "fingen-nvtx";

    public const string PathVariable = "FINGEN_CUDA_PATH";

    /// <summary>kernels/nvtx/fingen_nvtx.cpp built: NVTX's entry points, for a CUDA without libnvToolsExt.so.1.</summary>
    public const string NvtxShim = "libfingen_nvtx.so";

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<string, Library> s_libraries = new(StringComparer.Ordinal)
    {
        [Cuda] = new("the CUDA driver", OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1"]),
        [Cublas] = new("cuBLAS", OperatingSystem.IsWindows()
            ? ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"]
            : ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11"]),
        [Cudnn] = new("cuDNN", OperatingSystem.IsWindows() ? ["cudnn64_9.dll", "cudnn64_8.dll"] : ["libcudnn.so.9", "libcudnn.so.8"]),
        // NVTX's C API: the toolkit's library (CUDA <= 12, the pip nvidia-nvtx-cu12 wheel), else ours built from
        // CUDA 13's NVTX 3 headers by scripts/build-kernels.sh and copied next to the app (see Interop/Nvtx.cs).
        [Nvtx] = new("NVTX", OperatingSystem.IsWindows() ? ["nvToolsExt64_1.dll"] : ["libnvToolsExt.so.1", NvtxShim]),
    };

    static NativeLibraries() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);

    /// <summary>The outcome of probing for one library: the handle (0 when nothing loaded), where it came from, every try.</summary>
    internal sealed record LoadAttempt(string DisplayName, IReadOnlyList<string> FileNames, nint Handle, string? LoadedFrom, IReadOnlyList<string> Trace)
    {
        public bool Loaded => Handle != 0;

        /// <summary>One line: what was looked for and each try with its result.</summary>
        public string Error => $"could not load {DisplayName} ({string.Join(", ", FileNames)}); tried {string.Join("; ", Trace)}";
    }

    private sealed class Library(string displayName, string[] fileNames)
    {
        public string DisplayName { get; } = displayName;
        public string[] FileNames { get; } = fileNames;
        public LoadAttempt? Attempt { get; set; }
    }

    /// <summary>Loads (once) the library behind a logical name; the attempt says where from, or why not.</summary>
    public static LoadAttempt Load(string logicalName)
    {
        var library = s_libraries[logicalName];
        lock (s_lock)
        {
            if (library.Attempt is null)
            {
                var attempt = Probe(library.DisplayName, library.FileNames);
                if (logicalName == Cudnn) attempt = LoadCudnnSublibraries(attempt);
                library.Attempt = attempt;
            }
            return library.Attempt;
        }
    }

    /// <summary>
    /// cuDNN 8 and 9 are split into sub-libraries (<c>libcudnn_ops.so.9</c>, <c>libcudnn_cnn.so.9</c>, ...) that
    /// <c>libcudnn.so.N</c> loads by file name through the loader's search path, which does not include the folder we
    /// found it in: cuDNN 8 then aborts the process and cuDNN 9 returns CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED (1008).
    /// Loading every <c>libcudnn_*.so.N</c> of that folder first (by full path) makes the loader find them already
    /// loaded, by their soname. Each is recorded in the trace; one that fails to load is recorded, not fatal.
    /// </summary>
    private static LoadAttempt LoadCudnnSublibraries(LoadAttempt attempt)
    {
        if (!attempt.Loaded || attempt.LoadedFrom is not { } path || !Path.IsPathRooted(path)) return attempt;
        string folder = Path.GetDirectoryName(path)!;
        string file = Path.GetFileName(path);
        string pattern = OperatingSystem.IsWindows()
            ? "cudnn_*" + file["cudnn".Length..]                       // cudnn64_9.dll -> cudnn_*64_9.dll
            : "libcudnn_*" + file[file.IndexOf(".so", StringComparison.Ordinal)..]; // libcudnn.so.9 -> libcudnn_*.so.9
        var trace = new List<string>(attempt.Trace);
        string[] sublibraries;
        try
        {
            sublibraries = Directory.GetFiles(folder, pattern);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return attempt with { Trace = [.. trace, $"{Path.Combine(folder, pattern)} ({e.Message})"] };
        }
        Array.Sort(sublibraries, StringComparer.Ordinal);
        foreach (string sublibrary in sublibraries)
            trace.Add(TryLoad(sublibrary, out _, out string error) ? $"{sublibrary} (loaded, a cuDNN sub-library)" : $"{sublibrary} ({error})");
        return attempt with { Trace = trace };
    }

    /// <summary>Loads the library or throws a <see cref="FinGenException"/> whose one-line message is the trace.</summary>
    public static LoadAttempt Require(string logicalName)
    {
        var attempt = Load(logicalName);
        if (!attempt.Loaded) throw new FinGenException(attempt.Error);
        return attempt;
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        s_libraries.ContainsKey(libraryName) ? Load(libraryName).Handle : 0;

    /// <summary>
    /// Probes the folders for <paramref name="fileNames"/> (in order of preference) without caching: the resolver's
    /// worker, internal so a test can look for a library that does not exist.
    /// </summary>
    internal static LoadAttempt Probe(string displayName, IReadOnlyList<string> fileNames)
    {
        var trace = new List<string>();
        foreach (string folder in SearchFolders(trace))
        {
            if (!Directory.Exists(folder))
            {
                trace.Add($"{folder} (no such folder)");
                continue;
            }
            foreach (string fileName in fileNames)
            {
                string path = Path.Combine(folder, fileName);
                if (!File.Exists(path))
                {
                    trace.Add($"{path} (no such file)");
                    continue;
                }
                if (TryLoad(path, out nint handle, out string error))
                {
                    trace.Add($"{path} (loaded)");
                    return new LoadAttempt(displayName, [.. fileNames], handle, path, trace);
                }
                trace.Add($"{path} ({error})");
            }
        }
        foreach (string fileName in fileNames)
        {
            if (TryLoad(fileName, out nint handle, out string error))
            {
                trace.Add($"{fileName} from the OS default search (loaded)");
                return new LoadAttempt(displayName, [.. fileNames], handle, fileName, trace);
            }
            trace.Add($"{fileName} from the OS default search ({error})");
        }
        return new LoadAttempt(displayName, [.. fileNames], 0, null, trace);
    }

    /// <summary>The folders probed before the OS default, in order, without duplicates.</summary>
    internal static IReadOnlyList<string> SearchFolders(List<string>? trace = null)
    {
        var folders = new List<string>();
        void Add(string? folder)
        {
            if (string.IsNullOrWhiteSpace(folder)) return;
            folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
            if (!folders.Contains(folder, StringComparer.Ordinal)) folders.Add(folder);
        }

        Add(AppContext.BaseDirectory);
        Add(Environment.GetEnvironmentVariable(PathVariable));
        string? cudaPath = Environment.GetEnvironmentVariable("CUDA_PATH");
        if (!string.IsNullOrWhiteSpace(cudaPath))
        {
            Add(cudaPath);
            Add(Path.Combine(cudaPath, OperatingSystem.IsWindows() ? "bin" : "lib64"));
        }
        if (!OperatingSystem.IsWindows())
        {
            Add("/usr/local/cuda/lib64");
            Add("/usr/local/cuda/targets/x86_64-linux/lib");
            var wheels = PipWheelFolders();
            foreach (string folder in wheels) Add(folder);
            if (wheels.Count == 0) trace?.Add("pip wheels (no nvidia/*/lib folder under the Python site-packages looked at)");
        }
        return folders;
    }

    /// <summary>
    /// <c>nvidia/*/lib</c> under the site-packages of common Python installations (system, /usr/local, the user's,
    /// an active virtualenv or conda environment). Found by listing folders: starting Python is not an option here.
    /// </summary>
    private static List<string> PipWheelFolders()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string?[] roots =
        [
            Environment.GetEnvironmentVariable("VIRTUAL_ENV") is { Length: > 0 } venv ? Path.Combine(venv, "lib") : null,
            Environment.GetEnvironmentVariable("CONDA_PREFIX") is { Length: > 0 } conda ? Path.Combine(conda, "lib") : null,
            string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".local", "lib"),
            "/usr/local/lib",
            "/usr/lib",
            "/opt/conda/lib",
        ];
        var found = new List<string>();
        foreach (string? root in roots)
        {
            if (root is null || !Directory.Exists(root)) continue;
            foreach (string python in Sorted(SafeEnumerate(root, "python3*")))
            {
                foreach (string packages in new[] { "site-packages", "dist-packages" })
                {
                    string nvidia = Path.Combine(python, packages, "nvidia");
                    if (!Directory.Exists(nvidia)) continue;
                    foreach (string wheel in Sorted(SafeEnumerate(nvidia, "*")))
                    {
                        string lib = Path.Combine(wheel, "lib");
                        if (Directory.Exists(lib)) found.Add(lib);
                    }
                }
            }
        }
        return found;
    }

    private static IEnumerable<string> SafeEnumerate(string folder, string pattern)
    {
        try
        {
            return Directory.EnumerateDirectories(folder, pattern).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    // Newest Python first (python3.12 before python3.9), so a fresh wheel wins over a stale one.
    private static IEnumerable<string> Sorted(IEnumerable<string> folders) =>
        folders.OrderByDescending(f => f.Length).ThenByDescending(f => f, StringComparer.Ordinal);

    private static bool TryLoad(string pathOrName, out nint handle, out string error)
    {
        try
        {
            handle = NativeLibrary.Load(pathOrName);
            error = "";
            return true;
        }
        catch (DllNotFoundException e)
        {
            handle = 0;
            error = LastLine(e.Message);
            return false;
        }
        catch (BadImageFormatException e)
        {
            handle = 0;
            error = LastLine(e.Message);
            return false;
        }
    }

    // The runtime's message is a paragraph of advice; the loader's own error (dlerror) is its last line.
    private static string LastLine(string message)
    {
        string[] lines = message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "failed" : lines[^1];
    }

    /// <summary>Registers the resolver (by running the static constructor) before the first binding is called.</summary>
    public static void EnsureResolver() => _ = s_libraries.Count;
}
