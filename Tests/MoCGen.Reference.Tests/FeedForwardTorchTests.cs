using System;
using System.Linq;
using MoCGen.Cpu;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MoCGen.Reference.Tests;

public struct TorchOdd : IFeedForwardShape { public static int Hidden => 200; public static int Intermediate => 520; public static int TopK => 65; }
public struct TorchEighth : IFeedForwardShape { public static int Hidden => 128; public static int Intermediate => 344; public static int TopK => 43; }
public struct TorchKOne : IFeedForwardShape { public static int Hidden => 64; public static int Intermediate => 96; public static int TopK => 1; }
public struct TorchDense : IFeedForwardShape { public static int Hidden => 96; public static int Intermediate => 200; public static int TopK => 200; }

/// <summary>
/// MoCGen's CPU feed-forward kernels (fp32) against TorchSharp autograd (fp64) with the same weights and inputs:
/// y, dL/dx and the three weight gradients for L = sum(y * r). Tolerance: ||ours - torch||_inf <= 1e-4 ||torch||_inf.
/// Why: each value is a sum of at most d + K (about 300) fp32 products; rounding errs by about sqrt(n) u ~ 1e-6 of the
/// terms' scale, and cancellation can make the terms ten times larger than the result, so 1e-5 is typical and
/// 1e-4 leaves headroom, while any wrong formula or wrong selection is off by O(1).
/// Inputs are drawn so that no token has a near-tie at its K-th gate value (torch's topk orders ties arbitrarily).
/// </summary>
public sealed class FeedForwardTorchTests
{
    static FeedForwardTorchTests() => torch.set_num_threads(1);

    [Fact] public void OddShapes() => Compare<TorchOdd>(37, 1);
    [Fact] public void OneEighth() => Compare<TorchEighth>(80, 2);
    [Fact] public void KEqualsOne() => Compare<TorchKOne>(9, 3);
    [Fact] public void DenseTwin() => Compare<TorchDense>(70, 4);

    private static void Compare<TShape>(int tokens, int seed) where TShape : struct, IFeedForwardShape
    {
        int d = TShape.Hidden, f = TShape.Intermediate, k = TShape.TopK;
        var random = new Random(seed);
        float[] Fill(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        var wg = Fill(f * d, 1 / Math.Sqrt(d));
        var wu = Fill(f * d, 1 / Math.Sqrt(d));
        var wdT = Fill(f * d, 1 / Math.Sqrt(f));
        var x = new float[tokens * d];
        for (int t = 0; t < tokens; t++)
        {
            for (int attempt = 0; attempt < 500; attempt++)
            {
                Array.Copy(Fill(d, 1), 0, x, t * d, d);
                if (k == f || Margin(x, t, wg, d, f, k) > 1e-3) break;
            }
        }
        var r = Fill(tokens * d, 1);

        // Ours.
        var index = new ushort[k == f ? 0 : tokens * k];
        var savedGate = new float[tokens * k];
        var savedUp = new float[tokens * k];
        var y = new float[tokens * d];
        var weights = new FeedForwardWeights(wg, wu, wdT);
        var saved = new FeedForwardSaved<ushort>(index, savedGate, savedUp);
        MoCFeedForward<TShape, ushort>.Forward(tokens, x, weights, y, saved, new float[MoCFeedForward<TShape, ushort>.GateScratchLength(tokens)]);
        var gx = new float[tokens * d];
        var dg = new float[f * d];
        var du = new float[f * d];
        var ddT = new float[f * d];
        MoCFeedForward<TShape, ushort>.Backward(tokens, x, weights, saved, r, gx, new FeedForwardGradients(dg, du, ddT),
            new float[MoCFeedForward<TShape, ushort>.BackwardScratchLength(tokens)]);

        // TorchSharp, fp64, autograd.
        using var scope = torch.NewDisposeScope();
        Tensor T(float[] v, long rows, long cols) => tensor(v.Select(a => (double)a).ToArray(), new[] { rows, cols }).requires_grad_(true);
        var tx = T(x, tokens, d);
        var tg = T(wg, f, d);
        var tu = T(wu, f, d);
        var tdT = T(wdT, f, d);
        var td = tdT.t(); // Hugging Face layout [d, d_ff]
        var ty = TorchFeedForward.Forward(tx, tg, tu, td, k);
        var loss = (ty * tensor(r.Select(a => (double)a).ToArray(), new long[] { tokens, d })).sum();
        loss.backward();

        AssertClose("y", ty, y);
        AssertClose("dL/dx", tx.grad!, gx);
        AssertClose("dL/dW_gate", tg.grad!, dg);
        AssertClose("dL/dW_up", tu.grad!, du);
        AssertClose("dL/dW_down", tdT.grad!, ddT);
    }

    private static double Margin(float[] x, int t, float[] wg, int d, int f, int k)
    {
        var g = new double[f];
        for (int j = 0; j < f; j++)
            for (int i = 0; i < d; i++) g[j] += (double)wg[j * d + i] * x[t * d + i];
        var sorted = g.OrderByDescending(v => v).ToArray();
        return sorted[k - 1] - sorted[k];
    }

    private static void AssertClose(string what, Tensor expected, float[] actual)
    {
        var e = expected.detach().contiguous().cpu().data<double>().ToArray();
        Assert.Equal(e.Length, actual.Length);
        double scale = e.Max(Math.Abs), worst = 0;
        int at = 0;
        for (int i = 0; i < e.Length; i++)
        {
            var err = Math.Abs(actual[i] - e[i]);
            if (err > worst) { worst = err; at = i; }
        }
        Assert.True(worst <= 1e-4 * scale, $"{what}: max error {worst:E3} at {at} (torch {e[at]}, ours {actual[at]}), scale {scale:E3}");
    }
}
