using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

/// <summary>The backends every op test runs over (as Llm.cs runs every test over every backend).</summary>
internal static class TestBackends
{
    public static IEnumerable<string> Names => Backend.CpuNames;

    public static IBackend Create(string name) => name switch
    {
        "cpu-ref" => new CpuReferenceBackend(),
        "cpu" => new CpuSimdBackend(),
        _ => throw new ArgumentException(name),
    };
}

/// <summary>A host tensor that owns its memory, filled with seeded random values (never zeros).</summary>
internal sealed unsafe class Buffer : IDisposable
{
    private readonly HostMemory _memory;

    public Buffer(int rows, int cols)
    {
        _memory = new HostMemory((long)rows * cols);
        T = _memory.Slice(0, rows, cols, "test");
    }

    public Tensor T { get; }
    public Span<float> Span => T.Span;

    public static Buffer Random(int rows, int cols, System.Random rng, double low = -1, double high = 1)
    {
        var b = new Buffer(rows, cols);
        foreach (ref float v in b.Span) v = (float)(low + (high - low) * rng.NextDouble());
        return b;
    }

    public static Buffer Filled(int rows, int cols, float value)
    {
        var b = new Buffer(rows, cols);
        b.Span.Fill(value);
        return b;
    }

    public Buffer Clone()
    {
        var b = new Buffer(T.Rows, T.Cols);
        Span.CopyTo(b.Span);
        return b;
    }

    public double[] ToDouble() => Array.ConvertAll(Span.ToArray(), v => (double)v);

    public void Dispose() => _memory.Dispose();
}

internal static class Compare
{
    /// <summary>|actual − expected| ≤ atol + rtol·|expected| everywhere; the message names the worst element.</summary>
    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        int worst = -1;
        double worstExcess = double.NegativeInfinity;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            double excess = double.IsFinite(actual[i]) ? error - (atol + rtol * Math.Abs(expected[i])) : double.PositiveInfinity;
            if (excess > worstExcess) { worstExcess = excess; worst = i; }
        }
        if (worst >= 0 && worstExcess > 0)
            Assert.Fail($"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (|error| {Math.Abs(actual[worst] - expected[worst]):E2} > {atol:E1} + {rtol:E1}·|ref|)");
    }

    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what) =>
        Close(actual, Array.ConvertAll(expected.ToArray(), v => (double)v), atol, rtol, what);
}

internal static class FiniteDifferences
{
    /// <summary>
    /// Checks <paramref name="analytic"/>[k] against the central difference (loss(v + h) − loss(v − h)) / 2h of each
    /// <paramref name="values"/>[k], restoring every value afterwards; <paramref name="name"/> labels a failing element.
    /// The forward runs in float, so h is large enough that rounding stays small and small enough to stay off ReLU kinks.
    /// </summary>
    public static void Check(Func<double> loss, Span<float> values, ReadOnlySpan<float> analytic, double atol, double rtol,
        Func<int, string> name, float h = 1e-3f)
    {
        Assert.That(analytic.Length, Is.EqualTo(values.Length), "one gradient per value");
        for (int k = 0; k < values.Length; k++)
        {
            float saved = values[k];
            values[k] = saved + h; double plus = loss();
            values[k] = saved - h; double minus = loss();
            values[k] = saved;
            double expected = (plus - minus) / (2 * h);
            Assert.That(analytic[k], Is.EqualTo(expected).Within(atol + rtol * Math.Abs(expected)), name(k));
        }
    }

    /// <summary>The name of the parameter at <paramref name="offset"/> of a layout's block, e.g. "net.2.weight[5]" (or a gap).</summary>
    public static string ParameterAt(FinGen.Native.Models.ParameterLayout layout, int offset)
    {
        foreach (var e in layout.Entries)
            if (offset >= e.Offset && offset < e.Offset + e.Length) return $"{e.Name}[{offset - e.Offset}]";
        return $"alignment gap at {offset}";
    }
}

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
