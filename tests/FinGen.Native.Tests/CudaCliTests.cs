using FinGen.Native.Cuda;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>
/// The CLI end to end on a CUDA device: <c>fingen train --device cuda</c> for every model, its step captured and
/// replayed, against the CPU reference backend (<c>--device cpu</c> with FINGEN_BACKEND=cpu-ref); and what <c>info</c> and <c>bench</c> say and do when the device is the
/// CPU stand-in (tests/CudaStandIn). Ignored, with the probe's reason, where no device answers.
/// </summary>
[TestFixture]
[NonParallelizable] // runs the CLI in process
public sealed class CudaCliTests
{
    private const int Steps = 200;
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        CudaFixture.RequireCuda();
        _dir = Directory.CreateTempSubdirectory("fingen-cuda-cli-").FullName;
    }

    [TearDown]
    public void TearDown()
    {
        if (_dir.Length > 0) Directory.Delete(_dir, recursive: true);
    }

    private static CudaDeviceInfo Device() => CudaDeviceInfo.QueryAll()[0];

    /// <summary>
    /// 200 steps of each model on the default data, replayed from a captured graph after the warm-up, follow the CPU
    /// reference's losses step by step within the training tolerances of the parity tests (CudaGraphTests): the MLP
    /// models 1e-4 + 1e-3·|ref|, the conv models 1e-3 + 1e-2·|ref|, since cuDNN sums in other orders than the CPU's.
    /// </summary>
    [TestCase("gan")]
    [TestCase("vae")]
    [TestCase("dcgan")]
    [TestCase("conv-vae")]
    public void TrainOnCudaFollowsTheCpuReference(string model)
    {
        // The conv models at batch 2: the scalar CPU reference (and the stand-in) take about 0.1 s a step at 2 and
        // twenty times that at the default 64; 200 steps of both must stay within a CI run.
        bool conv = model is "dcgan" or "conv-vae";
        string[] Args(string device, string name) =>
            ["train", "--model", model, "--device", device, "--steps", Steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--batch", conv ? "2" : "64", "--metrics-every", "1", "--out", Path.Combine(_dir, name)];

        // --device cpu with FINGEN_BACKEND=cpu-ref: the scalar reference backend, the oracle of every parity test. It runs
        // on another thread meanwhile (the CUDA run names its device, so the variable does not reach it): one wall time.
        string? saved = Environment.GetEnvironmentVariable(Backends.Backend.EnvironmentVariable);
        Environment.SetEnvironmentVariable(Backends.Backend.EnvironmentVariable, "cpu-ref");
        CliResult cuda, reference;
        try
        {
            var onCpu = Task.Run(() => Fingen(Args("cpu", "cpu")));
            cuda = Fingen(Args("cuda", "cuda"));
            reference = onCpu.GetAwaiter().GetResult();
        }
        finally
        {
            Environment.SetEnvironmentVariable(Backends.Backend.EnvironmentVariable, saved);
        }
        Assert.That(cuda.Code, Is.Zero, cuda.Error);
        Assert.That(cuda.Out, Does.Contain("backend cuda").And.Contain("one step was captured as a graph and replayed"), cuda.Out);
        Assert.That(reference.Code, Is.Zero, reference.Error);
        Assert.That(reference.Out, Does.Contain("backend cpu-ref"), reference.Out);

        var actual = Metrics(Path.Combine(_dir, "cuda", "metrics.csv"));
        var expected = Metrics(Path.Combine(_dir, "cpu", "metrics.csv"));
        Assert.That(actual.Header, Is.EqualTo(expected.Header));
        Assert.That(actual.Rows, Has.Length.EqualTo(Steps));
        Assert.That(actual.Rows.Select(r => r[0]), Is.EqualTo(expected.Rows.Select(r => r[0])), "steps");
        double atol = conv ? 1e-3 : 1e-4, rtol = conv ? 1e-2 : 1e-3;
        for (int column = 1; column < actual.Header.Length; column++)
            Compare.Close(actual.Rows.Select(r => (float)r[column]).ToArray(), expected.Rows.Select(r => (float)r[column]).ToArray(), atol, rtol,
                $"{model}: {actual.Header[column]}");
        Assert.That(actual.Rows[^1][1], Is.Not.EqualTo(actual.Rows[0][1]), "training moved");
    }

    private static (string[] Header, double[][] Rows) Metrics(string path)
    {
        var lines = File.ReadAllLines(path);
        var rows = lines.Skip(1).Where(l => l.Length > 0)
            .Select(l => l.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        return (lines[0].Split(','), rows);
    }

    [Test]
    public void InfoNamesTheStandIn()
    {
        if (!Device().IsStandIn) Assert.Ignore($"a real device answers here: {Device().Name}");
        var (code, output, _) = Fingen("info");
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("device 0: " + CudaDeviceInfo.StandInNamePrefix));
    }

    [Test]
    public void BenchRefusesToTimeTheStandIn()
    {
        if (!Device().IsStandIn) Assert.Ignore($"a real device answers here: {Device().Name}");
        var result = Fingen("bench", "--device", "cuda", "--batch", "8", "--steps", "5", "--warmup", "0");
        AssertOneLineError(result, "refusing to time " + CudaDeviceInfo.StandInNamePrefix);
        Assert.That(result.Out, Is.Empty, "nothing was timed");
    }
}
