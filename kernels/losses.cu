// losses.cu — binary cross-entropy on logits, mean/sum squared error, Gaussian KL; forward and backward.
// defines: fg_bce_logits_forward, fg_bce_logits_backward, fg_mse_forward, fg_mse_backward,
//          fg_gaussian_kl_forward, fg_gaussian_kl_backward, fg_loss_finish
//
// Maths (scale is the caller's normalization, e.g. 1/B):
//   BCE   loss[0] = scale·Σ max(x,0) − x·t + log(1 + e^−|x|)     dlogits = scale·(σ(x) − t)
//   MSE   loss[0] = scale·Σ (p − t)²                            dp      = 2·scale·(p − t)
//   KL    loss[0] = scale·Σ −½(1 + lv − μ² − e^lv)               dmu    += scale·μ
//                                                               dlogvar += scale·½(e^lv − 1)
// The forward terms are computed in double, as the CPU twin does, and rounded to float once at the end:
// loss[0] = (float)((double)scale · Σ). The BCE log term is log(1 + e^−|x|) evaluated in double exactly as
// CpuReferenceBackend writes it (ABI.md's log1p): in double the two agree to far below float resolution.
//
// Gradient contract: dlogits and dp are activation gradients and are OVERWRITTEN. The KL backward is the
// one exception of IBackend: it ACCUMULATES into dmu and dlogvar (+=), because it is always the second
// path into them, after fg_reparameterize_backward has written them.
//
// Determinism: each forward is two launches with no atomics. Stage 1 (the forward kernel) runs G = fg_loss_blocks(n)
// = clamp(⌈n / 8192⌉, 1, 256) blocks of exactly FG_REDUCE_THREADS (512) threads: thread j of block b sums, in double
// and in increasing i, the elements i = b·512 + j, i + G·512, ...; each block adds its 512 partial sums by a fixed
// shared-memory tree (s = 256, 128, ..., 1: sum[j] += sum[j + s]) into partials[b]. Stage 2 (fg_loss_finish) is one
// block of 512 threads adding the G partials by the same tree. The order of every addition is fixed by n alone, so
// two runs give the same bits, and a large loss is spread over up to 256 blocks instead of one. A stage-1 launch with
// another grid or block, or a stage-2 launch that is not one block of 512, makes loss[0] NaN rather than a silently
// different number. `partials` is the caller's scratch of FG_MAX_LOSS_BLOCKS doubles.
#include "common.cuh"

// ---- kernels

// The block's partial sums in a fixed tree; thread 0 gets the total (the others get partial sums). `sums` is the
// block's shared scratch of FG_REDUCE_THREADS doubles. Every thread of the block must call it (it synchronizes).
static __device__ double fg_reduce_block(double partial, double* sums)
{
    const int j = threadIdx.x;
    sums[j] = partial;
    __syncthreads();
#pragma unroll
    for (int s = FG_REDUCE_THREADS / 2; s > 0; s >>= 1)
    {
        if (j < s) sums[j] += sums[j + s];
        __syncthreads();
    }
    return sums[0];
}

// The stage-1 grid of n elements: fg_loss_blocks(n) = clamp(⌈n / FG_LOSS_BLOCK_ITEMS⌉, 1, FG_MAX_LOSS_BLOCKS).
static __device__ __forceinline__ int fg_loss_blocks(int n)
{
    return fg_grid_size(n, FG_LOSS_BLOCK_ITEMS, FG_MAX_LOSS_BLOCKS);
}

// True (for the whole block, so no thread is left waiting at a barrier) when a stage-1 launch is not the one fixed
// configuration for n; thread 0 of block 0 then writes NaN to partials[0], which stage 2 carries into the loss.
static __device__ bool fg_reject_stage1(double* partials, int n)
{
    if (gridDim.x == (unsigned)fg_loss_blocks(n) && blockDim.x == FG_REDUCE_THREADS && blockDim.y == 1 && blockDim.z == 1) return false;
    if (blockIdx.x == 0 && threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) partials[0] = __longlong_as_double(0x7ff8000000000000ll);
    return true;
}

// Stage 1 of the three forwards: block b stores to partials[b] the sum of its threads', thread j of block b taking the
// elements i = b·512 + j, then i + G·512, ... (G = fg_loss_blocks(n)) in increasing order.
#define FG_LOSS_STAGE1(term)                                                                                            \
    if (fg_reject_stage1(partials, n)) return;                                                                          \
    __shared__ double sums[FG_REDUCE_THREADS];                                                                          \
    double partial = 0.0;                                                                                               \
    const long long stride = (long long)FG_REDUCE_THREADS * gridDim.x;                                                  \
    for (long long i = (long long)blockIdx.x * FG_REDUCE_THREADS + threadIdx.x; i < n; i += stride) partial += (term); \
    const double total = fg_reduce_block(partial, sums);                                                                \
    if (threadIdx.x == 0) partials[blockIdx.x] = total;

