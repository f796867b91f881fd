using System;
using System.Numerics;
using MoCGen.Cpu;

namespace MoCGen.Model;

/// <summary>
/// A whole LLaMA-style decoder with Mixture-of-Channels feed-forward blocks, on CPU, for one fixed training shape
/// (Batch x Context tokens): forward to the mean cross-entropy, and backward to the gradient of every weight.
/// Activations live in a <see cref="TrainingArena"/> at the offsets of the model's memory plan; weights and
/// gradients are flat buffers in the plan's parameter layout, except that each layer's down projection is held
/// transposed ([d_ff, d]) so the sparse kernels read a channel's weights as one row (checkpoints transpose it back).
/// </summary>
public sealed class MoCDecoder<TShape, TIndex> : IDisposable
    where TShape : struct, IDecoderShape
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    private static int D => TShape.Hidden;
    private static int F => TShape.Intermediate;
    private static int K => TShape.TopK;
    private static int V => TShape.Vocab;
    private static int HeadDim => TShape.Hidden / TShape.Heads;
    private static int QueryDim => TShape.Heads * HeadDim;
    private static int KvDim => TShape.KvHeads * HeadDim;
    private static int N => TShape.Batch * TShape.Context;
    private static bool Dense => TShape.TopK == TShape.Intermediate;

    private readonly CompiledPlan _plan;
    private readonly RopeTable _rope;
    private readonly AttentionShape _attention;
    private readonly LayerOffsets[] _layers;
    private readonly long _embed, _finalNorm, _lmHead;
    private readonly ActivationOffsets _act;
    private bool _forwardDone;

    /// <summary>Creates the decoder for <paramref name="plan"/>, which must be the plan of the same sizes.</summary>
    public MoCDecoder(CompiledPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var s = plan.Shape;
        if (s.Hidden != D || s.Intermediate != F || s.TopK != K || s.Vocab != V || s.Layers != TShape.Layers || s.Heads != TShape.Heads
            || s.KvHeads != TShape.KvHeads || s.Context != TShape.Context || s.Batch != TShape.Batch || s.TieEmbeddings != TShape.TieEmbeddings)
            throw new ArgumentException($"The plan of {s.Name} does not describe the sizes of {typeof(TShape).Name}.", nameof(plan));
        _plan = plan;
        _rope = new RopeTable(TShape.Context, HeadDim, TShape.RopeTheta);
        _attention = new AttentionShape(TShape.Batch, TShape.Context, TShape.Heads, TShape.KvHeads, HeadDim);
        _embed = plan.Parameter("model.embed_tokens.weight").Offset;
        _finalNorm = plan.Parameter("model.norm.weight").Offset;
        _lmHead = TShape.TieEmbeddings ? _embed : plan.Parameter("lm_head.weight").Offset;
        _layers = new LayerOffsets[TShape.Layers];
        for (int l = 0; l < _layers.Length; l++) _layers[l] = LayerOffsets.From(plan, l);
        Arena = new TrainingArena(plan.Memory);
        _act = ActivationOffsets.From(Arena);
        Parameters = new float[plan.ParameterCount];
        Gradients = new float[plan.ParameterCount];
    }

    /// <summary>All weights, fp32, in the plan's layout (down projections transposed, see the class remarks).</summary>
    public float[] Parameters { get; }

    /// <summary>Gradients of <see cref="Parameters"/>, same layout; <see cref="Backward"/> overwrites them.</summary>
    public float[] Gradients { get; }

    /// <summary>The activation memory of a step.</summary>
    public TrainingArena Arena { get; }

    /// <summary>The plan this decoder follows.</summary>
    public CompiledPlan Plan => _plan;

    /// <summary>True for names whose tensor is held transposed in <see cref="Parameters"/> (the down projections).</summary>
    public static bool IsTransposedInMemory(string parameterName) => parameterName.EndsWith(".mlp.down_proj.weight", StringComparison.Ordinal);

    /// <summary>
    /// Forward pass over one batch: <paramref name="tokens"/> and <paramref name="targets"/> are [Batch, Context]
    /// token ids. Returns the mean cross-entropy. Throws for ids outside the vocabulary, naming the position.
    /// </summary>
    public double Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets)
    {
        if (tokens.Length != N || targets.Length != N)
            throw new ArgumentException($"A step takes {TShape.Batch} x {TShape.Context} = {N} tokens and targets; got {tokens.Length} and {targets.Length}.");
        for (int i = 0; i < N; i++)
        {
            if ((uint)tokens[i] >= (uint)V) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token {tokens[i]} at position {i} is outside the vocabulary 0..{V - 1}.");
            if ((uint)targets[i] >= (uint)V) throw new ArgumentOutOfRangeException(nameof(targets), $"Target {targets[i]} at position {i} is outside the vocabulary 0..{V - 1}.");
        }
        var w = Parameters.AsSpan();
        tokens.CopyTo(Arena.Span<int>(_act.Tokens));
        targets.CopyTo(Arena.Span<int>(_act.Targets));
        float eps = (float)TShape.NormEps;

        Embedding.Forward(N, V, D, tokens, w.Slice((int)_embed, V * D), Arena.Span<float>(_act.Layer[0].X));
        for (int l = 0; l < TShape.Layers; l++) ForwardLayer(l, w);

        var finalIn = Arena.Span<float>(_act.FinalInput);
        var finalOut = Arena.Span<float>(_act.FinalNormOut);
        RmsNorm.Forward(N, D, finalIn, Slice(w, _finalNorm, D), eps, finalOut, Arena.Span<float>(_act.FinalNormRstd));
        var logits = Arena.Span<float>(_act.Logits);
        Gemm.Multiply(false, true, N, V, D, 1f, finalOut, D, Slice(w, _lmHead, V * D), D, 0f, logits, V);
        _forwardDone = true;
        return CrossEntropy.Forward(N, V, logits, targets, Arena.Span<float>(_act.Losses));
    }

    /// <summary>One layer's forward: from its input x (kept per layer) to the next layer's input.</summary>
    private void ForwardLayer(int l, Span<float> w)
    {
        float eps = (float)TShape.NormEps;
        var a = _act.Layer[l];
        var p = _layers[l];
        var x = Arena.Span<float>(a.X);
        var normed = Arena.Span<float>(a.AttnNormOut);
        RmsNorm.Forward(N, D, x, Slice(w, p.InputNorm, D), eps, normed, Arena.Span<float>(a.AttnNormRstd));
        var q = Arena.Span<float>(a.Q);
        var k = Arena.Span<float>(a.K);
        var v = Arena.Span<float>(a.V);
        Gemm.Multiply(false, true, N, QueryDim, D, 1f, normed, D, Slice(w, p.Q, QueryDim * D), D, 0f, q, QueryDim);
        Gemm.Multiply(false, true, N, KvDim, D, 1f, normed, D, Slice(w, p.K, KvDim * D), D, 0f, k, KvDim);
        Gemm.Multiply(false, true, N, KvDim, D, 1f, normed, D, Slice(w, p.V, KvDim * D), D, 0f, v, KvDim);
        Rope.Forward(_rope, N, q, TShape.Heads, k, TShape.KvHeads, TShape.Context);
        var attnOut = Arena.Span<float>(a.AttnOut);
        Attention.Forward(_attention, q, k, v, attnOut, Arena.Span<float>(a.AttnLse));

        var xMid = Arena.Span<float>(a.XMid);
        x.CopyTo(xMid);
        Gemm.Multiply(false, true, N, D, QueryDim, 1f, attnOut, QueryDim, Slice(w, p.O, D * QueryDim), QueryDim, 1f, xMid, D);

        var ffnIn = Arena.Span<float>(a.FfnNormOut);
        RmsNorm.Forward(N, D, xMid, Slice(w, p.PostNorm, D), eps, ffnIn, Arena.Span<float>(a.FfnNormRstd));
        var next = Arena.Span<float>(l + 1 < TShape.Layers ? _act.Layer[l + 1].X : _act.FinalInput);
        MoCFeedForward<TShape, TIndex>.Forward(N, ffnIn, FfnWeights(w, p), next, Saved(a), Arena.Span<float>(_act.FfnGateTile));
        TensorAdd(next, xMid);
    }

    /// <summary>The logits the last <see cref="Forward"/> computed for one token position of the batch, [Vocab].</summary>
    public ReadOnlySpan<float> LogitsAt(int position)
    {
        if ((uint)position >= (uint)N) throw new ArgumentOutOfRangeException(nameof(position), $"Position {position} is outside the step's {N} tokens.");
        if (!_forwardDone) throw new InvalidOperationException("Call Forward first: the logits buffer holds gradients after Backward.");
        return Arena.Span<float>(_act.Logits).Slice(position * V, V);
    }

    /// <summary>Backward pass of the last <see cref="Forward"/>: overwrites <see cref="Gradients"/> with dL/dw of the mean loss.</summary>
    public void Backward()
    {
        if (!_forwardDone) throw new InvalidOperationException("Backward needs the activations of a Forward call; the last step's were already consumed.");
        _forwardDone = false;
        var w = Parameters.AsSpan();
        var g = Gradients.AsSpan();
        g.Clear();
        float eps = (float)TShape.NormEps;

        var logits = Arena.Span<float>(_act.Logits);
        CrossEntropy.Backward(N, V, logits, Arena.Span<int>(_act.Targets));
        var finalOut = Arena.Span<float>(_act.FinalNormOut);
        Gemm.Multiply(true, false, V, D, N, 1f, logits, V, finalOut, D, 1f, Slice(g, _lmHead, V * D), D);
        var gradNorm = Arena.Span<float>(_act.GradNormOut);
        Gemm.Multiply(false, false, N, D, V, 1f, logits, V, Slice(w, _lmHead, V * D), D, 0f, gradNorm, D);
        var gradX = Arena.Span<float>(_act.GradX);
        RmsNorm.Backward(N, D, Arena.Span<float>(_act.FinalInput), Slice(w, _finalNorm, D), Arena.Span<float>(_act.FinalNormRstd),
            gradNorm, gradX, Slice(g, _finalNorm, D));

        for (int l = TShape.Layers - 1; l >= 0; l--)
        {
            // With recomputation the layer's buffers are shared: refill them from the layer's kept input first.
            if (_plan.Memory.Recompute) ForwardLayer(l, w);
            var a = _act.Layer[l];
            var p = _layers[l];
            // gradX holds dL/d(layer output) = dL/d(x_mid) through the residual, plus the feed-forward path below.
            var ffnIn = Arena.Span<float>(a.FfnNormOut);
            MoCFeedForward<TShape, TIndex>.Backward(N, ffnIn, FfnWeights(w, p), Saved(a), gradX, gradNorm, FfnGradients(g, p), FfnBackwardScratch());
            RmsNorm.Backward(N, D, Arena.Span<float>(a.XMid), Slice(w, p.PostNorm, D), Arena.Span<float>(a.FfnNormRstd),
                gradNorm, gradX, Slice(g, p.PostNorm, D), accumulateDx: true);

            // Attention output projection: x_mid = x + o W_o^T.
            var attnOut = Arena.Span<float>(a.AttnOut);
            var gradAttnOut = Arena.Span<float>(_act.GradAttnOut);
            Gemm.Multiply(false, false, N, QueryDim, D, 1f, gradX, D, Slice(w, p.O, D * QueryDim), QueryDim, 0f, gradAttnOut, QueryDim);
            Gemm.Multiply(true, false, D, QueryDim, N, 1f, gradX, D, attnOut, QueryDim, 1f, Slice(g, p.O, D * QueryDim), QueryDim);

            var q = Arena.Span<float>(a.Q);
            var k = Arena.Span<float>(a.K);
            var v = Arena.Span<float>(a.V);
            var gq = Arena.Span<float>(_act.GradQ);
            var gk = Arena.Span<float>(_act.GradK);
            var gv = Arena.Span<float>(_act.GradV);
            Attention.Backward(_attention, q, k, v, attnOut, Arena.Span<float>(a.AttnLse), gradAttnOut, gq, gk, gv);
            Rope.Backward(_rope, N, gq, TShape.Heads, gk, TShape.KvHeads, TShape.Context);

            var normed = Arena.Span<float>(a.AttnNormOut);
            Gemm.Multiply(false, false, N, D, QueryDim, 1f, gq, QueryDim, Slice(w, p.Q, QueryDim * D), D, 0f, gradNorm, D);
            Gemm.Multiply(false, false, N, D, KvDim, 1f, gk, KvDim, Slice(w, p.K, KvDim * D), D, 1f, gradNorm, D);
            Gemm.Multiply(false, false, N, D, KvDim, 1f, gv, KvDim, Slice(w, p.V, KvDim * D), D, 1f, gradNorm, D);
            Gemm.Multiply(true, false, QueryDim, D, N, 1f, gq, QueryDim, normed, D, 1f, Slice(g, p.Q, QueryDim * D), D);
            Gemm.Multiply(true, false, KvDim, D, N, 1f, gk, KvDim, normed, D, 1f, Slice(g, p.K, KvDim * D), D);
            Gemm.Multiply(true, false, KvDim, D, N, 1f, gv, KvDim, normed, D, 1f, Slice(g, p.V, KvDim * D), D);
            RmsNorm.Backward(N, D, Arena.Span<float>(a.X), Slice(w, p.InputNorm, D), Arena.Span<float>(a.AttnNormRstd),
                gradNorm, gradX, Slice(g, p.InputNorm, D), accumulateDx: true);
        }
        Embedding.Backward(N, V, D, Arena.Span<int>(_act.Tokens), gradX, Slice(g, _embed, V * D));
    }

    private FeedForwardSaved<TIndex> Saved(LayerActivations a) => new(
        Dense ? Span<TIndex>.Empty : Arena.Span<TIndex>(a.FfnIndex!.Value), Arena.Span<float>(a.FfnGate), Arena.Span<float>(a.FfnUp));

    /// <summary>The gate and up gradient scratch: the plan's adjacent grad_ffn_gate and grad_ffn_up buffers as one span.</summary>
    private Span<float> FfnBackwardScratch()
    {
        var gate = _act.GradFfnGate;
        var up = _act.GradFfnUp;
        long floats = (up.Offset + up.Bytes - gate.Offset) / 4;
        return Arena.Span<float>(gate with { Rows = 1, Columns = floats });
    }

    private static FeedForwardWeights FfnWeights(Span<float> w, LayerOffsets p) =>
        new(Slice(w, p.Gate, F * D), Slice(w, p.Up, F * D), Slice(w, p.Down, F * D));

    private static FeedForwardGradients FfnGradients(Span<float> g, LayerOffsets p) =>
        new(Slice(g, p.Gate, F * D), Slice(g, p.Up, F * D), Slice(g, p.Down, F * D));

    private static Span<float> Slice(Span<float> buffer, long offset, int length) => buffer.Slice(checked((int)offset), length);

    private static unsafe void TensorAdd(Span<float> destination, ReadOnlySpan<float> add)
    {
        fixed (float* d = destination, a = add) VectorMath.Axpy(d, 1f, a, destination.Length);
    }

    /// <summary>Frees the arena.</summary>
    public void Dispose() => Arena.Dispose();

    private readonly record struct LayerOffsets(long InputNorm, long Q, long K, long V, long O, long PostNorm, long Gate, long Up, long Down)
    {
        public static LayerOffsets From(CompiledPlan plan, int layer)
        {
            string p = "model.layers." + layer.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
            long At(string name) => plan.Parameter(p + name).Offset;
            return new(At("input_layernorm.weight"), At("self_attn.q_proj.weight"), At("self_attn.k_proj.weight"), At("self_attn.v_proj.weight"),
                At("self_attn.o_proj.weight"), At("post_attention_layernorm.weight"), At("mlp.gate_proj.weight"), At("mlp.up_proj.weight"),
                At("mlp.down_proj.weight"));
        }
    }

    private sealed record LayerActivations(
        ActivationBuffer X, ActivationBuffer AttnNormRstd, ActivationBuffer AttnNormOut, ActivationBuffer Q, ActivationBuffer K,
        ActivationBuffer V, ActivationBuffer AttnOut, ActivationBuffer AttnLse, ActivationBuffer XMid, ActivationBuffer FfnNormRstd,
        ActivationBuffer FfnNormOut, ActivationBuffer? FfnIndex, ActivationBuffer FfnGate, ActivationBuffer FfnUp);

    private sealed record ActivationOffsets(
        ActivationBuffer Tokens, ActivationBuffer Targets, ActivationBuffer FinalInput, ActivationBuffer FinalNormRstd,
        ActivationBuffer FinalNormOut, ActivationBuffer Logits, ActivationBuffer Losses, LayerActivations[] Layer,
        ActivationBuffer FfnGateTile, ActivationBuffer GradX, ActivationBuffer GradNormOut, ActivationBuffer GradQ, ActivationBuffer GradK,
        ActivationBuffer GradV, ActivationBuffer GradAttnOut, ActivationBuffer GradFfnGate, ActivationBuffer GradFfnUp)
    {
        public static ActivationOffsets From(TrainingArena arena)
        {
            var layers = new LayerActivations[TShape.Layers];
            for (int l = 0; l < layers.Length; l++)
            {
                // Recomputed models keep only x per layer; their other layer buffers are shared (layer -1).
                ActivationBuffer B(string name) => name == "x" || !arena.Plan.Recompute ? arena.Find(name, l) : arena.Find(name);
                layers[l] = new LayerActivations(B("x"), B("attn_norm_rstd"), B("attn_norm_out"), B("q"), B("k"), B("v"), B("attn_out"),
                    B("attn_lse"), B("x_mid"), B("ffn_norm_rstd"), B("ffn_norm_out"), Dense ? null : B("ffn_index"), B("ffn_gate"), B("ffn_up"));
            }
            ActivationBuffer G(string name) => arena.Find(name);
            return new ActivationOffsets(G("tokens"), G("targets"), G("final_input"), G("final_norm_rstd"), G("final_norm_out"),
                G("logits"), G("losses"), layers, G("ffn_gate_tile"), G("grad_x"), G("grad_norm_out"), G("grad_q"), G("grad_k"),
                G("grad_v"), G("grad_attn_out"), G("grad_ffn_gate"), G("grad_ffn_up"));
        }
    }
}
