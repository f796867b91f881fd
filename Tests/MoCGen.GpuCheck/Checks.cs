using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using MoCGen.Checkpoints;
using MoCGen.Cpu;
using MoCGen.Cuda;
using MoCGen.Inference;

namespace MoCGen.GpuCheck;

/// <summary>
/// Every generated CUDA kernel against the CPU reference, mirroring Tests/MoCGen.Kernels.Tests/*IlgpuTests.cs (same
/// inputs, launches and tolerances). Tolerance of a sum: |error| &lt;= 1e-5 S + 1e-7, S the sum of the absolute values of
/// its terms carried through the chain; fp32 sums err by about sqrt(n) 2^-24 S, so a missing, doubled or misplaced term
/// fails while any summation order passes. The CUDA kernels take SiLU and the sigmoid with ex2.approx and div.approx
/// (relative error about 2^-21 where MathF.Exp gives 2^-24): still far inside 1e-5 S, so no tolerance is widened for it.
/// </summary>
internal static class Checks
{
    private const string SumTolerance = "1e-5 S + 1e-7";

    /// <summary>Runs every check on <paramref name="gpu"/>.</summary>
    public static void RunAll(CudaDevice gpu, Report report)
    {
        foreach (var m in new[] { Ffn200.Ffn, Ffn200Dense.Ffn, Llama7BFfn.Ffn, Llama7BFfnBf16.Ffn })
            foreach (int n in m.Hidden < 1024 ? new[] { 37, 300 } : new[] { 37 }) // 300: several token tiles of up and down
                report.Check($"ffn-forward  {Name(m)}, {n} tokens (gate GEMM, Top-K, window starts, up, down)",
                    "gate, indices, selected gates, window starts exact; up, h, y " + SumTolerance, () => Forward(gpu, m, n));

        foreach (var (m, tokens) in new[] { (Ffn200.Ffn, new[] { 1, 2, 3, 4 }), (Ffn200Dense.Ffn, new[] { 1, 4 }),
                     (Llama7BFfnBf16.Ffn, new[] { 1, 4 }), (Llama7BFfn.Ffn, new[] { 1 }) })
            foreach (int n in tokens)
                report.Check($"ffn-decode   {Name(m)}, {n} token(s) (gate GEMV with Top-K, tiled up/down)",
                    "gate, indices, selected gates exact; y " + SumTolerance + " (2 S against the CPU kernel)", () => Decode(gpu, m, n));

        foreach (var m in new[] { Ffn200.Ffn, Ffn200Dense.Ffn, Llama7BFfn.Ffn })
            report.Check($"ffn-backward {Name(m)}, 37 tokens ({(m.Dense ? "dense path: gh, gx, weight GEMMs" : "MoC path: window starts, then gh, gx and weights by tiles")})",
                "gg, gu, h, gx, dW_g, dW_u, dW_d^T " + SumTolerance, () => Backward(gpu, m, 37));

        report.Check("decoder      SmallDecoder argmax and softmax statistics", "argmax exact; max exact, sum of exp 1e-5 relative",
            () => Sampling(gpu));
        const string steps = "steps of 3, 1, 2, 4, 1, 4 tokens";
        report.Check("decode       SmallDecoder (fp32): GpuDecodeSession on CUDA vs the CPU DecodeSession, " + steps,
            "logits 1e-4 max|logit|; greedy token equal", () => WholeDecode(gpu, SmallDecoder.Plan, SmallDecoder.GpuDecodeKernels,
                p => SmallDecoder.CreateDecodeSession(p), bf16: false));
        report.Check("decode       SmallDecoderBf16 (bf16 weights): GpuDecodeSession on CUDA vs the CPU DecodeSession on the widened weights, " + steps,
            "logits 1e-4 max|logit|; greedy token equal", () => WholeDecode(gpu, SmallDecoderBf16.Plan, SmallDecoderBf16.GpuDecodeKernels,
                p => SmallDecoderBf16.CreateDecodeSession(p), bf16: true));
    }

    private static string Name(FfnKernels m) =>
        $"{m.Model.Split('.').Last()} (d {m.Hidden}, d_ff {m.Intermediate}, K {m.TopK}, {m.WeightType})";

    // ---- feed-forward forward: the training kernels -------------------------------------------------------------

