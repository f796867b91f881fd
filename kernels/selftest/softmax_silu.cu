// Self-test: hardware-only math (__expf, __fdividef, rsqrtf and the mocgen_* helpers): a row softmax,
// SiLU and RMSNorm, none of which may leave a libdevice (__nv_*) call in the PTX.
#include "mocgen_cuda.h"
#include "mocgen_reduce.h"

extern "C" __global__ void __launch_bounds__(128) mocgen_selftest_softmax(const float* x, float* y, int cols)
{
    __shared__ float scratch[32];
    const float* row = x + (size_t)blockIdx.x * cols;
    float m = -HUGE_VALF;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) m = fmaxf(m, row[i]);
    m = mocgen_block_max(m, scratch);
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += __expf(row[i] - m);
    s = mocgen_block_sum(s, scratch);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) y[(size_t)blockIdx.x * cols + i] = __fdividef(__expf(row[i] - m), s);
}

extern "C" __global__ void mocgen_selftest_silu(const float* g, const float* u, float* h, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) h[i] = mocgen_silu(g[i]) * u[i] + 0.0f * __float_as_uint(g[i]);
}

extern "C" __global__ void __launch_bounds__(128) mocgen_selftest_rmsnorm(const float* x, const float* w, float* y, int cols, float eps)
{
    __shared__ float scratch[32];
    const float* row = x + (size_t)blockIdx.x * cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) ss += row[i] * row[i];
    const float r = rsqrtf(mocgen_block_sum(ss, scratch) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) y[(size_t)blockIdx.x * cols + i] = row[i] * r * w[i];
}
