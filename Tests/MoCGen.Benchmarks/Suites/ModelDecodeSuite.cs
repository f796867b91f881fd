using System;
using System.Collections.Generic;
using System.Linq;
using MoCGen.Inference;
using MoCGen.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace MoCGen.Benchmarks.Suites;

/// <summary>A model whose weights (about 400 MB fp32) are far larger than the CPU caches.</summary>
[MoCModel(Vocab = 256, Hidden = 1024, Intermediate = 2816, TopK = 352, Layers = 8, Heads = 8, Context = 512, Batch = 1)]
public partial class DecodeMoC;

/// <summary>Its dense twin.</summary>
[MoCModel(Vocab = 256, Hidden = 1024, Intermediate = 2816, TopK = 2816, Layers = 8, Heads = 8, Context = 512, Batch = 1)]
public partial class DecodeDense;

/// <summary>
/// Batch-1 decoding with a key/value cache, in process: ours MoC and ours dense (the same weights: the layouts are
/// identical) against the same architecture in TorchSharp (dense SwiGLU, KV cache). Tokens per second over 64 tokens,
/// median of the runs; the published binary's size and first-token time are measured by running it (see README).
/// </summary>
public static class ModelDecodeSuite
{
    public static List<Result> Run(int repeats)
    {
        const string suite = "model-decode";
        const int tokens = 64;
        var plan = DecodeMoC.Plan;
        var s = plan.Shape;
        string name = $"d={s.Hidden} d_ff={s.Intermediate} K={s.TopK} {s.Layers} layers, {tokens} tokens at batch 1";
        var random = new Random(1);
        var parameters = new float[plan.ParameterCount];
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.03);
        foreach (var p in plan.Parameters.Where(p => p.Columns == 0)) Array.Fill(parameters, 1f, (int)p.Offset, (int)p.Elements);
        var ids = Enumerable.Range(0, tokens).Select(_ => random.Next(s.Vocab)).ToArray();
        var rows = new List<Result>();
        int runs = Math.Max(3, repeats / 3);

        rows.Add(Tokens(Measure.Row(suite, name, FeedForwardSuites.OursMoc, () =>
        {
            var session = new DecodeSession<DecodeMoC.DecoderShape, ushort>(plan, parameters);
            foreach (var id in ids) session.Append(id);
        }, 1, runs), tokens));
        rows.Add(Tokens(Measure.Row(suite, name, FeedForwardSuites.OursDense, () =>
        {
            var session = new DecodeSession<DecodeDense.DecoderShape, ushort>(DecodeDense.Plan, parameters);
            foreach (var id in ids) session.Append(id);
        }, 1, runs), tokens));

        var sizes = new LlamaSizes(s.Vocab, s.Hidden, s.Intermediate, s.Intermediate, s.Layers, s.Heads, s.KvHeads, s.RopeTheta, s.NormEps, s.TieEmbeddings);
        var weights = new Dictionary<string, Tensor>();
        foreach (var p in plan.Parameters)
        {
            var values = parameters.AsSpan((int)p.Offset, (int)p.Elements).ToArray();
            weights[p.Name] = p.Name.EndsWith(".mlp.down_proj.weight", StringComparison.Ordinal)
                ? tensor(values, new long[] { p.Columns, p.Rows }).t().contiguous()
                : tensor(values, p.Shape.Select(d => (long)d).ToArray());
        }
        using (torch.no_grad())
        {
            rows.Add(Tokens(Measure.Row(suite, name, FeedForwardSuites.TorchDense, () =>
            {
                using var scope = torch.NewDisposeScope();
                var decoder = new TorchLlamaDecoder(weights, sizes);
                foreach (var id in ids) decoder.Append(id);
            }, 1, runs), tokens));
        }
        Measure.Relate(rows, FeedForwardSuites.TorchDense);
        return rows;
    }

    private static Result Tokens(Result row, int tokens)
    {
        row.Figures["tokens/s"] = tokens / (row.MedianMs / 1e3);
        return row;
    }
}
