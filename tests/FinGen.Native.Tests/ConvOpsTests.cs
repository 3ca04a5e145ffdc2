using FinGen.Native.Backends;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

/// <summary>
/// Conv2d, ConvTranspose2d and BatchNorm2d on every CPU backend against float64 oracles written here (the transposed
/// convolution's oracle is a scatter, independent of the reference backend's gather): forward against the formula,
/// backward against central finite differences of that formula. Random inputs, ragged shapes.
/// </summary>
[TestFixture]
public sealed class ConvOpsTests
{
    private const double H = 1e-6;

    /// <summary>Ragged geometries: stride 2 with a remainder, padding 1, H ≠ W, kernels 1, 3 and 4 (and 4×2), batch 1 and 3, C ≠ K.</summary>
    private static readonly ConvGeometry[] Geometries =
    [
        new(Batch: 1, InChannels: 2, InHeight: 5, InWidth: 7, OutChannels: 3, KernelHeight: 3, KernelWidth: 3, Stride: 1, Padding: 1),
        new(Batch: 3, InChannels: 2, InHeight: 6, InWidth: 5, OutChannels: 3, KernelHeight: 4, KernelWidth: 4, Stride: 2, Padding: 1),
        new(Batch: 2, InChannels: 3, InHeight: 4, InWidth: 3, OutChannels: 2, KernelHeight: 1, KernelWidth: 1, Stride: 1, Padding: 0),
        new(Batch: 3, InChannels: 1, InHeight: 7, InWidth: 6, OutChannels: 4, KernelHeight: 4, KernelWidth: 2, Stride: 2, Padding: 1),
        new(Batch: 1, InChannels: 3, InHeight: 5, InWidth: 4, OutChannels: 2, KernelHeight: 1, KernelWidth: 1, Stride: 2, Padding: 0),
        new(Batch: 3, InChannels: 2, InHeight: 4, InWidth: 4, OutChannels: 3, KernelHeight: 4, KernelWidth: 4, Stride: 2, Padding: 1),
    ];

    private static string Describe(ConvGeometry g) =>
        $"N{g.Batch} {g.InChannels}x{g.InHeight}x{g.InWidth}->{g.OutChannels}x{g.OutHeight}x{g.OutWidth} k{g.KernelHeight}x{g.KernelWidth} s{g.Stride} p{g.Padding}";

    private static IEnumerable<TestCaseData> ConvCases() =>
        from b in TestBackends.Names
        from i in Enumerable.Range(0, Geometries.Length)
        select new TestCaseData(b, i).SetArgDisplayNames(b, Describe(Geometries[i]));

    private static IEnumerable<string> BackendNames() => TestBackends.Names;

    // ---- float64 oracles

    private static double[] ConvOracle(double[] x, double[] w, double[]? bias, ConvGeometry g)
    {
        int C = g.InChannels, Hh = g.InHeight, W = g.InWidth, K = g.OutChannels, R = g.KernelHeight, S = g.KernelWidth, P = g.OutHeight, Q = g.OutWidth;
        var y = new double[g.Batch * K * P * Q];
        for (int n = 0; n < g.Batch; n++)
            for (int k = 0; k < K; k++)
                for (int p = 0; p < P; p++)
                    for (int q = 0; q < Q; q++)
                    {
                        double sum = bias?[k] ?? 0;
                        for (int c = 0; c < C; c++)
                            for (int r = 0; r < R; r++)
                                for (int s = 0; s < S; s++)
                                {
                                    int h = p * g.Stride - g.Padding + r, v = q * g.Stride - g.Padding + s;
                                    if (h >= 0 && h < Hh && v >= 0 && v < W)
                                        sum += w[((k * C + c) * R + r) * S + s] * x[((n * C + c) * Hh + h) * W + v];
                                }
                        y[((n * K + k) * P + p) * Q + q] = sum;
                    }
        return y;
    }

    /// <summary>The transposed convolution as a scatter: each input pixel (n, k, p, q) spreads W[k]·x over the window it was convolved from.</summary>
    private static double[] ConvTransposeOracle(double[] x, double[] w, double[]? bias, ConvGeometry g)
    {
        int C = g.InChannels, Hh = g.InHeight, W = g.InWidth, K = g.OutChannels, R = g.KernelHeight, S = g.KernelWidth, P = g.OutHeight, Q = g.OutWidth;
        var y = new double[g.Batch * C * Hh * W];
        if (bias != null)
            for (int n = 0; n < g.Batch; n++)
                for (int c = 0; c < C; c++)
                    Array.Fill(y, bias[c], (n * C + c) * Hh * W, Hh * W);
        for (int n = 0; n < g.Batch; n++)
            for (int k = 0; k < K; k++)
                for (int p = 0; p < P; p++)
                    for (int q = 0; q < Q; q++)
                    {
                        double value = x[((n * K + k) * P + p) * Q + q];
                        for (int c = 0; c < C; c++)
                            for (int r = 0; r < R; r++)
                                for (int s = 0; s < S; s++)
                                {
                                    int h = p * g.Stride - g.Padding + r, v = q * g.Stride - g.Padding + s;
                                    if (h >= 0 && h < Hh && v >= 0 && v < W)
                                        y[((n * C + c) * Hh + h) * W + v] += w[((k * C + c) * R + r) * S + s] * value;
                                }
                    }
        return y;
    }

