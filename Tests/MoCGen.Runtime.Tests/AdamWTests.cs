using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>AdamW: a hand-computed two-step example, the formula in double over ten steps, clipping, non-finite gradients.</summary>
public sealed class AdamWTests
{
    private const double U = ModelReference.U;

    /// <summary>
    /// Two tensors of one element, lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, no clipping.
    /// A (decayed), p = 1, g = 0.5 then -0.25:
    ///   step 1: p = 1 (1 - 0.1 * 0.01) = 0.999; m = 0.1 * 0.5 = 0.05; v = 0.001 * 0.25 = 0.00025;
    ///           m^ = 0.05 / 0.1 = 0.5; v^ = 0.00025 / 0.001 = 0.25; p = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002
    ///   step 2: p = 0.899000002 * 0.999 = 0.898101002; m = 0.9 * 0.05 + 0.1 * (-0.25) = 0.02;
    ///           v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225; m^ = 0.02 / 0.19 = 0.10526316;
    ///           v^ = 0.00031225 / 0.001999 = 0.15620310, sqrt 0.39522538; p = 0.898101002 - 0.1 * 0.10526316 / 0.39522538
    ///           = 0.898101002 - 0.02663370 = 0.87146730
    /// B (not decayed), p = -2, g = 2 then 1:
    ///   step 1: m = 0.2; v = 0.004; m^ = 2; v^ = 4; p = -2 - 0.1 * 2 / (2 + 1e-8) = -2.0999999995
    ///   step 2: m = 0.18 + 0.1 = 0.28; v = 0.003996 + 0.001 = 0.004996; m^ = 0.28 / 0.19 = 1.47368421;
    ///           v^ = 0.004996 / 0.001999 = 2.49924962, sqrt 1.58090152; p = -2.0999999995 - 0.09321796 = -2.19321796
    /// fp32 state: a few roundings per step on values of order 1: allowed 1e-6 relative.
    /// </summary>
    [Fact]
    public void TwoStepsByHand()
    {
        var options = new AdamWOptions { Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8, WeightDecay = 0.01, MaxGradNorm = 0 };
        float[] p = [1f, -2f], m = new float[2], v = new float[2];
        AdamWSegment[] segments = [new(0, 1, Decay: true, "A"), new(1, 1, Decay: false, "B")];

        var r1 = AdamW.Step(p, [0.5f, 2f], m, v, segments, 1, 0.1, options);
        Assert.True(r1.Applied);
        Assert.Equal(1f, r1.ClipScale);
        Assert.Equal(Math.Sqrt(0.25 + 4), r1.GradientNorm, 12);
        Near(0.899000002, p[0]); Near(-2.0999999995, p[1]);
        Near(0.05, m[0]); Near(0.2, m[1]); Near(0.00025, v[0]); Near(0.004, v[1]);

        var r2 = AdamW.Step(p, [-0.25f, 1f], m, v, segments, 2, 0.1, options);
        Assert.True(r2.Applied);
        Near(0.87146730, p[0]); Near(-2.19321796, p[1]);
        Near(0.02, m[0]); Near(0.28, m[1]); Near(0.00031225, v[0]); Near(0.004996, v[1]);

        static void Near(double want, float got) => Assert.True(Math.Abs(got - want) <= 1e-6 * Math.Abs(want), $"{got} vs {want}");
    }