    /// <summary>
    /// x and W_g are multiples of 1/16 in [-1/2, 1/2], so every gate value is exact in fp32 in any order: the gate must
    /// equal the double product, the indices and selected gates the CPU kernel's (token 3 is zero: all gates tie and the
    /// K lowest channels win). up and y against a double reference, and the CPU kernel's against it too.
    /// </summary>
    private static Tally Forward(CudaDevice gpu, FfnKernels m, int n)
    {
        int d = m.Hidden, f = m.Intermediate, k = m.TopK;
        var rng = new Random(1234 + d + f + k);
        var x = Sixteenths(rng, n * d);
        Array.Clear(x, 3 * d, d);
        var (wg, wu, wdT) = Weights(rng, m);

        var g = new float[(long)n * f];
        var index = new int[n * k];
        var gate = new float[n * k];
        var up = new float[n * k];
        var hidden = new float[n * k];
        var start = new int[n * m.WindowStarts];
        var y = new float[n * d];
        using (var kernels = new GpuKernels(gpu, m.Model))
        using (var bx = gpu.Upload<float>(x))
        using (var bwg = Upload(gpu, wg, m.Bf16))
        using (var bwu = Upload(gpu, wu, m.Bf16))
        using (var bwd = Upload(gpu, wdT, m.Bf16))
        using (var bg = gpu.Allocate<float>(g.Length))
        using (var bindex = gpu.Allocate<int>(index.Length))
        using (var bgate = gpu.Allocate<float>(gate.Length))
        using (var bstart = gpu.Upload<int>(Enumerable.Repeat(-1, start.Length).ToArray())) // the window kernel must write all of it
        using (var bup = gpu.Allocate<float>(up.Length))
        using (var bh = gpu.Allocate<float>(hidden.Length))
        using (var by = gpu.Upload<float>(Enumerable.Repeat(float.NaN, y.Length).ToArray())) // and the down kernel all of y
        {
            using var a1 = new KernelArguments().Add(bx).AddPointer(bwg.Pointer).Add(bg).Add(n);
            kernels.Launch(m.GateGemm, n, a1);
            using var a2 = new KernelArguments().Add(bg).Add(bindex).Add(bgate).Add(n);
            kernels.Launch(m.TopKSelect, n, a2);
            using var a3 = new KernelArguments().Add(bindex).Add(bstart).Add(n);
            kernels.Launch(m.Windows, n, a3);
            using var a4 = new KernelArguments().Add(bx).AddPointer(bwu.Pointer).Add(bindex).Add(bstart).Add(bgate).Add(bup).Add(bh).Add(n);
            kernels.Launch(m.Up, n, a4);
            using var a5 = new KernelArguments().AddPointer(bwd.Pointer).Add(bindex).Add(bstart).Add(bh).Add(by).Add(n);
            kernels.Launch(m.Down, n, a5);
            gpu.Synchronize();
            bg.Download(g);
            bindex.Download(index);
            bgate.Download(gate);
            bstart.Download(start);
            bup.Download(up);
            bh.Download(hidden);
            by.Download(y);
        }

        var t = new Tally();
        CheckGate(t, x, wg, g, n, d, f);
        var (cpuY, cpuIndex, cpuGate, cpuUp) = CpuForward(m, n, x, wg, wu, wdT);
        CheckSelection(t, m, n, index, gate, g, cpuIndex, cpuGate, zeroToken: 3);
        var tokenY = new double[d];
        var tokenYAbs = new double[d];
        for (int tok = 0; tok < n; tok++)
        {
            for (int s = 0; s < k; s++)
            {
                int j = index[tok * k + s];
                var (u, uAbs) = Dot(wu, (long)j * d, x, tok * d, d);
                t.Near(u, up[tok * k + s], 1e-5 * uAbs + 1e-7, "up", tok * k + s, k);
                t.Near(u, cpuUp[tok * k + s], 1e-5 * uAbs + 1e-7, "CPU up", tok * k + s, k);
                double z = gate[tok * k + s], silu = z / (1 + Math.Exp(-z));
                t.Near(silu * u, hidden[tok * k + s], 1e-5 * Math.Abs(silu) * uAbs + 1e-7, "h", tok * k + s, k);
            }
            for (int w = 0; w < m.WindowStarts; w++) // the first slot whose channel is >= 32 w (K past the last window)
            {
                int first = 0;
                while (first < k && index[tok * k + first] < w * 32) first++;
                t.Near(first, start[tok * m.WindowStarts + w], 0, "window start", tok * m.WindowStarts + w, m.WindowStarts);
            }
            ReferenceY(m, tok, x, wu, wdT, index, gate, tokenY, tokenYAbs);
            for (int c = 0; c < d; c++)
            {
                double tol = 1e-5 * tokenYAbs[c] + 1e-7;
                t.Near(tokenY[c], y[tok * d + c], tol, "y", tok * d + c, d);
                t.Near(tokenY[c], cpuY[tok * d + c], tol, "CPU y", tok * d + c, d);
            }
        }
        return t;
    }

