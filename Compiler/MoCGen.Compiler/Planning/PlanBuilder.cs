using System;
using System.Collections.Generic;
using System.Linq;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Planning;

/// <summary>
/// Turns a valid spec into a <see cref="ModelPlan"/>. All arithmetic is checked: a total that overflows
/// 64 bits throws <see cref="OverflowException"/>, which <see cref="ModelCompiler"/> reports as MOC017.
/// </summary>
public static class PlanBuilder
{
    /// <summary>Plans <paramref name="spec"/> for <paramref name="target"/> (null: <see cref="CudaTarget.Default"/>).</summary>
    public static ModelPlan Build(ModelSpec spec, CudaTarget? target = null)
    {
        var shape = new PlanShape
        {
            Name = spec.Type.Name,
            Namespace = spec.Type.Namespace,
            Vocab = spec.Vocab,
            Hidden = spec.Hidden,
            Intermediate = spec.Intermediate,
            TopK = spec.TopK,
            Layers = spec.Layers,
            Heads = spec.Heads,
            KvHeads = spec.EffectiveKvHeads,
            Context = spec.Context,
            Batch = spec.Batch,
            RopeTheta = spec.RopeTheta,
            NormEps = spec.NormEps,
            TieEmbeddings = spec.TieEmbeddings,
            Recompute = spec.Recompute,
            Weights = (StoredPrecision)spec.Weights,
        };
        var parameters = ParameterTable(shape, out var count);
        var memory = MemoryPlanner.Plan(shape, count);
        return new ModelPlan(shape, parameters, count, memory,
            FlopCounter.Count(shape, shape.TopK), FlopCounter.Count(shape, shape.Intermediate))
        {
            Target = target ?? CudaTarget.Default,
        };
    }

    /// <summary>The weights in Hugging Face LLaMA order and naming, laid out back to back.</summary>
    public static IReadOnlyList<PlannedParameter> ParameterTable(PlanShape s, out long count)
    {
        var list = new List<PlannedParameter>();
        long offset = 0;
        void Add(string name, string constant, int rows, string rowsSymbol, int columns, string columnsSymbol, int layer)
        {
            var p = new PlannedParameter(name, rows, columns, offset, layer, rowsSymbol, columnsSymbol, constant);
            list.Add(p);
            offset = checked(offset + p.Elements);
        }

        Add("model.embed_tokens.weight", "EmbedTokens", s.Vocab, "Vocab", s.Hidden, "Hidden", -1);
        for (int i = 0; i < s.Layers; i++)
        {
            var prefix = "model.layers." + i + ".";
            Add(prefix + "input_layernorm.weight", "InputLayernorm", s.Hidden, "Hidden", 0, "0", i);
            Add(prefix + "self_attn.q_proj.weight", "QProj", s.QueryDim, "QueryDim", s.Hidden, "Hidden", i);
            Add(prefix + "self_attn.k_proj.weight", "KProj", s.KvDim, "KvDim", s.Hidden, "Hidden", i);
            Add(prefix + "self_attn.v_proj.weight", "VProj", s.KvDim, "KvDim", s.Hidden, "Hidden", i);
            Add(prefix + "self_attn.o_proj.weight", "OProj", s.Hidden, "Hidden", s.QueryDim, "QueryDim", i);
            Add(prefix + "post_attention_layernorm.weight", "PostAttentionLayernorm", s.Hidden, "Hidden", 0, "0", i);
            Add(prefix + "mlp.gate_proj.weight", "GateProj", s.Intermediate, "Intermediate", s.Hidden, "Hidden", i);
            Add(prefix + "mlp.up_proj.weight", "UpProj", s.Intermediate, "Intermediate", s.Hidden, "Hidden", i);
            Add(prefix + "mlp.down_proj.weight", "DownProj", s.Hidden, "Hidden", s.Intermediate, "Intermediate", i);
        }

        Add("model.norm.weight", "FinalNorm", s.Hidden, "Hidden", 0, "0", -1);
        if (!s.TieEmbeddings) Add("lm_head.weight", "LmHead", s.Vocab, "Vocab", s.Hidden, "Hidden", -1);
        count = offset;
        return list;
    }
}

/// <summary>Lays out every activation of one training step in one aligned arena.</summary>
public static class MemoryPlanner
{
    /// <summary>Tokens whose full gate row (d_ff values) is materialized at once before Top-K.</summary>
    public const int MaxFfnTokenTile = 64;

    /// <summary>The model's layout, with the arena size of the other recomputation choice recorded beside it.</summary>
    public static MemoryLayout Plan(PlanShape s, long parameterCount)
    {
        var layout = Layout(s, parameterCount, s.Recompute);
        var other = Layout(s, parameterCount, !s.Recompute);
        layout.ArenaBytesWithRecompute = s.Recompute ? layout.ArenaBytes : other.ArenaBytes;
        layout.ArenaBytesWithoutRecompute = s.Recompute ? other.ArenaBytes : layout.ArenaBytes;
        return layout;
    }

