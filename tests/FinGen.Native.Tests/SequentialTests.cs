using FinGen.Native.Backends;
using FinGen.Native.Models;

namespace FinGen.Native.Tests;

/// <summary>
/// The hand-written backward of whole <see cref="Sequential"/> networks (layer wiring, aliasing of no-op and
/// activation layers, batch norm in training mode) against finite differences, and its agreement with <see cref="Mlp"/>.
/// </summary>
[TestFixture]
public sealed class SequentialTests
{
    private static ConvGeometry G(int c, int h, int w, int k, int kernel, int stride, int pad) => new(1, c, h, w, k, kernel, kernel, stride, pad);

    /// <summary>Small networks that use every layer kind, with a no-op or an activation first in some.</summary>
    private static IEnumerable<TestCaseData> Networks()
    {
        // 2×6×5 image → conv(3, k3 s2 p1) 3×3×3 → BN → tanh → flatten → linear 4 → leaky → linear 2
        yield return new TestCaseData("conv-bn-linear", 2 * 6 * 5, (LayerSpec[])
        [
            new Conv2dSpec(G(2, 6, 5, 3, 3, 2, 1)), new BatchNorm2dSpec(3, 9), new ActivationSpec(Activation.Tanh),
            new ReshapeSpec("Flatten", 27), new LinearSpec(27, 4), new ActivationSpec(Activation.LeakyRelu, 0.2f), new LinearSpec(4, 2),
        ]);
        // z 5 → linear 2·3·3 → unflatten → BN → leaky → convT(2→3, 3×3 → 6×6, k4 s2 p1) → sigmoid
        yield return new TestCaseData("linear-bn-convT", 5, (LayerSpec[])
        [
            new LinearSpec(5, 18), new ReshapeSpec("Unflatten", 18), new BatchNorm2dSpec(2, 9), new ActivationSpec(Activation.LeakyRelu, 0.1f),
            new ConvTranspose2dSpec(G(3, 6, 6, 2, 4, 2, 1)), new ActivationSpec(Activation.Sigmoid),
        ]);
        // A reshape and an activation first: their input gradient must be copied out, not aliased.
        yield return new TestCaseData("reshape-first", 8, (LayerSpec[])
        [
            new ReshapeSpec("Unflatten", 8), new ActivationSpec(Activation.Tanh), new Conv2dSpec(G(2, 2, 2, 3, 2, 1, 1)), new ReshapeSpec("Flatten", 27),
        ]);
        // Batch norm first: its dX has no workspace buffer of its own.
        yield return new TestCaseData("bn-first", 2 * 4, (LayerSpec[])
        [
            new BatchNorm2dSpec(2, 4), new ActivationSpec(Activation.Tanh), new LinearSpec(8, 3),
        ]);
    }

    [TestCaseSource(nameof(Networks))]
    public void BackwardMatchesFiniteDifferencesOfTheWholeNetwork(string name, int inputWidth, LayerSpec[] layers)
    {
        using var backend = new CpuReferenceBackend();
        var layout = new ParameterLayout();
        var net = new Sequential(layout, "net", inputWidth, layers);
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(seed: 5, ref offset);
        var rng = new System.Random(name.Length);
        // Batch-norm γ and β start at 1 and 0; random values exercise them better.
        foreach (var e in layout.Entries.Where(e => e.Init == ParameterInit.Constant))
            foreach (ref float v in parameters.Values.All().Span.Slice((int)e.Offset, e.Length)) v = (float)(0.5 + rng.NextDouble());
        const int batch = 3;
        using var workspace = net.CreateWorkspace(backend, batch);
        using var input = Buffer.Random(batch, inputWidth, rng);
        using var upstream = Buffer.Random(batch, net.OutputWidth, rng);
        using var dInput = Buffer.Filled(batch, inputWidth, float.NaN);

        double Loss()
        {
            var y = net.Forward(backend, parameters, input.T, workspace, training: true).Span;
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)y[i] * upstream.Span[i];
            return sum;
        }

        Loss();
        upstream.Span.CopyTo(workspace.OutputGradient(batch).Span);
        parameters.ZeroGradients();
        net.Backward(backend, parameters, input.T, workspace, dInput.T, parameterGradients: true);

