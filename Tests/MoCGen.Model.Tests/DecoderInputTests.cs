using System;
using System.Linq;
using Xunit;

namespace MoCGen.Model.Tests;

/// <summary>Bad input to a step is refused with what and where, before anything is computed.</summary>
public sealed class DecoderInputTests
{
    [Fact]
    public void TokenOutsideTheVocabularyNamesItsPosition()
    {
        using var model = TinyDecoderModel.CreateDecoder();
        var tokens = new int[TinyDecoderModel.TokensPerStep];
        var targets = new int[TinyDecoderModel.TokensPerStep];
        tokens[7] = 11;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(tokens, targets));
        Assert.Contains("Token 11 at position 7 is outside the vocabulary 0..10", error.Message);
        tokens[7] = 0;
        targets[3] = -1;
        error = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(tokens, targets));
        Assert.Contains("Target -1 at position 3", error.Message);
    }

    [Fact]
    public void WrongBatchShapeIsRefused()
    {
        using var model = TinyDecoderModel.CreateDecoder();
        var error = Assert.Throws<ArgumentException>(() => model.Forward(new int[3], new int[3]));
        Assert.Contains("A step takes 2 x 5 = 10 tokens", error.Message);
    }

    [Fact]
    public void BackwardWithoutForwardIsRefused()
    {
        using var model = TinyDecoderModel.CreateDecoder();
        Assert.Throws<InvalidOperationException>(model.Backward);
    }

    [Fact]
    public void APlanOfOtherSizesIsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => new MoCDecoder<TinyDecoderModel.DecoderShape, ushort>(TrainableModel.Plan));
        Assert.Contains("does not describe the sizes", error.Message);
    }
}
