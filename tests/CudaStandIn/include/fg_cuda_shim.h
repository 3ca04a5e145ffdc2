// fg_cuda_shim.h — the CUDA language as plain C++, force-included (-include) before every kernels/*.cu when the
// stand-in compiles them with the host compiler. Each CUDA thread is a fiber of the stand-in's scheduler
// (src/fibers.cpp): threadIdx and friends are the running fiber's, __syncthreads() is a real barrier that suspends it
// until every thread of the block has arrived, and __shared__ variables are one copy per block (the block's threads
// all run on one OS thread, so thread_local storage is the block's). Built with -ffp-contract=off, like the fatbin's
// -fmad=false: no a·b + c is ever fused.
#pragma once

#include <math.h>
#include <string.h>

#include "vector_types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// The bound is read by the stand-in's kernel table generator (CMakeLists.txt), which refuses larger launches.
#define __launch_bounds__(...)
#define __shared__ static thread_local

namespace fg_standin
{
// Set by the scheduler before a fiber runs or resumes.
extern thread_local uint3 t_thread_idx;
extern thread_local uint3 t_block_idx;
extern thread_local dim3 t_block_dim;
extern thread_local dim3 t_grid_dim;
// Suspends the calling CUDA thread until all threads of its block have reached a barrier.
void sync_threads();
}

#define threadIdx (::fg_standin::t_thread_idx)
#define blockIdx (::fg_standin::t_block_idx)
#define blockDim (::fg_standin::t_block_dim)
#define gridDim (::fg_standin::t_grid_dim)
#define __syncthreads() ::fg_standin::sync_threads()

static inline float __int_as_float(int bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline int __float_as_int(float value)
{
    int bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline double __longlong_as_double(long long bits)
{
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}
