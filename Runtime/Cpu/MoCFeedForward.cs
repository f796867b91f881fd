using System;
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// The sizes of one feed-forward block as compile-time constants. The generator emits one struct per model;
/// the kernels below are generic over it, and the JIT (and NativeAOT) compiles a separate copy of each kernel
/// for every such struct with the sizes folded in as constants.
/// </summary>
public interface IFeedForwardShape
{
    /// <summary>Residual width d.</summary>
    static abstract int Hidden { get; }

    /// <summary>Feed-forward width d_ff.</summary>
    static abstract int Intermediate { get; }

    /// <summary>Active channels per token K; equal to <see cref="Intermediate"/> for the dense twin.</summary>
    static abstract int TopK { get; }
}

/// <summary>
/// Weights of one feed-forward block, fp32, row-major. <c>Gate</c> and <c>Up</c> are [d_ff, d] as in Hugging
/// Face; <c>DownT</c> is the down projection transposed, [d_ff, d] (channel j's d weights contiguous), so the
/// sparse down product reads only the K selected rows. Checkpoints store down_proj as [d, d_ff].
/// </summary>
public readonly ref struct FeedForwardWeights(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> downT)
{
    /// <summary>W_g, [d_ff, d].</summary>
    public ReadOnlySpan<float> Gate { get; } = gate;
    /// <summary>W_u, [d_ff, d].</summary>
    public ReadOnlySpan<float> Up { get; } = up;
    /// <summary>W_d transposed, [d_ff, d].</summary>
    public ReadOnlySpan<float> DownT { get; } = downT;
}

/// <summary>Weight gradients in the layout of <see cref="FeedForwardWeights"/>; the backward pass adds to them.</summary>
public readonly ref struct FeedForwardGradients(Span<float> gate, Span<float> up, Span<float> downT)
{
    /// <summary>dL/dW_g, [d_ff, d].</summary>
    public Span<float> Gate { get; } = gate;
    /// <summary>dL/dW_u, [d_ff, d].</summary>
    public Span<float> Up { get; } = up;
    /// <summary>dL/dW_d transposed, [d_ff, d].</summary>
    public Span<float> DownT { get; } = downT;
}

/// <summary>
/// What the forward pass keeps for backward, per token: the K selected channel indices (ascending), their gate
/// values and their up values: K (index + 8) bytes, nothing of size d_ff. The dense twin keeps all d_ff gate and
/// up values and no indices (its <c>Index</c> may be empty). The up values are kept rather than recomputed: they
/// cost 4K bytes per token and save a K x d gathered product in backward.
/// </summary>
public readonly ref struct FeedForwardSaved<TIndex>(Span<TIndex> index, Span<float> gate, Span<float> up)
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    /// <summary>Selected channel indices, [tokens, K], ascending per token.</summary>
    public Span<TIndex> Index { get; } = index;

    /// <summary>Gate values of the selected channels, [tokens, K] (dense: all, [tokens, d_ff]).</summary>
    public Span<float> Gate { get; } = gate;

    /// <summary>Up values of the selected channels, [tokens, K] (dense: all, [tokens, d_ff]).</summary>
    public Span<float> Up { get; } = up;
}

