using FinGen.Native.Cuda;

namespace FinGen.Native.Tests;

/// <summary>
/// What every CUDA test fixture starts with: one backend for the fixture when a device answers, and every test
/// ignored, with the probe's one-line reason, before it builds any input when none does.
/// </summary>
public abstract class CudaFixture
{
    private CudaBackend? _cuda;

    [OneTimeSetUp]
    public void CreateBackend()
    {
        if (CudaBackend.Probe().IsAvailable) _cuda = CudaBackend.Create();
    }

    [OneTimeTearDown]
    public void DisposeBackend() => _cuda?.Dispose();

    [SetUp]
    public void RequireDevice() => RequireCuda();

    /// <summary>The fixture's backend (only reached once <see cref="RequireDevice"/> has let the test run).</summary>
    protected CudaBackend Cuda() => _cuda ?? throw new InvalidOperationException("CUDA became available after the fixture started");

    /// <summary><c>Assert.Ignore</c> with the probe's one-line reason when CUDA is not usable here.</summary>
    public static void RequireCuda()
    {
        var availability = CudaBackend.Probe();
        if (!availability.IsAvailable) Assert.Ignore($"CUDA not available: {availability.Reason}");
    }
}
