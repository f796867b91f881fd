using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace MoCGen.Reference;

/// <summary>Sizes of a LLaMA decoder for <see cref="TorchLlama"/>.</summary>
public sealed record LlamaSizes(int Vocab, int Hidden, int Intermediate, int TopK, int Layers, int Heads, int KvHeads,
    double RopeTheta, double NormEps, bool TieEmbeddings)
{
    public int HeadDim => Hidden / Heads;
}

/// <summary>
/// A LLaMA decoder written with TorchSharp the way Hugging Face writes it: RMSNorm, rotary embeddings with
/// rotate_half, causal attention with repeated key/value heads and a full softmax, the MoC SwiGLU block of
/// <see cref="TorchFeedForward"/>, tied or separate LM head, mean cross-entropy. Weights by Hugging Face name.
/// Independent of MoCGen's kernels: the reference for whole-model tests and the peer in the model benchmarks.
/// </summary>
public static class TorchLlama
{
    /// <summary>Logits [batch, T, vocab] for token ids [batch, T].</summary>
    public static Tensor Logits(IReadOnlyDictionary<string, Tensor> w, LlamaSizes s, Tensor tokens)
    {
        long batch = tokens.shape[0], t = tokens.shape[1];
        var x = w["model.embed_tokens.weight"].index_select(0, tokens.flatten()).view(batch, t, s.Hidden);
        var (cos, sin) = RopeTables(s, t, x.dtype);
        var mask = ones(t, t, dtype: ScalarType.Bool).tril().logical_not();
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = RmsNorm(x, w[p + "input_layernorm.weight"], s.NormEps);
            var q = h.matmul(w[p + "self_attn.q_proj.weight"].t()).view(batch, t, s.Heads, s.HeadDim).transpose(1, 2);
            var k = h.matmul(w[p + "self_attn.k_proj.weight"].t()).view(batch, t, s.KvHeads, s.HeadDim).transpose(1, 2);
            var v = h.matmul(w[p + "self_attn.v_proj.weight"].t()).view(batch, t, s.KvHeads, s.HeadDim).transpose(1, 2);
            q = q * cos + RotateHalf(q) * sin;
            k = k * cos + RotateHalf(k) * sin;
            int group = s.Heads / s.KvHeads;
            k = k.repeat_interleave(group, dim: 1);
            v = v.repeat_interleave(group, dim: 1);
            var scores = q.matmul(k.transpose(2, 3)) / Math.Sqrt(s.HeadDim);
            scores = scores.masked_fill(mask, double.NegativeInfinity);
            var attention = nn.functional.softmax(scores, -1).matmul(v).transpose(1, 2).contiguous().view(batch, t, s.Hidden);
            x = x + attention.matmul(w[p + "self_attn.o_proj.weight"].t());
            var h2 = RmsNorm(x, w[p + "post_attention_layernorm.weight"], s.NormEps).view(batch * t, s.Hidden);
            var ffn = TorchFeedForward.Forward(h2, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"], s.TopK);
            x = x + ffn.view(batch, t, s.Hidden);
        }
        x = RmsNorm(x, w["model.norm.weight"], s.NormEps);
        var head = s.TieEmbeddings ? w["model.embed_tokens.weight"] : w["lm_head.weight"];
        return x.matmul(head.t());
    }

    /// <summary>Mean cross-entropy of the next-token targets [batch, T].</summary>
    public static Tensor Loss(IReadOnlyDictionary<string, Tensor> w, LlamaSizes s, Tensor tokens, Tensor targets)
    {
        var logits = Logits(w, s, tokens);
        return nn.functional.cross_entropy(logits.view(-1, s.Vocab), targets.flatten());
    }

