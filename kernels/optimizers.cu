// optimizers.cu — SGD with momentum and Adam, one update over a contiguous parameter block.
// defines: fg_sgd_step, fg_adam_step
//
// Maths:
//   SGD   hyper = [lr, momentum]:        v = momentum·v + g;  p −= lr·v     (plain gradient descent at momentum 0)
//   Adam  hyper = [lr, β1, β2, ε], t = *step ≥ 1 (Kingma & Ba, with bias correction):
//         m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g·g
//         m̂ = m / (1 − β1ᵗ);  v̂ = v / (1 − β2ᵗ);  p −= lr·m̂ / (√v̂ + ε)
//
// Hyper-parameters and t are read from device memory, not passed by value, so a captured CUDA graph
// replays one training step as is: the host rewrites them (the step scalars, kernels/ABI.md) with an
// asynchronous copy queued before each replay; a training step passes step = hyper + 4 (t in the fifth
// float's bits).
//
// Gradient contract: g is read only (zeroing it for the next step is the caller's job); p, v and m are
// updated in place. Operation order follows CpuReferenceBackend.SgdStep/AdamStep in float; βᵗ is
// MathF.Pow(β, t) there and (float)pow((double)β, t) here — both are the float nearest to βᵗ except in
// rare ties, where CUDA's powf (≤ 4 ulp) would not be. t < 1 is the caller's error (the CPU throws);
// here it gives 1 − β⁰ = 0 and so inf/NaN parameters.
#include "common.cuh"

// ---- kernels

extern "C" __global__ void fg_sgd_step(float* p, const float* g, float* velocity, const float* hyper, int n)
{
    const float lr = hyper[0];
    const float momentum = hyper[1];
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float v = momentum * velocity[i] + g[i];
        velocity[i] = v;
        p[i] -= lr * v;
    }
}

extern "C" __global__ void fg_adam_step(float* p, const float* g, float* m, float* v, const float* hyper,
                                        const int* step, int n)
{
    const float lr = hyper[0];
    const float beta1 = hyper[1];
    const float beta2 = hyper[2];
    const float epsilon = hyper[3];
    const int t = *step;
    const float correction1 = 1.0f - (float)pow((double)beta1, (double)t);
    const float correction2 = 1.0f - (float)pow((double)beta2, (double)t);
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float gi = g[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float m_hat = mi / correction1;
        const float v_hat = vi / correction2;
        p[i] -= lr * m_hat / (sqrtf(v_hat) + epsilon);
    }
}

// ---- launch configuration
// Both: block FG_BLOCK_SIZE (256), grid fg_grid_size(n, 256, FG_MAX_GRID_SIZE = 4096); grid-stride, any
// grid works. No shared memory. Every thread computes the two bias corrections itself (two double pows),
// which is why the grid is capped rather than one thread per element.
