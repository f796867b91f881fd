using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoCGen.Cpu;

/// <summary>
/// A micro-kernel and its blocking. The kernel computes one MR x NR tile of C from a packed A
/// micro-panel (KC x MR: MR values of a column of op(A) per k step) and a packed B micro-panel
/// (KC x NR, 64-byte aligned): C = alpha * (A B) + beta * C, C read only when beta != 0.
/// </summary>
internal readonly unsafe struct KernelInfo(int mr, int nr, int mc, int kc, int nc,
    delegate*<int, float*, float*, float*, nint, float, float, void> kernel)
{
    public readonly int MR = mr, NR = nr, MC = mc, KC = kc, NC = nc;
    public readonly delegate*<int, float*, float*, float*, nint, float, float, void> Kernel = kernel;
}

public static unsafe partial class Gemm
{
    // Blocking (per thread; two cores, each with 48 KiB L1d and 1 MiB L2, sharing a 32 MiB L3):
    //  - KC: a B micro-panel (KC x NR floats) is reused by every A micro-panel of the MC block, so it
    //    should stay in L1: 256 x 32 x 4 B = 32 KiB of the 48 KiB. KC also sets how often a C tile is
    //    read and written (once per KC multiply-adds), which at 256 is noise.
    //  - MC: the packed A block (MC x KC) is streamed from L2 once per B micro-panel: 384 x 256 x 4 B
    //    = 384 KiB, under half of L2 so that B panels and C lines passing through do not evict it.
    //  - NC: the packed B block (KC x NC) is read once per MC block from L3: 4096 x 256 x 4 B = 4 MiB
    //    per thread, well inside the shared 32 MiB L3; in practice NC covers all of n for model shapes.
    // Measured single-threaded on the three model shapes: every KC in {128, 256, 384, 512} x MC in
    // {192, 384, 768} came within 5% (noise-level); 256 x 384 was at the top for all three. The kernels
    // alone, with B in L1 and A streaming from L2, run at the FMA peak (271 of ~272 GFLOP/s per core
    // for 12x32, 140 of 138 for 6x16), so what is left to win is packing and edges, not registers.
    private static readonly KernelInfo s_avx512 = new(12, 32, 384, 256, 4096, &Kernel12x32);
    private static readonly KernelInfo s_avx2 = new(6, 16, 384, 256, 4096, &Kernel6x16);
    private static readonly KernelInfo s_scalar = new(4, 8, 128, 256, 2048, &KernelScalar);

    internal static ref readonly KernelInfo KernelFor(GemmPath path)
    {
        if (path == GemmPath.Avx512)
            return ref s_avx512;
        if (path == GemmPath.Avx2)
            return ref s_avx2;
        return ref s_scalar;
    }