    // ---- feed-forward decode: 1 to 4 tokens ----------------------------------------------------------------------

    /// <summary>Inputs as <see cref="Forward"/> (with 4 tokens, token 2 is zero); the gate kernel clears y, which up/down adds into.</summary>
    private static Tally Decode(CudaDevice gpu, FfnKernels m, int n)
    {
        int d = m.Hidden, f = m.Intermediate, k = m.TopK;
        var rng = new Random(4321 + d + f + k + n);
        var x = Sixteenths(rng, n * d);
        if (n == 4) Array.Clear(x, 2 * d, d);
        var (wg, wu, wdT) = Weights(rng, m);

        var g = new float[(long)n * f];
        var index = new int[n * k];
        var gate = new float[n * k];
        var y = new float[n * d];
        using (var kernels = new GpuKernels(gpu, m.Model))
        using (var bx = gpu.Upload<float>(x))
        using (var bwg = Upload(gpu, wg, m.Bf16))
        using (var bwu = Upload(gpu, wu, m.Bf16))
        using (var bwd = Upload(gpu, wdT, m.Bf16))
        using (var bg = gpu.Allocate<float>(g.Length))
        using (var bindex = gpu.Allocate<int>(index.Length))
        using (var bgate = gpu.Allocate<float>(gate.Length))
        using (var by = gpu.Allocate<float>(y.Length))
        using (var bticket = gpu.Upload<int>(new int[1]))
        {
            by.Upload(Enumerable.Repeat(float.NaN, y.Length).ToArray()); // the GEMV must clear it
            using var a1 = new KernelArguments().Add(bx).AddPointer(bwg.Pointer).Add(bg).Add(by).Add(bindex).Add(bgate).Add(bticket).Add(n);
            // Twice: the first launch must leave the ticket counter at zero, so the second's last block selects again.
            kernels.Launch(m.DecodeGateTopK, n, a1);
            gpu.Synchronize();
            bindex.Upload(Enumerable.Repeat(-1, index.Length).ToArray());
            bgate.Upload(Enumerable.Repeat(float.NaN, gate.Length).ToArray());
            kernels.Launch(m.DecodeGateTopK, n, a1);
            using var a3 = new KernelArguments().Add(bx).AddPointer(bwu.Pointer).AddPointer(bwd.Pointer).Add(bindex).Add(bgate).Add(by).Add(n);
            kernels.Launch(m.DecodeUpDown, n, a3);
            gpu.Synchronize();
            bg.Download(g);
            bindex.Download(index);
            bgate.Download(gate);
            by.Download(y);
        }

        var t = new Tally();
        CheckGate(t, x, wg, g, n, d, f);
        var (cpuY, cpuIndex, cpuGate, _) = CpuForward(m, n, x, wg, wu, wdT);
        CheckSelection(t, m, n, index, gate, g, cpuIndex, cpuGate, zeroToken: n == 4 ? 2 : -1);
        var tokenY = new double[d];
        var tokenYAbs = new double[d];
        for (int tok = 0; tok < n; tok++)
        {
            ReferenceY(m, tok, x, wu, wdT, index, gate, tokenY, tokenYAbs);
            for (int c = 0; c < d; c++)
            {
                double tol = 1e-5 * tokenYAbs[c] + 1e-7;
                t.Near(tokenY[c], y[tok * d + c], tol, "y", tok * d + c, d);
                t.Near(cpuY[tok * d + c], y[tok * d + c], 2 * tol, "y vs CPU", tok * d + c, d);
            }
        }
        return t;
    }

    // ---- feed-forward backward ----------------------------------------------------------------------------------

