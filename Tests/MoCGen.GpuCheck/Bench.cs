using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using MoCGen.Cuda;

namespace MoCGen.GpuCheck;

/// <summary>
/// The LLaMA-7B-sized feed-forward kernels timed with CUDA events on the default stream: the median over
/// <c>repeats</c> loops of calls of the time per call, after warm-up, as Tests/MoCGen.GpuCheck/torch_ffn.py times
/// PyTorch. Each result is one JSON line in torch_ffn.py's shape (implementation "mocgen moc").
/// </summary>
internal static class Bench
{
    /// <summary>The device line, then decode (bf16 and fp32 weights, batch 1), then training (fp32, 4096 tokens), each
    /// suite's line followed by its per-kernel line. <paramref name="smoke"/>: the same code at small shapes (a d = 64
    /// model for bf16 decode, d = 200 for the rest, 64 training tokens) with one loop of one or two calls, to run the
    /// benchmark's code where speed means nothing (on the CPU driver, before a GPU run).</summary>
    public static IEnumerable<string> Run(CudaDevice gpu, int repeats, bool smoke = false)
    {
        yield return Json(("suite", "device"), ("implementation", "mocgen moc"), ("name", gpu.Name),
            ("sm", $"{gpu.ComputeCapability.Major}.{gpu.ComputeCapability.Minor}"), ("multiprocessors", gpu.MultiprocessorCount),
            ("driver", gpu.DriverVersion), ("memory_clock_khz", gpu.MemoryClockKHz), ("bus_width_bits", gpu.MemoryBusWidthBits),
            ("peak_gb_per_s", gpu.PeakMemoryBandwidth / 1e9));
        if (smoke)
        {
            foreach (var line in Decode(gpu, SmallDecoderBf16.Ffn, repeats: 1, inner: 2)) yield return line;
            foreach (var line in Decode(gpu, Ffn200.Ffn, repeats: 1, inner: 2)) yield return line;
            foreach (var line in Train(gpu, Ffn200.Ffn, 64, loops: 1, inner: 1)) yield return line;
            yield break;
        }
        foreach (var line in Decode(gpu, Llama7BFfnBf16.Ffn, repeats, inner: 50)) yield return line;
        foreach (var line in Decode(gpu, Llama7BFfn.Ffn, repeats, inner: 50)) yield return line;
        // Loops of 3 calls, max(5, repeats / 2) of them, as torch_ffn.py.
        foreach (var line in Train(gpu, Llama7BFfn.Ffn, 4096, loops: Math.Max(5, repeats / 2), inner: 3)) yield return line;
    }

    /// <summary>
    /// Microseconds of each stage per call: an event before every stage of every call, <paramref name="inner"/> calls a
    /// loop; the median over <paramref name="repeats"/> loops of each stage's mean, after 3 warm-up calls.
    /// </summary>
    private static double[] Stages(CudaDevice gpu, int inner, int repeats, params (string Name, Action Launch)[] stages)
    {
        for (int i = 0; i < 3; i++)
            foreach (var stage in stages) stage.Launch();
        gpu.Synchronize();
        var marks = Enumerable.Range(0, stages.Length * inner + 1).Select(_ => CudaEvent.Create(gpu)).ToArray();
        try
        {
            var samples = stages.Select(_ => new List<double>()).ToArray();
            for (int r = 0; r < repeats; r++)
            {
                for (int i = 0; i < inner; i++)
                for (int s = 0; s < stages.Length; s++)
                {
                    marks[i * stages.Length + s].Record();
                    stages[s].Launch();
                }
                marks[^1].Record();
                for (int s = 0; s < stages.Length; s++)
                {
                    double ms = 0;
                    for (int i = 0; i < inner; i++)
                        ms += CudaEvent.ElapsedMilliseconds(marks[i * stages.Length + s], marks[i * stages.Length + s + 1]);
                    samples[s].Add(ms * 1e3 / inner);
                }
            }
            return samples.Select(Median).ToArray();
        }
        finally
        {
            foreach (var e in marks) e.Dispose();
        }
    }

    /// <summary>Distinct inputs the decode benchmark takes in turn.</summary>
    internal const int DecodeInputs = 16;

