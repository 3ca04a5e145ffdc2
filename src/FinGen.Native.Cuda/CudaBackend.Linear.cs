// CudaBackend: the linear layers: cuBLAS SGEMMs, the bias kernels of kernels/elementwise.cu and the fused bias + activation of kernels/activations.cu.
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
    // ---- linear: cuBLAS is column-major, and a row-major [r, c] buffer read column-major is its transpose (c×r),
    // so each row-major product C = A·B is computed as the column-major Cᵀ = Bᵀ·Aᵀ.

    public void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Shapes.Linear(x, weight, bias, y);
        Enter();
        int batch = x.Rows, inputs = x.Cols, outputs = y.Cols;
        if (y.Length == 0) return;
        // yᵀ (Out×B) = W (Out×In) · xᵀ (In×B): W's buffer reads as Wᵀ, so it is transposed; x's reads as xᵀ.
        Gemm(CublasOperation.Transpose, CublasOperation.None, outputs, batch, inputs,
            weight.Data, inputs, x.Data, inputs, 0f, y.Data, outputs);
        float* py = y.Data, pb = bias.Data;
        void** args = stackalloc void*[] { &py, &pb, &batch, &outputs };
        LaunchElementwise(_kernels.BiasAddRows, y.Length, args);
    }

    public void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Activation activation, float slope, Tensor pre, Tensor post)
    {
        Shapes.Linear(x, weight, bias, pre);
        if (activation != Activation.Identity) Shapes.Same(pre, post);
        Enter();
        int batch = x.Rows, inputs = x.Cols, outputs = pre.Cols;
        if (pre.Length == 0) return;
        Gemm(CublasOperation.Transpose, CublasOperation.None, outputs, batch, inputs,
            weight.Data, inputs, x.Data, inputs, 0f, pre.Data, outputs);
        // fg_bias_activation_forward's codes (kernels/activations.cu); ReLU is leaky ReLU with slope 0.
        int code = activation switch
        {
            Activation.Identity => 0,
            Activation.Relu or Activation.LeakyRelu => 1,
            Activation.Sigmoid => 2,
            Activation.Tanh => 3,
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, null),
        };
        if (activation == Activation.Relu) slope = 0f;
        float* ppre = pre.Data, pb = bias.Data, ppost = post.Data;
        void** args = stackalloc void*[] { &ppre, &pb, &ppost, &slope, &code, &batch, &outputs };
        LaunchElementwise(_kernels.BiasActivationForward, pre.Length, args);
    }

    public void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Shapes.LinearBackward(x, weight, dy, dx, dWeight, dBias);
        Enter();
        int batch = x.Rows, inputs = x.Cols, outputs = dy.Cols;
        if (!dx.IsEmpty && dx.Length > 0)
        {
            // dxᵀ (In×B) = Wᵀ (In×Out) · dyᵀ (Out×B), overwritten (β = 0): both buffers already read that way.
            Gemm(CublasOperation.None, CublasOperation.None, inputs, batch, outputs,
                weight.Data, inputs, dy.Data, outputs, 0f, dx.Data, inputs);
        }
        if (dWeight.IsEmpty) return;
        if (dWeight.Length > 0)
        {
            // dWᵀ (In×Out) += xᵀ (In×B) · dy (B×Out), accumulated (β = 1): dy's buffer reads as dyᵀ, so it is transposed.
            Gemm(CublasOperation.None, CublasOperation.Transpose, inputs, outputs, batch,
                x.Data, inputs, dy.Data, outputs, 1f, dWeight.Data, inputs);
        }
        float* pdy = dy.Data, pdb = dBias.Data;
        void** args = stackalloc void*[] { &pdy, &pdb, &batch, &outputs };
        if (outputs > 0) Launch(_kernels.BiasGradAccumulate, LaunchConfiguration.BiasGradGrid(outputs), LaunchConfiguration.BiasGradBlock, args);
    }
}
