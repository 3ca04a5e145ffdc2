// CudaBackend: the activations, kernels/activations.cu.
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
    // ---- activations

    public void LeakyReluForward(Tensor x, float slope, Tensor y)
    {
        Shapes.Same(x, y);
        Enter();
        float* px = x.Data, py = y.Data;
        int n = x.Length;
        void** args = stackalloc void*[] { &px, &py, &slope, &n };
        LaunchElementwise(_kernels.LeakyReluForward, n, args);
    }

    public void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx)
    {
        Shapes.Same(x, dy); Shapes.Same(x, dx);
        Enter();
        float* px = x.Data, pdy = dy.Data, pdx = dx.Data;
        int n = x.Length;
        void** args = stackalloc void*[] { &px, &pdy, &pdx, &slope, &n };
        LaunchElementwise(_kernels.LeakyReluBackward, n, args);
    }

    public void ReluForward(Tensor x, Tensor y) => LeakyReluForward(x, 0f, y);

    public void ReluBackward(Tensor x, Tensor dy, Tensor dx) => LeakyReluBackward(x, dy, 0f, dx);

    public void SigmoidForward(Tensor x, Tensor y) => Unary(_kernels.SigmoidForward, x, y);

    public void SigmoidBackward(Tensor y, Tensor dy, Tensor dx) => UnaryBackward(_kernels.SigmoidBackward, y, dy, dx);

    public void TanhForward(Tensor x, Tensor y) => Unary(_kernels.TanhForward, x, y);

    public void TanhBackward(Tensor y, Tensor dy, Tensor dx) => UnaryBackward(_kernels.TanhBackward, y, dy, dx);

    private void Unary(nint kernel, Tensor x, Tensor y, [CallerMemberName] string op = "")
    {
        Shapes.Same(x, y, op);
        Enter();
        float* px = x.Data, py = y.Data;
        int n = x.Length;
        void** args = stackalloc void*[] { &px, &py, &n };
        LaunchElementwise(kernel, n, args);
    }

    private void UnaryBackward(nint kernel, Tensor y, Tensor dy, Tensor dx, [CallerMemberName] string op = "")
    {
        Shapes.Same(y, dy, op); Shapes.Same(y, dx, op);
        Enter();
        float* py = y.Data, pdy = dy.Data, pdx = dx.Data;
        int n = y.Length;
        void** args = stackalloc void*[] { &py, &pdy, &pdx, &n };
        LaunchElementwise(kernel, n, args);
    }
}
