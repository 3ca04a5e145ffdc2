// CudaBackend: the losses, kernels/losses.cu.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FinGen.Native.Backends;
using FinGen.Native.Cuda.Interop;
using FinGen.Native.Memory;
using FinGen.Native.Models;

namespace FinGen.Native.Cuda;

public sealed unsafe partial class CudaBackend
{
    // ---- losses: the forward reductions are two launches in a fixed order (partial sums, then loss[0])

    public void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss) =>
        LossForward(_kernels.BceLogitsForward, logits, targets, scale, loss);

    public void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits) =>
        LossBackward(_kernels.BceLogitsBackward, logits, targets, scale, dLogits);

    public void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss) =>
        LossForward(_kernels.MseForward, prediction, target, scale, loss);

    public void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction) =>
        LossBackward(_kernels.MseBackward, prediction, target, scale, dPrediction);

    public void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss) =>
        LossForward(_kernels.GaussianKlForward, mu, logVar, scale, loss);

    public void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar)
    {
        Shapes.Same(mu, logVar); Shapes.Same(mu, dMu); Shapes.Same(mu, dLogVar);
        Enter();
        float* pmu = mu.Data, plv = logVar.Data, pdmu = dMu.Data, pdlv = dLogVar.Data;
        int n = mu.Length;
        void** args = stackalloc void*[] { &pmu, &plv, &pdmu, &pdlv, &scale, &n };
        LaunchElementwise(_kernels.GaussianKlBackward, n, args);
    }

    private void LossForward(nint kernel, Tensor a, Tensor b, float scale, Tensor loss, [CallerMemberName] string op = "")
    {
        Shapes.Same(a, b, op); Shapes.Scalar(loss);
        Enter();
        float* pa = a.Data, pb = b.Data, pl = loss.Data;
        double* partials = _lossPartials;
        int n = a.Length;
        // Two stages, each in a fixed order (kernels/losses.cu): up to 256 blocks of partial sums, then one block adds them.
        void** args = stackalloc void*[] { &pa, &pb, &partials, &n };
        Launch(kernel, LaunchConfiguration.LossGrid(n), LaunchConfiguration.ReductionBlock, args);
        void** finish = stackalloc void*[] { &partials, &n, &scale, &pl };
        Launch(_kernels.LossFinish, 1, LaunchConfiguration.ReductionBlock, finish);
    }

    private void LossBackward(nint kernel, Tensor a, Tensor b, float scale, Tensor grad, [CallerMemberName] string op = "")
    {
        Shapes.Same(a, b, op); Shapes.Same(a, grad, op);
        Enter();
        float* pa = a.Data, pb = b.Data, pg = grad.Data;
        int n = a.Length;
        void** args = stackalloc void*[] { &pa, &pb, &pg, &scale, &n };
        LaunchElementwise(kernel, n, args);
    }
}
