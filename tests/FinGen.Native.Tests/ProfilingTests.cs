using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

/// <summary>
/// <see cref="ProfilingBackend"/> on the CPU: that it forwards every op unchanged, times each under its own name, and
/// turns calls, FLOPs and bytes into the table's figures. A timer that charges a fixed time per op makes every figure
/// exact; the host-clock timer is checked against a stopwatch around the same work.
/// </summary>
[TestFixture]
public sealed class ProfilingTests
{
    private const double ChargeMicroseconds = 10;

    /// <summary>Charges <see cref="ChargeMicroseconds"/> to every op, held back until Collect as the CUDA timer holds its
    /// events; records the ops in order and fails on a Stop that does not close the open Start.</summary>
    private sealed class FixedTimer : IOpTimer
    {
        private readonly double[] _pending = new double[ProfilingBackend.OpNames.Count];
        private int _open = -1;

        public List<string> Sequence { get; } = [];
        public string Clock => "fixed";

        public void Start(int op)
        {
            Assert.That(_open, Is.EqualTo(-1), $"{ProfilingBackend.OpNames[op]} started inside {(_open >= 0 ? ProfilingBackend.OpNames[_open] : "")}");
            _open = op;
        }

        public void Stop(int op)
        {
            Assert.That(op, Is.EqualTo(_open), "Stop closes the op that started");
            _open = -1;
            _pending[op] += ChargeMicroseconds;
            Sequence.Add(ProfilingBackend.OpNames[op]);
        }

        public void Collect(Span<double> microseconds)
        {
            for (int op = 0; op < _pending.Length; op++) microseconds[op] += _pending[op];
            Array.Clear(_pending);
        }

        public void Dispose() { }
    }

    /// <summary>The buffers of one step of known shapes: a linear layer with its backward, an activation, a convolution,
    /// an Adam step over 100 parameters, an upload and a download.</summary>
    private sealed class StepBuffers : IDisposable
    {
        public static readonly ConvGeometry Conv = new(2, 3, 6, 6, 4, 3, 3, Stride: 1, Padding: 1); // 6×6 out

        private readonly List<Buffer> _all = [];
        public readonly float[] Host = new float[50], Downloaded = new float[32];
        public readonly Buffer Uploaded, X, W, B, Y, Z, Dy, Dx, DW, DB, ConvX, ConvW, ConvB, ConvY, P, G, M, V;

        public StepBuffers(int seed)
        {
            var rng = new Random(seed);
            Buffer R(int rows, int cols) { var b = Buffer.Random(rows, cols, rng); _all.Add(b); return b; }
            for (int i = 0; i < Host.Length; i++) Host[i] = (float)rng.NextDouble();
            Uploaded = R(5, 10);
            X = R(8, 16); W = R(4, 16); B = R(1, 4); Y = R(8, 4); Z = R(8, 4); Dy = R(8, 4); Dx = R(8, 16); DW = R(4, 16); DB = R(1, 4);
            ConvX = R(Conv.Batch, Conv.InSize); ConvW = R(Conv.OutChannels, Conv.FilterSize); ConvB = R(1, Conv.OutChannels); ConvY = R(Conv.Batch, Conv.OutSize);
            P = R(1, 100); G = R(1, 100); M = R(1, 100); V = Buffer.Random(1, 100, rng, 0.01, 1); _all.Add(V);
        }

        public void Run(IBackend backend, int step)
        {
            backend.Upload(Host, Uploaded.T);
            backend.LinearForward(X.T, W.T, B.T, Y.T);                       // 2·8·16·4 = 1024 FLOPs
            backend.LeakyReluForward(Y.T, 0.2f, Z.T);                         // 32 read + 32 written
            backend.LeakyReluBackward(Y.T, Dy.T, 0.2f, Dy.T);                 // 2·32 read + 32 written
            backend.LinearBackward(X.T, W.T, Dy.T, Dx.T, DW.T, DB.T);         // dX and dW: 2048 FLOPs
            backend.LinearBackward(X.T, W.T, Dy.T, default, DW.T, DB.T);      // dW only: 1024 FLOPs
            backend.Conv2dForward(ConvX.T, ConvW.T, ConvB.T, Conv, ConvY.T);  // 2·2·4·6·6·27 = 15552 FLOPs
            backend.AdamStep(P.T, G.T, M.T, V.T, 1e-3f, 0.9f, 0.999f, 1e-8f, step); // 7·100 floats
            backend.Download(Z.T, Downloaded);
        }

        public IEnumerable<float[]> Contents() => _all.Select(b => b.Span.ToArray()).Append(Downloaded);

