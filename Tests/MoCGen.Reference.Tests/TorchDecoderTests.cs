using System;
using System.Collections.Generic;
using System.Linq;
using MoCGen.Reference;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MoCGen.Reference.Tests;

/// <summary>The benchmarks' TorchSharp KV-cache decoder gives the full forward's logits at every position (fp64, 1e-9).</summary>
public sealed class TorchDecoderTests
{
    [Theory]
    [InlineData(96, 12, 2)]
    [InlineData(96, 96, 4)]
    public void CachedDecodingMatchesTheFullForward(int intermediate, int topK, int kvHeads)
    {
        torch.set_num_threads(1);
        using var scope = torch.NewDisposeScope();
        var sizes = new LlamaSizes(64, 32, intermediate, topK, 2, 4, kvHeads, 10000, 1e-5, false);
        torch.manual_seed(3);
        var w = new Dictionary<string, Tensor>
        {
            ["model.embed_tokens.weight"] = randn(64, 32, dtype: ScalarType.Float64) * 0.3,
            ["model.norm.weight"] = ones(32, dtype: ScalarType.Float64),
            ["lm_head.weight"] = randn(64, 32, dtype: ScalarType.Float64) * 0.3,
        };
        for (int l = 0; l < 2; l++)
        {
            string p = $"model.layers.{l}.";
            w[p + "input_layernorm.weight"] = ones(32, dtype: ScalarType.Float64);
            w[p + "post_attention_layernorm.weight"] = ones(32, dtype: ScalarType.Float64);
            w[p + "self_attn.q_proj.weight"] = randn(32, 32, dtype: ScalarType.Float64) * 0.3;
            w[p + "self_attn.k_proj.weight"] = randn(8 * kvHeads, 32, dtype: ScalarType.Float64) * 0.3;
            w[p + "self_attn.v_proj.weight"] = randn(8 * kvHeads, 32, dtype: ScalarType.Float64) * 0.3;
            w[p + "self_attn.o_proj.weight"] = randn(32, 32, dtype: ScalarType.Float64) * 0.3;
            w[p + "mlp.gate_proj.weight"] = randn(intermediate, 32, dtype: ScalarType.Float64) * 0.3;
            w[p + "mlp.up_proj.weight"] = randn(intermediate, 32, dtype: ScalarType.Float64) * 0.3;
            w[p + "mlp.down_proj.weight"] = randn(32, intermediate, dtype: ScalarType.Float64) * 0.3;
        }
        var ids = new long[] { 5, 17, 3, 60, 22, 9, 41 };
        var full = TorchLlama.Logits(w, sizes, tensor(ids, new long[] { 1, ids.Length }));
        var decoder = new TorchLlamaDecoder(w, sizes);
        for (int position = 0; position < ids.Length; position++)
        {
            var cached = decoder.Append(ids[position]);
            var difference = (cached - full[0, position]).abs().max().item<double>();
            Assert.True(difference < 1e-9, $"position {position}: {difference}");
        }
    }
}
