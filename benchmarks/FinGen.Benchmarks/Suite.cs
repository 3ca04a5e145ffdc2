using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace FinGen.Benchmarks;

/// <summary>What every benchmark of the suite shares: the thread count and the BenchmarkDotNet config.</summary>
internal static class Suite
{
    /// <summary>The engine's own knob (README): worker threads. The suite gives both engines this many.</summary>
    public const string ThreadsVariable = "FINGEN_THREADS";

    /// <summary>
    /// Threads for both engines: FINGEN_THREADS if set, else every core. The host reads it, and the config passes
    /// the resolved value to each benchmark process, so our CpuWorkers pool, CpuSimdBackend(threads) and
    /// torch.set_num_threads all see the same number.
    /// </summary>
    public static int Threads { get; } = ReadThreads();

    private static int ReadThreads()
    {
        string? text = Environment.GetEnvironmentVariable(ThreadsVariable);
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : Environment.ProcessorCount;
    }

    /// <summary>This project's folder, recorded at build time (the csproj's AssemblyMetadata).</summary>
    public static string ProjectDirectory { get; } =
        typeof(Suite).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ProjectDirectory").Value!;

    public static IConfig Config()
    {
        string patchTargets = Path.Combine(ProjectDirectory, "debian12", "TorchSharpOnDebian12.targets");
        // A mutator changes whatever jobs are chosen (the default, or --job short on the command line) rather than
        // adding a job of its own. The projects BenchmarkDotNet generates ignore Directory.Build.* and most of our
        // csproj, so the RID and the TorchSharp patch (debian12/) are handed to their build as global properties.
        var everyJob = Job.Default
            .WithArguments([
                new MsBuildArgument("/p:RuntimeIdentifier=linux-x64"),
                new MsBuildArgument($"/p:CustomAfterMicrosoftCommonTargets={patchTargets}"),
            ])
            .WithEnvironmentVariables(new EnvironmentVariable(ThreadsVariable, Threads.ToString(CultureInfo.InvariantCulture)))
            .AsMutator();
        return DefaultConfig.Instance
            .AddJob(everyJob)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(new ThreadsColumn())
            .AddExporter(MarkdownExporter.GitHub)
            .WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend))
            .WithOptions(ConfigOptions.StopOnFirstError);
    }
}

/// <summary>On a benchmark class whose engines run on a fixed number of threads instead of <see cref="Suite.Threads"/>.</summary>
[AttributeUsage(AttributeTargets.Class)]
internal sealed class EngineThreadsAttribute(int threads) : Attribute
{
    public int Threads { get; } = threads;
}

/// <summary>A benchmark argument that knows how many floating-point operations one call performs.</summary>
internal interface IFlopCount
{
    double Flops { get; }
}

/// <summary>A benchmark argument that runs on its own number of threads (the FMA peak cases).</summary>
internal interface IThreadCount
{
    int Threads { get; }
}

internal static class Cases
{
    public static T? Argument<T>(BenchmarkCase benchmarkCase) where T : class =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<T>().FirstOrDefault();

    public static int Threads(BenchmarkCase benchmarkCase) =>
        Argument<IThreadCount>(benchmarkCase)?.Threads
        ?? benchmarkCase.Descriptor.Type.GetCustomAttribute<EngineThreadsAttribute>()?.Threads
        ?? Suite.Threads;

    /// <summary>GFLOP/s of a case at its mean time (or, with <paramref name="fastest"/>, its fastest iteration); null without a flop count or a result.</summary>
    public static double? Gflops(Summary summary, BenchmarkCase benchmarkCase, bool fastest = false)
    {
        var flops = Argument<IFlopCount>(benchmarkCase)?.Flops;
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        double? nanoseconds = fastest ? statistics?.Min : statistics?.Mean;
        return flops is null || nanoseconds is null or <= 0 ? null : flops / nanoseconds; // flop per ns = GFLOP/s
    }
}

/// <summary>Base for the suite's columns: numeric, always shown, after the statistics.</summary>
internal abstract class SuiteColumn(string name, string legend) : IColumn
{
    public string Id => GetType().Name;
    public string ColumnName { get; } = name;
    public string Legend { get; } = legend;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public abstract string GetValue(Summary summary, BenchmarkCase benchmarkCase);
    public override string ToString() => ColumnName;
}

internal sealed class ThreadsColumn() : SuiteColumn("Threads", "Threads each engine computes on (torch.set_num_threads and ours)")
{
    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        Cases.Threads(benchmarkCase).ToString(CultureInfo.InvariantCulture);
}

internal sealed class GflopsColumn() : SuiteColumn("GFLOP/s", "Floating-point operations (2·m·n·k for a GEMM) per second of the mean time")
{
    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        Cases.Gflops(summary, benchmarkCase)?.ToString("F1", CultureInfo.InvariantCulture) ?? "-";
}

/// <summary>
/// GFLOP/s (at the mean time) as a share of the FMA peak measured in the same run at the same thread count (see
/// <see cref="SgemmBenchmarks.FmaPeak"/>), so a GEMM on 2 threads is held against the 2-thread peak. The peak is
/// the FmaPeak rows' fastest iteration, of the best vector width: what the cores can do, which the mean of a
/// loop that has no memory traffic only falls short of when other work took the cores.
/// </summary>
internal sealed class PercentOfPeakColumn() : SuiteColumn("% of peak",
    "GFLOP/s over the FMA peak at the same thread count: the fastest iteration of the best FmaPeak row")
{
    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? gflops = Cases.Gflops(summary, benchmarkCase);
        if (gflops is null) return "-";
        int threads = Cases.Threads(benchmarkCase);
        double peak = summary.BenchmarksCases
            .Where(c => Cases.Argument<FmaCase>(c) is { } fma && fma.Threads == threads)
            .Select(c => Cases.Gflops(summary, c, fastest: true) ?? 0)
            .DefaultIfEmpty(0)
            .Max();
        return peak > 0 ? (100 * gflops.Value / peak).ToString("F1", CultureInfo.InvariantCulture) + " %" : "no peak";
    }
}