        public void Dispose()
        {
            foreach (var b in _all) b.Dispose();
        }
    }

    private static readonly string[] StepOps =
        ["upload", "linear_forward", "leaky_relu_forward", "leaky_relu_backward", "linear_backward", "linear_backward", "conv2d_forward", "adam_step", "download"];

    [TestCaseSource(typeof(TestBackends), nameof(TestBackends.Names))]
    public void TheTableCountsCallsAndRatesFromTheShapes(string backendName)
    {
        using var expected = new StepBuffers(seed: 7);
        using var actual = new StepBuffers(seed: 7);
        using var plain = TestBackends.Create(backendName);
        var timer = new FixedTimer();
        using var profiler = new ProfilingBackend(TestBackends.Create(backendName), timer);
        for (int step = 1; step <= 2; step++)
        {
            expected.Run(plain, step);
            actual.Run(profiler, step);
            profiler.EndStep(200);
        }

        // The decorator changes nothing: every buffer ends as the unwrapped backend left it.
        foreach (var (a, e) in actual.Contents().Zip(expected.Contents())) Assert.That(a, Is.EqualTo(e));
        Assert.That(timer.Sequence, Is.EqualTo(StepOps.Concat(StepOps)));

        var profile = profiler.Report();
        Assert.That(profile.Clock, Is.EqualTo("fixed"));
        Assert.That(profile.Steps, Is.EqualTo(2));
        Assert.That(profile.StepMicroseconds, Is.EqualTo(200));
        Assert.That(profile.OpsMicroseconds, Is.EqualTo(StepOps.Length * ChargeMicroseconds));
        Assert.That(profile.Ops[0].Op, Is.EqualTo("linear_backward"), "slowest first");
        Assert.That(profile.Ops.Select(o => o.Op), Is.EquivalentTo(StepOps.Distinct()));

        OpProfile Row(string op) => profile.Ops.Single(o => o.Op == op);
        const double Tolerance = 1e-12;
        // GFLOP/s = FLOPs / µs / 1e3, over the same calls as the time.
        Assert.That(Row("linear_forward").GflopsPerSecond, Is.EqualTo(1024 / 10.0 / 1e3).Within(Tolerance));
        Assert.That(Row("linear_backward").GflopsPerSecond, Is.EqualTo((2048 + 1024) / 20.0 / 1e3).Within(Tolerance));
        Assert.That(Row("conv2d_forward").GflopsPerSecond, Is.EqualTo(15552 / 10.0 / 1e3).Within(Tolerance));
        // GB/s = bytes / µs / 1e3, 4 bytes a float.
        Assert.That(Row("upload").GigabytesPerSecond, Is.EqualTo(50 * 4 / 10.0 / 1e3).Within(Tolerance));
        Assert.That(Row("leaky_relu_forward").GigabytesPerSecond, Is.EqualTo(2 * 32 * 4 / 10.0 / 1e3).Within(Tolerance));
        Assert.That(Row("leaky_relu_backward").GigabytesPerSecond, Is.EqualTo(3 * 32 * 4 / 10.0 / 1e3).Within(Tolerance));
        Assert.That(Row("adam_step").GigabytesPerSecond, Is.EqualTo(7 * 100 * 4 / 10.0 / 1e3).Within(Tolerance));
        Assert.That(Row("download").GigabytesPerSecond, Is.EqualTo(32 * 4 / 10.0 / 1e3).Within(Tolerance));
        foreach (string op in new[] { "linear_forward", "linear_backward", "conv2d_forward" })
            Assert.That(Row(op).GigabytesPerSecond, Is.Null, op);
        foreach (string op in new[] { "upload", "leaky_relu_forward", "adam_step" })
            Assert.That(Row(op).GflopsPerSecond, Is.Null, op);

        var backward = Row("linear_backward");
        Assert.That((backward.Calls, backward.CallsPerStep, backward.MicrosecondsPerStep, backward.PercentOfStep), Is.EqualTo((4L, 2.0, 20.0, 10.0)));
        var forward = Row("linear_forward");
        Assert.That((forward.Calls, forward.CallsPerStep, forward.MicrosecondsPerStep, forward.PercentOfStep), Is.EqualTo((2L, 1.0, 10.0, 5.0)));
        Assert.That(profile.Ops.Sum(o => o.PercentOfStep), Is.EqualTo(100.0 * StepOps.Length * ChargeMicroseconds / 200).Within(1e-9));
        Assert.That((profile.OutsideMicroseconds, profile.OutsidePercent), Is.EqualTo((110.0, 55.0)), "200 µs measured, 9 ops of 10 µs");
    }

