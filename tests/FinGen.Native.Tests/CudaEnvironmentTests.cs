using FinGen.Native.Cuda;
using FinGen.Native.Cuda.Interop;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>
/// The CUDA backend's behaviour on any machine, GPU or not: how libraries are found and what is said when they
/// are not, what the probe reports, where kernels come from, and what the CLI does with --device cuda.
/// </summary>
[TestFixture]
[NonParallelizable] // sets environment variables
public sealed class CudaEnvironmentTests
{
    private string _dir = "";
    private readonly Dictionary<string, string?> _saved = [];

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-cuda-env-").FullName;

    [TearDown]
    public void TearDown()
    {
        foreach (var (name, value) in _saved) Environment.SetEnvironmentVariable(name, value);
        _saved.Clear();
        Directory.Delete(_dir, recursive: true);
    }

    private void SetVariable(string name, string? value)
    {
        if (!_saved.ContainsKey(name)) _saved[name] = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
    }

    // ---- library resolution

    [Test]
    public void TheResolversTraceNamesEveryPathItTriedAndWhatHappened()
    {
        string notALibrary = Path.Combine(_dir, "libfingen_bogus.so.1");
        File.WriteAllText(notALibrary, "not an ELF file");
        SetVariable(NativeLibraries.PathVariable, _dir);

        var attempt = NativeLibraries.Probe("a bogus library", ["libfingen_bogus.so.1", "libfingen_bogus.so.0"]);

        Assert.That(attempt.Loaded, Is.False);
        Assert.That(attempt.Handle, Is.EqualTo(nint.Zero));
        // The file exists but is no library: the loader's own error is recorded, not "no such file".
        string junk = attempt.Trace.Single(t => t.StartsWith(notALibrary + " (", StringComparison.Ordinal));
        Assert.That(junk, Does.Not.Contain("no such file").And.Not.Contain("loaded"));
        Assert.That(attempt.Trace, Does.Contain($"{Path.Combine(_dir, "libfingen_bogus.so.0")} (no such file)"));
        Assert.That(attempt.Trace, Has.Some.StartsWith("/usr/local/cuda/lib64"));
        Assert.That(attempt.Trace, Has.Some.StartsWith("/usr/local/cuda/targets/x86_64-linux/lib"));
        Assert.That(attempt.Trace, Has.Some.StartsWith("libfingen_bogus.so.1 from the OS default search ("));
        Assert.That(attempt.Trace, Has.Some.StartsWith("libfingen_bogus.so.0 from the OS default search ("));
        Assert.That(attempt.Trace, Has.Some.StartsWith(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)));

