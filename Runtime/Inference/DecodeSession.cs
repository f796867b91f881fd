using System;
using System.Numerics;
using MoCGen.Cpu;
using MoCGen.Model;

namespace MoCGen.Inference;

/// <summary>
/// Token-by-token decoding on CPU with a key/value cache: each step reads all of W_g but only the K selected rows of
/// W_u and W_d per layer (the MoC decode path), attends over the cached keys and values, and returns the next-token
/// logits. Weights are a decoder's flat parameter buffer (down projections transposed, as <see cref="MoCDecoder{TShape, TIndex}"/> keeps them).
/// </summary>
public sealed class DecodeSession<TShape, TIndex> : ITokenDecoder
    where TShape : struct, IDecoderShape
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    private static int D => TShape.Hidden;
    private static int F => TShape.Intermediate;
    private static int V => TShape.Vocab;
    private static int HeadDim => TShape.Hidden / TShape.Heads;
    private static int QueryDim => TShape.Heads * HeadDim;
    private static int KvDim => TShape.KvHeads * HeadDim;

    private readonly float[] _w;
    private readonly LayerWeights[] _layers;
    private readonly long _embed, _finalNorm, _lmHead;
    private readonly RopeTable _rope;
    private readonly float[][] _keys, _values;
    private readonly float[] _x = new float[D], _normed = new float[D], _q = new float[QueryDim], _k = new float[KvDim], _v = new float[KvDim];
    private readonly float[] _attention = new float[QueryDim], _ffnOut = new float[D], _logits = new float[V], _scores;
    private readonly float[] _rstd = new float[1];
    private readonly TIndex[] _index = new TIndex[TShape.TopK == TShape.Intermediate ? 0 : TShape.TopK];
    private readonly float[] _gate = new float[TShape.TopK], _up = new float[TShape.TopK];
    private readonly float[] _ffnScratch = new float[F];
    private readonly int[] _position = new int[1];

    /// <summary>A session over <paramref name="parameters"/> laid out by <paramref name="plan"/>; the buffer is read, not copied.</summary>
    public DecodeSession(CompiledPlan plan, float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(parameters);
        var s = plan.Shape;
        if (s.Hidden != D || s.Intermediate != F || s.TopK != TShape.TopK || s.Vocab != V || s.Layers != TShape.Layers || s.Heads != TShape.Heads
            || s.KvHeads != TShape.KvHeads || s.Context != TShape.Context || s.TieEmbeddings != TShape.TieEmbeddings)
            throw new ArgumentException($"The plan of {s.Name} does not describe the sizes of {typeof(TShape).Name}.", nameof(plan));
        if (parameters.Length < plan.ParameterCount)
            throw new ArgumentException($"The parameter buffer holds {parameters.Length} floats; {s.Name} has {plan.ParameterCount}.", nameof(parameters));
        _w = parameters;
        _embed = plan.Parameter("model.embed_tokens.weight").Offset;
        _finalNorm = plan.Parameter("model.norm.weight").Offset;
        _lmHead = TShape.TieEmbeddings ? _embed : plan.Parameter("lm_head.weight").Offset;
        _layers = new LayerWeights[TShape.Layers];
        _keys = new float[TShape.Layers][];
        _values = new float[TShape.Layers][];
        for (int l = 0; l < TShape.Layers; l++)
        {
            string p = "model.layers." + l.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
            long At(string name) => plan.Parameter(p + name).Offset;
            _layers[l] = new LayerWeights(At("input_layernorm.weight"), At("self_attn.q_proj.weight"), At("self_attn.k_proj.weight"),
                At("self_attn.v_proj.weight"), At("self_attn.o_proj.weight"), At("post_attention_layernorm.weight"),
                At("mlp.gate_proj.weight"), At("mlp.up_proj.weight"), At("mlp.down_proj.weight"));
            _keys[l] = new float[TShape.Context * KvDim];
            _values[l] = new float[TShape.Context * KvDim];
        }
        _rope = new RopeTable(TShape.Context, HeadDim, TShape.RopeTheta);
        _scores = new float[TShape.Context];
    }

    /// <summary>Tokens in the cache: the position the next token will take.</summary>
    public int Length { get; private set; }

    /// <summary>Forgets the cached tokens.</summary>
    public void Reset() => Length = 0;

    /// <inheritdoc />
    public string Device => "cpu";

    /// <inheritdoc />
    public ReadOnlySpan<float> Append(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("At least one token is needed.", nameof(tokens));
        ReadOnlySpan<float> logits = default;
        foreach (int token in tokens) logits = Append(token);
        return logits;
    }

    /// <summary>
    /// Appends <paramref name="token"/> at position <see cref="Length"/> and returns the logits for the token after it
    /// (valid until the next call). Throws when the context is full or the token is outside the vocabulary.
    /// </summary>
    public ReadOnlySpan<float> Append(int token)
    {
        if ((uint)token >= (uint)V) throw new ArgumentOutOfRangeException(nameof(token), $"Token {token} is outside the vocabulary 0..{V - 1}.");
        if (Length >= TShape.Context)
            throw new InvalidOperationException($"The context of {TShape.Context} tokens is full; start a new session or shorten the prompt.");
        int position = Length;
        var w = _w.AsSpan();
        float eps = (float)TShape.NormEps;
        w.Slice((int)_embed + token * D, D).CopyTo(_x);
        for (int l = 0; l < TShape.Layers; l++)
        {
            var p = _layers[l];
            RmsNorm.Forward(1, D, _x, w.Slice((int)p.InputNorm, D), eps, _normed, _rstd);
            Gemm.Multiply(false, true, 1, QueryDim, D, 1f, _normed, D, w.Slice((int)p.Q, QueryDim * D), D, 0f, _q, QueryDim);
            Gemm.Multiply(false, true, 1, KvDim, D, 1f, _normed, D, w.Slice((int)p.K, KvDim * D), D, 0f, _k, KvDim);
            Gemm.Multiply(false, true, 1, KvDim, D, 1f, _normed, D, w.Slice((int)p.V, KvDim * D), D, 0f, _v, KvDim);
            _position[0] = position;
            Rope.Forward(_rope, 1, _q, TShape.Heads, _k, TShape.KvHeads, _position);
            _k.CopyTo(_keys[l].AsSpan(position * KvDim, KvDim));
            _v.CopyTo(_values[l].AsSpan(position * KvDim, KvDim));
            Attend(l, position);
            Gemm.Multiply(false, true, 1, D, QueryDim, 1f, _attention, QueryDim, w.Slice((int)p.O, D * QueryDim), QueryDim, 1f, _x, D);

            RmsNorm.Forward(1, D, _x, w.Slice((int)p.PostNorm, D), eps, _normed, _rstd);
            var weights = new FeedForwardWeights(w.Slice((int)p.Gate, F * D), w.Slice((int)p.Up, F * D), w.Slice((int)p.Down, F * D));
            MoCFeedForward<TShape, TIndex>.Forward(1, _normed, weights, _ffnOut, new FeedForwardSaved<TIndex>(_index, _gate, _up), _ffnScratch);
            for (int i = 0; i < D; i++) _x[i] += _ffnOut[i];
        }
        RmsNorm.Forward(1, D, _x, w.Slice((int)_finalNorm, D), eps, _normed, _rstd);
        Gemm.Multiply(false, true, 1, V, D, 1f, _normed, D, w.Slice((int)_lmHead, V * D), D, 0f, _logits, V);
        Length = position + 1;
        return _logits;
    }

    /// <summary>Causal attention of the newest query over the cached keys 0..position, every head.</summary>
    private void Attend(int layer, int position)
    {
        float scale = 1f / MathF.Sqrt(HeadDim);
        int group = TShape.Heads / TShape.KvHeads;
        var keys = _keys[layer];
        var values = _values[layer];
        for (int h = 0; h < TShape.Heads; h++)
        {
            int kv = h / group;
            var q = _q.AsSpan(h * HeadDim, HeadDim);
            float max = float.NegativeInfinity;
            for (int j = 0; j <= position; j++)
            {
                float s = Dot(q, keys.AsSpan(j * KvDim + kv * HeadDim, HeadDim)) * scale;
                _scores[j] = s;
                max = MathF.Max(max, s);
            }
            float sum = 0;
            for (int j = 0; j <= position; j++) sum += _scores[j] = MathF.Exp(_scores[j] - max);
            var o = _attention.AsSpan(h * HeadDim, HeadDim);
            o.Clear();
            for (int j = 0; j <= position; j++)
            {
                float p = _scores[j] / sum;
                var v = values.AsSpan(j * KvDim + kv * HeadDim, HeadDim);
                for (int i = 0; i < HeadDim; i++) o[i] += p * v[i];
            }
        }
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private readonly record struct LayerWeights(long InputNorm, long Q, long K, long V, long O, long PostNorm, long Gate, long Up, long Down);
}
