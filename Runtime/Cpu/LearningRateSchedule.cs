using System;

namespace MoCGen.Cpu;

/// <summary>
/// Linear warm-up, then cosine decay to a floor (the llm.c / nanoGPT schedule). Steps count from 0:
/// <list type="bullet">
/// <item>step &lt; Warmup: Max * (step + 1) / Warmup (so step 0 already trains, and step Warmup - 1 reaches Max);</item>
/// <item>Warmup &lt;= step &lt;= Total: Min + (Max - Min) * (1 + cos(pi * (step - Warmup) / (Total - Warmup))) / 2, from Max at
/// step Warmup down to Min at step Total (a run of Total steps, 0 .. Total - 1, ends just above Min);</item>
/// <item>step &gt; Total: Min.</item>
/// </list>
/// With Total == Warmup there is no decay phase: Min from step Warmup on.
/// </summary>
public sealed record LearningRateSchedule
{
    /// <summary>Validates and stores the schedule.</summary>
    /// <param name="warmup">Warm-up steps, &gt;= 0.</param>
    /// <param name="total">Step at which the decay reaches <paramref name="min"/>, &gt;= <paramref name="warmup"/>.</param>
    /// <param name="max">Peak learning rate.</param>
    /// <param name="min">Floor, in [0, max].</param>
    public LearningRateSchedule(int warmup, int total, double max, double min)
    {
        if (warmup < 0)
            throw new ArgumentOutOfRangeException(nameof(warmup), warmup, $"warmup must be >= 0 (got {warmup}).");
        if (total < warmup)
            throw new ArgumentOutOfRangeException(nameof(total), total, $"total ({total}) must be >= warmup ({warmup}).");
        if (!(max >= 0) || double.IsInfinity(max))
            throw new ArgumentOutOfRangeException(nameof(max), max, $"max must be finite and >= 0 (got {max}).");
        if (!(min >= 0 && min <= max))
            throw new ArgumentOutOfRangeException(nameof(min), min, $"min must be in [0, max = {max}] (got {min}).");
        Warmup = warmup;
        Total = total;
        Max = max;
        Min = min;
    }

    /// <summary>Warm-up steps.</summary>
    public int Warmup { get; }

    /// <summary>Step at which the cosine reaches <see cref="Min"/>.</summary>
    public int Total { get; }

    /// <summary>Peak learning rate.</summary>
    public double Max { get; }

    /// <summary>Floor learning rate.</summary>
    public double Min { get; }

    /// <summary>The learning rate at <paramref name="step"/> (from 0).</summary>
    /// <param name="step">Step index, &gt;= 0.</param>
    /// <returns>The learning rate.</returns>
    public double At(long step)
    {
        if (step < 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"step must be >= 0 (got {step}).");
        if (step < Warmup)
            return Max * (step + 1) / Warmup;
        if (step >= Total)
            return Min;
        double ratio = (double)(step - Warmup) / (Total - Warmup);
        return Min + (Max - Min) * 0.5 * (1 + Math.Cos(Math.PI * ratio));
    }
}
