// batchnorm.cu — batch normalization over (N, H, W) per channel, and the per-channel sum of a convolution's bias
// gradient; forward and backward.
// defines: fg_channel_partial_sums, fg_channel_sum_finish, fg_batchnorm_mean_finish, fg_batchnorm_variance_partials,
//          fg_batchnorm_variance_finish, fg_batchnorm_normalize, fg_batchnorm_forward_inference,
//          fg_batchnorm_backward_partials, fg_batchnorm_backward_finish, fg_batchnorm_backward_data
//
// Layout: x is NCHW with one image per row, x[n, c, i] = x[(n·C + c)·S + i] for spatial index i < S = H·W; channel c
// holds the m = N·S values x[n, c, i]. Per channel c, in double, rounded to float once when stored:
//   training   μ = Σ x / m                       σ² = Σ (x − μ)² / m  (biased, two passes)
//              invStd = 1 / √(σ² + ε)           y = γ·(x − μ)·invStd + β
//              saveMean = μ, saveInvStd = invStd
//              runningMean = (1 − momentum)·runningMean + momentum·μ
//              runningVar  = (1 − momentum)·runningVar  + momentum·σ²·m/(m − 1)   (σ² itself when m = 1)
//   inference  y = γ·(x − runningMean)/√(runningVar + ε) + β
//   backward   x̂ = (x − saveMean)·saveInvStd, Σdy and Σdy·x̂ over the channel, then
//              dx = γ·saveInvStd·(dy − Σdy/m − x̂·Σdy·x̂/m)
//              dGamma += Σdy·x̂            dBeta += Σdy
//   channel sum  dbias[c] += Σ_{n,i} dy[n, c, i]      (a convolution's dB, with S = P·Q)
//
// Each op is a sequence of launches on one stream (the C# side queues them in this order):
//   training     fg_channel_partial_sums(x) → fg_batchnorm_mean_finish → fg_batchnorm_variance_partials
//                → fg_batchnorm_variance_finish → fg_batchnorm_normalize
//   backward     fg_batchnorm_backward_partials → fg_batchnorm_backward_finish → fg_batchnorm_backward_data (when dx)
//   channel sum  fg_channel_partial_sums(dy) → fg_channel_sum_finish
//
// Gradient contract: dx is an activation gradient and is OVERWRITTEN; dGamma, dBeta and dbias are parameter
// gradients and ACCUMULATE (+=). A null dx skips it (fg_batchnorm_backward_data is not launched); null dGamma and dBeta
// skip both (IBackend's empty tensors).
//
// Determinism: every sum is two stages with no atomics, and the order of every addition depends on N, C and S alone,
// so two runs give the same bits, whatever the grid and the timing.
//   Stage 1 (the *_partials kernels): channel c is cut into G = fg_channel_slices(m, C) = clamp(⌈m / 4096⌉, 1,
//   min(256, max(1, 1024 / C))) slices, so that a layer of few channels and a large N·H·W still fills the GPU. Work item
//   p = c·G + b (blocks stride over the C·G items, so any grid ≥ 1 is correct) is one block of exactly
//   FG_CHANNEL_THREADS: thread t sums in double, in increasing j, the channel's elements j = b·256 + t, j + G·256,
//   j + 2·G·256, ...; a fixed shared-memory tree (s = 128, 64, ..., 1: sum[t] += sum[t + s]) adds the 256 sums into
//   partials[p] (the backward runs its two sums through the tree side by side, in 4 KiB).
//   Stage 2 (the *_finish kernels): one block a channel (blocks stride over channels): thread t takes partials[c·G + t]
//   (0 for t ≥ G, G ≤ 256) and the same tree adds them. With G = 1 the result is the one-block-a-channel sum the
//   kernels made before the split.
// A reduction kernel launched with any block shape but 256 × 1 × 1 writes NaN to its first output rather than a
// silently different number. The elementwise kernels (normalize, inference, backward data) reduce nothing and are
// ordinary grid-stride loops.
//
// Workspace (the caller's, kernels/ABI.md): `partials` holds C·G doubles (2·C·G for the backward: Σdy, then Σdy·x̂),
// `stats` 2·C doubles: (μ, invStd) per channel after the forward's stage 2s, (Σdy/m, Σdy·x̂/m) after the backward's.
#include "common.cuh"

// ---- kernels

// G, the slices a channel of m values is cut into; the C# side mirrors it (LaunchConfiguration.ChannelSlices).
static __device__ __forceinline__ int fg_channel_slices(long long m, int channels)
{
    int cap = FG_CHANNEL_TARGET_BLOCKS / channels;
    if (cap < 1) cap = 1;
    if (cap > FG_CHANNEL_THREADS) cap = FG_CHANNEL_THREADS;
    return fg_grid_size(m, FG_CHANNEL_BLOCK_ITEMS, cap);
}

