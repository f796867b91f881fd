using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace MoCGen.Checkpoints;

/// <summary>Scalar conversions between fp32 and the stored dtypes, and the non-finite scan.</summary>
internal static class ElementConversion
{
    /// <summary>fp32 to bfloat16 by round-to-nearest-even; NaN stays a (quiet) NaN of the same sign.</summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((bits >> 16) | 0x0040u);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(bits >> 16);
    }

    /// <summary>bfloat16 to fp32 (exact).</summary>
    public static float FromBFloat16(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Converts a span to bfloat16 bits (round-to-nearest-even), <see cref="Vector{T}"/> wide where possible.</summary>
    public static void ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("Destination too short.", nameof(destination));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<uint>.Count;
            var bits = MemoryMarshal.Cast<float, uint>(source);
            for (; i <= source.Length - 2 * w; i += 2 * w)
                Vector.Narrow(Round(new Vector<uint>(bits[i..])), Round(new Vector<uint>(bits[(i + w)..]))).CopyTo(destination[i..]);
        }
        for (; i < source.Length; i++) destination[i] = ToBFloat16(source[i]);

        static Vector<uint> Round(Vector<uint> x)
        {
            var rounded = (x + new Vector<uint>(0x7FFFu) + ((x >> 16) & Vector<uint>.One)) >> 16;
            var nan = Vector.GreaterThan(x & new Vector<uint>(0x7FFF_FFFFu), new Vector<uint>(0x7F80_0000u));
            return Vector.ConditionalSelect(nan, (x >> 16) | new Vector<uint>(0x0040u), rounded);
        }
    }

    /// <summary>Widens bfloat16 bits to fp32 (exact), <see cref="Vector{T}"/> wide where possible.</summary>
    public static void FromBFloat16(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("Destination too short.", nameof(destination));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<ushort>.Count;
            var bits = MemoryMarshal.Cast<float, uint>(destination);
            for (; i <= source.Length - w; i += w)
            {
                Vector.Widen(new Vector<ushort>(source[i..]), out var low, out var high);
                (low << 16).CopyTo(bits[i..]);
                (high << 16).CopyTo(bits[(i + w / 2)..]);
            }
        }
        for (; i < source.Length; i++) destination[i] = FromBFloat16(source[i]);
    }

    /// <summary>Index of the first bfloat16 NaN or infinity, or -1.</summary>
    public static int FirstNonFiniteBFloat16(ReadOnlySpan<ushort> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var exponent = new Vector<ushort>(0x7F80);
            for (; i <= values.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
                if (Vector.EqualsAny(new Vector<ushort>(values[i..]) & exponent, exponent)) break;
        }
        for (; i < values.Length; i++)
            if ((values[i] & 0x7F80) == 0x7F80) return i;
        return -1;
    }

    /// <summary>Index of the first NaN or infinity, or -1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<uint>.Count)
        {
            var bits = MemoryMarshal.Cast<float, uint>(values);
            var exponent = new Vector<uint>(0x7F80_0000u);
            for (; i <= bits.Length - Vector<uint>.Count; i += Vector<uint>.Count)
                if (Vector.EqualsAny(new Vector<uint>(bits.Slice(i)) & exponent, exponent)) break;
        }
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>The element index as a multi-dimensional index, e.g. "[3, 17]".</summary>
    public static string IndexText(long element, long[] shape)
    {
        if (shape.Length <= 1) return $"[{element}]";
        var index = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            long n = shape[d];
            if (n == 0) return $"[{element}]";
            index[d] = element % n;
            element /= n;
        }
        return "[" + string.Join(", ", index) + "]";
    }

    /// <summary>A shape as "[2, 3]".</summary>
    public static string ShapeText(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>Product of the dimensions, checked for overflow; false when it overflows.</summary>
    public static bool TryElements(ReadOnlySpan<long> shape, out long elements)
    {
        elements = 1;
        foreach (var d in shape)
        {
            if (d < 0) return false;
            if (d != 0 && elements > long.MaxValue / d) return false;
            elements *= d;
        }
        return true;
    }
}
