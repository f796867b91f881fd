using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MoCGen.Cpu;

/// <summary>
/// The gathered products of the sparse feed-forward block: several selected rows against one token at once, so
/// that each load of the token's vector feeds several FMAs. 512-bit vectors where the hardware has them
/// (Vector&lt;float&gt; stays 256 bits by default even there), else Vector&lt;float&gt;.
/// </summary>
internal static unsafe class VectorMath
{
    private static readonly bool Wide = Vector512.IsHardwareAccelerated;

    /// <summary>Dot products of four rows with one vector x of length n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(float* x, float* r0, float* r1, float* r2, float* r3, int n, out float d0, out float d1, out float d2, out float d3)
    {
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Wide)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 16; i += 16)
            {
                var xv = Vector512.Load(x + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(r0 + i), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(r1 + i), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(r2 + i), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(r3 + i), xv, a3);
            }
            s0 = Vector512.Sum(a0); s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2); s3 = Vector512.Sum(a3);
        }
        else
        {
            int w = Vector<float>.Count;
            Vector<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - w; i += w)
            {
                var xv = Unsafe.ReadUnaligned<Vector<float>>(x + i);
                a0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r0 + i), xv, a0);
                a1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r1 + i), xv, a1);
                a2 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r2 + i), xv, a2);
                a3 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r3 + i), xv, a3);
            }
            s0 = Vector.Sum(a0); s1 = Vector.Sum(a1); s2 = Vector.Sum(a2); s3 = Vector.Sum(a3);
        }
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
        int i = 0;
        float s;
        if (Wide)
        {
            Vector512<float> a0 = default, a1 = default;
            for (; i <= n - 32; i += 32)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(r + i), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(r + i + 16), Vector512.Load(x + i + 16), a1);
            }
            for (; i <= n - 16; i += 16)
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(r + i), Vector512.Load(x + i), a0);
            s = Vector512.Sum(a0 + a1);
        }
        else
        {
            int w = Vector<float>.Count;
            Vector<float> a0 = default;
            for (; i <= n - w; i += w)
                a0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r + i), Unsafe.ReadUnaligned<Vector<float>>(x + i), a0);
            s = Vector.Sum(a0);
        }
        for (; i < n; i++) s += r[i] * x[i];
        return s;
    }

    /// <summary>y += c0 r0 + c1 r1 + c2 r2 + c3 r3: four selected rows accumulated with one pass over y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy4(float* y, float c0, float* r0, float c1, float* r1, float c2, float* r2, float c3, float* r3, int n)
    {
        int i = 0;
        if (Wide)
        {
            Vector512<float> v0 = Vector512.Create(c0), v1 = Vector512.Create(c1), v2 = Vector512.Create(c2), v3 = Vector512.Create(c3);
            for (; i <= n - 16; i += 16)
            {
                var acc = Vector512.Load(y + i);
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(r0 + i), v0, acc);
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(r1 + i), v1, acc);
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(r2 + i), v2, acc);
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(r3 + i), v3, acc);
                acc.Store(y + i);
            }
        }
        else
        {
            int w = Vector<float>.Count;
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
        }
        for (; i < n; i++) y[i] += c0 * r0[i] + c1 * r1[i] + c2 * r2[i] + c3 * r3[i];
    }

    /// <summary>y += c r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float* y, float c, float* r, int n)
    {
        int i = 0;
        if (Wide)
        {
            var v = Vector512.Create(c);
            for (; i <= n - 16; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.Load(r + i), v, Vector512.Load(y + i)).Store(y + i);
        }
        else
        {
            int w = Vector<float>.Count;
            Vector<float> v = new(c);
            for (; i <= n - w; i += w)
                Unsafe.WriteUnaligned(y + i, Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(r + i), v, Unsafe.ReadUnaligned<Vector<float>>(y + i)));
        }
        for (; i < n; i++) y[i] += c * r[i];
    }

    /// <summary>
    /// Three accumulations that share their sources: a += ca x, b += cb x, c += cc z (one weight-gradient entry
    /// of gate, up and down); one pass loads x and z once for three FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy3(float* a, float ca, float* b, float cb, float* x, float* c, float cc, float* z, int n)
    {
        int i = 0;
        if (Wide)
        {
            Vector512<float> va = Vector512.Create(ca), vb = Vector512.Create(cb), vc = Vector512.Create(cc);
            for (; i <= n - 16; i += 16)
            {
                var xv = Vector512.Load(x + i);
                Vector512.FusedMultiplyAdd(xv, va, Vector512.Load(a + i)).Store(a + i);
                Vector512.FusedMultiplyAdd(xv, vb, Vector512.Load(b + i)).Store(b + i);
                Vector512.FusedMultiplyAdd(Vector512.Load(z + i), vc, Vector512.Load(c + i)).Store(c + i);
            }
        }
        for (; i < n; i++)
        {
            a[i] += ca * x[i];
            b[i] += cb * x[i];
            c[i] += cc * z[i];
        }
    }

    /// <summary>x = exp(x - shift); returns the sum of the new x.</summary>
    public static float ExpShiftSum(float* x, int n, float shift)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(shift);
            var acc = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var e = Vector512.Exp(Vector512.Load(x + i) - vs);
                e.Store(x + i);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(shift);
            var acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var e = Vector256.Exp(Vector256.Load(x + i) - vs);
                e.Store(x + i);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            float e = MathF.Exp(x[i] - shift);
            x[i] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>Logistic sigmoid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    public static void Clear(float* p, int n) => new Span<float>(p, n).Clear();
}
