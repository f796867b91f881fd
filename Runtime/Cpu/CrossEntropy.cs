using System;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// Softmax cross-entropy over logits [tokens, vocab] with one target class per token, fp32, numerically stable
/// (the row maximum is subtracted before exponentiating): loss_t = log(sum_j exp(z_tj)) - z_t,target. The mean is
/// taken over tokens; backward is d(mean)/dz = (softmax(z) - onehot(target)) / tokens, written over the logits.
/// Every target is checked before anything is written.
/// </summary>
public static unsafe class CrossEntropy
{
    private const long ParallelThreshold = 1 << 16;

    /// <summary>Loss of every token; returns their mean (summed in double, in token order).</summary>
    /// <param name="tokens">Rows.</param>
    /// <param name="vocab">Classes per row.</param>
    /// <param name="logits">[tokens, vocab]; not modified.</param>
    /// <param name="targets">[tokens], each in [0, vocab).</param>
    /// <param name="losses">Output, [tokens]: the loss of each token.</param>
    /// <returns>The mean loss over tokens (NaN when tokens is 0).</returns>
    public static double Forward(int tokens, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> losses)
    {
        Check(tokens, vocab, logits.Length, targets, losses.Length);
        fixed (float* pz = logits, pl = losses)
        fixed (int* pt = targets)
        {
            nint az = (nint)pz, al = (nint)pl, at = (nint)pt;
            ForRows(tokens, vocab, (t0, t1) =>
            {
                for (int t = t0; t < t1; t++)
                {
                    float* z = (float*)az + (long)t * vocab;
                    float max = Max(z, vocab);
                    float sum = SumExp(z, vocab, max);
                    ((float*)al)[t] = MathF.Log(sum) + (max - z[((int*)at)[t]]);
                }
            });
        }
        return Mean(losses[..tokens]);
    }

    /// <summary>Writes dlogits = (softmax(z) - onehot(target)) / tokens over the logits, in place.</summary>
    /// <param name="tokens">Rows.</param>
    /// <param name="vocab">Classes per row.</param>
    /// <param name="logits">[tokens, vocab]: logits in, their gradient out.</param>
    /// <param name="targets">[tokens], each in [0, vocab).</param>
    public static void Backward(int tokens, int vocab, Span<float> logits, ReadOnlySpan<int> targets) =>
        Run(tokens, vocab, logits, targets, [], withLosses: false);

    /// <summary>
    /// <see cref="Forward"/> and <see cref="Backward"/> in one pass over the logits: writes the per-token losses, then
    /// overwrites the logits with their gradient; returns the mean loss.
    /// </summary>
    /// <param name="tokens">Rows.</param>
    /// <param name="vocab">Classes per row.</param>
    /// <param name="logits">[tokens, vocab]: logits in, dlogits = (softmax - onehot) / tokens out.</param>
    /// <param name="targets">[tokens], each in [0, vocab).</param>
    /// <param name="losses">Output, [tokens]: the loss of each token.</param>
    /// <returns>The mean loss over tokens (NaN when tokens is 0).</returns>
    public static double ForwardBackward(int tokens, int vocab, Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses)
    {
        Run(tokens, vocab, logits, targets, losses, withLosses: true);
        return Mean(losses[..tokens]);
    }

    /// <summary>Gradient in place; losses too when <paramref name="withLosses"/>.</summary>
    private static void Run(int tokens, int vocab, Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses, bool withLosses)
    {
        Check(tokens, vocab, logits.Length, targets, withLosses ? losses.Length : tokens);
        float invTokens = 1f / tokens;
        fixed (float* pz = logits, pl = losses)
        fixed (int* pt = targets)
        {
            nint az = (nint)pz, al = withLosses ? (nint)pl : 0, at = (nint)pt;
            ForRows(tokens, vocab, (t0, t1) =>
            {
                for (int t = t0; t < t1; t++)
                {
                    float* z = (float*)az + (long)t * vocab;
                    int target = ((int*)at)[t];
                    float max = Max(z, vocab);
                    float zt = z[target];
                    float sum = VectorMath.ExpShiftSum(z, vocab, max);
                    if (al != 0) ((float*)al)[t] = MathF.Log(sum) + (max - zt);
                    Scale(z, vocab, invTokens / sum);
                    z[target] -= invTokens;
                }
            });
        }
    }

    private static double Mean(ReadOnlySpan<float> values)
    {
        double s = 0;
        foreach (float v in values) s += v;
        return s / values.Length;
    }

    private static void ForRows(int tokens, int vocab, Action<int, int> body)
    {
        int threads = (long)tokens * vocab < ParallelThreshold ? 1 : Math.Min(Environment.ProcessorCount, tokens);
        if (threads <= 1)
        {
            body(0, tokens);
            return;
        }
        Parallel.For(0, threads, w => body((int)((long)tokens * w / threads), (int)((long)tokens * (w + 1) / threads)));
    }

    private static void Check(int tokens, int vocab, int logitsLength, ReadOnlySpan<int> targets, int lossesLength)
    {
        if (tokens < 0)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"tokens must be >= 0 (got {tokens}).");
        if (vocab <= 0)
            throw new ArgumentOutOfRangeException(nameof(vocab), vocab, $"vocab must be > 0 (got {vocab}).");
        if (logitsLength < (long)tokens * vocab)
            throw new ArgumentException($"logits holds {logitsLength} floats; {tokens} x {vocab} are needed.", "logits");
        if (targets.Length < tokens)
            throw new ArgumentException($"targets holds {targets.Length} entries; {tokens} are needed.", nameof(targets));
        if (lossesLength < tokens)
            throw new ArgumentException($"losses holds {lossesLength} floats; {tokens} are needed.", "losses");
        for (int t = 0; t < tokens; t++)
            if ((uint)targets[t] >= (uint)vocab)
                throw new ArgumentException(
                    $"Target of token {t} is {targets[t]}, outside [0, {vocab}): the vocabulary has {vocab} entries.", nameof(targets));
    }

    // ---- vector helpers -----------------------------------------------------------------------

    private static float Max(float* x, int n)
    {
        int i = 0;
        float m = float.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var a = Vector512.Create(float.NegativeInfinity);
            for (; i <= n - 16; i += 16) a = Vector512.Max(a, Vector512.Load(x + i));
            for (int j = 0; j < 16; j++) m = Math.Max(m, a.GetElement(j));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var a = Vector256.Create(float.NegativeInfinity);
            for (; i <= n - 8; i += 8) a = Vector256.Max(a, Vector256.Load(x + i));
            for (int j = 0; j < 8; j++) m = Math.Max(m, a.GetElement(j));
        }
        for (; i < n; i++) m = Math.Max(m, x[i]);
        return m;
    }

    /// <summary>sum of exp(x - shift), x unchanged.</summary>
    private static float SumExp(float* x, int n, float shift)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(shift);
            var acc = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16) acc += Vector512.Exp(Vector512.Load(x + i) - vs);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(shift);
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8) acc += Vector256.Exp(Vector256.Load(x + i) - vs);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += MathF.Exp(x[i] - shift);
        return sum;
    }

    private static void Scale(float* x, int n, float c)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vc = Vector512.Create(c);
            for (; i <= n - 16; i += 16) (Vector512.Load(x + i) * vc).Store(x + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vc = Vector256.Create(c);
            for (; i <= n - 8; i += 8) (Vector256.Load(x + i) * vc).Store(x + i);
        }
        for (; i < n; i++) x[i] *= c;
    }
}