    /// <summary>
    /// Ten steps against the formula in double, each step from the kernel's own fp32 state (so each comparison sees
    /// one step's rounding). Per element, with r = lr / denom: m errs by 3 u (b1 |m| + (1 - b1) |g|), v by 3 u v;
    /// p by 2 u |p| (decay product, final subtraction) + r (3 u (b1 |m| + (1 - b1) |g|) / bc1 + 6 u |m^|) (m's error,
    /// v's error halved by the square root, the sqrt / division / eps add, the quotient and the product); allowed
    /// twice that. Gradients are drawn so that some steps clip and others do not.
    /// </summary>
    [Fact]
    public void TenStepsMatchTheFormulaInDouble()
    {
        const int n = 1000;
        var options = new AdamWOptions(); // 0.9, 0.95, 1e-8, 0.1, clip at 1
        var schedule = new LearningRateSchedule(3, 10, 1e-2, 1e-3);
        AdamWSegment[] segments = [new(0, 400, true, "w1"), new(400, 37, false, "norm"), new(437, 563, true, "w2")];
        var p = ModelReference.Random(n, 1);
        var m = new float[n];
        var v = new float[n];
        int clipped = 0;
        for (int step = 1; step <= 10; step++)
        {
            double gScale = step % 2 == 0 ? 0.1 : 0.02; // norm ~ 18 g: 1.8 (clipped) or 0.37 (not)
            var g = ModelReference.Random(n, 100 + step, gScale);
            double lr = schedule.At(step - 1);

            double[] P = p.Select(x => (double)x).ToArray(), M = m.Select(x => (double)x).ToArray(), V = v.Select(x => (double)x).ToArray();
            double[] mBefore = (double[])M.Clone();
            double norm = Math.Sqrt(g.Sum(x => (double)x * x));
            double clip = Math.Min(1, options.MaxGradNorm / (norm + 1e-6));
            foreach (var s in segments)
            {
                var (ps, ms, vs) = (P[s.Offset..(s.Offset + s.Length)], M[s.Offset..(s.Offset + s.Length)], V[s.Offset..(s.Offset + s.Length)]);
                ModelReference.AdamW(ps, g[s.Offset..(s.Offset + s.Length)].Select(x => (double)x).ToArray(), ms, vs, step, lr,
                    options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay, s.Decay, clip);
                ps.CopyTo(P, s.Offset); ms.CopyTo(M, s.Offset); vs.CopyTo(V, s.Offset);
            }

            var pBefore = (float[])p.Clone();
            var result = AdamW.Step(p, g, m, v, segments, step, lr, options);
            Assert.True(result.Applied);
            Assert.True(Math.Abs(result.GradientNorm - norm) <= 1e-12 * norm);
            Assert.True(Math.Abs(result.ClipScale - clip) <= U * clip);
            if (clip < 1) clipped++;

            double bc1 = 1 - Math.Pow(options.Beta1, step), bc2 = 1 - Math.Pow(options.Beta2, step);
            for (int i = 0; i < n; i++)
            {
                double gi = g[i] * clip;
                double mTerms = options.Beta1 * Math.Abs(mBefore[i]) + (1 - options.Beta1) * Math.Abs(gi);
                double mBound = 3 * U * mTerms;
                double r = lr / (Math.Sqrt(V[i] / bc2) + options.Epsilon);
                double pBound = 2 * U * Math.Abs(pBefore[i]) + r * (mBound / bc1 + 6 * U * Math.Abs(M[i] / bc1));
                Assert.True(Math.Abs(m[i] - M[i]) <= 2 * mBound + 1e-30, $"step {step}: m[{i}] {m[i]} vs {M[i]}");
                Assert.True(Math.Abs(v[i] - V[i]) <= 2 * 3 * U * V[i] + 1e-30, $"step {step}: v[{i}] {v[i]} vs {V[i]}");
                Assert.True(Math.Abs(p[i] - P[i]) <= 2 * pBound, $"step {step}: p[{i}] {p[i]} vs {P[i]} (bound {2 * pBound})");
            }
        }
        Assert.InRange(clipped, 3, 7);
    }

