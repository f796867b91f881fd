using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;

namespace MoCGen.Benchmarks;

/// <summary>One measured row: what, whose, how fast, and the ratio to the TorchSharp dense baseline of its case.</summary>
public sealed record Result(string Suite, string Case, string Implementation, double MedianMs, double MinMs, int Runs)
{
    /// <summary>Baseline time / this time: above 1 means faster than the TorchSharp dense baseline.</summary>
    public double? SpeedupVsBaseline { get; set; }

    /// <summary>Extra figures (GB/s, GFLOP/s, fraction of bandwidth), keyed by name.</summary>
    public Dictionary<string, double> Figures { get; } = new();
}

/// <summary>Median-of-runs timing. The machines are noisy: medians, never means; warm-up runs are discarded.</summary>
public static class Measure
{
    public static (double MedianMs, double MinMs, int Runs) Time(Action run, int warmup, int repeats, Action? beforeEach = null)
    {
        for (int i = 0; i < warmup; i++)
        {
            beforeEach?.Invoke();
            run();
        }
        var samples = new List<double>(repeats);
        for (int i = 0; i < repeats; i++)
        {
            beforeEach?.Invoke();
            long start = Stopwatch.GetTimestamp();
            run();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        samples.Sort();
        return (samples[samples.Count / 2], samples[0], samples.Count);
    }

    public static Result Row(string suite, string @case, string implementation, Action run, int warmup, int repeats, Action? beforeEach = null)
    {
        var (median, min, runs) = Time(run, warmup, repeats, beforeEach);
        return new Result(suite, @case, implementation, median, min, runs);
    }

    /// <summary>Fills SpeedupVsBaseline of every row of a case from its baseline row.</summary>
    public static void Relate(IEnumerable<Result> rows, string baseline)
    {
        foreach (var group in rows.GroupBy(r => (r.Suite, r.Case)))
        {
            var reference = group.FirstOrDefault(r => r.Implementation == baseline);
            if (reference is null) continue;
            foreach (var row in group) row.SpeedupVsBaseline = reference.MedianMs / row.MedianMs;
        }
    }

    public static float[] Random(int n, double scale, int seed)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }
}
