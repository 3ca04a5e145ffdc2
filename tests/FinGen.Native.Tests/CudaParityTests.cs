using FinGen.Native.Backends;
using FinGen.Native.Cuda;
using FinGen.Native.Data;
using FinGen.Native.Checkpoints;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;
using FinGen.Native.Training;

namespace FinGen.Native.Tests;

/// <summary>
/// The CUDA backend against the scalar CPU reference, op by op on random inputs of ragged sizes (every buffer an
/// op touches is compared afterwards, inputs included, and the worst element is reported), then whole training
/// runs, determinism and Philox. Where no device answers every test is ignored with the probe's reason.
/// </summary>
[TestFixture]
public sealed class CudaParityTests : CudaFixture
{
    private static readonly (int Rows, int Cols)[] Shapes = [(1, 1), (3, 5), (7, 17), (16, 33), (9, 130), (37, 1000)];

    /// <summary>More than 4096 blocks of 256: every thread of the grid-stride loops goes round more than once.</summary>
    private static readonly (int Rows, int Cols) Large = (1100, 1000);

    private static IEnumerable<TestCaseData> ShapeCases() =>
        from s in Shapes select new TestCaseData(s.Rows, s.Cols).SetArgDisplayNames($"{s.Rows}x{s.Cols}");

    private static IEnumerable<TestCaseData> ShapeCasesWithLarge() =>
        ShapeCases().Append(new TestCaseData(Large.Rows, Large.Cols).SetArgDisplayNames($"{Large.Rows}x{Large.Cols}"));

    private static IEnumerable<TestCaseData> LinearCases() =>
        from s in new[] { (1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 100, 128), (5, 130, 3), (64, 784, 128), (128, 128, 1), (33, 1000, 257) }
        select new TestCaseData(s.Item1, s.Item2, s.Item3).SetArgDisplayNames($"B{s.Item1} in{s.Item2} out{s.Item3}");

    // ---- the harness: run an op on both backends from the same initial buffers, compare every buffer after

    private sealed record Named(string Name, Buffer Buffer);

    private static Named In(string name, Buffer buffer) => new(name, buffer);

    private void Parity(string op, double atol, double rtol, Named[] buffers, Action<IBackend, Tensor[]> run)
    {
        var cuda = Cuda();
        using var cpu = new CpuReferenceBackend();
        var host = buffers.Select(b => b.Buffer.Clone()).ToArray();
        var device = buffers.Select(b => new DeviceBuffer(cuda, b.Buffer)).ToArray();
        try
        {
            run(cpu, host.Select(b => b.T).ToArray());
            run(cuda, device.Select(d => d.T).ToArray());
            for (int i = 0; i < buffers.Length; i++)
                Compare.Close(device[i].Read(), host[i].Span, atol, rtol, $"{op}: {buffers[i].Name}");
        }
        finally
        {
            foreach (var b in host) b.Dispose();
            foreach (var d in device) d.Dispose();
            foreach (var b in buffers) b.Buffer.Dispose();
        }
    }

    // ---- memory

    [Test]
    public void AllocateZeroesAndUploadDownloadRoundTrip()
    {
        var cuda = Cuda();
        using (var empty = cuda.Allocate(0)) Assert.That(empty.Count, Is.Zero);
        using var memory = cuda.Allocate(1001);
        var zeros = new float[1001];
        Array.Fill(zeros, float.NaN);
        cuda.Download(memory.All(), zeros);
        Assert.That(zeros, Has.All.EqualTo(0f));

        var values = Enumerable.Range(0, 1001).Select(i => i * 0.25f - 7f).ToArray();
        cuda.Upload(values, memory.All());
        var back = new float[1001];
        cuda.Download(memory.All(), back);
        Assert.That(back, Is.EqualTo(values));

        // A shorter upload fills the start; a slice downloads its own elements.
        cuda.Upload(new float[] { 1, 2, 3 }, memory.Slice(10, 1, 20));
        var slice = new float[5];
        cuda.Download(memory.Slice(9, 1, 5), slice);
        Assert.That(slice, Is.EqualTo(new[] { values[9], 1f, 2f, 3f, values[13] }));
        Assert.Throws<ArgumentException>(() => cuda.Upload(new float[4], memory.Slice(0, 1, 3)));
        Assert.Throws<ArgumentException>(() => cuda.Download(memory.Slice(0, 1, 3), new float[2]));
    }

