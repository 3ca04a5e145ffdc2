// spectralnorm.cu — spectral normalization of a weight matrix (Miyato et al. 2018); forward and backward.
// defines: fg_spectral_norm_power, fg_spectral_norm_scale, fg_spectral_norm_dot, fg_spectral_norm_backward
//
// Maths, for W [rows, cols] row-major (a conv kernel [K, C·R·S]) with persistent unit vectors u [rows] and v [cols]:
//   power (iterate ≠ 0)  v_j = (Wᵀu)_j / ‖Wᵀu‖        then  u_i = (Wv)_i / ‖Wv‖            (u and v updated in place)
//   power                σ = Σ_i u_i·r_i  with r_i = (Wv)_i                                  (σ = uᵀWv)
//   scale                normalized = W / σ                                                 (float division)
//   dot                  dot = ⟨G, W⟩ = Σ G_k·W_k                                          (G = dL/d(W/σ))
//   backward             dW_ij += G_ij/σ − (c·u_i)·v_j  with c = dot/σ²                     (u, v constants: dσ/dW = u vᵀ)
// Rounding, exactly as CpuReferenceBackend.SpectralNormForward/Backward (IBackend's contract): every component of Wᵀu
// and Wv is a sum in double in increasing index, rounded to float where stored (v_j, r_i, then u_i = r_i/‖r‖); norms
// and σ are sums in double (a norm below FG_SPECTRAL_EPSILON counts as it, PyTorch's normalize); the backward element
// is computed in double and rounded once. Only the order of the norms', σ's and dot's additions differs from the CPU's
// (a fixed tree here, sequential there), far below float resolution.
//
// Gradient contract: dW is a parameter gradient and ACCUMULATES (+=). u, v, σ and normalized are outputs of the
// forward, not gradients; `dot` is the backend's scratch of one double between the two backward launches.
//
// Launches: the power iteration and the dot are reductions over the whole matrix, each ONE block of exactly
// FG_SPECTRAL_THREADS threads with no atomics (thread t takes the columns, rows or elements t, t + 256, ... in
// increasing order, a fixed shared-memory tree adds the 256 partial sums), so two runs give the same bits; any other
// launch writes NaN to its output (σ or dot) instead of a silently different number. Scale and backward are ordinary
// grid-stride loops. The training step's matrices are small (the largest default one 128 × 784), so one block is a
// few microseconds, and it keeps every step of the iteration in one launch: no grid-wide synchronization is needed.
#include "common.cuh"

// The smallest norm a vector is divided by (torch.nn.functional.normalize's eps).
#define FG_SPECTRAL_EPSILON 1e-12

// ---- kernels

// The block's partial sums in a fixed tree, returned to every thread. `sums` is the block's shared scratch of
// FG_SPECTRAL_THREADS doubles; every thread must call (it synchronizes, also before returning, so the scratch can be
// reused at once and everything the block wrote before the call is visible to all of it after).
static __device__ double fg_spectral_block_sum(double partial, double* sums)
{
    const int t = threadIdx.x;
    sums[t] = partial;
    __syncthreads();
#pragma unroll
    for (int s = FG_SPECTRAL_THREADS / 2; s > 0; s >>= 1)
    {
        if (t < s) sums[t] += sums[t + s];
        __syncthreads();
    }
    const double total = sums[0];
    __syncthreads();
    return total;
}

// True (for every thread of every block, so none waits at a barrier) unless the launch is one block of
// FG_SPECTRAL_THREADS × 1 × 1; thread 0 of block 0 then writes NaN to `first` so that the mistake shows.
template <typename T>
static __device__ bool fg_reject_spectral_launch(T* first)
{
    if (gridDim.x == 1 && gridDim.y == 1 && gridDim.z == 1 && blockDim.x == FG_SPECTRAL_THREADS && blockDim.y == 1 && blockDim.z == 1)
        return false;
    if (blockIdx.x == 0 && threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) first[0] = (T)__longlong_as_double(0x7ff8000000000000ll);
    return true;
}

// (Wx)_i = Σ_j W_ij·x_j in double, j increasing.
static __device__ __forceinline__ double fg_spectral_row_dot(const float* w, const float* x, int row, int cols)
{
    const float* wr = w + (long long)row * cols;
    double sum = 0.0;
    for (int j = 0; j < cols; ++j) sum += (double)wr[j] * (double)x[j];
    return sum;
}

