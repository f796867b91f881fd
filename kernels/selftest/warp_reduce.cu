// Self-test: warp and block sum/max reductions (mocgen_reduce.h). One block per row of `cols` floats.
#include "mocgen_cuda.h"
#include "mocgen_reduce.h"

extern "C" __global__ void __launch_bounds__(256) mocgen_selftest_row_sum_max(const float* x, float* sum, float* max, int cols)
{
    __shared__ float scratch[32];
    const float* row = x + (size_t)blockIdx.x * cols;
    float s = 0.0f, m = -HUGE_VALF;
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
    {
        s += row[i];
        m = fmaxf(m, row[i]);
    }
    s = mocgen_block_sum(s, scratch);
    m = mocgen_block_max(m, scratch);
    if (threadIdx.x == 0)
    {
        sum[blockIdx.x] = s;
        max[blockIdx.x] = m;
    }
}

extern "C" __global__ void mocgen_selftest_warp_sum(const float* x, float* out)
{
    const float v = mocgen_warp_sum_to_lane0(x[blockIdx.x * 32 + threadIdx.x]);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}
