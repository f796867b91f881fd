using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// Hyper-parameters of <see cref="AdamW"/> other than the learning rate (which the schedule supplies per step). Doubles,
/// as PyTorch holds them (Python floats); the update forms its scalars in double and rounds them to fp32 once.
/// </summary>
public sealed record AdamWOptions
{
    /// <summary>Decay of the first moment, beta1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Decay of the second moment, beta2 (0.95 is usual for language models; PyTorch's default is 0.999).</summary>
    public double Beta2 { get; init; } = 0.95;

    /// <summary>eps, added to sqrt(v-hat).</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay coefficient (applied only to segments with <see cref="AdamWSegment.Decay"/>).</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Global gradient L2 norm above which gradients are scaled down to it; 0 or infinity turns clipping off.</summary>
    public double MaxGradNorm { get; init; } = 1;

    /// <summary>Throws when a value is out of its range.</summary>
    public void Validate()
    {
        if (!(Beta1 >= 0 && Beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, $"Beta1 must be in [0, 1) (got {Beta1}).");
        if (!(Beta2 >= 0 && Beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, $"Beta2 must be in [0, 1) (got {Beta2}).");
        if (!(Epsilon >= 0) || double.IsInfinity(Epsilon))
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, $"Epsilon must be finite and >= 0 (got {Epsilon}).");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay))
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, $"WeightDecay must be finite and >= 0 (got {WeightDecay}).");
        if (!(MaxGradNorm >= 0))
            throw new ArgumentOutOfRangeException(nameof(MaxGradNorm), MaxGradNorm, $"MaxGradNorm must be >= 0 (got {MaxGradNorm}).");
    }
}

/// <summary>
/// One parameter tensor inside flat buffers (parameters, gradients, m and v share one layout): floats
/// [Offset, Offset + Length), whether it takes weight decay (matrices do; norm gains typically do not), and a name
/// for messages (e.g. its checkpoint name).
/// </summary>
/// <param name="Offset">First float of the tensor in every buffer.</param>
/// <param name="Length">Floats in the tensor.</param>
/// <param name="Decay">Apply decoupled weight decay to it.</param>
/// <param name="Name">Name for messages; may be null.</param>
public readonly record struct AdamWSegment(int Offset, int Length, bool Decay, string? Name = null);

/// <summary>What one <see cref="AdamW.Step"/> did.</summary>
/// <param name="GradientNorm">Global L2 norm of the gradients before clipping (computed in double).</param>
/// <param name="ClipScale">Factor the gradients were multiplied by (1 when not clipped).</param>
/// <param name="Applied">False when the norm was not finite: nothing was changed (parameters, m and v are as before).</param>
/// <param name="Message">Why the step was not applied (the first tensor and index holding a NaN or infinity), else null.</param>
public readonly record struct AdamWStepResult(double GradientNorm, float ClipScale, bool Applied, string? Message);

/// <summary>
/// AdamW with decoupled weight decay, with PyTorch's <c>torch.optim.AdamW</c> semantics and operation order (fp32
/// state, step t counted from 1):
/// p *= 1 - lr wd (decayed tensors only); m += (1 - b1)(g - m); v = b2 v + (1 - b2) g^2;
/// p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
/// <see cref="Step"/> adds global gradient-norm clipping as <c>torch.nn.utils.clip_grad_norm_</c> does it
/// (g *= max / (norm + 1e-6) when norm &gt; max; here applied on the fly, gradients are not modified) and refuses a
/// step whose gradient norm is not finite. Results do not depend on the thread count.
/// </summary>
public static unsafe class AdamW
{
    /// <summary>Floats per chunk of the parallel loops; also the fixed unit of the norm's partial sums.</summary>
    private const int Chunk = 1 << 15;

