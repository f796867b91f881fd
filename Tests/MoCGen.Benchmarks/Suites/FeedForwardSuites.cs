using System;
using System.Collections.Generic;
using System.Linq;
using MoCGen.Cpu;
using MoCGen.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace MoCGen.Benchmarks.Suites;

public struct Decode2048Moc : IFeedForwardShape { public static int Hidden => 2048; public static int Intermediate => 5504; public static int TopK => 688; }
public struct Decode2048Dense : IFeedForwardShape { public static int Hidden => 2048; public static int Intermediate => 5504; public static int TopK => 5504; }
public struct Train768K256 : IFeedForwardShape { public static int Hidden => 768; public static int Intermediate => 2048; public static int TopK => 256; }
public struct Train768K384 : IFeedForwardShape { public static int Hidden => 768; public static int Intermediate => 2048; public static int TopK => 384; }
public struct Train768Dense : IFeedForwardShape { public static int Hidden => 768; public static int Intermediate => 2048; public static int TopK => 2048; }

/// <summary>The feed-forward block: ours (MoC and dense twin) against TorchSharp (dense SwiGLU and MoC via topk/gather/scatter).</summary>
public static class FeedForwardSuites
{
    public const string OursMoc = "ours MoC";
    public const string OursDense = "ours dense";
    public const string TorchDense = "TorchSharp dense";
    public const string TorchMoc = "TorchSharp MoC";

    private sealed class Weights
    {
        public required int D, F;
        public required float[] Gate, Up, DownT;

        public static Weights Make(int d, int f) => new()
        {
            D = d, F = f,
            Gate = Measure.Random(f * d, 1 / Math.Sqrt(d), 1),
            Up = Measure.Random(f * d, 1 / Math.Sqrt(d), 2),
            DownT = Measure.Random(f * d, 1 / Math.Sqrt(f), 3),
        };

        public (Tensor Gate, Tensor Up, Tensor Down) ToTorch(bool grad)
        {
            var g = torch.tensor(Gate, new long[] { F, D }).requires_grad_(grad);
            var u = torch.tensor(Up, new long[] { F, D }).requires_grad_(grad);
            var down = torch.tensor(DownT, new long[] { F, D }).t().contiguous().requires_grad_(grad);
            return (g, u, down);
        }
    }

    /// <summary>One token through the block, caches flushed before each run: the batch-1 decoding case.</summary>
    public static List<Result> Decode(int repeats, double bandwidthGBs)
    {
        const string suite = "ffn-decode";
        int d = Decode2048Moc.Hidden, f = Decode2048Moc.Intermediate, k = Decode2048Moc.TopK;
        string name = $"1 token, d={d} f={f} K={k}";
        var w = Weights.Make(d, f);
        var tokens = Enumerable.Range(0, 16).Select(i => Measure.Random(d, 1, 100 + i)).ToArray();
        int next = 0;
        float[] NextToken() => tokens[next++ % tokens.Length];
        var rows = new List<Result>();
        var y = new float[d];
        var weights = () => new FeedForwardWeights(w.Gate, w.Up, w.DownT);

        var moc = new FeedForwardActivations<Decode2048Moc, ushort>(1);
        var mocScratch = new float[MoCFeedForward<Decode2048Moc, ushort>.GateScratchLength(1)];
        var row = Measure.Row(suite, name, OursMoc,
            () => MoCFeedForward<Decode2048Moc, ushort>.Forward(1, NextToken(), weights(), y, moc.Saved, mocScratch), 3, repeats, Bandwidth.FlushCaches);
        // What MoC decode must read: all of W_g, K rows of W_u and K rows of W_d.
        double bytes = 4.0 * ((double)f * d + 2.0 * k * d);
        row.Figures["GB/s"] = bytes / (row.MedianMs / 1e3) / 1e9;
        row.Figures["of bandwidth"] = row.Figures["GB/s"] / bandwidthGBs;
        rows.Add(row);

        var dense = new FeedForwardActivations<Decode2048Dense, ushort>(1);
        var denseScratch = new float[MoCFeedForward<Decode2048Dense, ushort>.GateScratchLength(1)];
        row = Measure.Row(suite, name, OursDense,
            () => MoCFeedForward<Decode2048Dense, ushort>.Forward(1, NextToken(), weights(), y, dense.Saved, denseScratch), 3, repeats, Bandwidth.FlushCaches);
        row.Figures["GB/s"] = 4.0 * 3 * f * d / (row.MedianMs / 1e3) / 1e9;
        rows.Add(row);

        using (torch.no_grad())
        {
            var (tg, tu, td) = w.ToTorch(grad: false);
            var torchTokens = tokens.Select(t => torch.tensor(t, new long[] { 1, d })).ToArray();
            foreach (var (implementation, topK) in new[] { (TorchDense, f), (TorchMoc, k) })
            {
                row = Measure.Row(suite, name, implementation, () =>
                {
                    using var scope = torch.NewDisposeScope();
                    TorchFeedForward.Forward(torchTokens[next++ % torchTokens.Length], tg, tu, td, topK);
                }, 3, repeats, Bandwidth.FlushCaches);
                rows.Add(row);
            }
        }
        Measure.Relate(rows, TorchDense);
        return rows;
    }

