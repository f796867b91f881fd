using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Causal grouped-query attention against the naive double-precision reference (full T x T probabilities).
/// <para>
/// Tolerance, per element: 4 rel_i S, with S the output evaluated with magnitudes and
/// rel_i = u (2 d sigma_i + T + d + 8), sigma_i = max_j |scale| sum_c |q_ic k_jc| (ModelReference.Attention). Why: an fp32
/// score is a d-term dot product, so it errs by up to d u sigma_i in absolute terms; exp turns an absolute score
/// error e into a relative error e of P, and normalizing by the row sum (L) can double it: 2 d u sigma_i. Then
/// o = sum_j P v sums at most T terms (T u relative to sum P |v|), and the exponential, the shift, the division by
/// the row sum and the blockwise rescaling add a few rounding errors (the +8; Vector512.Exp is within 2 ulp). In
/// backward, dP and D are d-term dot products (d u), dS = P (dP - D) inherits P's relative error on the magnitude
/// |P| (|dP| + |D|), and dq, dk, dv are sums of at most T terms; each stage adds at most about rel S, and three of
/// them chain (P, dS, the final sum), which the factor 4 covers. dk and dv take the largest rel_i of their
/// column. A wrong index, mask or formula errs by O(|output|), orders of magnitude above these bounds.
/// </para>
/// </summary>
public sealed class AttentionTests
{
    private const double U = ModelReference.U;
    private const double Factor = 4;

    internal sealed record Case(AttentionShape Shape, float[] Q, float[] K, float[] V, float[] DO);

    internal static Case MakeCase(int batch, int T, int heads, int kvHeads, int d, int seed, double qkScale = 1.5)
    {
        var shape = new AttentionShape(batch, T, heads, kvHeads, d);
        int n = batch * T;
        return new Case(shape,
            ModelReference.Random(n * heads * d, seed, qkScale),
            ModelReference.Random(n * kvHeads * d, seed + 1, qkScale),
            ModelReference.Random(n * kvHeads * d, seed + 2),
            ModelReference.Random(n * heads * d, seed + 3));
    }

    internal sealed record Outputs(float[] O, float[] Lse, float[] Dq, float[] Dk, float[] Dv);

    internal static Outputs Run(Case c, int queryBlock = Attention.QueryBlock, int keyBlock = Attention.KeyBlock, bool backward = true)
    {
        var s = c.Shape;
        int n = s.Tokens;
        // Outputs start as NaN: every element must be written (dq, dk, dv are overwritten, not accumulated).
        float[] Nan(int length) => Enumerable.Repeat(float.NaN, length).ToArray();
        var o = Nan(n * s.QueryWidth);
        var lse = Nan(n * s.Heads);
        Attention.ForwardBlocked(s, c.Q, c.K, c.V, o, lse, queryBlock, keyBlock);
        if (!backward) return new Outputs(o, lse, [], [], []);
        var dq = Nan(n * s.QueryWidth);
        var dk = Nan(n * s.KvWidth);
        var dv = Nan(n * s.KvWidth);
        Attention.BackwardBlocked(s, c.Q, c.K, c.V, o, lse, c.DO, dq, dk, dv, queryBlock, keyBlock);
        return new Outputs(o, lse, dq, dk, dv);
    }

    [Theory]
    [InlineData(2, 37, 6, 2, 10, 64, 64)]   // the odd shape of the brief: one block
    [InlineData(2, 37, 6, 2, 10, 16, 8)]    // several blocks, unequal sizes, T not a multiple of either
    [InlineData(2, 37, 6, 2, 10, 5, 7)]     // blocks that never align with each other
    [InlineData(2, 37, 6, 2, 10, 1, 1)]     // one query and one key at a time (GEMV paths)
    [InlineData(1, 1, 6, 2, 10, 64, 64)]    // T = 1
    [InlineData(3, 1, 4, 4, 8, 2, 3)]       // T = 1, batch 3, multi-head (kvHeads = heads)
    [InlineData(2, 150, 4, 1, 16, 64, 64)]  // T past two blocks, not a multiple; multi-query (kvHeads = 1); parallel path
    [InlineData(1, 70, 3, 3, 33, 64, 64)]   // odd head size; 70 = 64 + 6
    [InlineData(2, 129, 2, 1, 64, 64, 64)]  // head size 64 (full vectors), T = 2 blocks + 1
    public void MatchesReference(int batch, int T, int heads, int kvHeads, int d, int queryBlock, int keyBlock)
    {
        var c = MakeCase(batch, T, heads, kvHeads, d, seed: 1000 + T * 7 + d);
        var got = Run(c, queryBlock, keyBlock);
        var want = ModelReference.Attention(batch, T, heads, kvHeads, d, c.Q, c.K, c.V, c.DO);
        AssertClose("o", got.O, want.O, want.OBound);
        AssertClose("L", got.Lse, want.Lse, want.LseBound);
        AssertClose("dq", got.Dq, want.Dq, want.DqBound);
        AssertClose("dk", got.Dk, want.Dk, want.DkBound);
        AssertClose("dv", got.Dv, want.Dv, want.DvBound);
    }

