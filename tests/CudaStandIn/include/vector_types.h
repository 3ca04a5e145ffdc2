// vector_types.h — the stand-in's copy of the CUDA vector types the kernels use (uint3, dim3, uint4, float2, ...),
// so that kernels/*.cu compile as plain C++ (tests/CudaStandIn). Layouts follow CUDA's: plain structs, no padding.
#pragma once

struct uint3 { unsigned int x, y, z; };
struct uint4 { unsigned int x, y, z, w; };
struct int2 { int x, y; };
struct int4 { int x, y, z, w; };
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct double2 { double x, y; };

struct dim3
{
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};
