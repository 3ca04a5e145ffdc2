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
}