    // ---- Conv2d

    [TestCaseSource(nameof(ConvCases))]
    public void Conv2dForwardMatchesFormula(string backendName, int geometry)
    {
        var g = Geometries[geometry];
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(100 + geometry);
        using var x = Buffer.Random(g.Batch, g.InSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var b = Buffer.Random(1, g.OutChannels, rng);
        using var y = Buffer.Filled(g.Batch, g.OutSize, float.NaN);
        backend.Conv2dForward(x.T, w.T, b.T, g, y.T);
        Compare.Close(y.Span, ConvOracle(x.ToDouble(), w.ToDouble(), b.ToDouble(), g), 1e-5 * Math.Sqrt(g.FilterSize), 1e-5, "y");
        backend.Conv2dForward(x.T, w.T, default, g, y.T);
        Compare.Close(y.Span, ConvOracle(x.ToDouble(), w.ToDouble(), null, g), 1e-5 * Math.Sqrt(g.FilterSize), 1e-5, "y without bias");
    }

    /// <summary>Backward twice: dX must come out the same (overwritten, never added to its NaN start), dW and dB must hold their start plus twice the gradient.</summary>
    [TestCaseSource(nameof(ConvCases))]
    public void Conv2dBackwardMatchesFiniteDifferencesAndAccumulates(string backendName, int geometry)
    {
        var g = Geometries[geometry];
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(200 + geometry);
        using var x = Buffer.Random(g.Batch, g.InSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var b = Buffer.Random(1, g.OutChannels, rng);
        using var dy = Buffer.Random(g.Batch, g.OutSize, rng);
        using var dx = Buffer.Filled(g.Batch, g.InSize, float.NaN);
        using var dW = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var db = Buffer.Random(1, g.OutChannels, rng);
        double[] dW0 = dW.ToDouble(), db0 = db.ToDouble();
        backend.Conv2dBackward(x.T, w.T, dy.T, g, dx.T, dW.T, db.T);
        backend.Conv2dBackward(x.T, w.T, dy.T, g, dx.T, dW.T, db.T);

        double[] xd = x.ToDouble(), wd = w.ToDouble(), bd = b.ToDouble(), gy = dy.ToDouble();
        double Loss() => Dot(ConvOracle(xd, wd, bd, g), gy);
        double tol = 1e-4 * Math.Sqrt(g.Batch * g.OutHeight * g.OutWidth + g.OutChannels * g.KernelHeight * g.KernelWidth);
        Compare.Close(dx.Span, FiniteDifference(xd, Loss), tol, 1e-4, "dx (overwritten)");
        Compare.Close(dW.Span, AddTwice(dW0, FiniteDifference(wd, Loss)), tol, 1e-4, "dW (accumulated twice)");
        Compare.Close(db.Span, AddTwice(db0, FiniteDifference(bd, Loss)), tol, 1e-4, "db (accumulated twice)");
    }

    // ---- ConvTranspose2d

    [TestCaseSource(nameof(ConvCases))]
    public void ConvTranspose2dForwardMatchesScatterFormula(string backendName, int geometry)
    {
        var g = Geometries[geometry];
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(300 + geometry);
        using var x = Buffer.Random(g.Batch, g.OutSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var b = Buffer.Random(1, g.InChannels, rng);
        using var y = Buffer.Filled(g.Batch, g.InSize, float.NaN);
        backend.ConvTranspose2dForward(x.T, w.T, b.T, g, y.T);
        double atol = 1e-5 * Math.Sqrt(g.OutChannels * g.KernelHeight * g.KernelWidth);
        Compare.Close(y.Span, ConvTransposeOracle(x.ToDouble(), w.ToDouble(), b.ToDouble(), g), atol, 1e-5, "y");
        backend.ConvTranspose2dForward(x.T, w.T, default, g, y.T);
        Compare.Close(y.Span, ConvTransposeOracle(x.ToDouble(), w.ToDouble(), null, g), atol, 1e-5, "y without bias");
    }

    [TestCaseSource(nameof(ConvCases))]
    public void ConvTranspose2dBackwardMatchesFiniteDifferencesAndAccumulates(string backendName, int geometry)
    {
        var g = Geometries[geometry];
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(400 + geometry);
        using var x = Buffer.Random(g.Batch, g.OutSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var b = Buffer.Random(1, g.InChannels, rng);
        using var dy = Buffer.Random(g.Batch, g.InSize, rng);
        using var dx = Buffer.Filled(g.Batch, g.OutSize, float.NaN);
        using var dW = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var db = Buffer.Random(1, g.InChannels, rng);
        double[] dW0 = dW.ToDouble(), db0 = db.ToDouble();
        backend.ConvTranspose2dBackward(x.T, w.T, dy.T, g, dx.T, dW.T, db.T);
        backend.ConvTranspose2dBackward(x.T, w.T, dy.T, g, dx.T, dW.T, db.T);

        double[] xd = x.ToDouble(), wd = w.ToDouble(), bd = b.ToDouble(), gy = dy.ToDouble();
        double Loss() => Dot(ConvTransposeOracle(xd, wd, bd, g), gy);
        double tol = 1e-4 * Math.Sqrt(g.Batch * g.InHeight * g.InWidth + g.InChannels * g.KernelHeight * g.KernelWidth);
        Compare.Close(dx.Span, FiniteDifference(xd, Loss), tol, 1e-4, "dx (overwritten)");
        Compare.Close(dW.Span, AddTwice(dW0, FiniteDifference(wd, Loss)), tol, 1e-4, "dW (accumulated twice)");
        Compare.Close(db.Span, AddTwice(db0, FiniteDifference(bd, Loss)), tol, 1e-4, "db (accumulated twice)");
    }

    /// <summary>The dot-product test: ConvTranspose2d is the adjoint of Conv2d, ⟨conv(x), y⟩ = ⟨x, convT(y)⟩ for any x and y.</summary>
    [TestCaseSource(nameof(ConvCases))]
    public void ConvTransposeIsTheAdjointOfConv(string backendName, int geometry)
    {
        var g = Geometries[geometry];
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(500 + geometry);
        using var x = Buffer.Random(g.Batch, g.InSize, rng);
        using var y = Buffer.Random(g.Batch, g.OutSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var convX = Buffer.Filled(g.Batch, g.OutSize, float.NaN);
        using var convTY = Buffer.Filled(g.Batch, g.InSize, float.NaN);
        backend.Conv2dForward(x.T, w.T, default, g, convX.T);
        backend.ConvTranspose2dForward(y.T, w.T, default, g, convTY.T);
        double left = Dot(convX.ToDouble(), y.ToDouble()), right = Dot(x.ToDouble(), convTY.ToDouble());
        double scale = Math.Sqrt(g.Batch * g.OutSize * g.FilterSize);
        Assert.That(left, Is.EqualTo(right).Within(1e-5 * scale), "<conv(x), y> vs <x, convT(y)>");
    }

    /// <summary>The generator's upsampling: 7×7 → 14×14 with kernel 4, stride 2, padding 1 (PyTorch: (7 − 1)·2 − 2·1 + 4 = 14).</summary>
    [TestCaseSource(nameof(BackendNames))]
    public void ConvTransposeUpsamplesSevenToFourteen(string backendName)
    {
        var g = new ConvGeometry(Batch: 2, InChannels: 3, InHeight: 14, InWidth: 14, OutChannels: 5, KernelHeight: 4, KernelWidth: 4, Stride: 2, Padding: 1);
        Assert.That((g.OutHeight, g.OutWidth), Is.EqualTo((7, 7)));
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(7);
        using var x = Buffer.Random(2, 5 * 7 * 7, rng);
        using var w = Buffer.Random(5, 3 * 4 * 4, rng);
        using var b = Buffer.Random(1, 3, rng);
        using var y = Buffer.Filled(2, 3 * 14 * 14, float.NaN);
        backend.ConvTranspose2dForward(x.T, w.T, b.T, g, y.T);
        Compare.Close(y.Span, ConvTransposeOracle(x.ToDouble(), w.ToDouble(), b.ToDouble(), g), 1e-4, 1e-5, "y");
        using var tooSmall = new Buffer(2, 3 * 13 * 13);
        Assert.Throws<ArgumentException>(() => backend.ConvTranspose2dForward(x.T, w.T, b.T, g, tooSmall.T));
        using var wrongBias = new Buffer(1, 5); // the bias follows the output channels, g.InChannels
        Assert.Throws<ArgumentException>(() => backend.ConvTranspose2dForward(x.T, w.T, wrongBias.T, g, y.T));
    }

    /// <summary>An empty gradient is skipped and the others are still computed: each must equal its value from a full call.</summary>
    [TestCaseSource(nameof(BackendNames))]
    public void ConvBackwardsSkipWhatIsEmpty(string backendName)
    {
        var g = Geometries[1];
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(9);
        foreach (bool transposed in new[] { false, true })
        {
            int xSize = transposed ? g.OutSize : g.InSize, ySize = transposed ? g.InSize : g.OutSize;
            int biasSize = transposed ? g.InChannels : g.OutChannels;
            using var x = Buffer.Random(g.Batch, xSize, rng);
            using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
            using var dy = Buffer.Random(g.Batch, ySize, rng);
            using var dxAll = new Buffer(g.Batch, xSize);
            using var dWAll = new Buffer(g.OutChannels, g.FilterSize);
            using var dbAll = new Buffer(1, biasSize);
            using var dx = Buffer.Filled(g.Batch, xSize, float.NaN);
            using var dW = new Buffer(g.OutChannels, g.FilterSize);
            using var db = new Buffer(1, biasSize);
            void Backward(Tensor dxT, Tensor dWT, Tensor dbT)
            {
                if (transposed) backend.ConvTranspose2dBackward(x.T, w.T, dy.T, g, dxT, dWT, dbT);
                else backend.Conv2dBackward(x.T, w.T, dy.T, g, dxT, dWT, dbT);
            }
            Backward(dxAll.T, dWAll.T, dbAll.T);
            Backward(dx.T, default, default);
            Backward(default, dW.T, default);
            Backward(default, default, db.T);
            Backward(default, default, default);
            string what = transposed ? "convT " : "conv ";
            Assert.That(dx.Span.ToArray(), Is.EqualTo(dxAll.Span.ToArray()), what + "dx alone");
            Assert.That(dW.Span.ToArray(), Is.EqualTo(dWAll.Span.ToArray()), what + "dW alone");
            Assert.That(db.Span.ToArray(), Is.EqualTo(dbAll.Span.ToArray()), what + "db alone");
            Assert.That(dWAll.Span.ToArray(), Has.Some.Not.EqualTo(0f), what + "dW was computed");
        }
    }

    // ---- BatchNorm2d

    private static readonly (int Batch, int Channels, int Spatial)[] NormShapes = [(3, 2, 5), (1, 3, 4), (4, 1, 1), (2, 5, 7), (5, 4, 9), (2, 3, 37)]; // the last two reach the SIMD path

    private static IEnumerable<TestCaseData> NormCases() =>
        from b in TestBackends.Names
        from s in NormShapes
        select new TestCaseData(b, s.Batch, s.Channels, s.Spatial).SetArgDisplayNames(b, $"N{s.Batch} C{s.Channels} HW{s.Spatial}");

    private const float Momentum = 0.1f, Epsilon = 1e-5f;

    /// <summary>Mean and biased variance of every channel of x [N, C·spatial].</summary>
    private static (double[] Mean, double[] Variance) ChannelMoments(double[] x, int batch, int channels, int spatial)
    {
        var mean = new double[channels];
        var variance = new double[channels];
        int m = batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            var values = Enumerable.Range(0, batch).SelectMany(n => x.Skip((n * channels + c) * spatial).Take(spatial)).ToArray();
            Assert.That(values, Has.Length.EqualTo(m));
            mean[c] = values.Average();
            variance[c] = values.Select(v => (v - mean[c]) * (v - mean[c])).Sum() / m;
        }
        return (mean, variance);
    }

    private static double[] NormOracle(double[] x, double[] gamma, double[] beta, double[] mean, double[] variance, int batch, int channels, int spatial)
    {
        var y = new double[x.Length];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < spatial; i++)
                {
                    int at = (n * channels + c) * spatial + i;
                    y[at] = gamma[c] * (x[at] - mean[c]) / Math.Sqrt(variance[c] + Epsilon) + beta[c];
                }
        return y;
    }

    private static double[] TrainingNormOracle(double[] x, double[] gamma, double[] beta, int batch, int channels, int spatial)
    {
        var (mean, variance) = ChannelMoments(x, batch, channels, spatial);
        return NormOracle(x, gamma, beta, mean, variance, batch, channels, spatial);
    }

    [TestCaseSource(nameof(NormCases))]
    public void BatchNormTrainingMatchesFormulaAndUpdatesRunningStatistics(string backendName, int batch, int channels, int spatial)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(batch * 100 + channels * 10 + spatial);
        using var x = Buffer.Random(batch, channels * spatial, rng, -1, 3); // an offset mean, so centring matters
        using var gamma = Buffer.Random(1, channels, rng, 0.5, 2);
        using var beta = Buffer.Random(1, channels, rng);
        using var runningMean = Buffer.Random(1, channels, rng);
        using var runningVar = Buffer.Random(1, channels, rng, 0.5, 2);
        using var y = Buffer.Filled(batch, channels * spatial, float.NaN);
        using var saveMean = Buffer.Filled(1, channels, float.NaN);
        using var saveInvStd = Buffer.Filled(1, channels, float.NaN);
        double[] runningMean0 = runningMean.ToDouble(), runningVar0 = runningVar.ToDouble();
        backend.BatchNorm2dForwardTraining(x.T, gamma.T, beta.T, channels, Momentum, Epsilon, runningMean.T, runningVar.T, y.T, saveMean.T, saveInvStd.T);

        var xd = x.ToDouble();
        var (mean, variance) = ChannelMoments(xd, batch, channels, spatial);
        int m = batch * spatial;
        Compare.Close(y.Span, NormOracle(xd, gamma.ToDouble(), beta.ToDouble(), mean, variance, batch, channels, spatial), 1e-5, 1e-5, "y");
        Compare.Close(saveMean.Span, mean, 1e-6, 1e-5, "saveMean");
        Compare.Close(saveInvStd.Span, variance.Select(v => 1 / Math.Sqrt(v + Epsilon)).ToArray(), 1e-6, 1e-5, "saveInvStd (biased variance)");
        Compare.Close(runningMean.Span, mean.Select((v, c) => (1 - Momentum) * runningMean0[c] + Momentum * v).ToArray(), 1e-6, 1e-5, "runningMean");
        Compare.Close(runningVar.Span, variance.Select((v, c) => (1 - Momentum) * runningVar0[c] + Momentum * v * m / (m - 1)).ToArray(),
            1e-6, 1e-5, "runningVar (unbiased variance)");
    }

    [TestCaseSource(nameof(BackendNames))]
    public void BatchNormTrainingRefusesASingleValuePerChannel(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(1);
        using var x = Buffer.Random(1, 3, rng);
        using var y = new Buffer(1, 3);
        using var ones = Buffer.Filled(1, 3, 1f);
        using var saveMean = new Buffer(1, 3);
        using var saveInvStd = new Buffer(1, 3);
        Assert.Throws<ArgumentException>(() =>
            backend.BatchNorm2dForwardTraining(x.T, ones.T, ones.T, 3, Momentum, Epsilon, ones.T, ones.T, y.T, saveMean.T, saveInvStd.T));
    }

    [TestCaseSource(nameof(NormCases))]
    public void BatchNormInferenceUsesTheRunningStatistics(string backendName, int batch, int channels, int spatial)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(batch * 31 + channels * 7 + spatial);
        using var x = Buffer.Random(batch, channels * spatial, rng, -1, 3);
        using var gamma = Buffer.Random(1, channels, rng, 0.5, 2);
        using var beta = Buffer.Random(1, channels, rng);
        using var runningMean = Buffer.Random(1, channels, rng);
        using var runningVar = Buffer.Random(1, channels, rng, 0.5, 2);
        using var y = Buffer.Filled(batch, channels * spatial, float.NaN);
        backend.BatchNorm2dForwardInference(x.T, gamma.T, beta.T, channels, Epsilon, runningMean.T, runningVar.T, y.T);
        var expected = NormOracle(x.ToDouble(), gamma.ToDouble(), beta.ToDouble(), runningMean.ToDouble(), runningVar.ToDouble(), batch, channels, spatial);
        Compare.Close(y.Span, expected, 1e-5, 1e-5, "y");
    }

    /// <summary>
    /// The batch statistics depend on x, so the finite differences run through the whole training forward (mean and
    /// variance recomputed at every perturbed x). Backward twice: dX overwritten, dγ and dβ accumulated.
    /// </summary>
    [TestCaseSource(nameof(NormCases))]
    public void BatchNormBackwardMatchesFiniteDifferencesAndAccumulates(string backendName, int batch, int channels, int spatial)
    {
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(batch * 17 + channels * 3 + spatial);
        int cols = channels * spatial;
        using var x = Buffer.Random(batch, cols, rng, -1, 3);
        using var gamma = Buffer.Random(1, channels, rng, 0.5, 2);
        using var beta = Buffer.Random(1, channels, rng);
        using var runningMean = new Buffer(1, channels);
        using var runningVar = Buffer.Filled(1, channels, 1f);
        using var y = new Buffer(batch, cols);
        using var saveMean = new Buffer(1, channels);
        using var saveInvStd = new Buffer(1, channels);
        using var dy = Buffer.Random(batch, cols, rng);
        using var dx = Buffer.Filled(batch, cols, float.NaN);
        using var dGamma = Buffer.Random(1, channels, rng);
        using var dBeta = Buffer.Random(1, channels, rng);
        double[] dGamma0 = dGamma.ToDouble(), dBeta0 = dBeta.ToDouble();
        backend.BatchNorm2dForwardTraining(x.T, gamma.T, beta.T, channels, Momentum, Epsilon, runningMean.T, runningVar.T, y.T, saveMean.T, saveInvStd.T);
        backend.BatchNorm2dBackward(x.T, gamma.T, dy.T, channels, saveMean.T, saveInvStd.T, dx.T, dGamma.T, dBeta.T);
        backend.BatchNorm2dBackward(x.T, gamma.T, dy.T, channels, saveMean.T, saveInvStd.T, dx.T, dGamma.T, dBeta.T);

        double[] xd = x.ToDouble(), gd = gamma.ToDouble(), bd = beta.ToDouble(), gy = dy.ToDouble();
        double Loss() => Dot(TrainingNormOracle(xd, gd, bd, batch, channels, spatial), gy);
        double tol = 1e-4 * Math.Sqrt(batch * spatial);
        Compare.Close(dx.Span, FiniteDifference(xd, Loss), 1e-4, 1e-3, "dx (overwritten)");
        Compare.Close(dGamma.Span, AddTwice(dGamma0, FiniteDifference(gd, Loss)), tol, 1e-4, "dGamma (accumulated twice)");
        Compare.Close(dBeta.Span, AddTwice(dBeta0, FiniteDifference(bd, Loss)), tol, 1e-4, "dBeta (accumulated twice)");
    }

    [TestCaseSource(nameof(BackendNames))]
    public void BatchNormBackwardSkipsWhatIsEmpty(string backendName)
    {
        const int batch = 3, channels = 4, spatial = 6;
        using var backend = TestBackends.Create(backendName);
        var rng = new System.Random(21);
        using var x = Buffer.Random(batch, channels * spatial, rng);
        using var gamma = Buffer.Random(1, channels, rng);
        using var saveMean = Buffer.Random(1, channels, rng);
        using var saveInvStd = Buffer.Random(1, channels, rng, 0.5, 2);
        using var dy = Buffer.Random(batch, channels * spatial, rng);
        using var dxAll = new Buffer(batch, channels * spatial);
        using var dGammaAll = new Buffer(1, channels);
        using var dBetaAll = new Buffer(1, channels);
        using var dx = Buffer.Filled(batch, channels * spatial, float.NaN);
        using var dGamma = new Buffer(1, channels);
        using var dBeta = new Buffer(1, channels);
        void Backward(Tensor dxT, Tensor dGammaT, Tensor dBetaT) =>
            backend.BatchNorm2dBackward(x.T, gamma.T, dy.T, channels, saveMean.T, saveInvStd.T, dxT, dGammaT, dBetaT);
        Backward(dxAll.T, dGammaAll.T, dBetaAll.T);
        Backward(dx.T, default, default);
        Backward(default, dGamma.T, default);
        Backward(default, default, dBeta.T);
        Assert.That(dx.Span.ToArray(), Is.EqualTo(dxAll.Span.ToArray()), "dx alone");
        Assert.That(dGamma.Span.ToArray(), Is.EqualTo(dGammaAll.Span.ToArray()), "dGamma alone");
        Assert.That(dBeta.Span.ToArray(), Is.EqualTo(dBetaAll.Span.ToArray()), "dBeta alone");
        Assert.That(dBetaAll.Span.ToArray(), Has.All.Not.EqualTo(0f), "dBeta was computed");
    }

    // ---- the SIMD backend against the reference on the MNIST DCGAN layers, batch 64

    public enum Layer { Disc1, Disc2, Gen1, Gen2 }

    /// <summary>
    /// Discriminator convs 1→c (28→14) and c→2c (14→7); generator transposed convs 2c→c (7→14) and c→1 (14→28), as the
    /// convs they invert; c = 32 is the default model's (GEMMs 32 wide), 64 the paper's.
    /// </summary>
    private static (ConvGeometry G, bool Transposed) DcganLayer(Layer layer, int c) => layer switch
    {
        Layer.Disc1 => (new ConvGeometry(64, 1, 28, 28, c, 4, 4, 2, 1), false),
        Layer.Disc2 => (new ConvGeometry(64, c, 14, 14, 2 * c, 4, 4, 2, 1), false),
        Layer.Gen1 => (new ConvGeometry(64, c, 14, 14, 2 * c, 4, 4, 2, 1), true),
        _ => (new ConvGeometry(64, 1, 28, 28, c, 4, 4, 2, 1), true),
    };

    /// <summary>
    /// Forward and backward of one layer on the SIMD backend, on all cores and on one, against the reference: close to it,
    /// and bit-identical whatever the thread count (the fast path must stay deterministic).
    /// </summary>
    [Test]
    public void SimdConvMatchesReferenceOnDcganShapes([Values] Layer layer, [Values(32, 64)] int channels)
    {
        var (g, transposed) = DcganLayer(layer, channels);
        int inSize = transposed ? g.OutSize : g.InSize, outSize = transposed ? g.InSize : g.OutSize;
        int biasSize = transposed ? g.InChannels : g.OutChannels;
        // Terms per output sum: forward, data gradient and filter gradient.
        int forwardTerms = transposed ? g.OutChannels * 4 : g.FilterSize, backwardTerms = transposed ? g.FilterSize : g.OutChannels * 4;
        int filterTerms = g.Batch * g.OutHeight * g.OutWidth;
        var rng = new System.Random(64 + (int)layer + channels);
        using var x = Buffer.Random(g.Batch, inSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng, -0.1, 0.1);
        using var b = Buffer.Random(1, biasSize, rng);
        using var dy = Buffer.Random(g.Batch, outSize, rng);
        using var dW0 = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var db0 = Buffer.Random(1, biasSize, rng);

        float[][] Run(IBackend backend)
        {
            using var y = Buffer.Filled(g.Batch, outSize, float.NaN);
            using var dx = Buffer.Filled(g.Batch, inSize, float.NaN);
            using var dW = dW0.Clone();
            using var db = db0.Clone();
            if (transposed)
            {
                backend.ConvTranspose2dForward(x.T, w.T, b.T, g, y.T);
                backend.ConvTranspose2dBackward(x.T, w.T, dy.T, g, dx.T, dW.T, db.T);
            }
            else
            {
                backend.Conv2dForward(x.T, w.T, b.T, g, y.T);
                backend.Conv2dBackward(x.T, w.T, dy.T, g, dx.T, dW.T, db.T);
            }
            return [y.Span.ToArray(), dx.Span.ToArray(), dW.Span.ToArray(), db.Span.ToArray()];
        }

        using var reference = new CpuReferenceBackend();
        using var simd = new CpuSimdBackend();
        using var simdOneThread = new CpuSimdBackend(threads: 1);
        var expected = Run(reference);
        var actual = Run(simd);
        Compare.Close(actual[0], expected[0], 1e-6 * Math.Sqrt(forwardTerms), 1e-5, "y");
        Compare.Close(actual[1], expected[1], 1e-6 * Math.Sqrt(backwardTerms), 1e-5, "dx");
        Compare.Close(actual[2], expected[2], 1e-5 * Math.Sqrt(filterTerms), 1e-5, "dW (accumulated)");
        Compare.Close(actual[3], expected[3], 1e-5 * Math.Sqrt(filterTerms), 1e-5, "db (accumulated)");
        var again = Run(simdOneThread);
        for (int i = 0; i < actual.Length; i++) Assert.That(again[i], Is.EqualTo(actual[i]), $"output {i} on one thread vs all");
    }

    [TestCase(64, 1), TestCase(128, 7 * 7), TestCase(64, 14 * 14)]
    public void SimdBatchNormMatchesReferenceAtBatch64(int channels, int spatial)
    {
        const int batch = 64;
        int cols = channels * spatial;
        var rng = new System.Random(channels + spatial);
        using var x = Buffer.Random(batch, cols, rng, -2, 4);
        using var gamma = Buffer.Random(1, channels, rng, 0.5, 2);
        using var beta = Buffer.Random(1, channels, rng);
        using var runningMean0 = Buffer.Random(1, channels, rng);
        using var runningVar0 = Buffer.Random(1, channels, rng, 0.5, 2);
        using var dy = Buffer.Random(batch, cols, rng);
        using var dGamma0 = Buffer.Random(1, channels, rng);
        using var dBeta0 = Buffer.Random(1, channels, rng);

        float[][] Run(IBackend backend)
        {
            using var runningMean = runningMean0.Clone();
            using var runningVar = runningVar0.Clone();
            using var y = Buffer.Filled(batch, cols, float.NaN);
            using var yInference = Buffer.Filled(batch, cols, float.NaN);
            using var saveMean = Buffer.Filled(1, channels, float.NaN);
            using var saveInvStd = Buffer.Filled(1, channels, float.NaN);
            using var dx = Buffer.Filled(batch, cols, float.NaN);
            using var dGamma = dGamma0.Clone();
            using var dBeta = dBeta0.Clone();
            backend.BatchNorm2dForwardTraining(x.T, gamma.T, beta.T, channels, Momentum, Epsilon, runningMean.T, runningVar.T, y.T, saveMean.T, saveInvStd.T);
            backend.BatchNorm2dForwardInference(x.T, gamma.T, beta.T, channels, Epsilon, runningMean.T, runningVar.T, yInference.T);
            backend.BatchNorm2dBackward(x.T, gamma.T, dy.T, channels, saveMean.T, saveInvStd.T, dx.T, dGamma.T, dBeta.T);
            return [y.Span.ToArray(), saveMean.Span.ToArray(), saveInvStd.Span.ToArray(), runningMean.Span.ToArray(), runningVar.Span.ToArray(),
                yInference.Span.ToArray(), dx.Span.ToArray(), dGamma.Span.ToArray(), dBeta.Span.ToArray()];
        }

        using var reference = new CpuReferenceBackend();
        using var simd = new CpuSimdBackend();
        using var simdOneThread = new CpuSimdBackend(threads: 1);
        var expected = Run(reference);
        var actual = Run(simd);
        string[] names = ["y", "saveMean", "saveInvStd", "runningMean", "runningVar", "y (inference)", "dx", "dGamma", "dBeta"];
        double sumTolerance = 1e-5 * Math.Sqrt(batch * spatial);
        for (int i = 0; i < names.Length; i++)
            Compare.Close(actual[i], expected[i], i >= 7 ? sumTolerance : 1e-5, 1e-5, names[i]);
        var again = Run(simdOneThread);
        for (int i = 0; i < names.Length; i++) Assert.That(again[i], Is.EqualTo(actual[i]), $"{names[i]} on one thread vs all");
    }

    /// <summary>
    /// The conv's block transpose against the definition: sizes with and without whole 8×8 blocks, padded strides on both
    /// sides, and the padding past each row left as it was (random values everywhere, so a swapped index shows).
    /// </summary>
    [TestCase(1, 1), TestCase(8, 8), TestCase(7, 9), TestCase(49, 64), TestCase(196, 32), TestCase(17, 3), TestCase(64, 49)]
    public unsafe void ConvTransposeOfABlockMatchesTheDefinition(int rows, int cols)
    {
        int lds = cols + 5, ldd = rows + 3;
        var rng = new System.Random(rows * 131 + cols);
        var src = new float[rows * lds];
        var dst = new float[cols * ldd];
        for (int i = 0; i < src.Length; i++) src[i] = (float)rng.NextDouble();
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)rng.NextDouble();
        var before = (float[])dst.Clone();
        fixed (float* s = src, d = dst) CpuConvolution.Transpose(s, rows, cols, lds, d, ldd);
        for (int c = 0; c < cols; c++)
            for (int j = 0; j < ldd; j++)
            {
                float want = j < rows ? src[j * lds + c] : before[c * ldd + j];
                Assert.That(dst[c * ldd + j], Is.EqualTo(want), $"dst[{c}, {j}]");
            }
    }

