using System;
using System.Linq;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoCGen.Checkpoints;
using MoCGen.Compiler.Spec;
using MoCGen.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace MoCGen.Kernels.Tests;

public struct Shape200x520x65 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 65; }
public struct Shape200x520x1 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 1; }
public struct Shape200x520x520 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 520; }
public struct Shape32x64x8 : IFeedForwardShape { public static int Hidden => 32; public static int Intermediate => 64; public static int TopK => 8; }

/// <summary>
/// The ILGPU rendering of Templates/FeedForward.scriban, run on ILGPU's CPU accelerator (NVIDIA-like: warp 32),
/// against MoCGen's CPU MoC FFN and a scalar double reference.
/// Inputs: x and W_g are multiples of 1/16 in [-1/2, 1/2], so every gate value is exact in fp32 whatever the
/// summation order; the gate must then match exactly, Top-K indices and selected gate values exactly (ties are
/// frequent and one token's x is zero: all d_ff gates tie and the K lowest indices win).
/// Tolerance for up and y (fp32, different summation orders): |a - b| &lt;= 1e-5 * S + 1e-7, with S = sum|W_u[j,c] x_c|
/// for u_j and S = sum_s |SiLU(g_s)| (sum_c |W_u[s,c] x_c|) |W_d[c, s]| for y_c (the up product's rounding carried through).
/// The bf16 variants render the kernels with bf16 weights and run them on the bf16-rounded weights; the CPU kernel and
/// the double reference get the same rounded values widened to float (exact), so the tolerances are unchanged.
/// </summary>
public sealed class FeedForwardIlgpuTests(ITestOutputHelper output)
{
    private const int Tokens = 37; // part of a tile of every kernel

    [Fact] public void Forward_d200_dff520_K65() => Run<Shape200x520x65>("Ffn200x520x65");
    [Fact] public void Forward_d200_dff520_K1() => Run<Shape200x520x1>("Ffn200x520x1");
    [Fact] public void Forward_d200_dff520_Dense() => Run<Shape200x520x520>("Ffn200x520x520");
    [Fact] public void Forward_d32_dff64_K8() => Run<Shape32x64x8>("Ffn32x64x8");
    [Fact] public void Forward_d200_dff520_K65_Bf16() => Run<Shape200x520x65>("Ffn200x520x65", bf16: true);
    [Fact] public void Forward_d32_dff64_K8_Bf16() => Run<Shape32x64x8>("Ffn32x64x8", bf16: true);

    /// <summary>More tokens than one 128-token gate GEMM and up tile, and two 64-token down tiles.</summary>
    [Fact] public void Forward_d32_dff64_K8_150Tokens() => Run<Shape32x64x8>("Ffn32x64x8", tokens: 150);

