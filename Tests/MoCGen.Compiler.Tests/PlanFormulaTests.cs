using System;
using System.Collections.Generic;
using System.Linq;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;
using Xunit;

namespace MoCGen.Compiler.Tests;

/// <summary>
/// Plan figures against closed forms written here from DESIGN.md, not from the planner's code. d = Hidden,
/// f = Intermediate, K = TopK, H = Heads, G = KvHeads, h = d/H, T = Context, B = Batch, N = B*T, V = Vocab, L = Layers.
/// </summary>
public sealed class PlanFormulaTests
{
    public static IEnumerable<object[]> Shapes() => new[]
    {
        //           V     d     f     K   L   H   G     T  B  tied   name
        new object[] { 256,  256,  704,   88, 4,  4,  4,  256, 8, false, "TinyMoC" },
        new object[] { 1000, 200,  520,   65, 3,  10, 5,  37,  3, true,  "OddShapes" },
        new object[] { 50,   64,   128,  128, 2,  4,  1,  16,  2, false, "DenseGqa" },
        new object[] { 7,    8,    9,      1, 1,  2,  2,  1,   1, true,  "KOne" },
        new object[] { 32000, 4096, 11008, 1376, 32, 32, 8, 4096, 1, false, "Llama7BShaped" },
        new object[] { 16,   8,  70000,    8, 1,  2,  2,  4,   1, false, "WideIndices" },
    };

