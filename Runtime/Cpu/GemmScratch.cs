using System;
using System.Runtime.InteropServices;

namespace MoCGen.Cpu;

/// <summary>
/// Per-thread packing buffers, 64-byte aligned (one cache line, one AVX-512 vector), grown on demand
/// and reused across calls: a GEMM call packs megabytes, and allocating them each time would cost
/// page faults on every call. Freed by the finalizer once the owning thread is gone.
/// </summary>
internal sealed unsafe class GemmScratch
{
    [ThreadStatic]
    private static GemmScratch? t_current;

    private const nuint Alignment = 64;

    private float* _a, _b, _edge;
    private nint _aLength, _bLength, _edgeLength;

    public static GemmScratch ForCurrentThread() => t_current ??= new GemmScratch();

    /// <summary>At least <paramref name="floats"/> floats for packed A (contents undefined).</summary>
    public float* A(nint floats) => Ensure(ref _a, ref _aLength, floats);

    /// <summary>At least <paramref name="floats"/> floats for packed B (contents undefined).</summary>
    public float* B(nint floats) => Ensure(ref _b, ref _bLength, floats);

    /// <summary>At least <paramref name="floats"/> floats for one edge tile or small-m operand.</summary>
    public float* Edge(nint floats) => Ensure(ref _edge, ref _edgeLength, floats);

    private static float* Ensure(ref float* buffer, ref nint length, nint floats)
    {
        if (floats <= length)
            return buffer;
        NativeMemory.AlignedFree(buffer);
        buffer = null;
        length = 0;
        // Round up to 64 floats so that a slightly larger next call does not reallocate.
        nint size = (Math.Max(floats, 1) + 63) & ~(nint)63;
        buffer = (float*)NativeMemory.AlignedAlloc((nuint)size * sizeof(float), Alignment);
        length = size;
        return buffer;
    }

    ~GemmScratch()
    {
        NativeMemory.AlignedFree(_a);
        NativeMemory.AlignedFree(_b);
        NativeMemory.AlignedFree(_edge);
    }
}
