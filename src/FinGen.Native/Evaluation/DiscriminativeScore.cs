using FinGen.Native.Backends.Cpu;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native.Evaluation;

/// <summary>
/// The discriminative score (as TimeGAN's): a small classifier, trained with this engine, tells real windows
/// from synthetic ones; the score is |test accuracy − 0.5|, 0 when it cannot tell them apart. Real windows
/// are split by time (the first 70 % train the classifier, the rest test it) so overlapping windows never
/// sit on both sides; synthetic windows are split at the same fraction.
/// </summary>
public static class DiscriminativeScore
{
    public const int Hidden = 32, Steps = 400, Batch = 64;
    public const double TrainFraction = 0.7;

    /// <param name="real">[realCount, length] windows</param>
    /// <param name="synthetic">[syntheticCount, length] windows</param>
    public static (double Score, double Accuracy) Compute(ReadOnlySpan<double> real, ReadOnlySpan<double> synthetic, int length, ulong seed)
    {
        int realCount = real.Length / length, synthCount = synthetic.Length / length;
        if (realCount < 10 || synthCount < 10) Throw.User($"the discriminative score needs at least 10 windows of each kind, got {realCount} real and {synthCount} synthetic");
        int realTrain = (int)(realCount * TrainFraction), synthTrain = (int)(synthCount * TrainFraction);

        // Standardize with the real training windows' scale so the classifier sees numbers near 1.
        double scale = 0;
        for (int i = 0; i < realTrain * length; i++) scale += real[i] * real[i];
        scale = Math.Sqrt(scale / (realTrain * length));
        if (!(scale > 0)) scale = 1;

        using var backend = new CpuSimdBackend(threads: 1);
        var layout = new ParameterLayout();
        var net = new Mlp(layout, "classifier", [length, Hidden, Hidden, 1], Activation.LeakyRelu, Activation.Identity, 0.2f);
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(seed, ref offset);
        using var optimizer = new Optimizer(backend, parameters, new OptimizerSettings(LearningRate: 1e-3f, Beta1: 0.9f));
        using var workspace = new MlpWorkspace(backend, net, Batch);
        using var memory = backend.Allocate(Batch * (long)length + 2L * Batch + 1);
        var x = memory.Slice(0, Batch, length);
        var targets = memory.Slice((long)Batch * length, Batch, 1);
        var loss = memory.Slice((long)Batch * length + Batch, 1, 1);

        ulong draw = 0;
        for (int step = 0; step < Steps; step++)
        {
            for (int b = 0; b < Batch; b++)
            {
                bool isReal = Philox.NextInt(seed, (ulong)Philox.Stream.Batches, draw++, 2) == 1;
                int row = Philox.NextInt(seed, (ulong)Philox.Stream.Batches, draw++, isReal ? realTrain : synthTrain);
                Copy(isReal ? real : synthetic, row, length, scale, x.Span.Slice(b * length, length));
                targets.Span[b] = isReal ? 1f : 0f;
            }
            parameters.ZeroGradients();
            var logits = net.Forward(backend, parameters, x, workspace);
            backend.BceWithLogitsForward(logits, targets, 1f / Batch, loss);
            backend.BceWithLogitsBackward(logits, targets, 1f / Batch, workspace.OutputGradient(Batch));
            net.Backward(backend, parameters, x, workspace, default, parameterGradients: true);
            optimizer.Step();
        }

        // Balanced accuracy (the mean of the two per-class accuracies): plain accuracy over unequal test
        // counts would reward a classifier that always answers the larger class.
        double realAccuracy = Classify(backend, net, parameters, workspace, x, real, realTrain, realCount, length, scale, expectReal: true);
        double synthAccuracy = Classify(backend, net, parameters, workspace, x, synthetic, synthTrain, synthCount, length, scale, expectReal: false);
        double accuracy = 0.5 * (realAccuracy + synthAccuracy);
        return (Math.Abs(accuracy - 0.5), accuracy);
    }

    private static double Classify(CpuSimdBackend backend, Mlp net, ParameterSet parameters, MlpWorkspace workspace, Tensor x,
        ReadOnlySpan<double> windows, int from, int to, int length, double scale, bool expectReal)
    {
        int correct = 0;
        for (int start = from; start < to; start += Batch)
        {
            int n = Math.Min(Batch, to - start);
            var input = x.SliceRows(0, n);
            for (int b = 0; b < n; b++) Copy(windows, start + b, length, scale, input.Span.Slice(b * length, length));
            var logits = net.Forward(backend, parameters, input, workspace).Span;
            for (int b = 0; b < n; b++) if (logits[b] > 0 == expectReal) correct++;
        }
        return (double)correct / (to - from);
    }

    private static void Copy(ReadOnlySpan<double> windows, int row, int length, double scale, Span<float> destination)
    {
        for (int i = 0; i < length; i++) destination[i] = (float)(windows[row * length + i] / scale);
    }
}
