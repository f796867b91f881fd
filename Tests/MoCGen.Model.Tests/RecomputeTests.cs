using System;
using System.Linq;
using Xunit;

namespace MoCGen.Model.Tests;

/// <summary>Recomputing each layer in backward gives exactly the same loss and gradients, in a smaller arena.</summary>
public sealed class RecomputeTests
{
    [Fact]
    public void RecomputationChangesMemoryNotResults()
    {
        using var kept = TinyDecoderModel.CreateDecoder();
        using var recomputed = TinyRecomputeModel.CreateDecoder();
        var random = new Random(4);
        for (int i = 0; i < kept.Parameters.Length; i++) kept.Parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.5);
        kept.Parameters.CopyTo(recomputed.Parameters, 0);
        var tokens = Enumerable.Range(0, TinyDecoderModel.TokensPerStep).Select(_ => random.Next(11)).ToArray();
        var targets = Enumerable.Range(0, TinyDecoderModel.TokensPerStep).Select(_ => random.Next(11)).ToArray();

        Assert.Equal(kept.Forward(tokens, targets), recomputed.Forward(tokens, targets));
        kept.Backward();
        recomputed.Backward();
        Assert.Equal(kept.Gradients, recomputed.Gradients);

        var withRecompute = TinyRecomputeModel.Plan.Memory;
        var without = TinyDecoderModel.Plan.Memory;
        Assert.True(withRecompute.Recompute);
        Assert.False(without.Recompute);
        Assert.True(withRecompute.ArenaBytes < without.ArenaBytes);
        Assert.Equal(withRecompute.ArenaBytes, without.ArenaBytesWithRecompute);
        Assert.Equal(without.ArenaBytes, withRecompute.ArenaBytesWithoutRecompute);
        // Per layer only the input x stays: [tokens, d] floats.
        Assert.Equal(new[] { "x" }, withRecompute.Buffers.Where(b => b.Layer == 1).Select(b => b.Name));
        long inputBytes = 4L * TinyDecoderModel.TokensPerStep * TinyDecoderModel.Hidden;
        Assert.Equal((inputBytes + 63) / 64 * 64, withRecompute.LayerStride);
    }
}
