using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// Causal multi-head self-attention with grouped key/value heads, fp32, memory-efficient in the FlashAttention
/// way: forward keeps the output o and the log-sum-exp L of every (token, head), never the T x T probabilities;
/// backward recomputes the scores block by block from q, k and L.
/// <para>
/// Layout (token-major, as the projections produce it): q and o are [batch * T, heads * headDim], k and v are
/// [batch * T, kvHeads * headDim], L is [batch * T, heads]. Query head h reads kv head h / (heads / kvHeads).
/// Scores are s_ij = (q_i . k_j) / sqrt(headDim) for j &lt;= i within a sequence; L_i = log sum_j exp(s_ij);
/// o_i = sum_j exp(s_ij - L_i) v_j.
/// </para>
/// <para>
/// Work is split over (sequence, head) in forward and (sequence, kv head) in backward, so no two threads write the
/// same memory and every sum runs in a fixed order: results do not depend on the thread count. Inside a task,
/// a block of queries meets one block of keys at a time (products through <see cref="Gemm.Multiply"/>), with an
/// online softmax in forward; scratch is per thread, O(block^2 + block * headDim + T) floats.
/// </para>
/// </summary>
public static unsafe class Attention
{
    /// <summary>Queries per block.</summary>
    public const int QueryBlock = 64;

    /// <summary>Keys per block.</summary>
    public const int KeyBlock = 64;

    /// <summary>Multiply-adds below which one thread does the whole call.</summary>
    private const long ParallelThreshold = 1 << 20;

    /// <summary>Forward: o and L from q, k, v (already projected and rotated).</summary>
    /// <param name="shape">Sizes.</param>
    /// <param name="q">Queries, [tokens, heads * headDim].</param>
    /// <param name="k">Keys, [tokens, kvHeads * headDim].</param>
    /// <param name="v">Values, [tokens, kvHeads * headDim].</param>
    /// <param name="o">Output, [tokens, heads * headDim]; overwritten; must not overlap the inputs.</param>
    /// <param name="logSumExp">Output, [tokens, heads]: L of each (token, head), natural log, for <see cref="Backward"/>.</param>
    public static void Forward(AttentionShape shape, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        Span<float> o, Span<float> logSumExp) => ForwardBlocked(shape, q, k, v, o, logSumExp, QueryBlock, KeyBlock);

    /// <summary>
    /// Backward: dq, dk, dv from dO. D_i = rowsum(dO_i * o_i); per block, P = exp(S - L), dv += P^T dO,
    /// dP = dO v^T, dS = P (dP - D) / sqrt(headDim), dq += dS k, dk += dS^T q; dk and dv sum over the query heads
    /// of their group.
    /// </summary>
    /// <param name="shape">Sizes.</param>
    /// <param name="q">Queries as given to <see cref="Forward"/>.</param>
    /// <param name="k">Keys as given to <see cref="Forward"/>.</param>
    /// <param name="v">Values as given to <see cref="Forward"/>.</param>
    /// <param name="o">The output of <see cref="Forward"/>.</param>
    /// <param name="logSumExp">L from <see cref="Forward"/>, [tokens, heads].</param>
    /// <param name="dO">dL/do, [tokens, heads * headDim].</param>
    /// <param name="dq">dL/dq, [tokens, heads * headDim]; overwritten.</param>
    /// <param name="dk">dL/dk, [tokens, kvHeads * headDim]; overwritten.</param>
    /// <param name="dv">dL/dv, [tokens, kvHeads * headDim]; overwritten. The three outputs must not overlap any input or each other.</param>
    public static void Backward(AttentionShape shape, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> o, ReadOnlySpan<float> logSumExp, ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv)
        => BackwardBlocked(shape, q, k, v, o, logSumExp, dO, dq, dk, dv, QueryBlock, KeyBlock);