    /// <summary>Forward and backward over a training batch of tokens.</summary>
    public static List<Result> Train(int repeats)
    {
        var rows = new List<Result>();
        rows.AddRange(TrainCase<Train768K256>(repeats));
        rows.AddRange(TrainCase<Train768K384>(repeats));
        Measure.Relate(rows, TorchDense);
        return rows;
    }

    private static List<Result> TrainCase<TShape>(int repeats) where TShape : struct, IFeedForwardShape
    {
        const string suite = "ffn-train";
        const int tokens = 1024;
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK;
        string name = $"{tokens} tokens, d={d} f={f} K={k}";
        var w = Weights.Make(d, f);
        var x = Measure.Random(tokens * d, 1, 7);
        var gy = Measure.Random(tokens * d, 1, 8);
        var rows = new List<Result>
        {
            OursTrain<TShape>(suite, name, OursMoc, w, x, gy, tokens, repeats),
            OursTrain<Train768Dense>(suite, name, OursDense, w, x, gy, tokens, repeats),
        };

        var (tg, tu, td) = w.ToTorch(grad: true);
        var tx = torch.tensor(x, new long[] { tokens, d }).requires_grad_(true);
        var tgy = torch.tensor(gy, new long[] { tokens, d });
        foreach (var (implementation, topK) in new[] { (TorchDense, f), (TorchMoc, k) })
        {
            rows.Add(Measure.Row(suite, name, implementation, () =>
            {
                using var scope = torch.NewDisposeScope();
                var y = TorchFeedForward.Forward(tx, tg, tu, td, topK);
                y.backward(new[] { tgy });
            }, 2, repeats));
        }
        return rows;
    }

    private static Result OursTrain<TShape>(string suite, string name, string implementation, Weights w, float[] x, float[] gy, int tokens, int repeats)
        where TShape : struct, IFeedForwardShape
    {
        int d = w.D, f = w.F;
        var saved = new FeedForwardActivations<TShape, ushort>(tokens);
        var y = new float[tokens * d];
        var gx = new float[tokens * d];
        var dg = new float[f * d];
        var du = new float[f * d];
        var dd = new float[f * d];
        var forwardScratch = new float[MoCFeedForward<TShape, ushort>.GateScratchLength(tokens)];
        var backwardScratch = new float[MoCFeedForward<TShape, ushort>.BackwardScratchLength(tokens)];
        return Measure.Row(suite, name, implementation, () =>
        {
            var weights = new FeedForwardWeights(w.Gate, w.Up, w.DownT);
            MoCFeedForward<TShape, ushort>.Forward(tokens, x, weights, y, saved.Saved, forwardScratch);
            MoCFeedForward<TShape, ushort>.Backward(tokens, x, weights, saved.Saved, gy, gx, new FeedForwardGradients(dg, du, dd), backwardScratch);
        }, 2, repeats);
    }
}