    /// <summary>
    /// One token: gate GEMV with Top-K (which also clears y), tiled up/down. The bytes it must read: all of W_g, the K selected rows
    /// of W_u and of W_d^T, and x: (d_ff d + 2 K d) w + 4 d, w the bytes of a stored weight. Call i takes input i mod
    /// <see cref="DecodeInputs"/>, so that, as in decoding, each call selects other rows than the call before: the rows
    /// it reads were last read 16 calls (1.8 GB of traffic at 7B bf16) ago and are not waiting in L2 (50 MB on an H100).
    /// </summary>
    private static string[] Decode(CudaDevice gpu, FfnKernels m, int repeats, int inner)
    {
        int d = m.Hidden, f = m.Intermediate, k = m.TopK, w = m.Bf16 ? 2 : 4;
        var rng = new Random(5);
        var x = Checks.Uniform(rng, (long)DecodeInputs * d, 2);
        using var kernels = new GpuKernels(gpu, m.Model);
        using var bx = gpu.Upload<float>(x);
        using var bwg = Checks.Upload(gpu, Weights(rng, (long)f * d, m.Bf16), m.Bf16);
        using var bwu = Checks.Upload(gpu, Weights(rng, (long)f * d, m.Bf16), m.Bf16);
        using var bwd = Checks.Upload(gpu, Weights(rng, (long)f * d, m.Bf16), m.Bf16);
        using var bg = gpu.Allocate<float>(f);
        using var bindex = gpu.Allocate<int>(k);
        using var bgate = gpu.Allocate<float>(k);
        using var by = gpu.Allocate<float>(d);
        using var bticket = gpu.Upload<int>(new int[1]);
        var gateTopK = new KernelArguments[DecodeInputs];
        var upDown = new KernelArguments[DecodeInputs];
        for (int i = 0; i < DecodeInputs; i++)
        {
            ulong xi = bx.DevicePointer + (ulong)(i * d * sizeof(float));
            gateTopK[i] = new KernelArguments().AddPointer(xi).AddPointer(bwg.Pointer).Add(bg).Add(by).Add(bindex).Add(bgate).Add(bticket).Add(1);
            upDown[i] = new KernelArguments().AddPointer(xi).AddPointer(bwu.Pointer).AddPointer(bwd.Pointer).Add(bindex).Add(bgate).Add(by).Add(1);
        }
        try
        {
            int call = 0, gateCall = 0, upDownCall = 0;
            void Call()
            {
                kernels.Launch(m.DecodeGateTopK, 1, gateTopK[call % DecodeInputs]);
                kernels.Launch(m.DecodeUpDown, 1, upDown[call++ % DecodeInputs]);
            }

            double us = Time(gpu, Call, inner, repeats);
            var stages = Stages(gpu, inner, repeats,
                ("gate_topk", () => kernels.Launch(m.DecodeGateTopK, 1, gateTopK[gateCall++ % DecodeInputs])),
                ("up_down", () => kernels.Launch(m.DecodeUpDown, 1, upDown[upDownCall++ % DecodeInputs])));
            long gemvBytes = (long)f * d * w + 4L * d, upDownBytes = 2L * k * d * w;
            string stageLine = Json(("suite", "ffn-decode-stages"), ("implementation", "mocgen moc"), ("dtype", m.WeightType),
                ("gate_topk_us", stages[0]), ("up_down_us", stages[1]),
                ("gate_topk_gb_per_s", gemvBytes / stages[0] / 1e3), ("up_down_gb_per_s", upDownBytes / stages[1] / 1e3));
            long bytes = ((long)f * d + 2L * k * d) * w + 4L * d;
            double gbps = bytes / us / 1e3, peak = gpu.PeakMemoryBandwidth / 1e9;
            return new[]
            {
                Json(("suite", "ffn-decode"), ("implementation", "mocgen moc"), ("dtype", m.WeightType), ("tokens", 1), ("inputs", DecodeInputs), ("hidden", d),
                    ("intermediate", f), ("topk", k), ("median_us", us), ("bytes", bytes), ("gb_per_s", gbps), ("peak_gb_per_s", peak),
                    ("fraction_of_peak", peak > 0 ? gbps / peak : double.NaN)),
                stageLine,
            };
        }
        finally
        {
            foreach (var a in gateTopK.Concat(upDown)) a.Dispose();
        }
    }

