using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FinGen.Native.Backends;
using FinGen.Native.Cuda;
using FinGen.Native.Data;
using FinGen.Native.Models;
using FinGen.Native.Training;

namespace FinGen.Cli;

/// <summary>
/// <c>fingen bench</c>: quick wall-clock training-step timings for performance engineers, without
/// BenchmarkDotNet (which is what the published comparisons use). Each step includes the loss copy-back,
/// so on CUDA it is a synchronized step. Median and spread over the timed steps after a warm-up.
/// </summary>
internal static class BenchCommand
{
    public static Command Create(CliConsole console)
    {
        var model = new Option<string>("--model") { Description = "gan, vae, dcgan or conv-vae", DefaultValueFactory = _ => "gan" }.AcceptOnlyFromAmong("gan", "vae", "dcgan", "conv-vae");
        var batches = new Option<string>("--batch") { Description = "batch sizes, comma-separated", DefaultValueFactory = _ => "64,256" };
        var steps = new Option<int>("--steps") { Description = "timed steps per batch size", DefaultValueFactory = _ => 200 };
        var warmup = new Option<int>("--warmup") { Description = "untimed steps first (enough for the JIT to promote the hot code, which .NET delays by 100 ms after start-up activity)", DefaultValueFactory = _ => 300 };
        var device = Options.Device();
        var csv = new Option<bool>("--csv") { Description = "print CSV rows instead of a table (for scripts)" };
        var profile = new Option<bool>("--profile") { Description = "also print a per-op table (on CPU each op timed by the host clock; on CUDA by events on the stream, and NVTX ranges when libnvToolsExt loads)" };
        var command = new Command("bench", "Time training steps of a model on a device") { model, batches, steps, warmup, device, csv, profile };
        command.SetAction(parse =>
        {
            var kind = ModelConfig.ParseCliName(parse.GetValue(model)!);
            var sizes = ParseBatches(parse.GetValue(batches)!);
            foreach (int batch in sizes) Sizes.CheckTraining(ModelConfig.Default(kind) with { BatchSize = batch });
            int timed = Options.AtLeast(parse.GetValue(steps), 5, "--steps");
            int untimed = Options.AtLeast(parse.GetValue(warmup), 0, "--warmup");
            bool asCsv = parse.GetValue(csv);
            var data = DataSets.FromImages(EmbeddedData.Mnist(2048));
            using var device0 = Devices.Create(parse.GetValue(device)!);
            // The CPU stand-in for CUDA (tests/CudaStandIn) runs kernels as fibers: its times mean nothing.
            if (device0 is CudaBackend { Info.IsStandIn: true } standIn)
                throw new FinGen.Native.FinGenException($"bench: refusing to time {standIn.Info.Name}: the CUDA stand-in proves correctness, never speed");
            using var profiler = parse.GetValue(profile) ? new ProfilingBackend(device0, OpTimerFor(device0)) : null;
            IBackend backend = profiler ?? device0;
            var o = console.Out;
            var table = new BenchTable(sizes, backend.Name);
            if (asCsv) o.WriteLine("engine,model,batch,backend,median_ms,p10_ms,p90_ms,steps_per_s,samples_per_s");
            else o.WriteLine(table.Header);
            foreach (int batch in sizes)
            {
                using var gm = GenerativeModel.Create(backend, ModelConfig.Default(kind) with { BatchSize = batch });
                gm.Initialize();
                var trainer = new Trainer(gm, data);
                trainer.Run(untimed);
                profiler?.Reset();
                var times = new double[timed];
                var clock = new Stopwatch();
                for (int i = 0; i < timed; i++)
                {
                    clock.Restart();
                    trainer.Run(gm.State.Step + 1);
                    backend.Synchronize();
                    times[i] = clock.Elapsed.TotalMilliseconds;
                    profiler?.EndStep(times[i] * 1000); // reads the step's op times: after the clock stopped
                }
                Array.Sort(times);
                double median = times[timed / 2], p10 = times[timed / 10], p90 = times[timed * 9 / 10];
                string name = ModelConfig.CliName(kind);
                if (asCsv)
                    o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fingen,{name},{batch},{backend.Name},{median:F4},{p10:F4},{p90:F4},{1000 / median:F1},{batch * 1000 / median:F0}"));
                else
                    o.WriteLine(table.Row(name, batch, backend.Name, median, p10, p90));
                if (profiler is not null) PrintProfile(o, profiler.Report());
            }
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>CUDA ops are timed by events on the stream (no synchronization per op); CPU ops by the host clock.</summary>
    private static IOpTimer? OpTimerFor(IBackend device) =>
        device is CudaBackend cuda ? new CudaOpTimer(cuda, ProfilingBackend.OpNames) : null;

    private static void PrintProfile(TextWriter o, Profile profile)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"  per op: {profile.Clock}; % of the measured step ({profile.StepMicroseconds / 1000:F3} ms, the mean of {FinGen.Native.English.Plural(profile.Steps, "profiled step")})"));
        o.WriteLine($"  {"op",-30} {"calls/step",10} {"µs/step",10} {"% of step",9} {"GFLOP/s",8} {"GB/s",8}");
        foreach (var op in profile.Ops)
        {
            string gflops = op.GflopsPerSecond is double f ? f.ToString("F1", c) : "";
            string gbytes = op.GigabytesPerSecond is double b ? b.ToString("F1", c) : "";
            o.WriteLine(string.Create(c, $"  {op.Op,-30} {op.CallsPerStep,10:F1} {op.MicrosecondsPerStep,10:F1} {op.PercentOfStep,8:F1}% {gflops,8} {gbytes,8}"));
        }
        if (profile.Steps > 0)
            o.WriteLine(string.Create(c, $"  {"(outside ops)",-30} {"",10} {profile.OutsideMicroseconds,10:F1} {profile.OutsidePercent,8:F1}%"));
    }

