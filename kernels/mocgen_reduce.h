// mocgen_reduce.h: warp and block reductions (sum, max) over float with register shuffles.
// Works under nvcc and under clang with mocgen_cuda.h. Every lane of the warp (every thread of the
// block) must call these together: they use full-warp shuffles and __syncthreads.
#pragma once
#ifndef MOCGEN_REDUCE_H
#define MOCGEN_REDUCE_H

#include "mocgen_cuda.h"

#define MOCGEN_WARP_SIZE 32
#define MOCGEN_FULL_MASK 0xffffffffu

/// Sum over the 32 lanes; every lane gets the result (butterfly).
static __device__ __forceinline__ float mocgen_warp_sum(float v)
{
#pragma unroll
    for (int offset = MOCGEN_WARP_SIZE / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(MOCGEN_FULL_MASK, v, offset);
    return v;
}

/// Max over the 32 lanes; every lane gets the result.
static __device__ __forceinline__ float mocgen_warp_max(float v)
{
#pragma unroll
    for (int offset = MOCGEN_WARP_SIZE / 2; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(MOCGEN_FULL_MASK, v, offset));
    return v;
}

/// Sum over the 32 lanes with shuffle-down: only lane 0 holds the full result (one fewer dependency per step).
static __device__ __forceinline__ float mocgen_warp_sum_to_lane0(float v)
{
#pragma unroll
    for (int offset = MOCGEN_WARP_SIZE / 2; offset > 0; offset >>= 1) v += __shfl_down_sync(MOCGEN_FULL_MASK, v, offset);
    return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
/// scratch: __shared__ float[32], reusable right after the call returns (the trailing barrier protects it).
static __device__ __forceinline__ float mocgen_block_sum(float v, float* scratch)
{
    const int lane = threadIdx.x & (MOCGEN_WARP_SIZE - 1);
    const int warp = threadIdx.x / MOCGEN_WARP_SIZE;
    const int warps = (blockDim.x + MOCGEN_WARP_SIZE - 1) / MOCGEN_WARP_SIZE;
    v = mocgen_warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = mocgen_warp_sum(v);
    __syncthreads();
    return v;
}

/// Max over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
/// scratch: __shared__ float[32], as for mocgen_block_sum.
static __device__ __forceinline__ float mocgen_block_max(float v, float* scratch)
{
    const int lane = threadIdx.x & (MOCGEN_WARP_SIZE - 1);
    const int warp = threadIdx.x / MOCGEN_WARP_SIZE;
    const int warps = (blockDim.x + MOCGEN_WARP_SIZE - 1) / MOCGEN_WARP_SIZE;
    v = mocgen_warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -HUGE_VALF;
    v = mocgen_warp_max(v);
    __syncthreads();
    return v;
}

#endif // MOCGEN_REDUCE_H