    [Fact]
    public void PeakedScoresStayAccurate()
    {
        // Large q, k: scores span +-30, softmax rows nearly one-hot; the online rescaling must keep its accuracy.
        var c = MakeCase(2, 45, 4, 2, 12, seed: 77, qkScale: 4);
        var got = Run(c, 8, 16);
        var want = ModelReference.Attention(2, 45, 4, 2, 12, c.Q, c.K, c.V, c.DO);
        AssertClose("o", got.O, want.O, want.OBound);
        AssertClose("L", got.Lse, want.Lse, want.LseBound);
        AssertClose("dq", got.Dq, want.Dq, want.DqBound);
        AssertClose("dk", got.Dk, want.Dk, want.DkBound);
        AssertClose("dv", got.Dv, want.Dv, want.DvBound);
    }

    [Fact]
    public void OneTokenAttendsToItself()
    {
        // T = 1: o = v of the group's kv head, dv = sum of the group's dO; dq and dk are 0 up to the rounding of
        // dP - D (two d-term dot products of the same numbers summed in different orders: 2 d u |dO| |v| < 1e-5).
        var c = MakeCase(2, 1, 6, 2, 10, seed: 5);
        var got = Run(c);
        var s = c.Shape;
        for (int t = 0; t < 2; t++)
            for (int h = 0; h < 6; h++)
                for (int e = 0; e < 10; e++)
                {
                    int g = h / 3;
                    Assert.Equal(c.V[t * s.KvWidth + g * 10 + e], got.O[t * s.QueryWidth + h * 10 + e], 6);
                    Assert.InRange(got.Dq[t * s.QueryWidth + h * 10 + e], -1e-5f, 1e-5f);
                }
        Assert.All(got.Dk, x => Assert.InRange(x, -1e-5f, 1e-5f));
        for (int t = 0; t < 2; t++)
            for (int g = 0; g < 2; g++)
                for (int e = 0; e < 10; e++)
                {
                    double sum = 0;
                    for (int h = 3 * g; h < 3 * g + 3; h++) sum += c.DO[t * s.QueryWidth + h * 10 + e];
                    Assert.Equal(sum, got.Dv[t * s.KvWidth + g * 10 + e], 5);
                }
    }

    [Fact]
    public void SequencesAreIndependentAndRunsAreBitwiseRepeatable()
    {
        // Batched (parallel over sequence x head) equals each sequence alone, bit for bit; and a second run equals the first.
        var c = MakeCase(3, 100, 4, 2, 16, seed: 9);
        var all = Run(c);
        var again = Run(c);
        Assert.Equal(all.O, again.O);
        Assert.Equal(all.Dq, again.Dq);
        Assert.Equal(all.Dk, again.Dk);
        Assert.Equal(all.Dv, again.Dv);
        var s = c.Shape;
        for (int b = 0; b < 3; b++)
        {
            float[] Slice(float[] x, int width) => x.Skip(b * 100 * width).Take(100 * width).ToArray();
            var one = new Case(new AttentionShape(1, 100, 4, 2, 16), Slice(c.Q, s.QueryWidth), Slice(c.K, s.KvWidth), Slice(c.V, s.KvWidth), Slice(c.DO, s.QueryWidth));
            var r = Run(one);
            Assert.Equal(Slice(all.O, s.QueryWidth), r.O);
            Assert.Equal(Slice(all.Lse, s.Heads), r.Lse);
            Assert.Equal(Slice(all.Dq, s.QueryWidth), r.Dq);
            Assert.Equal(Slice(all.Dk, s.KvWidth), r.Dk);
            Assert.Equal(Slice(all.Dv, s.KvWidth), r.Dv);
        }
    }

