using System;
using System.Linq;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoCGen.Checkpoints;
using MoCGen.Compiler.Emit;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;
using MoCGen.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// The ILGPU rendering of Templates/FeedForwardDecode.scriban (<c>Ilgpu.Decode</c>: gate GEMV, then the training
/// Top-K, then the SRAM-tiled up/down) on ILGPU's CPU accelerator for 1, 2 and 4 tokens, against MoCGen's CPU MoC
/// FFN and a scalar double reference. Inputs and tolerances as in <see cref="FeedForwardIlgpuTests"/>: the gate is
/// exact, indices and selected gate values exact, y within 1e-5 * S + 1e-7. The bf16 variants store the weights as
/// bf16 (the references use the same rounded values).
/// </summary>
public sealed class FeedForwardDecodeIlgpuTests(ITestOutputHelper output)
{
    [Theory] [InlineData(1)] [InlineData(2)] [InlineData(4)]
    public void Decode_d200_dff520_K65(int tokens) => Run<Shape200x520x65>("Ffn200x520x65", tokens);

    [Theory] [InlineData(1)] [InlineData(2)] [InlineData(4)]
    public void Decode_d200_dff520_K1(int tokens) => Run<Shape200x520x1>("Ffn200x520x1", tokens);

    [Theory] [InlineData(1)] [InlineData(2)] [InlineData(4)]
    public void Decode_d32_dff64_K8(int tokens) => Run<Shape32x64x8>("Ffn32x64x8", tokens);

    [Theory] [InlineData(1)] [InlineData(4)]
    public void Decode_d200_dff520_K65_Bf16(int tokens) => Run<Shape200x520x65>("Ffn200x520x65", tokens, bf16: true);

    [Theory] [InlineData(3)]
    public void Decode_d32_dff64_K8_Bf16(int tokens) => Run<Shape32x64x8>("Ffn32x64x8", tokens, bf16: true);

    /// <summary>A target with room for 3 fp32 rows of d = 200 in half its shared memory: tiles of 3 rows, so a block's
    /// union (up to 64 rows) crosses many tile boundaries.</summary>
    private static readonly CudaTarget SmallTarget = new("test_small", 2 * (FeedForwardKernelEmitter.DecodeFixedSharedBytes + 3 * (4 * 200 + 16)));

    [Theory] [InlineData(1)] [InlineData(4)]
    public void Decode_d200_dff520_K65_SmallTiles(int tokens) => Run<Shape200x520x65>("Ffn200x520x65", tokens, target: SmallTarget);

    [Fact]
    public void TileRowsComeFromTheTargetsSharedMemory()
    {
        static FeedForwardKernelEmitter.DecodeTilePlan Tile(int d, StoredPrecision weights, string arch) =>
            FeedForwardKernelEmitter.DecodeTile(KernelBuild.Plan($"Tile{d}{weights}", d, 4 * d, d / 2, weights: weights).Shape, CudaTarget.FromArch(arch));
        Assert.Equal(166912, CudaTarget.FromArch("sm_80").SharedPerBlockOptin);
        Assert.Equal(232448, CudaTarget.FromArch("sm_90a").SharedPerBlockOptin);
        Assert.Equal(101376, CudaTarget.FromArch("sm_89").SharedPerBlockOptin);
        Assert.Equal(98304, CudaTarget.FromArch("sm_70").SharedPerBlockOptin);
        Assert.Equal(49152, CudaTarget.FromArch("sm_61").SharedPerBlockOptin);
        Assert.Equal("sm_80", CudaTarget.FromArch(null).Arch);

        // d = 4096 (LLaMA-7B): a 16 KiB fp32 row or an 8 KiB bf16 row; the budget is half the opt-in.
        Assert.Equal(4, Tile(4096, StoredPrecision.Float32, "sm_80").Rows);
        Assert.Equal(9, Tile(4096, StoredPrecision.BFloat16, "sm_80").Rows);
        Assert.Equal(6, Tile(4096, StoredPrecision.Float32, "sm_90").Rows);
        Assert.Equal(13, Tile(4096, StoredPrecision.BFloat16, "sm_90").Rows);
        Assert.Equal(2, Tile(4096, StoredPrecision.Float32, "sm_86").Rows);
        Assert.Equal(5, Tile(4096, StoredPrecision.BFloat16, "sm_70").Rows);
        Assert.Equal(FeedForwardKernelEmitter.DecodeMaxTileRows, Tile(200, StoredPrecision.Float32, "sm_80").Rows); // capped
        foreach (var arch in new[] { "sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_61" })
        foreach (var weights in new[] { StoredPrecision.Float32, StoredPrecision.BFloat16 })
        foreach (var d in new[] { 200, 1024, 4096, 8192 })
        {
            var tile = Tile(d, weights, arch);
            int bytes = tile.DynamicBytes + tile.StaticBytes;
            Assert.True(bytes <= tile.BudgetBytes && tile.BudgetBytes <= tile.Target.SharedPerBlockOptin, $"{arch} d={d} {weights}: {bytes} bytes");
            Assert.Equal(tile.Rows * d * (weights == StoredPrecision.BFloat16 ? 2 : 4), tile.DynamicBytes);
            Assert.Equal(bytes > 48 * 1024, tile.NeedsOptIn);
        }
    }

