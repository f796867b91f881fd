using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// Cosine and sine tables of rotary position embeddings, [context, headDim / 2] each: entry (p, i) is
/// cos / sin of p * theta^(-2i / headDim). The angles are formed as Hugging Face's <c>LlamaRotaryEmbedding</c> forms
/// them, in fp32 (inverse frequency 1 / theta^(2i/d), then p times it, each rounded to fp32); only the cosine and
/// sine of each fp32 angle are taken in double and rounded once, so the tables match transformers' to about an ulp.
/// </summary>
public sealed class RopeTable
{
    private readonly float[] _cos, _sin;

    /// <summary>Builds the tables.</summary>
    /// <param name="context">Positions covered: 0 .. context - 1.</param>
    /// <param name="headDim">Head size; even.</param>
    /// <param name="theta">Base of the frequencies (LLaMA 1/2: 10000; LLaMA 3: 500000).</param>
    public RopeTable(int context, int headDim, double theta = 10000.0)
    {
        if (context <= 0)
            throw new ArgumentOutOfRangeException(nameof(context), context, $"context must be > 0 (got {context}).");
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"headDim must be even and > 0 (got {headDim}).");
        if (!(theta > 1) || double.IsInfinity(theta))
            throw new ArgumentOutOfRangeException(nameof(theta), theta, $"theta must be finite and > 1 (got {theta}).");
        Context = context;
        HeadDim = headDim;
        Theta = theta;
        int half = headDim / 2;
        _cos = new float[(long)context * half];
        _sin = new float[(long)context * half];
        var inverse = new float[half];
        for (int i = 0; i < half; i++)
        {
            // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all fp32.
            float exponent = 2 * i / (float)headDim;
            inverse[i] = 1f / MathF.Pow((float)theta, exponent);
        }
        for (int p = 0; p < context; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * inverse[i];
                _cos[(long)p * half + i] = (float)Math.Cos(angle);
                _sin[(long)p * half + i] = (float)Math.Sin(angle);
            }
    }

    /// <summary>Positions covered.</summary>
    public int Context { get; }

    /// <summary>Head size.</summary>
    public int HeadDim { get; }

    /// <summary>Frequency base.</summary>
    public double Theta { get; }

    /// <summary>cos table, [context, headDim / 2].</summary>
    public ReadOnlySpan<float> Cos => _cos;

    /// <summary>sin table, [context, headDim / 2].</summary>
    public ReadOnlySpan<float> Sin => _sin;
}

/// <summary>
/// Rotary position embeddings, LLaMA / Hugging Face convention (<c>rotate_half</c>): within each head, element i
/// pairs with element i + headDim/2, and for c = cos, s = sin of the position's angle i:
/// x'[i] = x[i] c - x[i + h] s, x'[i + h] = x[i + h] c + x[i] s. Applied in place to rows of q [tokens, heads * headDim]
/// and k [tokens, kvHeads * headDim]. The rotation is orthogonal, so backward is the inverse rotation (angle -a)
/// of the gradients, also in place.
/// </summary>
public static unsafe class Rope
{
    private const long ParallelThreshold = 1 << 16;

    /// <summary>Rotates q and k in place; token t is at position <c>positions[t]</c>.</summary>
    /// <param name="table">Tables for the model's head size.</param>
    /// <param name="tokens">Rows of q and k.</param>
    /// <param name="q">Queries, [tokens, heads * headDim].</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="k">Keys, [tokens, kvHeads * headDim].</param>
    /// <param name="kvHeads">Key/value heads.</param>
    /// <param name="positions">Position of each token, [tokens], each in [0, context).</param>
    public static void Forward(RopeTable table, int tokens, Span<float> q, int heads, Span<float> k, int kvHeads, ReadOnlySpan<int> positions)
    {
        RotateAt(table, tokens, heads, q, positions, inverse: false, nameof(q));
        RotateAt(table, tokens, kvHeads, k, positions, inverse: false, nameof(k));
    }