    /// <summary>
    /// The saved activations are random inputs (ascending indices; token 2 takes the K lowest channels; channel d_ff - 1
    /// is selected by every token and d_ff - 2 by none); the weight gradients start from random values, since both
    /// backward passes add to them. Every output against a double reference, the CPU kernel's too.
    /// </summary>
    private static Tally Backward(CudaDevice gpu, FfnKernels m, int n)
    {
        int d = m.Hidden, f = m.Intermediate, k = m.TopK;
        bool dense = m.Dense;
        long fd = (long)f * d;
        var rng = new Random(777 + d + f + k);
        var x = Uniform(rng, n * d, 1);
        var wg = Uniform(rng, fd, 1);
        var wu = Uniform(rng, fd, 1);
        var wdT = Uniform(rng, fd, 1);
        var gy = Uniform(rng, n * d, 1);
        var gate = Uniform(rng, n * k, 8); // in [-4, 4]: SiLU' across its range
        var up = Uniform(rng, n * k, 2);
        var dwg0 = Uniform(rng, fd, 1);
        var dwu0 = Uniform(rng, fd, 1);
        var dwd0 = Uniform(rng, fd, 1);
        var index = Indices(rng, n, f, k);

        var gx = new float[n * d];
        var gradGate = new float[n * k];
        var gradUp = new float[n * k];
        var hidden = new float[n * k];
        var dwg = new float[fd];
        var dwu = new float[fd];
        var dwd = new float[fd];
        using (var kernels = new GpuKernels(gpu, m.Model))
        using (var bx = gpu.Upload<float>(x))
        using (var bwg = gpu.Upload<float>(wg))
        using (var bwu = gpu.Upload<float>(wu))
        using (var bwd = gpu.Upload<float>(wdT))
        using (var bindex = gpu.Upload<int>(index))
        using (var bgate = gpu.Upload<float>(gate))
        using (var bup = gpu.Upload<float>(up))
        using (var bgy = gpu.Upload<float>(gy))
        using (var bgx = gpu.Allocate<float>(gx.Length))
        using (var bgg = gpu.Allocate<float>(gradGate.Length))
        using (var bgu = gpu.Allocate<float>(gradUp.Length))
        using (var bh = gpu.Allocate<float>(hidden.Length))
        using (var bdwg = gpu.Upload<float>(dwg0))
        using (var bdwu = gpu.Upload<float>(dwu0))
        using (var bdwd = gpu.Upload<float>(dwd0))
        using (var bstart = gpu.Allocate<int>((long)n * m.WindowStarts)) // the window-start table (unused by the dense GEMMs)
        {
            // One sequence for MoC and the dense twin (whose GEMMs take index and start too, unused).
            using var windows = new KernelArguments().Add(bindex).Add(bstart).Add(n); // the forward's table
            kernels.Launch(m.Windows, n, windows);
            using var gh = new KernelArguments().Add(bwd).Add(bgy).Add(bindex).Add(bstart).Add(bgate).Add(bup).Add(bgg).Add(bgu).Add(bh).Add(n);
            kernels.Launch(m.BackwardGh, n, gh);
            bgx.Upload(Enumerable.Repeat(float.NaN, gx.Length).ToArray()); // the gx kernel must write all of it
            using var gxArgs = new KernelArguments().Add(bwg).Add(bwu).Add(bindex).Add(bstart).Add(bgg).Add(bgu).Add(bgx).Add(n);
            kernels.Launch(m.BackwardGx, n, gxArgs);
            using var weights = new KernelArguments().Add(bx).Add(bgy).Add(bindex).Add(bstart).Add(bgg).Add(bgu).Add(bh).Add(bdwg).Add(bdwu).Add(bdwd).Add(n);
            kernels.Launch(m.BackwardWeights, n, weights);
            gpu.Synchronize();
            bgx.Download(gx);
            bgg.Download(gradGate);
            bgu.Download(gradUp);
            bh.Download(hidden);
            bdwg.Download(dwg);
            bdwu.Download(dwu);
            bdwd.Download(dwd);
        }

        // MoCGen's CPU kernel.
        var cpuGx = new float[n * d];
        var cpuDwg = (float[])dwg0.Clone();
        var cpuDwu = (float[])dwu0.Clone();
        var cpuDwd = (float[])dwd0.Clone();
        var cpuIndex = dense ? Array.Empty<ushort>() : index.Select(i => (ushort)i).ToArray();
        m.Backward(n, x, new FeedForwardWeights(wg, wu, wdT), new FeedForwardSaved<ushort>(cpuIndex, gate, up), gy, cpuGx,
            new FeedForwardGradients(cpuDwg, cpuDwu, cpuDwd));

        // Scalar double reference.
        var t = new Tally();
        var refGx = new double[n * d];
        var refGxAbs = new double[n * d];
        var refDwg = dwg0.Select(v => (double)v).ToArray();
        var refDwu = dwu0.Select(v => (double)v).ToArray();
        var refDwd = dwd0.Select(v => (double)v).ToArray();
        var absDwg = dwg0.Select(v => Math.Abs((double)v)).ToArray();
        var absDwu = dwu0.Select(v => Math.Abs((double)v)).ToArray();
        var absDwd = dwd0.Select(v => Math.Abs((double)v)).ToArray();
        for (int tok = 0; tok < n; tok++)
        for (int s = 0; s < k; s++)
        {
            int e = tok * k + s, j = index[e];
            long row = (long)j * d;
            double gh = 0, ghAbs = 0;
            for (int c = 0; c < d; c++)
            {
                double term = (double)wdT[row + c] * gy[tok * d + c];
                gh += term;
                ghAbs += Math.Abs(term);
            }
            double z = gate[e], u = up[e], sg = 1 / (1 + Math.Exp(-z)), silu = z * sg, dsilu = sg * (1 + z * (1 - sg));
            double gu = gh * silu, gg = gh * u * dsilu, h = silu * u;
            double guS = Math.Abs(silu) * ghAbs, ggS = Math.Abs(u * dsilu) * ghAbs, hS = Math.Abs(h);
            t.Near(gg, gradGate[e], 1e-5 * ggS + 1e-7, "gg", e, k);
            t.Near(gu, gradUp[e], 1e-5 * guS + 1e-7, "gu", e, k);
            t.Near(h, hidden[e], 1e-5 * hS + 1e-7, "h", e, k);
            for (int c = 0; c < d; c++)
            {
                long o = row + c;
                int r = tok * d + c;
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
            double tol = 1e-5 * refGxAbs[i] + 1e-7;
            t.Near(refGx[i], gx[i], tol, "gx", i, d);
            t.Near(refGx[i], cpuGx[i], tol, "CPU gx", i, d);
        }
        for (long i = 0; i < fd; i++)
        {
            t.Near(refDwg[i], dwg[i], 1e-5 * absDwg[i] + 1e-7, "dW_g", i, d);
            t.Near(refDwu[i], dwu[i], 1e-5 * absDwu[i] + 1e-7, "dW_u", i, d);
            t.Near(refDwd[i], dwd[i], 1e-5 * absDwd[i] + 1e-7, "dW_d^T", i, d);
            t.Near(refDwg[i], cpuDwg[i], 1e-5 * absDwg[i] + 1e-7, "CPU dW_g", i, d);
            t.Near(refDwu[i], cpuDwu[i], 1e-5 * absDwu[i] + 1e-7, "CPU dW_u", i, d);
            t.Near(refDwd[i], cpuDwd[i], 1e-5 * absDwd[i] + 1e-7, "CPU dW_d^T", i, d);
        }
        if (!dense && k > 1) // a channel no token selected keeps its gradient, bit for bit
            t.Exact(dwg[(long)(f - 2) * d] == dwg0[(long)(f - 2) * d], () => $"dW_g[{f - 2},0] of a channel no token selected changed");
        return t;
    }

    /// <summary>Ascending indices per token: random K of d_ff; token 2 takes the K lowest; d_ff - 1 is in every token, d_ff - 2 in none.</summary>
    private static int[] Indices(Random rng, int n, int f, int k)
    {
        var index = new int[n * k];
        if (k == f)
        {
            for (int tok = 0; tok < n; tok++)
                for (int s = 0; s < k; s++) index[tok * k + s] = s;
            return index;
        }
        var channels = Enumerable.Range(0, f).ToArray();
        for (int tok = 0; tok < n; tok++)
        {
            if (tok != 2)
                for (int i = 0; i < k; i++)
                {
                    int other = i + rng.Next(f - i);
                    (channels[i], channels[other]) = (channels[other], channels[i]);
                }
            var chosen = tok == 2 ? Enumerable.Range(0, k).ToArray() : channels.Take(k).Order().ToArray();
            chosen.CopyTo(index, tok * k);
        }
        if (k > 1)
            for (int tok = 0; tok < n; tok++)
            {
                var row = index.AsSpan(tok * k, k);
                if (row.IndexOf(f - 1) < 0) row[0] = f - 1;
                int free = 0;
                while (row.IndexOf(free) >= 0) free++;
                for (int s = 0; s < k; s++)
                    if (row[s] == f - 2) row[s] = free;
                row.Sort();
            }
        return index;
    }

    // ---- decoder: sampling kernels and whole decode steps -------------------------------------------------------

    /// <summary>Argmax: ties go to the lower index, NaN is never chosen. Softmax statistics against double: the max
    /// exactly, the sum of exp((z - max) / T) within 1e-5 relative.</summary>
    private static Tally Sampling(CudaDevice gpu)
    {
        const int n = 4, vocab = SmallDecoder.Vocab;
        var rng = new Random(70);
        var logits = Uniform(rng, n * vocab, 4);
        logits[0 * vocab + 10] = 9f; // token 0: a tie at 10 and 50 -> 10
        logits[0 * vocab + 50] = 9f;
        logits[1 * vocab + 3] = float.NaN; // token 1: NaN is skipped; the maximum is the last id
        logits[1 * vocab + vocab - 1] = 8f;
        for (int i = 0; i < vocab; i++) logits[2 * vocab + i] = -1f; // token 2: all equal -> 0
        const float temperature = 0.7f;
        var ids = new int[n];
        var stats = new float[2 * n];
        using (var kernels = new GpuKernels(gpu, SmallDecoder.Cuda.DecodeKernels.Model))
        using (var bl = gpu.Upload<float>(logits))
        using (var bnext = gpu.Allocate<int>(n))
        using (var bstats = gpu.Allocate<float>(2 * n))
        {
            using var a1 = new KernelArguments().Add(bl).Add(bnext).Add(n);
            kernels.Launch(SmallDecoder.Argmax, n, a1);
            using var a2 = new KernelArguments().Add(bl).Add(bstats).Add(1f / temperature).Add(n);
            kernels.Launch(SmallDecoder.SoftmaxStats, n, a2);
            gpu.Synchronize();
            bnext.Download(ids);
            bstats.Download(stats);
        }
        var t = new Tally();
        var expected = new[] { 10, vocab - 1, 0, Argmax(logits.AsSpan(3 * vocab, vocab)) };
        for (int tok = 0; tok < n; tok++)
        {
            int tk = tok;
            t.Exact(ids[tok] == expected[tok], () => $"argmax of token {tk}: {ids[tk]}, expected {expected[tk]}");
            var row = logits.AsSpan(tok * vocab, vocab).ToArray().Where(e => !float.IsNaN(e)).ToArray();
            float max = row.Max();
            double sum = row.Sum(e => Math.Exp((e - (double)max) * (1f / temperature)));
            t.Exact(stats[2 * tok] == max, () => $"softmax max of token {tk}: {stats[2 * tk]}, expected {max}");
            t.Near(sum, stats[2 * tok + 1], 1e-5 * sum, "softmax sum", tok, 1);
        }
        return t;
    }

    /// <summary>
    /// The runtime's GpuDecodeSession on CudaKernelDevice against the CPU DecodeSession on the same random weights: the
    /// first step a random prompt, each later step the greedy token of the last and random forced tokens. Every token's
    /// logits within 1e-4 of the CPU's largest |logit| (the ILGPU test's bound: fp32 on both sides in different orders,
    /// about 1e-6 relative per operation; a wrong position, cache row, head or Top-K selection is off by O(1)), and the
    /// greedy token equal unless the CPU's two best logits are closer than that bound. A bf16 model's session gets the
    /// fp32 weights and rounds them itself; the CPU decoder gets the rounded values widened, so both multiply the same
    /// weights and the bound is unchanged.
    /// </summary>
    private static Tally WholeDecode(CudaDevice gpu, CompiledPlan plan, DecodeKernelTable kernels, Func<float[], ITokenDecoder> cpuSession, bool bf16)
    {
        int[] steps = { 3, 1, 2, 4, 1, 4 };
        int vocab = plan.Shape.Vocab;
        var random = new Random(11);
        var parameters = new float[plan.ParameterCount];
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.5);
        var reference = (float[])parameters.Clone();
        if (bf16)
            for (int i = 0; i < reference.Length; i++) reference[i] = SafeTensors.FromBFloat16(SafeTensors.ToBFloat16(reference[i]));
        var cpu = cpuSession(reference);
        var ptx = kernels.Units.ToDictionary(u => u, u => GpuKernels.Ptx(kernels.Model, u));
        using var device = new CudaKernelDevice(gpu, ptx);
        using var session = new GpuDecodeSession(device, plan, kernels, parameters);

        var t = new Tally();
        int position = 0;
        int? greedy = null;
        foreach (int n in steps)
        {
            var tokens = new int[n];
            for (int i = 0; i < n; i++) tokens[i] = i == 0 && greedy is int g ? g : random.Next(vocab);
            session.Append(tokens);
            var logits = session.StepLogits.ToArray();
            t.Exact(logits.Length == n * vocab, () => $"{logits.Length} step logits, expected {n * vocab}");
            for (int i = 0; i < n; i++, position++)
            {
                var expected = cpu.Append(tokens[i]).ToArray();
                var actual = logits.AsSpan(i * vocab, vocab);
                double scale = expected.Max(Math.Abs), tol = 1e-4 * scale;
                for (int v = 0; v < vocab; v++) t.Near(expected[v], actual[v], tol, "logits", (long)position * vocab + v, vocab);
                int want = Argmax(expected), got = Argmax(actual);
                var sorted = expected.OrderByDescending(e => e).ToArray();
                int at = position;
                if (sorted[0] - sorted[1] > tol) t.Exact(got == want, () => $"position {at}: greedy token {got}, CPU {want}");
            }
            greedy = Argmax(logits.AsSpan((n - 1) * vocab, vocab));
        }
        t.Exact(session.Length == position, () => $"session length {session.Length}, expected {position}");
        return t;
    }

