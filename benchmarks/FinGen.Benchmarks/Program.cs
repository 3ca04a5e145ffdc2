using BenchmarkDotNet.Running;

namespace FinGen.Benchmarks;

internal static class Program
{
    // dotnet run -c Release --project benchmarks/FinGen.Benchmarks -- --filter '*'
    private static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
