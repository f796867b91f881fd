using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Embedding lookup and its scatter-add. Forward is a copy (bit-exact). Backward is specified as fp32 additions in
/// token order per row, so it is compared bit for bit with a scalar loop doing exactly that, and also against the
/// double sum with the usual bound (n_row + 1) u sum|terms| (n_row = tokens with that id).
/// </summary>
public sealed class EmbeddingTests
{
    [Theory]
    [InlineData(37, 257, 10)]
    [InlineData(1, 1, 1)]
    [InlineData(300, 50, 257)]   // past the parallel threshold: column ranges per thread; many repeats of each id
    [InlineData(64, 1000, 128)]
    public void MatchesScalarLoopBitForBit(int tokens, int vocab, int width)
    {
        var table = ModelReference.Random(vocab * width, 1);
        var random = new Random(tokens + width);
        var ids = Enumerable.Range(0, tokens).Select(_ => random.Next(vocab)).ToArray();
        ids[0] = vocab - 1;

        var output = Enumerable.Repeat(float.NaN, tokens * width).ToArray();
        Embedding.Forward(tokens, vocab, width, ids, table, output);
        for (int t = 0; t < tokens; t++)
            Assert.Equal(table.AsSpan(ids[t] * width, width).ToArray(), output.AsSpan(t * width, width).ToArray());

        var dOut = ModelReference.Random(tokens * width, 2);
        var initial = ModelReference.Random(vocab * width, 3, 0.1);
        var dTable = (float[])initial.Clone();
        Embedding.Backward(tokens, vocab, width, ids, dOut, dTable);

        var scalar = (float[])initial.Clone();
        var exact = initial.Select(v => (double)v).ToArray();
        var magnitude = initial.Select(v => (double)Math.Abs(v)).ToArray();
        var count = new int[vocab];
        for (int t = 0; t < tokens; t++)
        {
            count[ids[t]]++;
            for (int c = 0; c < width; c++)
            {
                int at = ids[t] * width + c;
                scalar[at] += dOut[t * width + c];
                exact[at] += dOut[t * width + c];
                magnitude[at] += Math.Abs(dOut[t * width + c]);
            }
        }
        Assert.Equal(scalar, dTable);
        for (int i = 0; i < dTable.Length; i++)
            Assert.True(Math.Abs(dTable[i] - exact[i]) <= (count[i / width] + 1) * ModelReference.U * magnitude[i], $"dTable[{i}]");
    }

    [Fact]
    public void OutOfRangeIdIsRejectedBeforeAnythingIsWritten()
    {
        var dTable = new float[8];
        var ex = Assert.Throws<ArgumentException>(() => Embedding.Backward(3, 4, 2, [1, 4, 0], [1, 1, 1, 1, 1, 1], dTable));
        Assert.Equal("ids", ex.ParamName);
        Assert.Contains("position 1", ex.Message);
        Assert.Contains("is 4", ex.Message);
        Assert.All(dTable, v => Assert.Equal(0f, v));
        var output = new float[6];
        Assert.Throws<ArgumentException>(() => Embedding.Forward(3, 4, 2, [1, -1, 0], new float[8], output));
        Assert.All(output, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentException>(() => Embedding.Forward(3, 4, 2, [1, 1, 0], new float[7], output));
        Assert.Throws<ArgumentException>(() => Embedding.Forward(3, 4, 2, [1, 1], new float[8], output));
    }
}