    // ---- shared pieces ------------------------------------------------------------------------------------------

    /// <summary>W_g in sixteenths, W_u and W_d^T uniform in [-1/2, 1/2]; for bf16 models all three rounded to bf16 values
    /// (exact for W_g), which the GPU reads as bits and the references as the same values widened.</summary>
    private static (float[] Wg, float[] Wu, float[] WdT) Weights(Random rng, FfnKernels m)
    {
        long fd = (long)m.Intermediate * m.Hidden;
        var wg = Sixteenths(rng, fd);
        var wu = Uniform(rng, fd, 1);
        var wdT = Uniform(rng, fd, 1);
        if (m.Bf16)
            foreach (var w in new[] { wu, wdT })
                for (long i = 0; i < w.Length; i++) w[i] = SafeTensors.FromBFloat16(SafeTensors.ToBFloat16(w[i]));
        return (wg, wu, wdT);
    }

    /// <summary>The gate must equal the double product exactly (sixteenths: exact in fp32 whatever the order).</summary>
    private static void CheckGate(Tally t, float[] x, float[] wg, float[] g, int n, int d, int f)
    {
        var wrong = new long[n];
        Array.Fill(wrong, -1);
        Parallel.For(0, n, tok =>
        {
            for (int j = 0; j < f && wrong[tok] < 0; j++)
            {
                double s = 0;
                long row = (long)j * d;
                for (int c = 0; c < d; c++) s += (double)x[tok * d + c] * wg[row + c];
                if (g[(long)tok * f + j] != (float)s) wrong[tok] = j;
            }
        });
        for (int tok = 0; tok < n; tok++)
        {
            int tk = tok;
            t.Exact(wrong[tok] < 0, () => $"gate[{tk},{wrong[tk]}] = {g[tk * (long)f + wrong[tk]]} is not the exact product");
        }
    }