    /// <summary>
    /// Lays the arena out. Without recomputation every layer keeps all its buffers. With it, a layer keeps only its
    /// input x; the rest of a layer's buffers exist once, in the workspace, refilled by re-running the layer's
    /// forward just before its backward.
    /// </summary>
    private static MemoryLayout Layout(PlanShape s, long parameterCount, bool recompute)
    {
        long n = s.Tokens;
        var indexElement = s.ChannelIndexBytes == 2 ? PlannedElement.UInt16 : PlannedElement.UInt32;
        var layout = new MemoryLayout { FfnTokenTile = (int)Math.Min(n, MaxFfnTokenTile) };

        long cursor = 0;
        List<PlannedBuffer> Place(IEnumerable<PlannedBuffer> buffers, ref long at)
        {
            var placed = new List<PlannedBuffer>();
            foreach (var b in buffers)
            {
                at = Align(at);
                placed.Add(b with { Offset = at });
                at = checked(at + b.Bytes);
            }
            return placed;
        }

        PlannedBuffer F(string name, string constant, PlannedRole role, long rows, string rowsSymbol, long columns, string columnsSymbol, string purpose) =>
            new(name, constant, role, PlannedElement.Float32, rows, columns, 0, purpose, rowsSymbol, columnsSymbol);
        const string N = "TokensPerStep";

        layout.Globals = Place(new[]
        {
            new PlannedBuffer("tokens", "Tokens", PlannedRole.Saved, PlannedElement.Int32, n, 1, 0, "input token ids", N, "1"),
            new PlannedBuffer("targets", "Targets", PlannedRole.Saved, PlannedElement.Int32, n, 1, 0, "next-token targets", N, "1"),
            F("final_input", "FinalInput", PlannedRole.Saved, n, N, s.Hidden, "Hidden", "residual stream after the last layer"),
            F("final_norm_rstd", "FinalNormRstd", PlannedRole.Saved, n, N, 1, "1", "1/rms of the final norm"),
            F("final_norm_out", "FinalNormOut", PlannedRole.Saved, n, N, s.Hidden, "Hidden", "final norm output, LM head input"),
            F("logits", "Logits", PlannedRole.Saved, n, N, s.Vocab, "Vocab", "logits; softmax and its gradient in place"),
            F("losses", "Losses", PlannedRole.Saved, n, N, 1, "1", "per-token cross-entropy"),
        }, ref cursor);

        cursor = Align(cursor);
        layout.LayerBase = cursor;
        long inLayer = 0;
        var layerBuffers = LayerBuffers(s, n, indexElement).ToList();
        var shared = recompute ? layerBuffers.Where(b => b.Name != "x").Select(b => b with { Role = PlannedRole.Workspace, Constant = "Recomputed" + b.Constant, Purpose = b.Purpose + " (recomputed)" }).ToList() : new List<PlannedBuffer>();
        if (recompute) layerBuffers = layerBuffers.Where(b => b.Name == "x").ToList();
        layout.Recompute = recompute;
        layout.LayerBuffers = Place(layerBuffers, ref inLayer);
        layout.LayerStride = Align(inLayer);
        cursor = checked(layout.LayerBase + checked(layout.LayerStride * s.Layers));
        layout.SavedBytes = cursor;

        layout.WorkspaceBase = cursor;
        var k = s.TopK;
        var workspace = Place(shared.Concat(new[]
        {
            F("ffn_gate_tile", "FfnGateTile", PlannedRole.Workspace, layout.FfnTokenTile, "Arena.FfnTokenTile", s.Intermediate, "Intermediate", "all d_ff gate values of a token tile, before Top-K"),
            F("grad_x", "GradX", PlannedRole.Workspace, n, N, s.Hidden, "Hidden", "gradient of the residual stream"),
            F("grad_norm_out", "GradNormOut", PlannedRole.Workspace, n, N, s.Hidden, "Hidden", "gradient of a norm output"),
            F("grad_q", "GradQ", PlannedRole.Workspace, n, N, s.QueryDim, "QueryDim", "gradient of q"),
            F("grad_k", "GradK", PlannedRole.Workspace, n, N, s.KvDim, "KvDim", "gradient of k"),
            F("grad_v", "GradV", PlannedRole.Workspace, n, N, s.KvDim, "KvDim", "gradient of v"),
            F("grad_attn_out", "GradAttnOut", PlannedRole.Workspace, n, N, s.QueryDim, "QueryDim", "gradient of the attention output"),
            F("grad_ffn_gate", "GradFfnGate", PlannedRole.Workspace, n, N, k, "TopK", "gradient of the selected gate values"),
            F("grad_ffn_up", "GradFfnUp", PlannedRole.Workspace, n, N, k, "TopK", "gradient of the selected up values"),
        }), ref cursor);
        layout.Workspace = workspace;
        layout.ArenaBytes = Align(cursor);
        layout.WorkspaceBytes = layout.ArenaBytes - layout.WorkspaceBase;

        layout.PerLayer = FootprintOf(s, s.TopK);
        layout.DensePerLayer = FootprintOf(s, s.Intermediate);
        layout.ParameterBytes = checked(parameterCount * s.WeightBytes);
        layout.TrainingStateBytes = checked(parameterCount * 16);
        return layout;
    }

