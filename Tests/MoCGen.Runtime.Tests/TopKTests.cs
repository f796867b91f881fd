using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>Top-K selection against sorting: the K largest values, ties to the lower index, indices ascending.</summary>
public sealed class TopKTests
{
    private static int[] Reference(float[] v, int k) =>
        Enumerable.Range(0, v.Length).OrderByDescending(j => float.IsNaN(v[j]) ? float.NegativeInfinity : v[j]).ThenBy(j => j)
            .Take(k).OrderBy(j => j).ToArray();

    private static int[] Ours(float[] v, int k)
    {
        var index = new ushort[k];
        var selected = new float[k];
        TopK.Select<ushort>(v, k, index, selected);
        for (int s = 0; s < k; s++) Assert.Equal(v[index[s]], selected[s]);
        return index.Select(i => (int)i).ToArray();
    }

    [Theory]
    [InlineData(520, 65)]
    [InlineData(704, 88)]
    [InlineData(5504, 688)]
    [InlineData(16, 1)]
    [InlineData(16, 16)]
    [InlineData(1, 1)]
    [InlineData(33, 32)]
    public void RandomRowsSelectTheKLargest(int n, int k)
    {
        var random = new Random(n * 31 + k);
        for (int trial = 0; trial < 20; trial++)
        {
            var v = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            Assert.Equal(Reference(v, k), Ours(v, k));
        }
    }

    [Fact]
    public void TiesGoToTheLowerIndex()
    {
        var v = new float[] { 1, 3, 2, 3, 3, 0, 3, 2 };
        Assert.Equal(new[] { 1, 3 }, Ours(v, 2));
        Assert.Equal(new[] { 1, 3, 4, 6, 7 }.Take(4).ToArray(), Ours(v, 4));
        Assert.Equal(new[] { 1, 2, 3, 4, 6 }, Ours(v, 5));
        var flat = Enumerable.Repeat(0.5f, 100).ToArray();
        Assert.Equal(Enumerable.Range(0, 10).ToArray(), Ours(flat, 10));
    }

    [Fact]
    public void FewDistinctValuesWithManyTies()
    {
        var random = new Random(5);
        for (int trial = 0; trial < 50; trial++)
        {
            var v = Enumerable.Range(0, 300).Select(_ => (float)random.Next(4)).ToArray();
            int k = random.Next(1, 301);
            Assert.Equal(Reference(v, k), Ours(v, k));
        }
    }

    [Fact]
    public void NaNsAreNeverPreferredAndTheCountIsAlwaysK()
    {
        var v = new[] { float.NaN, 1f, float.NaN, -1f, float.NegativeInfinity, float.NaN };
        Assert.Equal(new[] { 1, 3 }, Ours(v, 2));
        Assert.Equal(new[] { 0, 1, 3, 4 }, Ours(v, 4)); // -inf before the NaNs, then the lowest NaN
        var allNaN = Enumerable.Repeat(float.NaN, 7).ToArray();
        Assert.Equal(new[] { 0, 1, 2 }, Ours(allNaN, 3));
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TopK.Select<ushort>(new float[4], 5, new ushort[5], new float[5]));
        Assert.Throws<ArgumentException>(() => TopK.Select<ushort>(new float[4], 3, new ushort[2], new float[3]));
    }
}