    /// <summary>
    /// One optimizer step over tensors laid out in flat buffers: global gradient norm, non-finite check, clipping,
    /// then <see cref="Update"/> of every segment.
    /// </summary>
    /// <param name="parameters">All parameters.</param>
    /// <param name="gradients">Their gradients, same layout; not modified.</param>
    /// <param name="m">First moments, same layout (zeros before step 1).</param>
    /// <param name="v">Second moments, same layout (zeros before step 1).</param>
    /// <param name="segments">The tensors; must not overlap one another.</param>
    /// <param name="step">This step's number t, from 1 (bias correction uses it).</param>
    /// <param name="learningRate">This step's learning rate.</param>
    /// <param name="options">The other hyper-parameters.</param>
    /// <returns>The norm, the clip factor, and whether the step was applied.</returns>
    public static AdamWStepResult Step(Span<float> parameters, ReadOnlySpan<float> gradients, Span<float> m, Span<float> v,
        ReadOnlySpan<AdamWSegment> segments, long step, double learningRate, AdamWOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        CheckStep(step, learningRate);
        foreach (var s in segments)
        {
            if (s.Offset < 0 || s.Length < 0)
                throw new ArgumentException($"Segment {Describe(s)} has a negative offset or length.", nameof(segments));
            long end = (long)s.Offset + s.Length;
            CheckEnd(s, end, parameters.Length, nameof(parameters));
            CheckEnd(s, end, gradients.Length, nameof(gradients));
            CheckEnd(s, end, m.Length, nameof(m));
            CheckEnd(s, end, v.Length, nameof(v));
        }

        double sumSquares = 0;
        foreach (var s in segments) sumSquares += SumOfSquares(gradients.Slice(s.Offset, s.Length));
        double norm = Math.Sqrt(sumSquares);
        if (!double.IsFinite(norm))
            return new AdamWStepResult(norm, 1f, false, NonFiniteMessage(gradients, segments, norm, step));

        float clip = ClipScale(norm, options.MaxGradNorm);
        foreach (var s in segments)
            Update(parameters.Slice(s.Offset, s.Length), gradients.Slice(s.Offset, s.Length), m.Slice(s.Offset, s.Length), v.Slice(s.Offset, s.Length),
                step, learningRate, options, s.Decay, clip);
        return new AdamWStepResult(norm, clip, true, null);
    }

    /// <summary>
    /// Updates one tensor with gradient <paramref name="gradientScale"/> * g (the clip factor; gradients are not modified).
    /// For tensors kept in separate buffers: sum <see cref="SumOfSquares"/> over all of them, take
    /// <see cref="ClipScale"/> of the root, then call this for each.
    /// </summary>
    /// <param name="parameters">The tensor's parameters, updated in place.</param>
    /// <param name="gradients">Their gradients.</param>
    /// <param name="m">First moments, updated.</param>
    /// <param name="v">Second moments, updated.</param>
    /// <param name="step">This step's number t, from 1.</param>
    /// <param name="learningRate">This step's learning rate.</param>
    /// <param name="options">The other hyper-parameters (MaxGradNorm is not used here).</param>
    /// <param name="decay">Apply decoupled weight decay.</param>
    /// <param name="gradientScale">Factor applied to the gradients (clipping).</param>
    public static void Update(Span<float> parameters, ReadOnlySpan<float> gradients, Span<float> m, Span<float> v,
        long step, double learningRate, AdamWOptions options, bool decay, float gradientScale = 1f)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckStep(step, learningRate);
        int n = parameters.Length;
        if (gradients.Length != n || m.Length != n || v.Length != n)
            throw new ArgumentException($"parameters ({n}), gradients ({gradients.Length}), m ({m.Length}) and v ({v.Length}) must have the same length.");
        if (n == 0)
            return;

