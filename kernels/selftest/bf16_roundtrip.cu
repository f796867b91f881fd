// Self-test: bf16 <-> fp32 by bit manipulation (mocgen_bf16.h), 8 values per thread with 128-bit loads and stores.
#include "mocgen_cuda.h"
#include "mocgen_bf16.h"

extern "C" __global__ void mocgen_selftest_bf16_roundtrip(const mocgen_bf16* in, mocgen_bf16* out, float* widened, int n8)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n8) return;
    float v[8];
    mocgen_load_bf16x8(in + 8 * i, v);
    for (int j = 0; j < 8; ++j) widened[8 * i + j] = v[j];
    mocgen_store_bf16x8(out + 8 * i, v);
}

extern "C" __global__ void mocgen_selftest_bf16_round(const float* in, mocgen_bf16* out, float* pairs, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = mocgen_float_to_bf16(in[i]);
    if (2 * i + 1 < n)
    {
        float p[2];
        mocgen_load_bf16x2(out + 2 * i, p);  // reads what this thread's neighbours wrote only after a launch boundary in real use
        pairs[2 * i] = p[0];
        pairs[2 * i + 1] = p[1];
    }
    if (4 * i + 3 < n)
    {
        float q[4];
        mocgen_load_bf16x4(out + 4 * i, q);
        pairs[4 * i] += q[0] - q[3];
    }
}
