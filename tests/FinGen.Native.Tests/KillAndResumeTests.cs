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

    [OneTimeSetUp]
    public void TrainUninterrupted()
    {
        _dir = Directory.CreateTempSubdirectory("fingen-kill-").FullName;
        var reference = Start(["train", .. Training, "--out", In("reference")]);
        Assert.That(reference.WaitForExit(120_000), "the reference run finished");
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
            if (fresh) WaitFor(() => File.Exists(Path.Combine(run, Checkpoint.FileName)) || process.HasExited);
            int delay = random.Next(50, 700);
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
            WaitFor(() => File.Exists(Path.Combine(run, Checkpoint.FileName)) || process.HasExited);
            Thread.Sleep(150);
            Assert.That(process.HasExited, Is.False, "the run was still training when signalled");
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

    private const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
