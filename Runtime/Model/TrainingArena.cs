using System;
using System.Runtime.InteropServices;

namespace MoCGen.Model;

/// <summary>
/// The one aligned block of memory a training step works in, laid out by the model's <see cref="MemoryPlan"/>:
/// every activation at the fixed offset the generator chose. Buffers are handed out by the plan's entries, so the
/// step cannot use memory the plan does not account for.
/// </summary>
public sealed unsafe class TrainingArena : IDisposable
{
    private byte* _base;

    /// <summary>Allocates <see cref="MemoryPlan.ArenaBytes"/> bytes aligned to <see cref="MemoryPlan.Alignment"/>.</summary>
    public TrainingArena(MemoryPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        Plan = plan;
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)plan.ArenaBytes, (nuint)plan.Alignment);
        NativeMemory.Clear(_base, (nuint)plan.ArenaBytes);
    }

    /// <summary>The layout this arena follows.</summary>
    public MemoryPlan Plan { get; }

    /// <summary>Bytes allocated: exactly the plan's arena size.</summary>
    public long Bytes => Plan.ArenaBytes;

    /// <summary>Address of the first byte (aligned to the plan's alignment).</summary>
    public nint Address => (nint)Base;

    /// <summary>The plan's buffer named <paramref name="name"/> in <paramref name="layer"/> (-1 for model-level and workspace).</summary>
    public ActivationBuffer Find(string name, int layer = -1)
    {
        foreach (var b in Plan.Buffers)
            if (b.Layer == layer && b.Name == name) return b;
        throw new ArgumentException($"The memory plan has no buffer '{name}'{(layer >= 0 ? $" in layer {layer}" : "")}.", nameof(name));
    }

    /// <summary>A buffer's memory as elements of <typeparamref name="T"/>, whose size must match the buffer's element type.</summary>
    public Span<T> Span<T>(ActivationBuffer buffer) where T : unmanaged
    {
        if (sizeof(T) != buffer.ElementBytes)
            throw new ArgumentException($"Buffer '{buffer.Name}' holds {buffer.Element} ({buffer.ElementBytes} bytes), not {typeof(T).Name}.", nameof(buffer));
        if (buffer.Offset < 0 || buffer.Offset + buffer.Bytes > Plan.ArenaBytes)
            throw new ArgumentOutOfRangeException(nameof(buffer), $"Buffer '{buffer.Name}' [{buffer.Offset}, {buffer.Offset + buffer.Bytes}) lies outside the arena of {Plan.ArenaBytes} bytes.");
        return new Span<T>(Base + buffer.Offset, checked((int)(buffer.Rows * buffer.Columns)));
    }

    /// <summary>Shorthand for a named float buffer.</summary>
    public Span<float> Floats(string name, int layer = -1) => Span<float>(Find(name, layer));

    private byte* Base => _base != null ? _base : throw new ObjectDisposedException(nameof(TrainingArena));

    /// <summary>Frees the memory.</summary>
    public void Dispose()
    {
        if (_base == null) return;
        NativeMemory.AlignedFree(_base);
        _base = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the memory if <see cref="Dispose"/> was not called.</summary>
    ~TrainingArena() => Dispose();
}