    /// <summary>Indices and selected gates equal the CPU kernel's and the GPU gate; a zero token takes the K lowest channels.</summary>
    private static void CheckSelection(Tally t, FfnKernels m, int n, int[] index, float[] gate, float[] g, ushort[] cpuIndex, float[] cpuGate, int zeroToken)
    {
        int f = m.Intermediate, k = m.TopK;
        for (int tok = 0; tok < n; tok++)
            for (int s = 0; s < k; s++)
            {
                int e = tok * k + s, tk = tok, sl = s;
                int expected = m.Dense || tok == zeroToken ? s : cpuIndex[e];
                t.Exact(index[e] == expected, () => $"token {tk} slot {sl}: channel {index[tk * k + sl]}, CPU chose {expected}");
                t.Exact(gate[e] == cpuGate[e], () => $"token {tk} slot {sl}: gate {gate[tk * k + sl]}, CPU {cpuGate[tk * k + sl]}");
                t.Exact((uint)index[e] < (uint)f && gate[e] == g[(long)tok * f + index[e]], () => $"token {tk} slot {sl}: gate {gate[tk * k + sl]} is not g at its channel");
            }
    }

    /// <summary>MoCGen's CPU forward on the same values (the dense twin keeps all d_ff gate and up values and no indices).</summary>
    private static (float[] Y, ushort[] Index, float[] Gate, float[] Up) CpuForward(FfnKernels m, int n, float[] x, float[] wg, float[] wu, float[] wdT)
    {
        int perToken = m.Dense ? m.Intermediate : m.TopK;
        var y = new float[n * m.Hidden];
        var index = new ushort[m.Dense ? 0 : n * m.TopK];
        var gate = new float[n * perToken];
        var up = new float[n * perToken];
        m.Forward(n, x, new FeedForwardWeights(wg, wu, wdT), y, new FeedForwardSaved<ushort>(index, gate, up));
        return (y, index, gate, up);
    }