    /// <summary>
    /// Forward (gate GEMM, Top-K, window starts, sparse up, sparse down) and backward (gh, gx, weight gradients added
    /// into dW) of <paramref name="tokens"/> tokens: what PyTorch's training row measures (y, gx, dW); the median over
    /// <paramref name="loops"/> loops of <paramref name="inner"/> calls.
    /// </summary>
    private static string[] Train(CudaDevice gpu, FfnKernels m, int tokens, int loops, int inner)
    {
        int d = m.Hidden, f = m.Intermediate, k = m.TopK, n = tokens;
        long fd = (long)f * d;
        var rng = new Random(6);
        using var kernels = new GpuKernels(gpu, m.Model);
        using var bx = gpu.Upload<float>(Checks.Uniform(rng, (long)n * d, 2));
        using var bgy = gpu.Upload<float>(Checks.Uniform(rng, (long)n * d, 2));
        using var bwg = gpu.Upload<float>(Weights(rng, fd, false));
        using var bwu = gpu.Upload<float>(Weights(rng, fd, false));
        using var bwd = gpu.Upload<float>(Weights(rng, fd, false));
        using var bg = gpu.Allocate<float>((long)n * f);
        using var bindex = gpu.Allocate<int>((long)n * k);
        using var bgate = gpu.Allocate<float>((long)n * k);
        using var bup = gpu.Allocate<float>((long)n * k);
        using var by = gpu.Allocate<float>((long)n * d);
        using var bgx = gpu.Allocate<float>((long)n * d);
        using var bgg = gpu.Allocate<float>((long)n * k);
        using var bgu = gpu.Allocate<float>((long)n * k);
        using var bh = gpu.Allocate<float>((long)n * k);
        using var bdwg = gpu.Allocate<float>(fd);
        using var bdwu = gpu.Allocate<float>(fd);
        using var bdwd = gpu.Allocate<float>(fd);
        foreach (var b in new[] { bdwg, bdwu, bdwd }) b.Clear();
        using var bstart = gpu.Allocate<int>((long)n * m.WindowStarts);
        using var gemm = new KernelArguments().Add(bx).Add(bwg).Add(bg).Add(n);
        using var topk = new KernelArguments().Add(bg).Add(bindex).Add(bgate).Add(n);
        using var windows = new KernelArguments().Add(bindex).Add(bstart).Add(n);
        using var up = new KernelArguments().Add(bx).Add(bwu).Add(bindex).Add(bstart).Add(bgate).Add(bup).Add(bh).Add(n);
        using var down = new KernelArguments().Add(bwd).Add(bindex).Add(bstart).Add(bh).Add(by).Add(n);
        using var gh = new KernelArguments().Add(bwd).Add(bgy).Add(bindex).Add(bstart).Add(bgate).Add(bup).Add(bgg).Add(bgu).Add(bh).Add(n);
        using var gx = new KernelArguments().Add(bwg).Add(bwu).Add(bindex).Add(bstart).Add(bgg).Add(bgu).Add(bgx).Add(n);
        using var weights = new KernelArguments().Add(bx).Add(bgy).Add(bindex).Add(bstart).Add(bgg).Add(bgu).Add(bh).Add(bdwg).Add(bdwu).Add(bdwd).Add(n);
        var kernelsInOrder = new (string Name, Action Launch)[]
        {
            ("gate_gemm", () => kernels.Launch(m.GateGemm, n, gemm)),
            ("topk", () => kernels.Launch(m.TopKSelect, n, topk)),
            ("windows", () => kernels.Launch(m.Windows, n, windows)),
            ("up", () => kernels.Launch(m.Up, n, up)),
            ("down", () => kernels.Launch(m.Down, n, down)),
            ("backward_gh", () => kernels.Launch(m.BackwardGh, n, gh)),
            ("backward_gx", () => kernels.Launch(m.BackwardGx, n, gx)),
            ("backward_weights", () => kernels.Launch(m.BackwardWeights, n, weights)),
        };
        const int forwardKernels = 5;
        void Forward()
        {
            foreach (var (_, launch) in kernelsInOrder.Take(forwardKernels)) launch();
        }
        void Backward()
        {
            foreach (var (_, launch) in kernelsInOrder.Skip(forwardKernels)) launch();
        }

        // loops of inner calls; events between forward and backward split each call.
        var stages = Stages(gpu, inner, loops, kernelsInOrder);
        var fields = new List<(string, object)> { ("suite", "ffn-train-stages"), ("implementation", "mocgen moc"), ("dtype", "fp32"), ("tokens", n) };
        for (int i = 0; i < kernelsInOrder.Length; i++) fields.Add((kernelsInOrder[i].Name + "_us", stages[i]));
        fields.Add(("gate_gemm_tflops", 2.0 * n * d * f / stages[0] / 1e6));
        string stageLine = Json(fields.ToArray());
        Forward();
        Backward();
        gpu.Synchronize();
        var marks = Enumerable.Range(0, 2 * inner + 1).Select(_ => CudaEvent.Create(gpu)).ToArray();
        try
        {
            var total = new List<double>();
            var forward = new List<double>();
            var backward = new List<double>();
            for (int r = 0; r < loops; r++)
            {
                for (int i = 0; i < inner; i++)
                {
                    marks[2 * i].Record();
                    Forward();
                    marks[2 * i + 1].Record();
                    Backward();
                }
                marks[2 * inner].Record();
                double forwardMs = 0, backwardMs = 0;
                for (int i = 0; i < inner; i++)
                {
                    forwardMs += CudaEvent.ElapsedMilliseconds(marks[2 * i], marks[2 * i + 1]);
                    backwardMs += CudaEvent.ElapsedMilliseconds(marks[2 * i + 1], marks[2 * i + 2]);
                }
                total.Add(CudaEvent.ElapsedMilliseconds(marks[0], marks[2 * inner]) * 1e3 / inner);
                forward.Add(forwardMs * 1e3 / inner);
                backward.Add(backwardMs * 1e3 / inner);
            }
            double us = Median(total);
            double flops = 9.0 * 2 * n * d * f; // the dense block's nine products, as torch_ffn.py counts them
            return new[]
            {
                Json(("suite", "ffn-train"), ("implementation", "mocgen moc"), ("dtype", "fp32"), ("tokens", n), ("hidden", d),
                    ("intermediate", f), ("topk", k), ("median_us", us), ("forward_us", Median(forward)), ("backward_us", Median(backward)),
                    ("dense_equivalent_tflops", flops / us / 1e6)),
                stageLine,
            };
        }
        finally
        {
            foreach (var e in marks) e.Dispose();
        }
    }