// Address of element j < m = n·s of channel c.
static __device__ __forceinline__ long long fg_channel_offset(long long j, int c, int channels, int spatial)
{
    const long long image = fg_index32(j) / (unsigned)spatial;
    return (image * channels + c) * (long long)spatial + (j - image * spatial);
}

// The channel index of element i of the NCHW buffer (32-bit division: i < n·C·S, an int).
static __device__ __forceinline__ int fg_channel_of(long long i, int channels, int spatial)
{
    return (int)(fg_index32(i) / (unsigned)spatial % (unsigned)channels);
}

// Adds the block's partial sums in a fixed tree; thread 0 gets the total (the others get partial sums). `sums` is the
// block's shared scratch of FG_CHANNEL_THREADS doubles; every thread must call it (it synchronizes). The scratch may be
// reused at once: after the last barrier only thread 0 reads sums[0], before it returns, and no other thread writes it.
static __device__ double fg_block_sum(double partial, double* sums)
{
    const int t = threadIdx.x;
    sums[t] = partial;
    __syncthreads();
#pragma unroll
    for (int s = FG_CHANNEL_THREADS / 2; s > 0; s >>= 1)
    {
        if (t < s) sums[t] += sums[t + s];
        __syncthreads();
    }
    return sums[0];
}

// fg_block_sum of two sums at once (the same tree for each, so the same bits as two calls), with one scratch of
// FG_CHANNEL_THREADS doubles each; thread 0 gets both totals.
static __device__ double2 fg_block_sum2(double a, double b, double* sums_a, double* sums_b)
{
    const int t = threadIdx.x;
    sums_a[t] = a;
    sums_b[t] = b;
    __syncthreads();
#pragma unroll
    for (int s = FG_CHANNEL_THREADS / 2; s > 0; s >>= 1)
    {
        if (t < s)
        {
            sums_a[t] += sums_a[t + s];
            sums_b[t] += sums_b[t + s];
        }
        __syncthreads();
    }
    double2 totals;
    totals.x = sums_a[0];
    totals.y = sums_b[0];
    return totals;
}

// Stage 2 for channel c: its G partial sums partials[c·G + t] (thread t < G) by the fixed tree; thread 0 gets the total.
static __device__ __forceinline__ double fg_channel_total(const double* partials, int c, int slices, double* sums)
{
    const int t = threadIdx.x;
    return fg_block_sum(t < slices ? partials[(long long)c * slices + t] : 0.0, sums);
}

// True (for the whole grid) when the block is not FG_CHANNEL_THREADS × 1 × 1; thread 0 of block 0 then writes NaN to
// `first` and `first_float` (either may be null) so that the mistake shows.
static __device__ bool fg_reject_channel_launch(double* first, float* first_float)
{
    if (blockDim.x == FG_CHANNEL_THREADS && blockDim.y == 1 && blockDim.z == 1) return false;
    if (blockIdx.x == 0 && threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0)
    {
        if (first != nullptr) first[0] = __longlong_as_double(0x7ff8000000000000ll);
        if (first_float != nullptr) first_float[0] = __int_as_float(0x7fc00000);
    }
    return true;
}

// Stage 1 of Σ x per channel (the batch-norm mean, a convolution's bias gradient): partials[c·G + b] = slice b's sum.
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_channel_partial_sums(const float* x, double* partials, int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(partials, nullptr)) return;
    __shared__ double sums[FG_CHANNEL_THREADS];
    const long long m = (long long)n * spatial;
    const int slices = fg_channel_slices(m, channels);
    const int items = channels * slices;  // ≤ max(channels, FG_CHANNEL_TARGET_BLOCKS)
    const long long stride = (long long)slices * FG_CHANNEL_THREADS;
    for (int p = blockIdx.x; p < items; p += gridDim.x)  // uniform across the block: every thread reaches the barriers
    {
        const int c = p / slices, b = p - c * slices;
        double partial = 0.0;
        for (long long j = (long long)b * FG_CHANNEL_THREADS + threadIdx.x; j < m; j += stride)
            partial += (double)x[fg_channel_offset(j, c, channels, spatial)];
        const double total = fg_block_sum(partial, sums);
        if (threadIdx.x == 0) partials[p] = total;
    }
}

