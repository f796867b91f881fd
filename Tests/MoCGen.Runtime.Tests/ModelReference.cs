using System;
using System.Linq;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Scalar double-precision references for the decoder kernels (RMSNorm, RoPE, attention, cross-entropy, embedding,
/// AdamW), written from the formulas, not from the kernels. Several also return "magnitudes": the same sums with
/// every term replaced by its absolute value, which scale the fp32 rounding bounds (recursive summation of n terms
/// errs by at most about n u sum|terms|, u = 2^-24).
/// </summary>
internal static class ModelReference
{
    public const double U = 1.0 / (1 << 24);

    public static float[] Random(int n, int seed, double scale = 1)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    // ---- RMSNorm ------------------------------------------------------------------------------

    public sealed record RmsNormResult(double[] Y, double[] Rstd, double[] Dx, double[] Dw, double[] DxMagnitude, double[] DwMagnitude);

    /// <summary>y = x r w, r = 1/sqrt(mean x^2 + eps); dx = r (g - x r^2 sum(g x)/n), g = dy w; dw = sum_rows dy x r.</summary>
    public static RmsNormResult RmsNorm(int rows, int width, float[] x, float[] w, double eps, float[]? dy)
    {
        var y = new double[rows * width];
        var rstd = new double[rows];
        var dx = new double[rows * width];
        var dw = new double[width];
        var dxm = new double[rows * width];
        var dwm = new double[width];
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int i = 0; i < width; i++) ss += (double)x[r * width + i] * x[r * width + i];
            double rs = 1 / Math.Sqrt(ss / width + eps);
            rstd[r] = rs;
            for (int i = 0; i < width; i++) y[r * width + i] = x[r * width + i] * rs * w[i];
            if (dy is null) continue;
            double dot = 0, dotm = 0;
            for (int i = 0; i < width; i++)
            {
                double g = (double)dy[r * width + i] * w[i];
                dot += g * x[r * width + i];
                dotm += Math.Abs(g * x[r * width + i]);
            }
            for (int i = 0; i < width; i++)
            {
                int at = r * width + i;
                double g = (double)dy[at] * w[i];
                dx[at] = rs * (g - x[at] * rs * rs * dot / width);
                dxm[at] = rs * (Math.Abs(g) + Math.Abs(x[at]) * rs * rs * dotm / width);
                dw[i] += dy[at] * x[at] * rs;
                dwm[i] += Math.Abs(dy[at] * x[at] * rs);
            }
        }
        return new RmsNormResult(y, rstd, dx, dw, dxm, dwm);
    }

    // ---- RoPE ---------------------------------------------------------------------------------

    /// <summary>The angle of pair i at position p, in double: p * theta^(-2i/d).</summary>
    public static double RopeAngle(int p, int i, int headDim, double theta) => p * Math.Pow(theta, -2.0 * i / headDim);

    /// <summary>rotate_half rotation of x [tokens, heads*d] with given cos/sin per (position, pair); inverse negates the angle.</summary>
    public static double[] Rotate(float[] x, int tokens, int heads, int d, int[] positions, Func<int, int, (double Cos, double Sin)> cs, bool inverse)
    {
        var y = new double[tokens * heads * d];
        int half = d / 2;
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    var (c, s) = cs(positions[t], i);
                    if (inverse) s = -s;
                    int at = (t * heads + h) * d + i;
                    double a = x[at], b = x[at + half];
                    y[at] = a * c - b * s;
                    y[at + half] = b * c + a * s;
                }
        return y;
    }

    // ---- Attention ----------------------------------------------------------------------------

    public sealed record AttentionResult(double[] O, double[] Lse, double[] Dq, double[] Dk, double[] Dv,
        double[] OBound, double[] LseBound, double[] DqBound, double[] DkBound, double[] DvBound);

    /// <summary>
    /// Causal grouped-query attention, naive (full T x T probabilities per (sequence, head)), forward and (when dO is
    /// given) backward. Also returns first-order fp32 error estimates per element: rel_i times the output evaluated with
    /// magnitudes (|v|, |dO|, |dP| + |D| in place of dP - D, ...), where rel_i = u (2 d sigma_i + T + d + 8) and
    /// sigma_i = max_j scale sum_c |q_ic k_jc| (see AttentionTests for the argument).
    /// </summary>
    public static AttentionResult Attention(int batch, int T, int heads, int kvHeads, int d, float[] q, float[] k, float[] v, float[]? dO)
    {
        int qw = heads * d, kw = kvHeads * d, group = heads / kvHeads;
        double scale = 1 / Math.Sqrt(d);
        int tokens = batch * T;
        var o = new double[tokens * qw];
        var lse = new double[tokens * heads];
        var lseb = new double[tokens * heads];
        var dq = new double[tokens * qw];
        var dk = new double[tokens * kw];
        var dv = new double[tokens * kw];
        var ob = new double[tokens * qw];
        var dqb = new double[tokens * qw];
        var dkb = new double[tokens * kw];
        var dvb = new double[tokens * kw];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / group;
                double Q(int t, int c) => q[(b * T + t) * qw + h * d + c];
                double K(int t, int c) => k[(b * T + t) * kw + g * d + c];
                double V(int t, int c) => v[(b * T + t) * kw + g * d + c];
                var P = new double[T, T];
                var relative = new double[T]; // the rounding-error factor of row i (see AttentionTests)
                for (int i = 0; i < T; i++)
                {
                    var s = new double[i + 1];
                    double sigma = 0;
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0, mag = 0;
                        for (int c = 0; c < d; c++) { dot += Q(i, c) * K(j, c); mag += Math.Abs(Q(i, c) * K(j, c)); }
                        s[j] = dot * scale;
                        sigma = Math.Max(sigma, mag * scale);
                    }
                    double max = s.Max(), sum = 0;
                    for (int j = 0; j <= i; j++) sum += Math.Exp(s[j] - max);
                    double l = max + Math.Log(sum);
                    lse[(b * T + i) * heads + h] = l;
                    for (int j = 0; j <= i; j++) P[i, j] = Math.Exp(s[j] - l);
                    relative[i] = U * (2 * d * sigma + T + d + 8);
                    lseb[(b * T + i) * heads + h] = relative[i] + U * Math.Abs(l);
                    for (int c = 0; c < d; c++)
                    {
                        double acc = 0, mag = 0;
                        for (int j = 0; j <= i; j++) { acc += P[i, j] * V(j, c); mag += P[i, j] * Math.Abs(V(j, c)); }
                        o[(b * T + i) * qw + h * d + c] = acc;
                        ob[(b * T + i) * qw + h * d + c] = relative[i] * mag;
                    }
                }
                if (dO is null) continue;

                double DO(int t, int c) => dO[(b * T + t) * qw + h * d + c];
                var dS = new double[T, T];
                var dSm = new double[T, T];
                for (int i = 0; i < T; i++)
                {
                    double D = 0, Dm = 0;
                    for (int c = 0; c < d; c++)
                    {
                        D += DO(i, c) * o[(b * T + i) * qw + h * d + c];
                        Dm += Math.Abs(DO(i, c)) * ob[(b * T + i) * qw + h * d + c] / relative[i];
                    }
                    for (int j = 0; j <= i; j++)
                    {
                        double dP = 0, dPm = 0;
                        for (int c = 0; c < d; c++) { dP += DO(i, c) * V(j, c); dPm += Math.Abs(DO(i, c) * V(j, c)); }
                        dS[i, j] = P[i, j] * (dP - D);
                        dSm[i, j] = P[i, j] * (dPm + Dm);
                    }
                }
                double maxRelative = relative.Max();
                for (int i = 0; i < T; i++)
                    for (int c = 0; c < d; c++)
                    {
                        double acc = 0, mag = 0;
                        for (int j = 0; j <= i; j++) { acc += dS[i, j] * K(j, c); mag += dSm[i, j] * Math.Abs(K(j, c)); }
                        dq[(b * T + i) * qw + h * d + c] = acc * scale;
                        dqb[(b * T + i) * qw + h * d + c] = relative[i] * mag * scale;
                    }
                for (int j = 0; j < T; j++)
                    for (int c = 0; c < d; c++)
                    {
                        double ak = 0, mk = 0, av = 0, mv = 0;
                        for (int i = j; i < T; i++)
                        {
                            ak += dS[i, j] * Q(i, c); mk += dSm[i, j] * Math.Abs(Q(i, c));
                            av += P[i, j] * DO(i, c); mv += P[i, j] * Math.Abs(DO(i, c));
                        }
                        int at = (b * T + j) * kw + g * d + c;
                        dk[at] += ak * scale;
                        dkb[at] += maxRelative * mk * scale;
                        dv[at] += av;
                        dvb[at] += maxRelative * mv;
                    }
            }
        return new AttentionResult(o, lse, dq, dk, dv, ob, lseb, dqb, dkb, dvb);
    }

    // ---- Cross-entropy ------------------------------------------------------------------------

    /// <summary>Per-token losses, their mean, and dlogits = (softmax - onehot) / tokens, in double.</summary>
    public static (double[] Losses, double Mean, double[] Gradient) CrossEntropy(int tokens, int vocab, float[] logits, int[] targets)
    {
        var losses = new double[tokens];
        var grad = new double[tokens * vocab];
        for (int t = 0; t < tokens; t++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < vocab; j++) max = Math.Max(max, logits[t * vocab + j]);
            double sum = 0;
            for (int j = 0; j < vocab; j++) sum += Math.Exp(logits[t * vocab + j] - max);
            losses[t] = Math.Log(sum) + max - logits[t * vocab + targets[t]];
            for (int j = 0; j < vocab; j++)
                grad[t * vocab + j] = (Math.Exp(logits[t * vocab + j] - max) / sum - (j == targets[t] ? 1 : 0)) / tokens;
        }
        return (losses, losses.Average(), grad);
    }

    // ---- AdamW --------------------------------------------------------------------------------

    /// <summary>One AdamW step in double (PyTorch semantics), state updated in place.</summary>
    public static void AdamW(double[] p, double[] g, double[] m, double[] v, long step, double lr, double b1, double b2, double eps, double wd, bool decay, double gradScale)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double gi = g[i] * gradScale;
            if (decay) p[i] -= lr * wd * p[i];
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            double mhat = m[i] / (1 - Math.Pow(b1, step));
            double vhat = v[i] / (1 - Math.Pow(b2, step));
            p[i] -= lr * mhat / (Math.Sqrt(vhat) + eps);
        }
    }
}