    private static int[] ParseBatches(string text)
    {
        var sizes = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int size) || size < 1)
                Options.Throw($"--batch '{part}' is not a positive integer (use e.g. --batch 64,256)");
            sizes.Add(size);
        }
        if (sizes.Count == 0) Options.Throw("--batch needs at least one size");
        return [.. sizes];
    }
}

/// <summary>
/// The table <c>fingen bench</c> prints a row at a time: every column as wide as its header and the widest cell it can
/// hold (every model's name, the batch sizes asked for, the backend), names left-aligned and numbers right-aligned,
/// so the rows line up whatever the model.
/// </summary>
internal sealed class BenchTable
{
    private static readonly string[] Titles = ["model", "batch", "backend", "median ms", "p10 ms", "p90 ms", "steps/s", "samples/s"];
    private static readonly bool[] Text = [true, false, true, false, false, false, false, false];
    // Room for steps of up to 1,000 s in the times and for 10⁹ steps or samples a second.
    private static readonly int[] NumberWidths = [0, 0, 0, 10, 10, 10, 11, 11];
    private readonly int[] _widths;

    public BenchTable(IEnumerable<int> batches, string backend)
    {
        int model = Enum.GetValues<ModelKind>().Max(k => ModelConfig.CliName(k).Length);
        int batch = batches.Max(b => b.ToString(CultureInfo.InvariantCulture).Length);
        int[] cells = [model, batch, backend.Length, .. NumberWidths[3..]];
        _widths = [.. Titles.Select((title, i) => Math.Max(title.Length, cells[i]))];
    }

    public string Header => Line(Titles);

    public string Row(string model, int batch, string backend, double medianMs, double p10Ms, double p90Ms)
    {
        var c = CultureInfo.InvariantCulture;
        return Line([model, batch.ToString(c), backend, medianMs.ToString("F3", c), p10Ms.ToString("F3", c), p90Ms.ToString("F3", c),
            (1000 / medianMs).ToString("F1", c), (batch * 1000 / medianMs).ToString("F0", c)]);
    }

    private string Line(string[] cells) =>
        string.Join(' ', cells.Select((cell, i) => Text[i] ? cell.PadRight(_widths[i]) : cell.PadLeft(_widths[i]))).TrimEnd();
}
