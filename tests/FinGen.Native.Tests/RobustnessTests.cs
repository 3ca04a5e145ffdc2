using System.Globalization;
using FinGen.Cli;
using FinGen.Native.Checkpoints;
using FinGen.Native.IO;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>
/// Long runs and their outputs (issue 13): resume in place, divergence, outputs that are never torn, clobbered or left
/// half-written, data and sizes refused up front with one line naming the option, file or line.
/// </summary>
[TestFixture]
public sealed class RobustnessTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-robust-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private static readonly string[] Small = ["--batch", "8", "--device", "cpu"];

    private string Train(string outDir, params string[] args)
    {
        var r = Fingen(["train", .. Small, .. args, "--out", outDir]);
        Assert.That(r.Code, Is.Zero, r.Error + r.Out);
        return outDir;
    }

    private string[] TempFiles(string dir) =>
        [.. Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Where(AtomicFile.IsTempName)];

    // ---- checkpoints and resume

    [Test]
    public void ResumeInPlaceDropsRowsPastTheCheckpointAndEndsLikeAnUninterruptedRun()
    {
        Train(In("straight"), "--steps", "15");
        string run = Train(In("run"), "--steps", "10");
        // What a kill after step 12 leaves: rows past the checkpoint (step 10), the last one torn, and a temporary file.
        File.AppendAllText(Path.Combine(run, "metrics.csv"), "11,1,2,3,4\n12,1,2,3,4\n13,0.5");
        File.WriteAllText(Path.Combine(run, "checkpoint.safetensors.tmp-999999-0123456789abcdef"), "half");
        var r = Fingen("train", "--resume", run, "--steps", "5");
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(r.Out, Does.Contain("in place, to step 15").And.Contain("removed 1 temporary file"));
        Assert.That(TempFiles(run), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(run, "metrics.csv")), Is.EqualTo(File.ReadAllText(In("straight/metrics.csv"))));
        Assert.That(File.ReadAllBytes(Path.Combine(run, Checkpoint.FileName)), Is.EqualTo(File.ReadAllBytes(In("straight/checkpoint.safetensors"))));
    }

    [Test]
    public void PeriodicCheckpointsRecordTheTargetAndAFinishedRunResumesToNothingMore()
    {
        string run = Train(In("run"), "--steps", "9", "--checkpoint-every", "4");
        var recorded = Checkpoint.Read(Path.Combine(run, Checkpoint.FileName));
        Assert.That((recorded.UntilStep, recorded.CheckpointEvery), Is.EqualTo((9L, 4)));
        var again = Fingen("train", "--resume", run);
        Assert.That(again.Code, Is.Zero, again.Error);
        Assert.That(again.Out, Does.Contain("0 steps in"));
        Assert.That(File.ReadAllLines(Path.Combine(run, "metrics.csv")), Has.Length.EqualTo(10));
        AssertOneLineError(Fingen("train", "--resume", run, "--out", In("elsewhere")), "--out does not apply");
        AssertOneLineError(Fingen("train", "--resume", _dir), "no checkpoint.safetensors");
        AssertOneLineError(Fingen("train", "--steps", "2", "--checkpoint-every", "0", "--out", In("never")), "--checkpoint-every");
        Assert.That(Directory.Exists(In("never")), Is.False);
    }

    [Test]
    public void ACheckpointIsDueAfterItsIntervalEvenBeforeItsStepCount()
    {
        using var backend = new FinGen.Native.Backends.Cpu.CpuSimdBackend();
        var config = FinGen.Native.Models.ModelConfig.Default(FinGen.Native.Models.ModelKind.Gan) with { BatchSize = 4 };
        using var model = FinGen.Native.Models.GenerativeModel.Create(backend, config);
        model.Initialize();
        var data = TrainingRuns.MnistDigits;
        using var run = FinGen.Native.Training.RunDirectory.Create(In("timed"), model, data.Metadata, new RunRecord(5, 1000));
        var training = new FinGen.Native.Training.CheckpointedTraining(model, data, run, 5, new FinGen.Native.Training.CheckpointPolicy(1000, TimeSpan.Zero));
        Assert.That(training.Run(null, metricsEvery: 1, CancellationToken.None), Is.EqualTo(FinGen.Native.Training.TrainingOutcome.Completed));
        Assert.That(training.PeriodicCheckpoints, Is.EqualTo(4), "steps 1 to 4; step 5 is the final checkpoint");
        Assert.That(Checkpoint.Read(run.CheckpointPath).Long("step"), Is.EqualTo(5));
    }

    [Test]
    public void AResumedRunDirectoryIsLockedAgainstASecondRun()
    {
        string run = Train(In("run"), "--steps", "3");
        using var held = new FileStream(Path.Combine(run, "metrics.csv"), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        AssertOneLineError(Fingen("train", "--resume", run, "--steps", "2"), "another fingen run is using");
    }

    // ---- divergence

    [Test]
    public void AHugeLearningRateStopsWithOneLineAndKeepsAFiniteCheckpoint()
    {
        var r = Fingen(["train", .. Small, "--steps", "300", "--lr", "1e9", "--out", In("nan")]);
        AssertOneLineError(r, "training diverged at step");
        Assert.That(r.Error, Does.Contain("--lr").And.Contain("last good checkpoint"));
        var checkpoint = Checkpoint.Read(In("nan/checkpoint.safetensors")); // throws on NaN
        Assert.That(checkpoint.Long("step"), Is.LessThan(300));
        Assert.That(File.Exists(In("nan/samples.png")), Is.False, "a diverged run writes no final outputs");
        Assert.That(Fingen("sample", "--checkpoint", checkpoint.Path, "--count", "2").Code, Is.Zero);
    }

    [Test]
    public void SampleEvalAndResumeRefuseACheckpointWithNonFiniteParameters()
    {
        string run = Train(In("run"), "--steps", "2");
        var file = SafeTensors.Read(Path.Combine(run, Checkpoint.FileName));
        var tensors = file.Names.Select(file.Get).ToList();
        tensors[1].Data[3] = float.PositiveInfinity;
        string bad = In("bad.safetensors");
        SafeTensors.Write(bad, tensors, file.Metadata);
        AssertOneLineError(Fingen("sample", "--checkpoint", bad), $"{bad}: tensor '{tensors[1].Name}' holds +∞");
        AssertOneLineError(Fingen("eval", "--checkpoint", bad, "--out", In("eval")), bad);
        AssertOneLineError(Fingen("train", "--resume", bad, "--steps", "1", "--out", In("resumed")), bad);
        Assert.That(Directory.Exists(In("eval")) || Directory.Exists(In("resumed")), Is.False);
    }

    // ---- exclusive, atomic outputs

    [Test]
    public void TwoTrainRunsIntoOneOutDirectoryOneWinsAndTheFilesAreItsOwn()
    {
        string run = In("shared");
        var results = new CliResult[2];
        Parallel.For(0, 2, i => results[i] = Fingen(["train", .. Small, "--steps", (20 + i).ToString(CultureInfo.InvariantCulture), "--seed", (1 + i).ToString(CultureInfo.InvariantCulture), "--out", run]));
        Assert.That(results.Count(r => r.Code == 0), Is.EqualTo(1), string.Join(" | ", results.Select(r => r.Error)));
        int winner = results[0].Code == 0 ? 0 : 1;
        var loser = results[1 - winner];
        AssertOneLineError(loser, $"--out {run}");
        var checkpoint = Checkpoint.Read(Path.Combine(run, Checkpoint.FileName));
        Assert.That(checkpoint.Config.Seed, Is.EqualTo((ulong)(1 + winner)));
        Assert.That(checkpoint.Long("step"), Is.EqualTo(20 + winner));
        Assert.That(File.ReadAllLines(Path.Combine(run, "metrics.csv")), Has.Length.EqualTo(21 + winner));
        Assert.That(TempFiles(run), Is.Empty);
    }

    [Test]
    public void TwoSampleRunsToOneFileOneWinsAndTheFileIsExactlyItsOutput()
    {
        string checkpoint = Path.Combine(Train(In("run"), "--steps", "2"), Checkpoint.FileName);
        string target = In("samples.csv");
        File.WriteAllText(In("samples.csv.tmp-4242-0123456789abcdef"), "r0,r1\n0.1,"); // a killed sample run's leftover
        var results = new CliResult[2];
        Parallel.For(0, 2, i => results[i] = Fingen("sample", "--checkpoint", checkpoint, "--count", "300", "--seed", (5 + i).ToString(CultureInfo.InvariantCulture), "--out", target));
        Assert.That(results.Count(r => r.Code == 0), Is.EqualTo(1), string.Join(" | ", results.Select(r => r.Error)));
        int winner = results[0].Code == 0 ? 0 : 1;
        AssertOneLineError(results[1 - winner], "already exists");
        var alone = Fingen("sample", "--checkpoint", checkpoint, "--count", "300", "--seed", (5 + winner).ToString(CultureInfo.InvariantCulture), "--out", In("alone.csv"));
        Assert.That(alone.Code, Is.Zero, alone.Error);
        Assert.That(File.ReadAllBytes(target), Is.EqualTo(File.ReadAllBytes(In("alone.csv"))));
        Assert.That(TempFiles(_dir), Is.Empty);
    }

    [Test]
    public void AFailedSampleLeavesNothingBehind()
    {
        // GADF images do not decode to returns: the CSV fails after the sampler was loaded.
        var trained = Fingen(["train", .. Small, "--steps", "1", "--encoding", "gadf", "--out", In("gadf")]);
        Assert.That(trained.Code, Is.Zero, trained.Error);
        var r = Fingen("sample", "--checkpoint", In("gadf/checkpoint.safetensors"), "--out", In("gadf.csv"));
        AssertOneLineError(r, "gadf images do not decode");
        Assert.That(r.Code, Is.EqualTo(FinGen.Cli.Cli.Failed));
        Assert.That(File.Exists(In("gadf.csv")), Is.False);
        Assert.That(TempFiles(_dir), Is.Empty);
    }

    [Test]
    public void StrayTemporaryFilesAreRemovedOnlyWhenNoLiveWriterHoldsThem()
    {
        string dead = In("a.csv.tmp-1234-0123456789abcdef"), live = In("b.csv.tmp-1234-fedcba9876543210"), mine = In("c.csv.tmp");
        File.WriteAllText(dead, "x");
        File.WriteAllText(live, "x");
        File.WriteAllText(mine, "user's file");
        using (new FileStream(live, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            Assert.That(AtomicFile.CleanStray(_dir), Is.EqualTo(1));
        Assert.That(File.Exists(dead), Is.False);
        Assert.That(File.Exists(live), "a file a writer holds is left alone");
        Assert.That(File.Exists(mine), "a name that is not ours is left alone");
    }

    [Test]
    public void AWriteThatFailsHalfwayLeavesNothingAndNamesTheFile()
    {
        string target = In("full-disk.csv");
        var e = Assert.Throws<FinGenException>(() => AtomicFile.Write(target, stream =>
        {
            stream.Write(new byte[100_000]);
            throw new IOException("No space left on device");
        }, replace: false, option: "--out"));
        Assert.That(e!.Message, Does.StartWith($"--out {target}: cannot write: No space left on device"));
        Assert.That(Directory.GetFiles(_dir), Is.Empty);
    }

    [Test]
    public void AnOutDirectoryHoldingOnlyOurLeftoversIsTakenAndCleaned()
    {
        Directory.CreateDirectory(In("run"));
        File.WriteAllText(In("run/checkpoint.safetensors.tmp-1-0123456789abcdef"), "half");
        var r = Fingen(["train", .. Small, "--steps", "2", "--out", In("run")]);
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(TempFiles(In("run")), Is.Empty);
        File.WriteAllText(In("mine.txt"), "x");
        Directory.CreateDirectory(In("other"));
        File.Move(In("mine.txt"), In("other/mine.txt"));
        AssertOneLineError(Fingen(["train", .. Small, "--steps", "2", "--out", In("other")]), "is not empty");
        Assert.That(Directory.GetFiles(In("other")), Has.Length.EqualTo(1));
    }

    // ---- data sanity and sizes

    private string PriceCsv(string name, Func<int, double> price, int rows = 120)
    {
        var lines = new List<string> { "date,close" };
        var day = new DateOnly(2020, 1, 1);
        for (int i = 0; i < rows; i++) lines.Add(string.Create(CultureInfo.InvariantCulture, $"{day.AddDays(i):yyyy-MM-dd},{price(i)}"));
        File.WriteAllLines(In(name), lines);
        return In(name);
    }

    [Test]
    public void AnAbsurdPriceIsAnErrorNamingItsLineUnlessAllowed()
    {
        string csv = PriceCsv("typo.csv", i => i == 60 ? 1e39 : 100 + Math.Sin(i));
        var r = Fingen(["train", .. Small, "--data", csv, "--steps", "1", "--out", In("typo")]);
        AssertOneLineError(r, $"{csv}: line 62, column 2");
        Assert.That(r.Error, Does.Contain("--allow-extreme"));
        Assert.That(Directory.Exists(In("typo")), Is.False, "a refused run leaves nothing behind");
        var allowed = Fingen(["train", .. Small, "--data", csv, "--allow-extreme", "--steps", "1", "--out", In("allowed")]);
        Assert.That(allowed.Code, Is.Zero, allowed.Error);
        Assert.That(Checkpoint.Read(In("allowed/checkpoint.safetensors")).Data["allow_extreme"], Is.EqualTo("true"));
        // In the held-out part, where only eval reads it: the same one line, not a statistic's complaint.
        string clean = PriceCsv("clean.csv", i => 100 + Math.Sin(i), rows: 600);
        string late = PriceCsv("late.csv", i => i == 590 ? 1e-300 : 100 + Math.Sin(i), rows: 600);
        Train(In("clean"), "--data", clean, "--steps", "1");
        AssertOneLineError(Fingen("eval", "--checkpoint", In("clean/checkpoint.safetensors"), "--data", late, "--out", In("eval")), $"{late}: line 592, column 2");
        Assert.That(Directory.Exists(In("eval")), Is.False);
    }

    [Test]
    public void ARowOverTheReadersLimitNamesTheFileAndLine()
    {
        string sparse = In("sparse.csv");
        using (var f = new FileStream(sparse, FileMode.CreateNew))
        {
            f.Write("date,close\n2020-01-01,1\n"u8);
            f.SetLength(FinGen.Native.Data.PriceCsv.MaxRowBytes + (4 << 20)); // a hole of zeros: one endless row
        }
        AssertOneLineError(Fingen(["train", .. Small, "--data", sparse, "--steps", "1", "--out", In("sparse")]), $"{sparse}: line 3: a row longer than 16 MiB");
    }

    [Test]
    public void SizesBeyondMemoryAreRefusedUpFrontNamingTheOption()
    {
        string checkpoint = Path.Combine(Train(In("run"), "--steps", "1"), Checkpoint.FileName);
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--count", "1000000", "--out", In("x.png")), "--count 1000000: a PNG grid holds at most");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", In("x.parquet"), "--paths", "100000000"), "--paths");
        AssertOneLineError(Fingen("train", "--batch", "10000000", "--steps", "1", "--out", In("big")), "--batch");
        AssertOneLineError(Fingen("bench", "--batch", "99999999"), "--batch");
        Assert.That(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "run" }));
    }

    [Test]
    public void ACsvOfManyChunksHoldsExactlyTheSamplesOfOneDraw()
    {
        string checkpoint = Path.Combine(Train(In("run"), "--steps", "1"), Checkpoint.FileName);
        const int Count = 4096 + 70; // a second, partial chunk
        var r = Fingen("sample", "--checkpoint", checkpoint, "--count", Count.ToString(CultureInfo.InvariantCulture), "--seed", "3", "--out", In("many.csv"));
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(r.Out, Does.Contain($"wrote {Count} samples"));
        using var sampler = Sampler.Load(checkpoint);
        var encoding = FinGen.Native.Data.DataSets.EncodingOf(sampler.DataMetadata)!;
        var all = new float[Count * sampler.SampleSize];
        sampler.Sample(all, Count, 3);
        var lines = File.ReadAllLines(In("many.csv"));
        Assert.That(lines, Has.Length.EqualTo(Count + 1));
        var decoded = new float[encoding.WindowLength];
        foreach (int s in new[] { 0, 4095, 4096, Count - 1 })
        {
            encoding.Decode(all.AsSpan(s * sampler.SampleSize, sampler.SampleSize), decoded);
            // The default price model is filtered: a CSV window is re-coloured from the filter's start variance by its path recursion.
            var filter = FinGen.Native.Data.VolatilityFilter.FromMetadata(sampler.DataMetadata)!;
            filter.ForPaths().Recolour(filter.Start, decoded, decoded);
            Assert.That(lines[s + 1], Is.EqualTo(string.Join(',', decoded.Select(v => v.ToString(CultureInfo.InvariantCulture)))), $"sample {s}");
        }
    }

    // ---- the small ones

    [Test]
    public void SmallMistakesGetOneLineNamingTheOption()
    {
        string checkpoint = Path.Combine(Train(In("run"), "--steps", "1"), Checkpoint.FileName);
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", ""), "--out is empty");
        AssertOneLineError(Fingen("train", "--steps", "1", "--out", ""), "--out is empty");
        AssertOneLineError(Fingen("eval", "--checkpoint", checkpoint, "--out", ""), "--out is empty");
        AssertOneLineError(Fingen("frobnicate"), "unknown command 'frobnicate'");
        AssertOneLineError(Fingen(), "no command given");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", In("missing/x.csv")), "does not exist");
        AssertOneLineError(Fingen("train", "--model", "gan", "--recon", "mse", "--steps", "1", "--out", In("recon")), "--recon applies to the VAEs");
        AssertOneLineError(Fingen("train", "--real-label", "2", "--steps", "1", "--out", In("label")), "--real-label 2: must be in (0.5, 1]");
        AssertOneLineError(Fingen("train", "--beta1", "1", "--steps", "1", "--out", In("beta1")), "--beta1 1: must be in [0, 1)");
        AssertOneLineError(Fingen("train", "--beta2", "-0.5", "--steps", "1", "--out", In("beta2")), "--beta2 -0.5: must be in [0, 1)");
        AssertOneLineError(Fingen("train", "--lr", "0", "--steps", "1", "--out", In("lr")), "--lr 0: the learning rate must be a positive number");
        AssertOneLineError(Fingen("train", "--noise", "student-t:2", "--steps", "1", "--out", In("t2")), "--noise student-t:2: the degrees of freedom must be from 3 to 64");
        AssertOneLineError(Fingen("train", "--noise", "cauchy", "--steps", "1", "--out", In("cauchy")), "--noise cauchy: use normal, student-t or student-t:DOF");
        AssertOneLineError(Fingen("train", "--model", "vae", "--noise", "student-t", "--steps", "1", "--out", In("vae-t")), "--noise student-t applies to the GANs");
        foreach (var refused in new[] { "t2", "cauchy", "vae-t" }) Assert.That(Directory.Exists(In(refused)), Is.False, $"{refused}: nothing written");
        var one = Fingen("sample", "--checkpoint", checkpoint, "--count", "1", "--out", In("one.csv"));
        Assert.That(one.Out, Does.Contain("wrote 1 sample to"));
    }

    [Test]
    public void ACountOfOneTakesTheSingular()
    {
        Assert.That(English.Plural(1, "worker thread"), Is.EqualTo("1 worker thread"));
        Assert.That(English.Plural(2, "worker thread"), Is.EqualTo("2 worker threads"));
        Assert.That(English.Plural(0, "step"), Is.EqualTo("0 steps"));
        Assert.That(English.Plural(1, "loss", "losses") + ", " + English.Plural(3, "loss", "losses"), Is.EqualTo("1 loss, 3 losses"));
        Assert.That(English.Every(1, "step") + ", " + English.Every(10, "step"), Is.EqualTo("every step, every 10 steps"));

        // The messages themselves, where a count of one is easy to reach.
        var info = Fingen("info");
        var cpu = System.Text.RegularExpressions.Regex.Match(info.Out, @"(\d+) logical (cores?), (\d+) worker (threads?)[;,]");
        Assert.That(cpu.Success, info.Out);
        Assert.That(cpu.Groups[2].Value, Is.EqualTo(cpu.Groups[1].Value == "1" ? "core" : "cores"));
        Assert.That(cpu.Groups[4].Value, Is.EqualTo(cpu.Groups[3].Value == "1" ? "thread" : "threads"));
        string checkpoint = Path.Combine(Train(In("run"), "--steps", "1"), Checkpoint.FileName);
        var parquet = Fingen("sample", "--checkpoint", checkpoint, "--paths", "1", "--length", "1", "--out", In("one.parquet"));
        Assert.That(parquet.Out, Does.Contain("wrote 1 path of 1 day to"), parquet.Error);
        var png = Fingen("sample", "--checkpoint", checkpoint, "--count", "1", "--out", In("one.png"));
        Assert.That(png.Out, Does.Contain("wrote 1 sample to"), png.Error);
        var tooFew = Assert.Throws<FinGenException>(() => FinGen.Native.Evaluation.Checks.Series([0.01], 2, "returns", "a test"));
        Assert.That(tooFew!.Message, Does.Contain("1 value is too few"));
        var enc = FinGen.Native.Data.GasfEncoding.Fit(new float[] { -0.02f, 0.01f, 0.03f, -0.01f }, 28);
        var oneReturn = Assert.Throws<FinGenException>(() => FinGen.Native.Data.MarketImages.EncodeWindows(new float[] { 0.01f }, enc));
        Assert.That(oneReturn!.Message, Does.StartWith("1 return is too few"));
    }

    [Test]
    public void AnInvalidThreadCountIsRefusedLikeAnInvalidBackend()
    {
        string? saved = Environment.GetEnvironmentVariable("FINGEN_THREADS");
        try
        {
            foreach (var bad in new[] { "abc", "0", "-2", "1.5" })
            {
                Environment.SetEnvironmentVariable("FINGEN_THREADS", bad);
                AssertOneLineError(Fingen("info"), $"FINGEN_THREADS='{bad}' is not a positive whole number");
            }
            Environment.SetEnvironmentVariable("FINGEN_THREADS", "2");
            Assert.That(Fingen("info").Code, Is.Zero);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FINGEN_THREADS", saved);
        }
    }
}
