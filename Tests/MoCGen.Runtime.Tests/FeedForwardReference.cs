using System;
using System.Linq;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// The MoC feed-forward block in scalar double precision, written from DESIGN.md: the reference the CPU kernels
/// are checked against. With <c>magnitudes</c> every product uses absolute values, which gives the scale S of the
/// rounding-error bound (a sum's fp32 error is at most about n u times the sum of its terms' magnitudes).
/// </summary>
internal sealed class FeedForwardReference(int d, int f, int k)
{
    public int D { get; } = d;
    public int F { get; } = f;
    public int K { get; } = k;

    public static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));
    public static double Silu(double z) => z * Sigmoid(z);
    public static double SiluGrad(double z) { var s = Sigmoid(z); return s * (1 + z * (1 - s)); }

    /// <summary>Gate values of one token, in double.</summary>
    public double[] Gate(float[] x, int token, float[] wg)
    {
        var g = new double[F];
        for (int j = 0; j < F; j++)
        {
            double s = 0;
            for (int i = 0; i < D; i++) s += (double)wg[j * D + i] * x[token * D + i];
            g[j] = s;
        }
        return g;
    }

    /// <summary>The K largest gate values' channels, ascending; ties to the lower index.</summary>
    public int[] Select(double[] g) =>
        Enumerable.Range(0, F).OrderByDescending(j => g[j]).ThenBy(j => j).Take(K).OrderBy(j => j).ToArray();

    public sealed record Result(double[] Y, int[][] Selected, double[] Gx, double[] DGate, double[] DUp, double[] DDownT);

    /// <summary>Forward, and backward for gy when given. Weights as in FeedForwardWeights (W_d transposed).</summary>
    public Result Run(int tokens, float[] x, float[] wg, float[] wu, float[] wdT, float[]? gy, bool magnitudes = false, int[][]? selection = null)
    {
        Func<double, double> m = magnitudes ? Math.Abs : v => v;
        var y = new double[tokens * D];
        var gx = new double[tokens * D];
        var dg = new double[F * D];
        var du = new double[F * D];
        var dd = new double[F * D];
        var selected = new int[tokens][];
        for (int t = 0; t < tokens; t++)
        {
            var g = Gate(x, t, wg);
            var s = selection?[t] ?? Select(g);
            selected[t] = s;
            var gm = new double[F];
            for (int j = 0; j < F; j++)
            {
                double acc = 0;
                for (int i = 0; i < D; i++) acc += m(wg[j * D + i]) * m(x[t * D + i]);
                gm[j] = acc;
            }
            foreach (var j in s)
            {
                double u = 0;
                for (int i = 0; i < D; i++) u += m(wu[j * D + i]) * m(x[t * D + i]);
                double silu = magnitudes ? Math.Abs(Silu(g[j])) + gm[j] : Silu(g[j]);
                double h = silu * u;
                for (int i = 0; i < D; i++) y[t * D + i] += h * m(wdT[j * D + i]);
                if (gy is null) continue;

                double gh = 0;
                for (int i = 0; i < D; i++) gh += m(wdT[j * D + i]) * m(gy[t * D + i]);
                double gu = gh * silu;
                double gg = gh * u * (magnitudes ? Math.Abs(SiluGrad(g[j])) + 1 : SiluGrad(g[j]));
                for (int i = 0; i < D; i++)
                {
                    gx[t * D + i] += gg * m(wg[j * D + i]) + gu * m(wu[j * D + i]);
                    dg[j * D + i] += gg * m(x[t * D + i]);
                    du[j * D + i] += gu * m(x[t * D + i]);
                    dd[j * D + i] += h * m(gy[t * D + i]);
                }
            }
        }
        return new Result(y, selected, gx, dg, du, dd);
    }
}