    [Test]
    public void WithoutStepsThePercentagesAreOfTheOpsSum()
    {
        using var buffers = new StepBuffers(seed: 3);
        using var profiler = new ProfilingBackend(new CpuReferenceBackend(), new FixedTimer());
        buffers.Run(profiler, 1);
        var profile = profiler.Report();
        Assert.That((profile.Steps, profile.StepMicroseconds), Is.EqualTo((0, 0.0)));
        Assert.That(profile.OpsMicroseconds, Is.EqualTo(StepOps.Length * ChargeMicroseconds));
        Assert.That(profile.Ops.Sum(o => o.PercentOfStep), Is.EqualTo(100).Within(1e-9));
        Assert.That((profile.OutsideMicroseconds, profile.OutsidePercent), Is.EqualTo((0.0, 0.0)), "nothing measured outside");
        Assert.That(profile.Ops.Single(o => o.Op == "linear_backward").PercentOfStep, Is.EqualTo(100.0 * 2 / StepOps.Length).Within(1e-9));
    }

    [Test]
    public void ResetForgetsTheTallyAndThePendingTimes()
    {
        using var buffers = new StepBuffers(seed: 5);
        using var profiler = new ProfilingBackend(new CpuReferenceBackend(), new FixedTimer());
        buffers.Run(profiler, 1);
        profiler.EndStep(100);
        buffers.Run(profiler, 2); // pending in the timer, never collected
        profiler.Reset();
        Assert.That(profiler.Report().Ops, Is.Empty);

        profiler.LeakyReluForward(buffers.Y.T, 0.2f, buffers.Z.T);
        profiler.EndStep(40);
        var profile = profiler.Report();
        Assert.That(profile.Ops.Select(o => (o.Op, o.Calls, o.MicrosecondsPerStep, o.PercentOfStep)),
            Is.EqualTo(new[] { ("leaky_relu_forward", 1L, ChargeMicroseconds, 25.0) }));
    }

    [Test]
    public void TheHostClockChargesNoMoreThanTheWallTimeAroundTheOps()
    {
        var rng = new Random(11);
        using var x = Buffer.Random(64, 256, rng);
        using var w = Buffer.Random(256, 256, rng);
        using var b = Buffer.Random(1, 256, rng);
        using var y = new Buffer(64, 256);
        using var profiler = new ProfilingBackend(new CpuSimdBackend());
        Assert.That(profiler.Clock, Is.EqualTo("host wall time"));
        var wall = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++) profiler.LinearForward(x.T, w.T, b.T, y.T);
        double wallMicroseconds = wall.Elapsed.TotalMicroseconds;
        profiler.EndStep(wallMicroseconds);