        // The error is the whole trace on one line.
        Assert.That(attempt.Error, Does.StartWith("could not load a bogus library (libfingen_bogus.so.1, libfingen_bogus.so.0); tried "));
        Assert.That(attempt.Error, Does.Not.Contain('\n'));
        foreach (string step in attempt.Trace) Assert.That(attempt.Error, Does.Contain(step));
    }

    [Test]
    public void FoldersAreProbedInTheDocumentedOrder()
    {
        string mine = Path.Combine(_dir, "mine");
        string toolkit = Path.Combine(_dir, "toolkit");
        SetVariable(NativeLibraries.PathVariable, mine);
        SetVariable("CUDA_PATH", toolkit);
        var folders = NativeLibraries.SearchFolders();
        var expected = new[]
        {
            Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory), mine, toolkit, Path.Combine(toolkit, "lib64"),
            "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
        };
        Assert.That(folders.Take(expected.Length), Is.EqualTo(expected));
        foreach (string wheel in folders.Skip(expected.Length))
            Assert.That(wheel, Does.Contain("/nvidia/").And.EndWith("/lib"), "after the fixed folders come only pip wheels' nvidia/*/lib folders");
    }

    [Test]
    public void PipWheelFoldersAreFoundUnderAVirtualEnvironment()
    {
        string lib = Path.Combine(_dir, "venv", "lib", "python3.12", "site-packages", "nvidia", "cublas", "lib");
        Directory.CreateDirectory(lib);
        SetVariable("VIRTUAL_ENV", Path.Combine(_dir, "venv"));
        Assert.That(NativeLibraries.SearchFolders(), Does.Contain(lib));
    }

    [TestCase(typeof(Driver), NativeLibraries.Cuda, "cu")]
    [TestCase(typeof(Cublas), NativeLibraries.Cublas, "cublas")]
    [TestCase(typeof(Cudnn), NativeLibraries.Cudnn, "cudnn")]
    [TestCase(typeof(Nvtx), NativeLibraries.Nvtx, "nvtx")]
    public void EveryBoundEntryPointIsExportedByTheInstalledLibrary(Type bindings, string library, string prefix)
    {
        // No GPU needed: this checks the (versioned) symbol names against whatever library this machine has.
        var attempt = NativeLibraries.Load(library);
        if (!attempt.Loaded) Assert.Ignore(attempt.Error);
        var names = bindings.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly)
            .Select(m => m.Name).Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && !n.Contains('<')).Distinct().ToList();
        Assert.That(names, Is.Not.Empty);
        var missing = names.Where(n => !System.Runtime.InteropServices.NativeLibrary.TryGetExport(attempt.Handle, n, out _)).ToList();
        Assert.That(missing, Is.Empty, $"not exported by {attempt.LoadedFrom}");
        TestContext.Out.WriteLine($"{names.Count} entry points found in {attempt.LoadedFrom}");
    }

    [Test]
    public void CudnnSubLibrariesAreLoadedFromTheFolderCudnnCameFrom()
    {
        // cuDNN loads libcudnn_*.so.N by file name through the loader's path, not from its own folder (cuDNN 9 then fails
        // with status 1008, cuDNN 8 aborts): the resolver loads them from that folder first. The stand-in behaves the same.
        var attempt = NativeLibraries.Load(NativeLibraries.Cudnn);
        string? path = attempt.LoadedFrom;
        if (!attempt.Loaded || path is null || !Path.IsPathRooted(path)) Assert.Ignore($"cuDNN not loaded from a folder: {attempt.Error}");
        string file = Path.GetFileName(path!);
        var sublibraries = Directory.GetFiles(Path.GetDirectoryName(path!)!, "libcudnn_*" + file[file.IndexOf(".so", StringComparison.Ordinal)..]);
        if (sublibraries.Length == 0) Assert.Ignore($"no cuDNN sub-libraries next to {path}");
        foreach (string sublibrary in sublibraries)
            Assert.That(attempt.Trace, Does.Contain($"{sublibrary} (loaded, a cuDNN sub-library)"));
    }

    // ---- the probe and Create

    [Test]
    public void TheProbeGivesOneLineAndCreateAgreesWithIt()
    {
        var availability = CudaBackend.Probe();
        TestContext.Out.WriteLine($"{availability.IsAvailable}: {availability.Reason}");
        Assert.That(availability.Reason, Is.Not.Empty.And.Not.Contain('\n').And.Not.Contain('\r'));
        if (availability.IsAvailable)
        {
            Assert.That(availability.DeviceCount, Is.GreaterThan(0));
            using var backend = CudaBackend.Create();
            Assert.That(backend.Name, Is.EqualTo("cuda"));
            return;
        }
        // On a machine without a usable GPU (this project's CI): not available, for a stated reason, and Create says the same.
        var e = Assert.Throws<FinGenException>(() => CudaBackend.Create());
        Assert.That(e!.Message, Is.EqualTo(availability.Reason));
    }

    [Test]
    public void WithoutAGpuTheProbeNamesWhatIsMissing()
    {
        var availability = CudaBackend.Probe();
        if (availability.IsAvailable) Assert.Ignore("CUDA is available here");
        Assert.That(availability.Reason, Does.StartWith("no CUDA driver: could not load the CUDA driver (libcuda.so.1)")
            .Or.StartWith("no CUDA device (")
            .Or.EqualTo(KernelImage.NotBuilt)
            .Or.StartWith("cuBLAS not found: ")
            .Or.StartWith(KernelImage.EnvironmentVariable));
        if (availability.Reason.StartsWith("no CUDA device (cuInit: ", StringComparison.Ordinal))
            Assert.That(availability.DriverVersion, Is.Not.Null, "libcuda loaded, so its version is known");
    }

    [Test]
    public void NoDeviceMeansNoDeviceInfo()
    {
        if (CudaBackend.Probe().DeviceCount > 0) Assert.Ignore("a CUDA device answers here");
        Assert.That(CudaDeviceInfo.QueryAll(), Is.Empty);
    }

    // ---- kernels

    [Test]
    public void KernelsComeFromTheEnvironmentOrTheAssembly()
    {
        SetVariable(KernelImage.EnvironmentVariable, Path.Combine(_dir, "missing.fatbin"));
        Assert.That(KernelImage.Locate(out string problem), Is.Null);
        Assert.That(problem, Is.EqualTo($"{KernelImage.EnvironmentVariable}={Path.Combine(_dir, "missing.fatbin")}: no such file"));

        string file = Path.Combine(_dir, "k.fatbin");
        File.WriteAllBytes(file, [1, 2, 3]);
        SetVariable(KernelImage.EnvironmentVariable, file);
        var image = KernelImage.Locate(out _);
        Assert.That(image!.Description, Is.EqualTo($"{KernelImage.EnvironmentVariable}={file}"));
        Assert.That(image.Read(), Is.EqualTo(new byte[] { 1, 2, 3 }));

        SetVariable(KernelImage.EnvironmentVariable, null);
        image = KernelImage.Locate(out problem);
        bool embedded = typeof(CudaBackend).Assembly.GetManifestResourceNames().Contains(KernelImage.ResourceName);
        if (embedded) Assert.That(image!.Description, Is.EqualTo("the embedded fatbin"));
        else Assert.That(problem, Is.EqualTo("kernels were not built (run scripts/build-kernels.sh)"));
    }

    [TestCase(0, 1u)]
    [TestCase(1, 1u)]
    [TestCase(256, 1u)]
    [TestCase(257, 2u)]
    [TestCase(1_048_576, 4096u)]
    [TestCase(100_000_000, 4096u)]
    public void GridsFollowTheKernelAbi(long items, uint grid)
    {
        // kernels/ABI.md: grid(items) = clamp(ceil(items / 256), 1, 4096); Philox runs a thread per block of 4 (+ 2).
        Assert.That(LaunchConfiguration.Grid(items), Is.EqualTo(grid));
        Assert.That(LaunchConfiguration.PhiloxGrid(items), Is.EqualTo(LaunchConfiguration.Grid(items / 4 + 2)));
        Assert.That(LaunchConfiguration.Block, Is.EqualTo(256));
        Assert.That(LaunchConfiguration.MaxGrid, Is.EqualTo(4096));
        Assert.That(LaunchConfiguration.ReductionBlock, Is.EqualTo(512));
    }

    [TestCase(0, 1u)]
    [TestCase(8192, 1u)]
    [TestCase(8193, 2u)]
    [TestCase(1_100_000, 135u)]
    [TestCase(int.MaxValue, 256u)]
    public void LossGridsFollowTheKernelAbi(int n, uint grid) =>
        // kernels/losses.cu: fg_loss_blocks(n) = clamp(ceil(n / 8192), 1, 256).
        Assert.That(LaunchConfiguration.LossGrid(n), Is.EqualTo(grid));

    [TestCase(1, 1u)]
    [TestCase(32, 1u)]
    [TestCase(33, 2u)]
    [TestCase(1_000_000, 4096u)]
    public void BiasGradientGridsFollowTheKernelAbi(int cols, uint grid)
    {
        // kernels/elementwise.cu: a block of exactly 256 threads a tile of 32 columns, at most 4096 blocks.
        Assert.That(LaunchConfiguration.BiasGradGrid(cols), Is.EqualTo(grid));
        Assert.That(LaunchConfiguration.BiasGradBlock, Is.EqualTo(256));
    }

    [Test]
    public void LaunchConstantsMatchTheKernelsCommonHeader()
    {
        string header = Path.Combine(Repository.Root, "kernels", "common.cuh");
        if (!File.Exists(header)) Assert.Ignore("kernels/common.cuh is not in this tree");
        string text = File.ReadAllText(header);
        Assert.That(text, Does.Match(@"FG_BLOCK_SIZE\D+256\b"));
        Assert.That(text, Does.Match(@"FG_MAX_GRID_SIZE\D+4096\b"));
        Assert.That(text, Does.Match(@"FG_REDUCE_THREADS\D+512\b"));
        Assert.That(text, Does.Match(@"FG_LOSS_BLOCK_ITEMS\D+8192\b"));
        Assert.That(text, Does.Match(@"FG_MAX_LOSS_BLOCKS\D+256\b"));
        Assert.That(text, Does.Match(@"FG_SPECTRAL_THREADS\D+256\b"));
        Assert.That(LaunchConfiguration.SpectralBlock, Is.EqualTo(256));
    }

    // ---- cuDNN algorithm choice (no device needed: the ranked results are data)

    [Test]
    public void TheCudnnAlgorithmIsTheFirstDeterministicOneInFmaMath()
    {
        static CudnnAlgorithmPerformance R(int algorithm, CudnnMathType math, CudnnDeterminism determinism, int status = 0) =>
            new() { Algorithm = algorithm, MathType = math, Determinism = determinism, Status = (CudnnStatus)status };
        const CudnnDeterminism Det = CudnnDeterminism.Deterministic, NonDet = CudnnDeterminism.NonDeterministic;

        int Pick(CudnnAlgorithmPerformance[] results, out bool deterministic) => CudnnAlgorithmChoice.Pick(results, out deterministic);
        Assert.That(Pick([R(0, CudnnMathType.TensorOp, Det), R(1, CudnnMathType.Default, Det), R(2, CudnnMathType.Fma, NonDet), R(3, CudnnMathType.Fma, Det)],
            out bool deterministic), Is.EqualTo(3));
        Assert.That(deterministic, Is.True);
        // Only a non-deterministic FMA algorithm: taken, and said so.
        Assert.That(Pick([R(0, CudnnMathType.Default, Det), R(1, CudnnMathType.Fma, NonDet)], out deterministic), Is.EqualTo(1));
        Assert.That(deterministic, Is.False);
        // Default math may be TF32 from Ampere on; a failed entry is never taken.
        Assert.That(Pick([R(0, CudnnMathType.Default, Det), R(1, CudnnMathType.TensorOp, Det), R(2, CudnnMathType.Fma, Det, status: 3000)], out _), Is.EqualTo(-1));
    }

    // ---- statuses and versions

    [Test]
    public void StatusesAndVersionsReadAsTheHeadersWriteThem()
    {
        Assert.That(CublasStatusNames.Describe(CublasStatus.InvalidValue).Name, Is.EqualTo("CUBLAS_STATUS_INVALID_VALUE"));
        Assert.That(CublasStatusNames.Describe((CublasStatus)99).Name, Is.EqualTo("CUBLAS_STATUS_99"));
        Assert.That(Cublas.FormatVersion(120804), Is.EqualTo("12.8.4"));
        Assert.That(Cublas.FormatVersion(110902), Is.EqualTo("11.9.2"));
        Assert.That(Cudnn.FormatVersion(90100), Is.EqualTo("9.1.0"));
        Assert.That(Cudnn.FormatVersion(8907), Is.EqualTo("8.9.7"));
        var e = new CudaException("cuInit", 100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected");
        Assert.That(e.Message, Is.EqualTo("cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"));
    }

    // ---- the CLI

    [Test]
    public void TrainOnCudaWithoutCudaFailsWithOneLine()
    {
        var availability = CudaBackend.Probe();
        if (availability.IsAvailable) Assert.Ignore("CUDA is available here");
        var (code, output, error) = Fingen("train", "--device", "cuda", "--steps", "1", "--out", Path.Combine(_dir, "run"));
        Assert.That(code, Is.Not.Zero, output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), error);
        Assert.That(lines[0], Is.EqualTo($"fingen: --device cuda: {availability.Reason}"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "run")), Is.False, "nothing is written when the device is refused");
    }

    [Test]
    public void AutoPicksCudaOnlyWhenItIsAvailable()
    {
        string expected = CudaBackend.Probe().IsAvailable ? "backend cuda" : "backend cpu";
        var (code, output, error) = Fingen("train", "--device", "auto", "--steps", "2", "--batch", "8", "--out", Path.Combine(_dir, "auto"));
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain(expected));
    }

    [Test]
    public void InfoSaysWhetherCudaIsAvailableAndWhy()
    {
        var availability = CudaBackend.Probe();
        var (code, output, _) = Fingen("info");
        Assert.That(code, Is.Zero);
        string prefix = availability.IsAvailable ? "cuda: available: " : "cuda: not available: ";
        Assert.That(output.Split('\n'), Does.Contain(prefix + availability.Reason));
    }
}
