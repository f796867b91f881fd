using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

public struct Odd200 : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 65; }
public struct KOne : IFeedForwardShape { public static int Hidden => 64; public static int Intermediate => 128; public static int TopK => 1; }
public struct DenseTwin : IFeedForwardShape { public static int Hidden => 96; public static int Intermediate => 200; public static int TopK => 200; }
public struct Eighth : IFeedForwardShape { public static int Hidden => 128; public static int Intermediate => 344; public static int TopK => 43; }
public struct Tiny : IFeedForwardShape { public static int Hidden => 8; public static int Intermediate => 16; public static int TopK => 4; }
public struct Wide : IFeedForwardShape { public static int Hidden => 8; public static int Intermediate => 70000; public static int TopK => 9; }

/// <summary>
/// The MoC feed-forward kernels against the double-precision reference, forward and backward, MoC and dense.
/// Tolerance: each output is a sum over about n = d + K rounded fp32 operations (two dot products feeding a sum
/// of K terms); recursive fp32 summation errs by at most n u times the sum of the terms' magnitudes S (u = 2^-24),
/// so we allow 2 n u S + 1e-30, with S from the reference run in magnitude mode. Inputs are drawn so that the
/// K-th and (K+1)-th gate values of every token differ clearly, so both sides select the same channels.
/// </summary>
public sealed class MoCFeedForwardTests
{
    private const double U = 1.0 / (1 << 24);

    internal sealed class Case
    {
        public required int Tokens, D, F, K;
        public required float[] X, Wg, Wu, WdT, Gy;
    }