    /// <summary>y of token <paramref name="tok"/> in double on the GPU's selection, and S for each output: the sum over the
    /// selected channels of |SiLU(g)| (sum |W_u x|) |W_d^T| (the up product's rounding carried through).</summary>
    private static void ReferenceY(FfnKernels m, int tok, float[] x, float[] wu, float[] wdT, int[] index, float[] gate, double[] y, double[] yAbs)
    {
        int d = m.Hidden, k = m.TopK;
        Array.Clear(y);
        Array.Clear(yAbs);
        for (int s = 0; s < k; s++)
        {
            int j = index[tok * k + s];
            if ((uint)j >= (uint)m.Intermediate) continue; // reported by CheckSelection
            long row = (long)j * d;
            var (u, uAbs) = Dot(wu, row, x, tok * d, d);
            double z = gate[tok * k + s], silu = z / (1 + Math.Exp(-z));
            double h = silu * u, hScale = Math.Abs(silu) * uAbs;
            for (int c = 0; c < d; c++)
            {
                y[c] += h * wdT[row + c];
                yAbs[c] += hScale * Math.Abs(wdT[row + c]);
            }
        }
    }

    private static (double Sum, double SumAbs) Dot(float[] a, long aAt, float[] b, int bAt, int length)
    {
        double s = 0, sAbs = 0;
        for (int c = 0; c < length; c++)
        {
            double term = (double)a[aAt + c] * b[bAt + c];
            s += term;
            sAbs += Math.Abs(term);
        }
        return (s, sAbs);
    }

