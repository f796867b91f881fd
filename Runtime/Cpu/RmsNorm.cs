using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// RMSNorm as in LLaMA (Hugging Face <c>LlamaRMSNorm</c>), fp32, rows of <c>width</c> floats:
/// y = (x * rstd) * w with rstd = 1 / sqrt(mean(x^2) + eps) per row. Forward keeps rstd per row for backward.
/// Results do not depend on the number of threads: every sum runs in a fixed order.
/// </summary>
public static unsafe class RmsNorm
{
    /// <summary>Elements below which one thread does the whole call (waking a pool thread costs ~10 us).</summary>
    private const long ParallelThreshold = 1 << 16;

    /// <summary>
    /// y = x * rstd * weight for <paramref name="rows"/> rows of x [rows, width]; rstd [rows] is written for backward.
    /// </summary>
    /// <param name="rows">Rows (tokens).</param>
    /// <param name="width">Elements per row (hidden size).</param>
    /// <param name="x">Input, [rows, width].</param>
    /// <param name="weight">Gain w, [width].</param>
    /// <param name="epsilon">eps added to the mean square.</param>
    /// <param name="y">Output, [rows, width]; may be the same memory as <paramref name="x"/> (in place), no other overlap.</param>
    /// <param name="rstd">Output, [rows]: 1 / sqrt(mean(x^2) + eps) of each row.</param>
    public static void Forward(int rows, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon,
        Span<float> y, Span<float> rstd)
    {
        CheckSizes(rows, width, x.Length, nameof(x), weight.Length);
        Require(y.Length >= (long)rows * width, nameof(y), $"y holds {y.Length} floats; {rows} x {width} are needed.");
        Require(rstd.Length >= rows, nameof(rstd), $"rstd holds {rstd.Length} floats; {rows} are needed.");
        Require(epsilon >= 0 && float.IsFinite(epsilon), nameof(epsilon), $"epsilon must be finite and >= 0 (got {epsilon}).");
        if (rows == 0)
            return;

        fixed (float* px = x, pw = weight, py = y, pr = rstd)
        {
            nint ax = (nint)px, aw = (nint)pw, ay = (nint)py, ar = (nint)pr;
            ForRows(rows, width, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    float* xr = (float*)ax + (long)r * width, yr = (float*)ay + (long)r * width;
                    float s = SumOfSquares(xr, width);
                    float rs = 1f / MathF.Sqrt(s / width + epsilon);
                    ((float*)ar)[r] = rs;
                    ScaleMultiply(yr, xr, rs, (float*)aw, width);
                }
            });
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/>. With g = dy * w and c = rstd^2 * sum(g * x) / width:
    /// dx = rstd * (g - c x); dWeight += sum over rows of dy * x * rstd.
    /// </summary>
    /// <param name="rows">Rows (tokens).</param>
    /// <param name="width">Elements per row.</param>
    /// <param name="x">The forward input, [rows, width].</param>
    /// <param name="weight">Gain w, [width].</param>
    /// <param name="rstd">What <see cref="Forward"/> wrote, [rows].</param>
    /// <param name="dy">dL/dy, [rows, width].</param>
    /// <param name="dx">dL/dx, [rows, width]: overwritten, or added to when <paramref name="accumulateDx"/>. May be the
    /// same memory as <paramref name="dy"/> (then not accumulating), no other overlap.</param>
    /// <param name="dWeight">dL/dw, [width]: added to.</param>
    /// <param name="accumulateDx">True: dx += the gradient (a residual stream's gradient); false: dx = the gradient.</param>
    public static void Backward(int rows, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dWeight, bool accumulateDx = false)
    {
        CheckSizes(rows, width, x.Length, nameof(x), weight.Length);
        Require(rstd.Length >= rows, nameof(rstd), $"rstd holds {rstd.Length} floats; {rows} are needed.");
        Require(dy.Length >= (long)rows * width, nameof(dy), $"dy holds {dy.Length} floats; {rows} x {width} are needed.");
        Require(dx.Length >= (long)rows * width, nameof(dx), $"dx holds {dx.Length} floats; {rows} x {width} are needed.");
        Require(dWeight.Length >= width, nameof(dWeight), $"dWeight holds {dWeight.Length} floats; {width} are needed.");
        if (rows == 0)
            return;

        fixed (float* px = x, pw = weight, pr = rstd, pdy = dy, pdx = dx, pdw = dWeight)
        {
            nint ax = (nint)px, aw = (nint)pw, ar = (nint)pr, ady = (nint)pdy, adx = (nint)pdx, adw = (nint)pdw;
            // dWeight first: dx may overwrite dy in place. Columns are split between threads, and every column sums its
            // rows in order, so the result does not depend on the thread count.
            int threads = Threads((long)rows * width, width / 64);
            if (threads <= 1)
                WeightGradient((float*)ax, (float*)ady, (float*)ar, (float*)adw, rows, width, 0, width);
            else
                Parallel.For(0, threads, t =>
                {
                    int c0 = Split(width, threads, t), c1 = Split(width, threads, t + 1);
                    WeightGradient((float*)ax, (float*)ady, (float*)ar, (float*)adw, rows, width, c0, c1);
                });

            ForRows(rows, width, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    long o = (long)r * width;
                    float rs = ((float*)ar)[r];
                    float* xr = (float*)ax + o, gr = (float*)ady + o, dr = (float*)adx + o;
                    float dot = WeightedDot(gr, (float*)aw, xr, width);
                    float c = rs * rs * dot / width;
                    InputGradient(dr, gr, (float*)aw, xr, rs, c, width, accumulateDx);
                }
            });
        }
    }

    // ---- kernels ------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumOfSquares(float* x, int n)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<float> a0 = default, a1 = default;
        for (; i <= n - 2 * w; i += 2 * w)
        {
            var v0 = Load(x + i);
            var v1 = Load(x + i + w);
            a0 = Vector.FusedMultiplyAdd(v0, v0, a0);
            a1 = Vector.FusedMultiplyAdd(v1, v1, a1);
        }
        for (; i <= n - w; i += w)
        {
            var v = Load(x + i);
            a0 = Vector.FusedMultiplyAdd(v, v, a0);
        }
        float s = Vector.Sum(a0 + a1);
        for (; i < n; i++) s += x[i] * x[i];
        return s;
    }

    /// <summary>y = (x * s) * w, rounded as Hugging Face rounds it (normalize, then scale).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleMultiply(float* y, float* x, float s, float* w, int n)
    {
        int vw = Vector<float>.Count, i = 0;
        var vs = new Vector<float>(s);
        for (; i <= n - vw; i += vw)
            Store(y + i, Load(x + i) * vs * Load(w + i));
        for (; i < n; i++) y[i] = x[i] * s * w[i];
    }

    /// <summary>sum(g * w * x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float WeightedDot(float* g, float* w, float* x, int n)
    {
        int vw = Vector<float>.Count, i = 0;
        Vector<float> acc = default;
        for (; i <= n - vw; i += vw)
            acc = Vector.FusedMultiplyAdd(Load(g + i) * Load(w + i), Load(x + i), acc);
        float s = Vector.Sum(acc);
        for (; i < n; i++) s += g[i] * w[i] * x[i];
        return s;
    }

    /// <summary>d (=|+=) rs * (g * w - c * x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InputGradient(float* d, float* g, float* w, float* x, float rs, float c, int n, bool accumulate)
    {
        int vw = Vector<float>.Count, i = 0;
        Vector<float> vr = new(rs), vc = new(c);
        if (accumulate)
        {
            for (; i <= n - vw; i += vw)
                Store(d + i, Vector.FusedMultiplyAdd(vr, Load(g + i) * Load(w + i) - vc * Load(x + i), Load(d + i)));
            for (; i < n; i++) d[i] += rs * (g[i] * w[i] - c * x[i]);
        }
        else
        {
            for (; i <= n - vw; i += vw)
                Store(d + i, vr * (Load(g + i) * Load(w + i) - vc * Load(x + i)));
            for (; i < n; i++) d[i] = rs * (g[i] * w[i] - c * x[i]);
        }
    }

    /// <summary>dw[c0..c1) += sum over rows, in row order, of dy * x * rstd.</summary>
    private static void WeightGradient(float* x, float* dy, float* rstd, float* dw, int rows, int width, int c0, int c1)
    {
        for (int r = 0; r < rows; r++)
        {
            long o = (long)r * width;
            float* xr = x + o, gr = dy + o;
            int vw = Vector<float>.Count, i = c0;
            var vr = new Vector<float>(rstd[r]);
            for (; i <= c1 - vw; i += vw)
                Store(dw + i, Vector.FusedMultiplyAdd(Load(gr + i), Load(xr + i) * vr, Load(dw + i)));
            for (; i < c1; i++) dw[i] += gr[i] * (xr[i] * rstd[r]);
        }
    }

    // ---- plumbing -----------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(float* p) => Unsafe.ReadUnaligned<Vector<float>>(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* p, Vector<float> v) => Unsafe.WriteUnaligned(p, v);

    private static int Threads(long work, int maxParts) =>
        work < ParallelThreshold ? 1 : Math.Max(1, Math.Min(Environment.ProcessorCount, maxParts));

    private static int Split(int total, int parts, int part) => (int)((long)total * part / parts);

    /// <summary>Runs <paramref name="body"/> over row ranges: on this thread when small, else one range per core.</summary>
    private static void ForRows(int rows, int width, Action<int, int> body)
    {
        int threads = Threads((long)rows * width, rows);
        if (threads <= 1)
        {
            body(0, rows);
            return;
        }
        Parallel.For(0, threads, t => body(Split(rows, threads, t), Split(rows, threads, t + 1)));
    }

    private static void CheckSizes(int rows, int width, int xLength, string xName, int weightLength)
    {
        if (rows < 0)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be >= 0 (got {rows}).");
        if (width <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"width must be > 0 (got {width}).");
        Require(xLength >= (long)rows * width, xName, $"{xName} holds {xLength} floats; {rows} x {width} are needed.");
        Require(weightLength >= width, "weight", $"weight holds {weightLength} floats; {width} are needed.");
    }

    private static void Require(bool condition, string name, string message)
    {
        if (!condition)
            throw new ArgumentException(message, name);
    }
}
