// mocgen_bf16.h: bfloat16 storage without cuda_bf16.h. A bf16 is the high 16 bits of an IEEE float;
// MoCGen stores weights as bf16 and computes in fp32, so all it needs is widening, rounding and
// wide loads. Works under nvcc and under clang with mocgen_cuda.h.
#pragma once
#ifndef MOCGEN_BF16_H
#define MOCGEN_BF16_H

#include "mocgen_cuda.h"

/// One bf16 value as its bits (distinct from cuda_bf16.h's __nv_bfloat16 so both can coexist under nvcc).
typedef unsigned short mocgen_bf16;

// Two bf16 travel in one 32-bit word (element 0 in the low half), four in a uint2, eight in a uint4.

/// Widening is exact: the bf16 bits become the high half of the float.
static __device__ __forceinline__ float mocgen_bf16_to_float(mocgen_bf16 h) { return __uint_as_float(((unsigned int)h) << 16); }

/// Round to nearest even; NaN stays NaN (quiet), infinities and overflow to infinity as IEEE says.
static __device__ __forceinline__ mocgen_bf16 mocgen_float_to_bf16(float f)
{
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (mocgen_bf16)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (mocgen_bf16)(u >> 16);
}

/// The low and high bf16 of a 32-bit word.
static __device__ __forceinline__ float mocgen_bf16_lo(unsigned int w) { return __uint_as_float(w << 16); }
static __device__ __forceinline__ float mocgen_bf16_hi(unsigned int w) { return __uint_as_float(w & 0xffff0000u); }

/// Packs two floats into a word of two bf16 (a in the low half).
static __device__ __forceinline__ unsigned int mocgen_pack_bf16x2(float a, float b)
{
    return (unsigned int)mocgen_float_to_bf16(a) | ((unsigned int)mocgen_float_to_bf16(b) << 16);
}

/// Loads 2 bf16 (one 32-bit load; p 4-byte aligned) and widens them.
static __device__ __forceinline__ void mocgen_load_bf16x2(const mocgen_bf16* p, float out[2])
{
    const unsigned int w = *reinterpret_cast<const unsigned int*>(p);
    out[0] = mocgen_bf16_lo(w);
    out[1] = mocgen_bf16_hi(w);
}

/// Loads 4 bf16 (one 64-bit load; p 8-byte aligned) and widens them.
static __device__ __forceinline__ void mocgen_load_bf16x4(const mocgen_bf16* p, float out[4])
{
    const uint2 w = *reinterpret_cast<const uint2*>(p);
    out[0] = mocgen_bf16_lo(w.x); out[1] = mocgen_bf16_hi(w.x);
    out[2] = mocgen_bf16_lo(w.y); out[3] = mocgen_bf16_hi(w.y);
}

/// Loads 8 bf16 (one 128-bit load; p 16-byte aligned) and widens them.
static __device__ __forceinline__ void mocgen_load_bf16x8(const mocgen_bf16* p, float out[8])
{
    const uint4 w = *reinterpret_cast<const uint4*>(p);
    out[0] = mocgen_bf16_lo(w.x); out[1] = mocgen_bf16_hi(w.x);
    out[2] = mocgen_bf16_lo(w.y); out[3] = mocgen_bf16_hi(w.y);
    out[4] = mocgen_bf16_lo(w.z); out[5] = mocgen_bf16_hi(w.z);
    out[6] = mocgen_bf16_lo(w.w); out[7] = mocgen_bf16_hi(w.w);
}

/// Rounds 8 floats to bf16 and stores them with one 128-bit store (p 16-byte aligned).
static __device__ __forceinline__ void mocgen_store_bf16x8(mocgen_bf16* p, const float in[8])
{
    uint4 w;
    w.x = mocgen_pack_bf16x2(in[0], in[1]);
    w.y = mocgen_pack_bf16x2(in[2], in[3]);
    w.z = mocgen_pack_bf16x2(in[4], in[5]);
    w.w = mocgen_pack_bf16x2(in[6], in[7]);
    *reinterpret_cast<uint4*>(p) = w;
}

#endif // MOCGEN_BF16_H