/// <summary>
/// The Mixture-of-Channels SwiGLU feed-forward block on CPU, specialized by <typeparamref name="TShape"/>.
/// Forward: g = W_g x (dense), S = TopK(g), h_j = SiLU(g_j) (W_u x)_j on S, y = W_d h. Backward follows
/// DESIGN.md and is K-sparse in all three projections. With TopK == Intermediate the same entry points run
/// the dense twin with dense products.
/// </summary>
/// <typeparam name="TShape">Sizes, as constants.</typeparam>
/// <typeparam name="TIndex">Channel index type: ushort while d_ff &lt;= 65536, else uint.</typeparam>
public static unsafe class MoCFeedForward<TShape, TIndex>
    where TShape : struct, IFeedForwardShape
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    private static int D => TShape.Hidden;
    private static int F => TShape.Intermediate;
    private static int K => TShape.TopK;

    /// <summary>True for the dense SwiGLU twin.</summary>
    public static bool IsDense => TShape.TopK == TShape.Intermediate;

    /// <summary>Tokens whose full gate rows are materialized at once before Top-K.</summary>
    public const int TokenTile = 64;

    /// <summary>Bytes kept for backward per token: K (index + gate + up) for MoC, d_ff (gate + up) for dense.</summary>
    public static long SavedBytesPerToken => IsDense ? 8L * F : (long)K * (sizeof(TIndex) + 8);

    /// <summary>Floats of scratch <see cref="Forward"/> needs: one tile of full gate rows (MoC) or hidden rows (dense).</summary>
    public static int GateScratchLength(int tokens) => Math.Min(tokens, TokenTile) * F;

    /// <summary>
    /// y = FFN(x) for <paramref name="tokens"/> rows of x [tokens, d]; fills <paramref name="saved"/> for backward.
    /// </summary>
    public static void Forward(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, Span<float> y,
        FeedForwardSaved<TIndex> saved, Span<float> gateScratch)
    {
        CheckCommon(tokens, x, weights, saved);
        Check(y.Length >= (long)tokens * D, nameof(y), $"y holds {y.Length} floats; {tokens} x {D} are needed.");
        Check(gateScratch.Length >= GateScratchLength(tokens), nameof(gateScratch), $"gateScratch holds {gateScratch.Length} floats; {GateScratchLength(tokens)} are needed.");
        if (IsDense)
        {
            ForwardDense(tokens, x, weights, y, saved, gateScratch);
            return;
        }

        fixed (float* px = x, pu = weights.Up, pd = weights.DownT, py = y, pScratch = gateScratch, pGate = saved.Gate, pUp = saved.Up)
        fixed (TIndex* pIndex = saved.Index)
        {
            var a = new Pointers(px, null, pu, pd, py, pScratch, pGate, pUp, pIndex);
            for (int t0 = 0; t0 < tokens; t0 += TokenTile)
            {
                int rows = Math.Min(TokenTile, tokens - t0);
                // The gate is the one dense product: every channel of every token, then selection.
                Gemm.Multiply(false, true, rows, F, D, 1f, x.Slice(t0 * D, rows * D), D, weights.Gate, D, 0f, gateScratch, F);
                SelectTile(a, t0, rows);
                int workers = Math.Min(Environment.ProcessorCount, K / 4);
                if (rows < workers)
                    for (int t = 0; t < rows; t++) ForwardTokenAcrossCores(a, t0, t, workers);
                else
                    ForwardTile(a, t0, rows);
            }
        }
    }

    /// <summary>
    /// Channels are visited in blocks small enough that a block's rows of W_u and W_d stay in a core's L2 while
    /// every token of the tile uses them (the rows a token selected in the block are a contiguous run of its
    /// ascending indices). Workers own alternate blocks and accumulate y into private buffers, summed at the end.
    /// </summary>
    private static readonly int ForwardBlock = BlockFor(2);

    /// <summary>Backward touches three weight matrices (or three gradient matrices) per block.</summary>
    private static readonly int BackwardBlock = BlockFor(3);

    /// <summary>Channels per block so that <paramref name="matrices"/> blocks of rows take about 384 KiB.</summary>
    private static int BlockFor(int matrices) => Math.Clamp((384 * 1024 / (matrices * 4 * D)) & ~7, 8, 512);

    private static void ForwardTile(Pointers p, int t0, int rows)
    {
        int workers = Math.Min(Environment.ProcessorCount, (F + ForwardBlock - 1) / ForwardBlock);
        var partial = ArrayPool<float>.Shared.Rent(workers * rows * D);
        try
        {
            fixed (float* partials = partial)
            {
                nint at = (nint)partials;
                Parallel.For(0, workers, w =>
                {
                    float* y = (float*)at + (long)w * rows * D;
                    new Span<float>(y, rows * D).Clear();
                    Span<int> cursor = stackalloc int[rows];
                    for (int c0 = w * ForwardBlock; c0 < F; c0 += workers * ForwardBlock)
                    {
                        int c1 = Math.Min(F, c0 + ForwardBlock);
                        for (int t = 0; t < rows; t++)
                        {
                            int token = t0 + t, from = Advance(p.Index + (long)token * K, cursor[t], c0), to = Advance(p.Index + (long)token * K, from, c1);
                            cursor[t] = to;
                            if (from == to) continue;
                            UpRange(p, token, from, to);
                            DownRange(p, token, from, to, y + (long)t * D);
                        }
                    }
                });
                SumPartials(partials, workers, rows * D, p.Y + (long)t0 * D);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>The first slot at or after <paramref name="from"/> whose channel is at least <paramref name="channel"/>.</summary>
    private static int Advance(TIndex* index, int from, int channel)
    {
        while (from < K && int.CreateTruncating(index[from]) < channel) from++;
        return from;
    }

    /// <summary>destination = sum of <paramref name="count"/> partial buffers of <paramref name="length"/> floats, in worker order.</summary>
    private static void SumPartials(float* partials, int count, int length, float* destination)
    {
        new Span<float>(partials, length).CopyTo(new Span<float>(destination, length));
        for (int w = 1; w < count; w++) VectorMath.Axpy(destination, 1f, partials + (long)w * length, length);
    }

    /// <summary>
    /// One token on every core (decoding): after selection, each worker takes a slice of the K channels, computes
    /// their up values and a partial y; the partials are summed. Each worker streams only its slice of the rows.
    /// </summary>
    private static void ForwardTokenAcrossCores(Pointers p, int t0, int t, int workers)
    {
        int token = t0 + t;
        var partial = new float[workers * D];
        int slice = (K / workers + 3) & ~3;
        fixed (float* partials = partial)
        {
            nint at = (nint)partials;
            Parallel.For(0, workers, w =>
            {
                int from = Math.Min(K, w * slice), to = w == workers - 1 ? K : Math.Min(K, from + slice);
                UpRange(p, token, from, to);
                DownRange(p, token, from, to, (float*)at + (long)w * D);
            });
            SumPartials(partials, workers, D, p.Y + (long)token * D);
        }
    }

    private static void SelectTile(Pointers p, int t0, int rows)
    {
        int workers = Math.Min(Environment.ProcessorCount, rows);
        if (workers <= 1)
        {
            for (int t = 0; t < rows; t++) Select(p, t0, t);
            return;
        }
        Parallel.For(0, workers, w =>
        {
            for (int t = w; t < rows; t += workers) Select(p, t0, t);
        });
    }

    private static void Select(Pointers p, int t0, int t)
    {
        long token = t0 + t;
        TopK.Select(new ReadOnlySpan<float>(p.Scratch + (long)t * F, F), K, new Span<TIndex>(p.Index + token * K, K), new Span<float>(p.Gate + token * K, K));
    }

    /// <summary>Up values of selected slots [from, to): dot products with the selected rows of W_u, four rows per pass over x.</summary>
    private static void UpRange(Pointers p, int token, int from, int to)
    {
        float* x = p.X + (long)token * D;
        TIndex* index = p.Index + (long)token * K;
        float* up = p.Up + (long)token * K;
        int j = from;
        for (; j <= to - 4; j += 4)
        {
            VectorMath.Dot4(x, Row(p.Up0, index[j]), Row(p.Up0, index[j + 1]), Row(p.Up0, index[j + 2]), Row(p.Up0, index[j + 3]), D,
                out up[j], out up[j + 1], out up[j + 2], out up[j + 3]);
        }
        for (; j < to; j++) up[j] = VectorMath.Dot(x, Row(p.Up0, index[j]), D);
    }

    /// <summary>y += sum over slots [from, to) of h_j W_d[:, j], W_d stored transposed so each term is a contiguous row.</summary>
    private static void DownRange(Pointers p, int token, int from, int to, float* y)
    {
        TIndex* index = p.Index + (long)token * K;
        float* gate = p.Gate + (long)token * K;
        float* up = p.Up + (long)token * K;
        int j = from;
        for (; j <= to - 4; j += 4)
        {
            VectorMath.Axpy4(y,
                Silu(gate[j]) * up[j], Row(p.Down0, index[j]),
                Silu(gate[j + 1]) * up[j + 1], Row(p.Down0, index[j + 1]),
                Silu(gate[j + 2]) * up[j + 2], Row(p.Down0, index[j + 2]),
                Silu(gate[j + 3]) * up[j + 3], Row(p.Down0, index[j + 3]), D);
        }
        for (; j < to; j++) VectorMath.Axpy(y, Silu(gate[j]) * up[j], Row(p.Down0, index[j]), D);
    }

    /// <summary>
    /// Accumulates weight gradients into <paramref name="gradients"/> and writes the input gradient to
    /// <paramref name="gx"/> [tokens, d] (overwritten), given gy = dL/dy [tokens, d] and what forward saved.
    /// </summary>
    public static void Backward(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, FeedForwardSaved<TIndex> saved,
        ReadOnlySpan<float> gy, Span<float> gx, FeedForwardGradients gradients, Span<float> scratch)
    {
        CheckCommon(tokens, x, weights, saved);
        Check(gy.Length >= (long)tokens * D, nameof(gy), $"gy holds {gy.Length} floats; {tokens} x {D} are needed.");
        Check(gx.Length >= (long)tokens * D, nameof(gx), $"gx holds {gx.Length} floats; {tokens} x {D} are needed.");
        Check(gradients.Gate.Length >= (long)F * D && gradients.Up.Length >= (long)F * D && gradients.DownT.Length >= (long)F * D,
            nameof(gradients), $"each weight gradient needs {F} x {D} floats.");
        Check(scratch.Length >= BackwardScratchLength(tokens), nameof(scratch), $"scratch holds {scratch.Length} floats; {BackwardScratchLength(tokens)} are needed.");
        if (IsDense)
        {
            BackwardDense(tokens, x, weights, saved, gy, gx, gradients, scratch);
            return;
        }

        long pairs = (long)tokens * K;
        var gradGate = scratch.Slice(0, (int)pairs);
        var gradUp = scratch.Slice((int)pairs, (int)pairs);
        fixed (float* px = x, pg = weights.Gate, pu = weights.Up, pd = weights.DownT, pgy = gy, pgx = gx)
        fixed (float* pGate = saved.Gate, pUp = saved.Up, pgg = gradGate, pgu = gradUp)
        fixed (float* dg = gradients.Gate, du = gradients.Up, dd = gradients.DownT)
        fixed (TIndex* pIndex = saved.Index)
        {
            var a = new BackwardPointers(px, pg, pu, pd, pgy, pgx, pGate, pUp, pIndex, pgg, pgu, dg, du, dd);
            int workers = Math.Min(Environment.ProcessorCount, (F + BackwardBlock - 1) / BackwardBlock);
            var partial = ArrayPool<float>.Shared.Rent(workers * Math.Min(tokens, TokenTile) * D);
            try
            {
                fixed (float* partials = partial)
                {
                    for (int t0 = 0; t0 < tokens; t0 += TokenTile)
                    {
                        int rows = Math.Min(TokenTile, tokens - t0);
                        // Pass 1, blocks of channels: gh on the selected rows of W_d, then gg and gu, then dL/dx through the
                        // selected rows of W_g and W_u into per-worker partial sums.
                        BackwardInputsTile(a, t0, rows, workers, partials);
                        SumPartials(partials, workers, rows * D, a.Gx + (long)t0 * D);
                        // Pass 2, blocks of channels: each worker owns its blocks' weight-gradient rows, so no two threads
                        // write the same row, and the order of the sums is fixed (deterministic).
                        BackwardWeightsTile(a, t0, rows, workers);
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(partial);
            }
        }
    }

    private static void BackwardInputsTile(BackwardPointers p, int t0, int rows, int workers, float* partials)
    {
        nint at = (nint)partials;
        Parallel.For(0, workers, w =>
        {
            float* gxPartial = (float*)at + (long)w * rows * D;
            new Span<float>(gxPartial, rows * D).Clear();
            Span<int> cursor = stackalloc int[rows];
            for (int c0 = w * BackwardBlock; c0 < F; c0 += workers * BackwardBlock)
            {
                int c1 = Math.Min(F, c0 + BackwardBlock);
                for (int t = 0; t < rows; t++)
                {
                    int token = t0 + t;
                    TIndex* index = p.Index + (long)token * K;
                    int from = Advance(index, cursor[t], c0), to = Advance(index, from, c1);
                    cursor[t] = to;
                    if (from != to) BackwardInputsRange(p, token, from, to, gxPartial + (long)t * D);
                }
            }
        });
    }

    /// <summary>For slots [from, to) of one token: gh = (W_d^T gy) on those channels, gu, gg, and gx += W_g^T gg + W_u^T gu.</summary>
    private static void BackwardInputsRange(BackwardPointers p, int token, int from, int to, float* gx)
    {
        long at = (long)token * K;
        float* gy = p.Gy + (long)token * D;
        TIndex* index = p.Index + at;
        float* gate = p.Gate + at, up = p.Up + at, gg = p.GradGate + at, gu = p.GradUp + at;

        int j = from;
        for (; j <= to - 4; j += 4)
            VectorMath.Dot4(gy, Row(p.Down0, index[j]), Row(p.Down0, index[j + 1]), Row(p.Down0, index[j + 2]), Row(p.Down0, index[j + 3]), D,
                out gg[j], out gg[j + 1], out gg[j + 2], out gg[j + 3]);
        for (; j < to; j++) gg[j] = VectorMath.Dot(gy, Row(p.Down0, index[j]), D);

        for (j = from; j < to; j++)
        {
            float g = gate[j], s = VectorMath.Sigmoid(g), silu = g * s, gh = gg[j];
            gu[j] = gh * silu;
            gg[j] = gh * up[j] * s * (1f + g * (1f - s));
        }

        for (j = from; j <= to - 2; j += 2)
            VectorMath.Axpy4(gx, gg[j], Row(p.Gate0, index[j]), gu[j], Row(p.Up0, index[j]),
                gg[j + 1], Row(p.Gate0, index[j + 1]), gu[j + 1], Row(p.Up0, index[j + 1]), D);
        for (; j < to; j++)
        {
            VectorMath.Axpy(gx, gg[j], Row(p.Gate0, index[j]), D);
            VectorMath.Axpy(gx, gu[j], Row(p.Up0, index[j]), D);
        }
    }

    /// <summary>dW_g[j] += gg x^T, dW_u[j] += gu x^T, dW_d^T[j] += h gy^T for the tile's tokens, by blocks of channels.</summary>
    private static void BackwardWeightsTile(BackwardPointers p, int t0, int rows, int workers)
    {
        Parallel.For(0, workers, w =>
        {
            Span<int> cursor = stackalloc int[rows];
            for (int c0 = w * BackwardBlock; c0 < F; c0 += workers * BackwardBlock)
            {
                int c1 = Math.Min(F, c0 + BackwardBlock);
                for (int t = 0; t < rows; t++)
                {
                    long token = t0 + t, at = token * K;
                    TIndex* index = p.Index + at;
                    int from = Advance(index, cursor[t], c0), to = Advance(index, from, c1);
                    cursor[t] = to;
                    float* x = p.X + token * D, gy = p.Gy + token * D;
                    for (int j = from; j < to; j++)
                    {
                        long row = (long)int.CreateTruncating(index[j]) * D;
                        float h = Silu(p.Gate[at + j]) * p.Up[at + j];
                        VectorMath.Axpy3(p.DGate + row, p.GradGate[at + j], p.DUp + row, p.GradUp[at + j], x, p.DDown + row, h, gy, D);
                    }
                }
            }
        });
    }

    /// <summary>Floats of scratch <see cref="Backward"/> needs: the gate and up gradients of every kept value.</summary>
    public static int BackwardScratchLength(int tokens) => 2 * tokens * K;

    private static void ForwardDense(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, Span<float> y,
        FeedForwardSaved<TIndex> saved, Span<float> hiddenTile)
    {
        var gate = saved.Gate.Slice(0, tokens * F);
        var up = saved.Up.Slice(0, tokens * F);
        Gemm.Multiply(false, true, tokens, F, D, 1f, x, D, weights.Gate, D, 0f, gate, F);
        Gemm.Multiply(false, true, tokens, F, D, 1f, x, D, weights.Up, D, 0f, up, F);
        for (int t0 = 0; t0 < tokens; t0 += TokenTile)
        {
            int rows = Math.Min(TokenTile, tokens - t0);
            var h = hiddenTile.Slice(0, rows * F);
            for (int i = 0; i < h.Length; i++) h[i] = Silu(gate[t0 * F + i]) * up[t0 * F + i];
            Gemm.Multiply(false, false, rows, D, F, 1f, h, F, weights.DownT, D, 0f, y.Slice(t0 * D, rows * D), D);
        }
    }

    private static void BackwardDense(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, FeedForwardSaved<TIndex> saved,
        ReadOnlySpan<float> gy, Span<float> gx, FeedForwardGradients gradients, Span<float> scratch)
    {
        int n = tokens * F;
        var gradGate = scratch.Slice(0, n);
        var gradUp = scratch.Slice(n, n);
        // gh = gy W_d (all channels) into gradGate; h = SiLU(g) u into gradUp, consumed by dW_d before gradUp is reused.
        Gemm.Multiply(false, true, tokens, F, D, 1f, gy, D, weights.DownT, D, 0f, gradGate, F);
        for (int i = 0; i < n; i++) gradUp[i] = Silu(saved.Gate[i]) * saved.Up[i];
        Gemm.Multiply(true, false, F, D, tokens, 1f, gradUp, F, gy, D, 1f, gradients.DownT, D);
        for (int i = 0; i < n; i++)
        {
            float g = saved.Gate[i], u = saved.Up[i], s = VectorMath.Sigmoid(g), silu = g * s, gh = gradGate[i];
            gradUp[i] = gh * silu;
            gradGate[i] = gh * u * s * (1f + g * (1f - s));
        }
        Gemm.Multiply(false, false, tokens, D, F, 1f, gradGate, F, weights.Gate, D, 0f, gx, D);
        Gemm.Multiply(false, false, tokens, D, F, 1f, gradUp, F, weights.Up, D, 1f, gx, D);
        Gemm.Multiply(true, false, F, D, tokens, 1f, gradGate, F, x, D, 1f, gradients.Gate, D);
        Gemm.Multiply(true, false, F, D, tokens, 1f, gradUp, F, x, D, 1f, gradients.Up, D);
    }

    private static float Silu(float z) => z * VectorMath.Sigmoid(z);

    private static float* Row(float* matrix, TIndex channel) => matrix + (long)int.CreateTruncating(channel) * D;

    private static void CheckCommon(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, FeedForwardSaved<TIndex> saved)
    {
        Check(tokens >= 0, nameof(tokens), $"tokens is {tokens}.");
        long weightsLength = (long)F * D;
        Check(x.Length >= (long)tokens * D, nameof(x), $"x holds {x.Length} floats; {tokens} x {D} are needed.");
        Check(weights.Gate.Length >= weightsLength, nameof(weights), $"the gate weights hold {weights.Gate.Length} floats; {F} x {D} are needed.");
        Check(weights.Up.Length >= weightsLength, nameof(weights), $"the up weights hold {weights.Up.Length} floats; {F} x {D} are needed.");
        Check(weights.DownT.Length >= weightsLength, nameof(weights), $"the down weights hold {weights.DownT.Length} floats; {F} x {D} are needed.");
        int perToken = IsDense ? F : K;
        Check(saved.Gate.Length >= (long)tokens * perToken && saved.Up.Length >= (long)tokens * perToken, nameof(saved),
            $"saved gate/up values hold {saved.Gate.Length}/{saved.Up.Length} floats; {tokens} x {perToken} are needed.");
        Check(IsDense || saved.Index.Length >= (long)tokens * K, nameof(saved), $"saved indices hold {saved.Index.Length}; {tokens} x {K} are needed.");
        if (!IsDense && typeof(TIndex) == typeof(ushort) && F > 65536)
            throw new ArgumentException($"d_ff = {F} needs 32-bit channel indices.", nameof(saved));
    }

    private static void Check(bool ok, string parameter, string message)
    {
        if (!ok) throw new ArgumentException($"MoC feed-forward (d = {D}, d_ff = {F}, K = {K}): {message}", parameter);
    }

    private readonly struct Pointers(float* x, float* gate0, float* up0, float* down0, float* y, float* scratch, float* gate, float* up, TIndex* index)
    {
        public readonly float* X = x, Gate0 = gate0, Up0 = up0, Down0 = down0, Y = y, Scratch = scratch, Gate = gate, Up = up;
        public readonly TIndex* Index = index;
    }

    private readonly struct BackwardPointers(float* x, float* gate0, float* up0, float* down0, float* gy, float* gx, float* gate, float* up,
        TIndex* index, float* gradGate, float* gradUp, float* dGate, float* dUp, float* dDown)
    {
        public readonly float* X = x, Gate0 = gate0, Up0 = up0, Down0 = down0, Gy = gy, Gx = gx, Gate = gate, Up = up;
        public readonly TIndex* Index = index;
        public readonly float* GradGate = gradGate, GradUp = gradUp, DGate = dGate, DUp = dUp, DDown = dDown;
    }
}
