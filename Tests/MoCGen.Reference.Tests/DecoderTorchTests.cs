using System;
using System.Collections.Generic;
using System.Linq;
using MoCGen.Cpu;
using MoCGen.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MoCGen.Reference.Tests;

[MoCModel(Vocab = 64, Hidden = 32, Intermediate = 96, TopK = 12, Layers = 2, Heads = 4, KvHeads = 2, Context = 16, Batch = 2)]
public partial class ReferenceMoC;

[MoCModel(Vocab = 64, Hidden = 32, Intermediate = 96, TopK = 96, Layers = 2, Heads = 4, KvHeads = 4, Context = 16, Batch = 2, TieEmbeddings = true, RopeTheta = 500000)]
public partial class ReferenceDense;

/// <summary>
/// The whole decoder (fp32) against an independent TorchSharp LLaMA (fp64, autograd) built from the same weights:
/// logits, loss and every parameter's gradient, then ten AdamW steps (warm-up and cosine learning rate, clipping,
/// decoupled weight decay on matrices) whose losses must match step by step.
/// Tolerances: values and gradients within 1e-4 of their tensor's largest magnitude; each is a chain of fp32 sums of
/// at most ~100 terms per product over two layers, so rounding is around 1e-6 relative and 1e-4 leaves margin while
/// any wrong term is off by O(1). Losses within 2e-4 relative over ten steps (differences feed back through the updates).
/// </summary>
public sealed class DecoderTorchTests
{
    static DecoderTorchTests() => torch.set_num_threads(1);

    [Fact] public void MoCModelMatchesTorch() => Compare(ReferenceMoC.CreateDecoder(), 1);
    [Fact] public void DenseTiedModelMatchesTorch() => Compare(ReferenceDense.CreateDecoder(), 2);

    private static void Compare<TShape>(MoCDecoder<TShape, ushort> model, int seed) where TShape : struct, IDecoderShape
    {
        using var _ = model;
        using var scope = torch.NewDisposeScope();
        var plan = model.Plan;
        var s = plan.Shape;
        var sizes = new LlamaSizes(s.Vocab, s.Hidden, s.Intermediate, s.TopK, s.Layers, s.Heads, s.KvHeads, s.RopeTheta, s.NormEps, s.TieEmbeddings);
        var random = new Random(seed);
        foreach (var p in plan.Parameters)
            for (long i = 0; i < p.Elements; i++)
                model.Parameters[p.Offset + i] = p.Columns == 0 ? 1f + (float)((random.NextDouble() - 0.5) * 0.2) : (float)((random.NextDouble() * 2 - 1) * 0.15);
        int n = s.TokensPerStep;
        int[] Draw() => Enumerable.Range(0, n).Select(_ => random.Next(s.Vocab)).ToArray();

        // Torch copies of the weights, Hugging Face layout (our down projections are transposed in memory).
        var weights = new Dictionary<string, Tensor>();
        foreach (var p in plan.Parameters) weights[p.Name] = ToTorch(model.Parameters, p).requires_grad_(true);

        var tokens = Draw();
        var targets = Draw();
        double ours = model.Forward(tokens, targets);
        var ourLogits = Enumerable.Range(0, n).SelectMany(i => model.LogitsAt(i).ToArray()).ToArray();
        var tTokens = tensor(tokens.Select(t => (long)t).ToArray(), new long[] { s.Batch, s.Context });
        var tTargets = tensor(targets.Select(t => (long)t).ToArray(), new long[] { s.Batch, s.Context });
        var logits = TorchLlama.Logits(weights, sizes, tTokens);
        AssertClose("logits", logits.detach().flatten().data<double>().ToArray(), ourLogits, 1e-4);
        var loss = nn.functional.cross_entropy(logits.view(-1, s.Vocab), tTargets.flatten());
        Assert.True(Math.Abs(loss.item<double>() - ours) <= 1e-5 * Math.Abs(loss.item<double>()), $"loss: torch {loss.item<double>()}, ours {ours}");

        model.Backward();
        loss.backward();
        foreach (var p in plan.Parameters)
            AssertClose("dL/d " + p.Name, FromTorch(weights[p.Name].grad!, p), Slice(model.Gradients, p), 1e-4);

        // Ten optimizer steps on fresh batches: ours (fp32 kernels) against AdamW written out in torch (fp64).
        var options = new AdamWOptions { WeightDecay = 0.1, MaxGradNorm = 0.5 };
        var schedule = new LearningRateSchedule(3, 10, 3e-3, 3e-4);
        var segments = plan.Parameters.Select(p => new AdamWSegment((int)p.Offset, (int)p.Elements, p.Columns != 0, p.Name)).ToArray();
        var m = new float[model.Parameters.Length];
        var v = new float[model.Parameters.Length];
        var tm = weights.ToDictionary(e => e.Key, e => zeros_like(e.Value));
        var tv = weights.ToDictionary(e => e.Key, e => zeros_like(e.Value));
        for (int step = 1; step <= 10; step++)
        {
            tokens = Draw();
            targets = Draw();
            double ourLoss = model.Forward(tokens, targets);
            model.Backward();
            double lr = schedule.At(step);
            Assert.True(AdamW.Step(model.Parameters, model.Gradients, m, v, segments, step, lr, options).Applied);

            foreach (var w in weights.Values) w.grad?.zero_();
            tTokens = tensor(tokens.Select(t => (long)t).ToArray(), new long[] { s.Batch, s.Context });
            tTargets = tensor(targets.Select(t => (long)t).ToArray(), new long[] { s.Batch, s.Context });
            var torchLoss = TorchLlama.Loss(weights, sizes, tTokens, tTargets);
            torchLoss.backward();
            Assert.True(Math.Abs(ourLoss - torchLoss.item<double>()) <= 2e-4 * Math.Abs(torchLoss.item<double>()),
                $"step {step}: ours {ourLoss}, torch {torchLoss.item<double>()}");
            TorchAdamW(weights, tm, tv, plan, step, lr, options);
        }
    }

