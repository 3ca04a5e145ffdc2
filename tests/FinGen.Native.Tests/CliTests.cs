using FinGen.Native.Evaluation;
using System.Text;
using FinGen.Cli;
using FinGen.Native.Checkpoints;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>The fingen command end to end, in process: real arguments, real files, the exit code and stderr.</summary>
[TestFixture]
public sealed class CliTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-cli-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private string TrainSmall(string model = "gan", string data = "sp500", string? outDir = null, int steps = 4)
    {
        outDir ??= In($"run-{model}");
        var r = Fingen("train", "--model", model, "--data", data, "--steps", steps.ToString(), "--batch", "16", "--out", outDir);
        Assert.That(r.Code, Is.Zero, r.Error + r.Out);
        return outDir;
    }

    [Test]
    public void InfoNamesBackendsSimdAndWhyThereIsNoCuda()
    {
        var r = Fingen("info");
        Assert.That(r.Code, Is.Zero);
        Assert.That(r.Out, Does.Contain("cpu-ref, cpu"));
        Assert.That(r.Out, Does.Contain("SIMD"));
        Assert.That(r.Out, Does.Contain(FinGen.Native.Cuda.CudaBackend.Probe().IsAvailable ? "cuda: available" : "cuda: not available"));
    }

    [Test]
    public void TrainGanOnTheDefaultDataWritesEveryFile()
    {
        var run = Fingen("train", "--steps", "5", "--out", In("gan"));
        Assert.That(run.Code, Is.Zero, run.Error);
        foreach (var file in new[] { "checkpoint.safetensors", "metrics.csv", "samples.png", "paths.png", "config.json" })
            Assert.That(File.Exists(In($"gan/{file}")), file);
        var metrics = File.ReadAllLines(In("gan/metrics.csv"));
        Assert.That(metrics[0], Is.EqualTo("step,d_loss,g_loss,d_real,d_fake"));
        Assert.That(metrics, Has.Length.EqualTo(6));
        Assert.That(run.Out, Does.Contain("held out"));
        Assert.That(File.ReadAllBytes(In("gan/samples.png")).Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
        var checkpoint = Checkpoint.Read(In("gan/checkpoint.safetensors"));
        Assert.That(checkpoint.Data["kind"], Is.EqualTo("prices"));
        Assert.That(checkpoint.File.Metadata["format"], Is.EqualTo("pt"));
    }

    [Test]
    public void StudentTNoiseIsKeptInTheCheckpointAndItsConfig()
    {
        var run = Fingen("train", "--noise", "student-t:4", "--steps", "3", "--out", In("t"));
        Assert.That(run.Code, Is.Zero, run.Error);
        Assert.That(Checkpoint.Read(In("t/checkpoint.safetensors")).Config.NoiseDegrees, Is.EqualTo(4));
        Assert.That(File.ReadAllText(In("t/config.json")), Does.Contain("\"noise_degrees\": 4"));
        var normal = Fingen("train", "--steps", "3", "--out", In("n"));
        Assert.That(normal.Code, Is.Zero, normal.Error);
        Assert.That(Checkpoint.Read(In("n/checkpoint.safetensors")).Config.NoiseDegrees, Is.Zero);
        Assert.That(File.ReadAllLines(In("t/metrics.csv")).Last(), Is.Not.EqualTo(File.ReadAllLines(In("n/metrics.csv")).Last()), "the noise changes the run");
    }

    [Test]
    public void MetricsEveryNStepsWritesThoseStepsAndTheLast()
    {
        var run = Fingen("train", "--data", "mnist", "--steps", "7", "--batch", "8", "--metrics-every", "3", "--out", In("every3"));
        Assert.That(run.Code, Is.Zero, run.Error);
        var steps = File.ReadAllLines(In("every3/metrics.csv")).Skip(1).Select(l => l.Split(',')[0]);
        Assert.That(steps, Is.EqualTo(new[] { "3", "6", "7" }));
        AssertOneLineError(Fingen("train", "--steps", "2", "--metrics-every", "0", "--out", In("every0")), "--metrics-every");
    }

    [Test]
    public void TrainVaeOnMnistWritesVaeMetrics()
    {
        string dir = TrainSmall("vae", "mnist");
        Assert.That(File.ReadAllLines(Path.Combine(dir, "metrics.csv"))[0], Is.EqualTo("step,loss,recon,kl"));
        Assert.That(File.Exists(Path.Combine(dir, "paths.png")), Is.False, "MNIST has no price paths");
    }

    [Test]
    public void TrainAcceptsAPriceCsvPath()
    {
        var lines = new List<string> { "date,open,close" };
        var day = new DateOnly(2020, 1, 1);
        double price = 100;
        var rng = new System.Random(4);
        for (int i = 0; i < 120; i++)
        {
            price *= Math.Exp(0.01 * (rng.NextDouble() - 0.5));
            lines.Add($"{day.AddDays(i):yyyy-MM-dd},1,{price.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }
        File.WriteAllLines(In("prices.csv"), lines);
        string dir = TrainSmall("gan", In("prices.csv"));
        Assert.That(Checkpoint.Read(Path.Combine(dir, "checkpoint.safetensors")).Data["source"], Is.EqualTo(In("prices.csv")));
    }

    [Test]
    public void SampleWritesCsvPngAndStdout()
    {
        string checkpoint = Path.Combine(TrainSmall("vae", "mnist"), "checkpoint.safetensors");
        var r = Fingen("sample", "--checkpoint", checkpoint, "--count", "5", "--out", In("s.csv"));
        Assert.That(r.Code, Is.Zero, r.Error);
        var rows = File.ReadAllLines(In("s.csv"));
        Assert.That(rows, Has.Length.EqualTo(6));
        Assert.That(rows[0].Split(','), Has.Length.EqualTo(784));

        r = Fingen("sample", "--checkpoint", checkpoint, "--count", "9", "--out", In("s.png"));
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(new FileInfo(In("s.png")).Length, Is.GreaterThan(1000));

        r = Fingen("sample", "--checkpoint", checkpoint, "--count", "2", "--seed", "3");
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(3));
        Assert.That(Fingen("sample", "--checkpoint", checkpoint, "--count", "2", "--seed", "3").Out, Is.EqualTo(r.Out));
    }

    [Test]
    public void SampleOfAPriceModelWritesDecodedReturns()
    {
        string checkpoint = Path.Combine(TrainSmall(), "checkpoint.safetensors");
        var r = Fingen("sample", "--checkpoint", checkpoint, "--count", "3");
        Assert.That(r.Code, Is.Zero, r.Error);
        var rows = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(rows[0], Does.StartWith("r0,r1,"));
        var returns = rows[1].Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(returns, Has.Length.EqualTo(28));
        Assert.That(returns, Has.All.InRange(-0.2, 0.2), "daily log returns of an index");
    }

    [Test]
    public void ResumeContinuesFromTheCheckpointStep()
    {
        string first = TrainSmall("gan", "mnist", steps: 3);
        var r = Fingen("train", "--resume", Path.Combine(first, "checkpoint.safetensors"), "--steps", "2", "--out", In("second"));
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(r.Out, Does.Contain("resuming"));
        Assert.That(File.ReadAllLines(In("second/metrics.csv")).Skip(1).Select(l => l.Split(',')[0]), Is.EqualTo(new[] { "4", "5" }));
        AssertOneLineError(Fingen("train", "--resume", Path.Combine(first, "checkpoint.safetensors"), "--batch", "8", "--out", In("third")), "--batch cannot be changed");
    }

    [Test]
    public void TrainHelpListsSpectralNorm()
    {
        var r = Fingen("train", "--help");
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(r.Out, Does.Contain("--spectral-norm"));
        Assert.That(r.Out, Does.Contain("spectral normalization of every discriminator weight"));
    }

    [Test]
    public void SpectralNormIsRecordedInTheCheckpointWithItsVectorsAndKeptOnResume()
    {
        var r = Fingen("train", "--spectral-norm", "--steps", "3", "--batch", "16", "--out", In("sn"));
        Assert.That(r.Code, Is.Zero, r.Error + r.Out);
        Assert.That(r.Out, Does.Contain("spectral norm in D"));
        var checkpoint = Checkpoint.Read(In("sn/checkpoint.safetensors"));
        Assert.That(checkpoint.Config.SpectralNorm);
        Assert.That(checkpoint.File.Names, Does.Contain("discriminator.0.weight_u").And.Contain("discriminator.0.weight_v"));
        Assert.That(File.ReadAllText(In("sn/config.json")), Does.Contain("\"spectral_norm\": true"));
        // Without the option: neither the flag nor the vectors.
        string plain = TrainSmall(steps: 2);
        var plainCheckpoint = Checkpoint.Read(Path.Combine(plain, "checkpoint.safetensors"));
        Assert.That(plainCheckpoint.Config.SpectralNorm, Is.False);
        Assert.That(plainCheckpoint.File.Names, Has.None.Contains("weight_u"));

        var resumed = Fingen("train", "--resume", In("sn/checkpoint.safetensors"), "--steps", "2", "--out", In("sn-more"));
        Assert.That(resumed.Code, Is.Zero, resumed.Error);
        Assert.That(Checkpoint.Read(In("sn-more/checkpoint.safetensors")).Config.SpectralNorm, "kept when resuming");
        AssertOneLineError(Fingen("train", "--resume", In("sn/checkpoint.safetensors"), "--spectral-norm", "--out", In("sn-again")),
            "--spectral-norm cannot be changed");
    }

    [TestCase("vae")]
    [TestCase("conv-vae")]
    public void SpectralNormIsRefusedForTheVaes(string model) =>
        AssertOneLineError(Fingen("train", "--model", model, "--spectral-norm", "--out", In("x")), "--spectral-norm applies to the GANs");

    [Test]
    public void ResumeFindsTheDefaultPriceDataAgain()
    {
        string first = TrainSmall(steps: 2);
        var r = Fingen("train", "--resume", Path.Combine(first, "checkpoint.safetensors"), "--steps", "1", "--out", In("again"));
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(File.Exists(In("again/paths.png")));
    }

    [Test]
    public void EvalWritesTheReportAndPlotsForAPriceModel()
    {
        string checkpoint = Path.Combine(TrainSmall(steps: 3), "checkpoint.safetensors");
        var r = Fingen("eval", "--checkpoint", checkpoint, "--paths", "4", "--out", In("eval"));
        Assert.That(r.Code, Is.Zero, r.Error);
        foreach (var file in new[] { "report.json", "report.md", "returns_histogram.png", "qq.png", "acf.png", "fan_chart.png", "images.png" })
            Assert.That(File.Exists(In($"eval/{file}")), file);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(In("eval/report.json")));
        var root = json.RootElement;
        Assert.That(root.GetProperty("provenance").GetProperty("data_sha256").GetString(), Has.Length.EqualTo(64));
        var sources = root.GetProperty("sources").EnumerateArray().ToList();
        Assert.That(sources.Select(s => s.GetProperty("name").GetString()), Is.EqualTo(new[] { "held-out (real)", "FinGen GAN", "historical simulation", "GARCH(1,1)-t", "GJR-GARCH(1,1)-t", "FHS" }));
        Assert.That(sources[0].GetProperty("distances").EnumerateObject(), Is.Empty, "the held-out data is the reference");
        foreach (var synthetic in sources.Skip(1))
        {
            Assert.That(synthetic.GetProperty("distances").GetProperty("w1_1d").GetDouble(), Is.GreaterThan(0));
            Assert.That(synthetic.GetProperty("backtests").GetArrayLength(), Is.EqualTo(2));
            Assert.That(synthetic.GetProperty("discriminative_score").GetDouble(), Is.InRange(0, 0.5));
        }
        Assert.That(root.GetProperty("settings").GetProperty("held_out_returns").GetInt32(), Is.EqualTo(1021), "20 % of the S&P 500's 5104 returns");
        Assert.That(File.ReadAllText(In("eval/report.md")), Does.Contain("| Kupiec p |"));
        Assert.That(root.GetProperty("collapse").GetProperty("diversity_ratio").GetDouble(), Is.GreaterThan(0));
        Assert.That(root.GetProperty("collapse").GetProperty("window_acf").GetArrayLength(), Is.EqualTo(CollapseCheck.MaxLag));
        Assert.That(File.ReadAllText(In("eval/report.md")), Does.Contain("## Collapse check of the model's windows"));
        // Conditional forecasts: every source at 97.5 % and 99 %, 1 and 10 days, 1-day ones on every held-out day.
        var conditional = root.GetProperty("conditional").EnumerateArray().ToList();
        Assert.That(conditional, Has.Count.EqualTo(5 * 2 * 2));
        Assert.That(conditional.Select(c => c.GetProperty("source").GetString()).Distinct(),
            Is.EqualTo(new[] { "FinGen GAN", "rolling historical simulation (500 days)", "GARCH(1,1)-t", "GJR-GARCH(1,1)-t", "FHS" }));
        foreach (var c in conditional.Where(c => c.GetProperty("horizon").GetInt32() == 1))
        {
            Assert.That(c.GetProperty("backtest")[0].GetProperty("observations").GetInt32(), Is.EqualTo(1021));
            Assert.That(double.IsFinite(c.GetProperty("mean_fz0").GetDouble()), c.GetProperty("source").GetString());
        }
        Assert.That(File.ReadAllText(In("eval/report.md")), Does.Contain("## Conditional VaR and ES forecasts"));
    }

    [Test]
    public void EvalRefusesAnImageModel()
    {
        string checkpoint = Path.Combine(TrainSmall("vae", "mnist"), "checkpoint.safetensors");
        AssertOneLineError(Fingen("eval", "--checkpoint", checkpoint, "--out", In("eval")), "eval needs a price model");
        Assert.That(Directory.Exists(In("eval")), Is.False);
    }

    [Test]
    public void BenchPrintsOneRowPerBatchSize()
    {
        var r = Fingen("bench", "--model", "vae", "--batch", "2,5", "--steps", "5", "--warmup", "1", "--device", "cpu", "--csv");
        Assert.That(r.Code, Is.Zero, r.Error);
        var rows = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(rows[0], Is.EqualTo("engine,model,batch,backend,median_ms,p10_ms,p90_ms,steps_per_s,samples_per_s"));
        Assert.That(rows.Skip(1).Select(row => row.Split(',')[2]), Is.EqualTo(new[] { "2", "5" }));
        Assert.That(rows.Skip(1).Select(row => double.Parse(row.Split(',')[4], System.Globalization.CultureInfo.InvariantCulture)), Has.All.GreaterThan(0));
        AssertOneLineError(Fingen("bench", "--batch", "64,x"), "--batch 'x'");
    }

    [Test]
    public void BenchProfileListsTheOpsWithGemmRates()
    {
        var r = Fingen("bench", "--batch", "8", "--steps", "5", "--warmup", "1", "--device", "cpu", "--profile");
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(r.Out, Does.Contain("linear_forward").And.Contain("linear_backward").And.Contain("adam_step").And.Contain("philox_normal"));
        var linear = r.Out.Split('\n').Single(l => l.TrimStart().StartsWith("linear_forward", StringComparison.Ordinal));
        // G (3 layers) + D (3 layers) in the D step, G + D again in the G step: 12 forward linears per step.
        Assert.That(linear.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], Is.EqualTo("12.0"));
        Assert.That(r.Out, Does.Contain("  per op: host wall time; % of the measured step ("));
        // Columns: op, calls/step, µs/step, % of step, then GFLOP/s for linear layers and GB/s for memory-bound ops.
        var adam = r.Out.Split('\n').Single(l => l.TrimStart().StartsWith("adam_step", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(adam, Has.Length.EqualTo(5), "adam_step has a GB/s and no GFLOP/s");
        Assert.That(adam[1], Is.EqualTo("2.0"), "one Adam step for D and one for G");
        Assert.That(double.Parse(adam[4], System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0));
        Assert.That(linear.Split(' ', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(5), "linear_forward has a GFLOP/s and no GB/s");
        Assert.That(r.Out.Split('\n'), Has.One.Matches<string>(l => l.TrimStart().StartsWith("(outside ops)", StringComparison.Ordinal)));
    }

    [Test]
    public void CudaDeviceFailsClearly()
    {
        if (FinGen.Native.Cuda.CudaBackend.Probe().IsAvailable) Assert.Ignore("CUDA is available here");
        AssertOneLineError(Fingen("train", "--device", "cuda", "--steps", "1", "--out", In("cuda")), "--device cuda");
        AssertOneLineError(Fingen("bench", "--device", "cuda", "--profile", "--steps", "5", "--warmup", "0"), "--device cuda");
    }

    [TestCase(new[] { "train", "--model", "gam" }, "gam")]
    [TestCase(new[] { "train", "--steps", "zero" }, "zero")]
    [TestCase(new[] { "train", "--device", "tpu" }, "tpu")]
    [TestCase(new[] { "bogus" }, "bogus")]
    [TestCase(new[] { "sample" }, "--checkpoint")]
    public void CommandLineMistakesGetOneLineAndExitCode2(string[] args, string expected)
    {
        var r = Fingen(args);
        AssertOneLineError(r, expected);
        Assert.That(r.Code, Is.EqualTo(2));
    }

    [TestCase("--steps", "0", "--steps must be at least 1")]
    [TestCase("--batch", "-3", "--batch must be at least 1")]
    [TestCase("--lr", "-1", "learning rate")]
    public void BadNumbersAreRejected(string option, string value, string expected) =>
        AssertOneLineError(Fingen("train", option, value, "--out", In("x")), expected);

    private static IEnumerable<TestCaseData> BadCsvs()
    {
        yield return new TestCaseData("date,open\n2020-01-01,1\n", "close").SetName("NoCloseColumn");
        yield return new TestCaseData("date,close\n2020-01-01,100\n2020-01-02,abc\n", "line 3").SetName("NonNumeric");
        yield return new TestCaseData("date,close\n2020-01-01,100\n2020-01-02,NaN\n", "line 3").SetName("NaN");
        yield return new TestCaseData("date,close\n2020-01-01,100\n2020-01-02,0\n", "line 3").SetName("Zero");
        yield return new TestCaseData("date,close\n2020-01-01,100\n2020-01-02,-5\n", "line 3").SetName("Negative");
        yield return new TestCaseData("date,close\n2020-01-01,100\n2020-01-02,101\n", "too few").SetName("TooFewRows");
    }

    [TestCaseSource(nameof(BadCsvs))]
    public void BadPriceFilesGetOneLineNamingTheProblem(string csv, string expected)
    {
        File.WriteAllText(In("bad.csv"), csv);
        var r = Fingen("train", "--data", In("bad.csv"), "--steps", "1", "--out", In("out"));
        AssertOneLineError(r, expected);
        Assert.That(r.Error, Does.Contain("bad.csv"));
        Assert.That(Directory.Exists(In("out")), Is.False, "nothing is created for bad input");
    }

    [Test]
    public void AMissingDataFileIsNamed() =>
        AssertOneLineError(Fingen("train", "--data", In("nope.csv"), "--out", In("out")), "nope.csv");

    [Test]
    public void ANonCheckpointIsRejected()
    {
        File.WriteAllBytes(In("junk.safetensors"), Encoding.UTF8.GetBytes("this is not a checkpoint at all"));
        AssertOneLineError(Fingen("sample", "--checkpoint", In("junk.safetensors")), "junk.safetensors");
        AssertOneLineError(Fingen("sample", "--checkpoint", In("absent.safetensors")), "absent.safetensors");
    }

    [Test]
    public void ACheckpointWhoseHeaderLiesAboutSizesIsRejected()
    {
        string checkpoint = Path.Combine(TrainSmall("vae", "mnist"), "checkpoint.safetensors");
        var bytes = File.ReadAllBytes(checkpoint);
        // Shrink the data: the header's offsets now point past the end of the file.
        File.WriteAllBytes(In("short.safetensors"), bytes[..^4096]);
        AssertOneLineError(Fingen("sample", "--checkpoint", In("short.safetensors")), "short.safetensors");
        // A safetensors file without our config is not a FinGen checkpoint.
        SafeTensors.Write(In("plain.safetensors"), [new SafeTensorsTensor("w", [2], [1f, 2f])], new Dictionary<string, string> { ["format"] = "pt" });
        AssertOneLineError(Fingen("sample", "--checkpoint", In("plain.safetensors")), "not a FinGen checkpoint");
    }

    [Test]
    public void ExistingOutputIsNeverOverwritten()
    {
        Directory.CreateDirectory(In("busy"));
        File.WriteAllText(In("busy/notes.txt"), "mine");
        AssertOneLineError(Fingen("train", "--steps", "1", "--out", In("busy")), "not empty");
        Assert.That(File.ReadAllText(In("busy/notes.txt")), Is.EqualTo("mine"));
        Assert.That(Directory.GetFiles(In("busy")), Has.Length.EqualTo(1));

        string checkpoint = Path.Combine(TrainSmall("vae", "mnist"), "checkpoint.safetensors");
        File.WriteAllText(In("keep.csv"), "precious");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", In("keep.csv")), "already exists");
        Assert.That(File.ReadAllText(In("keep.csv")), Is.EqualTo("precious"));
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", In("s.txt")), ".csv or .png");
    }
}
