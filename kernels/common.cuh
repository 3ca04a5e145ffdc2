// common.cuh — helpers shared by every kernel file of the CUDA backend.
// defines: FG_BLOCK_SIZE, FG_MAX_GRID_SIZE, FG_REDUCE_THREADS, FG_LOSS_BLOCK_ITEMS, FG_MAX_LOSS_BLOCKS, FG_BIAS_GRAD_THREADS, FG_CHANNEL_THREADS,
//          FG_CHANNEL_BLOCK_ITEMS, FG_CHANNEL_TARGET_BLOCKS, FG_SPECTRAL_THREADS, fg_grid_size, fg_global_index,
//          fg_global_stride, fg_index32, fg_sigmoid, fg_philox4x32_10, fg_philox_block, fg_open_unit, fg_box_muller
//
// The Philox block function, the open-unit map, Box–Muller and the sigmoid are __host__ __device__ so that
// kernels/tests/host_test.cu can check them on a machine without a GPU against the C# implementation
// (src/FinGen.Native/Randomness/Philox.cs and CpuReferenceBackend.Sigmoid), whose operation order they
// follow exactly.
//
// Floating-point contract: the fatbin is compiled with -fmad=false (see cmake/FinGenCuda.cmake), because
// RyuJIT never fuses a·b + c into an FMA and the CPU reference backend is the oracle of the parity tests.
// Division and square root are IEEE round-to-nearest (nvcc's default -prec-div/-prec-sqrt); no fast math.
#pragma once

#include <math.h>
#include <vector_types.h>

// ---- launch constants (the C# side mirrors these; see kernels/ABI.md, "Launch configuration")

// Threads per block of every grid-stride kernel. Any block size that is a multiple of 32 is correct.
#define FG_BLOCK_SIZE 256
// Grid cap of every grid-stride kernel: enough to fill an H100 (132 SMs × 8 blocks of 256) several times
// over; larger grids are correct too, they just start idle blocks.
#define FG_MAX_GRID_SIZE 4096
// Threads of each block of a loss reduction (losses.cu). Part of the numerics: it fixes which elements each thread
// sums, so changing it changes the last bits of a loss. Must be a power of two.
#define FG_REDUCE_THREADS 512
// Stage 1 of a loss reduction takes one block of FG_REDUCE_THREADS per FG_LOSS_BLOCK_ITEMS elements (16 a thread), at
// most FG_MAX_LOSS_BLOCKS blocks (losses.cu); both are part of the numerics, like FG_REDUCE_THREADS.
#define FG_LOSS_BLOCK_ITEMS 8192
#define FG_MAX_LOSS_BLOCKS 256
// Threads of a bias-gradient block (elementwise.cu): 8 row groups of 32 columns. Part of the numerics.
#define FG_BIAS_GRAD_THREADS 256
// Threads of every per-channel reduction block (batchnorm.cu): thread t of slice b sums the channel's elements
// b·256 + t, then every G·256 further, so, like FG_REDUCE_THREADS, it is part of the numerics. Must be a power of two.
// It is also the most slices G a channel is split into (stage 2 gives each thread one slice's partial sum).
#define FG_CHANNEL_THREADS 256
// A per-channel reduction splits each channel's m = N·H·W values into G = clamp(⌈m / FG_CHANNEL_BLOCK_ITEMS⌉, 1,
// min(FG_CHANNEL_THREADS, FG_CHANNEL_TARGET_BLOCKS / channels)) slices, one stage-1 block each (batchnorm.cu): about
// 16 values a thread, and no more slices in all than about one wave of an H100/H200 (132 SMs × 8 blocks of 256),
// beyond which more blocks only mean more partial sums. Both are part of the numerics, like FG_REDUCE_THREADS.
#define FG_CHANNEL_BLOCK_ITEMS 4096
#define FG_CHANNEL_TARGET_BLOCKS 1024
// Threads of spectralnorm.cu's two single-block reductions (the power iteration with σ, and ⟨G, W⟩): thread t takes the
// columns, rows or elements t, t + 256, ..., so like FG_CHANNEL_THREADS it is part of the numerics. A power of two.
#define FG_SPECTRAL_THREADS 256

// Grid size for `items` work items: ceil(items / block), at least 1, at most max_grid.
static inline __host__ __device__ int fg_grid_size(long long items, int block, int max_grid)
{
    long long blocks = (items + block - 1) / block;
    if (blocks < 1) blocks = 1;
    if (blocks > max_grid) blocks = max_grid;
    return (int)blocks;
}

