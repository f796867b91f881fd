using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>Warm-up then cosine decay: values at the key steps (exact formulas, compared to 1e-15 relative).</summary>
public sealed class LearningRateScheduleTests
{
    [Fact]
    public void KeySteps()
    {
        var s = new LearningRateSchedule(10, 110, 1e-3, 1e-4);
        Near(1e-4, s.At(0));          // 1e-3 * 1 / 10: the first step already trains
        Near(5e-4, s.At(4));
        Near(1e-3, s.At(9));          // end of warm-up reaches Max
        Near(1e-3, s.At(10));         // cosine starts at Max
        Near(1e-4 + 0.9e-3 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.At(35));
        Near(5.5e-4, s.At(60));       // half way: (Max + Min) / 2
        Near(1e-4 + 0.9e-3 * 0.5 * (1 + Math.Cos(Math.PI * 0.99)), s.At(109));
        Near(1e-4, s.At(110));        // Total: Min
        Near(1e-4, s.At(1_000_000));  // past Total: Min

        // Rising during warm-up, never rising after it.
        var values = Enumerable.Range(0, 130).Select(i => s.At(i)).ToArray();
        for (int i = 1; i < 10; i++) Assert.True(values[i] > values[i - 1]);
        for (int i = 11; i < 130; i++) Assert.True(values[i] <= values[i - 1]);
    }

    [Fact]
    public void EdgeCases()
    {
        var noWarmup = new LearningRateSchedule(0, 100, 2e-3, 0);
        Near(2e-3, noWarmup.At(0));
        Near(1e-3, noWarmup.At(50));
        Assert.Equal(0, noWarmup.At(100));

        var noDecay = new LearningRateSchedule(5, 5, 1e-3, 1e-5);
        Near(1e-3, noDecay.At(4));
        Near(1e-5, noDecay.At(5));

        var constant = new LearningRateSchedule(0, 10, 3e-4, 3e-4);
        Assert.All(Enumerable.Range(0, 20), i => Near(3e-4, constant.At(i)));

        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(-1, 10, 1e-3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(10, 9, 1e-3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0, 10, 1e-3, 2e-3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0, 10, double.NaN, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => noWarmup.At(-1));
    }

    private static void Near(double want, double got) => Assert.True(Math.Abs(got - want) <= 1e-15 * Math.Abs(want) + 1e-300, $"{got} vs {want}");
}
