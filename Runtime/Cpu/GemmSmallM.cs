using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// The few-rows path (m &lt;= 4: one to four tokens at decode time). There is almost no reuse of B to
/// exploit, so the product is bound by how fast B streams from memory: B is read exactly once, in
/// long sequential runs, split over the threads by columns of C; op(A) (m x k) stays in L1/L2.
/// 256-bit vectors are enough here: even at m = 1 the loops need far fewer cycles than memory takes
/// to deliver B (they run at 100+ GB/s when B sits in L3).
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>
    /// Accumulators (floats) per thread when B is stored k x n: up to m x n of them, 64 KiB, stay in
    /// L1/L2; past that, columns go in strips of 4096, so rows of B are still read in runs of 16 KiB
    /// (measured from DRAM at m = 1: runs of 2 KiB gave 33 GB/s, 16 KiB 37-44 GB/s, whole rows as one
    /// stream per thread 48 GB/s).
    /// </summary>
    private const int SmallStrip = 16384;

    private static void MultiplySmallM(in Problem p, int m, int n, GemmPath path)
    {
        int k = p.K;
        float* a = p.A;
        nint lda = p.Lda;
        if (p.TransA)
        {
            // op(A) rows are strided columns of A: gather them once (m x k, small) into contiguous rows.
            // This uses the calling thread's A buffer, which no worker touches on this path.
            float* t = GemmScratch.ForCurrentThread().A((nint)m * k);
            for (int q = 0; q < k; q++)
                for (int i = 0; i < m; i++)
                    t[(nint)i * k + q] = a[q * lda + i];
            a = t;
            lda = k;
        }

        // Bandwidth-bound: a core streams B at roughly 8 floats per cycle, against about 64 multiply-adds
        // per cycle in the blocked kernel, so weigh each element of B as 8 multiply-adds.
        int threads = ThreadCount((long)n * k * 8);
        Problem prob = p;
        if (!p.TransB)
        {
            SmallMAxpys(in prob, a, lda, m, n, threads, path);
            return;
        }
        if (threads == 1)
        {
            SmallMDots(in prob, a, lda, m, 0, n, path);
            return;
        }
        Parallel.For(0, threads, t =>
        {
            var (j0, count) = Split(n, threads, t, 16);
            if (count > 0)
                SmallMDots(in prob, a, lda, m, j0, count, path);
        });
    }

    /// <summary>
    /// B stored n x k: C[i, j] is the dot product of row i of op(A) with row j of B.
    /// m &lt;= 2: one row of B at a time, a single sequential stream (measured from DRAM at m = 1:
    /// 53 GB/s, against 40 GB/s for four interleaved rows). m &gt;= 3: four rows of B at a time, so each
    /// op(A) load feeds four FMAs (the loop is compute-bound there and groups win, 31 vs 23 GB/s at m = 4);
    /// a group past the end repeats its last row and drops the extra results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallMDots(in Problem p, float* a, nint lda, int m, int j0, int count, GemmPath path)
    {
        float* dots = stackalloc float[SmallM * 4];
        int end = j0 + count;
        int group = m <= 2 ? 1 : 4;
        for (int j = j0; j < end; j += group)
        {
            float* b0 = p.B + j * p.Ldb;
            if (path == GemmPath.Scalar)
                DotsScalar(a, lda, m, b0, p.Ldb, Math.Min(group, end - j), p.K, dots);
            else if (group == 1)
                DotsRow(a, lda, m, b0, p.K, dots);
            else
            {
                float* b1 = j + 1 < end ? b0 + p.Ldb : b0;
                float* b2 = j + 2 < end ? b0 + 2 * p.Ldb : b1;
                float* b3 = j + 3 < end ? b0 + 3 * p.Ldb : b2;
                Dots4(a, lda, m, b0, b1, b2, b3, p.K, dots);
            }
            for (int i = 0; i < m; i++)
                for (int r = 0; r < group && j + r < end; r++)
                {
                    float* cij = p.C + i * p.Ldc + j + r;
                    float dot = p.Alpha * dots[i * group + r];
                    *cij = p.Beta == 0f ? dot : MathF.FusedMultiplyAdd(*cij, p.Beta, dot);
                }
        }
    }

    /// <summary>dots[i] = op(A) row i . b for i &lt; m &lt;= 2, with four independent FMA chains (two per row at m = 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DotsRow(float* a, nint lda, int m, float* b, int k, float* dots)
    {
        int q = 0;
        if (m == 1)
        {
            Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default;
            for (; q + 32 <= k; q += 32)
            {
                t0 = Fma.MultiplyAdd(Vector256.Load(a + q), Vector256.Load(b + q), t0);
                t1 = Fma.MultiplyAdd(Vector256.Load(a + q + 8), Vector256.Load(b + q + 8), t1);
                t2 = Fma.MultiplyAdd(Vector256.Load(a + q + 16), Vector256.Load(b + q + 16), t2);
                t3 = Fma.MultiplyAdd(Vector256.Load(a + q + 24), Vector256.Load(b + q + 24), t3);
            }
            for (; q + 8 <= k; q += 8)
                t0 = Fma.MultiplyAdd(Vector256.Load(a + q), Vector256.Load(b + q), t0);
            dots[0] = Vector256.Sum((t0 + t1) + (t2 + t3));
        }
        else
        {
            Vector256<float> s0a = default, s0b = default, s1a = default, s1b = default;
            float* a1 = a + lda;
            for (; q + 16 <= k; q += 16)
            {
                Vector256<float> v0 = Vector256.Load(b + q), v1 = Vector256.Load(b + q + 8);
                s0a = Fma.MultiplyAdd(Vector256.Load(a + q), v0, s0a);
                s0b = Fma.MultiplyAdd(Vector256.Load(a + q + 8), v1, s0b);
                s1a = Fma.MultiplyAdd(Vector256.Load(a1 + q), v0, s1a);
                s1b = Fma.MultiplyAdd(Vector256.Load(a1 + q + 8), v1, s1b);
            }
            if (q + 8 <= k)
            {
                Vector256<float> v0 = Vector256.Load(b + q);
                s0a = Fma.MultiplyAdd(Vector256.Load(a + q), v0, s0a);
                s1a = Fma.MultiplyAdd(Vector256.Load(a1 + q), v0, s1a);
                q += 8;
            }
            dots[0] = Vector256.Sum(s0a + s0b);
            dots[1] = Vector256.Sum(s1a + s1b);
        }
        for (; q < k; q++)
            for (int i = 0; i < m; i++)
                dots[i] += a[i * lda + q] * b[q];
    }

    /// <summary>dots[i * 4 + r] = op(A) row i . b_r for i &lt; m &lt;= 4: up to 16 independent accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dots4(float* a, nint lda, int m, float* b0, float* b1, float* b2, float* b3, int k, float* dots)
    {
        Vector256<float> s00 = default, s01 = default, s02 = default, s03 = default;
        Vector256<float> s10 = default, s11 = default, s12 = default, s13 = default;
        Vector256<float> s20 = default, s21 = default, s22 = default, s23 = default;
        Vector256<float> s30 = default, s31 = default, s32 = default, s33 = default;
        float* a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        int q = 0;
        for (; q + 8 <= k; q += 8)
        {
            Vector256<float> v0 = Vector256.Load(b0 + q), v1 = Vector256.Load(b1 + q);
            Vector256<float> v2 = Vector256.Load(b2 + q), v3 = Vector256.Load(b3 + q);
            Vector256<float> x = Vector256.Load(a + q);
            s00 = Fma.MultiplyAdd(x, v0, s00); s01 = Fma.MultiplyAdd(x, v1, s01); s02 = Fma.MultiplyAdd(x, v2, s02); s03 = Fma.MultiplyAdd(x, v3, s03);
            if (m > 1)
            {
                x = Vector256.Load(a1 + q);
                s10 = Fma.MultiplyAdd(x, v0, s10); s11 = Fma.MultiplyAdd(x, v1, s11); s12 = Fma.MultiplyAdd(x, v2, s12); s13 = Fma.MultiplyAdd(x, v3, s13);
            }
            if (m > 2)
            {
                x = Vector256.Load(a2 + q);
                s20 = Fma.MultiplyAdd(x, v0, s20); s21 = Fma.MultiplyAdd(x, v1, s21); s22 = Fma.MultiplyAdd(x, v2, s22); s23 = Fma.MultiplyAdd(x, v3, s23);
            }
            if (m > 3)
            {
                x = Vector256.Load(a3 + q);
                s30 = Fma.MultiplyAdd(x, v0, s30); s31 = Fma.MultiplyAdd(x, v1, s31); s32 = Fma.MultiplyAdd(x, v2, s32); s33 = Fma.MultiplyAdd(x, v3, s33);
            }
        }
        dots[0] = Vector256.Sum(s00); dots[1] = Vector256.Sum(s01); dots[2] = Vector256.Sum(s02); dots[3] = Vector256.Sum(s03);
        dots[4] = Vector256.Sum(s10); dots[5] = Vector256.Sum(s11); dots[6] = Vector256.Sum(s12); dots[7] = Vector256.Sum(s13);
        dots[8] = Vector256.Sum(s20); dots[9] = Vector256.Sum(s21); dots[10] = Vector256.Sum(s22); dots[11] = Vector256.Sum(s23);
        dots[12] = Vector256.Sum(s30); dots[13] = Vector256.Sum(s31); dots[14] = Vector256.Sum(s32); dots[15] = Vector256.Sum(s33);
        for (; q < k; q++)
            for (int i = 0; i < m; i++)
            {
                float ai = a[i * lda + q];
                dots[i * 4] += ai * b0[q];
                dots[i * 4 + 1] += ai * b1[q];
                dots[i * 4 + 2] += ai * b2[q];
                dots[i * 4 + 3] += ai * b3[q];
            }
    }

    /// <summary>Portable dots: dots[i * rows + r] = op(A) row i . B row r, for <paramref name="rows"/> rows of B.</summary>
    private static void DotsScalar(float* a, nint lda, int m, float* b, nint ldb, int rows, int k, float* dots)
    {
        int stride = m <= 2 ? 1 : 4; // The caller's layout of dots: [i * group + r].
        for (int i = 0; i < m; i++)
            for (int r = 0; r < rows; r++)
            {
                float* ai = a + i * lda, br = b + r * ldb;
                float sum = 0f;
                for (int q = 0; q < k; q++)
                    sum += ai[q] * br[q];
                dots[i * stride + r] = sum;
            }
    }

    /// <summary>
    /// B stored k x n: row i of C is a sum of rows of B scaled by op(A)[i, q]. The threads split k,
    /// not n: each reads whole rows of B, one contiguous block of memory as a single sequential stream
    /// (split by columns, each thread read half of every row and streamed at 39 instead of ~55 GB/s
    /// from DRAM), into its own m x n partial sums, added up at the end (m x n x threads floats, small).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallMAxpys(in Problem p, float* a, nint lda, int m, int n, int threads, GemmPath path)
    {
        int k = p.K;
        nint partialSize = (nint)m * n;
        float* partials = GemmScratch.ForCurrentThread().B(partialSize * threads);
        if (threads == 1)
            AccumulateRows(in p, a, lda, m, n, 0, k, partials, path);
        else
        {
            Problem prob = p;
            Parallel.For(0, threads, t =>
            {
                var (q0, count) = Split(k, threads, t, 4);
                AccumulateRows(in prob, a, lda, m, n, q0, count, partials + t * partialSize, path);
            });
        }

        for (int i = 0; i < m; i++)
        {
            float* ci = p.C + i * p.Ldc;
            for (int j = 0; j < n; j++)
            {
                float sum = partials[i * n + j];
                for (int t = 1; t < threads; t++)
                    sum += partials[t * partialSize + i * n + j];
                ci[j] = p.Beta == 0f ? p.Alpha * sum : MathF.FusedMultiplyAdd(ci[j], p.Beta, p.Alpha * sum);
            }
        }
    }

    /// <summary>
    /// acc[i * n + j] = sum over q in [q0, q0 + count) of op(A)[i, q] * B[q, j]. Rows of B are consumed
    /// four at a time, so each accumulator vector is loaded and stored once per four rows of B (one row
    /// at a time measured half as fast, bound by the accumulator stores). Columns go in strips only
    /// when the m x n sums would outgrow 64 KiB.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateRows(in Problem p, float* a, nint lda, int m, int n, int q0, int count, float* acc, GemmPath path)
    {
        nint ldb = p.Ldb;
        new Span<float>(acc, m * n).Clear();
        int strip = m * n <= SmallStrip ? n : SmallStrip / 4;
        for (int js = 0; js < n; js += strip)
        {
            int w = Math.Min(strip, n - js);
            float* b = p.B + q0 * ldb + js;
            int q = q0, end = q0 + count;
            for (; q + 4 <= end; q += 4, b += 4 * ldb)
                for (int i = 0; i < m; i++)
                {
                    float* ai = a + i * lda + q;
                    Axpy4(acc + i * n + js, w, ai[0], ai[1], ai[2], ai[3], b, ldb, path);
                }
            for (; q < end; q++, b += ldb)
                for (int i = 0; i < m; i++)
                    Axpy1(acc + i * n + js, w, a[i * lda + q], b, path);
        }
    }

    /// <summary>acc[0..w] += s0 * b[0..w] + s1 * b[ldb..] + s2 * b[2 ldb..] + s3 * b[3 ldb..].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy4(float* acc, int w, float s0, float s1, float s2, float s3, float* b, nint ldb, GemmPath path)
    {
        float* b1 = b + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        int j = 0;
        if (path != GemmPath.Scalar)
        {
            Vector256<float> x0 = Vector256.Create(s0), x1 = Vector256.Create(s1), x2 = Vector256.Create(s2), x3 = Vector256.Create(s3);
            for (; j + 8 <= w; j += 8)
            {
                var r = Fma.MultiplyAdd(x0, Vector256.Load(b + j), Vector256.Load(acc + j));
                r = Fma.MultiplyAdd(x1, Vector256.Load(b1 + j), r);
                r = Fma.MultiplyAdd(x2, Vector256.Load(b2 + j), r);
                r = Fma.MultiplyAdd(x3, Vector256.Load(b3 + j), r);
                r.Store(acc + j);
            }
        }
        for (; j < w; j++)
            acc[j] += s0 * b[j] + s1 * b1[j] + s2 * b2[j] + s3 * b3[j];
    }

    /// <summary>acc[0..w] += s * b[0..w].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy1(float* acc, int w, float s, float* b, GemmPath path)
    {
        int j = 0;
        if (path != GemmPath.Scalar)
        {
            Vector256<float> x = Vector256.Create(s);
            for (; j + 8 <= w; j += 8)
                Fma.MultiplyAdd(x, Vector256.Load(b + j), Vector256.Load(acc + j)).Store(acc + j);
        }
        for (; j < w; j++)
            acc[j] += s * b[j];
    }
}
