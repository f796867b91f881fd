using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Model.Tests;

/// <summary>
/// The whole decoder's backward against central finite differences of its own forward (mean cross-entropy), on
/// tiny models. Step h = 2e-3 (small, so that few perturbations move a token's Top-K set); the loss is about 2.4,
/// so fp32 rounding noise in the difference is about u |L| / h ~ 1e-4 and truncation O(h^2 |L'''|) ~ 1e-5; we
/// allow 3e-3 + 3e-2 |g|, while a wrong term is off by about the size of the gradient itself. Coordinates whose perturbation
/// changes any token's Top-K selection are skipped (Top-K is a fixed mask in backward).
/// </summary>
public sealed class DecoderGradientTests
{
    [Fact]
    public void MoCGradientsMatchFiniteDifferences()
    {
        using var model = TinyDecoderModel.CreateDecoder();
        Check(model.Plan, model.Parameters, model.Gradients, model.Forward, model.Backward, () => SelectionOf(model.Arena, model.Plan), 1);
    }

    [Fact]
    public void DenseGradientsMatchFiniteDifferences()
    {
        using var model = TinyDenseModel.CreateDecoder();
        Check(model.Plan, model.Parameters, model.Gradients, model.Forward, model.Backward, () => "", 2);
    }

    internal delegate double ForwardPass(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets);

    private static void Check(CompiledPlan plan, float[] parameters, float[] gradients, ForwardPass forward, Action backward, Func<string> selection, int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.5);
        foreach (var p in plan.Parameters.Where(p => p.Columns == 0))
            for (long i = 0; i < p.Elements; i++) parameters[p.Offset + i] = 1f + (float)((random.NextDouble() - 0.5) * 0.2);
        int n = plan.Shape.TokensPerStep;
        var tokens = Enumerable.Range(0, n).Select(_ => random.Next(plan.Shape.Vocab)).ToArray();
        var targets = Enumerable.Range(0, n).Select(_ => random.Next(plan.Shape.Vocab)).ToArray();

        double loss = forward(tokens, targets);
        Assert.True(double.IsFinite(loss));
        var baseline = selection();
        backward();
        var analytic = (float[])gradients.Clone();

        int checkedCount = 0;
        var failures = new System.Collections.Generic.List<string>();
        foreach (var tensor in plan.Parameters)
        {
            // A few coordinates of every tensor.
            for (int sample = 0; sample < 6; sample++)
            {
                long i = tensor.Offset + random.NextInt64(tensor.Elements);
                float saved = parameters[i];
                const float h = 2e-3f;
                parameters[i] = saved + h;
                double plus = forward(tokens, targets);
                bool same = selection() == baseline;
                parameters[i] = saved - h;
                double minus = forward(tokens, targets);
                same &= selection() == baseline;
                parameters[i] = saved;
                if (!same) continue;
                double fd = (plus - minus) / (2 * h);
                if (!(Math.Abs(fd - analytic[i]) <= 3e-3 + 3e-2 * Math.Abs(analytic[i])))
                    failures.Add($"{tensor.Name}[{i - tensor.Offset}]: finite difference {fd:G6}, backward {analytic[i]:G6}");
                checkedCount++;
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(checkedCount >= plan.Parameters.Count * 4, $"only {checkedCount} coordinates checked");
    }

    private static string SelectionOf(MoCGen.Model.TrainingArena arena, CompiledPlan plan) =>
        string.Join(";", Enumerable.Range(0, plan.Shape.Layers).Select(l => string.Join(",", arena.Span<ushort>(arena.Find("ffn_index", l)).ToArray())));
}
