using FinGen.Native.Backends;

namespace FinGen.Native.Tests;

// Helpers for the tests that run fingen or train models; kept out of TestSupport.cs, which the GPU check links
// without the CLI.
/// <summary>What one in-process run of fingen returned: the exit code, stdout and stderr.</summary>
internal sealed record CliResult(int Code, string Out, string Error);

/// <summary>fingen run in process with real arguments (use with <c>using static</c>).</summary>
internal static class FingenCli
{
    public static CliResult Fingen(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = FinGen.Cli.Cli.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>A bad input: non-zero exit, exactly one line on stderr that contains <paramref name="expected"/>, no stack trace.</summary>
    public static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.That(result.Code, Is.Not.Zero, result.Out);
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), result.Error);
        Assert.That(lines[0], Does.Contain(expected));
        Assert.That(result.Error, Does.Not.Contain("   at "));
    }
}

/// <summary>Short seeded training runs on real MNIST digits, shared by the model tests (use with <c>using static</c>).</summary>
internal static class TrainingRuns
{
    private static FinGen.Native.Training.TrainingData? _mnist;

    /// <summary>The first 512 real MNIST digits: enough for short runs.</summary>
    public static FinGen.Native.Training.TrainingData MnistDigits => _mnist ??= FinGen.Native.Data.DataSets.FromImages(FinGen.Native.Data.EmbeddedData.Mnist(512));

    /// <summary>A fresh model from <paramref name="config"/>'s seed, trained <paramref name="steps"/> steps; the metrics of every step.</summary>
    public static float[][] Train(IBackend backend, FinGen.Native.Models.ModelConfig config, int steps, FinGen.Native.Training.TrainingData? data = null)
    {
        using var model = FinGen.Native.Models.GenerativeModel.Create(backend, config);
        model.Initialize();
        return Run(model, steps, data);
    }

    /// <summary><paramref name="steps"/> more steps of <paramref name="model"/>; the metrics of every step.</summary>
    public static float[][] Run(FinGen.Native.Models.GenerativeModel model, int steps, FinGen.Native.Training.TrainingData? data = null)
    {
        var metrics = new List<float[]>();
        new FinGen.Native.Training.Trainer(model, data ?? MnistDigits).Run(model.State.Step + steps, (_, m) => metrics.Add(m.ToArray()));
        return [.. metrics];
    }
}
