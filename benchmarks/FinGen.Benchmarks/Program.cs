using BenchmarkDotNet.Running;

namespace FinGen.Benchmarks;

internal static class Program
{
    /// <summary>
    /// <c>--parity</c>: only the numerical parity check (exit code 1 if it fails). Anything else goes to
    /// BenchmarkDotNet's switcher (<c>--filter '*'</c>, <c>--job short</c>, <c>--list flat</c>, …); a run that
    /// selects benchmarks (<c>--filter</c>) does the parity check first and times nothing if it fails.
    /// Threads for both engines: FINGEN_THREADS (default: every core). See benchmarks/results/README.md.
    /// </summary>
    private static int Main(string[] args)
    {
        if (args.Contains("--parity")) return Parity.Run(Console.Out) ? 0 : 1;
        if (args.Contains("--filter") && !Parity.Run(Console.Out))
        {
            Console.Error.WriteLine("The engines disagree (see the table above): nothing is timed.");
            return 1;
        }
        Type[] suite =
        [
            typeof(GanStepBenchmarks), typeof(VaeStepBenchmarks), typeof(DcganStepBenchmarks), typeof(ConvVaeStepBenchmarks),
            typeof(SamplingBenchmarks), typeof(SamplingTwoThreadsBenchmarks), typeof(SgemmBenchmarks),
        ];
        var summaries = BenchmarkSwitcher.FromTypes(suite).Run(args, Suite.Config());
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