// ---- grid-stride loops: for (long long i = fg_global_index(); i < n; i += fg_global_stride())
// 64-bit so that i + stride cannot overflow when n is close to INT_MAX.
static __device__ __forceinline__ long long fg_global_index()
{
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

static __device__ __forceinline__ long long fg_global_stride()
{
    return (long long)blockDim.x * gridDim.x;
}

// An element index as 32 bits for division and remainder. Every index a kernel divides is below an element count that
// the C# side holds in an int (Tensor.Length refuses larger shapes), so the cast is exact, and a 32-bit `/` or `%` is a
// few instructions where the 64-bit one is a long software routine on the GPU. Loop counters stay 64-bit, so that
// i + stride cannot wrap for any grid.
static __device__ __forceinline__ unsigned int fg_index32(long long i)
{
    return (unsigned int)i;
}

// ---- stable sigmoid: never evaluates e^t for t > 0, so it neither overflows nor loses 1 − σ for x ≪ 0.
// Same branches and operation order as CpuReferenceBackend.Sigmoid.
static inline __host__ __device__ float fg_sigmoid(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

// ---- Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11)
// One round maps counter (c0, c1, c2, c3) under key (k0, k1) to
//   (hi(M1·c2) ⊕ c1 ⊕ k0, lo(M1·c2), hi(M0·c0) ⊕ c3 ⊕ k1, lo(M0·c0)),
// and the key is bumped by the Weyl constants (W0, W1) between rounds; ten rounds.
#define FG_PHILOX_M0 0xD2511F53u
#define FG_PHILOX_M1 0xCD9E8D57u
#define FG_PHILOX_W0 0x9E3779B9u
#define FG_PHILOX_W1 0xBB67AE85u

static inline __host__ __device__ uint4 fg_philox4x32_10(uint4 counter, unsigned int k0, unsigned int k1)
{
#ifdef __CUDA_ARCH__
#pragma unroll  // device only: the host compiler would warn about the unknown pragma
#endif
    for (int round = 0; round < 10; ++round)
    {
        if (round > 0)
        {
            k0 += FG_PHILOX_W0;
            k1 += FG_PHILOX_W1;
        }
        // 32×32 → 64-bit products: one mul.wide.u32 each on the GPU.
        const unsigned long long p0 = (unsigned long long)FG_PHILOX_M0 * counter.x;
        const unsigned long long p1 = (unsigned long long)FG_PHILOX_M1 * counter.z;
        uint4 next;
        next.x = (unsigned int)(p1 >> 32) ^ counter.y ^ k0;
        next.y = (unsigned int)p1;
        next.z = (unsigned int)(p0 >> 32) ^ counter.w ^ k1;
        next.w = (unsigned int)p0;
        counter = next;
    }
    return counter;
}

// Block number `block` of stream `stream` under `seed`: key = (seed low, seed high),
// counter = (block low, block high, stream low, stream high). Normal number k is lane k % 4 of block k / 4.
static inline __host__ __device__ uint4 fg_philox_block(unsigned long long seed, unsigned long long stream,
                                                       unsigned long long block)
{
    uint4 counter;
    counter.x = (unsigned int)block;
    counter.y = (unsigned int)(block >> 32);
    counter.z = (unsigned int)stream;
    counter.w = (unsigned int)(stream >> 32);
    return fg_philox4x32_10(counter, (unsigned int)seed, (unsigned int)(seed >> 32));
}

// A 32-bit word to (0, 1), never 0 or 1, in double: (x + 0.5)·2⁻³² (Philox.ToOpenUnit).
static inline __host__ __device__ double fg_open_unit(unsigned int x)
{
    return ((double)x + 0.5) * (1.0 / 4294967296.0);
}

// 2π as the double nearest to it, i.e. 2.0 * Math.PI in C# (doubling is exact).
#define FG_TWO_PI 6.283185307179586

// Box–Muller on two words, in double, each result rounded once to float:
// r = √(−2 ln u₀), θ = 2π·u₁ → (r cos θ, r sin θ). Same operation order as Philox.BoxMuller in C#.
static inline __host__ __device__ float2 fg_box_muller(unsigned int a, unsigned int b)
{
    const double radius = sqrt(-2.0 * log(fg_open_unit(a)));
    const double angle = FG_TWO_PI * fg_open_unit(b);
    float2 result;
    result.x = (float)(radius * cos(angle));
    result.y = (float)(radius * sin(angle));
    return result;
}