    /// <summary>The SIMD backend's workspace is grown on demand and then reused: a warm step allocates nothing managed.</summary>
    [Test]
    public void SimdConvAndBatchNormAllocateNothingOnceWarm()
    {
        var g = Geometries[1];
        var rng = new System.Random(12);
        using var backend = new CpuSimdBackend();
        using var x = Buffer.Random(g.Batch, g.InSize, rng);
        using var w = Buffer.Random(g.OutChannels, g.FilterSize, rng);
        using var b = Buffer.Random(1, g.OutChannels, rng);
        using var y = new Buffer(g.Batch, g.OutSize);
        using var dx = new Buffer(g.Batch, g.InSize);
        using var dW = new Buffer(g.OutChannels, g.FilterSize);
        using var db = new Buffer(1, g.OutChannels);
        using var bnBias = new Buffer(1, g.InChannels);
        using var stats = Buffer.Filled(1, g.OutChannels, 1f);
        using var runningMean = new Buffer(1, g.OutChannels);
        using var runningVar = Buffer.Filled(1, g.OutChannels, 1f);
        using var saveMean = new Buffer(1, g.OutChannels);
        using var saveInvStd = new Buffer(1, g.OutChannels);
        void Step()
        {
            backend.Conv2dForward(x.T, w.T, b.T, g, y.T);
            backend.BatchNorm2dForwardTraining(y.T, stats.T, b.T, g.OutChannels, Momentum, Epsilon, runningMean.T, runningVar.T, y.T, saveMean.T, saveInvStd.T);
            backend.BatchNorm2dBackward(y.T, stats.T, y.T, g.OutChannels, saveMean.T, saveInvStd.T, y.T, db.T, db.T);
            backend.Conv2dBackward(x.T, w.T, y.T, g, dx.T, dW.T, db.T);
            backend.ConvTranspose2dForward(y.T, w.T, bnBias.T, g, dx.T);
            backend.ConvTranspose2dBackward(y.T, w.T, dx.T, g, y.T, dW.T, bnBias.T);
        }
        Step();
        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    // ---- helpers

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static double[] AddTwice(double[] start, double[] gradient) => start.Select((v, i) => v + 2 * gradient[i]).ToArray();

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
}
