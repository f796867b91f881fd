using MoCGen.Compiler.Planning;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// Tile sizes of the two sparse products in Templates/Sparse.scriban that the MoC forward and backward share, and the
/// window-start table both read. A sampled product (forward up, backward gh) computes one dot product per kept slot;
/// a windowed product (forward down, backward gx) sums kept rows into each token's output row.
/// </summary>
public static class SparseTiles
{
    /// <summary>Channels per window of the start table (one bit each in a 32-bit mask).</summary>
    public const int Window = 32;

    /// <summary>Threads of a window-start block (one token).</summary>
    public const int WindowThreads = 128;

    /// <summary>Window starts per token: the start table is [tokens, WindowStarts] ints.</summary>
    public static int WindowStarts(PlanShape shape) => (shape.Intermediate + Window - 1) / Window + 1;

    /// <summary>Sampled product: threads per block (8 warps).</summary>
    public const int SampledThreads = 256;

    /// <summary>Sampled product: tokens per block. Every W row the block stages serves its tokens that kept it (about
    /// 128 K / d_ff = 16 at K = d_ff / 8), and W streams from memory once per 128 tokens.</summary>
    public const int SampledTokens = 128;

    /// <summary>Sampled product: windows per block (64 channels).</summary>
    public const int SampledSpan = 2;

    /// <summary>Sampled product: columns of A and W staged at a time.</summary>
    public const int SampledDepth = 32;

    /// <summary>Sampled product: kept slots a thread sums per pass (a block takes 2048 a pass: at K = d_ff / 8 its
    /// 128 tokens keep about 1024 of its 64 channels' 8192 pairs, so one pass).</summary>
    public const int SampledPerThread = 8;

    /// <summary>Sampled product: static shared memory, bytes (slot counts and sums, the staged slices of A and W).</summary>
    public const int SampledSharedBytes = (4 * SampledTokens + 1 + (SampledTokens + SampledSpan * Window) * (SampledDepth + 1)) * 4;

    /// <summary>Windowed product: threads per block (8 warps).</summary>
    public const int WindowedThreads = 256;

    /// <summary>Windowed product: tokens per block (8 per warp).</summary>
    public const int WindowedTokens = 64;

    /// <summary>Windowed product: columns per block (two per lane).</summary>
    public const int WindowedCols = 64;

    /// <summary>Windowed product: static shared memory, bytes, summing <paramref name="products"/> (1 or 2) kept-row
    /// products: slot counts, sums and masks, each product's coefficients and staged rows.</summary>
    public static int WindowedSharedBytes(int products) =>
        (4 * WindowedTokens + 1 + WindowedTokens + products * (WindowedTokens * Window + Window * WindowedCols)) * 4;

    /// <summary>Sampled product grid: (ceil(d_ff / 64), ceil(tokens / 128)) as launch-table text.</summary>
    public static string SampledGrid(PlanShape shape)
    {
        int channels = SampledSpan * Window;
        return $"({LaunchTable.Int((shape.Intermediate + channels - 1) / channels)}, (tokens + {LaunchTable.Int(SampledTokens - 1)}) / {LaunchTable.Int(SampledTokens)})";
    }

    /// <summary>Windowed product grid: (ceil(d / 64), ceil(tokens / 64)) as launch-table text.</summary>
    public static string WindowedGrid(PlanShape shape) =>
        $"({LaunchTable.Int((shape.Hidden + WindowedCols - 1) / WindowedCols)}, (tokens + {LaunchTable.Int(WindowedTokens - 1)}) / {LaunchTable.Int(WindowedTokens)})";
}
