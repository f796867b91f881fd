using System;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace MoCGen.Benchmarks.Suites;

/// <summary>
/// This machine's memory bandwidth, measured in the same run: a streaming read of a buffer far larger than the
/// last-level cache, on all cores. The yardstick for the decode kernels, whose speed is the bytes they must read.
/// </summary>
public static unsafe class Bandwidth
{
    public const long BufferBytes = 512L << 20;

    private static float* _buffer;
    private static float* _flush;
    public const long FlushBytes = 96L << 20;

    public static Result Measure(int repeats)
    {
        long floats = BufferBytes / 4;
        if (_buffer == null)
        {
            _buffer = (float*)NativeMemory.AlignedAlloc((nuint)BufferBytes, 64);
            new Span<float>(_buffer, (int)Math.Min(floats, int.MaxValue)).Fill(1f);
        }
        var row = Benchmarks.Measure.Row("bandwidth", "stream read 512 MiB", "read", () => Sum(_buffer, floats), 2, repeats);
        row.Figures["GB/s"] = BufferBytes / (row.MedianMs / 1e3) / 1e9;
        return row;
    }

    /// <summary>Evicts the caches by reading a buffer larger than the last-level cache (not timed).</summary>
    public static void FlushCaches()
    {
        long floats = FlushBytes / 4;
        if (_flush == null)
        {
            _flush = (float*)NativeMemory.AlignedAlloc((nuint)FlushBytes, 64);
            new Span<float>(_flush, (int)floats).Fill(2f);
        }
        Sum(_flush, floats);
    }

    private static float Sum(float* data, long count)
    {
        int workers = Environment.ProcessorCount;
        long chunk = (count / workers + 15) / 16 * 16;
        var partial = new float[workers];
        Parallel.For(0, workers, w =>
        {
            long start = w * chunk, end = Math.Min(count, start + chunk);
            int width = Vector<float>.Count;
            Vector<float> a0 = default, a1 = default, a2 = default, a3 = default;
            long i = start;
            for (; i + 4 * width <= end; i += 4 * width)
            {
                a0 += *(Vector<float>*)(data + i);
                a1 += *(Vector<float>*)(data + i + width);
                a2 += *(Vector<float>*)(data + i + 2 * width);
                a3 += *(Vector<float>*)(data + i + 3 * width);
            }
            float s = Vector.Sum(a0 + a1 + a2 + a3);
            for (; i < end; i++) s += data[i];
            partial[w] = s;
        });
        float total = 0;
        foreach (var p in partial) total += p;
        return total;
    }
}
