using System;
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
                ParallelTokens(rows, a, t0, static (p, t0, t) => ForwardToken(p, t0, t));
            }
        }
    }

    private static void ForwardToken(Pointers p, int t0, int t)
    {
        int token = t0 + t;
        float* x = p.X + (long)token * D;
        float* y = p.Y + (long)token * D;
        TIndex* index = p.Index + (long)token * K;
        float* gate = p.Gate + (long)token * K;
        float* up = p.Up + (long)token * K;
        TopK.Select(new ReadOnlySpan<float>(p.Scratch + (long)t * F, F), K, new Span<TIndex>(index, K), new Span<float>(gate, K));

        // Up on the selected rows only, four rows per pass over x.
        int j = 0;
        for (; j <= K - 4; j += 4)
        {
            VectorMath.Dot4(x, Row(p.Up0, index[j]), Row(p.Up0, index[j + 1]), Row(p.Up0, index[j + 2]), Row(p.Up0, index[j + 3]), D,
                out up[j], out up[j + 1], out up[j + 2], out up[j + 3]);
        }
        for (; j < K; j++) up[j] = VectorMath.Dot(x, Row(p.Up0, index[j]), D);

        // Down over the selected channels only: y = sum_j h_j W_d[:, j], with W_d stored transposed.
        VectorMath.Clear(y, D);
        j = 0;
        for (; j <= K - 4; j += 4)
        {
            VectorMath.Axpy4(y,
                Silu(gate[j]) * up[j], Row(p.Down0, index[j]),
                Silu(gate[j + 1]) * up[j + 1], Row(p.Down0, index[j + 1]),
                Silu(gate[j + 2]) * up[j + 2], Row(p.Down0, index[j + 2]),
                Silu(gate[j + 3]) * up[j + 3], Row(p.Down0, index[j + 3]), D);
        }
        for (; j < K; j++) VectorMath.Axpy(y, Silu(gate[j]) * up[j], Row(p.Down0, index[j]), D);
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
            // Token-major: the gradients of each token's K selected channels, then dL/dx through those rows.
            ParallelTokens(tokens, a, static (p, t) => BackwardToken(p, t));
            // Channel-major: each channel's weight-gradient rows gather the tokens that selected it, so no two
            // threads write the same row and the sum order is fixed (deterministic).
            var byChannel = ChannelLists.Build(saved.Index.Slice(0, (int)pairs), tokens, K, F);
            ParallelChannels(a, byChannel);
        }
    }

    /// <summary>Floats of scratch <see cref="Backward"/> needs: the gate and up gradients of every kept value.</summary>
    public static int BackwardScratchLength(int tokens) => 2 * tokens * K;

    private static void BackwardToken(BackwardPointers p, int token)
    {
        long at = (long)token * K;
        float* gy = p.Gy + (long)token * D;
        float* gx = p.Gx + (long)token * D;
        TIndex* index = p.Index + at;
        float* gate = p.Gate + at, up = p.Up + at, gg = p.GradGate + at, gu = p.GradUp + at;

        // gh_j = (W_d^T gy)_j on S.
        int j = 0;
        for (; j <= K - 4; j += 4)
            VectorMath.Dot4(gy, Row(p.Down0, index[j]), Row(p.Down0, index[j + 1]), Row(p.Down0, index[j + 2]), Row(p.Down0, index[j + 3]), D,
                out gg[j], out gg[j + 1], out gg[j + 2], out gg[j + 3]);
        for (; j < K; j++) gg[j] = VectorMath.Dot(gy, Row(p.Down0, index[j]), D);

        for (j = 0; j < K; j++)
        {
            float g = gate[j], s = VectorMath.Sigmoid(g), silu = g * s, gh = gg[j];
            gu[j] = gh * silu;
            gg[j] = gh * up[j] * s * (1f + g * (1f - s));
        }

        // gx = W_g^T gg + W_u^T gu over the selected rows.
        VectorMath.Clear(gx, D);
        for (j = 0; j <= K - 2; j += 2)
            VectorMath.Axpy4(gx, gg[j], Row(p.Gate0, index[j]), gu[j], Row(p.Up0, index[j]),
                gg[j + 1], Row(p.Gate0, index[j + 1]), gu[j + 1], Row(p.Up0, index[j + 1]), D);
        for (; j < K; j++)
        {
            VectorMath.Axpy(gx, gg[j], Row(p.Gate0, index[j]), D);
            VectorMath.Axpy(gx, gu[j], Row(p.Up0, index[j]), D);
        }
    }

    private static void ParallelChannels(BackwardPointers p, ChannelLists lists)
    {
        int workers = Math.Min(Environment.ProcessorCount, F);
        Parallel.For(0, workers, w =>
        {
            for (int channel = w; channel < F; channel += workers) ChannelGradients(p, lists, channel);
        });
    }

    /// <summary>dW_g[j] += sum gg x^T, dW_u[j] += sum gu x^T, dW_d^T[j] += sum h gy^T over the tokens that chose j.</summary>
    private static void ChannelGradients(BackwardPointers p, ChannelLists lists, int channel)
    {
        int start = lists.Start[channel], end = lists.Start[channel + 1];
        if (start == end) return;
        float* dg = p.DGate + (long)channel * D, du = p.DUp + (long)channel * D, dd = p.DDown + (long)channel * D;
        for (int e = start; e < end; e++)
        {
            long pair = lists.Pair[e];
            long token = pair / K;
            float* x = p.X + token * D, gy = p.Gy + token * D;
            VectorMath.Axpy(dg, p.GradGate[pair], x, D);
            VectorMath.Axpy(du, p.GradUp[pair], x, D);
            VectorMath.Axpy(dd, Silu(p.Gate[pair]) * p.Up[pair], gy, D);
        }
    }

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

    private static void ParallelTokens(int count, Pointers p, int t0, Action<Pointers, int, int> body)
    {
        int workers = Math.Min(Environment.ProcessorCount, count);
        if (workers <= 1)
        {
            for (int t = 0; t < count; t++) body(p, t0, t);
            return;
        }
        Parallel.For(0, workers, w =>
        {
            for (int t = w; t < count; t += workers) body(p, t0, t);
        });
    }

    private static void ParallelTokens(int count, BackwardPointers p, Action<BackwardPointers, int> body)
    {
        int workers = Math.Min(Environment.ProcessorCount, count);
        if (workers <= 1)
        {
            for (int t = 0; t < count; t++) body(p, t);
            return;
        }
        Parallel.For(0, workers, w =>
        {
            for (int t = w; t < count; t += workers) body(p, t);
        });
    }
}

/// <summary>For each channel, the (token, slot) pairs that selected it, in token order (counting sort).</summary>
internal sealed class ChannelLists
{
    public required int[] Start { get; init; }
    public required long[] Pair { get; init; }

    public static ChannelLists Build<TIndex>(ReadOnlySpan<TIndex> index, int tokens, int k, int channels)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var start = new int[channels + 1];
        foreach (var c in index) start[int.CreateTruncating(c) + 1]++;
        for (int c = 0; c < channels; c++) start[c + 1] += start[c];
        var next = (int[])start.Clone();
        var pair = new long[(long)tokens * k];
        for (long i = 0; i < pair.Length; i++) pair[next[int.CreateTruncating(index[(int)i])]++] = i;
        return new ChannelLists { Start = start, Pair = pair };
    }
}
