using System;
using System.Linq;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// The Top-K kernel of Templates/FeedForward.scriban (ILGPU rendering, CPU accelerator) against an independent
/// reference: order the channels by value, largest first, NaN below every number, -0 equal to +0, ties to the lower
/// index; take the first K; list them ascending. Indices and the selected values must match exactly (bit for bit).
/// Each shape is run on rows built to break a selection: heavy ties, all equal, NaN and infinities, signed zeros,
/// negatives only, the K largest at the end, and plain random values; the boundary histogram bin is listed (a key per
/// thread) in some rows and searched in registers in others (all equal, five values). The shapes cover one warp with a padded last
/// chunk (d_ff 520), several warps (2816), and the LLaMA-7B width (11008: 480 threads of 23 channels).
/// </summary>
public sealed class TopKIlgpuTests
{
    [Theory]
    [InlineData(64, 8)]
    [InlineData(64, 64)]
    [InlineData(520, 1)]
    [InlineData(520, 65)]
    [InlineData(520, 519)]
    [InlineData(2816, 352)]
    [InlineData(11008, 1376)]
    public void SelectsTheKLargestWithTiesToTheLowerIndex(int intermediate, int topK)
    {
        var kernels = KernelBuild.IlgpuKernels(KernelBuild.Plan($"TopK{intermediate}x{topK}", 32, intermediate, topK));
        int f = intermediate, k = topK;
        var rng = new Random(f * 31 + k);
        var rows = new Func<int, float>[]
        {
            _ => (float)(rng.NextDouble() * 2 - 1), // random
            _ => rng.Next(-2, 3), // five values: ties straddle the K-th (a boundary bin too full to list)
            _ => MathF.Round((float)rng.NextDouble() * 8 - 4, 2), // hundredths: ties within a boundary bin that is listed
            _ => 1.5f, // all equal
            _ => rng.Next(8) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, 3 => 0f, 4 => -0f, _ => rng.Next(-3, 4) },
            j => j % 2 == 0 ? 0f : -0f, // signed zeros only: one tie
            _ => -(float)rng.NextDouble() - 1f, // negatives only
            j => j, // increasing: the K largest are the last
            j => j % 3 == 0 ? float.NaN : -j, // NaN every third channel, the rest decreasing
        };
        int n = rows.Length;
        var g = new float[n * f];
        for (int t = 0; t < n; t++)
        for (int j = 0; j < f; j++) g[t * f + j] = rows[t](j);

        var index = new int[n * k];
        var gate = new float[n * k];
        using (var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia)))
        using (var accelerator = context.CreateCPUAccelerator(0))
        {
            var topk = accelerator.LoadStreamKernel(kernels.GetMethod("TopKSelect", BindingFlags.Public | BindingFlags.Static)!
                .CreateDelegate<Action<ArrayView<float>, ArrayView<int>, ArrayView<float>, int>>());
            using var bg = accelerator.Allocate1D(g);
            using var bindex = accelerator.Allocate1D<int>(index.Length);
            using var bgate = accelerator.Allocate1D<float>(gate.Length);
            int threads = (int)kernels.GetField("SELECT_THREADS")!.GetRawConstantValue()!;
            topk(new KernelConfig(new Index1D(n), new Index1D(threads)), bg.View, bindex.View, bgate.View, n);
            accelerator.Synchronize();
            bindex.CopyToCPU(index);
            bgate.CopyToCPU(gate);
        }

        for (int t = 0; t < n; t++)
        {
            var row = g.AsSpan(t * f, f).ToArray();
            var expected = Enumerable.Range(0, f).OrderByDescending(j => Rank(row[j])).ThenBy(j => j).Take(k).OrderBy(j => j).ToArray();
            for (int s = 0; s < k; s++)
            {
                Assert.True(expected[s] == index[t * k + s], $"row {t}: slot {s} holds channel {index[t * k + s]}, expected {expected[s]}");
                Assert.Equal(BitConverter.SingleToInt32Bits(row[expected[s]]), BitConverter.SingleToInt32Bits(gate[t * k + s]));
            }
        }
    }

    /// <summary>Order of a gate value: NaN lowest, then the numbers (-0 == +0, so they tie).</summary>
    private static (int, float) Rank(float v) => float.IsNaN(v) ? (0, 0f) : (1, v);
}
