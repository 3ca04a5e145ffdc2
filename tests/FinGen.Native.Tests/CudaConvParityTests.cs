using FinGen.Native.Backends;
using FinGen.Native.Cuda;
using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

/// <summary>
/// The CUDA backend's convolutions (cuDNN) and batch normalization (kernels/batchnorm.cu) against the scalar CPU
/// reference, on the DCGAN's shapes (batch 64, 28×28 images, kernel 4, stride 2, padding 1) and ragged ones: every
/// buffer an op touches is compared afterwards, inputs included, and the worst element is reported. Gradients
/// follow IBackend's contract, so dX starts as NaN (it must be overwritten) and dW, dB, dGamma, dBeta start random
/// (they must be accumulated into). Where no device answers every test is ignored with the probe's reason.
/// </summary>
[TestFixture]
public sealed unsafe class CudaConvParityTests : CudaFixture
{
    // ---- shapes

    private static TestCaseData Case(string name, ConvGeometry g) => new TestCaseData(g).SetArgDisplayNames(name);

    /// <summary>The discriminator's convolutions and two ragged ones (odd sizes, a non-square kernel, no padding).</summary>
    private static IEnumerable<TestCaseData> ConvCases() =>
    [
        Case("D1 1to64 28to14", new ConvGeometry(64, 1, 28, 28, 64, 4, 4, 2, 1)),
        Case("D2 64to128 14to7", new ConvGeometry(64, 64, 14, 14, 128, 4, 4, 2, 1)),
        Case("ragged 5to6 9x7 k3x2 s2 p1", new ConvGeometry(3, 5, 9, 7, 6, 3, 2, 2, 1)),
        Case("ragged 3to4 6x5 k3 s1 p0", new ConvGeometry(2, 3, 6, 5, 4, 3, 3, 1, 0)),
    ];

    /// <summary>
    /// The generator's transposed convolutions, each given as the convolution whose data gradient it is: 128→64 7→14
    /// is the convolution 64→128 14→7, and 64→1 14→28 the convolution 1→64 28→14. Plus the ragged ones.
    /// </summary>
    private static IEnumerable<TestCaseData> TransposedCases() =>
    [
        Case("G1 128to64 7to14", new ConvGeometry(64, 64, 14, 14, 128, 4, 4, 2, 1)),
        Case("G2 64to1 14to28", new ConvGeometry(64, 1, 28, 28, 64, 4, 4, 2, 1)),
        Case("ragged 6to5 5x4to9x7 k3x2 s2 p1", new ConvGeometry(3, 5, 9, 7, 6, 3, 2, 2, 1)),
        Case("ragged 4to3 4x3to6x5 k3 s1 p0", new ConvGeometry(2, 3, 6, 5, 4, 3, 3, 1, 0)),
    ];

    /// <summary>(batch, channels, H·W): after the discriminator's second convolution, after the generator's first
    /// transposed one, ragged ones down to one value per image (a BatchNorm1d), and few channels of many values, which
    /// kernels/batchnorm.cu cuts into G slices each (G = 64, 7 with a ragged last slice, 48, and 256 = the cap, where
    /// a slice's threads stride more than once), and 300 channels of 12292, where the cap of about 1024 blocks in all
    /// gives G = 3 instead of 4.</summary>
    private static IEnumerable<TestCaseData> BatchNormCases() =>
        from s in new[] { (64, 128, 49), (64, 64, 196), (3, 5, 21), (7, 1, 10), (5, 3, 1), (64, 1, 4096), (9, 3, 3000), (3, 2, 65536), (17, 1, 65536), (7, 300, 1756) }
        select new TestCaseData(s.Item1, s.Item2, s.Item3).SetArgDisplayNames($"N{s.Item1} C{s.Item2} S{s.Item3}");

    // Sums of `terms` float products of values in [-1, 1], added in different orders by cuDNN and the CPU.
    private static double SumAtol(long terms) => 3e-5 * Math.Sqrt(terms);

    private const double Rtol = 1e-5;

    // ---- the harness: run an op on both backends from the same initial buffers, compare every buffer after

