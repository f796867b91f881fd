using System;
using System.Buffers;
using System.Numerics;

namespace MoCGen.Cpu;

/// <summary>
/// Per-token Top-K channel selection by selection, not sorting: the K largest raw gate values of a row.
/// Ties at the threshold go to the lower channel index; the chosen indices come out in ascending order,
/// so a token's selected channels are visited in memory order by the sparse products.
/// </summary>
public static class TopK
{
    /// <summary>
    /// Selects the <paramref name="k"/> largest values of <paramref name="values"/>. Writes their indices in
    /// ascending order to <paramref name="indices"/> and the values themselves to <paramref name="selected"/>.
    /// NaN ranks below every number (even -infinity); -0 and +0 are equal.
    /// </summary>
    public static void Select<TIndex>(ReadOnlySpan<float> values, int k, Span<TIndex> indices, Span<float> selected)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        int n = values.Length;
        if ((uint)k > (uint)n) throw new ArgumentOutOfRangeException(nameof(k), $"K = {k} is outside 0..{n}.");
        if (indices.Length < k || selected.Length < k)
            throw new ArgumentException($"Output spans hold {indices.Length} indices and {selected.Length} values; {k} are needed.");
        if (k == 0) return;

        int[]? rented = null;
        Span<int> keys = n <= 8192 ? stackalloc int[n] : (rented = ArrayPool<int>.Shared.Rent(n)).AsSpan(0, n);
        try
        {
            int min = int.MaxValue, max = int.MinValue;
            for (int j = 0; j < n; j++)
            {
                int key = Key(values[j]);
                keys[j] = key;
                min = Math.Min(min, key);
                max = Math.Max(max, key);
            }
            int threshold = KthLargestKey(keys, k, min, max);

            // Everything above the threshold is in; the remaining slots go to keys equal to it, lowest index first.
            int equalQuota = k - CountAtLeast(keys, threshold + 1L);
            int count = 0;
            for (int j = 0; j < n && count < k; j++)
            {
                int key = keys[j];
                if (key > threshold || (key == threshold && equalQuota-- > 0))
                {
                    indices[count] = TIndex.CreateTruncating(j);
                    selected[count++] = values[j];
                }
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>An int that orders like the float: NaN lowest, -0 equal to +0.</summary>
    private static int Key(float value)
    {
        if (float.IsNaN(value)) return int.MinValue;
        if (value == 0) return 0;
        int bits = BitConverter.SingleToInt32Bits(value);
        return bits >= 0 ? bits : bits ^ int.MaxValue;
    }

    /// <summary>
    /// The k-th largest key, by bisection on the key's value: the largest T with at least k keys &gt;= T. Each
    /// step is one branch-free vector count over the row (at most 32 steps); no data-dependent branches, no copies.
    /// </summary>
    private static int KthLargestKey(ReadOnlySpan<int> keys, int k, int min, int max)
    {
        long lo = min, hi = max;
        while (lo < hi)
        {
            long mid = (lo + hi + 1) >> 1;
            if (CountAtLeast(keys, mid) >= k) lo = mid;
            else hi = mid - 1;
        }
        return (int)lo;
    }

    private static int CountAtLeast(ReadOnlySpan<int> keys, long threshold)
    {
        if (threshold > int.MaxValue) return 0;
        int t = (int)threshold, i = 0, width = Vector<int>.Count;
        var vt = new Vector<int>(t);
        var acc = Vector<int>.Zero;
        for (; i <= keys.Length - width; i += width)
            acc -= Vector.GreaterThanOrEqual(new Vector<int>(keys.Slice(i, width)), vt);
        int count = Vector.Sum(acc);
        for (; i < keys.Length; i++)
            if (keys[i] >= t) count++;
        return count;
    }
}