    /// <summary>
    /// Rotates q and k in place for training batches laid out as consecutive sequences of
    /// <paramref name="sequenceLength"/> tokens: token t is at position t mod sequenceLength.
    /// </summary>
    /// <param name="table">Tables for the model's head size.</param>
    /// <param name="tokens">Rows of q and k.</param>
    /// <param name="q">Queries, [tokens, heads * headDim].</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="k">Keys, [tokens, kvHeads * headDim].</param>
    /// <param name="kvHeads">Key/value heads.</param>
    /// <param name="sequenceLength">Tokens per sequence, at most the table's context.</param>
    public static void Forward(RopeTable table, int tokens, Span<float> q, int heads, Span<float> k, int kvHeads, int sequenceLength)
    {
        RotateSequences(table, tokens, heads, q, sequenceLength, inverse: false, nameof(q));
        RotateSequences(table, tokens, kvHeads, k, sequenceLength, inverse: false, nameof(k));
    }

    /// <summary>Backward of <see cref="Forward(RopeTable, int, Span{float}, int, Span{float}, int, ReadOnlySpan{int})"/>:
    /// rotates dq and dk back in place (gradients with respect to the unrotated q and k).</summary>
    /// <param name="table">Tables for the model's head size.</param>
    /// <param name="tokens">Rows of dq and dk.</param>
    /// <param name="dq">dL/dq (rotated) in, dL/dq (unrotated) out, [tokens, heads * headDim].</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="dk">dL/dk, likewise, [tokens, kvHeads * headDim].</param>
    /// <param name="kvHeads">Key/value heads.</param>
    /// <param name="positions">Position of each token, [tokens].</param>
    public static void Backward(RopeTable table, int tokens, Span<float> dq, int heads, Span<float> dk, int kvHeads, ReadOnlySpan<int> positions)
    {
        RotateAt(table, tokens, heads, dq, positions, inverse: true, nameof(dq));
        RotateAt(table, tokens, kvHeads, dk, positions, inverse: true, nameof(dk));
    }

    /// <summary>Backward of <see cref="Forward(RopeTable, int, Span{float}, int, Span{float}, int, int)"/>.</summary>
    /// <param name="table">Tables for the model's head size.</param>
    /// <param name="tokens">Rows of dq and dk.</param>
    /// <param name="dq">dL/dq (rotated) in, dL/dq (unrotated) out, [tokens, heads * headDim].</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="dk">dL/dk, likewise, [tokens, kvHeads * headDim].</param>
    /// <param name="kvHeads">Key/value heads.</param>
    /// <param name="sequenceLength">Tokens per sequence: token t is at position t mod sequenceLength.</param>
    public static void Backward(RopeTable table, int tokens, Span<float> dq, int heads, Span<float> dk, int kvHeads, int sequenceLength)
    {
        RotateSequences(table, tokens, heads, dq, sequenceLength, inverse: true, nameof(dq));
        RotateSequences(table, tokens, kvHeads, dk, sequenceLength, inverse: true, nameof(dk));
    }

    /// <summary>Rotates one tensor [tokens, heads * headDim] in place by each token's angle (or its negative when <paramref name="inverse"/>).</summary>
    /// <param name="table">Tables for the model's head size.</param>
    /// <param name="tokens">Rows.</param>
    /// <param name="heads">Heads per row.</param>
    /// <param name="x">The tensor, [tokens, heads * headDim].</param>
    /// <param name="positions">Position of each token, [tokens], each in [0, context).</param>
    /// <param name="inverse">Rotate by minus the angle (backward).</param>
    public static void Rotate(RopeTable table, int tokens, int heads, Span<float> x, ReadOnlySpan<int> positions, bool inverse) =>
        RotateAt(table, tokens, heads, x, positions, inverse, nameof(x));

    private static void RotateAt(RopeTable table, int tokens, int heads, Span<float> x, ReadOnlySpan<int> positions, bool inverse, string name)
    {
        Check(table, tokens, heads, x.Length, name);
        if (positions.Length < tokens)
            throw new ArgumentException($"positions holds {positions.Length} entries; {tokens} are needed.", nameof(positions));
        for (int t = 0; t < tokens; t++)
            if ((uint)positions[t] >= (uint)table.Context)
                throw new ArgumentException($"positions[{t}] = {positions[t]} is outside [0, {table.Context}), the context of the RoPE table.", nameof(positions));
        fixed (int* pp = positions)
            Run(table, tokens, heads, x, pp, 0, inverse);
    }

