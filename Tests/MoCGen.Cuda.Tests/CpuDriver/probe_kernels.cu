// Kernels for CpuDriverTests: right ones whose results the host checks, and wrong ones the CPU driver must refuse.
#include "mocgen_cuda.h"
#include "mocgen_reduce.h"

// out[b * 64 + t]: the block's sum of in (mocgen_block_sum), lane + 1 (an inclusive scan of ones with __shfl_up_sync),
// the lane's xor-1 neighbour (__shfl_xor_sync), and how many threads of the block are even (__syncthreads_count).
extern "C" __global__ void __launch_bounds__(64) probe_right(const float* __restrict__ in, float* __restrict__ out)
{
    __shared__ float scratch[32];
    int t = threadIdx.x;
    int lane = t % 32;
    float sum = mocgen_block_sum(in[blockIdx.x * 64 + t], scratch);
    float scan = 1.0f;
    for (int o = 1; o < 32; o <<= 1)
    {
        float v = __shfl_up_sync(0xffffffffu, scan, o);
        if (lane >= o) scan += v;
    }
    int neighbour = __shfl_xor_sync(0xffffffffu, lane, 1);
    int even = __syncthreads_count(t % 2 == 0);
    float* row = out + (blockIdx.x * 64 + t) * 4;
    row[0] = sum;
    row[1] = scan;
    row[2] = (float)neighbour;
    row[3] = (float)even;
}

// Half the block waits at one __syncthreads, half at another.
extern "C" __global__ void __launch_bounds__(64) probe_divergent_barrier(float* out)
{
    if (threadIdx.x < 32)
    {
        __syncthreads();
        out[threadIdx.x] = 1.0f;
    }
    else
    {
        __syncthreads();
        out[threadIdx.x] = 2.0f;
    }
}

// Odd lanes exit, even lanes shuffle with the full mask.
extern "C" __global__ void __launch_bounds__(32) probe_exited_lanes(float* out)
{
    if (threadIdx.x % 2 == 1) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 2);
}

// Writes one element past the end of out (n elements).
extern "C" __global__ void __launch_bounds__(64) probe_past_end(float* out, int n)
{
    out[threadIdx.x + n - 63] = 1.0f;
}

// Thread 0 waits at __syncthreads while the rest of its warp waits at a shuffle.
extern "C" __global__ void __launch_bounds__(64) probe_deadlock(float* out)
{
    float v = 1.0f;
    if (threadIdx.x == 0)
        __syncthreads();
    else
        v = __shfl_xor_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = v;
}

// Reads the dynamic shared memory that nothing wrote.
extern "C" __global__ void __launch_bounds__(64) probe_unwritten_shared(float* out)
{
    MOCGEN_DYNAMIC_SHARED(raw);
    out[threadIdx.x] = reinterpret_cast<float*>(raw)[threadIdx.x];
}
