using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MoCGen.Cuda;

/// <summary>
/// The parameters of one kernel launch, in declaration order, without boxing or reflection: each value is copied into
/// a native (unmovable) block, and <see cref="CudaKernel.Launch"/> builds the <c>void**</c> array cuLaunchKernel wants,
/// one pointer per parameter into that block. Reusable (<see cref="Clear"/>) and disposable.
/// </summary>
/// <example><code>
/// using var args = new KernelArguments().Add(x).Add(y).Add(n).Add(1.0f / n);
/// kernel.Launch((blocks, 1, 1), (256, 1, 1), 0, stream, args);
/// </code></example>
public sealed unsafe class KernelArguments : IDisposable
{
    private byte* values;
    private int capacity;
    private int used;
    private readonly List<int> offsets = new();
    private void** pointers;
    private int pointerCapacity;

    /// <summary>An empty argument list.</summary>
    public KernelArguments()
    {
        capacity = 256;
        values = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 16);
    }

    /// <summary>Frees the native blocks if <see cref="Dispose"/> was not called.</summary>
    ~KernelArguments() => Free();

    /// <summary>Number of arguments added.</summary>
    public int Count => offsets.Count;

    /// <summary>Appends a scalar or struct parameter (int, float, ulong device pointer, a struct mirroring a CUDA struct, ...).</summary>
    public KernelArguments Add<T>(T value) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(values == null, this);
        int size = Unsafe.SizeOf<T>();
        int alignment = size >= 16 ? 16 : 8;
        int offset = (used + alignment - 1) & -alignment;
        Reserve(offset + size);
        Unsafe.WriteUnaligned(values + offset, value);
        offsets.Add(offset);
        used = offset + size;
        return this;
    }

    /// <summary>Appends a device buffer as a <c>T*</c> parameter (its CUdeviceptr).</summary>
    public KernelArguments Add<T>(CudaBuffer<T> buffer) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        return Add(buffer.DevicePointer);
    }

    /// <summary>Appends a raw device address as a pointer parameter.</summary>
    public KernelArguments AddPointer(ulong devicePointer) => Add(devicePointer);

    /// <summary>Removes all arguments, keeping the storage.</summary>
    public KernelArguments Clear()
    {
        offsets.Clear();
        used = 0;
        return this;
    }

    private void Reserve(int bytes)
    {
        if (bytes <= capacity) return;
        int next = Math.Max(bytes, capacity * 2);
        values = (byte*)NativeMemory.AlignedRealloc(values, (nuint)next, 16);
        capacity = next;
    }

    /// <summary>Test seam: where the value block starts.</summary>
    internal nint ValueBase => (nint)values;

    /// <summary>Test seam: each argument's byte offset in the value block.</summary>
    internal IReadOnlyList<int> Offsets => offsets;

    /// <summary>Fills and returns the kernelParams array: entry i points at argument i. Valid until the next Add, Clear or
    /// Dispose (the value block may move when it grows).</summary>
    internal void** BuildPointerArray()
    {
        ObjectDisposedException.ThrowIf(values == null, this);
        if (pointerCapacity < Math.Max(1, offsets.Count))
        {
            int next = Math.Max(8, offsets.Count);
            pointers = (void**)NativeMemory.Realloc(pointers, (nuint)(next * sizeof(void*)));
            pointerCapacity = next;
        }
        for (int i = 0; i < offsets.Count; i++) pointers[i] = values + offsets[i];
        return pointers;
    }

    /// <summary>Test seam: <see cref="BuildPointerArray"/> copied out as addresses.</summary>
    internal nint[] PointerArraySnapshot()
    {
        void** p = BuildPointerArray();
        var result = new nint[offsets.Count];
        for (int i = 0; i < result.Length; i++) result[i] = (nint)p[i];
        return result;
    }

    /// <summary>Frees the native blocks.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (values != null) NativeMemory.AlignedFree(values);
        if (pointers != null) NativeMemory.Free(pointers);
        values = null;
        pointers = null;
        capacity = pointerCapacity = used = 0;
    }
}

/// <summary>A CUDA grid or block extent. Converts from an int (x, 1, 1) or an (x, y, z) tuple.</summary>
public readonly record struct Dim3
{
    /// <summary>An extent; every component must be at least 1.</summary>
    public Dim3(int x, int y = 1, int z = 1)
    {
        if (x < 1 || y < 1 || z < 1)
            throw new ArgumentOutOfRangeException(nameof(x), $"CUDA dimensions must be at least 1, got ({x}, {y}, {z})");
        X = (uint)x;
        Y = (uint)y;
        Z = (uint)z;
    }

    /// <summary>Extent along x.</summary>
    public uint X { get; }

    /// <summary>Extent along y.</summary>
    public uint Y { get; }

    /// <summary>Extent along z.</summary>
    public uint Z { get; }

    /// <summary>(x, 1, 1).</summary>
    public static implicit operator Dim3(int x) => new(x);

    /// <summary>(x, y, z).</summary>
    public static implicit operator Dim3((int X, int Y, int Z) d) => new(d.X, d.Y, d.Z);

    /// <inheritdoc/>
    public override string ToString() => $"({X}, {Y}, {Z})";
}