    /// <summary>
    /// Uploads up to 4 MiB return before the copy ran (staged in pinned memory): the caller may refill its array at
    /// once, each upload still lands in order (the last one into a tensor wins), and kernels queued between them see
    /// the right values. A larger upload takes the waiting path.
    /// </summary>
    [Test]
    public void StagedUploadsLandInOrderAndLeaveTheSourceFree()
    {
        var cuda = Cuda();
        var rng = new System.Random(13);
        const int n = 50_000, rounds = 7;
        using var memory = cuda.Allocate((long)rounds * n + n);
        var host = new float[n];
        var expected = new float[rounds][];
        var summed = memory.Slice((long)rounds * n, 1, n);
        cuda.Fill(summed, 0f);
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < n; i++) host[i] = (float)rng.NextDouble() - 0.5f;
            expected[r] = (float[])host.Clone();
            var target = memory.Slice((long)r * n, 1, n);
            cuda.Upload(host, target);
            cuda.Add(summed, target, summed); // reads what this upload wrote, not a later one
            Array.Fill(host, float.NaN);      // the source is free as soon as Upload returns
            cuda.Upload(host, memory.Slice((long)((r + 1) % rounds) * n, 1, n)); // overwritten by the next round's upload
        }
        var back = new float[n];
        var sum = new float[n];
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < n; i++) sum[i] += expected[r][i];
            cuda.Download(memory.Slice((long)r * n, 1, n), back);
            if (r == 0) Assert.That(back, Has.All.NaN, "round 0's tensor was last written by the final round's NaN upload");
            else Assert.That(back, Is.EqualTo(expected[r]), $"round {r}");
        }
        cuda.Download(summed, back);
        Assert.That(back, Is.EqualTo(sum), "each Add saw its own round's upload");

        var large = new float[(4 << 20) / sizeof(float) + 1001];
        for (int i = 0; i < large.Length; i++) large[i] = i % 977 - 300f;
        using var big = cuda.Allocate(large.Length);
        cuda.Upload(large, big.All());
        var largeBack = new float[large.Length];
        cuda.Download(big.All(), largeBack);
        Assert.That(largeBack, Is.EqualTo(large));
    }

    [TestCaseSource(nameof(ShapeCasesWithLarge))]
    public void FillCopyAddMatch(int rows, int cols)
    {
        var rng = new System.Random(rows + cols);
        Parity("Fill", 0, 0, [In("y", Buffer.Filled(rows, cols, float.NaN))], (b, t) => b.Fill(t[0], -2.75f));
        Parity("Copy", 0, 0, [In("x", Buffer.Random(rows, cols, rng)), In("y", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => b.Copy(t[0], t[1]));
        Parity("Add", 0, 0, [In("a", Buffer.Random(rows, cols, rng)), In("b", Buffer.Random(rows, cols, rng)), In("y", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => b.Add(t[0], t[1], t[2]));
        Parity("Add in place", 0, 0, [In("a", Buffer.Random(rows, cols, rng)), In("b", Buffer.Random(rows, cols, rng))],
            (b, t) => b.Add(t[0], t[1], t[0]));
        Parity("Synchronize", 0, 0, [In("y", Buffer.Random(rows, cols, rng))], (b, t) => { b.Fill(t[0], 1f); b.Synchronize(); });
    }

    // ---- linear

    [TestCaseSource(nameof(LinearCases))]
    public void LinearForwardMatches(int batch, int inputs, int outputs)
    {
        var rng = new System.Random(batch * 1000 + inputs);
        Parity("LinearForward", 3e-5 * Math.Sqrt(inputs), 1e-5,
            [In("x", Buffer.Random(batch, inputs, rng)), In("w", Buffer.Random(outputs, inputs, rng)), In("b", Buffer.Random(1, outputs, rng)),
             In("y", Buffer.Filled(batch, outputs, float.NaN))],
            (b, t) => b.LinearForward(t[0], t[1], t[2], t[3]));
    }

    private static IEnumerable<TestCaseData> LinearActivationCases() =>
        from s in new[] { (1, 1, 1), (17, 33, 9), (64, 784, 128), (33, 1000, 257) }
        from a in Enum.GetValues<Activation>()
        select new TestCaseData(s.Item1, s.Item2, s.Item3, a).SetArgDisplayNames($"B{s.Item1} in{s.Item2} out{s.Item3}", a.ToString());

    /// <summary>The fused bias add and activation against the CPU reference's two ops; both outputs are compared (the
    /// activations are at most 1-Lipschitz, so LinearForward's tolerance holds for post as well).</summary>
    [TestCaseSource(nameof(LinearActivationCases))]
    public void LinearActivationForwardMatches(int batch, int inputs, int outputs, Activation activation)
    {
        var rng = new System.Random(batch * 31 + inputs + (int)activation);
        // Identity leaves post alone: random values there must come back untouched.
        var post = activation == Activation.Identity ? Buffer.Random(batch, outputs, rng) : Buffer.Filled(batch, outputs, float.NaN);
        Parity($"LinearActivationForward({activation})", 3e-5 * Math.Sqrt(inputs), 1e-5,
            [In("x", Buffer.Random(batch, inputs, rng)), In("w", Buffer.Random(outputs, inputs, rng)), In("b", Buffer.Random(1, outputs, rng)),
             In("pre", Buffer.Filled(batch, outputs, float.NaN)), In("post", post)],
            (b, t) => b.LinearActivationForward(t[0], t[1], t[2], activation, 0.2f, t[3], t[4]));
    }

    /// <summary>On the device the fused kernel computes exactly what fg_bias_add_rows and the activation kernel do.</summary>
    [TestCaseSource(nameof(LinearActivationCases))]
    public void LinearActivationForwardEqualsTheUnfusedOpsBitForBit(int batch, int inputs, int outputs, Activation activation)
    {
        var cuda = Cuda();
        var rng = new System.Random(batch + inputs * 3 + (int)activation);
        using var x = Buffer.Random(batch, inputs, rng); using var w = Buffer.Random(outputs, inputs, rng);
        using var b = Buffer.Random(1, outputs, rng); using var nan = Buffer.Filled(batch, outputs, float.NaN);
        var d = new[] { new DeviceBuffer(cuda, x), new DeviceBuffer(cuda, w), new DeviceBuffer(cuda, b),
            new DeviceBuffer(cuda, nan), new DeviceBuffer(cuda, nan), new DeviceBuffer(cuda, nan), new DeviceBuffer(cuda, nan) };
        try
        {
            Tensor fusedPre = d[3].T, fusedPost = d[4].T, pre = d[5].T, post = d[6].T;
            cuda.LinearActivationForward(d[0].T, d[1].T, d[2].T, activation, 0.2f, fusedPre, fusedPost);
            cuda.LinearForward(d[0].T, d[1].T, d[2].T, pre);
            switch (activation)
            {
                case Activation.Relu: cuda.ReluForward(pre, post); break;
                case Activation.LeakyRelu: cuda.LeakyReluForward(pre, 0.2f, post); break;
                case Activation.Sigmoid: cuda.SigmoidForward(pre, post); break;
                case Activation.Tanh: cuda.TanhForward(pre, post); break;
            }
            Assert.That(d[3].Read(), Is.EqualTo(d[5].Read()), "pre");
            Assert.That(d[4].Read(), Is.EqualTo(d[6].Read()), "post");
        }
        finally
        {
            foreach (var buffer in d) buffer.Dispose();
        }
    }

    [TestCaseSource(nameof(LinearCases))]
    public void LinearBackwardMatchesOverwritingDxAndAccumulatingDwDb(int batch, int inputs, int outputs)
    {
        var rng = new System.Random(batch * 7 + outputs);
        Parity("LinearBackward", 3e-5 * Math.Sqrt(Math.Max(batch, outputs)), 1e-5,
            [In("x", Buffer.Random(batch, inputs, rng)), In("w", Buffer.Random(outputs, inputs, rng)), In("dy", Buffer.Random(batch, outputs, rng)),
             In("dx", Buffer.Filled(batch, inputs, float.NaN)), In("dW", Buffer.Random(outputs, inputs, rng)), In("db", Buffer.Random(1, outputs, rng))],
            (b, t) => b.LinearBackward(t[0], t[1], t[2], t[3], t[4], t[5]));
    }

    [Test]
    public void LinearBackwardSkipsWhatIsEmpty()
    {
        var rng = new System.Random(3);
        Parity("LinearBackward without dW", 1e-4, 1e-5,
            [In("x", Buffer.Random(4, 6, rng)), In("w", Buffer.Random(5, 6, rng)), In("dy", Buffer.Random(4, 5, rng)), In("dx", Buffer.Filled(4, 6, float.NaN))],
            (b, t) => b.LinearBackward(t[0], t[1], t[2], t[3], default, default));
        Parity("LinearBackward without dx", 1e-4, 1e-5,
            [In("x", Buffer.Random(4, 6, rng)), In("w", Buffer.Random(5, 6, rng)), In("dy", Buffer.Random(4, 5, rng)),
             In("dW", Buffer.Random(5, 6, rng)), In("db", Buffer.Random(1, 5, rng))],
            (b, t) => b.LinearBackward(t[0], t[1], t[2], default, t[3], t[4]));
    }

    // ---- activations

    public enum Act { LeakyRelu, Relu, Sigmoid, Tanh }

    private static IEnumerable<TestCaseData> ActivationCases() =>
        from a in Enum.GetValues<Act>() from s in Shapes
        select new TestCaseData(a, s.Rows, s.Cols).SetArgDisplayNames(a.ToString(), $"{s.Rows}x{s.Cols}");

    [TestCaseSource(nameof(ActivationCases))]
    public void ActivationForwardAndBackwardMatch(Act act, int rows, int cols)
    {
        var rng = new System.Random(rows * 31 + cols + (int)act);
        // Exact for the piecewise-linear ones; exp/tanh differ between libms by an ulp or two.
        double atol = act is Act.LeakyRelu or Act.Relu ? 0 : 1e-6, rtol = act is Act.LeakyRelu or Act.Relu ? 0 : 1e-5;
        Named[] Buffers() => [In("x", Buffer.Random(rows, cols, rng, -8, 8)), In("y", Buffer.Filled(rows, cols, float.NaN)),
            In("dy", Buffer.Random(rows, cols, rng)), In("dx", Buffer.Filled(rows, cols, float.NaN))];
        Parity($"{act}", atol, rtol, Buffers(), (b, t) =>
        {
            switch (act)
            {
                case Act.LeakyRelu: b.LeakyReluForward(t[0], 0.2f, t[1]); b.LeakyReluBackward(t[0], t[2], 0.2f, t[3]); break;
                case Act.Relu: b.ReluForward(t[0], t[1]); b.ReluBackward(t[0], t[2], t[3]); break;
                case Act.Sigmoid: b.SigmoidForward(t[0], t[1]); b.SigmoidBackward(t[1], t[2], t[3]); break;
                default: b.TanhForward(t[0], t[1]); b.TanhBackward(t[1], t[2], t[3]); break;
            }
        });
        // In place, as the MLP runs them: y aliases x, dx aliases dy.
        Parity($"{act} in place", atol, rtol, [In("x", Buffer.Random(rows, cols, rng, -8, 8)), In("dy", Buffer.Random(rows, cols, rng))], (b, t) =>
        {
            switch (act)
            {
                case Act.LeakyRelu: b.LeakyReluBackward(t[0], t[1], 0.2f, t[1]); b.LeakyReluForward(t[0], 0.2f, t[0]); break;
                case Act.Relu: b.ReluBackward(t[0], t[1], t[1]); b.ReluForward(t[0], t[0]); break;
                case Act.Sigmoid: b.SigmoidForward(t[0], t[0]); b.SigmoidBackward(t[0], t[1], t[1]); break;
                default: b.TanhForward(t[0], t[0]); b.TanhBackward(t[0], t[1], t[1]); break;
            }
        });
    }

    // ---- losses

    [TestCaseSource(nameof(ShapeCasesWithLarge))]
    public void BceWithLogitsMatches(int rows, int cols)
    {
        var rng = new System.Random(rows + 100 * cols);
        float scale = 1f / rows;
        Parity("BceWithLogits", 1e-6, 1e-5,
            [In("logits", Buffer.Random(rows, cols, rng, -8, 8)), In("targets", Buffer.Random(rows, cols, rng, 0, 1)),
             In("loss", Buffer.Filled(1, 1, float.NaN)), In("dLogits", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => { b.BceWithLogitsForward(t[0], t[1], scale, t[2]); b.BceWithLogitsBackward(t[0], t[1], scale, t[3]); });
    }

    [Test]
    public void BceWithLogitsIsFiniteAtExtremeLogits()
    {
        float[] extremes = [-1e4f, -200f, -90f, -30f, 30f, 90f, 200f, 1e4f];
        var logits = new Buffer(1, extremes.Length);
        extremes.CopyTo(logits.Span);
        Parity("BceWithLogits extremes", 1e-6, 1e-6,
            [In("logits", logits), In("ones", Buffer.Filled(1, extremes.Length, 1f)), In("loss", Buffer.Filled(1, 1, float.NaN)),
             In("dLogits", Buffer.Filled(1, extremes.Length, float.NaN))],
            (b, t) => { b.BceWithLogitsForward(t[0], t[1], 1f, t[2]); b.BceWithLogitsBackward(t[0], t[1], 1f, t[3]); });
    }

    [TestCaseSource(nameof(ShapeCasesWithLarge))]
    public void MseMatches(int rows, int cols)
    {
        var rng = new System.Random(rows * 3 + cols);
        Parity("Mse", 1e-6, 1e-5,
            [In("prediction", Buffer.Random(rows, cols, rng)), In("target", Buffer.Random(rows, cols, rng)),
             In("loss", Buffer.Filled(1, 1, float.NaN)), In("dPrediction", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => { b.MseForward(t[0], t[1], 0.37f, t[2]); b.MseBackward(t[0], t[1], 0.37f, t[3]); });
    }

    [TestCaseSource(nameof(ShapeCases))]
    public void GaussianKlMatchesAndAccumulates(int rows, int cols)
    {
        var rng = new System.Random(rows * 5 + cols);
        float scale = 1f / rows;
        Parity("GaussianKl", 1e-6, 1e-5,
            [In("mu", Buffer.Random(rows, cols, rng, -2, 2)), In("logVar", Buffer.Random(rows, cols, rng, -3, 2)),
             In("loss", Buffer.Filled(1, 1, float.NaN)), In("dMu", Buffer.Random(rows, cols, rng)), In("dLogVar", Buffer.Random(rows, cols, rng))],
            (b, t) => { b.GaussianKlForward(t[0], t[1], scale, t[2]); b.GaussianKlBackward(t[0], t[1], scale, t[3], t[4]); });
    }

    [TestCaseSource(nameof(ShapeCases))]
    public void ReparameterizationMatches(int rows, int cols)
    {
        var rng = new System.Random(rows * 11 + cols);
        Parity("Reparameterize", 1e-6, 1e-5,
            [In("mu", Buffer.Random(rows, cols, rng, -2, 2)), In("logVar", Buffer.Random(rows, cols, rng, -3, 2)), In("epsilon", Buffer.Random(rows, cols, rng, -2, 2)),
             In("z", Buffer.Filled(rows, cols, float.NaN)), In("dz", Buffer.Random(rows, cols, rng)),
             In("dMu", Buffer.Filled(rows, cols, float.NaN)), In("dLogVar", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => { b.ReparameterizeForward(t[0], t[1], t[2], t[3]); b.ReparameterizeBackward(t[1], t[2], t[4], t[5], t[6]); });
    }

    // ---- optimizers

    [TestCaseSource(nameof(ShapeCasesWithLarge))]
    public void AdamMatchesOverThreeSteps(int rows, int cols)
    {
        var rng = new System.Random(rows * 13 + cols);
        Parity("AdamStep", 1e-6, 1e-5,
            [In("p", Buffer.Random(rows, cols, rng)), In("g1", Buffer.Random(rows, cols, rng)), In("g2", Buffer.Random(rows, cols, rng)),
             In("g3", Buffer.Random(rows, cols, rng)), In("m", new Buffer(rows, cols)), In("v", new Buffer(rows, cols))],
            (b, t) =>
            {
                for (int step = 1; step <= 3; step++) b.AdamStep(t[0], t[step], t[4], t[5], 1e-2f, 0.9f, 0.99f, 1e-8f, step);
            });
    }

    [TestCaseSource(nameof(ShapeCases))]
    public void SgdWithAndWithoutMomentumMatches(int rows, int cols)
    {
        var rng = new System.Random(rows * 17 + cols);
        Parity("SgdStep", 0, 0, // the ABI: no FMA contraction, so the CPU's bits
            [In("p", Buffer.Random(rows, cols, rng)), In("g1", Buffer.Random(rows, cols, rng)), In("g2", Buffer.Random(rows, cols, rng)),
             In("velocity", new Buffer(rows, cols))],
            (b, t) => { b.SgdStep(t[0], t[1], t[3], 0.1f, 0.9f); b.SgdStep(t[0], t[2], t[3], 0.1f, 0.9f); });
        // Plain gradient descent passes the gradient as its own velocity (see Optimizer).
        Parity("SgdStep (gd)", 0, 0, [In("p", Buffer.Random(rows, cols, rng)), In("g", Buffer.Random(rows, cols, rng))],
            (b, t) => b.SgdStep(t[0], t[1], t[1], 0.1f, 0f));
    }

    [Test]
    public void ManyOptimizerStepsInFlightKeepTheirOwnHyperParameters()
    {
        // More steps than the pinned ring has slots, none waited for in between, each with its own learning rate.
        var rng = new System.Random(5);
        Parity("SgdStep ×200", 0, 0, [In("p", Buffer.Random(3, 50, rng)), In("g", Buffer.Random(3, 50, rng)), In("velocity", new Buffer(3, 50))],
            (b, t) =>
            {
                for (int i = 0; i < 200; i++) b.SgdStep(t[0], t[1], t[2], 1e-3f * (1 + i % 7), 0.5f);
            });
    }

    // ---- spectral normalization

    /// <summary>Shapes of the default discriminators' weights (MLP 128×28 price windows, 128×784, 1×128; DCGAN conv 32×16,
    /// 64×512, 1×3136), a matrix with more than 256 rows and columns, and the degenerate ones.</summary>
    private static IEnumerable<TestCaseData> SpectralCases() =>
        from s in new[] { (1, 1), (7, 3), (128, 28), (128, 784), (1, 128), (32, 16), (64, 512), (1, 3136), (300, 257) }
        select new TestCaseData(s.Item1, s.Item2).SetArgDisplayNames($"{s.Item1}x{s.Item2}");

    private static Buffer UnitVector(int n, System.Random rng)
    {
        var b = Buffer.Random(1, n, rng);
        double norm = Math.Sqrt(b.ToDouble().Sum(x => x * x));
        foreach (ref float x in b.Span) x = (float)(x / norm);
        return b;
    }

    [TestCaseSource(nameof(SpectralCases))]
    public void SpectralNormForwardMatchesWithAndWithoutThePowerIteration(int rows, int cols)
    {
        var rng = new System.Random(rows * 3 + cols);
        double tol = 1e-6 * Math.Sqrt(rows + cols);
        Parity("SpectralNormForward (iteration)", tol, 1e-5,
            [In("w", Buffer.Random(rows, cols, rng)), In("u", UnitVector(rows, rng)), In("v", UnitVector(cols, rng)),
             In("sigma", Buffer.Filled(1, 1, float.NaN)), In("normalized", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => b.SpectralNormForward(t[0], t[1], t[2], powerIteration: true, t[3], t[4]));
        Parity("SpectralNormForward (no iteration)", tol, 1e-5,
            [In("w", Buffer.Random(rows, cols, rng)), In("u", UnitVector(rows, rng)), In("v", UnitVector(cols, rng)),
             In("sigma", Buffer.Filled(1, 1, float.NaN)), In("normalized", Buffer.Filled(rows, cols, float.NaN))],
            (b, t) => b.SpectralNormForward(t[0], t[1], t[2], powerIteration: false, t[3], t[4]));
    }

    [TestCaseSource(nameof(SpectralCases))]
    public void SpectralNormBackwardMatchesAccumulatingDw(int rows, int cols)
    {
        var rng = new System.Random(rows * 5 + cols);
        using var cpu = new CpuReferenceBackend();
        var w = Buffer.Random(rows, cols, rng);
        var u = UnitVector(rows, rng);
        var v = UnitVector(cols, rng);
        var sigma = new Buffer(1, 1);
        using (var normalized = new Buffer(rows, cols)) cpu.SpectralNormForward(w.T, u.T, v.T, powerIteration: true, sigma.T, normalized.T);
        Parity("SpectralNormBackward", 1e-6 * Math.Sqrt(rows + cols), 1e-5,
            [In("w", w), In("u", u), In("v", v), In("sigma", sigma), In("dNormalized", Buffer.Random(rows, cols, rng)), In("dW", Buffer.Random(rows, cols, rng))],
            (b, t) => b.SpectralNormBackward(t[0], t[1], t[2], t[3], t[4], t[5]));
    }

    /// <summary>
    /// Many iterations on the device: σ reaches the largest singular value of MathNet's SVD (and the CPU reference's σ),
    /// two runs give the same bits, and the single-block reductions do not depend on the thread order of a launch.
    /// </summary>
    [Test]
    public void SpectralNormConvergesToTheLargestSingularValueDeterministically()
    {
        var cuda = Cuda();
        const int rows = 64, cols = 300;
        var rng = new System.Random(64);
        using var w = Buffer.Random(rows, cols, rng);
        var start = new float[rows];
        Philox.FillNormal(start, 42, (ulong)Philox.Stream.SpectralNorm, 0);
        float[] Run()
        {
            using var dw = new DeviceBuffer(cuda, w);
            using var u = new DeviceBuffer(cuda, Buffer.Filled(1, rows, 0f));
            cuda.Upload(start, u.T);
            using var v = new DeviceBuffer(cuda, Buffer.Filled(1, cols, float.NaN));
            using var sigma = new DeviceBuffer(cuda, Buffer.Filled(1, 1, float.NaN));
            using var normalized = new DeviceBuffer(cuda, Buffer.Filled(rows, cols, float.NaN));
            for (int i = 0; i < 400; i++) cuda.SpectralNormForward(dw.T, u.T, v.T, powerIteration: true, sigma.T, normalized.T);
            return [.. sigma.Read(), .. u.Read(), .. v.Read()];
        }
        var first = Run();
        Assert.That(Run(), Is.EqualTo(first), "two runs, the same bits");
        var matrix = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(rows, cols, (i, j) => w.Span[i * cols + j]);
        double largest = matrix.Svd(computeVectors: false).S[0];
        Assert.That(first[0], Is.EqualTo(largest).Within(1e-5 * largest), "σ against the SVD's largest singular value");
    }

    // ---- random numbers

    [TestCase(3)]
    [TestCase(5)]
    [TestCase(64)]
    public void PhiloxStudentTEqualsTheCpusToAFewUlps(int degrees)
    {
        var cuda = Cuda();
        const int n = 20_011;
        foreach (ulong offset in new ulong[] { 0, 5, 1UL << 30 })
        {
            using var memory = cuda.Allocate(n);
            cuda.FillStudentT(memory.All(), seed: 0x0123456789abcdef, stream: (ulong)Philox.Stream.Noise, offset, degrees);
            var actual = new float[n];
            cuda.Download(memory.All(), actual);
            var expected = new float[n];
            Philox.FillStudentT(expected, 0x0123456789abcdef, (ulong)Philox.Stream.Noise, offset, degrees);
            int exact = 0;
            for (int i = 0; i < n; i++)
            {
                Assert.That(actual[i], Is.EqualTo(expected[i]).Within(4).Ulps, $"offset {offset}, number {i}");
                if (actual[i] == expected[i]) exact++;
            }
            Assert.That(exact, Is.GreaterThanOrEqualTo(n * 99 / 100), "nearly every number is bit-identical");
        }
        using var small = cuda.Allocate(4);
        Assert.That(() => cuda.FillStudentT(small.All(), 1, 2, 0, 2), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public void PhiloxNormalsEqualTheCpusToTheLastUlp()
    {
        var cuda = Cuda();
        const int n = 100_003;
        foreach (ulong offset in new ulong[] { 0, 5, 1UL << 33 })
        {
            using var memory = cuda.Allocate(n);
            cuda.FillNormal(memory.All(), seed: 0x0123456789abcdef, stream: (ulong)Philox.Stream.Noise, offset);
            var actual = new float[n];
            cuda.Download(memory.All(), actual);
            var expected = new float[n];
            Philox.FillNormal(expected, 0x0123456789abcdef, (ulong)Philox.Stream.Noise, offset);
            int differ = 0, worst = 0, worstAt = -1;
            for (int i = 0; i < n; i++)
            {
                int ulps = Math.Abs(BitConverter.SingleToInt32Bits(actual[i]) - BitConverter.SingleToInt32Bits(expected[i]));
                if (ulps == 0) continue;
                differ++;
                if (ulps > worst) (worst, worstAt) = (ulps, i);
            }
            Assert.That(worst, Is.LessThanOrEqualTo(1),
                $"offset {offset}: element {worstAt} is {actual[Math.Max(worstAt, 0)]:R}, the CPU's {expected[Math.Max(worstAt, 0)]:R} ({worst} ulps)");
            Assert.That(differ, Is.LessThanOrEqualTo(n / 1000), $"offset {offset}: {differ} of {n} normals differ in the last place");
        }
    }

    // ---- training runs

    private static TrainingData? _mnist;
    private static TrainingData Mnist => _mnist ??= DataSets.FromImages(EmbeddedData.Mnist(512));

    private static ModelConfig Config(ModelKind kind) => ModelConfig.Default(kind) with { BatchSize = 32, Seed = 1234 };

    private static float[][] Train(IBackend backend, ModelConfig config, int steps)
    {
        using var model = GenerativeModel.Create(backend, config);
        model.Initialize();
        var losses = new List<float[]>();
        new Trainer(model, Mnist).Run(steps, (_, m) => losses.Add(m.ToArray()));
        return [.. losses];
    }

    private static IEnumerable<TestCaseData> TrainingCases()
    {
        yield return new TestCaseData(ModelKind.Gan, OptimizerKind.Adam, false).SetArgDisplayNames("gan", "adam");
        yield return new TestCaseData(ModelKind.Vae, OptimizerKind.Adam, false).SetArgDisplayNames("vae", "adam");
        yield return new TestCaseData(ModelKind.Vae, OptimizerKind.Sgd, false).SetArgDisplayNames("vae", "sgd");
        yield return new TestCaseData(ModelKind.Gan, OptimizerKind.Gd, false).SetArgDisplayNames("gan", "gd");
        yield return new TestCaseData(ModelKind.Gan, OptimizerKind.Adam, true).SetArgDisplayNames("gan", "adam", "spectral-norm");
    }

    [TestCaseSource(nameof(TrainingCases))]
    public void TenTrainingStepsFollowTheReference(ModelKind kind, OptimizerKind optimizer, bool spectralNorm)
    {
        var cuda = Cuda();
        var config = Config(kind) with { SpectralNorm = spectralNorm };
        config = config with { Optimizer = config.Optimizer with { Kind = optimizer } };
        using var reference = new CpuReferenceBackend();
        var expected = Train(reference, config, 10);
        var actual = Train(cuda, config, 10);
        TestContext.Out.WriteLine("cuda: " + string.Join(" | ", actual.Select(m => string.Join(", ", m))));
        for (int m = 0; m < expected[0].Length; m++)
            Compare.Close(actual.Select(l => l[m]).ToArray(), expected.Select(l => l[m]).ToArray(), 1e-4, 1e-3, $"metric {m}");
    }

    [TestCase(ModelKind.Gan)]
    [TestCase(ModelKind.Vae)]
    public void TwoRunsAreBitIdentical(ModelKind kind)
    {
        var cuda = Cuda();
        var first = Train(cuda, Config(kind), 6);
        var second = Train(cuda, Config(kind), 6);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(Train(cuda, Config(kind) with { Seed = 99 }, 6), Is.Not.EqualTo(first), "a different seed must give a different run");
    }

    [Test]
    public void AResumedRunEqualsAnUninterruptedOne()
    {
        var cuda = Cuda();
        string dir = Directory.CreateTempSubdirectory("fingen-cuda-").FullName;
        try
        {
            var config = Config(ModelKind.Vae);
            var uninterrupted = Train(cuda, config, 8);
            var resumed = new List<float[]>();
            string path = Path.Combine(dir, "half.safetensors");
            using (var model = GenerativeModel.Create(cuda, config))
            {
                model.Initialize();
                new Trainer(model, Mnist).Run(4, (_, m) => resumed.Add(m.ToArray()));
                Checkpoint.Save(path, model, Mnist.Metadata);
            }
            using (var model = Checkpoint.LoadModel(cuda, Checkpoint.Read(path)))
                new Trainer(model, Mnist).Run(8, (_, m) => resumed.Add(m.ToArray()));
            Assert.That(resumed, Is.EqualTo(uninterrupted));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- the engine's own promises: no allocation per op, graphs, timers

    [Test]
    public void OpsAllocateNothingManagedInSteadyState()
    {
        var cuda = Cuda();
        const int b = 16, i = 40, o = 24;
        using var memory = cuda.Allocate(4L * b * i + 6L * o * i + 8L * b * o + 4);
        long at = 0;
        Tensor Next(int rows, int cols) { var t = memory.Slice(at, rows, cols); at += (long)rows * cols; return t; }
        Tensor x = Next(b, i), dx = Next(b, i), w = Next(o, i), dW = Next(o, i), m = Next(o, i), v = Next(o, i);
        Tensor bias = Next(1, o), dBias = Next(1, o), y = Next(b, o), dy = Next(b, o), t = Next(b, o), loss = Next(1, 1);
        var host = new float[b * o];

        void Everything()
        {
            cuda.FillNormal(x, 1, 2, 3);
            cuda.Fill(w, 0.01f);
            cuda.LinearForward(x, w, bias, y);
            cuda.LinearActivationForward(x, w, bias, Activation.Tanh, 0f, y, t);
            cuda.LeakyReluForward(y, 0.2f, y);
            cuda.SigmoidForward(y, t);
            cuda.TanhForward(y, y);
            cuda.BceWithLogitsForward(y, t, 0.5f, loss);
            cuda.BceWithLogitsBackward(y, t, 0.5f, dy);
            cuda.MseForward(y, t, 0.5f, loss);
            cuda.MseBackward(y, t, 0.5f, dy);
            cuda.GaussianKlForward(y, t, 0.5f, loss);
            cuda.GaussianKlBackward(y, t, 0.5f, dy, dy);
            cuda.ReparameterizeForward(y, t, t, dy);
            cuda.ReparameterizeBackward(t, t, y, dy, y);
            cuda.TanhBackward(y, dy, dy);
            cuda.SigmoidBackward(t, dy, dy);
            cuda.ReluBackward(y, dy, dy);
            cuda.LinearBackward(x, w, dy, dx, dW, dBias);
            cuda.Add(dx, x, dx);
            cuda.Copy(dx, x);
            cuda.AdamStep(w, dW, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 3);
            cuda.SgdStep(w, dW, m, 1e-3f, 0.9f);
            cuda.Upload(host, y);
            cuda.Download(y, host);
            cuda.Synchronize();
        }

        Everything();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int repeat = 0; repeat < 5; repeat++) Everything();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "managed bytes allocated by 5 rounds of every op");
    }

    [Test]
    public void AGraphReplaysWhatItCaptured()
    {
        var cuda = Cuda();
        using var memory = cuda.Allocate(3000);
        var a = memory.Slice(0, 1, 1000);
        var y = memory.Slice(1000, 1, 1000);
        var z = memory.Slice(2000, 1, 1000);
        cuda.Fill(a, 1.5f);
        cuda.Fill(y, 0f);
        using var graph = cuda.CreateGraph();
        graph.BeginCapture();
        Assert.Throws<InvalidOperationException>(() => cuda.Synchronize(), "waiting is refused while capturing");
        cuda.Add(y, a, y);          // y += 1.5 each replay
        cuda.LeakyReluForward(y, 0.5f, z);
        graph.EndCapture();
        Assert.That(graph.IsReady);
        var host = new float[1000];
        cuda.Download(y, host);
        Assert.That(host, Has.All.EqualTo(0f), "capturing runs nothing");
        for (int i = 0; i < 3; i++) graph.Launch();
        cuda.Download(y, host);
        Assert.That(host, Has.All.EqualTo(4.5f));
        cuda.Download(z, host);
        Assert.That(host, Has.All.EqualTo(4.5f));
    }

    [Test]
    public void ATimerMeasuresDeviceTime()
    {
        var cuda = Cuda();
        using var memory = cuda.Allocate(1 << 22);
        using var timer = cuda.CreateTimer();
        timer.Start();
        for (int i = 0; i < 10; i++) cuda.FillNormal(memory.All(), 1, 1, 0);
        timer.Stop();
        Assert.That(timer.ElapsedMilliseconds(), Is.GreaterThan(0f));
    }

    [Test]
    public void NameAndInfoDescribeTheDevice()
    {
        var cuda = Cuda();
        Assert.That(cuda.Name, Is.EqualTo("cuda"));
        Assert.That(cuda.Info.Name, Is.Not.Empty);
        Assert.That(cuda.Info.Multiprocessors, Is.GreaterThan(0));
        Assert.That(cuda.Info.CublasVersion, Is.Not.Null, cuda.Info.CublasMissing);
        Assert.That(cuda.Info.ToString(), Does.StartWith("device 0: ").And.Not.Contain('\n'));
        using var tf32 = CudaBackend.Create(math: CudaMath.Tf32);
        Assert.That(tf32.Name, Is.EqualTo("cuda-tf32"));
    }
}
