using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime.CPU;
using MoCGen.Compiler.Spec;
using MoCGen.Cpu;
using MoCGen.Inference;
using Xunit;
using Xunit.Abstractions;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// The generated training launch table (<c>Cuda.FeedForwardKernels</c>: symbols, ILGPU twins, blocks, grids) driving a
/// whole forward and backward step through <see cref="IKernelDevice"/> on ILGPU's CPU accelerator, one launch sequence
/// for MoC and the dense twin, against MoCGen's CPU MoC FFN. The per-kernel tests check the numerics closely; this one
/// checks that the table launches every kernel with the grid and block its template expects, so a wrong grid formula
/// or parameter order fails here rather than first on a GPU. Inputs as FeedForwardIlgpuTests (gates exact, token 3
/// zero); selections and window starts must match exactly, every float output within 1e-4 of its largest |value|
/// (fp32 sums of at most 520 terms err by about 1e-6 of that; a missing or misplaced term is far larger).
/// </summary>
public sealed class FeedForwardTableIlgpuTests(ITestOutputHelper output)
{
    private const int Tokens = 150; // across the 128-token GEMM and up tiles and the 64-token down and gx tiles

    [Fact] public void MoC() => Run<Shape200x520x65>("FfnTableMoC");
    [Fact] public void Dense() => Run<Shape200x520x520>("FfnTableDense");
    [Fact] public void MoCBf16() => Run<Shape200x520x65>("FfnTableBf16", bf16: true);

