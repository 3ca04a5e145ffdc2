using FinGen.Native.Backends.Cpu;
using BenchmarkDotNet.Running;

namespace FinGen.Benchmarks;

internal static class Program
{
    /// <summary>
    /// <c>--machine-name</c>: the results file's name for this CPU (e.g. <c>amd-zen4-2-cores</c>); <c>--cpu</c>: the CPU's
    /// rows of a results file's table (identity, SIMD, caches, measured FMA peak).
    /// <c>--parity</c>: only the numerical parity check (exit code 1 if it fails). Anything else goes to
    /// BenchmarkDotNet's switcher (<c>--filter '*'</c>, <c>--job short</c>, <c>--list flat</c>, …); a run that
    /// selects benchmarks (<c>--filter</c>) does the parity check first and times nothing if it fails.
    /// Threads for both engines: FINGEN_THREADS (default: every core). See benchmarks/results/README.md.
    /// </summary>
    private static int Main(string[] args)
    {
        if (args.Contains("--parity")) return Parity.Run(Console.Out) ? 0 : 1;
        if (args.Contains("--machine-name"))
        {
            Console.WriteLine(CpuDescription.Detect().MachineName);
            return 0;
        }
        if (args.Contains("--cpu"))
        {
            WriteCpuRows(Console.Out);
            return 0;
        }
        if (args.Contains("--filter") && !Parity.Run(Console.Out))
        {
            Console.Error.WriteLine("The engines disagree (see the table above): nothing is timed.");
            return 1;
        }
        Type[] suite =
        [
            typeof(GanStepBenchmarks), typeof(VaeStepBenchmarks), typeof(DcganStepBenchmarks), typeof(ConvVaeStepBenchmarks),
            typeof(SamplingBenchmarks), typeof(SamplingTwoThreadsBenchmarks), typeof(BulkGenerationBenchmarks), typeof(SgemmBenchmarks),
        ];
        var summaries = BenchmarkSwitcher.FromTypes(suite).Run(args, Suite.Config());
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    /// <summary>Markdown rows "| CPU | … |" for a results file: what the CPU is, how it runs vectors, its caches and its FMA peak now.</summary>
    private static void WriteCpuRows(TextWriter o)
    {
        var cpu = CpuDescription.Detect();
        var peak = FmaPeak.Measure();
        o.WriteLine($"| CPU | {cpu.Brand}: {cpu.Identity} |");
        o.WriteLine($"| SIMD | {cpu.SimdExecution} |");
        o.WriteLine($"| Caches (per core unless shared) | {cpu.CacheSummary} |");
        o.WriteLine($"| FMA peak (measured before the suite) | {peak} |");
    }
}
