using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Memory;
using FinGen.Native.Randomness;

namespace FinGen.Native.Tests;

/// <summary>
/// Every op on every CPU backend against float64 oracles written here: forward against the formula,
/// backward against central finite differences of that formula in float64. Random inputs, ragged shapes.
/// </summary>
[TestFixture]
public sealed class OpsTests
{
    private const double H = 1e-6;
    private static readonly (int Rows, int Cols)[] Shapes = [(1, 1), (3, 5), (7, 17), (16, 33), (9, 130)];

    private static IEnumerable<TestCaseData> BackendShapes() =>
        from b in TestBackends.Names from s in Shapes select new TestCaseData(b, s.Rows, s.Cols).SetArgDisplayNames(b, $"{s.Rows}x{s.Cols}");

    private static IEnumerable<TestCaseData> LinearCases() =>
        from b in TestBackends.Names
        from s in new[] { (1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 100, 128), (5, 130, 3) }
        select new TestCaseData(b, s.Item1, s.Item2, s.Item3).SetArgDisplayNames(b, $"B{s.Item1} in{s.Item2} out{s.Item3}");

    // ---- linear

    private static double[] LinearOracle(double[] x, double[] w, double[] b, int batch, int inputs, int outputs)
    {
        var y = new double[batch * outputs];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < outputs; o++)
            {
                double sum = b[o];
                for (int i = 0; i < inputs; i++) sum += x[n * inputs + i] * w[o * inputs + i];
                y[n * outputs + o] = sum;
            }
        return y;
    }

    [TestCaseSource(nameof(LinearCases))]
    public void LinearForwardMatchesFormula(string backendName, int batch, int inputs, int outputs)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(batch * 1000 + inputs);
        using var x = Buffer.Random(batch, inputs, rng);
        using var w = Buffer.Random(outputs, inputs, rng);
        using var b = Buffer.Random(1, outputs, rng);
        using var y = Buffer.Filled(batch, outputs, float.NaN);
        backend.LinearForward(x.T, w.T, b.T, y.T);
        var expected = LinearOracle(x.ToDouble(), w.ToDouble(), b.ToDouble(), batch, inputs, outputs);
        Compare.Close(y.Span, expected, 1e-5 * Math.Sqrt(inputs), 1e-5, "y");
    }

    [TestCaseSource(nameof(LinearCases))]
    public void LinearBackwardMatchesFiniteDifferencesAndAccumulates(string backendName, int batch, int inputs, int outputs)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(batch * 7 + outputs);
        using var x = Buffer.Random(batch, inputs, rng);
        using var w = Buffer.Random(outputs, inputs, rng);
        using var b = Buffer.Random(1, outputs, rng);
        using var dy = Buffer.Random(batch, outputs, rng);
        using var dx = Buffer.Filled(batch, inputs, float.NaN); // overwritten: old contents must not leak in
        using var dW = Buffer.Random(outputs, inputs, rng);    // accumulated: the old values stay
        using var db = Buffer.Random(1, outputs, rng);
        var dW0 = dW.ToDouble();
        var db0 = db.ToDouble();
        backend.LinearBackward(x.T, w.T, dy.T, dx.T, dW.T, db.T);

        double[] xd = x.ToDouble(), wd = w.ToDouble(), bd = b.ToDouble(), g = dy.ToDouble();
        double Loss() => Dot(LinearOracle(xd, wd, bd, batch, inputs, outputs), g);
        double tol = 1e-4 * Math.Sqrt(Math.Max(batch, outputs));
        Compare.Close(dx.Span, FiniteDifference(xd, Loss), tol, 1e-4, "dx");
        Compare.Close(dW.Span, Add(dW0, FiniteDifference(wd, Loss)), tol, 1e-4, "dW (accumulated)");
        Compare.Close(db.Span, Add(db0, FiniteDifference(bd, Loss)), tol, 1e-4, "db (accumulated)");
    }

    [TestCaseSource(nameof(BackendNames))]
    public void LinearBackwardSkipsWhatIsEmpty(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(3);
        using var x = Buffer.Random(4, 6, rng);
        using var w = Buffer.Random(5, 6, rng);
        using var dy = Buffer.Random(4, 5, rng);
        using var dx = Buffer.Filled(4, 6, float.NaN);
        backend.LinearBackward(x.T, w.T, dy.T, dx.T, default, default);
        Assert.That(dx.Span.ToArray(), Has.All.Matches<float>(float.IsFinite));
    }

    private static IEnumerable<TestCaseData> FusedCases() =>
        from s in new[] { (1, 100, 128), (64, 100, 128), (7, 784, 129), (64, 128, 1), (3, 5, 7) }
        from a in new[] { Models.Activation.Identity, Models.Activation.Relu, Models.Activation.LeakyRelu, Models.Activation.Sigmoid, Models.Activation.Tanh }
        select new TestCaseData(s.Item1, s.Item2, s.Item3, a).SetArgDisplayNames($"B{s.Item1} in{s.Item2} out{s.Item3}", a.ToString());

    /// <summary>
    /// The SIMD backend applies the bias and ReLU/leaky ReLU in SGEMM's store; that must be exactly the linear op
    /// followed by the activation op on the same backend (the reference backend's own definition of the fused op).
    /// </summary>
    [TestCaseSource(nameof(FusedCases))]
    public void SimdLinearActivationForwardEqualsTheUnfusedOpsBitForBit(int batch, int inputs, int outputs, Models.Activation activation)
    {
        using var backend = new CpuSimdBackend();
        var rng = new System.Random(batch + inputs + outputs);
        using var x = Buffer.Random(batch, inputs, rng);
        using var w = Buffer.Random(outputs, inputs, rng);
        using var b = Buffer.Random(1, outputs, rng);
        using var pre = Buffer.Filled(batch, outputs, float.NaN);
        using var post = Buffer.Filled(batch, outputs, float.NaN);
        using var wantPre = Buffer.Filled(batch, outputs, float.NaN);
        using var wantPost = Buffer.Filled(batch, outputs, float.NaN);
        backend.LinearActivationForward(x.T, w.T, b.T, activation, Slope, pre.T, post.T);
        backend.LinearForward(x.T, w.T, b.T, wantPre.T);
        ActivationOpsForward(backend, activation, wantPre, wantPost);
        Assert.Multiple(() =>
        {
            Assert.That(Bits(pre), Is.EqualTo(Bits(wantPre)), "pre");
            if (activation != Models.Activation.Identity) Assert.That(Bits(post), Is.EqualTo(Bits(wantPost)), "post");
        });
    }

    /// <summary>On two threads the SIMD backend computes dX and dW as two whole GEMMs side by side: the same bits as one thread.</summary>
    [TestCase(64, 784, 128)]
    [TestCase(64, 128, 1)]
    [TestCase(5, 130, 3)]
    [TestCase(256, 100, 128)]
    public void SimdLinearBackwardBitsDoNotDependOnThreads(int batch, int inputs, int outputs)
    {
        var rng = new System.Random(batch * 3 + inputs);
        using var x = Buffer.Random(batch, inputs, rng);
        using var w = Buffer.Random(outputs, inputs, rng);
        using var dy = Buffer.Random(batch, outputs, rng);
        using var dW0 = Buffer.Random(outputs, inputs, rng);
        using var db0 = Buffer.Random(1, outputs, rng);
        var results = new List<(float[] Dx, float[] DW, float[] Db)>();
        foreach (int threads in new[] { 1, 2 })
        {
            using var backend = new CpuSimdBackend(threads);
            using var dx = Buffer.Filled(batch, inputs, float.NaN);
            using var dW = Buffer.Filled(outputs, inputs, 0f);
            using var db = Buffer.Filled(1, outputs, 0f);
            dW0.Span.CopyTo(dW.Span);
            db0.Span.CopyTo(db.Span);
            backend.LinearBackward(x.T, w.T, dy.T, dx.T, dW.T, db.T);
            results.Add((dx.Span.ToArray(), dW.Span.ToArray(), db.Span.ToArray()));
        }
        Assert.Multiple(() =>
        {
            Assert.That(results[1].Dx, Is.EqualTo(results[0].Dx), "dx");
            Assert.That(results[1].DW, Is.EqualTo(results[0].DW), "dW");
            Assert.That(results[1].Db, Is.EqualTo(results[0].Db), "db");
            Assert.That(results[0].DW, Is.Not.EqualTo(dW0.Span.ToArray()), "dW accumulated something");
        });
    }

    /// <summary>Big fills and copies are cut over the workers: every element, none beyond, and overlapping copies as memmove.</summary>
    [TestCase(1, 5)]
    [TestCase(3, 70_001)]
    [TestCase(64, 784)]
    [TestCase(2, 65_536)]
    public unsafe void SimdFillAndCopyCoverEveryElement(int rows, int cols)
    {
        using var backend = new CpuSimdBackend(2);
        var rng = new System.Random(rows + cols);
        using var source = Buffer.Random(rows, cols, rng);
        using var destination = Buffer.Random(rows + 1, cols, rng);
        var last = destination.Span[(rows * cols)..].ToArray();
        var inside = new Tensor(destination.T.Data, rows, cols);
        backend.Fill(inside, 0.375f);
        Assert.That(inside.Span.ToArray(), Has.All.EqualTo(0.375f));
        backend.Copy(source.T, inside);
        Assert.That(inside.Span.ToArray(), Is.EqualTo(source.Span.ToArray()));
        Assert.That(destination.Span[(rows * cols)..].ToArray(), Is.EqualTo(last), "nothing written past the tensor");
        // Overlapping: shift the whole buffer by one row, as memmove would.
        var before = destination.Span.ToArray();
        backend.Copy(new Tensor(destination.T.Data, rows, cols), new Tensor(destination.T.Data + cols, rows, cols));
        Assert.That(destination.Span[cols..].ToArray(), Is.EqualTo(before[..(rows * cols)]));
    }

    private static void ActivationOpsForward(IBackend backend, Models.Activation activation, Buffer pre, Buffer post)
    {
        switch (activation)
        {
            case Models.Activation.Relu: backend.ReluForward(pre.T, post.T); break;
            case Models.Activation.LeakyRelu: backend.LeakyReluForward(pre.T, Slope, post.T); break;
            case Models.Activation.Sigmoid: backend.SigmoidForward(pre.T, post.T); break;
            case Models.Activation.Tanh: backend.TanhForward(pre.T, post.T); break;
        }
    }

    private static int[] Bits(Buffer b) => b.Span.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    // ---- activations

    public enum Act { LeakyRelu, Relu, Sigmoid, Tanh }

    private const float Slope = 0.2f;

    private static double Forward(Act act, double x) => act switch
    {
        Act.LeakyRelu => x > 0 ? x : Slope * x,
        Act.Relu => Math.Max(x, 0),
        Act.Sigmoid => 1 / (1 + Math.Exp(-x)),
        _ => Math.Tanh(x),
    };

    private static IEnumerable<TestCaseData> ActivationCases() =>
        from b in TestBackends.Names
        from a in Enum.GetValues<Act>()
        from s in Shapes
        select new TestCaseData(b, a, s.Rows, s.Cols).SetArgDisplayNames(b, a.ToString(), $"{s.Rows}x{s.Cols}");

    [TestCaseSource(nameof(ActivationCases))]
    public void ActivationMatchesFormulaAndFiniteDifferences(string backendName, Act act, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 31 + cols + (int)act);
        using var x = Buffer.Random(rows, cols, rng, -6, 6);
        foreach (ref float v in x.Span) if (Math.Abs(v) < 1e-3f) v = 0.5f; // keep away from the kink at 0
        using var y = Buffer.Filled(rows, cols, float.NaN);
        using var dy = Buffer.Random(rows, cols, rng);
        using var dx = Buffer.Filled(rows, cols, float.NaN);
        switch (act)
        {
            case Act.LeakyRelu: backend.LeakyReluForward(x.T, Slope, y.T); backend.LeakyReluBackward(x.T, dy.T, Slope, dx.T); break;
            case Act.Relu: backend.ReluForward(x.T, y.T); backend.ReluBackward(x.T, dy.T, dx.T); break;
            case Act.Sigmoid: backend.SigmoidForward(x.T, y.T); backend.SigmoidBackward(y.T, dy.T, dx.T); break;
            default: backend.TanhForward(x.T, y.T); backend.TanhBackward(y.T, dy.T, dx.T); break;
        }
        var xd = x.ToDouble();
        Compare.Close(y.Span, xd.Select(v => Forward(act, v)).ToArray(), 1e-6, 1e-5, "y");
        var g = dy.ToDouble();
        var expected = new double[xd.Length];
        for (int i = 0; i < xd.Length; i++) expected[i] = g[i] * (Forward(act, xd[i] + H) - Forward(act, xd[i] - H)) / (2 * H);
        Compare.Close(dx.Span, expected, 1e-5, 1e-4, "dx");
    }

    [TestCaseSource(nameof(BackendNames))]
    public void ElementwiseBackwardMayRunInPlace(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(11);
        using var x = Buffer.Random(5, 37, rng, -3, 3);
        using var dy = Buffer.Random(5, 37, rng);
        using var separate = Buffer.Filled(5, 37, 0);
        using var inPlace = dy.Clone();
        backend.LeakyReluBackward(x.T, dy.T, Slope, separate.T);
        backend.LeakyReluBackward(x.T, inPlace.T, Slope, inPlace.T);
        Assert.That(inPlace.Span.ToArray(), Is.EqualTo(separate.Span.ToArray()));
    }

    // ---- losses

    private static double Bce(double x, double t) => Math.Max(x, 0) - x * t + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    [TestCaseSource(nameof(BackendShapes))]
    public void BceWithLogitsMatchesFormulaAndFiniteDifferences(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows + 100 * cols);
        using var logits = Buffer.Random(rows, cols, rng, -8, 8);
        using var targets = Buffer.Random(rows, cols, rng, 0, 1);
        using var loss = Buffer.Filled(1, 1, float.NaN);
        using var dLogits = Buffer.Filled(rows, cols, float.NaN);
        float scale = 1f / rows;
        backend.BceWithLogitsForward(logits.T, targets.T, scale, loss.T);
        backend.BceWithLogitsBackward(logits.T, targets.T, scale, dLogits.T);
        double[] x = logits.ToDouble(), t = targets.ToDouble();
        double Loss() => scale * x.Select((v, i) => Bce(v, t[i])).Sum();
        Compare.Close(loss.Span, [Loss()], 1e-5, 1e-5, "loss");
        Compare.Close(dLogits.Span, FiniteDifference(x, Loss), 1e-6, 1e-4, "dLogits");
    }

    [Test]
    public void BceWithLogitsOverManyChunksMatchesTheFormulaWhateverTheThreadCount()
    {
        // A VAE batch of 300 images: 235 200 terms, split into fixed chunks summed in order.
        var rng = new System.Random(5);
        using var logits = Buffer.Random(300, 784, rng, -12, 12);
        using var targets = Buffer.Random(300, 784, rng, 0, 1);
        using var lossOne = Buffer.Filled(1, 1, float.NaN);
        using var lossTwo = Buffer.Filled(1, 1, float.NaN);
        using (var one = new CpuSimdBackend(1)) one.BceWithLogitsForward(logits.T, targets.T, 1f / 300, lossOne.T);
        using (var two = new CpuSimdBackend(2)) two.BceWithLogitsForward(logits.T, targets.T, 1f / 300, lossTwo.T);
        Assert.That(BitConverter.SingleToInt32Bits(lossTwo.Span[0]), Is.EqualTo(BitConverter.SingleToInt32Bits(lossOne.Span[0])), "1 and 2 threads");
        double[] x = logits.ToDouble(), t = targets.ToDouble();
        Compare.Close(lossOne.Span, [x.Select((v, i) => Bce(v, t[i])).Sum() / 300], 1e-6, 1e-6, "loss");
    }

    [Test]
    public void TheParallelBceGradientHasTheBitsOfOneTensorPrimitivesPass()
    {
        var rng = new System.Random(13);
        foreach (int n in new[] { 1, 15, 16, 17, 8191, 8192, 8193, 16383, 16384 + 17, 50_176, 300 * 784 })
        {
            using var logits = Buffer.Random(1, n, rng, -12, 12);
            using var targets = Buffer.Random(1, n, rng, 0, 1);
            var expected = new float[n];
            System.Numerics.Tensors.TensorPrimitives.Sigmoid(logits.Span, expected);
            System.Numerics.Tensors.TensorPrimitives.Subtract(expected, targets.Span, expected);
            System.Numerics.Tensors.TensorPrimitives.Multiply(expected, 0.37f, expected);
            foreach (int threads in new[] { 1, 2 })
            {
                using var backend = new CpuSimdBackend(threads);
                using var grad = Buffer.Filled(1, n, float.NaN);
                backend.BceWithLogitsBackward(logits.T, targets.T, 0.37f, grad.T);
                Assert.That(grad.Span.ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)), $"{n} logits, {threads} threads");
            }
        }
    }

    [TestCaseSource(nameof(BackendNames))]
    public void BceWithLogitsIsFiniteAtExtremeLogits(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        float[] extremes = [-1e4f, -200f, -90f, -30f, 30f, 90f, 200f, 1e4f];
        using var logits = new Buffer(1, extremes.Length);
        extremes.CopyTo(logits.Span);
        using var ones = Buffer.Filled(1, extremes.Length, 1f);
        using var zeros = Buffer.Filled(1, extremes.Length, 0f);
        using var loss = Buffer.Filled(1, 1, float.NaN);
        using var grad = Buffer.Filled(1, extremes.Length, float.NaN);
        backend.BceWithLogitsForward(logits.T, ones.T, 1f, loss.T);
        // Σ max(0, −x) for t = 1 plus tiny log terms: 1e4 + 200 + 90 + 30.
        Assert.That(loss.Span[0], Is.EqualTo(10320f).Within(1e-3).Percent);
        backend.BceWithLogitsForward(logits.T, zeros.T, 1f, loss.T);
        Assert.That(loss.Span[0], Is.EqualTo(10320f).Within(1e-3).Percent);
        backend.BceWithLogitsBackward(logits.T, ones.T, 1f, grad.T);
        Assert.That(grad.Span.ToArray(), Has.All.Matches<float>(g => float.IsFinite(g) && g <= 0 && g >= -1));
    }

    [TestCaseSource(nameof(BackendShapes))]
    public void MseMatchesFormulaAndFiniteDifferences(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 3 + cols);
        using var prediction = Buffer.Random(rows, cols, rng);
        using var target = Buffer.Random(rows, cols, rng);
        using var loss = Buffer.Filled(1, 1, float.NaN);
        using var grad = Buffer.Filled(rows, cols, float.NaN);
        float scale = 0.37f;
        backend.MseForward(prediction.T, target.T, scale, loss.T);
        backend.MseBackward(prediction.T, target.T, scale, grad.T);
        double[] p = prediction.ToDouble(), t = target.ToDouble();
        double Loss() => scale * p.Select((v, i) => (v - t[i]) * (v - t[i])).Sum();
        Compare.Close(loss.Span, [Loss()], 1e-6, 1e-5, "loss");
        Compare.Close(grad.Span, FiniteDifference(p, Loss), 1e-6, 1e-4, "dPrediction");
    }

    [TestCaseSource(nameof(BackendShapes))]
    public void GaussianKlMatchesFormulaAndFiniteDifferencesAndAccumulates(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 5 + cols);
        using var mu = Buffer.Random(rows, cols, rng, -2, 2);
        using var logVar = Buffer.Random(rows, cols, rng, -3, 2);
        using var loss = Buffer.Filled(1, 1, float.NaN);
        using var dMu = Buffer.Random(rows, cols, rng);
        using var dLogVar = Buffer.Random(rows, cols, rng);
        double[] dMu0 = dMu.ToDouble(), dLogVar0 = dLogVar.ToDouble();
        float scale = 1f / rows;
        backend.GaussianKlForward(mu.T, logVar.T, scale, loss.T);
        backend.GaussianKlBackward(mu.T, logVar.T, scale, dMu.T, dLogVar.T);
        double[] m = mu.ToDouble(), lv = logVar.ToDouble();
        double Loss() => scale * m.Select((v, i) => -0.5 * (1 + lv[i] - v * v - Math.Exp(lv[i]))).Sum();
        Compare.Close(loss.Span, [Loss()], 1e-6, 1e-5, "loss");
        Compare.Close(dMu.Span, Add(dMu0, FiniteDifference(m, Loss)), 1e-6, 1e-4, "dMu (accumulated)");
        Compare.Close(dLogVar.Span, Add(dLogVar0, FiniteDifference(lv, Loss)), 1e-6, 1e-4, "dLogVar (accumulated)");
    }

    [TestCaseSource(nameof(BackendShapes))]
    public void ReparameterizationMatchesFormulaAndFiniteDifferences(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 11 + cols);
        using var mu = Buffer.Random(rows, cols, rng, -2, 2);
        using var logVar = Buffer.Random(rows, cols, rng, -3, 2);
        using var epsilon = Buffer.Random(rows, cols, rng, -2, 2);
        using var z = Buffer.Filled(rows, cols, float.NaN);
        using var dz = Buffer.Random(rows, cols, rng);
        using var dMu = Buffer.Filled(rows, cols, float.NaN);
        using var dLogVar = Buffer.Filled(rows, cols, float.NaN);
        backend.ReparameterizeForward(mu.T, logVar.T, epsilon.T, z.T);
        backend.ReparameterizeBackward(logVar.T, epsilon.T, dz.T, dMu.T, dLogVar.T);
        double[] m = mu.ToDouble(), lv = logVar.ToDouble(), e = epsilon.ToDouble(), g = dz.ToDouble();
        double[] Z() => m.Select((v, i) => v + Math.Exp(0.5 * lv[i]) * e[i]).ToArray();
        double Loss() => Dot(Z(), g);
        Compare.Close(z.Span, Z(), 1e-6, 1e-5, "z");
        Compare.Close(dMu.Span, FiniteDifference(m, Loss), 1e-6, 1e-4, "dMu");
        Compare.Close(dLogVar.Span, FiniteDifference(lv, Loss), 1e-6, 1e-4, "dLogVar");
    }

    [TestCaseSource(nameof(BackendShapes))]
    public void AddAndCopyAndFill(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows + cols);
        using var a = Buffer.Random(rows, cols, rng);
        using var b = Buffer.Random(rows, cols, rng);
        using var y = Buffer.Filled(rows, cols, float.NaN);
        backend.Add(a.T, b.T, y.T);
        Compare.Close(y.Span, a.ToDouble().Zip(b.ToDouble(), (p, q) => (double)(float)(p + q)).ToArray(), 0, 0, "a + b");
        backend.Copy(a.T, y.T);
        Assert.That(y.Span.ToArray(), Is.EqualTo(a.Span.ToArray()));
        backend.Fill(y.T, 2.5f);
        Assert.That(y.Span.ToArray(), Has.All.EqualTo(2.5f));
    }

    // ---- optimizers

    [TestCaseSource(nameof(BackendShapes))]
    public void AdamMatchesTheFormulaOverThreeSteps(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 13 + cols);
        using var p = Buffer.Random(rows, cols, rng);
        using var m = new Buffer(rows, cols);
        using var v = new Buffer(rows, cols);
        double[] pd = p.ToDouble(), md = new double[pd.Length], vd = new double[pd.Length];
        const double lr = 1e-2, b1 = 0.9, b2 = 0.99, eps = 1e-8;
        for (int step = 1; step <= 3; step++)
        {
            using var g = Buffer.Random(rows, cols, rng);
            backend.AdamStep(p.T, g.T, m.T, v.T, (float)lr, (float)b1, (float)b2, (float)eps, step);
            var gd = g.ToDouble();
            for (int i = 0; i < pd.Length; i++)
            {
                md[i] = b1 * md[i] + (1 - b1) * gd[i];
                vd[i] = b2 * vd[i] + (1 - b2) * gd[i] * gd[i];
                pd[i] -= lr * (md[i] / (1 - Math.Pow(b1, step))) / (Math.Sqrt(vd[i] / (1 - Math.Pow(b2, step))) + eps);
            }
        }
        Compare.Close(p.Span, pd, 1e-6, 1e-5, "parameters");
        Compare.Close(m.Span, md, 1e-7, 1e-5, "m");
        Compare.Close(v.Span, vd, 1e-7, 1e-5, "v");
    }

    [Test]
    public void AdamOverManyChunksGivesTheReferenceValuesWhateverTheThreadCount()
    {
        // More than one chunk of the worker pool, and a length that is no multiple of a vector.
        const int n = 100_003;
        var rng = new System.Random(23);
        using var g = Buffer.Random(1, n, rng);
        using var start = Buffer.Random(1, n, rng);
        using var reference = new CpuReferenceBackend();
        using var one = new CpuSimdBackend(1);
        using var two = new CpuSimdBackend(2);
        var results = new List<float[]>();
        foreach (IBackend backend in new IBackend[] { reference, one, two })
        {
            using var p = new Buffer(1, n);
            using var m = new Buffer(1, n);
            using var v = new Buffer(1, n);
            start.Span.CopyTo(p.Span);
            for (int step = 1; step <= 2; step++) backend.AdamStep(p.T, g.T, m.T, v.T, 2e-4f, 0.5f, 0.999f, 1e-8f, step);
            results.Add([.. p.Span.ToArray(), .. m.Span.ToArray(), .. v.Span.ToArray()]);
        }
        Assert.That(results[0], Is.Not.EqualTo(start.Span.ToArray().Concat(new float[2 * n]).ToArray()), "the step moved something");
        Assert.That(results[1], Is.EqualTo(results[0]), "SIMD on 1 thread against the scalar reference");
        Assert.That(results[2], Is.EqualTo(results[0]), "SIMD on 2 threads against the scalar reference");
    }

    [TestCaseSource(nameof(BackendShapes))]
    public void SgdWithMomentumMatchesTheFormulaOverThreeSteps(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 17 + cols);
        using var p = Buffer.Random(rows, cols, rng);
        using var velocity = new Buffer(rows, cols);
        double[] pd = p.ToDouble(), vd = new double[pd.Length];
        for (int step = 0; step < 3; step++)
        {
            using var g = Buffer.Random(rows, cols, rng);
            backend.SgdStep(p.T, g.T, velocity.T, 0.1f, 0.9f);
            var gd = g.ToDouble();
            for (int i = 0; i < pd.Length; i++)
            {
                vd[i] = 0.9 * vd[i] + gd[i];
                pd[i] -= 0.1 * vd[i];
            }
        }
        Compare.Close(p.Span, pd, 1e-6, 1e-5, "parameters");
    }

    // ---- random numbers

    [TestCaseSource(nameof(BackendNames))]
    public void FillNormalIsPhiloxAtAnyOffset(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        using var all = new Buffer(1, 103);
        using var part = new Buffer(1, 50);
        backend.FillNormal(all.T, 9, 2, 0);
        backend.FillNormal(part.T, 9, 2, 37);
        Assert.That(part.Span.ToArray(), Is.EqualTo(all.Span.Slice(37, 50).ToArray()));
        var expected = new float[103];
        Philox.FillNormal(expected, 9, 2, 0);
        Assert.That(all.Span.ToArray(), Is.EqualTo(expected));
    }

    [TestCaseSource(nameof(BackendNames))]
    public void FillNormalSplitIntoChunksIsStillPhilox(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        using var values = new Buffer(3, 2501); // several of the parallel chunks, none aligned to the offset
        backend.FillNormal(values.T, 1234, 2, 4097);
        var expected = new float[values.T.Length];
        Philox.FillNormal(expected, 1234, 2, 4097);
        Assert.That(values.Span.ToArray(), Is.EqualTo(expected));
    }

    [TestCaseSource(nameof(BackendNames))]
    public void FillStudentTIsPhiloxStudentTAtAnyOffsetAndFromStepScalars(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        using var values = new Buffer(3, 701); // several of the SIMD backend's chunks of 256, none aligned to the offset
        backend.FillStudentT(values.T, 1234, 2, 4097, 5);
        var expected = new float[values.T.Length];
        Philox.FillStudentT(expected, 1234, 2, 4097, 5);
        for (int i = 0; i < expected.Length; i++) Assert.That(values.Span[i], Is.EqualTo(expected[i]).Within(4).Ulps, $"number {i}");

        // The step-scalar form reads its offset when it runs.
        using var scalars = new Models.StepScalars(backend, 1);
        scalars.SetNoiseOffset(4000);
        scalars.Upload();
        using var fromScalars = new Buffer(3, 701);
        backend.FillStudentT(fromScalars.T, 1234, 2, scalars.NoiseOffset, 97, 5);
        Assert.That(fromScalars.Span.ToArray(), Is.EqualTo(values.Span.ToArray()));
    }

    // ---- spectral normalization

    private static IEnumerable<TestCaseData> SpectralCases() =>
        from b in TestBackends.Names
        from s in new[] { (1, 1), (1, 9), (7, 1), (5, 13), (16, 33), (64, 50) }
        select new TestCaseData(b, s.Item1, s.Item2).SetArgDisplayNames(b, $"{s.Item1}x{s.Item2}");

    /// <summary>A random unit vector [1, n] (never all zeros).</summary>
    private static Buffer UnitVector(int n, System.Random rng)
    {
        var b = Buffer.Random(1, n, rng);
        double norm = Math.Sqrt(b.ToDouble().Sum(x => x * x));
        foreach (ref float x in b.Span) x = (float)(x / norm);
        return b;
    }

    private static double[] Normalized(double[] x)
    {
        double norm = Math.Max(Math.Sqrt(x.Sum(e => e * e)), 1e-12);
        return x.Select(e => e / norm).ToArray();
    }

    /// <summary>(Wx) in double: W [rows, cols], x [cols].</summary>
    private static double[] Times(double[] w, int rows, int cols, double[] x) =>
        Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, cols).Sum(j => w[i * cols + j] * x[j])).ToArray();

    /// <summary>(Wᵀy) in double: W [rows, cols], y [rows].</summary>
    private static double[] TransposeTimes(double[] w, int rows, int cols, double[] y) =>
        Enumerable.Range(0, cols).Select(j => Enumerable.Range(0, rows).Sum(i => w[i * cols + j] * y[i])).ToArray();

    [TestCaseSource(nameof(SpectralCases))]
    public void SpectralNormForwardIsOnePowerIterationStepThenWOverSigma(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 31 + cols);
        using var w = Buffer.Random(rows, cols, rng);
        using var u = UnitVector(rows, rng);
        using var v = UnitVector(cols, rng);
        using var sigma = Buffer.Filled(1, 1, float.NaN);
        using var normalized = Buffer.Filled(rows, cols, float.NaN);
        double[] wd = w.ToDouble();
        var vExpected = Normalized(TransposeTimes(wd, rows, cols, u.ToDouble()));
        var uExpected = Normalized(Times(wd, rows, cols, vExpected));
        double sigmaExpected = Dot(uExpected, Times(wd, rows, cols, vExpected));

        backend.SpectralNormForward(w.T, u.T, v.T, powerIteration: true, sigma.T, normalized.T);
        double tol = 1e-5 * Math.Sqrt(rows + cols);
        Compare.Close(v.Span, vExpected, tol, 1e-5, "v = Wᵀu/‖Wᵀu‖");
        Compare.Close(u.Span, uExpected, tol, 1e-5, "u = Wv/‖Wv‖");
        Compare.Close(sigma.Span, [sigmaExpected], tol, 1e-5, "σ = uᵀWv");
        Compare.Close(normalized.Span, wd.Select(x => x / sigma.Span[0]).ToArray(), 0, 1e-6, "W/σ");
        Assert.That(sigma.Span[0], Is.GreaterThan(0f));
    }

    [TestCaseSource(nameof(SpectralCases))]
    public void SpectralNormForwardWithoutIterationLeavesTheVectorsAndTakesSigmaOfTheCurrentWeights(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 17 + cols);
        using var w = Buffer.Random(rows, cols, rng);
        using var u = UnitVector(rows, rng);
        using var v = UnitVector(cols, rng);
        using var sigma = Buffer.Filled(1, 1, float.NaN);
        using var normalized = Buffer.Filled(rows, cols, float.NaN);
        float[] u0 = u.Span.ToArray(), v0 = v.Span.ToArray();

        backend.SpectralNormForward(w.T, u.T, v.T, powerIteration: false, sigma.T, normalized.T);
        Assert.That(u.Span.ToArray(), Is.EqualTo(u0), "u untouched");
        Assert.That(v.Span.ToArray(), Is.EqualTo(v0), "v untouched");
        double sigmaExpected = Dot(u.ToDouble(), Times(w.ToDouble(), rows, cols, v.ToDouble()));
        Compare.Close(sigma.Span, [sigmaExpected], 1e-5 * Math.Sqrt(rows + cols), 1e-5, "σ = uᵀWv");
        Compare.Close(normalized.Span, w.ToDouble().Select(x => x / sigma.Span[0]).ToArray(), 0, 1e-6, "W/σ");
    }

    [TestCaseSource(nameof(SpectralCases))]
    public void SpectralNormBackwardMatchesFiniteDifferencesAndAccumulates(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows * 7 + cols);
        using var w = Buffer.Random(rows, cols, rng);
        using var u = UnitVector(rows, rng);
        using var v = UnitVector(cols, rng);
        using var sigma = Buffer.Filled(1, 1, float.NaN);
        using var normalized = Buffer.Filled(rows, cols, float.NaN);
        using var g = Buffer.Random(rows, cols, rng);
        using var dW = Buffer.Random(rows, cols, rng); // accumulated: the old values stay
        var dW0 = dW.ToDouble();
        // One iteration makes σ = uᵀWv well away from 0 (random u and v would give any value); the backward then treats
        // u and v as the constants they are in a training step.
        backend.SpectralNormForward(w.T, u.T, v.T, powerIteration: true, sigma.T, normalized.T);
        backend.SpectralNormBackward(w.T, u.T, v.T, sigma.T, g.T, dW.T);

        double[] wd = w.ToDouble(), ud = u.ToDouble(), vd = v.ToDouble(), gd = g.ToDouble();
        double Loss()
        {
            double s = Dot(ud, Times(wd, rows, cols, vd));
            return wd.Select((x, k) => gd[k] * x / s).Sum();
        }
        double tol = 1e-4 * Math.Sqrt(rows + cols);
        Compare.Close(dW.Span, Add(dW0, FiniteDifference(wd, Loss)), tol, 1e-4, "dW (accumulated)");
    }

    /// <summary>
    /// The SIMD backend's spectral normalization against the reference on the default discriminators' shapes (and one
    /// wider than its stack buffer, which takes the reference): v, W/σ and the backward's elements are the same
    /// operations in the same order, the row dots and ⟨G, W⟩ add in vector lanes, so within double rounding.
    /// </summary>
    [TestCase(128, 28)]
    [TestCase(128, 128)]
    [TestCase(1, 128)]
    [TestCase(64, 512)]
    [TestCase(1, 3136)]
    [TestCase(37, 1001)]
    [TestCase(3, 5000)]
    public void SimdSpectralNormMatchesTheReference(int rows, int cols)
    {
        using var reference = new CpuReferenceBackend();
        using var simd = new CpuSimdBackend();
        var rng = new System.Random(rows + cols);
        using var w = Buffer.Random(rows, cols, rng);
        using var u0 = UnitVector(rows, rng);
        using var v0 = UnitVector(cols, rng);
        using var g = Buffer.Random(rows, cols, rng);
        using var dW0 = Buffer.Random(rows, cols, rng);
        float[][] Run(IBackend backend)
        {
            using var u = u0.Clone();
            using var v = v0.Clone();
            using var sigma = Buffer.Filled(1, 1, float.NaN);
            using var sigmaStill = Buffer.Filled(1, 1, float.NaN);
            using var normalized = Buffer.Filled(rows, cols, float.NaN);
            using var dW = dW0.Clone();
            backend.SpectralNormForward(w.T, u.T, v.T, powerIteration: true, sigma.T, normalized.T);
            backend.SpectralNormBackward(w.T, u.T, v.T, sigma.T, g.T, dW.T);
            backend.SpectralNormForward(w.T, u.T, v.T, powerIteration: false, sigmaStill.T, normalized.T);
            return [u.Span.ToArray(), v.Span.ToArray(), sigma.Span.ToArray(), sigmaStill.Span.ToArray(), normalized.Span.ToArray(), dW.Span.ToArray()];
        }
        var expected = Run(reference);
        var actual = Run(simd);
        string[] names = ["u", "v", "σ", "σ without iteration", "W/σ", "dW"];
        Assert.That(actual[1], Is.EqualTo(expected[1]), "v: the reference's sums in its order");
        for (int k = 0; k < names.Length; k++) Compare.Close(actual[k], expected[k], 1e-7, 1e-6, names[k]);
    }

    private static IEnumerable<TestCaseData> SvdCases() =>
        from b in TestBackends.Names
        from s in new[] { (12, 40), (40, 12), (64, 16), (1, 30) }
        select new TestCaseData(b, s.Item1, s.Item2).SetArgDisplayNames(b, $"{s.Item1}x{s.Item2}");

    /// <summary>
    /// σ of repeated power iterations from a Philox start converges to the largest singular value of a random matrix
    /// (MathNet's SVD in double), and u, v to its singular vectors (up to one common sign).
    /// </summary>
    [TestCaseSource(nameof(SvdCases))]
    public void SpectralNormSigmaConvergesToTheLargestSingularValue(string backendName, int rows, int cols)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(rows + 100 * cols);
        using var w = Buffer.Random(rows, cols, rng);
        using var u = new Buffer(1, rows);
        using var v = new Buffer(1, cols);
        Philox.FillNormal(u.Span, 42, (ulong)Philox.Stream.SpectralNorm, 0);
        using var sigma = Buffer.Filled(1, 1, float.NaN);
        using var normalized = new Buffer(rows, cols);
        for (int step = 0; step < 1000; step++) backend.SpectralNormForward(w.T, u.T, v.T, powerIteration: true, sigma.T, normalized.T);

        var matrix = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(rows, cols, (i, j) => w.Span[i * cols + j]);
        var svd = matrix.Svd(computeVectors: true);
        Compare.Close(sigma.Span, [svd.S[0]], 0, 1e-5, "σ against the SVD's largest singular value");
        double sign = Math.Sign(Dot(u.ToDouble(), svd.U.Column(0).ToArray()));
        Compare.Close(u.Span, svd.U.Column(0).Select(x => sign * x).ToArray(), 1e-4, 0, "u against the first left singular vector");
        Compare.Close(v.Span, svd.VT.Row(0).Select(x => sign * x).ToArray(), 1e-4, 0, "v against the first right singular vector");
        // W/σ has spectral norm 1.
        var scaled = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(rows, cols, (i, j) => normalized.Span[i * cols + j]);
        Assert.That(scaled.L2Norm(), Is.EqualTo(1.0).Within(1e-5));
    }

    // ---- helpers

    private static double Dot(double[] a, double[] b) => a.Select((v, i) => v * b[i]).Sum();

    private static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    /// <summary>∂loss/∂values by central differences in float64, perturbing each element in place.</summary>
    private static double[] FiniteDifference(double[] values, Func<double> loss)
    {
        var gradient = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double saved = values[i];
            values[i] = saved + H;
            double plus = loss();
            values[i] = saved - H;
            double minus = loss();
            values[i] = saved;
            gradient[i] = (plus - minus) / (2 * H);
        }
        return gradient;
    }

    private static IEnumerable<string> BackendNames() => TestBackends.Names;
}
