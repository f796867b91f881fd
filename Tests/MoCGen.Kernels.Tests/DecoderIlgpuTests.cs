using System;
using System.Linq;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoCGen.Compiler.Emit;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;
using MoCGen.Cpu;
using MoCGen.Inference;
using MoCGen.Model;
using Xunit;
using Xunit.Abstractions;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// The ILGPU rendering of Templates/Decoder.scriban on ILGPU's CPU accelerator: each kernel against MoCGen's CPU
/// kernel or a scalar double reference, and whole decodes (decoder kernels plus the feed-forward decode kernels)
/// against the CPU <see cref="DecodeSession{TShape, TIndex}"/> on the same weights. The bf16 variants render every weight
/// argument as bf16 bits and hand the GPU session the fp32 weights, which it rounds to bf16 itself; the references run on
/// the same rounded values, widened. Each tolerance is written beside its check; measured errors go to the test output.
/// </summary>
public sealed class DecoderIlgpuTests(DecoderIlgpuTests.UnitKernels k, ITestOutputHelper output) : IClassFixture<DecoderIlgpuTests.UnitKernels>
{
    // ---- whole decodes ---------------------------------------------------------------------------------------------

    /// <summary>Vocab 64, d 64, 4 heads over 2 kv heads, d_ff 176, K 22, 2 layers, context 16.</summary>
    private struct Gqa : IDecoderShape
    {
        public static int Vocab => 64;
        public static int Hidden => 64;
        public static int Intermediate => 176;
        public static int TopK => 22;
        public static int Layers => 2;
        public static int Heads => 4;
        public static int KvHeads => 2;
        public static int Context => 16;
        public static int Batch => 1;
        public static double RopeTheta => 10000.0;
        public static double NormEps => 1e-5;
        public static bool TieEmbeddings => false;
    }

    /// <summary>The dense twin with tied embeddings and one kv head: vocab 48, d 32, 2 heads, d_ff = K = 64, 1 layer, context 8.</summary>
    private struct DenseTied : IDecoderShape
    {
        public static int Vocab => 48;
        public static int Hidden => 32;
        public static int Intermediate => 64;
        public static int TopK => 64;
        public static int Layers => 1;
        public static int Heads => 2;
        public static int KvHeads => 1;
        public static int Context => 8;
        public static int Batch => 1;
        public static double RopeTheta => 500000.0;
        public static double NormEps => 1e-6;
        public static bool TieEmbeddings => true;
    }

    /// <summary>
    /// A 3-token prompt in one step, then a greedy step of one token, then a step of two (the greedy token and a
    /// forced one), 6 positions in all. Every token's logits are within 1e-4 of the largest |logit| of the CPU
    /// decoder's, and every greedy token equals the CPU's argmax. Both sides are fp32 with different summation orders (warp-strided and
    /// tree sums against SIMD sums; online against two-pass softmax), about 1e-6 relative per operation; a wrong
    /// position, cache row, head mapping or Top-K selection is off by O(1).
    /// </summary>
    [Fact]
    public void DecodeMatchesTheCpuDecoder_Gqa() => Decode<Gqa>("DecGqa", seed: 11, steps: new[] { 3, 1, 2 });

    /// <summary>The same check for the dense, tied, multi-query variant, with a 4-token step.</summary>
    [Fact]
    public void DecodeMatchesTheCpuDecoder_DenseTied() => Decode<DenseTied>("DecDenseTied", seed: 5, steps: new[] { 4, 1, 2 });

    /// <summary>
    /// The GQA check with every weight stored as bf16 (16-byte weight loads in the projections: d = 64 takes 8 at a time).
    /// Same tolerance as fp32: the CPU decoder runs on the widened bf16 values, so both sides multiply identical weights
    /// and still differ only in fp32 summation order.
    /// </summary>
    [Fact]
    public void DecodeMatchesTheCpuDecoder_GqaBf16() => Decode<Gqa>("DecGqaBf16", seed: 11, steps: new[] { 3, 1, 2 }, bf16: true);

    /// <summary>
    /// A wide model, d = 1152, bf16: the row kernels (embed, norms) take 4 or 5 elements a thread in one batch of 8
    /// loads (guards past the row), and a GEMV lane (projections, FFN gate) a whole batch of 8 loads then a partial one
    /// (d = 1024 + 128): the paths the narrow models leave to their first load.
    /// </summary>
    [Fact]
    public void DecodeMatchesTheCpuDecoder_WideBf16() => Decode<Wide>("DecWideBf16", seed: 7, steps: new[] { 2, 1, 4 }, bf16: true);

    /// <summary>Vocab 40, d 1152, 9 heads over 3 kv heads (head dim 128), d_ff 256, K 32, 1 layer, context 8.</summary>
    private struct Wide : IDecoderShape
    {
        public static int Vocab => 40;
        public static int Hidden => 1152;
        public static int Intermediate => 256;
        public static int TopK => 32;
        public static int Layers => 1;
        public static int Heads => 9;
        public static int KvHeads => 3;
        public static int Context => 8;
        public static int Batch => 1;
        public static double RopeTheta => 10000.0;
        public static double NormEps => 1e-5;
        public static bool TieEmbeddings => false;
    }

