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

        var values = parameters.Values.All().Span;
        var gradients = parameters.Gradients.All().Span.ToArray();
        const float h = 1e-3f; // float forward: big enough that rounding noise stays small, small enough to stay off ReLU kinks
        foreach (var e in parameters.Entries)
        {
            for (int i = 0; i < e.Length; i++)
            {
                int k = (int)e.Offset + i;
                float saved = values[k];
                values[k] = saved + h; double plus = Loss();
                values[k] = saved - h; double minus = Loss();
                values[k] = saved;
                double expected = (plus - minus) / (2 * h);
                Assert.That(gradients[k], Is.EqualTo(expected).Within(2e-3 + 2e-2 * Math.Abs(expected)), $"{e.Name}[{i}]");
            }
        }
        var x = input.Span;
        for (int i = 0; i < x.Length; i++)
        {
            float saved = x[i];
            x[i] = saved + h; double plus = Loss();
            x[i] = saved - h; double minus = Loss();
            x[i] = saved;
            double expected = (plus - minus) / (2 * h);
            Assert.That(dInput.Span[i], Is.EqualTo(expected).Within(2e-3 + 2e-2 * Math.Abs(expected)), $"input[{i}]");
        }
    }
}