extern "C" __global__ void __launch_bounds__(FG_SPECTRAL_THREADS)
fg_spectral_norm_power(const float* w, float* u, float* v, float* sigma, int rows, int cols, int iterate)
{
    if (fg_reject_spectral_launch(sigma)) return;
    __shared__ double sums[FG_SPECTRAL_THREADS];
    const int t = threadIdx.x;
    double sigma_partial = 0.0;
    if (iterate)
    {
        // v = Wᵀu: thread t the columns t, t + 256, ..., each a sum down the rows (a warp reads 32 neighbouring columns
        // of a row, coalesced).
        double squares = 0.0;
        for (int j = t; j < cols; j += FG_SPECTRAL_THREADS)
        {
            double sum = 0.0;
            for (int i = 0; i < rows; ++i) sum += (double)w[(long long)i * cols + j] * (double)u[i];
            const float vj = (float)sum;
            v[j] = vj;
            squares += (double)vj * (double)vj;
        }
        const double v_norm = fmax(sqrt(fg_spectral_block_sum(squares, sums)), FG_SPECTRAL_EPSILON);
        for (int j = t; j < cols; j += FG_SPECTRAL_THREADS) v[j] = (float)((double)v[j] / v_norm);
        __syncthreads();  // every thread reads all of v below

        // u = Wv / ‖Wv‖: thread t the rows t, t + 256, ...; r = Wv waits in u until its norm is known (u is no longer
        // read by anyone: the block sum above synchronized after the last read of Wᵀu).
        squares = 0.0;
        for (int i = t; i < rows; i += FG_SPECTRAL_THREADS)
        {
            const float r = (float)fg_spectral_row_dot(w, v, i, cols);
            u[i] = r;
            squares += (double)r * (double)r;
        }
        const double u_norm = fmax(sqrt(fg_spectral_block_sum(squares, sums)), FG_SPECTRAL_EPSILON);
        for (int i = t; i < rows; i += FG_SPECTRAL_THREADS)
        {
            const float r = u[i];  // written by this same thread
            const float ui = (float)((double)r / u_norm);
            u[i] = ui;
            sigma_partial += (double)ui * (double)r;
        }
    }
    else
    {
        for (int i = t; i < rows; i += FG_SPECTRAL_THREADS)
            sigma_partial += (double)u[i] * (double)(float)fg_spectral_row_dot(w, v, i, cols);
    }
    const double s = fg_spectral_block_sum(sigma_partial, sums);
    if (t == 0) sigma[0] = (float)s;
}

extern "C" __global__ void fg_spectral_norm_scale(const float* w, const float* sigma, float* normalized, int n)
{
    const float s = sigma[0];
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        normalized[i] = w[i] / s;
    }
}

extern "C" __global__ void __launch_bounds__(FG_SPECTRAL_THREADS)
fg_spectral_norm_dot(const float* g, const float* w, double* dot, int n)
{
    if (fg_reject_spectral_launch(dot)) return;
    __shared__ double sums[FG_SPECTRAL_THREADS];
    double partial = 0.0;
    for (long long i = threadIdx.x; i < n; i += FG_SPECTRAL_THREADS) partial += (double)g[i] * (double)w[i];
    const double total = fg_spectral_block_sum(partial, sums);
    if (threadIdx.x == 0) dot[0] = total;
}

extern "C" __global__ void fg_spectral_norm_backward(const float* g, const float* u, const float* v, const float* sigma,
                                                     const double* dot, float* dw, int rows, int cols)
{
    const double s = (double)sigma[0];
    const double c = dot[0] / (s * s);
    const long long n = (long long)rows * cols;
    for (long long k = fg_global_index(); k < n; k += fg_global_stride())
    {
        const unsigned int at = fg_index32(k);
        const unsigned int i = at / (unsigned)cols, j = at - i * (unsigned)cols;
        dw[k] += (float)((double)g[k] / s - (c * (double)u[i]) * (double)v[j]);
    }
}

// ---- launch configuration
// fg_spectral_norm_power, fg_spectral_norm_dot   grid EXACTLY 1, block EXACTLY FG_SPECTRAL_THREADS (256); 2 KiB of
//                                                 static shared memory; any other launch writes NaN to sigma[0] / dot[0]
// fg_spectral_norm_scale                          block 256, grid fg_grid_size(n, 256, 4096)
// fg_spectral_norm_backward                       block 256, grid fg_grid_size(rows·cols, 256, 4096)
// The scale and backward kernels are correct for any grid ≥ 1 and any block size.
