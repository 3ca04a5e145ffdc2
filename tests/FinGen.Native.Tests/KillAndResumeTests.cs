using System.Diagnostics;
using System.Runtime.InteropServices;
using FinGen.Native.Checkpoints;
using FinGen.Native.IO;

namespace FinGen.Native.Tests;

/// <summary>
/// fingen train as a real process, killed (SIGKILL) at random moments or stopped by SIGTERM: the run folder always
/// holds a loadable checkpoint whose metrics rows are on disk, and resuming in place ends bit for bit where an
/// uninterrupted run ends. Kept short for CI: a few hundred small steps, four kills.
/// </summary>
[TestFixture]
[Platform(Exclude = "Win", Reason = "signals and flock-based temporary-file locks are the Unix behaviour under test")]
public sealed partial class KillAndResumeTests
{
    private const int Steps = 400;
    private static readonly string[] Training = ["--steps", Steps.ToString(), "--batch", "8", "--checkpoint-every", "20", "--device", "cpu"];
    private string _dir = "";
    private byte[] _referenceCheckpoint = [];
    private string _referenceMetrics = "";
    private int _trainingMilliseconds; // the reference run's time from its first checkpoint to its end: where kills land

    [OneTimeSetUp]
    public void TrainUninterrupted()
    {
        _dir = Directory.CreateTempSubdirectory("fingen-kill-").FullName;
        var reference = Start(["train", .. Training, "--out", In("reference")]);
        WaitFor(() => File.Exists(In("reference/checkpoint.safetensors")) || reference.HasExited);
        var training = Stopwatch.StartNew();
        Assert.That(reference.WaitForExit(120_000), "the reference run finished");
        _trainingMilliseconds = Math.Max(100, (int)training.ElapsedMilliseconds);
        Assert.That(reference.ExitCode, Is.Zero, reference.StandardError.ReadToEnd());
        _referenceCheckpoint = File.ReadAllBytes(In("reference/checkpoint.safetensors"));
        _referenceMetrics = File.ReadAllText(In("reference/metrics.csv"));
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    [Test]
    public void KilledAtRandomMomentsThenResumedEqualsAnUninterruptedRun()
    {
        string run = In("killed");
        var random = new Random(TestContext.CurrentContext.Random.Next());
        var story = new List<string>();
        for (int kill = 0; kill < 4; kill++)
        {
            bool fresh = !File.Exists(Path.Combine(run, Checkpoint.FileName));
            using var process = Start(fresh ? ["train", .. Training, "--out", run] : ["train", "--resume", run]);
            // Kill during training, not during start-up: a fresh run trains once its step-0 checkpoint is in, a resumed
            // one once it says where it resumes.
            if (fresh) WaitFor(() => File.Exists(Path.Combine(run, Checkpoint.FileName)) || process.HasExited);
            else while (process.StandardOutput.ReadLine() is { } line && !line.Contains("resuming", StringComparison.Ordinal)) { }
            long done = fresh ? 0 : Checkpoint.Read(Path.Combine(run, Checkpoint.FileName)).Long("step");
            int delay = random.Next(0, (int)(_trainingMilliseconds * 0.9 * (Steps - done) / Steps) + 1); // within what is left
            Thread.Sleep(delay);
            bool finished = process.HasExited;
            if (!finished) process.Kill();
            process.WaitForExit();
            long step = AssertConsistent(run);
            story.Add($"{(fresh ? "train" : "resume")} killed after {delay} ms{(finished ? " (had finished)" : "")}: checkpoint at step {step}");
        }
        using (var last = Start(["train", "--resume", run]))
        {
            Assert.That(last.WaitForExit(120_000), "the last resume finished");
            Assert.That(last.ExitCode, Is.Zero, last.StandardError.ReadToEnd());
        }
        string history = string.Join("; ", story);
        TestContext.Out.WriteLine(history);
        Assert.That(Directory.GetFiles(run).Select(Path.GetFileName).Where(f => AtomicFile.IsTempName(f!)), Is.Empty, history);
        Assert.That(File.ReadAllBytes(Path.Combine(run, Checkpoint.FileName)), Is.EqualTo(_referenceCheckpoint), history);
        Assert.That(File.ReadAllText(Path.Combine(run, "metrics.csv")), Is.EqualTo(_referenceMetrics), history);
        Assert.That(Directory.GetFiles(run).Select(Path.GetFileName), Is.SupersetOf(new[] { "config.json", "samples.png", "paths.png" }));
    }

    [Test]
    public void SigtermFinishesTheStepCheckpointsAndExits143ThenResumeFinishesTheJob()
    {
        string run = In("terminated");
        using (var process = Start(["train", .. Training, "--out", run]))
        {
            // metrics.csv grows past its header at the first periodic checkpoint (step 20): training has begun, and the
            // signal handlers with it. (The file is locked while the run lives; its length is not.)
            var metrics = new FileInfo(Path.Combine(run, "metrics.csv"));
            WaitFor(() => (File.Exists(metrics.FullName) && new FileInfo(metrics.FullName).Length > 40) || process.HasExited);
            if (process.HasExited) Assert.Inconclusive("the run finished before it could be signalled (a very fast machine)");
            Assert.That(Kill(process.Id, SIGTERM), Is.Zero);
            Assert.That(process.WaitForExit(60_000));
            string output = process.StandardOutput.ReadToEnd();
            Assert.That(process.ExitCode, Is.EqualTo(143), output + process.StandardError.ReadToEnd());
            Assert.That(output, Does.Contain("stopped by SIGTERM at step").And.Contain($"fingen train --resume {run}"));
        }
        long step = AssertConsistent(run);
        Assert.That(step, Is.InRange(1, Steps - 1));
        // A graceful stop checkpoints the step it stopped at: every metrics row is the checkpoint's.
        Assert.That(File.ReadAllLines(Path.Combine(run, "metrics.csv")), Has.Length.EqualTo(step + 1));
        using (var resumed = Start(["train", "--resume", run]))
        {
            Assert.That(resumed.WaitForExit(120_000));
            Assert.That(resumed.ExitCode, Is.Zero, resumed.StandardError.ReadToEnd());
        }
        Assert.That(File.ReadAllBytes(Path.Combine(run, Checkpoint.FileName)), Is.EqualTo(_referenceCheckpoint));
        Assert.That(File.ReadAllText(Path.Combine(run, "metrics.csv")), Is.EqualTo(_referenceMetrics));
    }

    [Test]
    public void CtrlCFinishesTheStepCheckpointsAndExits130()
    {
        // A shell starts background jobs with SIGINT ignored, and children inherit that: then no Ctrl-C can reach fingen.
        if (SignalIgnored(SIGINT)) Assert.Ignore("SIGINT is ignored in this process (a background job), so its children cannot receive it");
        string run = In("interrupted");
        using var process = Start(["train", .. Training, "--out", run]);
        WaitFor(() => (File.Exists(Path.Combine(run, "metrics.csv")) && new FileInfo(Path.Combine(run, "metrics.csv")).Length > 40) || process.HasExited);
        if (process.HasExited) Assert.Inconclusive("the run finished before it could be signalled (a very fast machine)");
        Assert.That(Kill(process.Id, SIGINT), Is.Zero);
        Assert.That(process.WaitForExit(60_000));
        string output = process.StandardOutput.ReadToEnd();
        Assert.That(process.ExitCode, Is.EqualTo(130), output + process.StandardError.ReadToEnd());
        Assert.That(output, Does.Contain("stopped by Ctrl-C at step"));
        Assert.That(AssertConsistent(run), Is.InRange(1, Steps - 1));
    }

    /// <summary>Whether <paramref name="signal"/> is ignored here (the SigIgn mask of /proc/self/status), so children inherit that.</summary>
    private static bool SignalIgnored(int signal)
    {
        string? line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) : null;
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (signal - 1))) != 0;
    }

    [Test]
    public void SamplingIntoAPipeWhoseReaderLeftStopsAtOnce()
    {
        // `fingen sample --count 10000000 | head -2`: the draw must stop when head does, not run for an hour.
        using var process = Start(["sample", "--checkpoint", In("reference/checkpoint.safetensors"), "--count", "10000000"]);
        Assert.That(process.StandardOutput.ReadLine(), Does.StartWith("r0,r1,"));
        Assert.That(process.StandardOutput.ReadLine(), Is.Not.Empty);
        process.StandardOutput.Close();
        Assert.That(process.WaitForExit(60_000), "sample stopped after its reader left");
        Assert.That(process.ExitCode, Is.EqualTo(141), process.StandardError.ReadToEnd());
    }

    /// <summary>The checkpoint loads (finite, whole) and metrics.csv holds every one of its steps; returns its step.</summary>
    private static long AssertConsistent(string run)
    {
        var checkpoint = Checkpoint.Read(Path.Combine(run, Checkpoint.FileName));
        long step = checkpoint.Long("step");
        Assert.That(checkpoint.UntilStep, Is.EqualTo(Steps));
        using (var sampler = Sampler.Load(checkpoint.Path)) Assert.That(sampler.SampleSize, Is.EqualTo(28)); // the default price model: 28-day raw windows
        string metrics = Path.Combine(run, "metrics.csv");
        if (!File.Exists(metrics))
        {
            // Killed between moving in the step-0 checkpoint (the claim) and creating metrics.csv: resume creates it.
            Assert.That(step, Is.Zero, "metrics.csv is missing beside a trained checkpoint");
            return step;
        }
        var rows = File.ReadAllLines(metrics).Skip(1)
            .Select(line => line.Split(',')[0]).TakeWhile(s => long.TryParse(s, out long n) && n <= step).Count();
        Assert.That(rows, Is.EqualTo(step), "metrics.csv holds a row for every step up to the checkpoint's");
        return step;
    }

    private static Process Start(string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "fingen"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    private static void WaitFor(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail("timed out waiting for the run to start");
            Thread.Sleep(5);
        }
    }

    private const int SIGINT = 2, SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
