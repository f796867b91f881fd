using System;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoCGen.Compiler.Spec;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// The gate GEMM of Templates/FeedForward.scriban (ILGPU rendering, CPU accelerator) on shapes that cut every tile
/// edge: tokens past one 128-token tile (and not a multiple of it), d not a multiple of the 8-deep slices, d_ff not a
/// multiple of 128. x and W_g are sixteenths in [-1/2, 1/2], so every sum is exact in fp32 in any order: the result
/// must equal the double reference exactly.
/// </summary>
public sealed class GateGemmIlgpuTests
{
    [Theory]
    [InlineData(36, 72, 9, 131, false)]
    [InlineData(30, 60, 7, 257, false)]
    [InlineData(200, 520, 65, 129, true)]
    public void MatchesTheExactProduct(int hidden, int intermediate, int topK, int tokens, bool bf16)
    {
        var kernels = KernelBuild.IlgpuKernels(KernelBuild.Plan($"Gemm{hidden}x{intermediate}x{topK}", hidden, intermediate, topK,
            heads: 1, weights: bf16 ? StoredPrecision.BFloat16 : StoredPrecision.Float32));
        int d = hidden, f = intermediate, n = tokens;
        var rng = new Random(d * 7 + f + n);
        var x = new float[n * d];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Next(-8, 9) / 16f;
        var wg = new float[f * d];
        for (int i = 0; i < wg.Length; i++) wg[i] = rng.Next(-8, 9) / 16f;

        var g = new float[n * f];
        using (var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia)))
        using (var accelerator = context.CreateCPUAccelerator(0))
        {
            int tile = (int)kernels.GetField("TILE")!.GetRawConstantValue()!;
            int threads = (int)kernels.GetField("GEMM_THREADS")!.GetRawConstantValue()!;
            using var bx = accelerator.Allocate1D(x);
            using var bg = accelerator.Allocate1D<float>(g.Length);
            var config = new KernelConfig(new Index2D((f + tile - 1) / tile, (n + tile - 1) / tile), new Index2D(threads, 1));
            var method = kernels.GetMethod("GateGemm", BindingFlags.Public | BindingFlags.Static)!;
            if (bf16)
            {
                var gemm = accelerator.LoadStreamKernel(method.CreateDelegate<Action<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, int>>());
                var bits = new ushort[wg.Length];
                for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)(BitConverter.SingleToUInt32Bits(wg[i]) >> 16); // sixteenths are exact in bf16
                using var bw = accelerator.Allocate1D(bits);
                gemm(config, bx.View, bw.View, bg.View, n);
            }
            else
            {
                var gemm = accelerator.LoadStreamKernel(method.CreateDelegate<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>());
                using var bw = accelerator.Allocate1D(wg);
                gemm(config, bx.View, bw.View, bg.View, n);
            }
            accelerator.Synchronize();
            bg.CopyToCPU(g);
        }

        for (int t = 0; t < n; t++)
        for (int j = 0; j < f; j++)
        {
            double s = 0;
            for (int c = 0; c < d; c++) s += (double)x[t * d + c] * wg[j * d + c];
            Assert.True(g[t * f + j] == (float)s, $"g[{t},{j}] = {g[t * f + j]}, expected {s}");
        }
    }
}