    /// <summary>Microseconds per call: median over <paramref name="repeats"/> loops of <paramref name="inner"/> calls, after 3 warm-up calls.</summary>
    private static double Time(CudaDevice gpu, Action call, int inner, int repeats)
    {
        for (int i = 0; i < 3; i++) call();
        gpu.Synchronize();
        using var start = CudaEvent.Create(gpu);
        using var end = CudaEvent.Create(gpu);
        var samples = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            start.Record();
            for (int i = 0; i < inner; i++) call();
            end.Record();
            samples.Add(CudaEvent.ElapsedMilliseconds(start, end) * 1e3 / inner);
        }
        return Median(samples);
    }

    /// <summary>Random weights of a LLaMA-like scale (uniform, standard deviation about 0.012), bf16-exact where stored as bf16.</summary>
    private static float[] Weights(Random rng, long length, bool bf16)
    {
        var w = Checks.Uniform(rng, length, 0.04);
        if (bf16)
            for (long i = 0; i < w.Length; i++) w[i] = Checkpoints.SafeTensors.FromBFloat16(Checkpoints.SafeTensors.ToBFloat16(w[i]));
        return w;
    }

    private static double Median(List<double> samples)
    {
        var s = samples.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>One JSON object on one line (strings escaped, numbers invariant, NaN and infinities as null).</summary>
    internal static string Json(params (string Key, object Value)[] fields)
    {
        var sb = new StringBuilder("{");
        foreach (var (key, value) in fields)
        {
            if (sb.Length > 1) sb.Append(", ");
            sb.Append('"').Append(key).Append("\": ");
            switch (value)
            {
                case string s:
                    sb.Append('"');
                    foreach (char c in s)
                    {
                        if (c is '"' or '\\') sb.Append('\\').Append(c);
                        else if (c < ' ') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                    }
                    sb.Append('"');
                    break;
                case double v:
                    sb.Append(double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "null");
                    break;
                default:
                    sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                    break;
            }
        }
        return sb.Append('}').ToString();
    }
}
