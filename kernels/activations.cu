// activations.cu — leaky ReLU (ReLU is slope 0), sigmoid and tanh, forward and backward; the bias add of a
// linear layer fused with its activation.
// defines: fg_leaky_relu_forward, fg_leaky_relu_backward, fg_sigmoid_forward, fg_sigmoid_backward,
//          fg_tanh_forward, fg_tanh_backward, fg_bias_activation_forward
//
// Maths:
//   leaky ReLU   y = x > 0 ? x : slope·x          dx = x > 0 ? dy : slope·dy       (backward takes the input x)
//   sigmoid      y = σ(x), stable for both signs   dx = dy·y·(1 − y)                (backward takes the output y)
//   tanh         y = tanh(x)                       dx = dy·(1 − y²)                 (backward takes the output y)
// The comparison is x > 0, so the gradient at x = 0 is slope·dy, as on the CPU.
//   fg_bias_activation_forward (row-major [rows, cols], after cuBLAS wrote pre = x·Wᵀ):
//     v = pre[r, c] + bias[c];  pre[r, c] = v;  post[r, c] = f(v)
//   with f by `activation`: 0 identity (post is not written; it is pre), 1 leaky ReLU with `slope` (ReLU: 0),
//   2 sigmoid, 3 tanh — the values of fg_bias_add_rows followed by the activation kernel above, bit for bit, in
//   one pass over the layer's output instead of two (pre is kept: the leaky ReLU backward needs it).
//
// Gradient contract: activation gradients are OVERWRITTEN (dx = ...), never accumulated. y may alias x and
// dx may alias dy (each element is read before it is written, by the same thread), so no __restrict__.
// Operation order follows CpuReferenceBackend: dy·y·(1 − y) is (dy·y)·(1 − y), dy·(1 − y²) is dy·(1 − y·y).
#include "common.cuh"

// ---- kernels

extern "C" __global__ void fg_leaky_relu_forward(const float* x, float* y, float slope, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float v = x[i];
        y[i] = v > 0.0f ? v : slope * v;
    }
}

extern "C" __global__ void fg_leaky_relu_backward(const float* x, const float* dy, float* dx, float slope, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float g = dy[i];
        dx[i] = x[i] > 0.0f ? g : slope * g;
    }
}

extern "C" __global__ void fg_sigmoid_forward(const float* x, float* y, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        y[i] = fg_sigmoid(x[i]);
    }
}

extern "C" __global__ void fg_sigmoid_backward(const float* y, const float* dy, float* dx, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float s = y[i];
        dx[i] = dy[i] * s * (1.0f - s);
    }
}

extern "C" __global__ void fg_tanh_forward(const float* x, float* y, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        y[i] = tanhf(x[i]);
    }
}

extern "C" __global__ void fg_tanh_backward(const float* y, const float* dy, float* dx, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float t = y[i];
        dx[i] = dy[i] * (1.0f - t * t);
    }
}

extern "C" __global__ void fg_bias_activation_forward(float* pre, const float* bias, float* post, float slope,
                                                      int activation, int rows, int cols)
{
    const long long n = (long long)rows * cols;
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float v = pre[i] + bias[fg_index32(i) % (unsigned)cols];
        pre[i] = v;
        switch (activation)
        {
            case 1: post[i] = v > 0.0f ? v : slope * v; break;
            case 2: post[i] = fg_sigmoid(v); break;
            case 3: post[i] = tanhf(v); break;
            default: break;  // identity: post is pre
        }
    }
}

// ---- launch configuration
// fg_bias_activation_forward: block 256, grid fg_grid_size(rows·cols, 256, 4096), grid-stride (64-bit loop counter, 32-bit division: fg_index32).
// The other six: block FG_BLOCK_SIZE (256), grid fg_grid_size(n, 256, FG_MAX_GRID_SIZE = 4096).
// Grid-stride loops, so any grid ≥ 1 and any block size are correct. No shared memory.
// Numerics vs. the CPU twin: expf and tanhf are CUDA's (≤ 2 ulp), not glibc's, so sigmoid and tanh may
// differ from MathF.Exp/MathF.Tanh in the last bit or two; leaky ReLU and both backward ops are exact.