    [Fact]
    public void BlockSizesAgree()
    {
        // The same result, within rounding, whatever the tiling.
        var c = MakeCase(1, 53, 4, 2, 8, seed: 21);
        var a = Run(c);
        var b = Run(c, 4, 9);
        var want = ModelReference.Attention(1, 53, 4, 2, 8, c.Q, c.K, c.V, c.DO);
        AssertClose("o", b.O, a.O.Select(x => (double)x).ToArray(), want.OBound.Select(x => 2 * x).ToArray());
        AssertClose("dk", b.Dk, a.Dk.Select(x => (double)x).ToArray(), want.DkBound.Select(x => 2 * x).ToArray());
    }

    /// <summary>
    /// Backward against central differences of our forward: L = sum(o * r) in double, h = 1e-2. Attention is smooth, so
    /// the truncation error is O(h^2 |f'''|) ~ 1e-4 here; rounding noise is about (fp32 error of L ~ 1e-6) / (2h) ~ 1e-4.
    /// We allow 3e-3 (|g| + 0.1): far above both, far below the O(|g|) error of a wrong formula. Blocks of 2 and 3
    /// exercise the tiling and the masking inside blocks.
    /// </summary>
    [Fact]
    public void GradientsMatchCentralDifferences()
    {
        var c = MakeCase(2, 5, 4, 2, 4, seed: 3);
        var r = ModelReference.Random(c.Shape.Tokens * c.Shape.QueryWidth, 4);
        var withR = c with { DO = r };
        var analytic = Run(withR, 2, 3);

        double Loss()
        {
            var o = Run(withR, 2, 3, backward: false).O;
            double l = 0;
            for (int i = 0; i < o.Length; i++) l += (double)o[i] * r[i];
            return l;
        }

        int count = 0;
        void Check(string what, float[] x, float[] gradient)
        {
            const float h = 1e-2f;
            for (int i = 0; i < x.Length; i++)
            {
                float saved = x[i];
                x[i] = saved + h;
                double plus = Loss();
                x[i] = saved - h;
                double minus = Loss();
                x[i] = saved;
                double fd = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(fd - gradient[i]) <= 3e-3 * (Math.Abs(gradient[i]) + 0.1), $"{what}[{i}]: finite difference {fd}, backward {gradient[i]}");
                count++;
            }
        }

        Check("q", c.Q, analytic.Dq);
        Check("k", c.K, analytic.Dk);
        Check("v", c.V, analytic.Dv);
        Assert.Equal(c.Q.Length + c.K.Length + c.V.Length, count);
    }

    [Fact]
    public void RejectsBadSizes()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AttentionShape(1, 4, 6, 4, 8)); // 4 does not divide 6
        Assert.Throws<ArgumentOutOfRangeException>(() => new AttentionShape(1, 4, 6, 0, 8));
        var s = new AttentionShape(1, 4, 2, 1, 8);
        var ex = Assert.Throws<ArgumentException>(() => Attention.Forward(s, new float[63], new float[32], new float[32], new float[64], new float[8]));
        Assert.Equal("q", ex.ParamName);
        Assert.Throws<ArgumentException>(() => Attention.Forward(default, [], [], [], [], []));
    }

    [Fact]
    public void EmptyBatchDoesNothing()
    {
        var s = new AttentionShape(0, 16, 2, 1, 8);
        Attention.Forward(s, [], [], [], [], []);
        Attention.Backward(s, [], [], [], [], [], [], [], [], []);
    }

    internal static void AssertClose(string what, float[] got, double[] want, double[] bound)
    {
        Assert.Equal(want.Length, got.Length);
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < got.Length; i++)
        {
            double err = Math.Abs(got[i] - want[i]);
            double tol = Factor * bound[i] + 1e-30;
            Assert.False(double.IsNaN(got[i]), $"{what}[{i}] is NaN");
            if (err / tol > worst) { worst = err / tol; worstAt = i; }
        }
        Assert.True(worst <= 1, $"{what}[{worstAt}]: got {got[Math.Max(worstAt, 0)]}, want {want[Math.Max(worstAt, 0)]}, bound {Factor * bound[Math.Max(worstAt, 0)]} (error / bound = {worst})");
    }
}