    private void Run<TShape>(string name, bool bf16 = false, int tokens = Tokens) where TShape : struct, IFeedForwardShape
    {
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK, n = tokens;
        var kernels = KernelBuild.IlgpuKernels(KernelBuild.Plan(name, d, f, k,
            weights: bf16 ? StoredPrecision.BFloat16 : StoredPrecision.Float32));
        Assert.Equal(d, (int)kernels.GetField("HIDDEN")!.GetRawConstantValue()!);
        Assert.Equal(f, (int)kernels.GetField("INTERMEDIATE")!.GetRawConstantValue()!);
        Assert.Equal(k, (int)kernels.GetField("TOPK")!.GetRawConstantValue()!);

        var rng = new Random(1234 + d + f + k);
        float Sixteenths() => rng.Next(-8, 9) / 16f;
        float Uniform() => (float)(rng.NextDouble() - 0.5);
        var x = new float[n * d];
        for (int i = 0; i < x.Length; i++) x[i] = Sixteenths();
        Array.Clear(x, 3 * d, d); // token 3: all gates 0, a full tie
        var wg = new float[f * d];
        for (int i = 0; i < wg.Length; i++) wg[i] = Sixteenths();
        var wu = new float[f * d];
        for (int i = 0; i < wu.Length; i++) wu[i] = Uniform();
        var wdT = new float[f * d];
        for (int i = 0; i < wdT.Length; i++) wdT[i] = Uniform();

        // ---- ILGPU, CPU accelerator ----
        var g = new float[n * f];
        var index = new int[n * k];
        var gate = new float[n * k];
        var up = new float[n * k];
        var y = new float[n * d];
        var hidden = new float[n * k];
        int starts = Const(kernels, "STARTS"), window = Const(kernels, "WINDOW");
        var start = new int[n * starts];
        if (bf16)
        {
            // The kernels read the bf16 bits; everything else reads the same values widened (x and W_g, multiples of 1/16, are exact in bf16).
            var (wgB, wuB, wdB) = (Bf16.Round(wg), Bf16.Round(wu), Bf16.Round(wdT));
            Launch(wgB, wuB, wdB);
        }
        else
        {
            Launch(wg, wu, wdT);
        }

        void Launch<TW>(TW[] wgStored, TW[] wuStored, TW[] wdStored) where TW : unmanaged
        {
            using var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia));
            using var accelerator = context.CreateCPUAccelerator(0);
            int tile = Const(kernels, "TILE");
            var gemm = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<TW>, ArrayView<float>, int>>(kernels, "GateGemm"));
            var topk = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<int>, ArrayView<float>, int>>(kernels, "TopKSelect"));
            var windows = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<int>, ArrayView<int>, int>>(kernels, "WindowStarts"));
            var upKernel = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<TW>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "Up"));
            var down = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<TW>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>>(kernels, "Down"));
            using var bx = accelerator.Allocate1D(x);
            using var bwg = accelerator.Allocate1D(wgStored);
            using var bwu = accelerator.Allocate1D(wuStored);
            using var bwd = accelerator.Allocate1D(wdStored);
            using var bg = accelerator.Allocate1D<float>(g.Length);
            using var bindex = accelerator.Allocate1D<int>(index.Length);
            using var bgate = accelerator.Allocate1D<float>(gate.Length);
            using var bup = accelerator.Allocate1D<float>(up.Length);
            using var by = accelerator.Allocate1D<float>(y.Length);
            using var bh = accelerator.Allocate1D<float>(hidden.Length);
            using var bstart = accelerator.Allocate1D<int>(start.Length);
            bstart.CopyFromCPU(Enumerable.Repeat(-1, start.Length).ToArray()); // the window kernel must write all of it
            by.CopyFromCPU(Enumerable.Repeat(float.NaN, y.Length).ToArray()); // and the down kernel all of y
            var clock = System.Diagnostics.Stopwatch.StartNew();
            gemm(new KernelConfig(new Index2D((f + tile - 1) / tile, (n + tile - 1) / tile), new Index2D(Const(kernels, "GEMM_THREADS"), 1)),
                bx.View, bwg.View, bg.View, n);
            accelerator.Synchronize();
            output.WriteLine($"gate GEMM {clock.Elapsed.TotalMilliseconds:F0} ms");
            clock.Restart();
            topk(new KernelConfig(new Index1D(n), new Index1D(Const(kernels, "SELECT_THREADS"))), bg.View, bindex.View, bgate.View, n);
            accelerator.Synchronize();
            output.WriteLine($"Top-K {clock.Elapsed.TotalMilliseconds:F0} ms");
            clock.Restart();
            windows(new KernelConfig(new Index1D(n), new Index1D(Const(kernels, "WINDOW_THREADS"))), bindex.View, bstart.View, n);
            int span = Const(kernels, "SP_CHANNELS"), spTokens = Const(kernels, "SP_TOKENS");
            upKernel(new KernelConfig(new Index2D((f + span - 1) / span, (n + spTokens - 1) / spTokens), new Index2D(Const(kernels, "SP_THREADS"), 1)),
                bx.View, bwu.View, bindex.View, bstart.View, bgate.View, bup.View, bh.View, n);
            int cols = Const(kernels, "WP_COLS"), wpTokens = Const(kernels, "WP_TOKENS");
            down(new KernelConfig(new Index2D((d + cols - 1) / cols, (n + wpTokens - 1) / wpTokens), new Index2D(Const(kernels, "WP_THREADS"), 1)),
                bwd.View, bindex.View, bstart.View, bh.View, by.View, n);
            accelerator.Synchronize();
            output.WriteLine($"window starts, up and down {clock.Elapsed.TotalMilliseconds:F0} ms");
            bg.CopyToCPU(g);
            bindex.CopyToCPU(index);
            bgate.CopyToCPU(gate);
            bup.CopyToCPU(up);
            by.CopyToCPU(y);
            bh.CopyToCPU(hidden);
            bstart.CopyToCPU(start);
        }

        // ---- Gate: exact ----
        for (int t = 0; t < n; t++)
        for (int j = 0; j < f; j++)
        {
            double s = 0;
            for (int c = 0; c < d; c++) s += (double)x[t * d + c] * wg[j * d + c];
            Assert.True(g[t * f + j] == (float)s, $"gate[{t},{j}] = {g[t * f + j]}, expected {s}");
        }

        // ---- MoCGen's CPU kernel ----
        bool dense = k == f;
        var cpuY = new float[n * d];
        var cpuIndex = new ushort[dense ? 0 : n * k];
        var cpuGate = new float[n * k];
        var cpuUp = new float[n * k];
        var scratch = new float[MoCFeedForward<TShape, ushort>.GateScratchLength(n)];
        MoCFeedForward<TShape, ushort>.Forward(n, x, new FeedForwardWeights(wg, wu, wdT), cpuY,
            new FeedForwardSaved<ushort>(cpuIndex, cpuGate, cpuUp), scratch);

        for (int t = 0; t < n; t++)
        {
            for (int s = 0; s < k; s++)
            {
                int expected = dense ? s : cpuIndex[t * k + s];
                Assert.True(index[t * k + s] == expected, $"token {t} slot {s}: channel {index[t * k + s]}, CPU chose {expected}");
                Assert.Equal(cpuGate[t * k + s], gate[t * k + s]);
                Assert.Equal(g[t * f + expected], gate[t * k + s]);
            }
            if (t == 3)
                for (int s = 0; s < k; s++) Assert.Equal(s, index[t * k + s]); // all tie: the K lowest indices
            for (int w = 0; w < starts; w++) // the first slot whose channel is >= w WINDOW (K past the last window)
            {
                int first = 0;
                while (first < k && index[t * k + first] < w * window) first++;
                Assert.True(start[t * starts + w] == first, $"token {t} window {w}: start {start[t * starts + w]}, expected {first}");
            }

            // Scalar double reference on the selected channels, and the CPU kernel's y, with the same tolerance.
            var h = new double[k];
            var hScale = new double[k]; // |SiLU(z)| * sum|W_u x terms|: what bounds h's rounding error
            for (int s = 0; s < k; s++)
            {
                int j = index[t * k + s];
                double u = 0, uAbs = 0;
                for (int c = 0; c < d; c++)
                {
                    u += (double)wu[j * d + c] * x[t * d + c];
                    uAbs += Math.Abs((double)wu[j * d + c] * x[t * d + c]);
                }
                Near(u, up[t * k + s], uAbs, $"up[{t},{s}]");
                Near(u, cpuUp[t * k + s], uAbs, $"CPU up[{t},{s}]");
                double z = gate[t * k + s];
                h[s] = z / (1 + Math.Exp(-z)) * u;
                hScale[s] = Math.Abs(z / (1 + Math.Exp(-z))) * uAbs;
                Near(h[s], hidden[t * k + s], hScale[s], $"hidden[{t},{s}]");
            }
            for (int c = 0; c < d; c++)
            {
                double yc = 0, yAbs = 0;
                for (int s = 0; s < k; s++)
                {
                    double term = h[s] * wdT[index[t * k + s] * d + c];
                    yc += term;
                    yAbs += hScale[s] * Math.Abs(wdT[index[t * k + s] * d + c]);
                }
                Near(yc, y[t * d + c], yAbs, $"y[{t},{c}]");
                Near(yc, cpuY[t * d + c], yAbs, $"CPU y[{t},{c}]");
            }
        }
        output.WriteLine($"{(bf16 ? "bf16" : "fp32")} weights: largest |error| / tolerance {worst:F4} (up and y, kernel and CPU against the double reference)");
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

/// <summary>bf16 rounding of test weights (the checkpoints' conversion: round to nearest even, exact widening).</summary>
internal static class Bf16
{
    /// <summary>Rounds <paramref name="weights"/> to bf16 in place (to the widened values) and returns the bf16 bits.</summary>
    public static ushort[] Round(float[] weights)
    {
        var bits = new ushort[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            bits[i] = SafeTensors.ToBFloat16(weights[i]);
            weights[i] = SafeTensors.FromBFloat16(bits[i]);
        }
        return bits;
    }
}
