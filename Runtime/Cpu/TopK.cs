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
    /// NaN is never preferred to a number; a row with fewer than K numbers is filled with the lowest remaining indices.
    /// </summary>
    public static void Select<TIndex>(ReadOnlySpan<float> values, int k, Span<TIndex> indices, Span<float> selected)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        int n = values.Length;
        if ((uint)k > (uint)n) throw new ArgumentOutOfRangeException(nameof(k), $"K = {k} is outside 0..{n}.");
        if (indices.Length < k || selected.Length < k)
            throw new ArgumentException($"Output spans hold {indices.Length} indices and {selected.Length} values; {k} are needed.");
        if (k == 0) return;
        if (k == n)
        {
            for (int j = 0; j < n; j++)
            {
                indices[j] = TIndex.CreateTruncating(j);
                selected[j] = values[j];
            }
            return;
        }

        float threshold = KthLargest(values, k);
        // Everything strictly above the threshold is in; the remaining slots go to values equal to it, lowest index first.
        int above = 0;
        for (int j = 0; j < n; j++)
            if (values[j] > threshold) above++;
        int equalQuota = k - above;
        int count = 0;
        for (int j = 0; j < n && count < k; j++)
        {
            float v = values[j];
            if (v > threshold || (v == threshold && equalQuota-- > 0))
            {
                indices[count] = TIndex.CreateTruncating(j);
                selected[count++] = v;
            }
        }
        if (count < k) FillWithLowestUnselected(values, k, indices, selected, count);
    }

    /// <summary>The k-th largest value (1-based), NaN ordered below every number; quickselect on a scratch copy.</summary>
    private static float KthLargest(ReadOnlySpan<float> values, int k)
    {
        float[]? rented = null;
        Span<float> scratch = values.Length <= 4096 ? stackalloc float[values.Length] : (rented = ArrayPool<float>.Shared.Rent(values.Length)).AsSpan(0, values.Length);
        try
        {
            for (int j = 0; j < values.Length; j++)
                scratch[j] = float.IsNaN(values[j]) ? float.NegativeInfinity : values[j];
            // Find the element of rank (k - 1) in descending order.
            int target = k - 1, lo = 0, hi = scratch.Length - 1;
            while (lo < hi)
            {
                int mid = lo + (hi - lo) / 2;
                float pivot = MedianOfThree(scratch[lo], scratch[mid], scratch[hi]);
                int i = lo, j = hi;
                while (i <= j)
                {
                    while (scratch[i] > pivot) i++;
                    while (scratch[j] < pivot) j--;
                    if (i <= j)
                    {
                        (scratch[i], scratch[j]) = (scratch[j], scratch[i]);
                        i++;
                        j--;
                    }
                }
                if (target <= j) hi = j;
                else if (target >= i) lo = i;
                else break;
            }
            return scratch[target];
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static float MedianOfThree(float a, float b, float c) =>
        a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));

    private static void FillWithLowestUnselected<TIndex>(ReadOnlySpan<float> values, int k, Span<TIndex> indices, Span<float> selected, int count)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        // Only NaNs can get here (they never compare equal to the threshold). Merge the missing lowest indices in, keeping order.
        var taken = new bool[values.Length];
        for (int s = 0; s < count; s++) taken[int.CreateTruncating(indices[s])] = true;
        for (int j = 0; j < values.Length && count < k; j++)
            if (!taken[j]) { taken[j] = true; count++; }
        int slot = 0;
        for (int j = 0; j < values.Length; j++)
        {
            if (!taken[j]) continue;
            indices[slot] = TIndex.CreateTruncating(j);
            selected[slot++] = values[j];
        }
    }
}
