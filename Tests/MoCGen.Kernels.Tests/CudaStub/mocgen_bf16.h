// Test-only stand-in for kernels/mocgen_bf16.h: bf16 storage type, exact widening and the wide loads the kernels use.
#pragma once
#include "mocgen_cuda.h"
typedef unsigned short mocgen_bf16;
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
static __device__ __forceinline__ float mocgen_bf16_lo(unsigned int w) { return __builtin_bit_cast(float, w << 16); }
static __device__ __forceinline__ float mocgen_bf16_hi(unsigned int w) { return __builtin_bit_cast(float, w & 0xffff0000u); }
static __device__ __forceinline__ float mocgen_bf16_to_float(mocgen_bf16 h) { return mocgen_bf16_lo((unsigned int)h); }
static __device__ __forceinline__ void mocgen_load_bf16x2(const mocgen_bf16* p, float out[2])
{
    const unsigned int w = *reinterpret_cast<const unsigned int*>(p);
    out[0] = mocgen_bf16_lo(w); out[1] = mocgen_bf16_hi(w);
}
static __device__ __forceinline__ void mocgen_load_bf16x4(const mocgen_bf16* p, float out[4])
{
    const uint2 w = *reinterpret_cast<const uint2*>(p);
    out[0] = mocgen_bf16_lo(w.x); out[1] = mocgen_bf16_hi(w.x); out[2] = mocgen_bf16_lo(w.y); out[3] = mocgen_bf16_hi(w.y);
}
static __device__ __forceinline__ void mocgen_load_bf16x8(const mocgen_bf16* p, float out[8])
{
    const uint4 w = *reinterpret_cast<const uint4*>(p);
    out[0] = mocgen_bf16_lo(w.x); out[1] = mocgen_bf16_hi(w.x); out[2] = mocgen_bf16_lo(w.y); out[3] = mocgen_bf16_hi(w.y);
    out[4] = mocgen_bf16_lo(w.z); out[5] = mocgen_bf16_hi(w.z); out[6] = mocgen_bf16_lo(w.w); out[7] = mocgen_bf16_hi(w.w);
}