    [Fact]
    public void ClippingScalesTheGradientLikeClipGradNorm()
    {
        var options = new AdamWOptions { MaxGradNorm = 1 };
        var g = new float[100];
        g[3] = 6; g[50] = 8; // norm 10
        var p = ModelReference.Random(100, 1);
        var (m, v) = (new float[100], new float[100]);
        var result = AdamW.Step(p, g, m, v, [new(0, 100, true)], 1, 1e-3, options);
        Assert.Equal(10, result.GradientNorm, 12);
        Assert.Equal((float)(1 / (10 + 1e-6)), result.ClipScale);

        // The same as updating with pre-scaled gradients.
        var p2 = ModelReference.Random(100, 1);
        var (m2, v2) = (new float[100], new float[100]);
        AdamW.Update(p2, g, m2, v2, 1, 1e-3, options, decay: true, gradientScale: result.ClipScale);
        Assert.Equal(p2, p);
        Assert.Equal(m2, m);
        Assert.Equal(0.1 * 6 / (10 + 1e-6), m[3], 7); // m = (1 - b1) g clip

        // Below the limit, or with clipping off: no scaling.
        Assert.Equal(1f, AdamW.ClipScale(0.5, 1));
        Assert.Equal(1f, AdamW.ClipScale(1e9, 0));
        Assert.Equal(1f, AdamW.ClipScale(1e9, double.PositiveInfinity));
        Assert.Equal((float)(2 / (4 + 1e-6)), AdamW.ClipScale(4, 2));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteGradientStopsTheStep(float bad)
    {
        var p = ModelReference.Random(50, 1);
        var g = ModelReference.Random(50, 2);
        var m = ModelReference.Random(50, 3);
        var v = ModelReference.Random(50, 4).Select(Math.Abs).ToArray();
        g[27] = bad;
        var (p0, m0, v0) = ((float[])p.Clone(), (float[])m.Clone(), (float[])v.Clone());
        var result = AdamW.Step(p, g, m, v, [new(0, 20, true, "model.embed_tokens.weight"), new(20, 30, false, "model.norm.weight")], 5, 1e-3, new AdamWOptions());
        Assert.False(result.Applied);
        Assert.False(double.IsFinite(result.GradientNorm));
        Assert.Contains("model.norm.weight", result.Message);
        Assert.Contains("index 7", result.Message);
        Assert.Equal(p0, p);
        Assert.Equal(m0, m);
        Assert.Equal(v0, v);
    }

    [Fact]
    public void NormIsExactInDoubleAndThreadIndependent()
    {
        // 100 000 values: several chunks, summed in parallel; each square is exact in double, the sum within n 2^-53.
        var g = ModelReference.Random(100_000, 9, 3);
        double want = g.Sum(x => (double)x * x);
        double got = AdamW.SumOfSquares(g);
        Assert.True(Math.Abs(got - want) <= 1e-11 * want);
        Assert.Equal(got, AdamW.SumOfSquares(g));
    }

    [Fact]
    public void LargeTensorsUpdateLikeSmallOnes()
    {
        // A tensor of 100 000 (split into parallel chunks) updates element for element like 1000-element pieces of it.
        var options = new AdamWOptions();
        var p = ModelReference.Random(100_000, 1);
        var g = ModelReference.Random(100_000, 2, 0.01);
        var (m, v) = (new float[100_000], new float[100_000]);
        var (p2, m2, v2) = ((float[])p.Clone(), new float[100_000], new float[100_000]);
        AdamW.Update(p, g, m, v, 3, 1e-3, options, decay: true);
        for (int o = 0; o < 100_000; o += 1000)
            AdamW.Update(p2.AsSpan(o, 1000), g.AsSpan(o, 1000), m2.AsSpan(o, 1000), v2.AsSpan(o, 1000), 3, 1e-3, options, decay: true);
        Assert.Equal(p2, p);
        Assert.Equal(m2, m);
        Assert.Equal(v2, v);
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var b = new float[10];
        Assert.Throws<ArgumentException>(() => AdamW.Step(b, b, b, new float[9], [new(0, 10, true)], 1, 1e-3, new AdamWOptions()));
        Assert.Throws<ArgumentException>(() => AdamW.Step(b, b, b, b, [new(5, 6, true)], 1, 1e-3, new AdamWOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => AdamW.Step(b, b, b, b, [new(0, 10, true)], 0, 1e-3, new AdamWOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => AdamW.Step(b, b, b, b, [new(0, 10, true)], 1, 1e-3, new AdamWOptions { Beta2 = 1 }));
        Assert.Throws<ArgumentException>(() => AdamW.Update(b, new float[9], b, b, 1, 1e-3, new AdamWOptions(), true));
    }
}
