// philox.cu — standard normal numbers from the counter-based Philox4x32-10 generator.
// defines: fg_philox_normal, fg_philox_normal_at, fg_philox_student_t, fg_philox_student_t_at
//
// Maths: y[i] = normal number k = offset + i of (seed, stream), where normal number k is lane k % 4 of
// Philox block k / 4 (key = seed, counter = (block, stream); see fg_philox_block in common.cuh). A block's
// four words give two Box–Muller pairs in double, (w0, w1) → lanes 0, 1 and (w2, w3) → lanes 2, 3:
//   u = (w + 0.5)·2⁻³², r = √(−2 ln u₀), θ = 2π·u₁, lanes (r cos θ, r sin θ), each rounded once to float.
// This is Philox.FillNormal in C# number for number: the values depend only on (seed, stream, k), never on
// the launch configuration, so any split of a draw into calls with consecutive offsets gives the same floats.
// The only possible differences from the CPU are last-ulp differences between CUDA's and glibc's double
// log/sin/cos, which change the rounded float only when the double lands within an ulp of a float midpoint.
//
// fg_philox_normal_at is the same draw at offset = *offset_at + delta, the first read from device memory when the
// kernel runs: a training step keeps its noise position there (the step scalars, see kernels/ABI.md) so that a
// captured CUDA graph draws fresh noise on every replay instead of the noise of the step it was captured on.
//
// fg_philox_student_t(_at) draws Student-t numbers of unit variance with ν = degrees (3 … 64) degrees of freedom:
// y[i] = z₀·√((ν − 2) / (z₁² + … + z_ν²)) for k = offset + i, where z_j is normal number k·(ν + 1) + j (the floats
// above), the squares summed in order j = 1 … ν in double and the result rounded once to float; Philox.FillStudentT
// in C# number for number (same operation order; -fmad=false keeps the products unfused).
//
// Gradient contract: none (noise has no gradient); y is overwritten.
#include "common.cuh"

// ---- kernels

// Writes the normals of Philox block `block` that fall inside [offset, end) to y[k − offset]: all four,
// except at the two ends of the range when offset or end is not a multiple of 4. __host__ __device__ so
// that kernels/tests/host_test.cu can run the kernel's exact indexing on the CPU.
static inline __host__ __device__ void fg_philox_normal_block(float* y, unsigned long long seed,
                                                              unsigned long long stream, unsigned long long block,
                                                              unsigned long long offset, unsigned long long end)
{
    const uint4 w = fg_philox_block(seed, stream, block);
    const float2 lanes01 = fg_box_muller(w.x, w.y);
    const float2 lanes23 = fg_box_muller(w.z, w.w);
    const unsigned long long k0 = block << 2;  // normal number of lane 0
    if (k0 + 0 >= offset && k0 + 0 < end) y[k0 + 0 - offset] = lanes01.x;
    if (k0 + 1 >= offset && k0 + 1 < end) y[k0 + 1 - offset] = lanes01.y;
    if (k0 + 2 >= offset && k0 + 2 < end) y[k0 + 2 - offset] = lanes23.x;
    if (k0 + 3 >= offset && k0 + 3 < end) y[k0 + 3 - offset] = lanes23.y;
}

// One thread a Philox block: the blocks touched by [offset, offset + n) are offset / 4 … (offset + n − 1) / 4.
static inline __device__ void fg_philox_normal_range(float* y, int n, unsigned long long seed, unsigned long long stream,
                                                     unsigned long long offset)
{
    if (n <= 0) return;
    const unsigned long long end = offset + (unsigned long long)n;  // one past the last normal number
    const unsigned long long first = offset >> 2;
    const long long blocks = (long long)(((end - 1) >> 2) - first) + 1;
    for (long long j = fg_global_index(); j < blocks; j += fg_global_stride())
    {
        fg_philox_normal_block(y, seed, stream, first + (unsigned long long)j, offset, end);
    }
}

extern "C" __global__ void fg_philox_normal(float* y, int n, unsigned long long seed, unsigned long long stream,
                                            unsigned long long offset)
{
    fg_philox_normal_range(y, n, seed, stream, offset);
}

extern "C" __global__ void fg_philox_normal_at(float* y, int n, unsigned long long seed, unsigned long long stream,
                                               const unsigned long long* offset_at, unsigned long long delta)
{
    fg_philox_normal_range(y, n, seed, stream, *offset_at + delta);
}

// Normal number n of (seed, stream): lane n % 4 of Philox block n / 4, its Box–Muller pair computed on its own.
static inline __host__ __device__ float fg_philox_normal_number(unsigned long long seed, unsigned long long stream,
                                                               unsigned long long n)
{
    const uint4 w = fg_philox_block(seed, stream, n >> 2);
    const unsigned int lane = (unsigned int)(n & 3);
    const float2 pair = lane < 2 ? fg_box_muller(w.x, w.y) : fg_box_muller(w.z, w.w);
    return (lane & 1) == 0 ? pair.x : pair.y;
}

// Student-t number k (one thread a number; a block's Box–Muller pair is recomputed per lane it serves, which costs
// at most 4× the normals' work: the noise is a few hundred numbers a sample against the generator's GEMMs).
static inline __host__ __device__ float fg_student_t_number(unsigned long long seed, unsigned long long stream,
                                                           unsigned long long k, int degrees)
{
    const unsigned long long first = k * (unsigned long long)(degrees + 1);
    const float z0 = fg_philox_normal_number(seed, stream, first);
    double sum = 0.0;
    for (int j = 1; j <= degrees; j++)
    {
        const float z = fg_philox_normal_number(seed, stream, first + (unsigned long long)j);
        sum += (double)z * z;
    }
    return (float)(z0 * sqrt((double)(degrees - 2) / sum));
}

static inline __device__ void fg_philox_student_t_range(float* y, int n, unsigned long long seed, unsigned long long stream,
                                                        unsigned long long offset, int degrees)
{
    for (long long i = fg_global_index(); i < n; i += fg_global_stride())
    {
        y[i] = fg_student_t_number(seed, stream, offset + (unsigned long long)i, degrees);
    }
}

extern "C" __global__ void fg_philox_student_t(float* y, int n, unsigned long long seed, unsigned long long stream,
                                               unsigned long long offset, int degrees)
{
    fg_philox_student_t_range(y, n, seed, stream, offset, degrees);
}

extern "C" __global__ void fg_philox_student_t_at(float* y, int n, unsigned long long seed, unsigned long long stream,
                                                  const unsigned long long* offset_at, unsigned long long delta, int degrees)
{
    fg_philox_student_t_range(y, n, seed, stream, *offset_at + delta, degrees);
}

// ---- launch configuration
// Both kernels: block FG_BLOCK_SIZE (256); the work items are Philox blocks, at most n / 4 + 2 of them, so
// grid = fg_grid_size(n / 4 + 2, 256, FG_MAX_GRID_SIZE = 4096). Any grid ≥ 1 is correct (grid-stride).
// No shared memory. offset + n must not exceed 2⁶⁴ (the CPU wraps there too, but the block range would not).
// fg_philox_student_t, fg_philox_student_t_at: block 256, grid(n), grid-stride over the numbers; degrees must be in
// 3 … 64 (the C# side checks).
