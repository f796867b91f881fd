using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoCGen.Compiler.Emit;
using MoCGen.Compiler.Planning;
using MoCGen.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace MoCGen.Kernels.Tests;

public struct BwdShape200x520x65 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 65; }
public struct BwdShape200x520x1 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 1; }
public struct BwdShape200x520x520 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 520; }
public struct BwdShape32x64x8 : IFeedForwardShape { public static int Hidden => 32; public static int Intermediate => 64; public static int TopK => 8; }
public struct BwdShape32x64x60 : IFeedForwardShape { public static int Hidden => 32; public static int Intermediate => 64; public static int TopK => 60; }

/// <summary>
/// The ILGPU rendering of Templates/FeedForwardBackward.scriban (<c>Ilgpu.Backward</c>) on ILGPU's CPU accelerator
/// (NVIDIA-like: warp 32), against MoCGen's CPU <see cref="MoCFeedForward{TShape, TIndex}.Backward"/> and a scalar
/// double reference. The saved activations (ascending indices, gate and up values) are random inputs; the weight
/// gradients start from random values, since both backward passes add to them.
/// Tolerance for every output: |a - b| &lt;= 1e-5 * S + 1e-7, S the sum of the absolute values of the terms of its
/// sum carried through the chain (for gx_c: S = sum_s |u_s SiLU'(g_s)| A_s |W_g[j_s, c]| + |SiLU(g_s)| A_s |W_u[j_s, c]|
/// with A_s = sum_c |W_d^T[j_s, c] gy_c|, the bound of gh_s's rounding; for dW: |initial| plus the sum over the
/// tokens of the same coefficient bounds times |x| or |gy|; for h: |h|). fp32 sums of n terms err by at most
/// n 2^-24 S and in practice by about sqrt(n) 2^-24 S (1.4e-6 S for the 520-term sums here), so 1e-5 S holds with
/// margin while a missing, doubled or misplaced term (an error of a whole term) does not.
/// </summary>
public sealed class FeedForwardBackwardIlgpuTests(ITestOutputHelper output)
{
    private const int Tokens = 37; // a full and a partial 32-token GEMM tile

    [Fact] public void Backward_d200_dff520_K65() => Run<BwdShape200x520x65>("Bwd200x520x65");
    [Fact] public void Backward_d200_dff520_K1() => Run<BwdShape200x520x1>("Bwd200x520x1");
    [Fact] public void Backward_d200_dff520_Dense() => Run<BwdShape200x520x520>("Bwd200x520x520");
    [Fact] public void Backward_d32_dff64_K8() => Run<BwdShape32x64x8>("Bwd32x64x8");

    /// <summary>Nearly dense (60 of 64 channels): a gh block's 37 tokens keep 2220 slots, more than one pass of 2048.</summary>
    [Fact]
    public void Backward_d32_dff64_K60() => Run<BwdShape32x64x60>("Bwd32x64x60");

    /// <summary>More tokens than one 128-token gh tile, one 64-token gx tile and one 32-token chunk of the weight kernel (ten chunks, the last of 12 tokens).</summary>
    [Fact]
    public void Backward_d32_dff64_K8_300Tokens() => Run<BwdShape32x64x8>("Bwd32x64x8Many", tokens: 300);

    /// <summary>MoC renders the sparse gh, gx and weight kernels; the dense twin renders three tiled GEMMs instead and reads no indices.</summary>
    [Fact]
    public void DenseTwinRendersGemmsAndMoCTheSparseKernels()
    {
        var dense = FeedForwardBackwardEmitter.RenderIlgpu(KernelBuild.Plan("BwdDenseText", 32, 64, 64));
        Assert.Contains("public static void DenseGh(", dense);
        Assert.Contains("public static void DenseGx(", dense);
        Assert.Contains("public static void WeightsGemm(", dense);
        Assert.DoesNotContain("WeightsByChannel(", dense);
        Assert.DoesNotContain("public static void Gh(", dense);
        Assert.DoesNotContain("index[", dense); // the dense twin reads no indices
        var moc = FeedForwardBackwardEmitter.RenderIlgpu(KernelBuild.Plan("BwdMoCText", 32, 64, 8));
        Assert.Contains("public static void Gh(", moc);
        Assert.Contains("public static void GxByWindows(", moc);
        Assert.Contains("public static void WeightsByChannel(", moc);
        Assert.DoesNotContain("WeightsGemm(", moc);
        Assert.DoesNotContain("DenseGh(", moc);
        Assert.StartsWith("/// <summary>", moc.TrimStart());
        Assert.DoesNotContain("__syncthreads", moc);
        Assert.DoesNotContain("Atomic.Add", moc); // deterministic: no atomic adds (the weight kernel ORs bits into a shared mask)
    }

