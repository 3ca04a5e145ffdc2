// reparameterize.cu — the VAE's reparameterization trick, forward and backward.
// defines: fg_reparameterize_forward, fg_reparameterize_backward
//
// Maths: σ = e^{½·lv}, z = μ + σ·ε with ε ~ N(0, 1) drawn beforehand (fg_philox_normal), so z is a
// differentiable function of μ and lv:
//   ∂z/∂μ = 1              → dmu     = dz
//   ∂z/∂lv = ½·σ·ε          → dlogvar = dz·½·e^{½·lv}·ε
//
// Gradient contract: dmu and dlogvar are OVERWRITTEN here (this is the first path into them);
// fg_gaussian_kl_backward then accumulates the KL term on top. dz is read before dmu is written, so dmu
// may alias dz. Operation order follows CpuReferenceBackend: ((dz·0.5)·e^{0.5·lv})·ε.
#include "common.cuh"

// ---- kernels

extern "C" __global__ void fg_reparameterize_forward(const float* mu, const float* logvar, const float* eps, float* z,
                                                     int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        z[i] = mu[i] + expf(0.5f * logvar[i]) * eps[i];
    }
}

extern "C" __global__ void fg_reparameterize_backward(const float* logvar, const float* eps, const float* dz,
                                                      float* dmu, float* dlogvar, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        const float g = dz[i];
        dlogvar[i] = g * 0.5f * expf(0.5f * logvar[i]) * eps[i];
        dmu[i] = g;
    }
}

// ---- launch configuration
// Both: block FG_BLOCK_SIZE (256), grid fg_grid_size(n, 256, FG_MAX_GRID_SIZE = 4096); grid-stride, any
// grid works. No shared memory. expf is CUDA's (≤ 2 ulp), so results may differ from MathF.Exp in the last bits.
