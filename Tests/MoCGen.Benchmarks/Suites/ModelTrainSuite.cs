using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoCGen.Model;
using MoCGen.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace MoCGen.Benchmarks.Suites;

/// <summary>The example model's shape (TinyMoC), MoC and dense twin.</summary>
[MoCModel(Vocab = 256, Hidden = 256, Intermediate = 704, TopK = 88, Layers = 4, Heads = 4, KvHeads = 4, Context = 256, Batch = 8)]
public partial class BenchMoC;

/// <summary>The dense twin.</summary>
[MoCModel(Vocab = 256, Hidden = 256, Intermediate = 704, TopK = 704, Layers = 4, Heads = 4, KvHeads = 4, Context = 256, Batch = 8)]
public partial class BenchDense;

/// <summary>
/// A whole training step (forward and backward, 8 x 256 tokens) of the example model: ours MoC, ours dense, and the
/// same architecture in TorchSharp (dense SwiGLU, autograd). Tokens per second, and memory: our plan's arena (what a
/// step's activations take) and, for every implementation, how far its model and first step raise the process's peak
/// resident set above the high-water mark left by the rows before it (rough: it includes allocator caching, and a
/// later row only shows what exceeds the earlier peaks).
/// </summary>
public static class ModelTrainSuite
{
    public static List<Result> Run(int repeats)
    {
        const string suite = "model-train";
        const string name = "TinyMoC shape, 8 x 256 tokens, fwd+bwd";
        var rows = new List<Result>();
        int n = BenchMoC.TokensPerStep;
        var random = new Random(1);
        var tokens = Enumerable.Range(0, n).Select(_ => random.Next(256)).ToArray();
        var targets = Enumerable.Range(0, n).Select(_ => random.Next(256)).ToArray();

        rows.Add(Ours(suite, name, FeedForwardSuites.OursMoc, BenchMoC.CreateDecoder, tokens, targets, repeats));
        rows.Add(Ours(suite, name, FeedForwardSuites.OursDense, BenchDense.CreateDecoder, tokens, targets, repeats));

        var plan = BenchMoC.Plan;
        var s = plan.Shape;
        var sizes = new LlamaSizes(s.Vocab, s.Hidden, s.Intermediate, s.Intermediate, s.Layers, s.Heads, s.KvHeads, s.RopeTheta, s.NormEps, s.TieEmbeddings);
        long before = PeakResidentBytes();
        var weights = new Dictionary<string, Tensor>();
        foreach (var p in plan.Parameters)
            weights[p.Name] = (p.Columns == 0 ? ones(p.Rows) : randn(p.Rows, p.Columns) * 0.02f).requires_grad_(true);
        var tTokens = tensor(tokens.Select(t => (long)t).ToArray(), new long[] { s.Batch, s.Context });
        var tTargets = tensor(targets.Select(t => (long)t).ToArray(), new long[] { s.Batch, s.Context });
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            foreach (var w in weights.Values) w.grad?.zero_();
            TorchLlama.Loss(weights, sizes, tTokens, tTargets).backward();
        }
        Step();
        long growth = PeakResidentBytes() - before;
        var row = Measure.Row(suite, name, FeedForwardSuites.TorchDense, Step, 1, repeats);
        row.Figures["tokens/s"] = n / (row.MedianMs / 1e3);
        row.Figures["peak RSS growth MiB"] = growth / 1048576.0;
        rows.Add(row);
        Measure.Relate(rows, FeedForwardSuites.TorchDense);
        return rows;
    }

    private static Result Ours<TShape>(string suite, string name, string implementation, Func<MoCDecoder<TShape, ushort>> create, int[] tokens, int[] targets, int repeats)
        where TShape : struct, IDecoderShape
    {
        // Measured from before the model exists: its weights, gradients and arena all count.
        long before = PeakResidentBytes();
        using var model = create();
        var random = new Random(2);
        foreach (var p in model.Plan.Parameters)
            for (long i = 0; i < p.Elements; i++)
                model.Parameters[p.Offset + i] = p.Columns == 0 ? 1f : (float)((random.NextDouble() * 2 - 1) * 0.035);
        model.Forward(tokens, targets);
        model.Backward();
        long growth = PeakResidentBytes() - before;
        var row = Measure.Row(suite, name, implementation, () => { model.Forward(tokens, targets); model.Backward(); }, 1, repeats);
        row.Figures["tokens/s"] = tokens.Length / (row.MedianMs / 1e3);
        row.Figures["arena MiB (plan)"] = model.Plan.Memory.ArenaBytes / 1048576.0;
        row.Figures["kept bytes/token/layer"] = model.Plan.Memory.PerLayer.Total;
        row.Figures["peak RSS growth MiB"] = growth / 1048576.0;
        return row;
    }

    /// <summary>VmHWM of this process (Linux), in bytes; 0 elsewhere.</summary>
    private static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
