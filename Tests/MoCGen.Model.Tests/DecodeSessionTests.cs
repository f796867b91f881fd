using System;
using System.Linq;
using MoCGen.Inference;
using Xunit;

namespace MoCGen.Model.Tests;

/// <summary>
/// Decoding token by token with the key/value cache gives the logits the training-shaped forward gives for the same
/// prefix. Tolerance 1e-4 of the largest |logit|: both are fp32 with different summation orders (blocked vs single-row
/// products, flash vs plain softmax), about 1e-6 relative; a wrong position, cache slot or selection is off by O(1).
/// </summary>
public sealed class DecodeSessionTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CachedDecodingMatchesTheFullForward(bool dense)
    {
        if (dense) Check<TinyDenseModel.DecoderShape>(TinyDenseModel.CreateDecoder(), 3);
        else Check<TinyDecoderModel.DecoderShape>(TinyDecoderModel.CreateDecoder(), 5);
    }

    private static void Check<TShape>(MoCDecoder<TShape, ushort> model, int seed) where TShape : struct, IDecoderShape
    {
        using var _ = model;
        var random = new Random(seed);
        for (int i = 0; i < model.Parameters.Length; i++) model.Parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.5);
        int n = model.Plan.Shape.TokensPerStep, t = model.Plan.Shape.Context, vocab = model.Plan.Shape.Vocab;
        var tokens = Enumerable.Range(0, n).Select(_ => random.Next(vocab)).ToArray();
        model.Forward(tokens, new int[n]);
        var session = new DecodeSession<TShape, ushort>(model.Plan, model.Parameters);
        for (int position = 0; position < t; position++)
        {
            var cached = session.Append(tokens[position]).ToArray();
            var full = model.LogitsAt(position).ToArray();
            double scale = full.Max(Math.Abs), worst = full.Zip(cached, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1e-4 * scale, $"position {position}: max difference {worst:E3}, scale {scale:E3}");
        }
        Assert.Equal(t, session.Length);
        var error = Assert.Throws<InvalidOperationException>(() => session.Append(0));
        Assert.Contains("context of 5 tokens is full", error.Message);
    }

    [Fact]
    public void SamplerIsGreedyAtZeroTemperatureAndReproducibleOtherwise()
    {
        var logits = new float[] { 0.1f, 2.5f, 2.4f, -1f };
        Assert.Equal(1, new TokenSampler().Next(logits));
        var first = new TokenSampler(1.0, 0.9, 42);
        var second = new TokenSampler(1.0, 0.9, 42);
        var drawsA = Enumerable.Range(0, 200).Select(_ => first.Next(logits)).ToArray();
        var drawsB = Enumerable.Range(0, 200).Select(_ => second.Next(logits)).ToArray();
        Assert.Equal(drawsA, drawsB);
        Assert.DoesNotContain(3, drawsA); // top-p 0.9 excludes the least likely token (p ~ 0.013)
        Assert.Contains(2, drawsA);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(1, 0));
    }
}
