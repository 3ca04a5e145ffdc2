using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

/// <summary>The backends every op test runs over (as Llm.cs runs every test over every backend).</summary>
/// <summary>The repository's root folder, found above the test binaries by its solution file.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FinGen.Native.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above the test binaries");
    }
}

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


/// <summary>A device copy of a host buffer, for the CUDA parity tests.</summary>
internal sealed class DeviceBuffer : IDisposable
{
    private readonly IBackend _backend;
    private readonly DeviceMemory _memory;

    public DeviceBuffer(IBackend backend, Buffer host)
    {
        _backend = backend;
        _memory = backend.Allocate(host.T.Length);
        T = _memory.Slice(0, host.T.Rows, host.T.Cols, "device");
        backend.Upload(host.Span, T);
    }

    public Tensor T { get; }

    public float[] Read()
    {
        var values = new float[T.Length];
        _backend.Download(T, values);
        return values;
    }

    public void Dispose() => _memory.Dispose();
}