        // Scalars as PyTorch forms them: in double, then used in fp32 arithmetic.
        double b1 = options.Beta1, b2 = options.Beta2, lr = learningRate;
        var k = new Constants
        {
            Decay = decay ? (float)(1 - lr * options.WeightDecay) : 1f,
            OneMinusBeta1 = (float)(1 - b1),
            Beta2 = (float)b2,
            OneMinusBeta2 = (float)(1 - b2),
            StepSize = (float)(lr / (1 - Math.Pow(b1, step))),
            Bias2Sqrt = (float)Math.Sqrt(1 - Math.Pow(b2, step)),
            Epsilon = (float)options.Epsilon,
            GradientScale = gradientScale,
        };
        fixed (float* pp = parameters, pg = gradients, pm = m, pv = v)
        {
            nint ap = (nint)pp, ag = (nint)pg, am = (nint)pm, av = (nint)pv;
            int chunks = (n + Chunk - 1) / Chunk;
            if (chunks == 1)
                UpdateRange((float*)ap, (float*)ag, (float*)am, (float*)av, n, k);
            else
                Parallel.For(0, chunks, c =>
                {
                    long o = (long)c * Chunk;
                    UpdateRange((float*)ap + o, (float*)ag + o, (float*)am + o, (float*)av + o, (int)Math.Min(Chunk, n - o), k);
                });
        }
    }

    /// <summary>
    /// Sum of squares in double, in fixed chunks whose partial sums are added in order (so the result does not
    /// depend on the thread count).
    /// </summary>
    /// <param name="values">The values.</param>
    /// <returns>sum of values[i]^2.</returns>
    public static double SumOfSquares(ReadOnlySpan<float> values)
    {
        int n = values.Length, chunks = (n + Chunk - 1) / Chunk;
        if (chunks <= 1)
        {
            fixed (float* p = values) return SumOfSquaresRange(p, n);
        }
        var partials = new double[chunks];
        fixed (float* p = values)
        {
            nint a = (nint)p;
            Parallel.For(0, chunks, c =>
            {
                long o = (long)c * Chunk;
                partials[c] = SumOfSquaresRange((float*)a + o, (int)Math.Min(Chunk, n - o));
            });
        }
        double s = 0;
        foreach (double x in partials) s += x;
        return s;
    }

    /// <summary>
    /// The clip factor of <c>torch.nn.utils.clip_grad_norm_</c>: min(1, max / (norm + 1e-6)); 1 when
    /// <paramref name="maxNorm"/> is 0 or infinity (clipping off).
    /// </summary>
    /// <param name="norm">Global gradient L2 norm.</param>
    /// <param name="maxNorm">The largest norm allowed.</param>
    /// <returns>The factor to multiply the gradients by.</returns>
    public static float ClipScale(double norm, double maxNorm)
    {
        if (maxNorm <= 0 || double.IsPositiveInfinity(maxNorm))
            return 1f;
        double coefficient = maxNorm / (norm + 1e-6);
        return coefficient < 1 ? (float)coefficient : 1f;
    }

    // ---- kernels ------------------------------------------------------------------------------

    private struct Constants
    {
        public float Decay, OneMinusBeta1, Beta2, OneMinusBeta2, StepSize, Bias2Sqrt, Epsilon, GradientScale;
    }

    /// <summary>
    /// The element-wise update, operation for operation as PyTorch's single-tensor AdamW (no fused multiply-adds, so
    /// each step rounds where PyTorch's does). Bias2Sqrt holds sqrt(1 - b2^t), the divisor.
    /// </summary>
    private static void UpdateRange(float* p, float* g, float* m, float* v, int n, in Constants k)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<float> decay = new(k.Decay), a1 = new(k.OneMinusBeta1), b2 = new(k.Beta2), a2 = new(k.OneMinusBeta2),
            stepSize = new(k.StepSize), bias2 = new(k.Bias2Sqrt), eps = new(k.Epsilon), scale = new(k.GradientScale);
        bool scaled = k.GradientScale != 1f;
        for (; i <= n - w; i += w)
        {
            var gi = Load(g + i);
            if (scaled) gi *= scale;
            var pi = Load(p + i) * decay;
            var mi = Load(m + i);
            mi += a1 * (gi - mi);
            var vi = Load(v + i) * b2 + a2 * gi * gi;
            var denom = Vector.SquareRoot(vi) / bias2 + eps;
            pi -= stepSize * (mi / denom);
            Store(p + i, pi);
            Store(m + i, mi);
            Store(v + i, vi);
        }
        for (; i < n; i++)
        {
            float gi = g[i];
            if (scaled) gi *= k.GradientScale;
            float pi = p[i] * k.Decay;
            float mi = m[i];
            mi += k.OneMinusBeta1 * (gi - mi);
            float vi = v[i] * k.Beta2 + k.OneMinusBeta2 * gi * gi;
            float denom = MathF.Sqrt(vi) / k.Bias2Sqrt + k.Epsilon;
            pi -= k.StepSize * (mi / denom);
            p[i] = pi;
            m[i] = mi;
            v[i] = vi;
        }
    }

    private static double SumOfSquaresRange(float* x, int n)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<double> a0 = default, a1 = default;
        for (; i <= n - w; i += w)
        {
            Vector.Widen(Load(x + i), out var lo, out var hi);
            a0 += lo * lo;
            a1 += hi * hi;
        }
        double s = Vector.Sum(a0 + a1);
        for (; i < n; i++) s += (double)x[i] * x[i];
        return s;
    }

    private static string NonFiniteMessage(ReadOnlySpan<float> gradients, ReadOnlySpan<AdamWSegment> segments, double norm, long step)
    {
        foreach (var s in segments)
        {
            var g = gradients.Slice(s.Offset, s.Length);
            for (int i = 0; i < g.Length; i++)
                if (!float.IsFinite(g[i]))
                    return $"Step {step}: the gradient norm is {norm}; the first non-finite gradient is {g[i]} in {Describe(s)} at index {i}. Nothing was updated.";
        }
        return $"Step {step}: the gradient norm is {norm} (the sum of squares overflowed). Nothing was updated.";
    }

    private static string Describe(AdamWSegment s) => s.Name is { } name ? $"'{name}' [{s.Offset}, +{s.Length})" : $"[{s.Offset}, +{s.Length})";

    private static void CheckEnd(AdamWSegment s, long end, int length, string name)
    {
        if (end > length)
            throw new ArgumentException($"Segment {Describe(s)} ends at {end}, past the end of {name} ({length} floats).", name);
    }

    private static void CheckStep(long step, double learningRate)
    {
        if (step < 1)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"step counts from 1 (got {step}).");
        if (!(learningRate >= 0) || double.IsInfinity(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, $"learningRate must be finite and >= 0 (got {learningRate}).");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(float* p) => Unsafe.ReadUnaligned<Vector<float>>(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* p, Vector<float> v) => Unsafe.WriteUnaligned(p, v);
}