// Stage 2 of a convolution's bias gradient: dbias[c] += (float)Σ.
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_channel_sum_finish(const double* partials, float* dbias, int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(nullptr, dbias)) return;
    __shared__ double sums[FG_CHANNEL_THREADS];
    const int slices = fg_channel_slices((long long)n * spatial, channels);
    for (int c = blockIdx.x; c < channels; c += gridDim.x)
    {
        const double total = fg_channel_total(partials, c, slices, sums);
        if (threadIdx.x == 0) dbias[c] += (float)total;
    }
}

// Stage 2 of the mean: stats[c] = μ = Σ / m.
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_batchnorm_mean_finish(const double* partials, double* stats, int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(stats, nullptr)) return;
    __shared__ double sums[FG_CHANNEL_THREADS];
    const long long m = (long long)n * spatial;
    const int slices = fg_channel_slices(m, channels);
    for (int c = blockIdx.x; c < channels; c += gridDim.x)
    {
        const double total = fg_channel_total(partials, c, slices, sums);
        if (threadIdx.x == 0) stats[c] = total / (double)m;
    }
}

// Stage 1 of Σ (x − μ)² per channel, μ = stats[c] from fg_batchnorm_mean_finish.
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_batchnorm_variance_partials(const float* x, const double* stats, double* partials, int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(partials, nullptr)) return;
    __shared__ double sums[FG_CHANNEL_THREADS];
    const long long m = (long long)n * spatial;
    const int slices = fg_channel_slices(m, channels);
    const int items = channels * slices;
    const long long stride = (long long)slices * FG_CHANNEL_THREADS;
    for (int p = blockIdx.x; p < items; p += gridDim.x)
    {
        const int c = p / slices, b = p - c * slices;
        const double mean = stats[c];
        double partial = 0.0;
        for (long long j = (long long)b * FG_CHANNEL_THREADS + threadIdx.x; j < m; j += stride)
        {
            const double d = (double)x[fg_channel_offset(j, c, channels, spatial)] - mean;
            partial += d * d;
        }
        const double total = fg_block_sum(partial, sums);
        if (threadIdx.x == 0) partials[p] = total;
    }
}

// Stage 2 of the variance: σ², invStd = stats[C + c], the saved and running statistics.
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_batchnorm_variance_finish(const double* partials, double* stats, float* save_mean, float* save_inv_std,
                             float* running_mean, float* running_var, float momentum, float epsilon,
                             int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(stats + channels, save_mean)) return;
    __shared__ double sums[FG_CHANNEL_THREADS];
    const long long m = (long long)n * spatial;
    const int slices = fg_channel_slices(m, channels);
    for (int c = blockIdx.x; c < channels; c += gridDim.x)
    {
        const double total = fg_channel_total(partials, c, slices, sums);
        if (threadIdx.x == 0)
        {
            const double mean = stats[c];
            const double variance = total / (double)m;
            const double inv_std = 1.0 / sqrt(variance + (double)epsilon);
            stats[channels + c] = inv_std;
            save_mean[c] = (float)mean;
            save_inv_std[c] = (float)inv_std;
            const double unbiased = m > 1 ? variance * (double)m / (double)(m - 1) : variance;
            const double keep = 1.0 - (double)momentum;
            running_mean[c] = (float)(keep * (double)running_mean[c] + (double)momentum * mean);
            running_var[c] = (float)(keep * (double)running_var[c] + (double)momentum * unbiased);
        }
    }
}

// y = γ·(x − μ)·invStd + β with μ and invStd in double from stats: every element, grid-stride.
extern "C" __global__ void fg_batchnorm_normalize(const float* x, const float* gamma, const float* beta, const double* stats,
                                                  float* y, int n, int channels, int spatial)
{
    const long long total = (long long)n * channels * spatial;
    for (long long i = fg_global_index(); i < total; i += fg_global_stride())
    {
        const int c = fg_channel_of(i, channels, spatial);
        y[i] = (float)((double)gamma[c] * (((double)x[i] - stats[c]) * stats[channels + c]) + (double)beta[c]);
    }
}

extern "C" __global__ void fg_batchnorm_forward_inference(const float* x, const float* gamma, const float* beta,
                                                          const float* running_mean, const float* running_var,
                                                          float* y, float epsilon, int n, int channels, int spatial)
{
    const long long total = (long long)n * channels * spatial;
    for (long long i = fg_global_index(); i < total; i += fg_global_stride())
    {
        const int c = fg_channel_of(i, channels, spatial);
        const double inv_std = 1.0 / sqrt((double)running_var[c] + (double)epsilon);
        y[i] = (float)((double)gamma[c] * (((double)x[i] - (double)running_mean[c]) * inv_std) + (double)beta[c]);
    }
}

