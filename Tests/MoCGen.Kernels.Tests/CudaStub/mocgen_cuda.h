// Test-only stand-in for kernels/mocgen_cuda.h: just enough for clang-14 to compile CUDA C to PTX without a
// CUDA toolkit (see ENVIRONMENT.md, "CUDA without a GPU"). The real header lives in kernels/.
#pragma once
#define CUDA_VERSION 12000
typedef __SIZE_TYPE__ size_t;
#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#define MOCGEN_BOUNDS_128REGS(threads) __launch_bounds__(threads, (threads) < 512 ? 512 / (threads) : 1)
#define MOCGEN_DYNAMIC_SHARED(name) extern __shared__ __attribute__((aligned(16))) unsigned char name[]
#define __align__(n) __attribute__((aligned(n)))
struct __align__(16) float4 { float x, y, z, w; };
typedef unsigned int mocgen_u128 __attribute__((ext_vector_type(4)));
static __device__ __forceinline__ mocgen_u128 mocgen_load16(const void* p) { return *reinterpret_cast<const mocgen_u128*>(p); }
static __device__ __forceinline__ void mocgen_store16(void* p, mocgen_u128 v) { *reinterpret_cast<mocgen_u128*>(p) = v; }
static __device__ __forceinline__ void mocgen_copy16(void* dst, const void* src) { mocgen_store16(dst, mocgen_load16(src)); }
typedef float mocgen_f4v __attribute__((ext_vector_type(4)));
static __device__ __forceinline__ float4 mocgen_load_f4(const float* p) { const mocgen_f4v v = *reinterpret_cast<const mocgen_f4v*>(p); float4 r; r.x = v.x; r.y = v.y; r.z = v.z; r.w = v.w; return r; }
static __device__ __forceinline__ void mocgen_load_f32x4(const float* p, float out[4]) { const float4 v = mocgen_load_f4(p); out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w; }
#include "__clang_cuda_builtin_vars.h"
#include "__clang_cuda_libdevice_declares.h"
#include "__clang_cuda_device_functions.h"
static __device__ __forceinline__ int atomicAdd(int* address, int value) { return __nvvm_atom_add_gen_i(address, value); }
static __device__ __forceinline__ float atomicAdd(float* address, float value) { return __nvvm_atom_add_gen_f(address, value); }
static __device__ __forceinline__ float mocgen_exp(float x) { return __nvvm_ex2_approx_f(x * 1.4426950408889634f); }
#define __float_as_uint(x) __builtin_bit_cast(unsigned int, (float)(x))  // clang's own is a libdevice call
static __device__ __forceinline__ int __shfl_xor_sync(unsigned int mask, int v, int lane_mask) { return __nvvm_shfl_sync_bfly_i32(mask, v, lane_mask, 0x1f); }
static __device__ __forceinline__ int __shfl_up_sync(unsigned int mask, int v, unsigned int delta) { return __nvvm_shfl_sync_up_i32(mask, v, (int)delta, 0); }
static __device__ __forceinline__ float __shfl_xor_sync(unsigned int mask, float v, int lane_mask) { return __nvvm_shfl_sync_bfly_f32(mask, v, lane_mask, 0x1f); }
static __device__ __forceinline__ unsigned int atomicOr(unsigned int* address, unsigned int value) { return (unsigned int)__nvvm_atom_or_gen_i((int*)address, (int)value); }
static __device__ __forceinline__ int mocgen_ctz(unsigned int v) { return __builtin_ctz(v); }