    private void Run<TShape>(string name, int n, bool bf16 = false, CudaTarget? target = null) where TShape : struct, IFeedForwardShape
    {
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK;
        var plan = KernelBuild.Plan(name, d, f, k, weights: bf16 ? StoredPrecision.BFloat16 : StoredPrecision.Float32, target: target);
        var outer = KernelBuild.IlgpuKernels(plan);
        var kernels = outer.GetNestedType("Decode")!;
        Assert.NotNull(kernels);
        Assert.Equal(d, Const(kernels, "HIDDEN"));
        Assert.Equal(f, Const(kernels, "INTERMEDIATE"));
        Assert.Equal(k, Const(kernels, "TOPK"));
        Assert.Equal(FeedForwardKernelEmitter.DecodeTokens, Const(kernels, "DECODE_TOKENS"));
        Assert.Equal(FeedForwardKernelEmitter.DecodeTile(plan).Rows, Const(kernels, "TILE_ROWS"));
        if (target is not null) Assert.Equal(3, Const(kernels, "TILE_ROWS"));

        var rng = new Random(4321 + d + f + k + n);
        float Sixteenths() => rng.Next(-8, 9) / 16f;
        float Uniform() => (float)(rng.NextDouble() - 0.5);
        var x = new float[n * d];
        for (int i = 0; i < x.Length; i++) x[i] = Sixteenths();
        if (n == 4) Array.Clear(x, 2 * d, d); // token 2: all gates 0, a full tie (the K lowest channels, several tiles' worth)
        var wg = new float[f * d];
        for (int i = 0; i < wg.Length; i++) wg[i] = Sixteenths();
        var wu = new float[f * d];
        for (int i = 0; i < wu.Length; i++) wu[i] = Uniform();
        var wdT = new float[f * d];
        for (int i = 0; i < wdT.Length; i++) wdT[i] = Uniform();

        var g = new float[n * f];
        var index = new int[n * k];
        var gate = new float[n * k];
        var y = new float[n * d];
        if (bf16) Launch(Bf16.Round(wg), Bf16.Round(wu), Bf16.Round(wdT));
        else Launch(wg, wu, wdT);

        void Launch<TW>(TW[] wgStored, TW[] wuStored, TW[] wdStored) where TW : unmanaged
        {
            using var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia));
            using var accelerator = context.CreateCPUAccelerator(0);
            var gateTopK = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<TW>, ArrayView<float>, ArrayView<float>,
                ArrayView<int>, ArrayView<float>, ArrayView<int>, int>>(kernels, "GateTopK"));
            var upDown = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<TW>, ArrayView<TW>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>>(kernels, "UpDownTiled"));
            using var bx = accelerator.Allocate1D(x);
            using var bwg = accelerator.Allocate1D(wgStored);
            using var bwu = accelerator.Allocate1D(wuStored);
            using var bwd = accelerator.Allocate1D(wdStored);
            using var bg = accelerator.Allocate1D<float>(g.Length);
            using var bindex = accelerator.Allocate1D<int>(index.Length);
            using var bgate = accelerator.Allocate1D<float>(gate.Length);
            using var by = accelerator.Allocate1D<float>(y.Length);
            using var bticket = accelerator.Allocate1D(new int[1]);
            by.CopyFromCPU(Enumerable.Repeat(float.NaN, y.Length).ToArray()); // the GEMV must clear it
            int rows = Const(kernels, "GEMV_ROWS");
            Assert.Equal(Const(kernels, "GEMV_THREADS"), Const(kernels, "SELECT_THREADS")); // the last gate block selects
            var gateConfig = new KernelConfig(new Index1D((f + rows - 1) / rows), new Index1D(Const(kernels, "GEMV_THREADS")));
            // Twice: the first launch must leave the ticket counter at zero for the second, whose last block rewrites
            // the selection (cleared in between).
            gateTopK(gateConfig, bx.View, bwg.View, bg.View, by.View, bindex.View, bgate.View, bticket.View, n);
            accelerator.Synchronize();
            bindex.CopyFromCPU(Enumerable.Repeat(-1, index.Length).ToArray());
            bgate.CopyFromCPU(Enumerable.Repeat(float.NaN, gate.Length).ToArray());
            gateTopK(gateConfig, bx.View, bwg.View, bg.View, by.View, bindex.View, bgate.View, bticket.View, n);
            accelerator.Synchronize();
            Assert.Equal(0, bticket.GetAsArray1D()[0]);
            int range = Const(kernels, "RANGE");
            upDown(new KernelConfig(new Index1D((f + range - 1) / range), new Index1D(Const(kernels, "UPDOWN_THREADS")),
                    SharedMemoryConfig.RequestDynamic<TW>(Const(kernels, "TILE_ELEMENTS"))),
                bx.View, bwu.View, bwd.View, bindex.View, bgate.View, by.View, n);
            accelerator.Synchronize();
            bg.CopyToCPU(g);
            bindex.CopyToCPU(index);
            bgate.CopyToCPU(gate);
            by.CopyToCPU(y);
        }

        for (int t = 0; t < n; t++)
        for (int j = 0; j < f; j++)
        {
            double s = 0;
            for (int c = 0; c < d; c++) s += (double)x[t * d + c] * wg[j * d + c];
            Assert.True(g[t * f + j] == (float)s, $"gate[{t},{j}] = {g[t * f + j]}, expected {s}");
        }

        var cpuY = new float[n * d];
        var cpuIndex = new ushort[n * k];
        var cpuGate = new float[n * k];
        var cpuUp = new float[n * k];
        var scratch = new float[MoCFeedForward<TShape, ushort>.GateScratchLength(n)];
        MoCFeedForward<TShape, ushort>.Forward(n, x, new FeedForwardWeights(wg, wu, wdT), cpuY,
            new FeedForwardSaved<ushort>(cpuIndex, cpuGate, cpuUp), scratch);

        for (int t = 0; t < n; t++)
        {
            for (int s = 0; s < k; s++)
            {
                Assert.True(index[t * k + s] == cpuIndex[t * k + s], $"token {t} slot {s}: channel {index[t * k + s]}, CPU chose {cpuIndex[t * k + s]}");
                Assert.Equal(cpuGate[t * k + s], gate[t * k + s]);
            }
            if (n == 4 && t == 2)
                for (int s = 0; s < k; s++) Assert.Equal(s, index[t * k + s]);

            var h = new double[k];
            var hScale = new double[k];
            for (int s = 0; s < k; s++)
            {
                int j = index[t * k + s];
                double u = 0, uAbs = 0;
                for (int c = 0; c < d; c++)
                {
                    u += (double)wu[j * d + c] * x[t * d + c];
                    uAbs += Math.Abs((double)wu[j * d + c] * x[t * d + c]);
                }
                double z = gate[t * k + s];
                h[s] = z / (1 + Math.Exp(-z)) * u;
                hScale[s] = Math.Abs(z / (1 + Math.Exp(-z))) * uAbs;
            }
            for (int c = 0; c < d; c++)
            {
                double yc = 0, yAbs = 0;
                for (int s = 0; s < k; s++)
                {
                    yc += h[s] * wdT[index[t * k + s] * d + c];
                    yAbs += hScale[s] * Math.Abs(wdT[index[t * k + s] * d + c]);
                }
                Near(yc, y[t * d + c], yAbs, $"y[{t},{c}]");
                Near(yc, cpuY[t * d + c], yAbs, $"CPU y[{t},{c}]");
                Near(cpuY[t * d + c], y[t * d + c], 2 * yAbs, $"y[{t},{c}] vs CPU");
            }
        }
        output.WriteLine($"{(bf16 ? "bf16" : "fp32")} weights, {n} token(s), R = {Const(kernels, "TILE_ROWS")}: largest |error| / tolerance {worst:F4}");
    }

    private double worst;

    private void Near(double expected, float actual, double sumAbs, string what)
    {
        double tolerance = 1e-5 * sumAbs + 1e-7;
        double error = Math.Abs(expected - actual);
        worst = Math.Max(worst, error / tolerance);
        Assert.True(error <= tolerance, $"{what} = {actual}, expected {expected} (tolerance {tolerance:G3})");
    }

    private static int Const(Type kernels, string name) => (int)kernels.GetField(name)!.GetRawConstantValue()!;

    private static T Kernel<T>(Type kernels, string name) where T : Delegate =>
        kernels.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<T>();
}