// Stage 1 of Σdy and Σdy·x̂ per channel: partials[p] and partials[C·G + p].
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_batchnorm_backward_partials(const float* x, const float* dy, const float* save_mean, const float* save_inv_std,
                               double* partials, int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(partials, nullptr)) return;
    __shared__ double sums[FG_CHANNEL_THREADS], sums_xhat[FG_CHANNEL_THREADS];
    const long long m = (long long)n * spatial;
    const int slices = fg_channel_slices(m, channels);
    const int items = channels * slices;
    const long long stride = (long long)slices * FG_CHANNEL_THREADS;
    for (int p = blockIdx.x; p < items; p += gridDim.x)
    {
        const int c = p / slices, b = p - c * slices;
        const double mean = save_mean[c], inv_std = save_inv_std[c];
        double partial_dy = 0.0, partial_dy_xhat = 0.0;
        for (long long j = (long long)b * FG_CHANNEL_THREADS + threadIdx.x; j < m; j += stride)
        {
            const long long at = fg_channel_offset(j, c, channels, spatial);
            const double g = dy[at];
            partial_dy += g;
            partial_dy_xhat += g * (((double)x[at] - mean) * inv_std);
        }
        const double2 totals = fg_block_sum2(partial_dy, partial_dy_xhat, sums, sums_xhat);
        if (threadIdx.x == 0)
        {
            partials[p] = totals.x;
            partials[items + p] = totals.y;
        }
    }
}

// Stage 2 of the backward: stats = (Σdy/m, Σdy·x̂/m) for fg_batchnorm_backward_data; dgamma += Σdy·x̂, dbeta += Σdy.
extern "C" __global__ void __launch_bounds__(FG_CHANNEL_THREADS)
fg_batchnorm_backward_finish(const double* partials, double* stats, float* dgamma, float* dbeta,
                             int n, int channels, int spatial)
{
    if (fg_reject_channel_launch(stats, dgamma)) return;
    __shared__ double sums[FG_CHANNEL_THREADS];
    const long long m = (long long)n * spatial;
    const int slices = fg_channel_slices(m, channels);
    const int items = channels * slices;
    for (int c = blockIdx.x; c < channels; c += gridDim.x)
    {
        const double sum_dy = fg_channel_total(partials, c, slices, sums);
        const double sum_dy_xhat = fg_channel_total(partials + items, c, slices, sums);
        if (threadIdx.x == 0)
        {
            stats[c] = sum_dy / (double)m;
            stats[channels + c] = sum_dy_xhat / (double)m;
            if (dgamma != nullptr)
            {
                dgamma[c] += (float)sum_dy_xhat;
                dbeta[c] += (float)sum_dy;
            }
        }
    }
}

// dx = γ·invStd·(dy − Σdy/m − x̂·Σdy·x̂/m), the means from stats: every element, grid-stride (OVERWRITES dx).
extern "C" __global__ void fg_batchnorm_backward_data(const float* x, const float* gamma, const float* dy,
                                                      const float* save_mean, const float* save_inv_std,
                                                      const double* stats, float* dx, int n, int channels, int spatial)
{
    const long long total = (long long)n * channels * spatial;
    for (long long i = fg_global_index(); i < total; i += fg_global_stride())
    {
        const int c = fg_channel_of(i, channels, spatial);
        const double mean = save_mean[c], inv_std = save_inv_std[c];
        const double scale = (double)gamma[c] * inv_std;
        const double xhat = ((double)x[i] - mean) * inv_std;
        dx[i] = (float)(scale * ((double)dy[i] - stats[c] - xhat * stats[channels + c]));
    }
}

// ---- launch configuration
// Stage 1 (fg_channel_partial_sums, fg_batchnorm_variance_partials, fg_batchnorm_backward_partials): block EXACTLY
// FG_CHANNEL_THREADS (256) × 1 × 1, grid clamp(C·G, 1, FG_MAX_GRID_SIZE) with G = fg_channel_slices(N·S, C) (blocks
// stride over the C·G work items); 2 KiB static shared memory (fg_batchnorm_backward_partials: 4 KiB).
// Stage 2 (fg_channel_sum_finish, fg_batchnorm_mean_finish, fg_batchnorm_variance_finish, fg_batchnorm_backward_finish):
// block EXACTLY 256 × 1 × 1, grid clamp(C, 1, FG_MAX_GRID_SIZE) (blocks stride over channels); 2 KiB static shared memory.
// fg_batchnorm_normalize, fg_batchnorm_forward_inference, fg_batchnorm_backward_data: FG_BLOCK_SIZE, grid(N·C·S),
// grid-stride.