    /// <summary>Forward with chosen block sizes (tests).</summary>
    internal static void ForwardBlocked(AttentionShape shape, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        Span<float> o, Span<float> logSumExp, int queryBlock, int keyBlock)
    {
        CheckShape(shape, queryBlock, keyBlock);
        long tokens = shape.Tokens;
        CheckLength(q.Length, tokens * shape.QueryWidth, nameof(q));
        CheckLength(k.Length, tokens * shape.KvWidth, nameof(k));
        CheckLength(v.Length, tokens * shape.KvWidth, nameof(v));
        CheckLength(o.Length, tokens * shape.QueryWidth, nameof(o));
        CheckLength(logSumExp.Length, tokens * shape.Heads, nameof(logSumExp));
        if (tokens == 0)
            return;

        fixed (float* pq = q, pk = k, pv = v, po = o, pl = logSumExp)
        {
            var p = new Pointers(shape, queryBlock, keyBlock, pq, pk, pv, po, pl, null, null, null, null);
            int tasks = shape.Batch * shape.Heads;
            if (Work(shape) < ParallelThreshold)
                for (int t = 0; t < tasks; t++) ForwardHead(p, t / shape.Heads, t % shape.Heads);
            else
                Parallel.For(0, tasks, t => ForwardHead(p, t / p.Shape.Heads, t % p.Shape.Heads));
        }
    }

    /// <summary>Backward with chosen block sizes (tests).</summary>
    internal static void BackwardBlocked(AttentionShape shape, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> o, ReadOnlySpan<float> logSumExp, ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv,
        int queryBlock, int keyBlock)
    {
        CheckShape(shape, queryBlock, keyBlock);
        long tokens = shape.Tokens;
        CheckLength(q.Length, tokens * shape.QueryWidth, nameof(q));
        CheckLength(k.Length, tokens * shape.KvWidth, nameof(k));
        CheckLength(v.Length, tokens * shape.KvWidth, nameof(v));
        CheckLength(o.Length, tokens * shape.QueryWidth, nameof(o));
        CheckLength(logSumExp.Length, tokens * shape.Heads, nameof(logSumExp));
        CheckLength(dO.Length, tokens * shape.QueryWidth, nameof(dO));
        CheckLength(dq.Length, tokens * shape.QueryWidth, nameof(dq));
        CheckLength(dk.Length, tokens * shape.KvWidth, nameof(dk));
        CheckLength(dv.Length, tokens * shape.KvWidth, nameof(dv));
        if (tokens == 0)
            return;

        fixed (float* pq = q, pk = k, pv = v, po = o, pl = logSumExp, pdo = dO, pdq = dq, pdk = dk, pdv = dv)
        {
            var p = new Pointers(shape, queryBlock, keyBlock, pq, pk, pv, po, pl, pdo, pdq, pdk, pdv);
            int tasks = shape.Batch * shape.KvHeads;
            if (Work(shape) < ParallelThreshold)
                for (int t = 0; t < tasks; t++) BackwardGroup(p, t / shape.KvHeads, t % shape.KvHeads);
            else
                Parallel.For(0, tasks, t => BackwardGroup(p, t / p.Shape.KvHeads, t % p.Shape.KvHeads));
        }
    }

    /// <summary>Multiply-adds of the two forward products over the causal triangle.</summary>
    private static long Work(AttentionShape s) => (long)s.Batch * s.Heads * s.SequenceLength * (s.SequenceLength + 1) * s.HeadDim;

    // ---- forward ------------------------------------------------------------------------------