    /// <summary>A buffer and its tolerance when compared (the call's when negative).</summary>
    private sealed record Named(string Name, Buffer Buffer, double Atol = -1, double Rtol = -1);

    private static Named In(string name, Buffer buffer, double atol = -1, double rtol = -1) => new(name, buffer, atol, rtol);

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
            {
                var b = buffers[i];
                Compare.Close(device[i].Read(), host[i].Span, b.Atol >= 0 ? b.Atol : atol, b.Rtol >= 0 ? b.Rtol : rtol, $"{op}: {b.Name}");
            }
        }
        finally
        {
            foreach (var b in host) b.Dispose();
            foreach (var d in device) d.Dispose();
            foreach (var b in buffers) b.Buffer.Dispose();
        }
    }

    /// <summary>Runs <paramref name="run"/> twice on the device from the same inputs and asks for the same bits.</summary>
    private void Deterministic(string op, Named[] buffers, Action<IBackend, Tensor[]> run)
    {
        var cuda = Cuda();
        var results = new List<float[][]>();
        try
        {
            for (int attempt = 0; attempt < 2; attempt++)
            {
                var device = buffers.Select(b => new DeviceBuffer(cuda, b.Buffer)).ToArray();
                try
                {
                    run(cuda, device.Select(d => d.T).ToArray());
                    results.Add(device.Select(d => d.Read()).ToArray());
                }
                finally
                {
                    foreach (var d in device) d.Dispose();
                }
            }
            for (int i = 0; i < buffers.Length; i++)
                Assert.That(results[1][i], Is.EqualTo(results[0][i]), $"{op}: {buffers[i].Name} differs between two runs");
        }
        finally
        {
            foreach (var b in buffers) b.Buffer.Dispose();
        }
    }

    // ---- convolution

    [TestCaseSource(nameof(ConvCases))]
    public void Conv2dForwardMatches(ConvGeometry g)
    {
        var rng = new System.Random(g.GetHashCode());
        double atol = SumAtol(g.FilterSize);
        Parity("Conv2dForward", atol, Rtol,
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("b", Buffer.Random(1, g.OutChannels, rng)), In("y", Buffer.Filled(g.Batch, g.OutSize, float.NaN))],
            (b, t) => b.Conv2dForward(t[0], t[1], t[2], g, t[3]));
        Parity("Conv2dForward without bias", atol, Rtol,
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("y", Buffer.Filled(g.Batch, g.OutSize, float.NaN))],
            (b, t) => b.Conv2dForward(t[0], t[1], default, g, t[2]));
    }

    [TestCaseSource(nameof(ConvCases))]
    public void Conv2dBackwardMatchesOverwritingDxAndAccumulatingDwDb(ConvGeometry g)
    {
        var rng = new System.Random(g.GetHashCode() + 1);
        long outputTerms = (long)g.Batch * g.OutHeight * g.OutWidth;
        Parity("Conv2dBackward", 0, Rtol,
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("dy", Buffer.Random(g.Batch, g.OutSize, rng)),
             In("dx", Buffer.Filled(g.Batch, g.InSize, float.NaN), SumAtol((long)g.OutChannels * g.KernelHeight * g.KernelWidth)),
             In("dW", Buffer.Random(g.OutChannels, g.FilterSize, rng), SumAtol(outputTerms)),
             In("dB", Buffer.Random(1, g.OutChannels, rng), SumAtol(outputTerms))],
            (b, t) => b.Conv2dBackward(t[0], t[1], t[2], g, t[3], t[4], t[5]));
    }

    [Test]
    public void Conv2dBackwardSkipsWhatIsEmpty()
    {
        var g = new ConvGeometry(3, 5, 9, 7, 6, 3, 2, 2, 1);
        var rng = new System.Random(5);
        Parity("Conv2dBackward dx only", 1e-4, Rtol,
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("dy", Buffer.Random(g.Batch, g.OutSize, rng)), In("dx", Buffer.Filled(g.Batch, g.InSize, float.NaN))],
            (b, t) => b.Conv2dBackward(t[0], t[1], t[2], g, t[3], default, default));
        Parity("Conv2dBackward dW only", 1e-4, Rtol,
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("dy", Buffer.Random(g.Batch, g.OutSize, rng)), In("dW", Buffer.Random(g.OutChannels, g.FilterSize, rng))],
            (b, t) => b.Conv2dBackward(t[0], t[1], t[2], g, default, t[3], default));
        Parity("Conv2dBackward dB only", 1e-4, Rtol,
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("dy", Buffer.Random(g.Batch, g.OutSize, rng)), In("dB", Buffer.Random(1, g.OutChannels, rng))],
            (b, t) => b.Conv2dBackward(t[0], t[1], t[2], g, default, default, t[3]));
    }

    // ---- transposed convolution: x is [N, K·P·Q], y is [N, C·H·W], bias over C

    [TestCaseSource(nameof(TransposedCases))]
    public void ConvTranspose2dForwardMatches(ConvGeometry g)
    {
        var rng = new System.Random(g.GetHashCode() + 2);
        double atol = SumAtol((long)g.OutChannels * g.KernelHeight * g.KernelWidth);
        Parity("ConvTranspose2dForward", atol, Rtol,
            [In("x", Buffer.Random(g.Batch, g.OutSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("b", Buffer.Random(1, g.InChannels, rng)), In("y", Buffer.Filled(g.Batch, g.InSize, float.NaN))],
            (b, t) => b.ConvTranspose2dForward(t[0], t[1], t[2], g, t[3]));
        Parity("ConvTranspose2dForward without bias", atol, Rtol,
            [In("x", Buffer.Random(g.Batch, g.OutSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("y", Buffer.Filled(g.Batch, g.InSize, float.NaN))],
            (b, t) => b.ConvTranspose2dForward(t[0], t[1], default, g, t[2]));
    }

    [TestCaseSource(nameof(TransposedCases))]
    public void ConvTranspose2dBackwardMatchesOverwritingDxAndAccumulatingDwDb(ConvGeometry g)
    {
        var rng = new System.Random(g.GetHashCode() + 3);
        long outputTerms = (long)g.Batch * g.OutHeight * g.OutWidth;
        Parity("ConvTranspose2dBackward", 0, Rtol,
            [In("x", Buffer.Random(g.Batch, g.OutSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("dy", Buffer.Random(g.Batch, g.InSize, rng)),
             In("dx", Buffer.Filled(g.Batch, g.OutSize, float.NaN), SumAtol(g.FilterSize)),
             In("dW", Buffer.Random(g.OutChannels, g.FilterSize, rng), SumAtol(outputTerms)),
             In("dB", Buffer.Random(1, g.InChannels, rng), SumAtol((long)g.Batch * g.InHeight * g.InWidth))],
            (b, t) => b.ConvTranspose2dBackward(t[0], t[1], t[2], g, t[3], t[4], t[5]));
    }

    [Test]
    public void ConvolutionGradientsAreDeterministic()
    {
        // The DCGAN's largest weight gradients, where a non-deterministic cuDNN algorithm would use atomics.
        var d2 = new ConvGeometry(64, 64, 14, 14, 128, 4, 4, 2, 1);
        var rng = new System.Random(11);
        Deterministic("Conv2dBackward",
            [In("x", Buffer.Random(d2.Batch, d2.InSize, rng)), In("w", Buffer.Random(d2.OutChannels, d2.FilterSize, rng)),
             In("dy", Buffer.Random(d2.Batch, d2.OutSize, rng)), In("dx", new Buffer(d2.Batch, d2.InSize)),
             In("dW", new Buffer(d2.OutChannels, d2.FilterSize)), In("dB", new Buffer(1, d2.OutChannels))],
            (b, t) => b.Conv2dBackward(t[0], t[1], t[2], d2, t[3], t[4], t[5]));
        var g2 = new ConvGeometry(64, 1, 28, 28, 64, 4, 4, 2, 1);
        Deterministic("ConvTranspose2dBackward",
            [In("x", Buffer.Random(g2.Batch, g2.OutSize, rng)), In("w", Buffer.Random(g2.OutChannels, g2.FilterSize, rng)),
             In("dy", Buffer.Random(g2.Batch, g2.InSize, rng)), In("dx", new Buffer(g2.Batch, g2.OutSize)),
             In("dW", new Buffer(g2.OutChannels, g2.FilterSize)), In("dB", new Buffer(1, g2.InChannels))],
            (b, t) => b.ConvTranspose2dBackward(t[0], t[1], t[2], g2, t[3], t[4], t[5]));
    }

    // ---- batch normalization (statistics in double on the GPU)

    private static Buffer PositiveVariances(int channels, System.Random rng) => Buffer.Random(1, channels, rng, 0.25, 2);

    [TestCaseSource(nameof(BatchNormCases))]
    public void BatchNormTrainingMatchesAndUpdatesRunningStatistics(int batch, int channels, int spatial)
    {
        var rng = new System.Random(batch * 1000 + channels * 10 + spatial);
        int cols = channels * spatial;
        Parity("BatchNorm2dForwardTraining", 1e-5, 1e-5,
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("beta", Buffer.Random(1, channels, rng)), In("runningMean", Buffer.Random(1, channels, rng)),
             In("runningVar", PositiveVariances(channels, rng)), In("y", Buffer.Filled(batch, cols, float.NaN)),
             In("saveMean", Buffer.Filled(1, channels, float.NaN)), In("saveInvStd", Buffer.Filled(1, channels, float.NaN))],
            (b, t) => b.BatchNorm2dForwardTraining(t[0], t[1], t[2], channels, 0.1f, 1e-5f, t[3], t[4], t[5], t[6], t[7]));
    }

    [TestCaseSource(nameof(BatchNormCases))]
    public void BatchNormInferenceMatches(int batch, int channels, int spatial)
    {
        var rng = new System.Random(batch * 999 + channels * 7 + spatial);
        int cols = channels * spatial;
        Parity("BatchNorm2dForwardInference", 1e-5, 1e-5,
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("beta", Buffer.Random(1, channels, rng)), In("runningMean", Buffer.Random(1, channels, rng)),
             In("runningVar", PositiveVariances(channels, rng)), In("y", Buffer.Filled(batch, cols, float.NaN))],
            (b, t) => b.BatchNorm2dForwardInference(t[0], t[1], t[2], channels, 1e-5f, t[3], t[4], t[5]));
    }

    [TestCaseSource(nameof(BatchNormCases))]
    public void BatchNormBackwardMatchesOverwritingDxAndAccumulatingDGammaDBeta(int batch, int channels, int spatial)
    {
        var rng = new System.Random(batch * 998 + channels * 5 + spatial);
        int cols = channels * spatial;
        long m = (long)batch * spatial;
        // The saved statistics come from a training forward on each backend, as in a real step.
        Parity("BatchNorm2dBackward", 2e-5, 1e-4,
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("beta", Buffer.Random(1, channels, rng)), In("runningMean", new Buffer(1, channels)),
             In("runningVar", Buffer.Filled(1, channels, 1f)), In("y", Buffer.Filled(batch, cols, float.NaN)),
             In("saveMean", Buffer.Filled(1, channels, float.NaN)), In("saveInvStd", Buffer.Filled(1, channels, float.NaN)),
             In("dy", Buffer.Random(batch, cols, rng)), In("dx", Buffer.Filled(batch, cols, float.NaN)),
             In("dGamma", Buffer.Random(1, channels, rng), SumAtol(m)), In("dBeta", Buffer.Random(1, channels, rng), SumAtol(m))],
            (b, t) =>
            {
                b.BatchNorm2dForwardTraining(t[0], t[1], t[2], channels, 0.1f, 1e-5f, t[3], t[4], t[5], t[6], t[7]);
                b.BatchNorm2dBackward(t[0], t[1], t[8], channels, t[6], t[7], t[9], t[10], t[11]);
            });
    }

    [Test]
    public void BatchNormBackwardSkipsWhatIsEmptyAndIsDeterministic()
    {
        const int batch = 64, channels = 64, spatial = 196, cols = channels * spatial;
        var rng = new System.Random(17);
        Parity("BatchNorm2dBackward dx only", 2e-5, 1e-4,
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("dy", Buffer.Random(batch, cols, rng)), In("saveMean", Buffer.Random(1, channels, rng)),
             In("saveInvStd", Buffer.Random(1, channels, rng, 0.5, 2)), In("dx", Buffer.Filled(batch, cols, float.NaN))],
            (b, t) => b.BatchNorm2dBackward(t[0], t[1], t[2], channels, t[3], t[4], t[5], default, default));
        Parity("BatchNorm2dBackward parameters only", SumAtol((long)batch * spatial), 1e-4,
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("dy", Buffer.Random(batch, cols, rng)), In("saveMean", Buffer.Random(1, channels, rng)),
             In("saveInvStd", Buffer.Random(1, channels, rng, 0.5, 2)),
             In("dGamma", Buffer.Random(1, channels, rng)), In("dBeta", Buffer.Random(1, channels, rng))],
            (b, t) => b.BatchNorm2dBackward(t[0], t[1], t[2], channels, t[3], t[4], default, t[5], t[6]));
        Deterministic("BatchNorm2dForwardTraining + Backward",
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("beta", Buffer.Random(1, channels, rng)), In("runningMean", new Buffer(1, channels)),
             In("runningVar", Buffer.Filled(1, channels, 1f)), In("y", new Buffer(batch, cols)),
             In("saveMean", new Buffer(1, channels)), In("saveInvStd", new Buffer(1, channels)),
             In("dy", Buffer.Random(batch, cols, rng)), In("dx", new Buffer(batch, cols)),
             In("dGamma", new Buffer(1, channels)), In("dBeta", new Buffer(1, channels))],
            (b, t) =>
            {
                b.BatchNorm2dForwardTraining(t[0], t[1], t[2], channels, 0.1f, 1e-5f, t[3], t[4], t[5], t[6], t[7]);
                b.BatchNorm2dBackward(t[0], t[1], t[8], channels, t[6], t[7], t[9], t[10], t[11]);
            });
    }

    /// <summary>
    /// Few channels of many values, split over many blocks: forward and backward twice from the same inputs give the
    /// same bits (the stand-in shuffles the thread order of every launch differently, so a sum whose order depended on
    /// it would differ), and the conv bias gradient's channel sum likewise.
    /// </summary>
    [Test]
    public void BatchNormOfFewChannelsWithManyValuesIsDeterministic()
    {
        const int batch = 16, channels = 2, spatial = 16384, cols = channels * spatial;
        var rng = new System.Random(23);
        Deterministic("BatchNorm2dForwardTraining + Backward, 2 channels of 262144",
            [In("x", Buffer.Random(batch, cols, rng, -2, 5)), In("gamma", Buffer.Random(1, channels, rng, 0.5, 1.5)),
             In("beta", Buffer.Random(1, channels, rng)), In("runningMean", new Buffer(1, channels)),
             In("runningVar", Buffer.Filled(1, channels, 1f)), In("y", new Buffer(batch, cols)),
             In("saveMean", new Buffer(1, channels)), In("saveInvStd", new Buffer(1, channels)),
             In("dy", Buffer.Random(batch, cols, rng)), In("dx", new Buffer(batch, cols)),
             In("dGamma", new Buffer(1, channels)), In("dBeta", new Buffer(1, channels))],
            (b, t) =>
            {
                b.BatchNorm2dForwardTraining(t[0], t[1], t[2], channels, 0.1f, 1e-5f, t[3], t[4], t[5], t[6], t[7]);
                b.BatchNorm2dBackward(t[0], t[1], t[8], channels, t[6], t[7], t[9], t[10], t[11]);
            });
        var g = new ConvGeometry(16, 1, 64, 64, 3, 3, 3, 1, 1);
        Deterministic("Conv2dBackward dB only, 3 channels of 65536",
            [In("x", Buffer.Random(g.Batch, g.InSize, rng)), In("w", Buffer.Random(g.OutChannels, g.FilterSize, rng)),
             In("dy", Buffer.Random(g.Batch, g.OutSize, rng)), In("dB", new Buffer(1, g.OutChannels))],
            (b, t) => b.Conv2dBackward(t[0], t[1], t[2], g, default, default, t[3]));
    }

    /// <summary>
    /// A layer of few channels and a large N·H·W spreads each channel's reductions over many blocks (one block a channel
    /// would leave all but a few SMs idle). The launch shape is what a GPU's profiler shows; the stand-in reports it
    /// through its fgStandInLastLaunch hook, so on a GPU this test is ignored (the parity cases above cover the results).
    /// </summary>
    [Test]
    public void BatchNormOfFewChannelsSpreadsEachChannelOverManyBlocks()
    {
        var cuda = Cuda();
        if (!CudaDeviceInfo.QueryAll()[0].IsStandIn) Assert.Ignore("only the stand-in reports the launch shape of each kernel");
        var lastLaunch = (delegate* unmanaged<byte*, uint*, uint*, int>)System.Runtime.InteropServices.NativeLibrary.GetExport(
            NativeLibraries.Load(NativeLibraries.Cuda).Handle, "fgStandInLastLaunch");
        (uint Grid, uint Block) Last(string kernel)
        {
            uint grid = 0, block = 0;
            byte[] name = System.Text.Encoding.ASCII.GetBytes(kernel + "\0");
            int status;
            fixed (byte* p = name) status = lastLaunch(p, &grid, &block);
            Assert.That(status, Is.Zero, $"{kernel}: no launch recorded (status {status}); the per-channel reduction is not the two-stage one");
            return (grid, block);
        }

        // One channel of 64·4096 = 262144 values: 64 slices of 4096, one block each.
        const int batch = 64, channels = 1, spatial = 4096, cols = channels * spatial;
        var rng = new System.Random(29);
        var buffers = new[]
        {
            Buffer.Random(batch, cols, rng, -2, 5), Buffer.Random(1, channels, rng, 0.5, 1.5), Buffer.Random(1, channels, rng),
            new Buffer(1, channels), Buffer.Filled(1, channels, 1f), new Buffer(batch, cols), new Buffer(1, channels),
            new Buffer(1, channels), Buffer.Random(batch, cols, rng), new Buffer(batch, cols), new Buffer(1, channels), new Buffer(1, channels),
        };
        var device = buffers.Select(b => new DeviceBuffer(cuda, b)).ToArray();
        try
        {
            var t = device.Select(d => d.T).ToArray();
            cuda.BatchNorm2dForwardTraining(t[0], t[1], t[2], channels, 0.1f, 1e-5f, t[3], t[4], t[5], t[6], t[7]);
            cuda.BatchNorm2dBackward(t[0], t[1], t[8], channels, t[6], t[7], t[9], t[10], t[11]);
            cuda.Synchronize();
            foreach (string stage1 in new[] { "fg_channel_partial_sums", "fg_batchnorm_variance_partials", "fg_batchnorm_backward_partials" })
                Assert.That(Last(stage1), Is.EqualTo((64u, 256u)), $"{stage1}: one channel of {batch * spatial} values in 64 blocks of 256");
            foreach (string stage2 in new[] { "fg_batchnorm_mean_finish", "fg_batchnorm_variance_finish", "fg_batchnorm_backward_finish" })
                Assert.That(Last(stage2), Is.EqualTo((1u, 256u)), $"{stage2}: one block a channel adds its slices");
        }
        finally
        {
            foreach (var d in device) d.Dispose();
            foreach (var b in buffers) b.Dispose();
        }

        // A convolution's bias gradient over 3 output channels of 16·64·64 = 65536 values: 16 slices a channel.
        var g = new ConvGeometry(16, 1, 64, 64, 3, 3, 3, 1, 1);
        using var x = new DeviceBuffer(cuda, Buffer.Random(g.Batch, g.InSize, rng));
        using var w = new DeviceBuffer(cuda, Buffer.Random(g.OutChannels, g.FilterSize, rng));
        using var dy = new DeviceBuffer(cuda, Buffer.Random(g.Batch, g.OutSize, rng));
        using var dB = new DeviceBuffer(cuda, new Buffer(1, g.OutChannels));
        cuda.Conv2dBackward(x.T, w.T, dy.T, g, default, default, dB.T);
        cuda.Synchronize();
        Assert.That(Last("fg_channel_partial_sums"), Is.EqualTo((48u, 256u)), "the bias gradient: 3 channels × 16 slices");
        Assert.That(Last("fg_channel_sum_finish"), Is.EqualTo((3u, 256u)), "the bias gradient: one block a channel adds its slices");
    }

    /// <summary>One contract for every backend: batch-norm training needs more than one value per channel (N·H·W > 1).</summary>
    [Test]
    public void BatchNormTrainingRefusesOneValuePerChannelLikeTheCpu()
    {
        var cuda = Cuda();
        using var cpu = new CpuReferenceBackend();
        const int channels = 3;
        foreach (IBackend backend in new IBackend[] { cpu, cuda })
        {
            using var x = backend.Allocate(channels); using var y = backend.Allocate(channels);
            using var stats = backend.Allocate(6L * channels);
            Tensor Row(DeviceMemory m, int i) => m.Slice((long)i * channels, 1, channels);
            var e = Assert.Throws<ArgumentException>(() => backend.BatchNorm2dForwardTraining(x.Slice(0, 1, channels), Row(stats, 0), Row(stats, 1),
                channels, 0.1f, 1e-5f, Row(stats, 2), Row(stats, 3), y.Slice(0, 1, channels), Row(stats, 4), Row(stats, 5)), backend.Name);
            Assert.That(e!.Message, Does.Contain("more than one value per channel"), backend.Name);
        }
    }

    /// <summary>
    /// The backend takes a deterministic FMA algorithm when cuDNN ranks a non-deterministic one first (as it does for the
    /// backward passes), and says so when only a non-deterministic one is offered (the stand-in can be told to offer only
    /// that, through its fgStandInSetOption).
    /// </summary>
    [Test]
    public void ANonDeterministicCudnnAlgorithmIsUsedOnlyWhenNothingElseIsAndIsNoted()
    {
        var g = new ConvGeometry(2, 3, 6, 5, 4, 3, 3, 1, 1);
        void Backward(CudaBackend backend)
        {
            var rng = new System.Random(5);
            using var x = new DeviceBuffer(backend, Buffer.Random(g.Batch, g.InSize, rng));
            using var w = new DeviceBuffer(backend, Buffer.Random(g.OutChannels, g.FilterSize, rng));
            using var dy = new DeviceBuffer(backend, Buffer.Random(g.Batch, g.OutSize, rng));
            using var dx = new DeviceBuffer(backend, Buffer.Filled(g.Batch, g.InSize, 0f));
            using var dw = new DeviceBuffer(backend, Buffer.Filled(g.OutChannels, g.FilterSize, 0f));
            backend.Conv2dBackward(x.T, w.T, dy.T, g, dx.T, dw.T, default);
            backend.Synchronize();
        }
        bool standIn = CudaDeviceInfo.QueryAll()[0].IsStandIn;
        using (var usual = CudaBackend.Create())
        {
            Backward(usual);
            TestContext.Out.WriteLine($"notes: {string.Join("; ", usual.Notes)}");
            // On a GPU the notes are cuDNN's own answer for this shape (reported above); the stand-in ranks a deterministic
            // algorithm second, so the backend must have found it.
            if (standIn) Assert.That(usual.Notes, Is.Empty, "a deterministic algorithm was available for every pass");
        }
        if (!standIn) Assert.Ignore("only the stand-in can be told to offer non-deterministic algorithms alone");
        var setOption = (delegate* unmanaged<byte*, int, int>)System.Runtime.InteropServices.NativeLibrary.GetExport(
            NativeLibraries.Load(NativeLibraries.Cudnn).Handle, "fgStandInSetOption");
        fixed (byte* name = "cudnn_nondeterministic_only\0"u8)
        {
            Assert.That(setOption(name, 1), Is.Zero);
            try
            {
                using var forced = CudaBackend.Create();
                Backward(forced);
                Assert.That(forced.Notes, Has.Count.EqualTo(2).And.All.Contain("only non-deterministic"), string.Join("; ", forced.Notes));
            }
            finally
            {
                setOption(name, 0);
            }
        }
    }
}