    /// <summary>AdamW as PyTorch defines it, with global-norm clipping, written independently in fp64 tensor ops.</summary>
    private static void TorchAdamW(Dictionary<string, Tensor> weights, Dictionary<string, Tensor> m, Dictionary<string, Tensor> v,
        CompiledPlan plan, int step, double lr, AdamWOptions o)
    {
        using var noGrad = torch.no_grad();
        double norm = Math.Sqrt(weights.Values.Sum(w => w.grad!.pow(2).sum().item<double>()));
        double clip = norm > o.MaxGradNorm ? o.MaxGradNorm / (norm + 1e-6) : 1.0;
        foreach (var p in plan.Parameters)
        {
            var w = weights[p.Name];
            var g = w.grad! * clip;
            if (p.Columns != 0) w.mul_(1 - lr * o.WeightDecay);
            m[p.Name].mul_(o.Beta1).add_(g * (1 - o.Beta1));
            v[p.Name].mul_(o.Beta2).add_(g * g * (1 - o.Beta2));
            var mHat = m[p.Name] / (1 - Math.Pow(o.Beta1, step));
            var vHat = v[p.Name] / (1 - Math.Pow(o.Beta2, step));
            w.sub_(mHat / (vHat.sqrt() + o.Epsilon) * lr);
        }
    }

    private static Tensor ToTorch(float[] buffer, ParameterTensor p)
    {
        var values = Slice(buffer, p).Select(f => (double)f).ToArray();
        if (MoCDecoder<ReferenceMoC.DecoderShape, ushort>.IsTransposedInMemory(p.Name))
            return tensor(values, new long[] { p.Columns, p.Rows }).t().contiguous();
        return tensor(values, p.Shape.Select(d => (long)d).ToArray());
    }

    private static double[] FromTorch(Tensor t, ParameterTensor p)
    {
        if (MoCDecoder<ReferenceMoC.DecoderShape, ushort>.IsTransposedInMemory(p.Name)) t = t.t();
        return t.contiguous().flatten().data<double>().ToArray();
    }

    private static float[] Slice(float[] buffer, ParameterTensor p) => buffer.AsSpan((int)p.Offset, (int)p.Elements).ToArray();

    private static void AssertClose(string what, double[] expected, float[] actual, double relative)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs), worst = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = Math.Abs(actual[i] - expected[i]);
            if (e > worst) { worst = e; at = i; }
        }
        Assert.True(worst <= relative * scale + 1e-12, $"{what}: max error {worst:E3} at {at} (torch {expected[at]:G6}, ours {actual[at]:G6}), scale {scale:E3}");
    }
}
