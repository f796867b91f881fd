// Self-test: atomicAdd on float (global) and int (shared), as the gradient scatter of sparse W_d columns uses it.
#include "mocgen_cuda.h"

extern "C" __global__ void mocgen_selftest_atomic_add(const float* x, const int* column, float* grad, int* counts, int n)
{
    __shared__ int local;
    if (threadIdx.x == 0) local = 0;
    __syncthreads();
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
    {
        atomicAdd(grad + column[i], x[i]);
        atomicAdd(&local, 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) atomicAdd(counts, local);
}
