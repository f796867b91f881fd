using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// Token embedding lookup, fp32: forward copies row ids[t] of the table [vocab, width] to output row t; backward
/// adds dOutput row t to dTable row ids[t]. Backward is deterministic and thread-count independent: threads own
/// disjoint column ranges of dTable, and each walks the tokens in order, so every row's sum has a fixed order.
/// Every id is checked before anything is written.
/// </summary>
public static unsafe class Embedding
{
    private const long ParallelThreshold = 1 << 16;

    /// <summary>output[t] = table[ids[t]].</summary>
    /// <param name="tokens">Rows of output.</param>
    /// <param name="vocab">Rows of the table.</param>
    /// <param name="width">Floats per row.</param>
    /// <param name="ids">Token ids, [tokens], each in [0, vocab).</param>
    /// <param name="table">Embedding matrix, [vocab, width].</param>
    /// <param name="output">[tokens, width]; overwritten.</param>
    public static void Forward(int tokens, int vocab, int width, ReadOnlySpan<int> ids, ReadOnlySpan<float> table, Span<float> output)
    {
        Check(tokens, vocab, width, ids, table.Length, nameof(table), output.Length, nameof(output));
        for (int t = 0; t < tokens; t++)
            table.Slice(ids[t] * width, width).CopyTo(output.Slice(t * width, width));
    }

    /// <summary>dTable[ids[t]] += dOutput[t] for every token, in token order.</summary>
    /// <param name="tokens">Rows of dOutput.</param>
    /// <param name="vocab">Rows of dTable.</param>
    /// <param name="width">Floats per row.</param>
    /// <param name="ids">Token ids, [tokens], each in [0, vocab).</param>
    /// <param name="dOutput">dL/doutput, [tokens, width].</param>
    /// <param name="dTable">dL/dtable, [vocab, width]: added to.</param>
    public static void Backward(int tokens, int vocab, int width, ReadOnlySpan<int> ids, ReadOnlySpan<float> dOutput, Span<float> dTable)
    {
        Check(tokens, vocab, width, ids, dTable.Length, nameof(dTable), dOutput.Length, nameof(dOutput));
        if (tokens == 0)
            return;
        fixed (int* pi = ids)
        fixed (float* pg = dOutput, pt = dTable)
        {
            nint ai = (nint)pi, ag = (nint)pg, at = (nint)pt;
            int threads = (long)tokens * width < ParallelThreshold ? 1 : Math.Min(Environment.ProcessorCount, Math.Max(1, width / 64));
            if (threads <= 1)
            {
                Accumulate((int*)ai, (float*)ag, (float*)at, tokens, width, 0, width);
                return;
            }
            Parallel.For(0, threads, w =>
            {
                // Column ranges in whole vectors, so every thread runs full-width loads.
                int unit = Vector<float>.Count, units = (width + unit - 1) / unit;
                int c0 = Math.Min(width, (int)((long)units * w / threads) * unit);
                int c1 = Math.Min(width, (int)((long)units * (w + 1) / threads) * unit);
                Accumulate((int*)ai, (float*)ag, (float*)at, tokens, width, c0, c1);
            });
        }
    }

    private static void Accumulate(int* ids, float* dOut, float* dTable, int tokens, int width, int c0, int c1)
    {
        for (int t = 0; t < tokens; t++)
        {
            float* src = dOut + (long)t * width, dst = dTable + (long)ids[t] * width;
            int w = Vector<float>.Count, i = c0;
            for (; i <= c1 - w; i += w)
                Unsafe.WriteUnaligned(dst + i, Unsafe.ReadUnaligned<Vector<float>>(dst + i) + Unsafe.ReadUnaligned<Vector<float>>(src + i));
            for (; i < c1; i++) dst[i] += src[i];
        }
    }

    private static void Check(int tokens, int vocab, int width, ReadOnlySpan<int> ids, int tableLength, string tableName, int rowsLength, string rowsName)
    {
        if (tokens < 0)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"tokens must be >= 0 (got {tokens}).");
        if (vocab <= 0)
            throw new ArgumentOutOfRangeException(nameof(vocab), vocab, $"vocab must be > 0 (got {vocab}).");
        if (width <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"width must be > 0 (got {width}).");
        if (ids.Length < tokens)
            throw new ArgumentException($"ids holds {ids.Length} entries; {tokens} are needed.", nameof(ids));
        if (tableLength < (long)vocab * width)
            throw new ArgumentException($"{tableName} holds {tableLength} floats; {vocab} x {width} are needed.", tableName);
        if (rowsLength < (long)tokens * width)
            throw new ArgumentException($"{rowsName} holds {rowsLength} floats; {tokens} x {width} are needed.", rowsName);
        for (int t = 0; t < tokens; t++)
            if ((uint)ids[t] >= (uint)vocab)
                throw new ArgumentException($"Token id at position {t} is {ids[t]}, outside [0, {vocab}): the vocabulary has {vocab} entries.", nameof(ids));
    }
}
