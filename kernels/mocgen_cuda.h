// mocgen_cuda.h: the one header every MoCGen kernel includes first.
//
// Under nvcc (__NVCC__ defined) it adds nothing: nvcc's own headers provide the CUDA language.
// Under clang with no CUDA toolkit (-nocudainc -nocudalib) it supplies the small part of the CUDA
// language the kernels use: the execution-space attributes, threadIdx/blockIdx, __syncthreads, warp
// shuffles, atomicAdd on float and the fast hardware math intrinsics. Everything maps to an NVVM
// builtin, so the PTX has no libdevice (__nv_*) calls left unresolved and the NVIDIA driver can
// JIT-load it with no toolkit where the binary runs. Avoid libdevice math (expf, sqrtf, ...) in
// kernels; use the mocgen_* / __expf-style intrinsics below.
#pragma once
#ifndef MOCGEN_CUDA_H
#define MOCGEN_CUDA_H

#if defined(__NVCC__)
// nvcc: its own headers (cuda_runtime.h, device_functions.h) are already included implicitly.
#elif defined(__clang__) && defined(__CUDA__)

#ifndef CUDA_VERSION
#define CUDA_VERSION 12000  // clang's wrapper headers choose their declarations by this version
#endif

#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __managed__ __attribute__((managed))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))

// size_t and friends, which clang's wrapper headers expect (stddef.h is clang's own, not the C library's).
#include <stddef.h>
// __clang_cuda_math.h uses these; defined from compiler builtins so no C library header is needed.
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#endif
#ifndef INT_MIN
#define INT_MIN (-__INT_MAX__ - 1)
#endif
#ifndef HUGE_VAL
#define HUGE_VAL __builtin_huge_val()
#endif
#ifndef HUGE_VALF
#define HUGE_VALF __builtin_huge_valf()
#endif

// The vector types kernels use for wide loads (nvcc's vector_types.h, which needs the toolkit).
#define __align__(n) __attribute__((aligned(n)))
struct __align__(8) uint2 { unsigned int x, y; };
struct __align__(16) uint4 { unsigned int x, y, z, w; };
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };

#include "__clang_cuda_builtin_vars.h"
#include "__clang_cuda_libdevice_declares.h"
#include "__clang_cuda_device_functions.h"
#include "__clang_cuda_math.h"

// clang's wrappers implement even the "intrinsic" functions (__expf, __float_as_uint, fabsf, ...) as calls
// into libdevice (__nv_*), which -nocudalib leaves unresolved. The macros below, defined after those
// headers so their own bodies are untouched, send the ones kernels use straight to NVVM builtins: each is
// one PTX instruction, with the same meaning nvcc gives it. Anything not listed (expf, logf, tanhf, ...)
// still needs libdevice; PtxToolchain rejects PTX that calls __nv_*.
#define __expf(x) __nvvm_ex2_approx_f((x) * 1.4426950408889634f)
#define __logf(x) (__nvvm_lg2_approx_f(x) * 0.6931471805599453f)
#define __powf(a, b) __nvvm_ex2_approx_f((b) * __nvvm_lg2_approx_f(a))
#define __sinf(x) __nvvm_sin_approx_f(x)
#define __cosf(x) __nvvm_cos_approx_f(x)
#define __fdividef(a, b) __nvvm_div_approx_f((a), (b))
#define __frcp_rn(x) __nvvm_rcp_rn_f(x)
#define __fsqrt_rn(x) __nvvm_sqrt_rn_f(x)
#define __fmul_rn(a, b) __nvvm_mul_rn_f((a), (b))
#define __fadd_rn(a, b) __nvvm_add_rn_f((a), (b))
#define __fmaf_rn(a, b, c) __nvvm_fma_rn_f((a), (b), (c))
#define __saturatef(x) __nvvm_saturate_f(x)
#define __float2int_rn(x) __nvvm_f2i_rn(x)
#define rsqrtf(x) __nvvm_rsqrt_approx_f(x)
#define sqrtf(x) __nvvm_sqrt_rn_f(x)
#define fabsf(x) __nvvm_fabs_f(x)
#define fmaxf(a, b) __nvvm_fmax_f((a), (b))
#define fminf(a, b) __nvvm_fmin_f((a), (b))
#define fmaf(a, b, c) __nvvm_fma_rn_f((a), (b), (c))
#define floorf(x) __nvvm_floor_f(x)
#define ceilf(x) __nvvm_ceil_f(x)
#define truncf(x) __nvvm_trunc_f(x)
#define __float_as_uint(x) __builtin_bit_cast(unsigned int, (float)(x))
#define __float_as_int(x) __builtin_bit_cast(int, (float)(x))
#define __uint_as_float(x) __builtin_bit_cast(float, (unsigned int)(x))
#define __int_as_float(x) __builtin_bit_cast(float, (int)(x))
static __device__ __forceinline__ int mocgen_clz(unsigned int x) { return x == 0u ? 32 : __builtin_clz(x); }  // clz.b32
#define __clz(x) mocgen_clz((unsigned int)(x))
#define __popc(x) __builtin_popcount((unsigned int)(x))