    private static ModelPlan Plan(int v, int d, int f, int k, int l, int h, int g, int t, int b, bool tied, string name)
    {
        var spec = ModelSpec.Default(new ModelType("Demo", name, true, "", false, false, false)) with
        {
            Vocab = v, Hidden = d, Intermediate = f, TopK = k, Layers = l, Heads = h, KvHeads = g, Context = t, Batch = b,
            TieEmbeddings = tied,
            GivenArguments = new EquatableArray<string>(new[] { "Vocab", "Hidden", "Intermediate", "TopK", "Layers", "Heads", "KvHeads", "Context", "Batch", "TieEmbeddings" }),
        };
        var result = ModelCompiler.Plan(spec);
        Assert.True(result.Succeeded, string.Join("; ", result.Problems));
        return result.Plan!;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ParameterCountIsTheLlamaFormula(int v, int d, int f, int k, int l, int h, int g, int t, int b, bool tied, string name)
    {
        var plan = Plan(v, d, f, k, l, h, g, t, b, tied, name);
        long hd = d / h;
        long perLayer = 2L * d + d * (h * hd) + 2L * d * (g * hd) + (h * hd) * d + 3L * d * f;
        long expected = (long)v * d + l * perLayer + d + (tied ? 0 : (long)v * d);
        Assert.Equal(expected, plan.ParameterCount);
        Assert.Equal(2 + 9 * l + (tied ? 0 : 1), plan.Parameters.Count);
        Assert.Equal(expected * (plan.Shape.Weights == StoredPrecision.BFloat16 ? 2 : 4), plan.Memory.ParameterBytes);
        Assert.Equal(expected * 16, plan.Memory.TrainingStateBytes);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ParametersAreContiguousWithHuggingFaceNames(int v, int d, int f, int k, int l, int h, int g, int t, int b, bool tied, string name)
    {
        var plan = Plan(v, d, f, k, l, h, g, t, b, tied, name);
        long offset = 0;
        foreach (var p in plan.Parameters)
        {
            Assert.Equal(offset, p.Offset);
            offset += p.Elements;
        }
        Assert.Equal("model.embed_tokens.weight", plan.Parameters[0].Name);
        var gate = plan.Parameters.Single(p => p.Name == $"model.layers.{l - 1}.mlp.gate_proj.weight");
        Assert.Equal((f, d), (gate.Rows, gate.Columns));
        var down = plan.Parameters.Single(p => p.Name == "model.layers.0.mlp.down_proj.weight");
        Assert.Equal((d, f), (down.Rows, down.Columns));
        var kProj = plan.Parameters.Single(p => p.Name == "model.layers.0.self_attn.k_proj.weight");
        Assert.Equal((g * (d / h), d), (kProj.Rows, kProj.Columns));
        Assert.Equal(!tied, plan.Parameters.Any(p => p.Name == "lm_head.weight"));
        Assert.Equal("model.norm.weight", plan.Parameters[tied ? ^1 : ^2].Name);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ActivationBytesPerTokenPerLayer(int v, int d, int f, int k, int l, int h, int g, int t, int b, bool tied, string name)
    {
        var plan = Plan(v, d, f, k, l, h, g, t, b, tied, name);
        long hd = d / h;
        int indexBytes = f <= 65536 ? 2 : 4;
        // Residual x, x_mid; norm outputs of both norms; two rstd scalars.
        long residual = 4 * (4L * d + 2);
        // q and attention output (H*h each), k and v (G*h each), one log-sum-exp per head.
        long attention = 4 * (2 * h * hd + 2 * g * hd + h);
        long denseFfn = 2L * 4 * f;                                  // gate and up, every channel
        long mocFfn = k == f ? denseFfn : (long)k * (indexBytes + 4 + 4); // index, gate and up of K channels
        Assert.Equal(new Footprint(residual, attention, mocFfn), plan.Memory.PerLayer);
        Assert.Equal(new Footprint(residual, attention, denseFfn), plan.Memory.DensePerLayer);

        // The layer buffers of the arena hold exactly that many bytes per token.
        long tokens = (long)b * t;
        Assert.Equal(plan.Memory.PerLayer.Total * tokens, plan.Memory.LayerBuffers.Sum(x => x.Bytes));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FlopsPerStep(int v, int d, int f, int k, int l, int h, int g, int t, int b, bool tied, string name)
    {
        var plan = Plan(v, d, f, k, l, h, g, t, b, tied, name);
        long n = (long)b * t;
        long qDim = d, kvDim = (long)g * (d / h);
        // Causal: query i (1-based) meets i keys; summed over a sequence that is T(T+1)/2 pairs per head,
        // each pair costing 2*h FLOPs for QK^T and 2*h for PV.
        long pairs = (long)t * (t + 1) / 2;
        long qk = b * pairs * 2 * qDim;
        long projections = n * (2 * d * qDim + 2 * 2 * d * kvDim + 2 * qDim * d);
        long attentionForward = l * (projections + 2 * qk);
        long attentionBackward = l * (2 * projections + 5 * qk);
        Assert.Equal(attentionForward, plan.Flops.Forward.Attention);
        Assert.Equal(attentionBackward, plan.Flops.Backward.Attention);

        // MoC: dense gate (2df), K-row up (2dK), K-column down (2Kd); backward touches only K channels: 3 x (2 x 2dK).
        Assert.Equal(l * n * (2L * d * f + 2L * d * k + 2L * k * d), plan.Flops.Forward.FeedForward);
        Assert.Equal(l * n * 12L * d * k, plan.Flops.Backward.FeedForward);
        Assert.Equal(l * n * 6L * d * f, plan.DenseFlops.Forward.FeedForward);
        Assert.Equal(l * n * 12L * d * f, plan.DenseFlops.Backward.FeedForward);
        Assert.Equal(n * 2L * d * v, plan.Flops.Forward.LmHead);
        Assert.Equal(n * 4L * d * v, plan.Flops.Backward.LmHead);
        Assert.Equal(plan.Flops.Forward.Attention, plan.DenseFlops.Forward.Attention);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ArenaBuffersAreAlignedDisjointAndInside(int v, int d, int f, int k, int l, int h, int g, int t, int b, bool tied, string name)
    {
        var plan = Plan(v, d, f, k, l, h, g, t, b, tied, name);
        var m = plan.Memory;
        var all = m.Globals.Select(x => (x.Name, x.Offset, x.Bytes))
            .Concat(Enumerable.Range(0, l).SelectMany(i => m.LayerBuffers.Select(x => (x.Name, m.LayerBase + i * m.LayerStride + x.Offset, x.Bytes))))
            .Concat(m.Workspace.Select(x => (x.Name, x.Offset, x.Bytes)))
            .OrderBy(x => x.Item2).ToList();
        long end = 0;
        foreach (var (bufferName, offset, bytes) in all)
        {
            Assert.True(offset % MemoryLayout.Alignment == 0, $"{bufferName} at {offset} is not aligned");
            Assert.True(offset >= end, $"{bufferName} overlaps its predecessor");
            end = offset + bytes;
        }
        Assert.True(end <= m.ArenaBytes);
        Assert.True(m.ArenaBytes - end < MemoryLayout.Alignment);
        // Padding is the only waste: at most one alignment unit per buffer.
        long payload = all.Sum(x => x.Bytes);
        Assert.InRange(m.ArenaBytes - payload, 0, all.Count * (long)MemoryLayout.Alignment);
        Assert.Equal(m.SavedBytes + m.WorkspaceBytes, m.ArenaBytes);
    }

    [Fact]
    public void MoCKeepsFarLessThanDenseAtOneEighth()
    {
        var plan = Plan(256, 256, 704, 88, 4, 4, 4, 256, 8, false, "TinyMoC");
        // 88 x 10 bytes against 704 x 8 bytes: 880 / 5632.
        Assert.Equal(880.0 / 5632.0, (double)plan.Memory.PerLayer.FeedForward / plan.Memory.DensePerLayer.FeedForward, 12);
    }
}