    private static void ForwardHead(Pointers p, int b, int h)
    {
        var s = p.Shape;
        int T = s.SequenceLength, d = s.HeadDim, qw = s.QueryWidth, kw = s.KvWidth, bq = p.QueryBlock, bk = p.KeyBlock;
        int g = h / s.GroupSize;
        long first = (long)b * T;
        float* Q = p.Q + first * qw + (long)h * d, K = p.K + first * kw + (long)g * d, V = p.V + first * kw + (long)g * d;
        float* O = p.O + first * qw + (long)h * d, L = p.L + first * s.Heads + h;
        float scale = s.Scale;

        var scratch = Scratch.ForCurrentThread(bq, bk, d, T);
        float* S = scratch.S, acc = scratch.Acc, m = scratch.M, l = scratch.Sum;
        for (int i0 = 0; i0 < T; i0 += bq)
        {
            int rows = Math.Min(bq, T - i0), end = i0 + rows;
            for (int r = 0; r < rows; r++) { m[r] = float.NegativeInfinity; l[r] = 0; }
            for (int j0 = 0; j0 < end; j0 += bk)
            {
                int cols = Math.Min(bk, end - j0);
                Gemm.Multiply(false, true, rows, cols, d, scale, Rows(Q + (long)i0 * qw, rows, d, qw), qw,
                    Rows(K + (long)j0 * kw, cols, d, kw), kw, 0f, new Span<float>(S, (rows - 1) * bk + cols), bk);
                for (int r = 0; r < rows; r++)
                {
                    float* sr = S + (long)r * bk;
                    int valid = Math.Min(cols, i0 + r - j0 + 1);
                    if (valid <= 0)
                    {
                        // The whole row lies above the diagonal (never in the first key block, which holds key 0).
                        new Span<float>(sr, cols).Clear();
                        continue;
                    }
                    float mNew = Math.Max(m[r], Max(sr, valid));
                    float sum = VectorMath.ExpShiftSum(sr, valid, mNew);
                    if (valid < cols) new Span<float>(sr + valid, cols - valid).Clear();
                    if (j0 > 0)
                    {
                        float correction = MathF.Exp(m[r] - mNew);
                        l[r] = l[r] * correction + sum;
                        if (correction != 1f) ScaleRow(acc + (long)r * d, d, correction);
                    }
                    else
                        l[r] = sum;
                    m[r] = mNew;
                }
                Gemm.Multiply(false, false, rows, d, cols, 1f, new ReadOnlySpan<float>(S, (rows - 1) * bk + cols), bk,
                    Rows(V + (long)j0 * kw, cols, d, kw), kw, j0 == 0 ? 0f : 1f, new Span<float>(acc, rows * d), d);
            }
            for (int r = 0; r < rows; r++)
            {
                float inv = 1f / l[r];
                float* dst = O + (long)(i0 + r) * qw, src = acc + (long)r * d;
                for (int c = 0; c < d; c++) dst[c] = src[c] * inv;
                L[(long)(i0 + r) * s.Heads] = m[r] + MathF.Log(l[r]);
            }
        }
    }

    // ---- backward -----------------------------------------------------------------------------