    internal static Case MakeCase<TShape>(int tokens, int seed) where TShape : struct, IFeedForwardShape
    {
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK;
        var random = new Random(seed);
        float[] Fill(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        var wg = Fill(f * d, 1 / Math.Sqrt(d));
        var reference = new FeedForwardReference(d, f, k);
        var x = new float[tokens * d];
        for (int t = 0; t < tokens; t++)
        {
            // Redraw a token until its selection has a clear margin (away from Top-K ties).
            for (int attempt = 0; ; attempt++)
            {
                var row = Fill(d, 1);
                Array.Copy(row, 0, x, t * d, d);
                if (k == f) break;
                var g = reference.Gate(x, t, wg).OrderByDescending(v => v).ToArray();
                if (g[k - 1] - g[k] > 1e-3 || attempt > 200) break;
            }
        }
        return new Case { Tokens = tokens, D = d, F = f, K = k, X = x, Wg = wg, Wu = Fill(f * d, 1 / Math.Sqrt(d)), WdT = Fill(f * d, 1 / Math.Sqrt(f)), Gy = Fill(tokens * d, 1) };
    }

    internal sealed record Outputs(float[] Y, int[][] Selected, float[] SavedGate, float[] SavedUp, float[] Gx, float[] DGate, float[] DUp, float[] DDownT);

    internal static Outputs RunKernel<TShape, TIndex>(Case c, bool backward = true)
        where TShape : struct, IFeedForwardShape where TIndex : unmanaged, System.Numerics.IBinaryInteger<TIndex>
    {
        int perToken = c.K;
        var index = new TIndex[MoCFeedForward<TShape, TIndex>.IsDense ? 0 : c.Tokens * c.K];
        var gate = new float[c.Tokens * perToken];
        var up = new float[c.Tokens * perToken];
        var y = Enumerable.Repeat(float.NaN, c.Tokens * c.D).ToArray(); // must be overwritten
        var scratch = new float[MoCFeedForward<TShape, TIndex>.GateScratchLength(c.Tokens)];
        var weights = new FeedForwardWeights(c.Wg, c.Wu, c.WdT);
        MoCFeedForward<TShape, TIndex>.Forward(c.Tokens, c.X, weights, y, new FeedForwardSaved<TIndex>(index, gate, up), scratch);
        var selected = Enumerable.Range(0, c.Tokens).Select(t => c.K == c.F ? Enumerable.Range(0, c.F).ToArray()
            : index.Skip(t * c.K).Take(c.K).Select(i => int.CreateTruncating(i)).ToArray()).ToArray();
        if (!backward) return new Outputs(y, selected, gate, up, [], [], [], []);

        var gx = Enumerable.Repeat(float.NaN, c.Tokens * c.D).ToArray();
        var dg = Enumerable.Repeat(InitialGate, c.F * c.D).ToArray(); // gradients accumulate: start from known values
        var du = Enumerable.Repeat(InitialUp, c.F * c.D).ToArray();
        var dd = Enumerable.Repeat(InitialDown, c.F * c.D).ToArray();
        var backScratch = new float[MoCFeedForward<TShape, TIndex>.BackwardScratchLength(c.Tokens)];
        MoCFeedForward<TShape, TIndex>.Backward(c.Tokens, c.X, weights, new FeedForwardSaved<TIndex>(index, gate, up), c.Gy, gx,
            new FeedForwardGradients(dg, du, dd), backScratch);
        return new Outputs(y, selected, gate, up, gx, dg, du, dd);
    }

    /// <summary>Initial values of the weight gradients: backward must add to them.</summary>
    internal const float InitialGate = 0.5f, InitialUp = -0.25f, InitialDown = 0.125f;

    private static double[] Plus(double[] values, double constant) => values.Select(v => v + constant).ToArray();

    private static void AssertClose(string what, double[] expected, double[] magnitude, float[] actual, int n)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = 2 * n * U * magnitude[i] + 1e-30;
            double err = Math.Abs(actual[i] - expected[i]);
            worst = Math.Max(worst, err / tol);
            Assert.True(err <= tol, $"{what}[{i}]: got {actual[i]}, expected {expected[i]} (error {err:E2} > tolerance {tol:E2})");
        }
        Assert.True(worst < 1, what);
    }

    private static void CheckAgainstReference<TShape, TIndex>(int tokens, int seed)
        where TShape : struct, IFeedForwardShape where TIndex : unmanaged, System.Numerics.IBinaryInteger<TIndex>
    {
        var c = MakeCase<TShape>(tokens, seed);
        var reference = new FeedForwardReference(c.D, c.F, c.K);
        var exact = reference.Run(c.Tokens, c.X, c.Wg, c.Wu, c.WdT, c.Gy);
        var scale = reference.Run(c.Tokens, c.X, c.Wg, c.Wu, c.WdT, c.Gy, magnitudes: true, selection: exact.Selected);
        var ours = RunKernel<TShape, TIndex>(c);

        for (int t = 0; t < tokens; t++) Assert.Equal(exact.Selected[t], ours.Selected[t]);
        int n = c.D + c.K + 4;
        AssertClose("y", exact.Y, scale.Y, ours.Y, n);
        AssertClose("gx", exact.Gx, scale.Gx, ours.Gx, n + c.K);
        // The gradients are added to what the buffers held; that final addition rounds relative to the initial value too.
        AssertClose("dW_g", Plus(exact.DGate, InitialGate), Plus(scale.DGate, Math.Abs(InitialGate)), ours.DGate, n + tokens);
        AssertClose("dW_u", Plus(exact.DUp, InitialUp), Plus(scale.DUp, Math.Abs(InitialUp)), ours.DUp, n + tokens);
        AssertClose("dW_d", Plus(exact.DDownT, InitialDown), Plus(scale.DDownT, Math.Abs(InitialDown)), ours.DDownT, n + tokens);
    }

    [Fact] public void OddShapesMatchTheReference() => CheckAgainstReference<Odd200, ushort>(70, 1);
    [Fact] public void KOneMatchesTheReference() => CheckAgainstReference<KOne, ushort>(9, 2);
    [Fact] public void DenseTwinMatchesTheReference() => CheckAgainstReference<DenseTwin, ushort>(67, 3);
    [Fact] public void OneEighthMatchesTheReference() => CheckAgainstReference<Eighth, ushort>(130, 4);
    [Fact] public void SingleTokenMatchesTheReference() => CheckAgainstReference<Eighth, ushort>(1, 5);
    [Fact] public void ThirtyTwoBitIndicesMatchTheReference() => CheckAgainstReference<Wide, uint>(3, 6);

    [Fact]
    public void SavedValuesAreTheSelectedGateAndUpValues()
    {
        var c = MakeCase<Eighth>(5, 7);
        var reference = new FeedForwardReference(c.D, c.F, c.K);
        var ours = RunKernel<Eighth, ushort>(c, backward: false);
        for (int t = 0; t < c.Tokens; t++)
        {
            var g = reference.Gate(c.X, t, c.Wg);
            for (int s = 0; s < c.K; s++)
                Assert.Equal(g[ours.Selected[t][s]], ours.SavedGate[t * c.K + s], 1e-4);
            Assert.True(ours.Selected[t].Zip(ours.Selected[t].Skip(1)).All(p => p.First < p.Second), "indices ascending");
        }
    }

    [Fact]
    public void RepeatedRunsGiveIdenticalResults()
    {
        var c = MakeCase<Odd200>(70, 8);
        var first = RunKernel<Odd200, ushort>(c);
        var second = RunKernel<Odd200, ushort>(c);
        Assert.Equal(first.Y, second.Y);
        Assert.Equal(first.DGate, second.DGate);
        Assert.Equal(first.DDownT, second.DDownT);
        Assert.Equal(first.Gx, second.Gx);
    }

    [Fact]
    public void SavedBytesPerTokenIsKIndexGateUpForMoCAndGateUpForDense()
    {
        Assert.Equal(65L * (2 + 4 + 4), MoCFeedForward<Odd200, ushort>.SavedBytesPerToken);
        Assert.Equal(9L * (4 + 4 + 4), MoCFeedForward<Wide, uint>.SavedBytesPerToken);
        Assert.Equal(200L * (4 + 4), MoCFeedForward<DenseTwin, ushort>.SavedBytesPerToken);
    }

    [Fact]
    public void ShortBuffersAreRefusedWithTheirNameAndSizes()
    {
        var c = MakeCase<Tiny>(2, 9);
        var error = Assert.Throws<ArgumentException>(() => MoCFeedForward<Tiny, ushort>.Forward(2, c.X, new FeedForwardWeights(c.Wg, c.Wu, c.WdT),
            new float[15], new FeedForwardSaved<ushort>(new ushort[8], new float[8], new float[8]), new float[32]));
        Assert.Equal("y", error.ParamName);
        Assert.Contains("y holds 15 floats; 2 x 8 are needed", error.Message);
    }
}
