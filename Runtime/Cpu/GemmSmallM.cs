using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>
/// The few-rows path (m &lt;= 4: one to four tokens at decode time). There is almost no reuse of B to
/// exploit, so the product is bound by how fast B streams from memory: B is read exactly once, in
/// its storage order, split over the threads by columns of C; op(A) (m x k, a few KiB) stays in L1.
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>Columns of C per strip in the non-transposed-B case: m x 512 accumulators (8 KiB at most) live in L1.</summary>
    private const int SmallStrip = 512;

    private static void MultiplySmallM(in Problem p, int m, int n, GemmPath path)
    {
        int k = p.K;
        float* a = p.A;
        nint lda = p.Lda;
        if (p.TransA)
        {
            // op(A) rows are strided columns of A: gather them once (m x k, tiny) into contiguous rows.
            float* t = GemmScratch.ForCurrentThread().A((nint)m * k);
            for (int q = 0; q < k; q++)
                for (int i = 0; i < m; i++)
                    t[i * k + q] = a[q * lda + i];
            a = t;
            lda = k;
        }

        // Bandwidth-bound: one thread per core as soon as B is big enough to amortize waking them.
        int threads = ThreadCount((long)n * k * 16);
        Problem prob = p;
        if (threads == 1)
        {
            SmallMRange(in prob, a, lda, m, 0, n, path);
            return;
        }
        Parallel.For(0, threads, t =>
        {
            var (j0, count) = Split(n, threads, t, 16);
            if (count > 0)
                SmallMRange(in prob, a, lda, m, j0, count, path);
        });
    }

    private static void SmallMRange(in Problem p, float* a, nint lda, int m, int j0, int count, GemmPath path)
    {
        if (p.TransB)
            SmallMDots(in p, a, lda, m, j0, count, path);
        else
            SmallMAxpys(in p, a, lda, m, j0, count, path);
    }

    /// <summary>B stored n x k: C[i, j] is the dot product of row i of op(A) with row j of B; each B row is read once from memory and reused from L1 for the m rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallMDots(in Problem p, float* a, nint lda, int m, int j0, int count, GemmPath path)
    {
        int k = p.K;
        for (int j = j0; j < j0 + count; j++)
        {
            float* bj = p.B + j * p.Ldb;
            for (int i = 0; i < m; i++)
            {
                float dot = Dot(a + i * lda, bj, k, path);
                float* cij = p.C + i * p.Ldc + j;
                *cij = p.Beta == 0f ? p.Alpha * dot : p.Alpha * dot + p.Beta * *cij;
            }
        }
    }

    /// <summary>Dot product with four independent vector accumulators (FMA latency x two pipes needs several chains).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* x, float* y, int k, GemmPath path)
    {
        int q = 0;
        float sum = 0f;
        if (path == GemmPath.Avx512)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; q + 64 <= k; q += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + q), Vector512.Load(y + q), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + q + 16), Vector512.Load(y + q + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.Load(x + q + 32), Vector512.Load(y + q + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.Load(x + q + 48), Vector512.Load(y + q + 48), s3);
            }
            for (; q + 16 <= k; q += 16)
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + q), Vector512.Load(y + q), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (path == GemmPath.Avx2)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; q + 32 <= k; q += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + q), Vector256.Load(y + q), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + q + 8), Vector256.Load(y + q + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + q + 16), Vector256.Load(y + q + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + q + 24), Vector256.Load(y + q + 24), s3);
            }
            for (; q + 8 <= k; q += 8)
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + q), Vector256.Load(y + q), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; q < k; q++)
            sum += x[q] * y[q];
        return sum;
    }

    /// <summary>
    /// B stored k x n: row i of C is a sum of rows of B scaled by op(A)[i, q]. Work in strips of
    /// columns with the accumulators in L1; B rows are consumed four at a time so each accumulator
    /// vector is loaded and stored once per four rows of B.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallMAxpys(in Problem p, float* a, nint lda, int m, int j0, int count, GemmPath path)
    {
        int k = p.K;
        nint ldb = p.Ldb;
        float* acc = stackalloc float[SmallM * SmallStrip];
        for (int js = j0; js < j0 + count; js += SmallStrip)
        {
            int w = Math.Min(SmallStrip, j0 + count - js);
            new Span<float>(acc, m * SmallStrip).Clear();
            float* b = p.B + js;
            int q = 0;
            for (; q + 4 <= k; q += 4, b += 4 * ldb)
                for (int i = 0; i < m; i++)
                {
                    float* ai = a + i * lda + q;
                    Axpy4(acc + i * SmallStrip, w, ai[0], ai[1], ai[2], ai[3], b, ldb, path);
                }
            for (; q < k; q++, b += ldb)
                for (int i = 0; i < m; i++)
                    Axpy1(acc + i * SmallStrip, w, a[i * lda + q], b, path);

            for (int i = 0; i < m; i++)
            {
                float* ci = p.C + i * p.Ldc + js;
                float* ai = acc + i * SmallStrip;
                for (int j = 0; j < w; j++)
                    ci[j] = p.Beta == 0f ? p.Alpha * ai[j] : p.Alpha * ai[j] + p.Beta * ci[j];
            }
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
                var r = Vector256.FusedMultiplyAdd(x0, Vector256.Load(b + j), Vector256.Load(acc + j));
                r = Vector256.FusedMultiplyAdd(x1, Vector256.Load(b1 + j), r);
                r = Vector256.FusedMultiplyAdd(x2, Vector256.Load(b2 + j), r);
                r = Vector256.FusedMultiplyAdd(x3, Vector256.Load(b3 + j), r);
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
                Vector256.FusedMultiplyAdd(x, Vector256.Load(b + j), Vector256.Load(acc + j)).Store(acc + j);
        }
        for (; j < w; j++)
            acc[j] += s * b[j];
    }
}
