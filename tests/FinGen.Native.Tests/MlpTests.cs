using FinGen.Native.Backends;
using FinGen.Native.Models;

namespace FinGen.Native.Tests;

/// <summary>The hand-written backward of a whole MLP (layer wiring, activation order) against finite differences.</summary>
[TestFixture]
public sealed class MlpTests
{
    [TestCase(Activation.LeakyRelu, Activation.Sigmoid)]
    [TestCase(Activation.Relu, Activation.Identity)]
    [TestCase(Activation.Tanh, Activation.Tanh)]
    public void BackwardMatchesFiniteDifferencesOfTheWholeNetwork(Activation hidden, Activation output)
    {
        using var backend = new CpuReferenceBackend();
        var layout = new ParameterLayout();
        var mlp = new Mlp(layout, "net", [5, 7, 6, 3], hidden, output, 0.2f);
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(seed: 3, ref offset);
        using var workspace = new MlpWorkspace(backend, mlp, 4);
        var rng = new System.Random(8);
        using var input = Buffer.Random(4, 5, rng);
        using var upstream = Buffer.Random(4, 3, rng);
        using var dInput = Buffer.Filled(4, 5, float.NaN);

        // Loss = Σ upstream ⊙ output, summed in double from the float forward.
        double Loss()
        {
            var y = mlp.Forward(backend, parameters, input.T, workspace).Span;
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)y[i] * upstream.Span[i];
            return sum;
        }

        Loss();
        upstream.Span.CopyTo(workspace.OutputGradient(4).Span);
        parameters.ZeroGradients();
        mlp.Backward(backend, parameters, input.T, workspace, dInput.T, parameterGradients: true);

        var gradients = parameters.Gradients.All().Span.ToArray();
        FiniteDifferences.Check(Loss, parameters.Values.All().Span, gradients, 2e-3, 2e-2, k => FiniteDifferences.ParameterAt(layout, k));
        FiniteDifferences.Check(Loss, input.Span, dInput.Span.ToArray(), 2e-3, 2e-2, k => $"input[{k}]");
    }

    /// <summary>
    /// With spectral normalization every layer uses W/σ(W); the gradient of the whole network with respect to W (through
    /// σ, with u and v the constants they are within a step) and to the input against finite differences, after a few
    /// power iterations have moved u and v away from their random start.
    /// </summary>
    [TestCaseSource(typeof(TestBackends), nameof(TestBackends.Names))]
    public void SpectrallyNormalizedBackwardMatchesFiniteDifferencesOfTheWholeNetwork(string backendName)
    {
        using var backend = TestBackends.Create(backendName);
        var layout = new ParameterLayout();
        var mlp = new Mlp(layout, "net", [5, 7, 6, 1], Activation.LeakyRelu, Activation.Identity, 0.2f, spectralNorm: true);
        Assert.That(layout.Buffers.Select(b => b.Name), Is.EqualTo(new[]
        {
            "net.0.weight_u", "net.0.weight_v", "net.1.weight_u", "net.1.weight_v", "net.2.weight_u", "net.2.weight_v",
        }));
        using var parameters = new ParameterSet(backend, layout);
        ulong offset = 0;
        parameters.Initialize(seed: 3, ref offset);
        using var workspace = mlp.CreateWorkspace(backend, 4);
        for (int i = 0; i < 3; i++) mlp.SpectralNormalize(backend, parameters, workspace, powerIteration: true);
        var rng = new System.Random(8);
        using var input = Buffer.Random(4, 5, rng);
        using var upstream = Buffer.Random(4, 1, rng);
        using var dInput = Buffer.Filled(4, 5, float.NaN);

        double Loss()
        {
            mlp.SpectralNormalize(backend, parameters, workspace, powerIteration: false);
            var y = mlp.Forward(backend, parameters, input.T, workspace).Span;
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)y[i] * upstream.Span[i];
            return sum;
        }

        var vectors = parameters.StateBuffers!.All().Span.ToArray();
        Loss();
        upstream.Span.CopyTo(workspace.OutputGradient(4).Span);
        parameters.ZeroGradients();
        mlp.Backward(backend, parameters, input.T, workspace, dInput.T, parameterGradients: true);

        var gradients = parameters.Gradients.All().Span.ToArray();
        FiniteDifferences.Check(Loss, parameters.Values.All().Span, gradients, 2e-3, 2e-2, k => FiniteDifferences.ParameterAt(layout, k));
        FiniteDifferences.Check(Loss, input.Span, dInput.Span.ToArray(), 2e-3, 2e-2, k => $"input[{k}]");
        Assert.That(parameters.StateBuffers!.All().Span.ToArray(), Is.EqualTo(vectors), "only a power iteration moves u and v");
    }
}