    private void Run<TShape>(string name, bool bf16 = false) where TShape : struct, IFeedForwardShape
    {
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK, n = Tokens;
        var plan = DecoderBuild.Plan(name, 64, d, f, k, 1, 2, 2, 16, weights: bf16 ? StoredPrecision.BFloat16 : StoredPrecision.Float32);
        var table = DecoderBuild.FeedForwardKernels(plan);
        Assert.Equal(k == f, table.Dense);
        Assert.Equal(bf16 ? DeviceElement.BFloat16 : DeviceElement.Float32, table.WeightElement);
        Assert.Equal((f + 31) / 32 + 1, table.WindowStarts);

        var rng = new Random(99 + d + f + k);
        float Sixteenths() => rng.Next(-8, 9) / 16f;
        float Uniform() => (float)(rng.NextDouble() - 0.5);
        float[] Fill(int length, Func<float> value) => Enumerable.Range(0, length).Select(_ => value()).ToArray();
        var x = Fill(n * d, Sixteenths);
        Array.Clear(x, 3 * d, d);
        var wg = Fill(f * d, Sixteenths);
        var wu = Fill(f * d, Uniform);
        var wdT = Fill(f * d, Uniform);
        var gy = Fill(n * d, Uniform);
        var dw0 = Fill(3 * f * d, Uniform);
        ushort[]? wgBits = null, wuBits = null, wdBits = null;
        if (bf16) (wgBits, wuBits, wdBits) = (Bf16.Round(wg), Bf16.Round(wu), Bf16.Round(wdT)); // everything reads the rounded values

        // ---- The table's launch sequence on ILGPU's CPU accelerator ----
        using var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia));
        using var accelerator = context.CreateCPUAccelerator(0);
        using var device = new IlgpuKernelDevice(accelerator, DecoderBuild.Ilgpu(plan));
        DeviceBuffer Floats(float[] values)
        {
            var b = device.Allocate(DeviceElement.Float32, values.Length);
            device.Upload(b, values);
            return b;
        }
        DeviceBuffer Weights(float[] values, ushort[]? bits)
        {
            if (bits is null) return Floats(values);
            var b = device.Allocate(DeviceElement.BFloat16, bits.Length);
            device.Upload(b, bits);
            return b;
        }
        using var bx = Floats(x);
        using var bgy = Floats(gy);
        using var fwg = Weights(wg, wgBits); // what the forward reads (bf16 or fp32)
        using var fwu = Weights(wu, wuBits);
        using var fwd = Weights(wdT, wdBits);
        using var bwg = Floats(wg); // the backward reads fp32
        using var bwu = Floats(wu);
        using var bwd = Floats(wdT);
        using var bg = device.Allocate(DeviceElement.Float32, (long)n * f);
        using var bindex = device.Allocate(DeviceElement.Int32, (long)n * k);
        using var bgate = device.Allocate(DeviceElement.Float32, (long)n * k);
        using var bstart = device.Allocate(DeviceElement.Int32, (long)n * table.WindowStarts);
        using var bup = device.Allocate(DeviceElement.Float32, (long)n * k);
        using var bh = device.Allocate(DeviceElement.Float32, (long)n * k);
        using var by = Floats(Enumerable.Repeat(float.NaN, n * d).ToArray());
        using var bgg = device.Allocate(DeviceElement.Float32, (long)n * k);
        using var bgu = device.Allocate(DeviceElement.Float32, (long)n * k);
        using var bgx = Floats(Enumerable.Repeat(float.NaN, n * d).ToArray());
        using var bdwg = Floats(dw0[..(f * d)]);
        using var bdwu = Floats(dw0[(f * d)..(2 * f * d)]);
        using var bdwd = Floats(dw0[(2 * f * d)..]);
        device.Launch(table.GateGemm, n, bx, fwg, bg, n);
        device.Launch(table.TopK, n, bg, bindex, bgate, n);
        device.Launch(table.Windows, n, bindex, bstart, n);
        device.Launch(table.Up, n, bx, fwu, bindex, bstart, bgate, bup, bh, n);
        device.Launch(table.Down, n, fwd, bindex, bstart, bh, by, n);
        device.Launch(table.Gh, n, bwd, bgy, bindex, bstart, bgate, bup, bgg, bgu, bh, n);
        device.Launch(table.Gx, n, bwg, bwu, bindex, bstart, bgg, bgu, bgx, n);
        device.Launch(table.Weights, n, bx, bgy, bindex, bstart, bgg, bgu, bh, bdwg, bdwu, bdwd, n);
        device.Synchronize();
        Assert.Equal(table.InOrder.Count, device.Launches.Values.Sum());
        float[] Get(DeviceBuffer b, long length)
        {
            var a = new float[length];
            device.Download(b, a);
            return a;
        }
        var index = new int[n * k];
        device.Download(bindex, index);
        var start = new int[n * table.WindowStarts];
        device.Download(bstart, start);

        // ---- MoCGen's CPU kernel ----
        var weights = new FeedForwardWeights(wg, wu, wdT);
        var cpuIndex = new ushort[k == f ? 0 : n * k];
        var cpuGate = new float[n * k];
        var cpuUp = new float[n * k];
        var cpuY = new float[n * d];
        var saved = new FeedForwardSaved<ushort>(cpuIndex, cpuGate, cpuUp);
        MoCFeedForward<TShape, ushort>.Forward(n, x, weights, cpuY, saved, new float[MoCFeedForward<TShape, ushort>.GateScratchLength(n)]);
        var cpuGx = new float[n * d];
        var cpuDwg = dw0[..(f * d)]; // the weight gradients are added to: the same starting values as on the device
        var cpuDwu = dw0[(f * d)..(2 * f * d)];
        var cpuDwd = dw0[(2 * f * d)..];
        MoCFeedForward<TShape, ushort>.Backward(n, x, weights, saved, gy, cpuGx, new FeedForwardGradients(cpuDwg, cpuDwu, cpuDwd),
            new float[MoCFeedForward<TShape, ushort>.BackwardScratchLength(n)]);

        for (int t = 0; t < n; t++)
        {
            for (int s = 0; s < k; s++)
                Assert.True(index[t * k + s] == (k == f ? s : cpuIndex[t * k + s]), $"token {t} slot {s}: channel {index[t * k + s]}");
            for (int w = 0; w < table.WindowStarts; w++)
            {
                int first = 0;
                while (first < k && index[t * k + first] < w * 32) first++;
                Assert.True(start[t * table.WindowStarts + w] == first, $"token {t} window {w}: start {start[t * table.WindowStarts + w]}, expected {first}");
            }
        }
        Near("gate", cpuGate, Get(bgate, n * k));
        Near("up", cpuUp, Get(bup, n * k));
        Near("y", cpuY, Get(by, n * d));
        Near("gx", cpuGx, Get(bgx, n * d));
        Near("dW_g", cpuDwg, Get(bdwg, f * d));
        Near("dW_u", cpuDwu, Get(bdwu, f * d));
        Near("dW_d^T", cpuDwd, Get(bdwd, f * d));
        output.WriteLine($"{name}: {table.InOrder.Count} launches through the generated table match the CPU kernel");
    }

    private void Near(string what, float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v)), worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)expected[i] - actual[i]);
            Assert.True(error <= 1e-4 * scale, $"{what}[{i}] = {actual[i]}, CPU {expected[i]} (max |value| {scale:G3})");
            worst = Math.Max(worst, error);
        }
        output.WriteLine($"{what}: worst |difference| {worst:E2}, {worst / scale:E2} of max |value|");
    }
}