    private void Run<TShape>(string name, int tokens = Tokens) where TShape : struct, IFeedForwardShape
    {
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK, n = tokens;
        bool dense = k == f;
        var plan = KernelBuild.Plan(name, d, f, k);
        var clock = Stopwatch.StartNew();
        var kernels = BackwardKernels(plan);
        output.WriteLine($"Roslyn compile {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(d, Const(kernels, "HIDDEN"));
        Assert.Equal(f, Const(kernels, "INTERMEDIATE"));
        Assert.Equal(k, Const(kernels, "TOPK"));

        // ---- Inputs ----
        var rng = new Random(777 + d + f + k);
        float Uniform(double scale) => (float)((rng.NextDouble() - 0.5) * scale);
        float[] Fill(int length, double scale)
        {
            var a = new float[length];
            for (int i = 0; i < a.Length; i++) a[i] = Uniform(scale);
            return a;
        }
        var x = Fill(n * d, 1);
        var wg = Fill(f * d, 1);
        var wu = Fill(f * d, 1);
        var wdT = Fill(f * d, 1);
        var gy = Fill(n * d, 1);
        var gate = Fill(n * k, 8); // in [-4, 4]: SiLU' across its range
        var up = Fill(n * k, 2);
        var dwg0 = Fill(f * d, 1);
        var dwu0 = Fill(f * d, 1);
        var dwd0 = Fill(f * d, 1);
        var index = new int[n * k];
        var channels = Enumerable.Range(0, f).ToArray();
        for (int t = 0; t < n; t++)
        {
            if (!dense && t != 2) // token 2 (and every token of the dense twin) takes the K lowest channels
                for (int i = 0; i < k; i++)
                {
                    int other = i + rng.Next(f - i);
                    (channels[i], channels[other]) = (channels[other], channels[i]);
                }
            var chosen = dense || t == 2 ? Enumerable.Range(0, k).ToArray() : channels.Take(k).Order().ToArray();
            chosen.CopyTo(index, t * k);
        }
        if (!dense && k > 1) // channel f - 1 selected by every token, and its neighbour by none
            for (int t = 0; t < n; t++)
            {
                var row = index.AsSpan(t * k, k);
                if (row.IndexOf(f - 1) < 0) row[0] = f - 1;
                int free = 0;
                while (row.IndexOf(free) >= 0) free++;
                for (int s = 0; s < k; s++)
                    if (row[s] == f - 2) row[s] = free;
                row.Sort();
            }

        // ---- ILGPU, CPU accelerator ----
        var gx = new float[n * d];
        var gradGate = new float[n * k];
        var gradUp = new float[n * k];
        var hidden = new float[n * k];
        var dwg = (float[])dwg0.Clone();
        var dwu = (float[])dwu0.Clone();
        var dwd = (float[])dwd0.Clone();
        using (var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia)))
        using (var accelerator = context.CreateCPUAccelerator(0))
        {

            using var bx = accelerator.Allocate1D(x);
            using var bwg = accelerator.Allocate1D(wg);
            using var bwu = accelerator.Allocate1D(wu);
            using var bwd = accelerator.Allocate1D(wdT);
            using var bindex = accelerator.Allocate1D(index);
            using var bgate = accelerator.Allocate1D(gate);
            using var bup = accelerator.Allocate1D(up);
            using var bgy = accelerator.Allocate1D(gy);
            using var bgx = accelerator.Allocate1D<float>(gx.Length);
            using var bgg = accelerator.Allocate1D<float>(gradGate.Length);
            using var bgu = accelerator.Allocate1D<float>(gradUp.Length);
            using var bh = accelerator.Allocate1D<float>(hidden.Length);
            using var bdwg = accelerator.Allocate1D(dwg);
            using var bdwu = accelerator.Allocate1D(dwu);
            using var bdwd = accelerator.Allocate1D(dwd);
            clock.Restart();
            if (dense)
            {
                int tile = Const(kernels, "TILE");
                var group = new Index2D(Const(kernels, "GEMM_THREADS"), 1);
                using var bnone = accelerator.Allocate1D<int>(1); // index and start: unused by the dense GEMMs
                var gh = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "DenseGh"));
                var gxKernel = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "DenseGx"));
                gh(new KernelConfig(new Index2D((f + tile - 1) / tile, (n + tile - 1) / tile), group),
                    bwd.View, bgy.View, bnone.View, bnone.View, bgate.View, bup.View, bgg.View, bgu.View, bh.View, n);
                accelerator.Synchronize();
                output.WriteLine($"dense gh GEMM {clock.Elapsed.TotalMilliseconds:F0} ms");
                clock.Restart();
                gxKernel(new KernelConfig(new Index2D((d + tile - 1) / tile, (n + tile - 1) / tile), group),
                    bwg.View, bwu.View, bnone.View, bnone.View, bgg.View, bgu.View, bgx.View, n);
                accelerator.Synchronize();
                output.WriteLine($"dense gx GEMM {clock.Elapsed.TotalMilliseconds:F0} ms");
                clock.Restart();
                var weights = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "WeightsGemm"));
                weights(new KernelConfig(new Index2D((d + tile - 1) / tile, (f + tile - 1) / tile), group),
                    bx.View, bgy.View, bindex.View, bnone.View, bgg.View, bgu.View, bh.View, bdwg.View, bdwu.View, bdwd.View, n);
                accelerator.Synchronize();
                output.WriteLine($"dense weight GEMM {clock.Elapsed.TotalMilliseconds:F0} ms");
            }
            else
            {
                // The forward's window-start table (its kernel is checked with the forward), tabulated here.
                int starts = Const(kernels, "STARTS"), window = Const(kernels, "WINDOW");
                var start = new int[n * starts];
                for (int t = 0; t < n; t++)
                for (int w = 0; w < starts; w++)
                {
                    int s = 0;
                    while (s < k && index[t * k + s] < w * window) s++;
                    start[t * starts + w] = s;
                }
                using var bstart = accelerator.Allocate1D(start);
                var gh = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "Gh"));
                int span = Const(kernels, "SP_CHANNELS"), spTokens = Const(kernels, "SP_TOKENS");
                gh(new KernelConfig(new Index2D((f + span - 1) / span, (n + spTokens - 1) / spTokens), new Index2D(Const(kernels, "SP_THREADS"), 1)),
                    bwd.View, bgy.View, bindex.View, bstart.View, bgate.View, bup.View, bgg.View, bgu.View, bh.View, n);
                bgx.CopyFromCPU(Enumerable.Repeat(float.NaN, gx.Length).ToArray()); // the gx kernel must write all of it
                var gxKernel = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "GxByWindows"));
                int gxCols = Const(kernels, "WP_COLS"), gxTokens = Const(kernels, "WP_TOKENS");
                gxKernel(new KernelConfig(new Index2D((d + gxCols - 1) / gxCols, (n + gxTokens - 1) / gxTokens), new Index2D(Const(kernels, "WP_THREADS"), 1)),
                    bwg.View, bwu.View, bindex.View, bstart.View, bgg.View, bgu.View, bgx.View, n);
                accelerator.Synchronize();
                output.WriteLine($"gh and gx kernels {clock.Elapsed.TotalMilliseconds:F0} ms");
                clock.Restart();
                int cols = Const(kernels, "WEIGHT_COLS"), weightWindow = Const(kernels, "WEIGHT_WINDOW");
                var weights = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(kernels, "WeightsByChannel"));
                weights(new KernelConfig(new Index2D((d + cols - 1) / cols, (f + weightWindow - 1) / weightWindow), new Index2D(Const(kernels, "WEIGHT_THREADS"), 1)),
                    bx.View, bgy.View, bindex.View, bstart.View, bgg.View, bgu.View, bh.View, bdwg.View, bdwu.View, bdwd.View, n);
                accelerator.Synchronize();
                output.WriteLine($"weight kernel {clock.Elapsed.TotalMilliseconds:F0} ms");
            }
            bgx.CopyToCPU(gx);
            bgg.CopyToCPU(gradGate);
            bgu.CopyToCPU(gradUp);
            bh.CopyToCPU(hidden);
            bdwg.CopyToCPU(dwg);
            bdwu.CopyToCPU(dwu);
            bdwd.CopyToCPU(dwd);
        }

        // ---- MoCGen's CPU kernel ----
        var cpuGx = new float[n * d];
        var cpuDwg = (float[])dwg0.Clone();
        var cpuDwu = (float[])dwu0.Clone();
        var cpuDwd = (float[])dwd0.Clone();
        var cpuIndex = dense ? Array.Empty<ushort>() : index.Select(i => (ushort)i).ToArray();
        var scratch = new float[MoCFeedForward<TShape, ushort>.BackwardScratchLength(n)];
        MoCFeedForward<TShape, ushort>.Backward(n, x, new FeedForwardWeights(wg, wu, wdT), new FeedForwardSaved<ushort>(cpuIndex, gate, up),
            gy, cpuGx, new FeedForwardGradients(cpuDwg, cpuDwu, cpuDwd), scratch);

        // ---- Scalar double reference ----
        var refGx = new double[n * d];
        var refGxAbs = new double[n * d];
        var refDwg = dwg0.Select(v => (double)v).ToArray();
        var refDwu = dwu0.Select(v => (double)v).ToArray();
        var refDwd = dwd0.Select(v => (double)v).ToArray();
        var absDwg = dwg0.Select(v => Math.Abs((double)v)).ToArray();
        var absDwu = dwu0.Select(v => Math.Abs((double)v)).ToArray();
        var absDwd = dwd0.Select(v => Math.Abs((double)v)).ToArray();
        var check = new Check();
        for (int t = 0; t < n; t++)
        for (int s = 0; s < k; s++)
        {
            int e = t * k + s, j = index[e];
            double gh = 0, ghAbs = 0;
            for (int c = 0; c < d; c++)
            {
                gh += (double)wdT[j * d + c] * gy[t * d + c];
                ghAbs += Math.Abs((double)wdT[j * d + c] * gy[t * d + c]);
            }
            double z = gate[e], u = up[e], sg = 1 / (1 + Math.Exp(-z)), silu = z * sg, dsilu = sg * (1 + z * (1 - sg));
            double gu = gh * silu, gg = gh * u * dsilu, h = silu * u;
            double guS = Math.Abs(silu) * ghAbs, ggS = Math.Abs(u * dsilu) * ghAbs, hS = Math.Abs(h);
            check.Near(gg, gradGate[e], ggS, $"gg[{t},{s}]");
            check.Near(gu, gradUp[e], guS, $"gu[{t},{s}]");
            check.Near(h, hidden[e], hS, $"h[{t},{s}]");
            for (int c = 0; c < d; c++)
            {
                int o = j * d + c, r = t * d + c;
                refGx[r] += gg * wg[o] + gu * wu[o];
                refGxAbs[r] += ggS * Math.Abs(wg[o]) + guS * Math.Abs(wu[o]);
                refDwg[o] += gg * x[r];
                absDwg[o] += ggS * Math.Abs(x[r]);
                refDwu[o] += gu * x[r];
                absDwu[o] += guS * Math.Abs(x[r]);
                refDwd[o] += h * gy[r];
                absDwd[o] += hS * Math.Abs(gy[r]);
            }
        }
        for (int i = 0; i < n * d; i++)
        {
            check.Near(refGx[i], gx[i], refGxAbs[i], $"gx[{i / d},{i % d}]");
            check.Near(refGx[i], cpuGx[i], refGxAbs[i], $"CPU gx[{i / d},{i % d}]");
        }
        for (int i = 0; i < f * d; i++)
        {
            string at = $"[{i / d},{i % d}]";
            check.Near(refDwg[i], dwg[i], absDwg[i], "dW_g" + at);
            check.Near(refDwu[i], dwu[i], absDwu[i], "dW_u" + at);
            check.Near(refDwd[i], dwd[i], absDwd[i], "dW_d^T" + at);
            check.Near(refDwg[i], cpuDwg[i], absDwg[i], "CPU dW_g" + at);
            check.Near(refDwu[i], cpuDwu[i], absDwu[i], "CPU dW_u" + at);
            check.Near(refDwd[i], cpuDwd[i], absDwd[i], "CPU dW_d^T" + at);
        }
        if (!dense && k > 1) Assert.Equal(dwg0[(f - 2) * d], dwg[(f - 2) * d]); // a channel no token selected keeps its gradient
        output.WriteLine($"{check.Count} values; largest error / tolerance {check.WorstRatio:F3} ({check.Worst}), largest absolute error {check.MaxError:G3}");
    }

    private sealed class Check
    {
        public int Count;
        public double WorstRatio;
        public double MaxError;
        public string Worst = "";

        public void Near(double expected, float actual, double sumAbs, string what)
        {
            double tolerance = 1e-5 * sumAbs + 1e-7, error = Math.Abs(expected - actual);
            Assert.True(error <= tolerance, $"{what} = {actual}, expected {expected} (tolerance {tolerance:G3})");
            Count++;
            MaxError = Math.Max(MaxError, error);
            if (error / tolerance > WorstRatio)
            {
                WorstRatio = error / tolerance;
                Worst = what;
            }
        }
    }

    private static readonly ConcurrentDictionary<string, Type> Compiled = new();

    /// <summary>The rendered <c>Backward</c> class, compiled in memory inside a stand-in <c>Ilgpu</c> class and loaded.</summary>
    private static Type BackwardKernels(ModelPlan plan) => Compiled.GetOrAdd(plan.Shape.Name, _ =>
    {
        var text = "#nullable enable\nusing System;\nusing ILGPU;\nusing ILGPU.Runtime;\n\nnamespace KernelDemo;\n\npartial class "
            + plan.Shape.Name + "\n{\npublic static class Ilgpu\n{\n" + FeedForwardBackwardEmitter.RenderIlgpu(plan) + "}\n}\n";
        var tree = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Latest, DocumentationMode.Diagnose),
            path: plan.Shape.Name + ".Backward.g.cs");
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(Context).Assembly.Location))
            .GroupBy(r => Path.GetFileName(r.Display)).Select(g => g.First());
        var compilation = CSharpCompilation.Create("KernelDemo.Backward." + plan.Shape.Name, new[] { tree }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
                optimizationLevel: Microsoft.CodeAnalysis.OptimizationLevel.Release, generalDiagnosticOption: ReportDiagnostic.Error));
        using var image = new MemoryStream();
        var emit = compilation.Emit(image);
        Assert.True(emit.Success, "the ILGPU backward rendering does not compile:\n" + string.Join("\n", emit.Diagnostics) + "\n" + text);
        return Assembly.Load(image.ToArray()).GetType("KernelDemo." + plan.Shape.Name + "+Ilgpu+Backward", throwOnError: true)!;
    });

    private static int Const(Type kernels, string name) => (int)kernels.GetField(name)!.GetRawConstantValue()!;

    private static T Kernel<T>(Type kernels, string name) where T : Delegate =>
        kernels.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<T>();
}