    /// <summary>Rotates one tensor in place; token t is at position t mod <paramref name="sequenceLength"/>.</summary>
    /// <param name="table">Tables for the model's head size.</param>
    /// <param name="tokens">Rows.</param>
    /// <param name="heads">Heads per row.</param>
    /// <param name="x">The tensor, [tokens, heads * headDim].</param>
    /// <param name="sequenceLength">Tokens per sequence, in [1, context].</param>
    /// <param name="inverse">Rotate by minus the angle (backward).</param>
    public static void Rotate(RopeTable table, int tokens, int heads, Span<float> x, int sequenceLength, bool inverse) =>
        RotateSequences(table, tokens, heads, x, sequenceLength, inverse, nameof(x));

    private static void RotateSequences(RopeTable table, int tokens, int heads, Span<float> x, int sequenceLength, bool inverse, string name)
    {
        Check(table, tokens, heads, x.Length, name);
        if (sequenceLength <= 0 || sequenceLength > table.Context)
            throw new ArgumentOutOfRangeException(nameof(sequenceLength), sequenceLength,
                $"sequenceLength must be in [1, {table.Context}], the context of the RoPE table (got {sequenceLength}).");
        Run(table, tokens, heads, x, null, sequenceLength, inverse);
    }

    private static void Check(RopeTable table, int tokens, int heads, int length, string name)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (tokens < 0)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"tokens must be >= 0 (got {tokens}).");
        if (heads <= 0)
            throw new ArgumentOutOfRangeException(nameof(heads), heads, $"heads must be > 0 (got {heads}).");
        long need = (long)tokens * heads * table.HeadDim;
        if (length < need)
            throw new ArgumentException($"{name} holds {length} floats; {tokens} x {heads} x {table.HeadDim} are needed.", name);
    }

    /// <summary>Positions from <paramref name="positions"/> when not null, else t mod <paramref name="modulus"/>.</summary>
    private static void Run(RopeTable table, int tokens, int heads, Span<float> x, int* positions, int modulus, bool inverse)
    {
        if (tokens == 0)
            return;
        int d = table.HeadDim, width = heads * d;
        fixed (float* px = x, pc = table.Cos, ps = table.Sin)
        {
            nint ax = (nint)px, ac = (nint)pc, asn = (nint)ps, apos = (nint)positions;
            void Range(int t0, int t1)
            {
                for (int t = t0; t < t1; t++)
                {
                    int p = apos != 0 ? ((int*)apos)[t] : t % modulus;
                    long at = (long)p * (d / 2);
                    float* row = (float*)ax + (long)t * width;
                    for (int h = 0; h < heads; h++)
                        RotateHead(row + h * d, (float*)ac + at, (float*)asn + at, d / 2, inverse);
                }
            }

            long work = (long)tokens * width;
            int threads = work < ParallelThreshold ? 1 : Math.Min(Environment.ProcessorCount, tokens);
            if (threads <= 1)
                Range(0, tokens);
            else
                Parallel.For(0, threads, w => Range((int)((long)tokens * w / threads), (int)((long)tokens * (w + 1) / threads)));
        }
    }

    /// <summary>One head: x[i], x[i + half] rotated by the angle whose cos / sin are c[i], s[i] (negated when inverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateHead(float* x, float* c, float* s, int half, bool inverse)
    {
        float* y = x + half;
        int w = Vector<float>.Count, i = 0;
        if (!inverse)
        {
            for (; i <= half - w; i += w)
            {
                Vector<float> a = Load(x + i), b = Load(y + i), vc = Load(c + i), vs = Load(s + i);
                Store(x + i, a * vc - b * vs);
                Store(y + i, b * vc + a * vs);
            }
            for (; i < half; i++)
            {
                float a = x[i], b = y[i];
                x[i] = a * c[i] - b * s[i];
                y[i] = b * c[i] + a * s[i];
            }
        }
        else
        {
            for (; i <= half - w; i += w)
            {
                Vector<float> a = Load(x + i), b = Load(y + i), vc = Load(c + i), vs = Load(s + i);
                Store(x + i, a * vc + b * vs);
                Store(y + i, b * vc - a * vs);
            }
            for (; i < half; i++)
            {
                float a = x[i], b = y[i];
                x[i] = a * c[i] + b * s[i];
                y[i] = b * c[i] - a * s[i];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(float* p) => Unsafe.ReadUnaligned<Vector<float>>(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* p, Vector<float> v) => Unsafe.WriteUnaligned(p, v);
}