// The binary cross-entropy term of element i, in double.
static __device__ __forceinline__ double fg_bce_term(const float* logits, const float* targets, long long i)
{
    const double x = logits[i];
    const double t = targets[i];
    return fmax(x, 0.0) - x * t + log(1.0 + exp(-fabs(x)));
}

static __device__ __forceinline__ double fg_squared_error_term(const float* p, const float* t, long long i)
{
    const double d = (double)p[i] - (double)t[i];
    return d * d;
}

static __device__ __forceinline__ double fg_kl_term(const float* mu, const float* logvar, long long i)
{
    const double m = mu[i];
    const double lv = logvar[i];
    return -0.5 * (1.0 + lv - m * m - exp(lv));
}

extern "C" __global__ void __launch_bounds__(FG_REDUCE_THREADS)
fg_bce_logits_forward(const float* logits, const float* targets, double* partials, int n)
{
    FG_LOSS_STAGE1(fg_bce_term(logits, targets, i))
}

extern "C" __global__ void __launch_bounds__(FG_REDUCE_THREADS)
fg_mse_forward(const float* p, const float* t, double* partials, int n)
{
    FG_LOSS_STAGE1(fg_squared_error_term(p, t, i))
}

extern "C" __global__ void __launch_bounds__(FG_REDUCE_THREADS)
fg_gaussian_kl_forward(const float* mu, const float* logvar, double* partials, int n)
{
    FG_LOSS_STAGE1(fg_kl_term(mu, logvar, i))
}

// Stage 2: one block adds the G = fg_loss_blocks(n) partial sums (thread j takes partials[j]) in the same fixed tree
// and stores loss[0] = (float)((double)scale · total). Any other launch writes NaN to loss[0].
extern "C" __global__ void __launch_bounds__(FG_REDUCE_THREADS)
fg_loss_finish(const double* partials, int n, float scale, float* loss)
{
    if (gridDim.x != 1 || blockDim.x != FG_REDUCE_THREADS || blockDim.y != 1 || blockDim.z != 1)
    {
        if (blockIdx.x == 0 && threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) loss[0] = __int_as_float(0x7fc00000);
        return;
    }
    __shared__ double sums[FG_REDUCE_THREADS];
    const int blocks = fg_loss_blocks(n);
    const double total = fg_reduce_block((int)threadIdx.x < blocks ? partials[threadIdx.x] : 0.0, sums);
    if (threadIdx.x == 0) loss[0] = (float)((double)scale * total);
}

extern "C" __global__ void fg_bce_logits_backward(const float* logits, const float* targets, float* dlogits,
                                                  float scale, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        dlogits[i] = scale * (fg_sigmoid(logits[i]) - targets[i]);
    }
}

extern "C" __global__ void fg_mse_backward(const float* p, const float* t, float* dp, float scale, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        dp[i] = 2.0f * scale * (p[i] - t[i]);
    }
}

extern "C" __global__ void fg_gaussian_kl_backward(const float* mu, const float* logvar, float* dmu, float* dlogvar,
                                                   float scale, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        dmu[i] += scale * mu[i];
        dlogvar[i] += scale * 0.5f * (expf(logvar[i]) - 1.0f);
    }
}

// ---- launch configuration
// fg_bce_logits_forward, fg_mse_forward, fg_gaussian_kl_forward (stage 1):
//     grid EXACTLY fg_loss_blocks(n) = clamp(⌈n / FG_LOSS_BLOCK_ITEMS = 8192⌉, 1, FG_MAX_LOSS_BLOCKS = 256),
//     block EXACTLY FG_REDUCE_THREADS = 512 (1-D), 4 KiB of static shared memory; writes partials[0 .. grid).
// fg_loss_finish (stage 2, after stage 1 on the same stream): grid EXACTLY 1, block EXACTLY 512. n = 0 gives loss[0] = 0.
// Anything else makes loss[0] NaN.
// fg_bce_logits_backward, fg_mse_backward, fg_gaussian_kl_backward:
//     block FG_BLOCK_SIZE (256), grid fg_grid_size(n, 256, FG_MAX_GRID_SIZE = 4096); grid-stride, any grid works.
