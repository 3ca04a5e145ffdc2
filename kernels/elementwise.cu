// elementwise.cu — fills, sums and bias broadcasts.
// defines: fg_fill, fg_add, fg_bias_add_rows, fg_bias_grad_accumulate
//
// Maths (row-major, y[r, c] = y[r·cols + c]):
//   fg_fill                  y[i] = value
//   fg_add                   y[i] = a[i] + b[i]                  (y may alias a or b)
//   fg_bias_add_rows         y[r, c] += bias[c]                  (the bias half of LinearForward; cuBLAS does x·Wᵀ)
//   fg_bias_grad_accumulate  dbias[c] += Σ_r dy[r, c]            (the bias half of LinearBackward)
//
// Gradient contract: fg_bias_grad_accumulate ACCUMULATES into the parameter gradient dbias (+=), like every
// parameter gradient. Its sum is taken in float by 8 row groups (rows g, g + 8, ... in order), added by a fixed tree,
// then to dbias[c] once: deterministic (the order depends on rows alone), within float rounding of
// CpuReferenceBackend.LinearBackward's single pass over the rows.
// fg_add is how two activation-gradient paths are joined (overwrite, y = a + b).
#include "common.cuh"

// ---- kernels

extern "C" __global__ void fg_fill(float* y, float value, int n)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        y[i] = value;
    }
}

extern "C" __global__ void fg_add(const float* a, const float* b, float* y, int n)
{
    // No __restrict__: y may alias a or b. Each element is read and written by the same thread only.
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        y[i] = a[i] + b[i];
    }
}

extern "C" __global__ void fg_bias_add_rows(float* y, const float* bias, int rows, int cols)
{
    const long long n = (long long)rows * cols;
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        y[i] += bias[fg_index32(i) % (unsigned)cols];
    }
}

// A block of FG_BIAS_GRAD_THREADS (256) takes a tile of 32 columns: thread t is lane t % 32 (the column, so a warp reads
// 32 neighbouring columns of a row, coalesced) of row group g = t / 32, which sums in float the rows g, g + 8, g + 16,
// ... in order; the 8 group sums are then added by a fixed tree (g += g + 4, g + 2, g + 1) and once into dbias[c].
// Blocks stride over tiles, so any grid is correct. Eight threads share each column's rows, where one thread looped
// over all of them before (a layer of output width 1 had one busy thread). Any block shape but 256 × 1 × 1 writes NaN
// to dbias[0].
extern "C" __global__ void __launch_bounds__(FG_BIAS_GRAD_THREADS)
fg_bias_grad_accumulate(const float* dy, float* dbias, int rows, int cols)
{
    if (blockDim.x != FG_BIAS_GRAD_THREADS || blockDim.y != 1 || blockDim.z != 1)
    {
        if (blockIdx.x == 0 && threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) dbias[0] = __int_as_float(0x7fc00000);
        return;
    }
    __shared__ float sums[FG_BIAS_GRAD_THREADS];
    const int lane = threadIdx.x % 32, group = threadIdx.x / 32;
    const int groups = FG_BIAS_GRAD_THREADS / 32;
    const int tiles = (cols + 31) / 32;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x)  // uniform across the block: every thread reaches the barriers
    {
        const int c = tile * 32 + lane;
        float sum = 0.0f;
        if (c < cols)
            for (int r = group; r < rows; r += groups) sum += dy[(long long)r * cols + c];
        sums[threadIdx.x] = sum;
        __syncthreads();
        for (int s = groups / 2; s > 0; s >>= 1)
        {
            if (group < s) sums[threadIdx.x] += sums[threadIdx.x + s * 32];
            __syncthreads();
        }
        if (group == 0 && c < cols) dbias[c] += sums[lane];
        __syncthreads();  // the next tile reuses sums
    }
}

// ---- launch configuration
// fg_fill, fg_add            block FG_BLOCK_SIZE (256), grid fg_grid_size(n, 256, FG_MAX_GRID_SIZE)
// fg_bias_add_rows           block 256, grid fg_grid_size(rows·cols, 256, 4096)
// fg_bias_grad_accumulate    block EXACTLY FG_BIAS_GRAD_THREADS (256), grid fg_grid_size(cols, 32, 4096) (a block a
//                            tile of 32 columns; blocks stride over tiles); 1 KiB of static shared memory
// Every kernel is correct for any grid ≥ 1; the three grid-stride ones for any block size too. Only the bias
// gradient uses shared memory and barriers.