// Barriers: __syncthreads is defined by clang's CUDA builtins as __nvvm_bar_sync(0) in
// __clang_cuda_device_functions.h; these make sure of it whichever clang version is used.
#ifndef __syncthreads
#define __syncthreads() __nvvm_bar_sync(0)
#endif
#ifndef __syncwarp
static __device__ __forceinline__ void __syncwarp(unsigned int mask = 0xffffffffu) { __nvvm_bar_warp_sync(mask); }
#endif

// Warp shuffles (PTX 6.0+, sm_30+; needs +ptx60 or newer, MoCGen passes +ptx70).
// c packs the clamp: 0x1f for xor/down/idx, 0 for up, with the segment mask (32 - width) << 8.
#define MOCGEN_SHFL_C(width) (((32 - (width)) << 8) | 0x1f)
static __device__ __forceinline__ float __shfl_xor_sync(unsigned int mask, float v, int lane_mask, int width = 32)
{ return __nvvm_shfl_sync_bfly_f32(mask, v, lane_mask, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ int __shfl_xor_sync(unsigned int mask, int v, int lane_mask, int width = 32)
{ return __nvvm_shfl_sync_bfly_i32(mask, v, lane_mask, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ unsigned int __shfl_xor_sync(unsigned int mask, unsigned int v, int lane_mask, int width = 32)
{ return (unsigned int)__nvvm_shfl_sync_bfly_i32(mask, (int)v, lane_mask, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ float __shfl_down_sync(unsigned int mask, float v, unsigned int delta, int width = 32)
{ return __nvvm_shfl_sync_down_f32(mask, v, (int)delta, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ int __shfl_down_sync(unsigned int mask, int v, unsigned int delta, int width = 32)
{ return __nvvm_shfl_sync_down_i32(mask, v, (int)delta, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ unsigned int __shfl_down_sync(unsigned int mask, unsigned int v, unsigned int delta, int width = 32)
{ return (unsigned int)__nvvm_shfl_sync_down_i32(mask, (int)v, (int)delta, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ float __shfl_sync(unsigned int mask, float v, int src_lane, int width = 32)
{ return __nvvm_shfl_sync_idx_f32(mask, v, src_lane, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ int __shfl_sync(unsigned int mask, int v, int src_lane, int width = 32)
{ return __nvvm_shfl_sync_idx_i32(mask, v, src_lane, MOCGEN_SHFL_C(width)); }
static __device__ __forceinline__ unsigned int __shfl_sync(unsigned int mask, unsigned int v, int src_lane, int width = 32)
{ return (unsigned int)__nvvm_shfl_sync_idx_i32(mask, (int)v, src_lane, MOCGEN_SHFL_C(width)); }
#undef MOCGEN_SHFL_C
// shfl.up clamps at lane 0 of the segment: c is only the segment mask.
#define MOCGEN_SHFL_UP_C(width) ((32 - (width)) << 8)
static __device__ __forceinline__ float __shfl_up_sync(unsigned int mask, float v, unsigned int delta, int width = 32)
{ return __nvvm_shfl_sync_up_f32(mask, v, (int)delta, MOCGEN_SHFL_UP_C(width)); }
static __device__ __forceinline__ int __shfl_up_sync(unsigned int mask, int v, unsigned int delta, int width = 32)
{ return __nvvm_shfl_sync_up_i32(mask, v, (int)delta, MOCGEN_SHFL_UP_C(width)); }
static __device__ __forceinline__ unsigned int __shfl_up_sync(unsigned int mask, unsigned int v, unsigned int delta, int width = 32)
{ return (unsigned int)__nvvm_shfl_sync_up_i32(mask, (int)v, (int)delta, MOCGEN_SHFL_UP_C(width)); }
#undef MOCGEN_SHFL_UP_C

// Atomics (generic address space; red.global/atom.shared are chosen by ptxas from the address).
static __device__ __forceinline__ float atomicAdd(float* address, float value) { return __nvvm_atom_add_gen_f(address, value); }
static __device__ __forceinline__ int atomicAdd(int* address, int value) { return __nvvm_atom_add_gen_i(address, value); }
static __device__ __forceinline__ unsigned int atomicAdd(unsigned int* address, unsigned int value)
{ return (unsigned int)__nvvm_atom_add_gen_i((int*)address, (int)value); }
static __device__ __forceinline__ int atomicMax(int* address, int value) { return __nvvm_atom_max_gen_i(address, value); }
static __device__ __forceinline__ unsigned int atomicOr(unsigned int* address, unsigned int value)
{ return (unsigned int)__nvvm_atom_or_gen_i((int*)address, (int)value); }
static __device__ __forceinline__ int atomicCAS(int* address, int compare, int value) { return __nvvm_atom_cas_gen_i(address, compare, value); }

#elif defined(MOCGEN_CUDA_ON_CPU)
// Host C++ (clang++ -x c++ -std=c++20 -DMOCGEN_CUDA_ON_CPU): the same subset on the CPU, a fiber per thread
// (`mocgen cuda-cpu`, which builds a libcuda.so.1 that runs the kernels on the CPU).
#include "mocgen_cpu.h"
#else
#error "mocgen_cuda.h: compile as CUDA with nvcc, or with clang -x cuda --cuda-device-only -nocudainc -nocudalib (or as C++ with -DMOCGEN_CUDA_ON_CPU)"
#endif

#ifndef MOCGEN_DYNAMIC_SHARED
/// Declares `name`, the block's dynamic shared memory (the launch's sharedMemBytes) as unsigned char[], 16-byte aligned.
#define MOCGEN_DYNAMIC_SHARED(name) extern __shared__ __attribute__((aligned(16))) unsigned char name[]
#endif

// Launch bounds that let ptxas give a thread up to 128 registers: blocks of `threads`, and at least (one, or)
// 512 / threads of them resident on an SM. With the block size alone ptxas aims at full occupancy (as few as 32
// registers a thread), which a kernel that stages tiles in shared memory cannot reach anyway, and to get there it
// stores each staged load before it issues the next: the copies a thread has in flight, 8 or more as written, fall
// to 1 or 2 (ptxas 11.8's SASS of the decode up/down staging), or it spills (the decode attention on sm_80). The
// kernels that stage tiles (the sparse products of training, the weight gradient, the decode up/down) and the decode
// attention use these; the others keep their loads in flight at ptxas's own register count and give only their block
// size (a second number there costs them occupancy and gains nothing).
#define MOCGEN_BOUNDS_128REGS(threads) __launch_bounds__(threads, (threads) < 512 ? 512 / (threads) : 1)

// Fast hardware math, the same under nvcc and clang: single PTX instructions (ex2.approx, rsqrt.approx,
// div.approx, tanh.approx is sm_75+ so not used), never a libdevice call.
#define MOCGEN_LOG2E 1.4426950408889634f
static __device__ __forceinline__ float mocgen_exp(float x)
{
#if defined(__NVCC__)
    return __expf(x);
#else
    return __nvvm_ex2_approx_f(x * MOCGEN_LOG2E);
#endif
}
static __device__ __forceinline__ float mocgen_rsqrt(float x)
{
#if defined(__NVCC__)
    return rsqrtf(x);  // nvcc maps rsqrtf to rsqrt.approx.f32 itself
#else
    return __nvvm_rsqrt_approx_f(x);
#endif
}
static __device__ __forceinline__ float mocgen_div(float a, float b)
{
#if defined(__NVCC__)
    return __fdividef(a, b);
#else
    return __nvvm_div_approx_f(a, b);
#endif
}
/// The index of the lowest set bit of a nonzero v (brev + clz, or bfind: one or two instructions).
static __device__ __forceinline__ int mocgen_ctz(unsigned int v)
{
#if defined(__NVCC__)
    return __ffs((int)v) - 1;
#else
    return __builtin_ctz(v);
#endif
}
/// Four floats at p (16-byte aligned; shared or global memory) with one 128-bit load. clang splits a plain struct
/// copy into four 32-bit loads, so under clang the load goes through a vector type (ld.shared.v4.f32 / ld.global.v4.f32).
static __device__ __forceinline__ float4 mocgen_load_f4(const float* p)
{
#if defined(__NVCC__)
    return *reinterpret_cast<const float4*>(p);
#else
    typedef float mocgen_f4v __attribute__((ext_vector_type(4)));
    const mocgen_f4v v = *reinterpret_cast<const mocgen_f4v*>(p);
    float4 r;
    r.x = v.x;
    r.y = v.y;
    r.z = v.z;
    r.w = v.w;
    return r;
#endif
}
/// Four floats at p (16-byte aligned) into out[0..3], with one 128-bit load.
static __device__ __forceinline__ void mocgen_load_f32x4(const float* p, float out[4])
{
    const float4 v = mocgen_load_f4(p);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
}
/// 16 bytes held in registers (under clang a vector type: a struct copy would be split into four 32-bit accesses).
#if defined(__NVCC__)
typedef uint4 mocgen_u128;
#else
typedef unsigned int mocgen_u128 __attribute__((ext_vector_type(4)));
#endif
/// The 16 bytes at p (16-byte aligned; any memory) with one 128-bit load.
static __device__ __forceinline__ mocgen_u128 mocgen_load16(const void* p) { return *reinterpret_cast<const mocgen_u128*>(p); }
/// Stores 16 bytes at p (16-byte aligned; any memory) with one 128-bit store.
static __device__ __forceinline__ void mocgen_store16(void* p, mocgen_u128 v) { *reinterpret_cast<mocgen_u128*>(p) = v; }
/// Copies 16 bytes from src to dst (both 16-byte aligned; any memory) with one 128-bit load and one 128-bit store.
static __device__ __forceinline__ void mocgen_copy16(void* dst, const void* src) { mocgen_store16(dst, mocgen_load16(src)); }
/// SiLU(z) = z * sigmoid(z) with one ex2.approx and one div.approx.
static __device__ __forceinline__ float mocgen_silu(float z) { return mocgen_div(z, 1.0f + mocgen_exp(-z)); }
static __device__ __forceinline__ float mocgen_sigmoid(float z) { return mocgen_div(1.0f, 1.0f + mocgen_exp(-z)); }

#endif // MOCGEN_CUDA_H