    private static Tensor RmsNorm(Tensor x, Tensor weight, double eps) =>
        x * (x.pow(2).mean(new long[] { -1 }, keepdim: true) + eps).rsqrt() * weight;

    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        var first = x.narrow(-1, 0, half);
        var second = x.narrow(-1, half, half);
        return cat(new[] { -second, first }, -1);
    }

    /// <summary>cos and sin of position p times theta^(-2i/headDim), duplicated over both halves: [T, headDim].</summary>
    private static (Tensor Cos, Tensor Sin) RopeTables(LlamaSizes s, long t, ScalarType dtype)
    {
        var inverse = pow(s.RopeTheta, -arange(0, s.HeadDim, 2, dtype: ScalarType.Float64) / s.HeadDim);
        var angles = outer(arange(0, t, dtype: ScalarType.Float64), inverse);
        var both = cat(new[] { angles, angles }, -1);
        return (both.cos().to_type(dtype), both.sin().to_type(dtype));
    }
}

/// <summary>Token-by-token decoding of <see cref="TorchLlama"/> with a key/value cache (the peer of MoCGen's DecodeSession).</summary>
public sealed class TorchLlamaDecoder
{
    private readonly IReadOnlyDictionary<string, Tensor> _w;
    private readonly LlamaSizes _s;
    private readonly List<Tensor> _keys = new(), _values = new();
    private int _position;

    public TorchLlamaDecoder(IReadOnlyDictionary<string, Tensor> weights, LlamaSizes sizes)
    {
        _w = weights;
        _s = sizes;
        for (int l = 0; l < sizes.Layers; l++)
        {
            _keys.Add(empty(0));
            _values.Add(empty(0));
        }
    }

    /// <summary>Appends one token and returns the logits [vocab] for the next.</summary>
    public Tensor Append(long token)
    {
        var s = _s;
        var x = _w["model.embed_tokens.weight"][token].view(1, s.Hidden);
        var inverse = pow(s.RopeTheta, -arange(0, s.HeadDim, 2, dtype: ScalarType.Float64) / s.HeadDim) * _position;
        var angles = cat(new[] { inverse, inverse }, -1).to_type(x.dtype);
        var (cos, sin) = (angles.cos(), angles.sin());
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = RmsNorm(x, _w[p + "input_layernorm.weight"], s.NormEps);
            var q = h.matmul(_w[p + "self_attn.q_proj.weight"].t()).view(s.Heads, 1, s.HeadDim);
            var k = h.matmul(_w[p + "self_attn.k_proj.weight"].t()).view(s.KvHeads, 1, s.HeadDim);
            var v = h.matmul(_w[p + "self_attn.v_proj.weight"].t()).view(s.KvHeads, 1, s.HeadDim);
            q = q * cos + RotateHalf(q) * sin;
            k = k * cos + RotateHalf(k) * sin;
            var keys = _position == 0 ? k : cat(new[] { _keys[l], k }, 1);
            var values = _position == 0 ? v : cat(new[] { _values[l], v }, 1);
            _keys[l].Dispose();
            _values[l].Dispose();
            _keys[l] = keys.DetachFromDisposeScope();
            _values[l] = values.DetachFromDisposeScope();
            int group = s.Heads / s.KvHeads;
            var kk = group == 1 ? keys : keys.repeat_interleave(group, dim: 0);
            var vv = group == 1 ? values : values.repeat_interleave(group, dim: 0);
            var attention = nn.functional.softmax(q.matmul(kk.transpose(1, 2)) / Math.Sqrt(s.HeadDim), -1).matmul(vv).view(1, s.Hidden);
            x = x + attention.matmul(_w[p + "self_attn.o_proj.weight"].t());
            var h2 = RmsNorm(x, _w[p + "post_attention_layernorm.weight"], s.NormEps);
            x = x + TorchFeedForward.Forward(h2, _w[p + "mlp.gate_proj.weight"], _w[p + "mlp.up_proj.weight"], _w[p + "mlp.down_proj.weight"], s.TopK);
        }
        _position++;
        x = RmsNorm(x, _w["model.norm.weight"], s.NormEps);
        return x.matmul((s.TieEmbeddings ? _w["model.embed_tokens.weight"] : _w["lm_head.weight"]).t()).view(s.Vocab);
    }

    private static Tensor RmsNorm(Tensor x, Tensor weight, double eps) =>
        x * (x.pow(2).mean(new long[] { -1 }, keepdim: true) + eps).rsqrt() * weight;

    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat(new[] { -x.narrow(-1, half, half), x.narrow(-1, 0, half) }, -1);
    }
}
