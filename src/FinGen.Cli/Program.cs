namespace FinGen.Cli;

internal static class Program
{
    private static int Main(string[] args) => Cli.Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected);
}
