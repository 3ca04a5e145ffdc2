using System.CommandLine;
using FinGen.Native;

namespace FinGen.Cli;

/// <summary>
/// The <c>fingen</c> command: parses, picks a backend, calls the library, prints. No math here.
/// Exit codes: 0 success, 1 bad input or a failed run (one line on stderr), 2 bad command line.
/// </summary>
public static class Cli
{
    public const int Ok = 0, Failed = 1, Usage = 2, Internal = 70;

    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false)
    {
        var root = CreateRoot(new CliConsole(output, error, interactive));
        var parse = root.Parse(args);
        string[] commands = [.. root.Subcommands.Select(c => c.Name)];
        if (args.Length == 0 || (!args[0].StartsWith('-') && !commands.Contains(args[0])))
        {
            error.WriteLine(args.Length == 0
                ? $"fingen: no command given; use one of: {string.Join(", ", commands)} (see 'fingen --help')"
                : $"fingen: unknown command '{OneLine(args[0])}'; use one of: {string.Join(", ", commands)} (see 'fingen --help')");
            return Usage;
        }
        if (parse.Errors.Count > 0)
        {
            // One line, the first problem: the rest usually follows from it.
            error.WriteLine($"fingen: {OneLine(parse.Errors[0].Message)} (see 'fingen {string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Take(1))} --help')");
            return Usage;
        }
        try
        {
            FinGen.Native.Backends.Backend.CheckThreadsVariable();
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (FinGenException e)
        {
            error.WriteLine($"fingen: {OneLine(e.Message)}");
            return Failed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"fingen: {OneLine(e.Message)}");
            return Failed;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("FINGEN_DEBUG") != "1")
        {
            error.WriteLine($"fingen: internal error: {e.GetType().Name}: {OneLine(e.Message)} (set FINGEN_DEBUG=1 for the stack trace)");
            return Internal;
        }
    }

    /// <summary>The whole command tree, so that a test can parse what the README shows with the parser itself.</summary>
    internal static RootCommand CreateRoot(CliConsole console)
    {
        var root = new RootCommand("FinGen.Native: train and sample GANs and VAEs of financial data on CPU or CUDA.");
        root.Subcommands.Add(TrainCommand.Create(console));
        root.Subcommands.Add(SampleCommand.Create(console));
        root.Subcommands.Add(EvalCommand.Create(console));
        root.Subcommands.Add(BenchCommand.Create(console));
        root.Subcommands.Add(InfoCommand.Create(console));
        return root;
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Where a command writes: plain writers, plus whether a live progress bar makes sense.</summary>
public sealed record CliConsole(TextWriter Out, TextWriter Error, bool Interactive);