    private static int Argmax(ReadOnlySpan<float> values)
    {
        int best = -1;
        for (int i = 0; i < values.Length; i++)
            if (!float.IsNaN(values[i]) && (best < 0 || values[i] > values[best])) best = i;
        return Math.Max(best, 0);
    }

    /// <summary>Multiples of 1/16 in [-1/2, 1/2].</summary>
    internal static float[] Sixteenths(Random rng, long length)
    {
        var a = new float[length];
        for (long i = 0; i < a.Length; i++) a[i] = rng.Next(-8, 9) / 16f;
        return a;
    }

    /// <summary>Uniform in [-scale / 2, scale / 2].</summary>
    internal static float[] Uniform(Random rng, long length, double scale)
    {
        var a = new float[length];
        for (long i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() - 0.5) * scale);
        return a;
    }

    /// <summary>Uploads weights as fp32, or as bf16 bits (the values must already be bf16-exact).</summary>
    internal static WeightBuffer Upload(CudaDevice gpu, float[] values, bool bf16)
    {
        if (!bf16)
        {
            var f = gpu.Upload<float>(values);
            return new WeightBuffer(f, f.DevicePointer);
        }
        var bits = new ushort[values.Length];
        for (long i = 0; i < bits.Length; i++) bits[i] = SafeTensors.ToBFloat16(values[i]);
        var b = gpu.Upload<ushort>(bits);
        return new WeightBuffer(b, b.DevicePointer);
    }
}

/// <summary>A weight tensor on the GPU, fp32 or bf16 bits, and its device address.</summary>
internal sealed record WeightBuffer(IDisposable Buffer, ulong Pointer) : IDisposable
{
    /// <summary>Frees it.</summary>
    public void Dispose() => Buffer.Dispose();
}
