// mocgen_cpu.h: the CUDA language subset of mocgen_cuda.h, on the CPU. mocgen_cuda.h includes it when a kernel is
// compiled as host C++ with MOCGEN_CUDA_ON_CPU defined (clang++ -x c++ -std=c++20); `mocgen cuda-cpu` does that and
// links the kernels with mocgen_cpu_driver.h into a libcuda.so.1 that runs them on the CPU.
//
// Every CUDA thread of a block is a fiber on one OS thread, and the blocks of a launch run one after another. A fiber
// runs until it reaches a barrier (__syncthreads, a warp shuffle, __syncwarp), so a block's threads interleave only
// where the barriers let them. Threads that wait at barriers on different lines, a shuffle over lanes that have
// exited, and a deadlock are caught: the driver fails the launch, naming the kernel, block, thread and source line.
// Between barriers the threads run in turn, first to last and then last to first, so a shared-memory read that no
// barrier orders after the write it needs reads the old value in one of the two orders (a wrong result, not a report).
//
// What the CPU does not model: the GPU's own rounding of the approximate intrinsics (ex2.approx, rsqrt.approx,
// div.approx are exact here: exp2f, 1 / sqrtf, a / b), memory ordering between blocks (they run one after another, so
// a block sees every store of the blocks before it), and speed.
#pragma once
#ifndef MOCGEN_CPU_H
#define MOCGEN_CPU_H

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace mocgen_cpu
{
/// CUDA's uint3 / dim3.
struct dim3
{
    unsigned int x, y, z;
};

// The running fiber's coordinates (mocgen_cpu_driver.h).
const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();

/// __syncthreads at source line `line`; with counting, how many threads passed a nonzero predicate.
void sync_block(int line);
int sync_block_count(int predicate, int line);
/// __syncwarp (full mask only).
void sync_warp(unsigned int mask, int line);

enum class Shuffle
{
    Index,
    Up,
    Down,
    Xor
};
/// One warp shuffle of 8 bytes: every lane of the warp must take part (full mask); the lane gets the value of the lane
/// that `kind` and `arg` name within its segment of `width` lanes, or its own where that lane is outside it.
std::uint64_t shuffle(std::uint64_t bits, Shuffle kind, int arg, int width, unsigned int mask, int line);

/// The block's dynamic shared memory (the launch's sharedMemBytes, 16-byte aligned).
unsigned char* dynamic_shared();

/// A kernel as the driver calls it: its address and the function that unpacks cuLaunchKernel's parameter array.
using Invoker = void (*)(void* kernel, void** params);
void register_kernel(const char* name, void* kernel, Invoker invoker, const std::size_t* parameter_sizes, std::size_t parameters);

template <class... A, std::size_t... I>
void invoke_with(void* kernel, void** params, std::index_sequence<I...>)
{
    reinterpret_cast<void (*)(A...)>(kernel)(*static_cast<A*>(params[I])...);
}

template <class... A>
void invoke(void* kernel, void** params)
{
    invoke_with<A...>(kernel, params, std::index_sequence_for<A...>{});
}

/// Registers one kernel at load time (mocgen cuda-cpu appends one per __global__ function of a unit).
struct Registration
{
    template <class... A>
    Registration(const char* name, void (*kernel)(A...))
    {
        static constexpr std::size_t sizes[] = {sizeof(A)..., 0};  // checked against the PTX's .param list at load
        register_kernel(name, reinterpret_cast<void*>(kernel), &invoke<A...>, sizes, sizeof...(A));
    }
};

template <class T>
inline T shuffle_as(T value, Shuffle kind, int arg, int width, unsigned int mask, int line)
{
    static_assert(sizeof(T) <= sizeof(std::uint64_t), "a shuffle moves at most 8 bytes");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    bits = shuffle(bits, kind, arg, width, mask, line);
    T result;
    std::memcpy(&result, &bits, sizeof(T));
    return result;
}

template <class T>
inline T atomic_add(T* address, T value)
{
    T old;
    __atomic_load(address, &old, __ATOMIC_RELAXED);
    T sum;
    do
    {
        sum = old + value;
    } while (!__atomic_compare_exchange(address, &old, &sum, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return old;
}
} // namespace mocgen_cpu

// ---- The CUDA language ----
#define __host__
#define __device__
#define __global__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// A block's threads are fibers of one OS thread: a function-local static is shared by the block, as __shared__ is.
#define __shared__ static thread_local
#define MOCGEN_DYNAMIC_SHARED(name) unsigned char* name = ::mocgen_cpu::dynamic_shared()

#define threadIdx (::mocgen_cpu::thread_idx())
#define blockIdx (::mocgen_cpu::block_idx())
#define blockDim (::mocgen_cpu::block_dim())
#define gridDim (::mocgen_cpu::grid_dim())
#define warpSize 32

struct __align__(8) uint2 { unsigned int x, y; };
struct __align__(16) uint4 { unsigned int x, y, z, w; };
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };

#define __syncthreads() ::mocgen_cpu::sync_block(__LINE__)
#define __syncthreads_count(p) ::mocgen_cpu::sync_block_count((p) ? 1 : 0, __LINE__)
inline void __syncwarp(unsigned int mask = 0xffffffffu, int line = __builtin_LINE()) { ::mocgen_cpu::sync_warp(mask, line); }
#define __threadfence() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define __threadfence_block() __atomic_thread_fence(__ATOMIC_SEQ_CST)

#define MOCGEN_CPU_SHUFFLE(name, kind, argtype)                                                                        \
    template <class T>                                                                                                 \
    inline T name(unsigned int mask, T value, argtype arg, int width = 32, int line = __builtin_LINE())                 \
    {                                                                                                                  \
        return ::mocgen_cpu::shuffle_as(value, ::mocgen_cpu::Shuffle::kind, (int)arg, width, mask, line);              \
    }
MOCGEN_CPU_SHUFFLE(__shfl_sync, Index, int)
MOCGEN_CPU_SHUFFLE(__shfl_up_sync, Up, unsigned int)
MOCGEN_CPU_SHUFFLE(__shfl_down_sync, Down, unsigned int)
MOCGEN_CPU_SHUFFLE(__shfl_xor_sync, Xor, int)
#undef MOCGEN_CPU_SHUFFLE

inline float atomicAdd(float* address, float value) { return ::mocgen_cpu::atomic_add(address, value); }
inline int atomicAdd(int* address, int value) { return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST); }
inline unsigned int atomicAdd(unsigned int* address, unsigned int value) { return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST); }
inline unsigned int atomicOr(unsigned int* address, unsigned int value) { return __atomic_fetch_or(address, value, __ATOMIC_SEQ_CST); }
inline int atomicMax(int* address, int value)
{
    int old = __atomic_load_n(address, __ATOMIC_RELAXED);
    while (old < value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
    {
    }
    return old;
}
inline int atomicCAS(int* address, int compare, int value)
{
    __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return compare;
}

// The intrinsics mocgen_cuda.h maps to single PTX instructions, with the same meaning (exactly rounded here).
#define __float_as_uint(x) __builtin_bit_cast(unsigned int, (float)(x))
#define __float_as_int(x) __builtin_bit_cast(int, (float)(x))
#define __uint_as_float(x) __builtin_bit_cast(float, (unsigned int)(x))
#define __int_as_float(x) __builtin_bit_cast(float, (int)(x))
#define __expf(x) std::exp2((float)(x) * 1.4426950408889634f)
#define __logf(x) std::log((float)(x))
#define __fdividef(a, b) ((float)(a) / (float)(b))
#define __frcp_rn(x) (1.0f / (float)(x))
#define __fsqrt_rn(x) std::sqrt((float)(x))
#define __fmul_rn(a, b) ((float)(a) * (float)(b))
#define __fadd_rn(a, b) ((float)(a) + (float)(b))
#define __fmaf_rn(a, b, c) std::fma((float)(a), (float)(b), (float)(c))
#define __saturatef(x) std::fmin(std::fmax((float)(x), 0.0f), 1.0f)
#define __float2int_rn(x) ((int)std::nearbyint((float)(x)))
#define __clz(x) ((unsigned int)(x) == 0u ? 32 : __builtin_clz((unsigned int)(x)))
#define __popc(x) __builtin_popcount((unsigned int)(x))
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
// The NVVM builtins mocgen_cuda.h's helpers call outside nvcc.
inline float __nvvm_ex2_approx_f(float x) { return std::exp2(x); }
inline float __nvvm_rsqrt_approx_f(float x) { return 1.0f / std::sqrt(x); }
inline float __nvvm_div_approx_f(float a, float b) { return a / b; }

#endif // MOCGEN_CPU_H