        var gradients = parameters.Gradients.All().Span.ToArray();
        var inputGradient = dInput.Span.ToArray();
        FiniteDifferences.Check(Loss, parameters.Values.All().Span, gradients, 3e-3, 3e-2, k => FiniteDifferences.ParameterAt(layout, k));
        FiniteDifferences.Check(Loss, input.Span, inputGradient, 3e-3, 3e-2, k => $"input[{k}]");
    }

    /// <summary>
    /// A conv discriminator with spectral normalization (the conv kernel normalized as the matrix [K, C·R·S], the linear
    /// layer as [Out, In]): the whole network's gradients against finite differences, u and v held as in a step. Tanh
    /// rather than the discriminator's leaky ReLU: a change of one weight moves σ and so every output of its layer, and
    /// finite differences across a kink would measure the kink.
    /// </summary>
    [TestCaseSource(typeof(TestBackends), nameof(TestBackends.Names))]
    public void SpectrallyNormalizedConvNetworkMatchesFiniteDifferences(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var layout = new ParameterLayout();
        var net = new Sequential(layout, "d", 2 * 6 * 5,
        [
            new Conv2dSpec(G(2, 6, 5, 3, 3, 2, 1)), new ActivationSpec(Activation.Tanh), new Conv2dSpec(G(3, 3, 3, 4, 2, 1, 0)),
            new ActivationSpec(Activation.Tanh), new ReshapeSpec("Flatten", 16), new LinearSpec(16, 1),
        ], spectralNorm: true);
        Assert.That(layout.Buffers.Select(b => (b.Name, b.Length)), Is.EqualTo(new[]
        {
            ("d.0.weight_u", 3), ("d.0.weight_v", 2 * 3 * 3), ("d.2.weight_u", 4), ("d.2.weight_v", 3 * 2 * 2), ("d.5.weight_u", 1), ("d.5.weight_v", 16),
        }));
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(seed: 5, ref offset);
        const int batch = 3;
        using var workspace = net.CreateWorkspace(backend, batch);
        for (int i = 0; i < 3; i++) net.SpectralNormalize(backend, parameters, workspace, powerIteration: true);
        var rng = new System.Random(11);
        using var input = Buffer.Random(batch, net.InputWidth, rng);
        using var upstream = Buffer.Random(batch, 1, rng);
        using var dInput = Buffer.Filled(batch, net.InputWidth, float.NaN);

        double Loss()
        {
            net.SpectralNormalize(backend, parameters, workspace, powerIteration: false);
            var y = net.Forward(backend, parameters, input.T, workspace).Span;
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)y[i] * upstream.Span[i];
            return sum;
        }

        Loss();
        upstream.Span.CopyTo(workspace.OutputGradient(batch).Span);
        parameters.ZeroGradients();
        net.Backward(backend, parameters, input.T, workspace, dInput.T, parameterGradients: true);
        var gradients = parameters.Gradients.All().Span.ToArray();
        var inputGradient = dInput.Span.ToArray();
        FiniteDifferences.Check(Loss, parameters.Values.All().Span, gradients, 3e-3, 3e-2, k => FiniteDifferences.ParameterAt(layout, k));
        FiniteDifferences.Check(Loss, input.Span, inputGradient, 3e-3, 3e-2, k => $"input[{k}]");
    }

    [Test]
    public void SpectralNormalizationRefusesATransposedConvolution()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential(new ParameterLayout(), "g", 2 * 3 * 3,
            [new ConvTranspose2dSpec(G(1, 6, 6, 2, 4, 2, 1))], spectralNorm: true));
        Assert.That(e!.Message, Does.Contain("transposed convolution"));
    }

    [Test]
    public void AStackOfLinearLayersEqualsTheMlp()
    {
        using var backend = new CpuReferenceBackend();
        var mlpLayout = new ParameterLayout();
        var mlp = new Mlp(mlpLayout, "net", [6, 5, 4], Activation.LeakyRelu, Activation.Sigmoid, 0.2f);
        var seqLayout = new ParameterLayout();
        var seq = new Sequential(seqLayout, "net", 6,
            [new LinearSpec(6, 5), new ActivationSpec(Activation.LeakyRelu, 0.2f), new LinearSpec(5, 4), new ActivationSpec(Activation.Sigmoid)]);
        using var mlpParams = new ParameterSet(backend, mlpLayout);
        using var seqParams = new ParameterSet(backend, seqLayout);
        ulong a = 0, b = 0;
        mlpParams.Initialize(7, ref a);
        seqParams.Initialize(7, ref b);
        // Same draws in the same order; the names differ by layer index (PyTorch's nn.Sequential counts activations).
        Assert.That(seqLayout.Entries.Select(e => e.Name), Is.EqualTo(new[] { "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias" }));
        Assert.That(seqParams.Values.All().Span.ToArray(), Is.EqualTo(mlpParams.Values.All().Span.ToArray()));

        var rng = new System.Random(3);
        using var input = Buffer.Random(4, 6, rng);
        using var upstream = Buffer.Random(4, 4, rng);
        using var mlpWork = mlp.CreateWorkspace(backend, 4);
        using var seqWork = seq.CreateWorkspace(backend, 4);
        var yMlp = mlp.Forward(backend, mlpParams, input.T, mlpWork).Span.ToArray();
        var ySeq = seq.Forward(backend, seqParams, input.T, seqWork).Span.ToArray();
        Assert.That(ySeq, Is.EqualTo(yMlp));

        using var dxMlp = Buffer.Filled(4, 6, float.NaN);
        using var dxSeq = Buffer.Filled(4, 6, float.NaN);
        upstream.Span.CopyTo(mlpWork.OutputGradient(4).Span);
        upstream.Span.CopyTo(seqWork.OutputGradient(4).Span);
        mlpParams.ZeroGradients();
        seqParams.ZeroGradients();
        mlp.Backward(backend, mlpParams, input.T, mlpWork, dxMlp.T, true);
        seq.Backward(backend, seqParams, input.T, seqWork, dxSeq.T, true);
        Assert.That(dxSeq.Span.ToArray(), Is.EqualTo(dxMlp.Span.ToArray()));
        Assert.That(seqParams.Gradients.All().Span.ToArray(), Is.EqualTo(mlpParams.Gradients.All().Span.ToArray()));
    }

    [Test]
    public void InferenceUsesTheRunningStatisticsThatTrainingUpdates()
    {
        using var backend = new CpuReferenceBackend();
        var layout = new ParameterLayout();
        var net = new Sequential(layout, "bn", 2 * 3, [new BatchNorm2dSpec(2, 3, Momentum: 0.5f)]);
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(1, ref offset);
        Assert.That(layout.Buffers.Select(e => e.Name), Is.EqualTo(new[] { "bn.0.running_mean", "bn.0.running_var" }));
        Assert.That(parameters.Buffer(1).Span.ToArray(), Is.EqualTo(new[] { 1f, 1f }), "running variance starts at 1");

        using var work = net.CreateWorkspace(backend, 2);
        using var x = new Buffer(2, 6);
        // channel 0 holds 1..3 and 4..6 (mean 3.5, unbiased var 3.5); channel 1 holds 10·(1..3), 10·(4..6)
        float[] values = [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60];
        values.CopyTo(x.Span);
        var before = net.Forward(backend, parameters, x.T, work, training: false).Span.ToArray();
        // Inference with the initial statistics (0, 1) and γ = 1, β = 0 is y = x/√(1 + ε).
        Compare.Close(before, values.Select(v => v / Math.Sqrt(1 + 1e-5)).ToArray(), 1e-5, 1e-6, "inference before training");

        net.Forward(backend, parameters, x.T, work, training: true);
        // running = 0.5·initial + 0.5·batch: mean (1.75, 17.5), var 0.5 + 0.5·(3.5, 350)
        Compare.Close(parameters.Buffer(0).Span, new double[] { 1.75, 17.5 }, 1e-5, 1e-6, "running mean");
        Compare.Close(parameters.Buffer(1).Span, new double[] { 2.25, 175.5 }, 1e-4, 1e-6, "running var");
        var after = net.Forward(backend, parameters, x.T, work, training: false).Span.ToArray();
        double[] expected = [.. values.Select((v, i) => (i % 6) < 3 ? (v - 1.75) / Math.Sqrt(2.25 + 1e-5) : (v - 17.5) / Math.Sqrt(175.5 + 1e-5))];
        Compare.Close(after, expected, 1e-5, 1e-5, "inference after training");
    }

    [Test]
    public void MismatchedWidthsAreRejectedWithTheLayerIndex()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential(new ParameterLayout(), "net", 10,
            [new LinearSpec(10, 4), new ActivationSpec(Activation.Relu), new LinearSpec(5, 2)]));
        Assert.That(e!.Message, Does.Contain("layer 2 takes 5 values per row but gets 4"));
    }
}