        var row = profiler.Report().Ops.Single();
        Assert.That(row.Op, Is.EqualTo("linear_forward"));
        Assert.That(row.Calls, Is.EqualTo(3));
        Assert.That(row.MicrosecondsPerStep, Is.GreaterThan(0).And.LessThanOrEqualTo(wallMicroseconds));
        Assert.That(row.PercentOfStep, Is.GreaterThan(0).And.LessThanOrEqualTo(100));
        Assert.That(row.GflopsPerSecond, Is.EqualTo(3 * 2.0 * 64 * 256 * 256 / row.MicrosecondsPerStep / 1e3).Within(1e-9).Percent);
    }

    [Test]
    public void ATimedOpAllocatesNothing()
    {
        var rng = new Random(13);
        using var x = Buffer.Random(16, 64, rng);
        using var y = new Buffer(16, 64);
        var host = new float[16 * 64];
        using var profiler = new ProfilingBackend(new CpuReferenceBackend());
        void Ops()
        {
            profiler.Upload(host, x.T);
            profiler.LeakyReluForward(x.T, 0.1f, y.T);
            profiler.Add(x.T, y.T, y.T);
            profiler.Download(y.T, host);
        }
        Ops(); // first calls out of the way
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Ops();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, "bytes allocated by 400 profiled ops");
        Assert.That(profiler.Report().Ops.Select(o => o.Calls), Has.All.EqualTo(101));
    }

    /// <summary>Does nothing but note which method was called.</summary>
    private sealed class NullBackend : IBackend
    {
        public List<string> Calls { get; } = [];
        private void Called([CallerMemberName] string method = "") => Calls.Add(method);

        public string Name => "null";
        public DeviceMemory Allocate(long count) => throw new NotSupportedException();
        public void Synchronize() { }
        public void Dispose() { }
        public void Upload(ReadOnlySpan<float> source, Tensor destination) => Called();
        public void Download(Tensor source, Span<float> destination) => Called();
        public void Fill(Tensor destination, float value) => Called();
        public void Copy(Tensor source, Tensor destination) => Called();
        public void Add(Tensor a, Tensor b, Tensor y) => Called();
        public void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y) => Called();
        public void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias) => Called();
        public void LeakyReluForward(Tensor x, float slope, Tensor y) => Called();
        public void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx) => Called();
        public void ReluForward(Tensor x, Tensor y) => Called();
        public void ReluBackward(Tensor x, Tensor dy, Tensor dx) => Called();
        public void SigmoidForward(Tensor x, Tensor y) => Called();
        public void SigmoidBackward(Tensor y, Tensor dy, Tensor dx) => Called();
        public void TanhForward(Tensor x, Tensor y) => Called();
        public void TanhBackward(Tensor y, Tensor dy, Tensor dx) => Called();
        public void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss) => Called();
        public void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits) => Called();
        public void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss) => Called();
        public void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction) => Called();
        public void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss) => Called();
        public void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar) => Called();
        public void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z) => Called();
        public void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar) => Called();
        public void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) => Called();
        public void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) => Called();
        public void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y) => Called();
        public void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias) => Called();
        public void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd) => Called();
        public void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon, Tensor runningMean, Tensor runningVar, Tensor y) => Called();
        public void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dGamma, Tensor dBeta) => Called();
        public void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized) => Called();
        public void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight) => Called();
        public void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset) => Called();
        public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum) => Called();
        public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step) => Called();
        public void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Models.Activation activation, float slope, Tensor pre, Tensor post) => Called();
        public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta) => Called();
        public void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees) => Called();
        public void FillStudentT(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta, int degrees) => Called();
        public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper) => Called();
        public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper) => Called();
        public void UploadScalars(ReadOnlySpan<float> source, Tensor destination) => Called();
    }

    /// <summary>The table's name of an interface method, where it is not the method's name in snake case.</summary>
    private static readonly Dictionary<string, string> ShortNames = new()
    {
        ["BceWithLogitsForward"] = "bce_forward", ["BceWithLogitsBackward"] = "bce_backward",
        ["GaussianKlForward"] = "kl_forward", ["GaussianKlBackward"] = "kl_backward", ["FillNormal"] = "philox_normal", ["FillStudentT"] = "philox_student_t",
        ["LinearActivationForward"] = "linear_forward_fused",
    };

    [Test]
    public void EveryOpOfTheInterfaceIsForwardedAndTimedUnderItsOwnName()
    {
        var inner = new NullBackend();
        var timer = new FixedTimer();
        using var profiler = new ProfilingBackend(inner, timer);
        var ops = typeof(IBackend).GetMethods()
            .Where(m => !m.IsSpecialName && m.Name is not (nameof(IBackend.Allocate) or nameof(IBackend.Synchronize) or nameof(IDisposable.Dispose)))
            .ToList();
        // Overloads (the by-value and the read-from-memory forms of FillNormal and the optimizers) share their op's name.
        Assert.That(ops.Select(m => m.Name).Distinct().Count(), Is.EqualTo(ProfilingBackend.OpNames.Count), "one op name per interface op");
        Assert.That(ProfilingBackend.OpNames, Is.Unique);
        foreach (var method in ops)
        {
            inner.Calls.Clear();
            timer.Sequence.Clear();
            if (method.Name == nameof(IBackend.Upload)) profiler.Upload([1f, 2f], default);
            else if (method.Name == nameof(IBackend.UploadScalars)) profiler.UploadScalars([1f, 2f], default);
            else if (method.Name == nameof(IBackend.Download)) profiler.Download(default, new float[2]);
            else method.Invoke(profiler, method.GetParameters().Select(Argument).ToArray());
            string expected = ShortNames.GetValueOrDefault(method.Name) ?? SnakeCase(method.Name);
            Assert.That(inner.Calls, Is.EqualTo(new[] { method.Name }), $"{method.Name} forwards to the same op");
            Assert.That(timer.Sequence, Is.EqualTo(new[] { expected }), $"{method.Name} is timed once under its name");
        }
        Assert.That(profiler.Report().Ops.Select(o => o.Op), Is.EquivalentTo(ProfilingBackend.OpNames));
    }

    // Empty tensors, zeros, and a valid geometry (the FLOP count divides by the stride).
    private static object? Argument(ParameterInfo p) =>
        p.ParameterType == typeof(ConvGeometry) ? StepBuffers.Conv : Activator.CreateInstance(p.ParameterType);

    private static string SnakeCase(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
