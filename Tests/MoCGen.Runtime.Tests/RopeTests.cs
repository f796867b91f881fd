using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Rotary embeddings. The tables are checked against angles in double: the table forms each angle in fp32 as Hugging
/// Face does (exponent 2i/d rounded: relative error u/2, which theta^e turns into ln(theta) e u / 2 &lt;= ln(theta) u / 2;
/// the power and the reciprocal ~1.5 u; the product p * inverse u / 2), so the angle errs by at most
/// (ln(theta) / 2 + 3) u |angle|, and cos / sin by that plus one rounding u; we allow (ln(theta) + 6) u |angle| + 2 u.
/// The rotation is checked against a double rotation using the table's own cos / sin: each output is a*c -+ b*s, two
/// products and a sum: 2 u (|a c| + |b s|).
/// </summary>
public sealed class RopeTests
{
    private const double U = ModelReference.U;

    [Theory]
    [InlineData(64, 10, 10000.0)]
    [InlineData(256, 64, 10000.0)]
    [InlineData(128, 16, 500000.0)]
    public void TablesMatchDoubleAngles(int context, int headDim, double theta)
    {
        var table = new RopeTable(context, headDim, theta);
        int half = headDim / 2;
        Assert.Equal(context * half, table.Cos.Length);
        double slack = Math.Log(theta) + 6;
        for (int p = 0; p < context; p++)
            for (int i = 0; i < half; i++)
            {
                double a = ModelReference.RopeAngle(p, i, headDim, theta);
                double tol = slack * U * a + 2 * U;
                Assert.True(Math.Abs(table.Cos[p * half + i] - Math.Cos(a)) <= tol, $"cos({p}, {i})");
                Assert.True(Math.Abs(table.Sin[p * half + i] - Math.Sin(a)) <= tol, $"sin({p}, {i})");
            }
        // Position 0 is the identity; pair 0 turns by exactly p radians.
        Assert.All(Enumerable.Range(0, half), i => { Assert.Equal(1f, table.Cos[i]); Assert.Equal(0f, table.Sin[i]); });
        Assert.Equal((float)Math.Cos(5), table.Cos[5 * half]);
    }

    [Theory]
    [InlineData(37, 6, 2, 10, 20)]   // the odd shape: 37 tokens = sequences of 20 + 17
    [InlineData(8, 3, 1, 64, 8)]     // head size 64: full vectors
    [InlineData(300, 4, 2, 66, 100)] // past the parallel threshold; half = 33, a vector tail
    public void RotatesLikeTheReference(int tokens, int heads, int kvHeads, int d, int sequence)
    {
        var table = new RopeTable(128, d);
        var q = ModelReference.Random(tokens * heads * d, 1);
        var k = ModelReference.Random(tokens * kvHeads * d, 2);
        var positions = Enumerable.Range(0, tokens).Select(t => t % sequence).ToArray();
        int half = d / 2;
        (double, double) Cs(int p, int i) => (table.Cos[p * half + i], table.Sin[p * half + i]);

        var q1 = (float[])q.Clone();
        var k1 = (float[])k.Clone();
        Rope.Forward(table, tokens, q1, heads, k1, kvHeads, positions);
        AssertRotated(q, q1, ModelReference.Rotate(q, tokens, heads, d, positions, Cs, inverse: false), d);
        AssertRotated(k, k1, ModelReference.Rotate(k, tokens, kvHeads, d, positions, Cs, inverse: false), d);

        // The training overload (position = t mod sequence length) gives the same bits.
        var q2 = (float[])q.Clone();
        var k2 = (float[])k.Clone();
        Rope.Forward(table, tokens, q2, heads, k2, kvHeads, sequence);
        Assert.Equal(q1, q2);
        Assert.Equal(k1, k2);

        // Backward is the inverse rotation: of the rotated tensor it gives back the original, and of any gradient it
        // matches the double rotation by minus the angle. Round trip: each rotation errs by 2 u (|a| + |b|) <= 4 u (inputs
        // in [-1, 1]) and the table's c^2 + s^2 differs from 1 by about 2 u: about 10 u; allowed 12 u.
        var gq = (float[])q1.Clone();
        var gk = (float[])k1.Clone();
        Rope.Backward(table, tokens, gq, heads, gk, kvHeads, sequence);
        for (int i = 0; i < q.Length; i++) Assert.True(Math.Abs(gq[i] - q[i]) <= 12 * U, $"q round trip [{i}]");
        for (int i = 0; i < k.Length; i++) Assert.True(Math.Abs(gk[i] - k[i]) <= 12 * U, $"k round trip [{i}]");
        var g = ModelReference.Random(tokens * heads * d, 3);
        var g1 = (float[])g.Clone();
        Rope.Rotate(table, tokens, heads, g1, positions, inverse: true);
        AssertRotated(g, g1, ModelReference.Rotate(g, tokens, heads, d, positions, Cs, inverse: true), d);
    }

    /// <summary>
    /// d/dx of L = sum(rope(x) * r) against central differences. L is linear in x, so the difference quotient has no
    /// truncation error; with h = 0.5 its rounding noise is about u |L| / h ~ 1e-6. Allowed 1e-4.
    /// </summary>
    [Fact]
    public void BackwardMatchesCentralDifferences()
    {
        int tokens = 4, heads = 2, d = 6;
        var table = new RopeTable(8, d);
        var x = ModelReference.Random(tokens * heads * d, 7);
        var r = ModelReference.Random(tokens * heads * d, 8);
        int[] positions = [0, 3, 7, 5];
        var grad = (float[])r.Clone();
        Rope.Rotate(table, tokens, heads, grad, positions, inverse: true);
        double Loss()
        {
            var y = (float[])x.Clone();
            Rope.Rotate(table, tokens, heads, y, positions, inverse: false);
            return y.Select((v, i) => (double)v * r[i]).Sum();
        }
        for (int i = 0; i < x.Length; i++)
        {
            float saved = x[i];
            x[i] = saved + 0.5f; double plus = Loss();
            x[i] = saved - 0.5f; double minus = Loss();
            x[i] = saved;
            Assert.True(Math.Abs((plus - minus) - grad[i]) <= 1e-4, $"x[{i}]: {plus - minus} vs {grad[i]}");
        }
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var table = new RopeTable(16, 8);
        var ex = Assert.Throws<ArgumentException>(() => Rope.Rotate(table, 2, 1, new float[16], [3, 16], inverse: false));
        Assert.Contains("positions[1] = 16", ex.Message);
        Assert.Throws<ArgumentException>(() => Rope.Rotate(table, 2, 1, new float[16], [-1, 0], inverse: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Rotate(table, 2, 1, new float[16], 17, inverse: false));
        Assert.Throws<ArgumentException>(() => Rope.Rotate(table, 2, 1, new float[15], 4, inverse: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RopeTable(16, 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RopeTable(0, 8));
    }

    private static void AssertRotated(float[] input, float[] got, double[] want, int d)
    {
        int half = d / 2;
        for (int i = 0; i < got.Length; i++)
        {
            // Magnitude bound: |a c| + |b s| <= |a| + |b| for the pair (i, i +- half).
            int inHead = i % d, partner = inHead < half ? i + half : i - half;
            double tol = 2 * U * (Math.Abs(input[i]) + Math.Abs(input[partner])) + 1e-30;
            Assert.True(Math.Abs(got[i] - want[i]) <= tol, $"[{i}]: {got[i]} vs {want[i]}");
        }
    }
}