    private static void BackwardGroup(Pointers p, int b, int g)
    {
        var s = p.Shape;
        int T = s.SequenceLength, d = s.HeadDim, qw = s.QueryWidth, kw = s.KvWidth, bq = p.QueryBlock, bk = p.KeyBlock;
        long first = (long)b * T;
        float* K = p.K + first * kw + (long)g * d, V = p.V + first * kw + (long)g * d;
        float* dK = p.DK + first * kw + (long)g * d, dV = p.DV + first * kw + (long)g * d;
        float scale = s.Scale;
        for (int t = 0; t < T; t++)
        {
            new Span<float>(dK + (long)t * kw, d).Clear();
            new Span<float>(dV + (long)t * kw, d).Clear();
        }

        var scratch = Scratch.ForCurrentThread(bq, bk, d, T);
        float* P = scratch.S, dS = scratch.DP, D = scratch.D;
        for (int h = g * s.GroupSize; h < (g + 1) * s.GroupSize; h++)
        {
            float* Q = p.Q + first * qw + (long)h * d, O = p.O + first * qw + (long)h * d, dOut = p.DO + first * qw + (long)h * d;
            float* dQ = p.DQ + first * qw + (long)h * d, L = p.L + first * s.Heads + h;
            for (int t = 0; t < T; t++)
            {
                D[t] = VectorMath.Dot(dOut + (long)t * qw, O + (long)t * qw, d);
                new Span<float>(dQ + (long)t * qw, d).Clear();
            }

            for (int j0 = 0; j0 < T; j0 += bk)
            {
                int cols = Math.Min(bk, T - j0);
                var kj = Rows(K + (long)j0 * kw, cols, d, kw);
                var vj = Rows(V + (long)j0 * kw, cols, d, kw);
                var dkj = new Span<float>(dK + (long)j0 * kw, (cols - 1) * kw + d);
                var dvj = new Span<float>(dV + (long)j0 * kw, (cols - 1) * kw + d);
                for (int i0 = j0 / bq * bq; i0 < T; i0 += bq)
                {
                    int rows = Math.Min(bq, T - i0);
                    var qi = Rows(Q + (long)i0 * qw, rows, d, qw);
                    var doi = Rows(dOut + (long)i0 * qw, rows, d, qw);
                    int blockLength = (rows - 1) * bk + cols;

                    // P = exp(S - L), zero above the diagonal.
                    Gemm.Multiply(false, true, rows, cols, d, scale, qi, qw, kj, kw, 0f, new Span<float>(P, blockLength), bk);
                    bool any = false;
                    for (int r = 0; r < rows; r++)
                    {
                        float* pr = P + (long)r * bk;
                        int valid = Math.Clamp(i0 + r - j0 + 1, 0, cols);
                        if (valid > 0) { ExpShift(pr, valid, L[(long)(i0 + r) * s.Heads]); any = true; }
                        if (valid < cols) new Span<float>(pr + valid, cols - valid).Clear();
                    }
                    if (!any)
                        continue;

                    // dv_j += P^T dO_i; dP = dO_i v_j^T.
                    Gemm.Multiply(true, false, cols, d, rows, 1f, new ReadOnlySpan<float>(P, blockLength), bk, doi, qw, 1f, dvj, kw);
                    Gemm.Multiply(false, true, rows, cols, d, 1f, doi, qw, vj, kw, 0f, new Span<float>(dS, blockLength), bk);

                    // dS = P (dP - D) * scale (the score scale folded in once here).
                    for (int r = 0; r < rows; r++)
                        SoftmaxGradient(dS + (long)r * bk, P + (long)r * bk, cols, D[i0 + r], scale);

                    // dq_i += dS k_j; dk_j += dS^T q_i.
                    var ds = new ReadOnlySpan<float>(dS, blockLength);
                    Gemm.Multiply(false, false, rows, d, cols, 1f, ds, bk, kj, kw, 1f, new Span<float>(dQ + (long)i0 * qw, (rows - 1) * qw + d), qw);
                    Gemm.Multiply(true, false, cols, d, rows, 1f, ds, bk, qi, qw, 1f, dkj, kw);
                }
            }
        }
    }

    // ---- vector helpers -----------------------------------------------------------------------

    private static ReadOnlySpan<float> Rows(float* at, int rows, int width, int stride) => new(at, (rows - 1) * stride + width);

