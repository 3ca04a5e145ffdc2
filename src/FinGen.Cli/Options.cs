using System.CommandLine;
using FinGen.Native;

namespace FinGen.Cli;

/// <summary>Option constructors and checks shared by the commands, so every command words errors alike.</summary>
internal static class Options
{
    public static Option<string> Device() => new Option<string>("--device")
    {
        Description = "cpu, cuda or auto (auto: CUDA when a device answers, else CPU)",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "cpu", "cuda");

    public static Option<ulong> Seed(ulong fallback) => new("--seed")
    {
        Description = "seed of every random draw (same seed, same result)",
        DefaultValueFactory = _ => fallback,
    };

    public static int AtLeast(int value, int minimum, string option)
    {
        if (value < minimum) Throw($"{option} must be at least {minimum}, got {value}");
        return value;
    }

    /// <summary>Refuses to replace a file the user already has.</summary>
    public static void MustNotExist(string path, string option)
    {
        if (File.Exists(path) || Directory.Exists(path))
            Throw($"{option} {path} already exists; choose another path (nothing was overwritten)");
    }

    public static void MustExist(string path, string option)
    {
        if (!File.Exists(path)) Throw($"{option} {path}: no such file");
    }

    public static void Throw(string message) => throw new FinGenException(message);
}
