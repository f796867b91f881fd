using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MoCGen.Cpu;

/// <summary>
/// The gathered products of the sparse feed-forward block: several selected rows against one token at once, so
/// that each load of the token's vector feeds several FMAs. Vector&lt;float&gt; is the hardware width (256 bits here).
/// </summary>
internal static unsafe class VectorMath
{
    /// <summary>Dot products of four rows with one vector x of length n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(float* x, float* r0, float* r1, float* r2, float* r3, int n, out float d0, out float d1, out float d2, out float d3)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i <= n - w; i += w)
        {
            var xv = Unsafe.ReadUnaligned<Vector<float>>(x + i);
            a0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r0 + i), xv, a0);
            a1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r1 + i), xv, a1);
            a2 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r2 + i), xv, a2);
            a3 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r3 + i), xv, a3);
        }
        float s0 = Vector.Sum(a0), s1 = Vector.Sum(a1), s2 = Vector.Sum(a2), s3 = Vector.Sum(a3);
        for (; i < n; i++)
        {
            float xi = x[i];
            s0 += r0[i] * xi;
            s1 += r1[i] * xi;
            s2 += r2[i] * xi;
            s3 += r3[i] * xi;
        }
        d0 = s0; d1 = s1; d2 = s2; d3 = s3;
    }

    /// <summary>Dot product of one row with x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* x, float* r, int n)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<float> a0 = default, a1 = default;
        for (; i <= n - 2 * w; i += 2 * w)
        {
            a0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r + i), Unsafe.ReadUnaligned<Vector<float>>(x + i), a0);
            a1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r + i + w), Unsafe.ReadUnaligned<Vector<float>>(x + i + w), a1);
        }
        for (; i <= n - w; i += w)
            a0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r + i), Unsafe.ReadUnaligned<Vector<float>>(x + i), a0);
        float s = Vector.Sum(a0 + a1);
        for (; i < n; i++) s += r[i] * x[i];
        return s;
    }

    /// <summary>y += c0 r0 + c1 r1 + c2 r2 + c3 r3: four selected rows accumulated with one pass over y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy4(float* y, float c0, float* r0, float c1, float* r1, float c2, float* r2, float c3, float* r3, int n)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<float> v0 = new(c0), v1 = new(c1), v2 = new(c2), v3 = new(c3);
        for (; i <= n - w; i += w)
        {
            var acc = Unsafe.ReadUnaligned<Vector<float>>(y + i);
            acc = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r0 + i), v0, acc);
            acc = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r1 + i), v1, acc);
            acc = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r2 + i), v2, acc);
            acc = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r3 + i), v3, acc);
            Unsafe.WriteUnaligned(y + i, acc);
        }
        for (; i < n; i++) y[i] += c0 * r0[i] + c1 * r1[i] + c2 * r2[i] + c3 * r3[i];
    }

    /// <summary>y += c r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float* y, float c, float* r, int n)
    {
        int w = Vector<float>.Count, i = 0;
        Vector<float> v = new(c);
        for (; i <= n - w; i += w)
            Unsafe.WriteUnaligned(y + i, Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r + i), v, Unsafe.ReadUnaligned<Vector<float>>(y + i)));
        for (; i < n; i++) y[i] += c * r[i];
    }

    /// <summary>Logistic sigmoid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    public static void Clear(float* p, int n) => new System.Span<float>(p, n).Clear();
}