    private static float Max(float* x, int n)
    {
        int i = 0;
        float m = float.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var a = Vector512.Create(float.NegativeInfinity);
            for (; i <= n - 16; i += 16) a = Vector512.Max(a, Vector512.Load(x + i));
            m = MaxOf(Vector256.Max(a.GetLower(), a.GetUpper()));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var a = Vector256.Create(float.NegativeInfinity);
            for (; i <= n - 8; i += 8) a = Vector256.Max(a, Vector256.Load(x + i));
            m = MaxOf(a);
        }
        for (; i < n; i++) m = Math.Max(m, x[i]);
        return m;
    }

    private static float MaxOf(Vector256<float> v)
    {
        var h = Vector128.Max(v.GetLower(), v.GetUpper());
        float m = h.GetElement(0);
        for (int i = 1; i < 4; i++) m = Math.Max(m, h.GetElement(i));
        return m;
    }

    /// <summary>x = exp(x - shift).</summary>
    private static void ExpShift(float* x, int n, float shift)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(shift);
            for (; i <= n - 16; i += 16) Vector512.Exp(Vector512.Load(x + i) - vs).Store(x + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(shift);
            for (; i <= n - 8; i += 8) Vector256.Exp(Vector256.Load(x + i) - vs).Store(x + i);
        }
        for (; i < n; i++) x[i] = MathF.Exp(x[i] - shift);
    }

    /// <summary>ds = p (ds - delta) scale, ds holding dP on entry.</summary>
    private static void SoftmaxGradient(float* ds, float* p, int n, float delta, float scale)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vd = Vector512.Create(delta), vs = Vector512.Create(scale);
            for (; i <= n - 16; i += 16) (Vector512.Load(p + i) * (Vector512.Load(ds + i) - vd) * vs).Store(ds + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vd = Vector256.Create(delta), vs = Vector256.Create(scale);
            for (; i <= n - 8; i += 8) (Vector256.Load(p + i) * (Vector256.Load(ds + i) - vd) * vs).Store(ds + i);
        }
        for (; i < n; i++) ds[i] = p[i] * (ds[i] - delta) * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleRow(float* x, int n, float c)
    {
        for (int i = 0; i < n; i++) x[i] *= c;
    }

    // ---- plumbing -----------------------------------------------------------------------------

    private readonly struct Pointers(AttentionShape shape, int queryBlock, int keyBlock, float* q, float* k, float* v, float* o, float* l,
        float* dO, float* dq, float* dk, float* dv)
    {
        public readonly AttentionShape Shape = shape;
        public readonly int QueryBlock = queryBlock, KeyBlock = keyBlock;
        public readonly float* Q = q, K = k, V = v, O = o, L = l, DO = dO, DQ = dq, DK = dk, DV = dv;
    }

    /// <summary>Per-thread blocks, on the pinned heap (stable addresses), grown on demand and reused.</summary>
    private sealed class Scratch
    {
        [ThreadStatic]
        private static Scratch? t_current;

        private float[] _s = [], _dp = [], _acc = [], _m = [], _sum = [], _d = [];

        public float* S => Address(_s);
        public float* DP => Address(_dp);
        public float* Acc => Address(_acc);
        public float* M => Address(_m);
        public float* Sum => Address(_sum);
        public float* D => Address(_d);

        public static Scratch ForCurrentThread(int queryBlock, int keyBlock, int headDim, int sequenceLength)
        {
            var s = t_current ??= new Scratch();
            Ensure(ref s._s, queryBlock * keyBlock);
            Ensure(ref s._dp, queryBlock * keyBlock);
            Ensure(ref s._acc, queryBlock * headDim);
            Ensure(ref s._m, queryBlock);
            Ensure(ref s._sum, queryBlock);
            Ensure(ref s._d, sequenceLength);
            return s;
        }

        private static void Ensure(ref float[] buffer, int length)
        {
            if (buffer.Length < length)
                buffer = GC.AllocateUninitializedArray<float>(Math.Max(length, 16), pinned: true);
        }

        private static float* Address(float[] a) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));
    }

    private static void CheckShape(AttentionShape shape, int queryBlock, int keyBlock)
    {
        if (shape.Heads <= 0 || shape.KvHeads <= 0 || shape.HeadDim <= 0)
            throw new ArgumentException("The attention shape is empty (default); construct it with its sizes.", nameof(shape));
        if (queryBlock <= 0)
            throw new ArgumentOutOfRangeException(nameof(queryBlock), queryBlock, "queryBlock must be > 0.");
        if (keyBlock <= 0)
            throw new ArgumentOutOfRangeException(nameof(keyBlock), keyBlock, "keyBlock must be > 0.");
    }

    private static void CheckLength(int length, long need, string name)
    {
        if (length < need)
            throw new ArgumentException($"{name} holds {length} floats; {need} are needed.", name);
    }
}