    /// <summary>
    /// AVX-512: 12 rows x 32 columns = 24 zmm accumulators, plus 2 for the B row and 1 for the
    /// broadcast A value (27 of 32 registers). Each k step issues 24 FMAs against 2 vector loads and
    /// 12 broadcasts, enough independent FMAs to hide their latency on both FMA pipes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x32(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, cA0 = default, cA1 = default, cB0 = default, cB1 = default;
        PrefetchTile(c, ldc, 12, 32);
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.LoadAligned(b), b1 = Vector512.LoadAligned(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a[8]); c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); c81 = Avx512F.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a[9]); c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); c91 = Avx512F.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a[10]); cA0 = Avx512F.FusedMultiplyAdd(x, b0, cA0); cA1 = Avx512F.FusedMultiplyAdd(x, b1, cA1);
            x = Vector512.Create(a[11]); cB0 = Avx512F.FusedMultiplyAdd(x, b0, cB0); cB1 = Avx512F.FusedMultiplyAdd(x, b1, cB1);
            a += 12;
            b += 32;
        }

        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool readC = beta != 0f;
        Update512(c, va, vb, readC, c00, c01); c += ldc;
        Update512(c, va, vb, readC, c10, c11); c += ldc;
        Update512(c, va, vb, readC, c20, c21); c += ldc;
        Update512(c, va, vb, readC, c30, c31); c += ldc;
        Update512(c, va, vb, readC, c40, c41); c += ldc;
        Update512(c, va, vb, readC, c50, c51); c += ldc;
        Update512(c, va, vb, readC, c60, c61); c += ldc;
        Update512(c, va, vb, readC, c70, c71); c += ldc;
        Update512(c, va, vb, readC, c80, c81); c += ldc;
        Update512(c, va, vb, readC, c90, c91); c += ldc;
        Update512(c, va, vb, readC, cA0, cA1); c += ldc;
        Update512(c, va, vb, readC, cB0, cB1);
    }

    /// <summary>
    /// Asks for the C tile's cache lines (first and last float of each row) while the k loop runs: C
    /// rows lie ldc apart, often a multiple of 4 KiB, so they miss L1 and would stall the update.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile(float* c, nint ldc, int rows, int cols)
    {
        for (int r = 0; r < rows; r++, c += ldc)
        {
            Sse.Prefetch0(c);
            Sse.Prefetch0(c + cols - 1);
        }
    }

    /// <summary>One 32-wide row of a C tile: alpha * acc (+ beta * C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update512(float* c, Vector512<float> alpha, Vector512<float> beta, bool readC,
        Vector512<float> acc0, Vector512<float> acc1)
    {
        Vector512<float> r0 = acc0 * alpha, r1 = acc1 * alpha;
        if (readC)
        {
            r0 = Avx512F.FusedMultiplyAdd(Vector512.Load(c), beta, r0);
            r1 = Avx512F.FusedMultiplyAdd(Vector512.Load(c + 16), beta, r1);
        }
        r0.Store(c);
        r1.Store(c + 16);
    }

    /// <summary>
    /// AVX2: 6 rows x 16 columns = 12 ymm accumulators, plus 2 for the B row and 1 broadcast (15 of the
    /// 16 registers AVX2 has), the classic Haswell-style tile: 12 FMAs per 2 loads + 6 broadcasts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        PrefetchTile(c, ldc, 6, 16);
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.LoadAligned(b), b1 = Vector256.LoadAligned(b + 8);
            Vector256<float> x;
            x = Vector256.Create(a[0]); c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += 6;
            b += 16;
        }

        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool readC = beta != 0f;
        Update256(c, va, vb, readC, c00, c01); c += ldc;
        Update256(c, va, vb, readC, c10, c11); c += ldc;
        Update256(c, va, vb, readC, c20, c21); c += ldc;
        Update256(c, va, vb, readC, c30, c31); c += ldc;
        Update256(c, va, vb, readC, c40, c41); c += ldc;
        Update256(c, va, vb, readC, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update256(float* c, Vector256<float> alpha, Vector256<float> beta, bool readC,
        Vector256<float> acc0, Vector256<float> acc1)
    {
        Vector256<float> r0 = acc0 * alpha, r1 = acc1 * alpha;
        if (readC)
        {
            r0 = Fma.MultiplyAdd(Vector256.Load(c), beta, r0);
            r1 = Fma.MultiplyAdd(Vector256.Load(c + 8), beta, r1);
        }
        r0.Store(c);
        r1.Store(c + 8);
    }

    /// <summary>Portable 4 x 8 tile with plain multiply and add (no fused multiply-add assumed).</summary>
    private static void KernelScalar(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        const int MR = 4, NR = 8;
        float* acc = stackalloc float[MR * NR];
        for (int i = 0; i < MR * NR; i++)
            acc[i] = 0f;
        for (int p = 0; p < kc; p++, a += MR, b += NR)
            for (int r = 0; r < MR; r++)
            {
                float ar = a[r];
                float* accRow = acc + r * NR;
                for (int j = 0; j < NR; j++)
                    accRow[j] += ar * b[j];
            }
        for (int r = 0; r < MR; r++)
        {
            float* cr = c + r * ldc;
            for (int j = 0; j < NR; j++)
                cr[j] = beta == 0f ? alpha * acc[r * NR + j] : MathF.FusedMultiplyAdd(cr[j], beta, alpha * acc[r * NR + j]);
        }
    }
}
