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
// parameter gradient. Its sum is a float started at 0 and taken over the rows in order r = 0, 1, ..., then
// added to dbias[c] once — the exact order of CpuReferenceBackend.LinearBackward, so the bits agree.
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

// One thread a column: neighbouring threads read neighbouring columns of a row (coalesced), and each
// column's sum runs over the rows in a fixed order with no atomics.
extern "C" __global__ void fg_bias_grad_accumulate(const float* dy, float* dbias, int rows, int cols)
{
    for (long long c = fg_global_index(); c < cols; c += fg_global_stride())
    {
        float sum = 0.0f;
        for (int r = 0; r < rows; ++r)
        {
            sum += dy[(long long)r * cols + c];
        }
        dbias[c] += sum;
    }
}

// ---- launch configuration
// fg_fill, fg_add            block FG_BLOCK_SIZE (256), grid fg_grid_size(n, 256, FG_MAX_GRID_SIZE)
// fg_bias_add_rows           block 256, grid fg_grid_size(rows·cols, 256, 4096)
// fg_bias_grad_accumulate    block 256, grid fg_grid_size(cols, 256, 4096)   (work items are columns)
// Every grid-stride kernel is correct for any grid ≥ 1 and any block size; the numbers above are the
// recommended ones. No shared memory, no synchronization.
