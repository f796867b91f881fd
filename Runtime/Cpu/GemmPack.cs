using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoCGen.Cpu;

/// <summary>
/// Packing of op(A) and op(B) blocks into micro-panels: a panel of width W (MR rows of op(A) or NR
/// columns of op(B)) is stored k step by k step, W floats per step, so the micro-kernel reads both
/// operands strictly sequentially. Panels past the matrix edge are padded with zeros, so the kernel
/// never needs a partial tile of its own.
/// </summary>
internal static unsafe class GemmPack
{
    /// <summary>Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-row panels at <paramref name="dst"/> (panel r at r*MR*kc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(in Gemm.Problem p, int i0, int mc, int p0, int kc, int mr, float* dst)
    {
        if (p.TransA) // A stored k x m: row p0+s of A holds step s of every panel.
        {
            PackInterleaved(p.A + p0 * p.Lda + i0, p.Lda, kc, mc, mr, dst);
            return;
        }
        for (int ir = 0; ir < mc; ir += mr) // A stored m x k: each panel row is contiguous along k.
            PackStrided(p.A + (i0 + ir) * p.Lda + p0, p.Lda, kc, Math.Min(mr, mc - ir), mr, dst + (nint)ir * kc);
    }

    /// <summary>Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column panels at <paramref name="dst"/> (panel r at r*NR*kc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(in Gemm.Problem p, int p0, int kc, int j0, int nc, int nr, float* dst)
    {
        if (!p.TransB) // B stored k x n: row p0+s of B holds step s of every panel.
        {
            PackInterleaved(p.B + p0 * p.Ldb + j0, p.Ldb, kc, nc, nr, dst);
            return;
        }
        for (int jr = 0; jr < nc; jr += nr) // B stored n x k: each panel column is a contiguous row of B.
            PackStrided(p.B + (j0 + jr) * p.Ldb + p0, p.Ldb, kc, Math.Min(nr, nc - jr), nr, dst + (nint)jr * kc);
    }

    /// <summary>
    /// The source rows run along the panels: dst panel q, step s gets src[s * ld + q * W .. + W], zero
    /// past <paramref name="width"/>. Walks the source row by row, so each row is one sequential read
    /// (walking one panel at a time instead strides by ld for every W floats, which on TN with
    /// ld = 8 KiB missed L1 and the TLB and cost a tenth of the run time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackInterleaved(float* src, nint ld, int kc, int width, int W, float* dst)
    {
        nint panelStride = (nint)W * kc;
        for (int s = 0; s < kc; s++, src += ld)
        {
            float* d = dst + s * W;
            int t = 0;
            for (; t + W <= width; t += W, d += panelStride)
                CopyPadded(src + t, W, W, d);
            if (t < width)
                CopyPadded(src + t, width - t, W, d);
        }
    }

    /// <summary>d[0..w] = s[0..w], d[w..W] = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyPadded(float* s, int w, int W, float* d)
    {
        int t = 0;
        for (; t + 8 <= w; t += 8)
            Vector256.Store(Vector256.Load(s + t), d + t);
        if (t + 4 <= w)
        {
            Vector128.Store(Vector128.Load(s + t), d + t);
            t += 4;
        }
        for (; t < w; t++)
            d[t] = s[t];
        for (; t < W; t++)
            d[t] = 0f;
    }

    /// <summary>
    /// dst[s * W + t] = src[t * ld + s] for s &lt; kc, t &lt; w; zero for w &lt;= t &lt; W: a transpose.
    /// Done in 8 x 8 (AVX) and 4 x 4 (SSE) register blocks: a scalar transpose writes every float with
    /// its own store at a stride of W floats, which made packing a third of the run time of NT.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackStrided(float* src, nint ld, int kc, int w, int W, float* dst)
    {
        int t = 0;
        if (Avx.IsSupported)
            for (; t + 8 <= w; t += 8)
            {
                float* rows = src + t * ld;
                int s = 0;
                for (; s + 8 <= kc; s += 8)
                    Transpose8x8(rows + s, ld, dst + s * W + t, W);
                for (; s < kc; s++)
                    for (int r = 0; r < 8; r++)
                        dst[s * W + t + r] = rows[r * ld + s];
            }
        if (Sse.IsSupported)
            for (; t + 4 <= w; t += 4)
            {
                float* rows = src + t * ld;
                int s = 0;
                for (; s + 4 <= kc; s += 4)
                    Transpose4x4(rows + s, ld, dst + s * W + t, W);
                for (; s < kc; s++)
                    for (int r = 0; r < 4; r++)
                        dst[s * W + t + r] = rows[r * ld + s];
            }
        for (; t < w; t++)
        {
            float* row = src + t * ld;
            for (int s = 0; s < kc; s++)
                dst[s * W + t] = row[s];
        }
        for (t = w; t < W; t++)
            for (int s = 0; s < kc; s++)
                dst[s * W + t] = 0f;
    }

    /// <summary>Transposes the 8 x 8 block at src (row stride ld) into dst (row stride ldd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, nint ld, float* dst, nint ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + ld);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * ld), r3 = Avx.LoadVector256(src + 3 * ld);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * ld), r5 = Avx.LoadVector256(src + 5 * ld);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * ld), r7 = Avx.LoadVector256(src + 7 * ld);
        // Interleave pairs of rows, then pairs of pairs (within 128-bit lanes), then swap lanes.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Transposes the 4 x 4 block at src (row stride ld) into dst (row stride ldd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x4(float* src, nint ld, float* dst, nint ldd)
    {
        Vector128<float> r0 = Sse.LoadVector128(src), r1 = Sse.LoadVector128(src + ld);
        Vector128<float> r2 = Sse.LoadVector128(src + 2 * ld), r3 = Sse.LoadVector128(src + 3 * ld);
        Vector128<float> t0 = Sse.UnpackLow(r0, r1), t1 = Sse.UnpackHigh(r0, r1);
        Vector128<float> t2 = Sse.UnpackLow(r2, r3), t3 = Sse.UnpackHigh(r2, r3);
        Sse.Store(dst, Sse.MoveLowToHigh(t0, t2));
        Sse.Store(dst + ldd, Sse.MoveHighToLow(t2, t0));
        Sse.Store(dst + 2 * ldd, Sse.MoveLowToHigh(t1, t3));
        Sse.Store(dst + 3 * ldd, Sse.MoveHighToLow(t3, t1));
    }
}