    /// <summary>One layer's saved buffers; the feed-forward part differs between MoC and dense.</summary>
    private static IEnumerable<PlannedBuffer> LayerBuffers(PlanShape s, long n, PlannedElement indexElement)
    {
        const string N = "TokensPerStep";
        PlannedBuffer F(string name, string constant, long columns, string columnsSymbol, string purpose) =>
            new(name, constant, PlannedRole.Saved, PlannedElement.Float32, n, columns, 0, purpose, N, columnsSymbol);

        yield return F("x", "X", s.Hidden, "Hidden", "layer input (residual stream)");
        yield return F("attn_norm_rstd", "AttnNormRstd", 1, "1", "1/rms of the attention norm");
        yield return F("attn_norm_out", "AttnNormOut", s.Hidden, "Hidden", "attention norm output, q/k/v input");
        yield return F("q", "Q", s.QueryDim, "QueryDim", "queries after RoPE");
        yield return F("k", "K", s.KvDim, "KvDim", "keys after RoPE");
        yield return F("v", "V", s.KvDim, "KvDim", "values");
        yield return F("attn_out", "AttnOut", s.QueryDim, "QueryDim", "attention output, o_proj input");
        yield return F("attn_lse", "AttnLse", s.Heads, "Heads", "log-sum-exp of each head's scores");
        yield return F("x_mid", "XMid", s.Hidden, "Hidden", "residual stream after attention");
        yield return F("ffn_norm_rstd", "FfnNormRstd", 1, "1", "1/rms of the feed-forward norm");
        yield return F("ffn_norm_out", "FfnNormOut", s.Hidden, "Hidden", "feed-forward norm output");
        if (s.IsDense)
        {
            yield return F("ffn_gate", "FfnGate", s.Intermediate, "Intermediate", "gate values, all channels");
            yield return F("ffn_up", "FfnUp", s.Intermediate, "Intermediate", "up values, all channels");
        }
        else
        {
            yield return new PlannedBuffer("ffn_index", "FfnIndex", PlannedRole.Saved, indexElement, n, s.TopK, 0, "Top-K channel indices, ascending", N, "TopK");
            yield return F("ffn_gate", "FfnGate", s.TopK, "TopK", "gate values of the selected channels");
            yield return F("ffn_up", "FfnUp", s.TopK, "TopK", "up values of the selected channels");
        }
    }

    /// <summary>Bytes per token per layer kept for backward, with <paramref name="k"/> active channels.</summary>
    public static Footprint FootprintOf(PlanShape s, int k)
    {
        long residual = 4L * (4L * s.Hidden + 2);
        long attention = 4L * (2L * s.QueryDim + 2L * s.KvDim + s.Heads);
        long ffn = k == s.Intermediate ? 8L * s.Intermediate : (long)k * (s.ChannelIndexBytes + 8);
        return new Footprint(residual, attention, ffn);
    }

    public static long Align(long offset) =>
        checked((offset + MemoryLayout.Alignment - 1) / MemoryLayout.Alignment * MemoryLayout.Alignment);
}

/// <summary>Matmul FLOPs (2 per multiply-add) of one training step; elementwise work is not counted.</summary>
public static class FlopCounter
{
    public static StepFlops Count(PlanShape s, int k)
    {
        long n = s.Tokens;
        long d = s.Hidden;
        long layers = s.Layers;
        // Causal attention: query t attends t keys, so one sequence does T(T+1)/2 query-key pairs per head.
        long pairsTimesTwo = checked((long)s.Context * (s.Context + 1));
        long core = checked(s.Batch * checked(pairsTimesTwo * s.QueryDim)); // = 2 * Dh * H * T(T+1)/2 per product

        long projections = checked(n * 2 * d * (2L * s.QueryDim + 2L * s.KvDim));
        long attentionForward = checked(layers * checked(projections + 2 * core));
        long ffnForward = checked(layers * checked(n * 2 * d * checked(s.Intermediate + 2L * k)));
        long lmForward = checked(n * 2 * d * s.Vocab);

        // Backward: input and weight gradient of every product (2x); attention recomputes the scores,
        // then forms dV, dP, dQ, dK (5 products); the feed-forward gradients are K-sparse in all three.
        long attentionBackward = checked(layers * checked(2 * projections + 5 * core));
        long ffnBackward = checked(layers * checked(n * 12 * d * k));
        long lmBackward = checked(2 * lmForward);

        return new StepFlops(n,
            new FlopParts(attentionForward, ffnForward, lmForward),
            new FlopParts(attentionBackward, ffnBackward, lmBackward));
    }
}