    /// <summary>bf16, tied (the LM head reads the bf16 embedding), d = 36: the projections load 4 weights at a time.</summary>
    [Fact]
    public void DecodeMatchesTheCpuDecoder_TiedBf16() => Decode<TiedNarrow>("DecTiedBf16", seed: 3, steps: new[] { 2, 4, 1 }, bf16: true);

    /// <summary>Vocab 50, d 36, 2 heads over 1 kv head (head dim 18), d_ff 96, K 12, 1 layer, context 8, tied embeddings.</summary>
    private struct TiedNarrow : IDecoderShape
    {
        public static int Vocab => 50;
        public static int Hidden => 36;
        public static int Intermediate => 96;
        public static int TopK => 12;
        public static int Layers => 1;
        public static int Heads => 2;
        public static int KvHeads => 1;
        public static int Context => 8;
        public static int Batch => 1;
        public static double RopeTheta => 10000.0;
        public static double NormEps => 1e-5;
        public static bool TieEmbeddings => true;
    }

    /// <summary>A bf16 model refuses fp32 kernels (and the reverse) before anything is allocated.</summary>
    [Fact]
    public void SessionRefusesKernelsOfAnotherWeightStorage()
    {
        var fp32 = DecoderBuild.Plan("DecGqa", 64, 64, 176, 22, 2, 4, 2, 16);
        var bf16 = DecoderBuild.Plan("DecGqaBf16", 64, 64, 176, 22, 2, 4, 2, 16, weights: StoredPrecision.BFloat16);
        Assert.Equal(DeviceElement.Float32, DecoderBuild.DecodeKernels(fp32).Weights);
        Assert.Equal(DeviceElement.BFloat16, DecoderBuild.DecodeKernels(bf16).Weights);
        using var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia));
        using var accelerator = context.CreateCPUAccelerator(0);
        using var device = new IlgpuKernelDevice(accelerator, DecoderBuild.Ilgpu(bf16));
        var parameters = new float[bf16.ParameterCount];
        Assert.Throws<ArgumentException>(() => new GpuDecodeSession(device, ToCompiled(bf16), DecoderBuild.DecodeKernels(fp32), parameters));
        Assert.Throws<ArgumentException>(() => new GpuDecodeSession(device, ToCompiled(fp32), DecoderBuild.DecodeKernels(bf16), parameters));
    }

    private void Decode<TShape>(string name, int seed, int[] steps, bool bf16 = false) where TShape : struct, IDecoderShape
    {
        var plan = DecoderBuild.Plan(name, TShape.Vocab, TShape.Hidden, TShape.Intermediate, TShape.TopK, TShape.Layers, TShape.Heads,
            TShape.KvHeads, TShape.Context, TShape.TieEmbeddings, TShape.RopeTheta, TShape.NormEps,
            bf16 ? StoredPrecision.BFloat16 : StoredPrecision.Float32);
        var random = new Random(seed);
        var parameters = new float[plan.ParameterCount];
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.5);
        // bf16: the GPU session gets the fp32 weights and rounds them itself; the CPU decoder gets the rounded values, widened.
        var reference = parameters.ToArray();
        if (bf16)
        {
            Bf16.Round(reference);
            Assert.Contains(parameters.Zip(reference), p => p.First != p.Second);  // the rounding is not a no-op here
        }
        var cpu = new DecodeSession<TShape, ushort>(ToCompiled(plan), reference);

        // The runtime's GPU decode step, unchanged, on ILGPU's CPU accelerator with the generated launch table.
        using var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia));
        using var accelerator = context.CreateCPUAccelerator(0);
        using var device = new IlgpuKernelDevice(accelerator, DecoderBuild.Ilgpu(plan));
        using var gpu = new GpuDecodeSession(device, ToCompiled(plan), DecoderBuild.DecodeKernels(plan), parameters);

        double worstRatio = 0;
        int position = 0;
        int? greedy = null;
        foreach (int n in steps)
        {
            // The first step is a random prompt; each later step starts with the greedy token of the last, and its
            // other tokens are random (a forced continuation, as when verifying drafted tokens).
            var tokens = new int[n];
            for (int i = 0; i < n; i++) tokens[i] = i == 0 && greedy is int g ? g : random.Next(TShape.Vocab);
            var last = gpu.Append(tokens).ToArray();
            var logits = gpu.StepLogits.ToArray();
            Assert.Equal(n * TShape.Vocab, logits.Length);
            Assert.Equal(logits.AsSpan((n - 1) * TShape.Vocab).ToArray(), last);
            for (int t = 0; t < n; t++, position++)
            {
                var expected = cpu.Append(tokens[t]).ToArray();
                var actual = logits.AsSpan(t * TShape.Vocab, TShape.Vocab).ToArray();
                double scale = expected.Max(Math.Abs), worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
                worstRatio = Math.Max(worstRatio, worst / scale);
                Assert.True(worst <= 1e-4 * scale, $"position {position}: max |logit difference| {worst:E3}, max |logit| {scale:E3}");
                Assert.True(Argmax(actual) == Argmax(expected), $"position {position}: greedy token {Argmax(actual)}, CPU {Argmax(expected)}");
            }
            greedy = Argmax(logits.AsSpan((n - 1) * TShape.Vocab).ToArray());
        }
        Assert.Equal(position, gpu.Length);
        Assert.Equal(steps.Length * (TShape.Layers * 8 + 3), device.Launches.Values.Sum()); // per layer: QKV, RoPE, attention, O, two norms, the gate with Top-K, up/down
        if (TShape.Context - position < 4) Assert.Throws<InvalidOperationException>(() => gpu.Append(new int[TShape.Context - position + 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => gpu.Append(TShape.Vocab));
        output.WriteLine($"{name} ({(bf16 ? "bf16" : "fp32")} weights): {position} positions, worst max|diff| / max|logit| = {worstRatio:E2} (tolerance 1e-4)");
    }

    // ---- one kernel at a time ----------------------------------------------------------------------------------------

    /// <summary>Vocab 97, d 96, 6 heads over 2 kv heads (head dim 16), context 300 (two attention rounds of 256).</summary>
    private static ModelPlan Unit() => DecoderBuild.Plan("DecUnit", 97, 96, 64, 8, 2, 6, 2, 300);

    private const int D = 96, Heads = 6, KvHeads = 2, HeadDim = 16, KvDim = 32, Vocab = 97, Ctx = 300;

    /// <summary>
    /// The bf16 unit model: vocab 97, d 90, 3 heads over 1 kv head (head dim 30); d = 90 makes the projections read 2
    /// weights at a time (the whole decodes cover 8 and 4).
    /// </summary>
    private static ModelPlan UnitBf16() => DecoderBuild.Plan("DecUnitBf16", 97, 90, 64, 8, 1, 3, 1, 16, weights: StoredPrecision.BFloat16);

    private const int DB = 90, KvDimB = 30;

    /// <summary>Rows are copied exactly; an id outside the vocabulary gives a zero row and reads nothing out of bounds.</summary>
    [Fact]
    public void EmbedGathersRowsAndZeroesBadIds()
    {
        var table = k.Random(Vocab * D, 1);
        var ids = new[] { 5, -1, Vocab, Vocab - 1 };
        var x = k.Run(4 * D, (acc, o) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<int>, ArrayView<float>, ArrayView<float>, int>>("Embed"))(
            k.Config("Embed", 4), acc.Allocate1D(ids).View, acc.Allocate1D(table).View, o, 4));
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < D; c++)
                Assert.Equal(ids[t] is >= 0 and < Vocab ? table[ids[t] * D + c] : 0f, x[t * D + c]);
    }

    /// <summary>
    /// RMSNorm and the residual add + RMSNorm against MoCGen.Cpu.RmsNorm for 1 to 4 tokens. Tolerance 1e-6 * max |y|: the
    /// two differ only in the order of the d = 96 squares summed (a tree against SIMD lanes), a few ulp of rstd.
    /// </summary>
    [Fact]
    public void NormsMatchTheCpu()
    {
        double worst = 0;
        for (int n = 1; n <= 4; n++)
        {
            var x = k.Random(n * D, 10 + n, 3f);
            var delta = k.Random(n * D, 20 + n);
            var w = k.Random(D, 30 + n);
            var expected = new float[n * D];
            RmsNorm.Forward(n, D, x, w, 1e-5f, expected, new float[n]);
            var y = k.Run(n * D, (acc, o) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>("RmsNorm"))(
                k.Config("RmsNorm", n), acc.Allocate1D(x).View, acc.Allocate1D(w).View, o, n));
            worst = Math.Max(worst, Check(expected, y, 1e-6, "RmsNorm"));

            var sum = x.Zip(delta, (a, b) => a + b).ToArray();
            RmsNorm.Forward(n, D, sum, w, 1e-5f, expected, new float[n]);
            using var bx = k.Accelerator.Allocate1D(x);
            using var bd = k.Accelerator.Allocate1D(delta);
            var y2 = k.Run(n * D, (acc, o) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>("ResidualNorm"))(
                k.Config("ResidualNorm", n), bx.View, bd.View, acc.Allocate1D(w).View, o, n));
            worst = Math.Max(worst, Check(expected, y2, 1e-6, "ResidualNorm"));
            Assert.Equal(sum, bx.GetAsArray1D());
            Assert.All(bd.GetAsArray1D(), v => Assert.Equal(0f, v));
        }
        output.WriteLine($"norms: worst |diff| / max|y| = {worst:E2} (tolerance 1e-6)");
    }

    /// <summary>
    /// q/k/v, o (adding into the residual) and the LM head for 1 and 4 tokens (2 and 3 run in the whole decodes) against a double reference. Tolerance
    /// 1e-6 * sum_c |w x| + 1e-7 per output: fp32 sums of d = 96 products in any order are within d * 2^-24 * sum|w x|
    /// (about 6e-6); lane-strided partial sums keep it near sqrt(d) * 2^-24.
    /// </summary>
    [Fact]
    public void ProjectionsMatchADoubleReference()
    {
        double worst = 0;
        foreach (int n in new[] { 1, 4 })
        {
            var x = k.Random(n * D, 40 + n, 2f);
            var wq = k.Random(D * D, 41);
            var wk = k.Random(KvDim * D, 42);
            var wv = k.Random(KvDim * D, 43);
            var q = new float[n * D];
            var kk = new float[n * KvDim];
            var v = new float[n * KvDim];
            using (var bq = k.Accelerator.Allocate1D<float>(4 * D))
            using (var bk = k.Accelerator.Allocate1D<float>(4 * KvDim))
            using (var bv = k.Accelerator.Allocate1D<float>(4 * KvDim))
            {
                k.Run(1, (acc, _) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>("Qkv"))(
                    k.Config("Qkv", n), acc.Allocate1D(x).View, acc.Allocate1D(wq).View, acc.Allocate1D(wk).View, acc.Allocate1D(wv).View, bq.View, bk.View, bv.View, n));
                bq.View.SubView(0, q.Length).CopyToCPU(q);
                bk.View.SubView(0, kk.Length).CopyToCPU(kk);
                bv.View.SubView(0, v.Length).CopyToCPU(v);
            }
            worst = Math.Max(worst, CheckGemv(wq, x, null, q, n, D, "q"));
            worst = Math.Max(worst, CheckGemv(wk, x, null, kk, n, KvDim, "k"));
            worst = Math.Max(worst, CheckGemv(wv, x, null, v, n, KvDim, "v"));

            var wo = k.Random(D * D, 44);
            var residual = k.Random(n * D, 45);
            using (var br = k.Accelerator.Allocate1D(residual))
            {
                k.Run(1, (acc, _) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>("OProj"))(
                    k.Config("OProj", n), acc.Allocate1D(x).View, acc.Allocate1D(wo).View, br.View, n));
                worst = Math.Max(worst, CheckGemv(wo, x, residual, br.GetAsArray1D(), n, D, "o"));
            }

            var head = k.Random(Vocab * D, 46);
            var logits = k.Run(n * Vocab, (acc, o) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>("LmHead"))(
                k.Config("LmHead", n), acc.Allocate1D(x).View, acc.Allocate1D(head).View, o, n));
            worst = Math.Max(worst, CheckGemv(head, x, null, logits, n, Vocab, "logits"));
        }
        output.WriteLine($"projections: worst |diff| / (sum|w x| + 1e-1) = {worst:E2} (tolerance 1e-6 * sum|w x| + 1e-7)");
    }

    /// <summary>
    /// bf16 weights: embedding rows widen exactly (an id outside the vocabulary still gives a zero row); RMSNorm and the
    /// residual add + RMSNorm against MoCGen.Cpu.RmsNorm on the widened norm weights, with the fp32 tolerance 1e-6 * max |y|
    /// (the products are identical; only the order of the d squares differs).
    /// </summary>
    [Fact]
    public void Bf16EmbedAndNormsWidenTheStoredWeights()
    {
        var table = k.Random(Vocab * DB, 80);
        var tableBits = Bf16.Round(table);
        var ids = new[] { 3, Vocab, -2, Vocab - 1 };
        var x = k.Run(4 * DB, (acc, o) => k.Accelerator.LoadStreamKernel(k.Bf16Method<Action<ArrayView<int>, ArrayView<ushort>, ArrayView<float>, int>>("Embed"))(
            k.Bf16Config("Embed", 4), acc.Allocate1D(ids).View, acc.Allocate1D(tableBits).View, o, 4));
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < DB; c++)
                Assert.Equal(ids[t] is >= 0 and < Vocab ? table[ids[t] * DB + c] : 0f, x[t * DB + c]);

        double worst = 0;
        for (int n = 1; n <= 4; n++)
        {
            var xs = k.Random(n * DB, 81 + n, 3f);
            var delta = k.Random(n * DB, 85 + n);
            var w = k.Random(DB, 89 + n);
            var wBits = Bf16.Round(w);
            var expected = new float[n * DB];
            RmsNorm.Forward(n, DB, xs, w, 1e-5f, expected, new float[n]);
            var y = k.Run(n * DB, (acc, o) => k.Accelerator.LoadStreamKernel(k.Bf16Method<Action<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, int>>("RmsNorm"))(
                k.Bf16Config("RmsNorm", n), acc.Allocate1D(xs).View, acc.Allocate1D(wBits).View, o, n));
            worst = Math.Max(worst, Check(expected, y, 1e-6, "bf16 RmsNorm"));

            var sum = xs.Zip(delta, (a, b) => a + b).ToArray();
            RmsNorm.Forward(n, DB, sum, w, 1e-5f, expected, new float[n]);
            using var bx = k.Accelerator.Allocate1D(xs);
            using var bd = k.Accelerator.Allocate1D(delta);
            var y2 = k.Run(n * DB, (acc, o) => k.Accelerator.LoadStreamKernel(k.Bf16Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, int>>("ResidualNorm"))(
                k.Bf16Config("ResidualNorm", n), bx.View, bd.View, acc.Allocate1D(wBits).View, o, n));
            worst = Math.Max(worst, Check(expected, y2, 1e-6, "bf16 ResidualNorm"));
            Assert.Equal(sum, bx.GetAsArray1D());
        }
        output.WriteLine($"bf16 norms: worst |diff| / max|y| = {worst:E2} (tolerance 1e-6)");
    }

    /// <summary>
    /// q/k/v, o and the LM head with bf16 weights for 1 to 4 tokens against the double reference on the widened weights,
    /// with the fp32 tolerance 1e-6 * sum_c |w x| + 1e-7: widening is exact, so only the fp32 summation order differs.
    /// </summary>
    [Fact]
    public void Bf16ProjectionsMatchADoubleReference()
    {
        double worst = 0;
        for (int n = 1; n <= 4; n++)
        {
            var x = k.Random(n * DB, 90 + n, 2f);
            var wq = k.Random(DB * DB, 91);
            var wk = k.Random(KvDimB * DB, 92);
            var wv = k.Random(KvDimB * DB, 93);
            var (bitsQ, bitsK, bitsV) = (Bf16.Round(wq), Bf16.Round(wk), Bf16.Round(wv));
            var q = new float[n * DB];
            var kk = new float[n * KvDimB];
            var v = new float[n * KvDimB];
            using (var bq = k.Accelerator.Allocate1D<float>(4 * DB))
            using (var bk = k.Accelerator.Allocate1D<float>(4 * KvDimB))
            using (var bv = k.Accelerator.Allocate1D<float>(4 * KvDimB))
            {
                k.Run(1, (acc, _) => k.Accelerator.LoadStreamKernel(k.Bf16Method<Action<ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>("Qkv"))(
                    k.Bf16Config("Qkv", n), acc.Allocate1D(x).View, acc.Allocate1D(bitsQ).View, acc.Allocate1D(bitsK).View, acc.Allocate1D(bitsV).View, bq.View, bk.View, bv.View, n));
                bq.View.SubView(0, q.Length).CopyToCPU(q);
                bk.View.SubView(0, kk.Length).CopyToCPU(kk);
                bv.View.SubView(0, v.Length).CopyToCPU(v);
            }
            worst = Math.Max(worst, CheckGemv(wq, x, null, q, n, DB, "bf16 q", DB));
            worst = Math.Max(worst, CheckGemv(wk, x, null, kk, n, KvDimB, "bf16 k", DB));
            worst = Math.Max(worst, CheckGemv(wv, x, null, v, n, KvDimB, "bf16 v", DB));

            var wo = k.Random(DB * DB, 94);
            var bitsO = Bf16.Round(wo);
            var residual = k.Random(n * DB, 95);
            using (var br = k.Accelerator.Allocate1D(residual))
            {
                k.Run(1, (acc, _) => k.Accelerator.LoadStreamKernel(k.Bf16Method<Action<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, int>>("OProj"))(
                    k.Bf16Config("OProj", n), acc.Allocate1D(x).View, acc.Allocate1D(bitsO).View, br.View, n));
                worst = Math.Max(worst, CheckGemv(wo, x, residual, br.GetAsArray1D(), n, DB, "bf16 o", DB));
            }

            var head = k.Random(Vocab * DB, 96);
            var bitsHead = Bf16.Round(head);
            var logits = k.Run(n * Vocab, (acc, o) => k.Accelerator.LoadStreamKernel(k.Bf16Method<Action<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, int>>("LmHead"))(
                k.Bf16Config("LmHead", n), acc.Allocate1D(x).View, acc.Allocate1D(bitsHead).View, o, n));
            worst = Math.Max(worst, CheckGemv(head, x, null, logits, n, Vocab, "bf16 logits", DB));
        }
        output.WriteLine($"bf16 projections: worst |diff| / (sum|w x| + 1e-1) = {worst:E2} (tolerance 1e-6 * sum|w x| + 1e-7)");
    }

    /// <summary>
    /// RoPE of q and k at positions start + t against MoCGen.Cpu.Rope (same tables, same products), and the cache rows:
    /// rotated k and plain v at those positions of the given layer, nothing else written. Tolerance 1e-6 * max|x|
    /// (identical arithmetic up to contraction into fused multiply-adds).
    /// </summary>
    [Fact]
    public void RopeKvMatchesTheCpuAndFillsTheCache()
    {
        const int n = 3, start = 5, layer = 1;
        var rope = new RopeTable(Ctx, HeadDim, 10000.0);
        var q = k.Random(n * D, 50, 2f);
        var kk = k.Random(n * KvDim, 51, 2f);
        var v = k.Random(n * KvDim, 52);
        var cache = Enumerable.Repeat(-7f, 2 * Ctx * KvDim).ToArray();
        using var bq = k.Accelerator.Allocate1D(q);
        using var bkc = k.Accelerator.Allocate1D(cache);
        using var bvc = k.Accelerator.Allocate1D(cache);
        k.Run(1, (acc, _) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>>("RopeKv"))(
            k.Config("RopeKv", n), bq.View, acc.Allocate1D(kk).View, acc.Allocate1D(v).View, acc.Allocate1D(rope.Cos.ToArray()).View,
            acc.Allocate1D(rope.Sin.ToArray()).View, bkc.View, bvc.View, layer, start, n));
        var qe = q.ToArray();
        var ke = kk.ToArray();
        Rope.Forward(rope, n, qe, Heads, ke, KvHeads, new[] { start, start + 1, start + 2 });
        double worst = Check(qe, bq.GetAsArray1D(), 1e-6, "q");
        var kc = bkc.GetAsArray1D();
        var vc = bvc.GetAsArray1D();
        for (int row = 0; row < 2 * Ctx; row++)
        {
            int t = row - layer * Ctx - start;
            bool written = t >= 0 && t < n;
            var kr = kc.AsSpan(row * KvDim, KvDim).ToArray();
            var vr = vc.AsSpan(row * KvDim, KvDim).ToArray();
            if (!written)
            {
                Assert.True(kr.All(e => e == -7f) && vr.All(e => e == -7f), $"cache row {row} was written");
                continue;
            }
            worst = Math.Max(worst, Check(ke.AsSpan(t * KvDim, KvDim).ToArray(), kr, 1e-6, "k cache"));
            Assert.Equal(v.AsSpan(t * KvDim, KvDim).ToArray(), vr);
        }
        output.WriteLine($"rope: worst |diff| / max|x| = {worst:E2} (tolerance 1e-6)");
    }

    /// <summary>
    /// Attention over the cache against a double reference with the CPU's head mapping (head h reads kv head
    /// h / (heads / kv heads)): 2 tokens at the start of the context, and one token at position 256 (two online softmax
    /// rounds of 256 positions). Tolerance 1e-5 * max|v|: the output is a convex combination of cached values, and its
    /// weights carry fp32 exp and sum errors of a few 1e-7 relative (up to 294 terms).
    /// </summary>
    [Theory]
    [InlineData(0, 2)]
    [InlineData(256, 1)]
    public void AttentionMatchesADoubleReference(int start, int n)
    {
        const int layer = 1;
        var q = k.Random(n * D, 60 + start, 1.5f);
        var kc = k.Random(2 * Ctx * KvDim, 61, 1.5f);
        var vc = k.Random(2 * Ctx * KvDim, 62);
        var o = k.Run(n * D, (acc, buf) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>>("Attention"))(
            k.Config("Attention", n), acc.Allocate1D(q).View, acc.Allocate1D(kc).View, acc.Allocate1D(vc).View, buf, layer, start, n));
        var expected = new float[n * D];
        double scale = DecoderKernelEmitter.AttentionScale(Unit().Shape);
        for (int t = 0; t < n; t++)
            for (int h = 0; h < Heads; h++)
            {
                int kv = h / (Heads / KvHeads), positions = start + t + 1;
                var s = new double[positions];
                for (int j = 0; j < positions; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < HeadDim; d++) dot += (double)q[t * D + h * HeadDim + d] * kc[(layer * Ctx + j) * KvDim + kv * HeadDim + d];
                    s[j] = dot * scale;
                }
                double max = s.Max(), sum = s.Sum(e => Math.Exp(e - max));
                for (int d = 0; d < HeadDim; d++)
                {
                    double acc = 0;
                    for (int j = 0; j < positions; j++) acc += Math.Exp(s[j] - max) / sum * vc[(layer * Ctx + j) * KvDim + kv * HeadDim + d];
                    expected[t * D + h * HeadDim + d] = (float)acc;
                }
            }
        double vmax = vc.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - o[i]) / vmax);
        Assert.True(worst <= 1e-5, $"attention: worst |diff| / max|v| = {worst:E3}");
        output.WriteLine($"attention start {start}, {n} tokens: worst |diff| / max|v| = {worst:E2} (tolerance 1e-5)");
    }

    /// <summary>
    /// Argmax: ties go to the lower index, NaN is never chosen. Softmax statistics against double: the max exactly, the
    /// sum of exp((z - max) / T) within 1e-5 relative (97 fp32 terms, each exp within a few ulp).
    /// </summary>
    [Fact]
    public void ArgmaxAndSoftmaxStats()
    {
        const int n = 4;
        var logits = k.Random(n * Vocab, 70, 4f);
        logits[0 * Vocab + 10] = 9f;  // token 0: a tie at 10 and 80 -> 10
        logits[0 * Vocab + 80] = 9f;
        logits[1 * Vocab + 3] = float.NaN;  // token 1: NaN is skipped; the maximum is at 96 (the last id)
        logits[1 * Vocab + 96] = 8f;
        for (int i = 0; i < Vocab; i++) logits[2 * Vocab + i] = -1f;  // token 2: all equal -> 0
        using var bl = k.Accelerator.Allocate1D(logits);
        using var next = k.Accelerator.Allocate1D<int>(n);
        k.Run(1, (acc, _) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<int>, int>>("Argmax"))(k.Config("Argmax", n), bl.View, next.View, n));
        var ids = next.GetAsArray1D();
        Assert.Equal(10, ids[0]);
        Assert.Equal(96, ids[1]);
        Assert.Equal(0, ids[2]);
        Assert.Equal(Argmax(logits.AsSpan(3 * Vocab, Vocab).ToArray()), ids[3]);

        const float temperature = 0.7f;
        var stats = k.Run(2 * n, (acc, o) => k.Accelerator.LoadStreamKernel(k.Method<Action<ArrayView<float>, ArrayView<float>, float, int>>("SoftmaxStats"))(
            k.Config("SoftmaxStats", n), bl.View, o, 1f / temperature, n));
        for (int t = 0; t < n; t++)
        {
            var row = logits.AsSpan(t * Vocab, Vocab).ToArray().Where(e => !float.IsNaN(e)).ToArray();
            float max = row.Max();
            double sum = row.Sum(e => Math.Exp((e - (double)max) * (1f / temperature)));
            Assert.Equal(max, stats[2 * t]);
            Assert.True(Math.Abs(stats[2 * t + 1] - sum) <= 1e-5 * sum, $"token {t}: sum {stats[2 * t + 1]}, expected {sum}");
        }
    }

    /// <summary>
    /// Argmax and softmax statistics over a vocabulary of 5,000: 19 or 20 logits a thread, in batches of 8 loads (the
    /// last partial). Ties in one batch (ids 10 and 266) and across batches (10 and 2058) go to the lower id; NaN is
    /// skipped; a maximum at the last id wins; the sum matches double within 1e-5 relative (5,000 fp32 terms of at most
    /// 1, each exp within a few ulp, summed per thread then by a tree: far below 1e-5 of a sum of at least 1).
    /// </summary>
    [Fact]
    public void ArgmaxAndSoftmaxStatsOverALargeVocabulary()
    {
        const int vocab = 5000, n = 4;
        var plan = DecoderBuild.Plan("DecLargeVocab", vocab, 32, 64, 8, 1, 2, 1, 8);
        var decoder = DecoderBuild.Ilgpu(plan).GetNestedType("Decoder")!;
        var launch = DecoderBuild.Launch(plan);
        TAction Method<TAction>(string name) where TAction : Delegate =>
            decoder.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<TAction>();

        var logits = k.Random(n * vocab, 71, 4f);
        logits[0 * vocab + 2058] = 9f;  // token 0: ties at 2058, 266 and 10 (one thread's batches 0 and 1) -> 10
        logits[0 * vocab + 266] = 9f;
        logits[0 * vocab + 10] = 9f;
        logits[1 * vocab + 4999] = 8f;  // token 1: the maximum at the last id; NaN at 3 and in a partial batch
        logits[1 * vocab + 3] = float.NaN;
        logits[1 * vocab + 4700] = float.NaN;
        for (int i = 0; i < vocab; i++) logits[2 * vocab + i] = -1f;  // token 2: all equal -> 0
        using var bl = k.Accelerator.Allocate1D(logits);
        using var next = k.Accelerator.Allocate1D<int>(n);
        k.Accelerator.LoadStreamKernel(Method<Action<ArrayView<float>, ArrayView<int>, int>>("Argmax"))(
            UnitKernels.Config(launch, "Argmax", n), bl.View, next.View, n);
        k.Accelerator.Synchronize();
        var ids = next.GetAsArray1D();
        Assert.Equal(new[] { 10, 4999, 0, Argmax(logits.AsSpan(3 * vocab, vocab).ToArray()) }, ids);

        const float temperature = 1.3f;
        var stats = k.Run(2 * n, (acc, o) => k.Accelerator.LoadStreamKernel(Method<Action<ArrayView<float>, ArrayView<float>, float, int>>("SoftmaxStats"))(
            UnitKernels.Config(launch, "SoftmaxStats", n), bl.View, o, 1f / temperature, n));
        for (int t = 0; t < n; t++)
        {
            var row = logits.AsSpan(t * vocab, vocab).ToArray().Where(e => !float.IsNaN(e)).ToArray();
            float max = row.Max();
            double sum = row.Sum(e => Math.Exp((e - (double)max) * (1f / temperature)));
            Assert.Equal(max, stats[2 * t]);
            Assert.True(Math.Abs(stats[2 * t + 1] - sum) <= 1e-5 * sum, $"token {t}: sum {stats[2 * t + 1]}, expected {sum}");
        }
    }

    private static double Check(float[] expected, float[] actual, double relative, string what)
    {
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]) / scale);
        Assert.True(worst <= relative, $"{what}: worst |diff| / max|expected| = {worst:E3} (tolerance {relative:E1})");
        return worst;
    }

    /// <summary>y[t, r] (plus residual[t, r]) against sum_c w[r, c] x[t, c] (c &lt; d) in double; returns the worst error ratio.</summary>
    private static double CheckGemv(float[] w, float[] x, float[]? residual, float[] y, int n, int rows, string what, int d = D)
    {
        double worst = 0;
        for (int t = 0; t < n; t++)
            for (int r = 0; r < rows; r++)
            {
                double s = residual?[t * rows + r] ?? 0, abs = Math.Abs(s);
                for (int c = 0; c < d; c++)
                {
                    s += (double)w[r * d + c] * x[t * d + c];
                    abs += Math.Abs((double)w[r * d + c] * x[t * d + c]);
                }
                double err = Math.Abs(s - y[t * rows + r]), tolerance = 1e-6 * abs + 1e-7;
                Assert.True(err <= tolerance, $"{what}[{t},{r}] = {y[t * rows + r]}, expected {s} (tolerance {tolerance:E2})");
                worst = Math.Max(worst, err / (abs + 1e-1));
            }
        return worst;
    }

    /// <summary>A CPU accelerator (NVIDIA-like) with the unit model's decoder kernels and launch table, shared by the kernel tests.</summary>
    public sealed class UnitKernels : IDisposable
    {
        private readonly Context _context;
        private readonly Type _decoder, _launch, _decoderBf16, _launchBf16;

        public UnitKernels()
        {
            var plan = Unit();
            _decoder = DecoderBuild.Ilgpu(plan).GetNestedType("Decoder")!;
            _launch = DecoderBuild.Launch(plan);
            _decoderBf16 = DecoderBuild.Ilgpu(UnitBf16()).GetNestedType("Decoder")!;
            _launchBf16 = DecoderBuild.Launch(UnitBf16());
            _context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia));
            Accelerator = _context.CreateCPUAccelerator(0);
        }

        public Accelerator Accelerator { get; }

        public float[] Random(int length, int seed, float scale = 1f)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
        }

        /// <summary>The kernel <paramref name="name"/> of <c>Ilgpu.Decoder</c> as a delegate, for LoadStreamKernel.</summary>
        public TAction Method<TAction>(string name) where TAction : Delegate =>
            _decoder.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<TAction>();

        /// <summary>The kernel <paramref name="name"/> of the bf16 unit model's <c>Ilgpu.Decoder</c>.</summary>
        public TAction Bf16Method<TAction>(string name) where TAction : Delegate =>
            _decoderBf16.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<TAction>();

        public KernelConfig Config(string kernel, int tokens) => Config(_launch, kernel, tokens);

        /// <summary>The launch of <paramref name="kernel"/> in the bf16 unit model (its grids follow its own sizes).</summary>
        public KernelConfig Bf16Config(string kernel, int tokens) => Config(_launchBf16, kernel, tokens);

        public static KernelConfig Config(Type launch, string kernel, int tokens)
        {
            var (x, y) = ((int X, int Y))launch.GetMethod(kernel + "Grid")!.Invoke(null, new object[] { tokens })!;
            return new KernelConfig(new Index2D(x, y), new Index2D(DecoderBuild.Const(launch, kernel + "Block"), 1));
        }

        /// <summary>Runs <paramref name="launch"/> with an output buffer of <paramref name="length"/> floats and returns it.</summary>
        public float[] Run(int length, Action<Accelerator, ArrayView<float>> launch)
        {
            using var output = Accelerator.Allocate1D<float>(length);
            launch(Accelerator, output.View);
            Accelerator.Synchronize();
            return output.GetAsArray1D();
        }

        public void Dispose()
        {
            Accelerator.Dispose();
            _context.Dispose();
        }
    }

    private static int Argmax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>The Runtime's view of a Compiler plan (only the shape and the parameter table matter to the decoder).</summary>
    internal static CompiledPlan ToCompiled(ModelPlan plan)
    {
        var s = plan.Shape;
        var shape = new ModelShape(s.Name, s.Vocab, s.Hidden, s.Intermediate, s.TopK, s.Layers, s.Heads, s.KvHeads, s.HeadDim, s.Context,
            s.Batch, s.RopeTheta, s.NormEps, s.TieEmbeddings, (WeightPrecision)(int)s.Weights, s.ChannelIndexBytes);
        var parameters = plan.Parameters.Select(p => new ParameterTensor(p.Name, p.Rows, p.Columns, p.Offset)).ToArray();
        var memory = new MemoryPlan(64, 0, 0, 0, Array.Empty<ActivationBuffer>(), default, default, 0, 0);
        return new CompiledPlan(shape, parameters, memory, new FlopCounts(1, default, default), new FlopCounts(1, default, default));
    }
}
