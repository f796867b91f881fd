using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace MoCGen.Cpu;

/// <summary>Which micro-kernel family a call uses. Tests force each one; production code leaves it on Auto.</summary>
internal enum GemmPath
{
    /// <summary>The widest path the CPU supports.</summary>
    Auto,
    /// <summary>Plain scalar loops: any CPU.</summary>
    Scalar,
    /// <summary>256-bit FMA: AVX2 + FMA.</summary>
    Avx2,
    /// <summary>512-bit FMA: AVX-512F.</summary>
    Avx512,
}

/// <summary>
/// Single-precision GEMM on the CPU, row-major, BLAS conventions. Large products go through a
/// BLIS-style blocked algorithm (packed panels, register-blocked FMA micro-kernel, two threads or more);
/// products with at most <see cref="SmallM"/> rows (decoding) go through a GEMV-style path that streams
/// the matrix once.
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>Rows of op(A) up to which the GEMV-style path is used.</summary>
    internal const int SmallM = 4;

    /// <summary>
    /// Multiply-adds below which one thread does the whole product: waking a pool thread costs ~10 us
    /// here. Measured: at 128^3 (2M) two threads were no faster than one (22 vs 23 us), at 192^3 (7M)
    /// 1.7x faster.
    /// </summary>
    private const long ParallelThreshold = 1L << 22;

    /// <summary>Forces one kernel family (tests only). Auto picks the widest the CPU supports.</summary>
    internal static GemmPath ForcedPath { get; set; }

    /// <summary>Caps the threads used (tests and benchmarks); 0 means one per processor.</summary>
    internal static int MaxThreads { get; set; }

    /// <summary>
    /// C = alpha * op(A) * op(B) + beta * C, all row-major. op(A) is m x k, op(B) is k x n, C is m x n.
    /// </summary>
    /// <param name="transA">False: A is stored m x k (lda &gt;= k). True: A is stored k x m (lda &gt;= m) and used transposed.</param>
    /// <param name="transB">False: B is stored k x n (ldb &gt;= n). True: B is stored n x k (ldb &gt;= k) and used transposed.</param>
    /// <param name="m">Rows of op(A) and of C.</param>
    /// <param name="n">Columns of op(B) and of C.</param>
    /// <param name="k">Columns of op(A), rows of op(B).</param>
    /// <param name="alpha">Scale of the product. Zero: A and B are not read.</param>
    /// <param name="a">A, row-major with row stride <paramref name="lda"/>.</param>
    /// <param name="lda">Row stride of A as stored.</param>
    /// <param name="b">B, row-major with row stride <paramref name="ldb"/>.</param>
    /// <param name="ldb">Row stride of B as stored.</param>
    /// <param name="beta">Scale of the old C. Zero: C is overwritten and never read, so NaNs in it do not leak.</param>
    /// <param name="c">C, row-major with row stride <paramref name="ldc"/>; must not overlap A or B.</param>
    /// <param name="ldc">Row stride of C.</param>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0)
            return;

        fixed (float* pa = a, pb = b, pc = c)
        {
            var p = new Problem(transA, transB, k, alpha, beta, pa, lda, pb, ldb, pc, ldc);
            if (k == 0 || alpha == 0f)
            {
                ScaleC(m, n, beta, pc, ldc);
                return;
            }

            GemmPath path = ResolvePath();
            if (m <= SmallM)
                MultiplySmallM(in p, m, n, path);
            else
                MultiplyBlocked(in p, m, n, KernelFor(path));
        }
    }

    /// <summary>The operands of one call, as raw pointers (the spans stay pinned for the whole call).</summary>
    internal readonly struct Problem(bool transA, bool transB, int k, float alpha, float beta,
        float* a, nint lda, float* b, nint ldb, float* c, nint ldc)
    {
        public readonly bool TransA = transA, TransB = transB;
        public readonly int K = k;
        public readonly float Alpha = alpha, Beta = beta;
        public readonly float* A = a, B = b, C = c;
        public readonly nint Lda = lda, Ldb = ldb, Ldc = ldc;
    }

    internal static GemmPath ResolvePath()
    {
        GemmPath forced = ForcedPath;
        bool avx512 = Avx512F.IsSupported;
        bool avx2 = Avx2.IsSupported && Fma.IsSupported;
        return forced switch
        {
            GemmPath.Auto => avx512 ? GemmPath.Avx512 : avx2 ? GemmPath.Avx2 : GemmPath.Scalar,
            GemmPath.Avx512 when !avx512 => throw new InvalidOperationException("AVX-512F is not supported on this CPU."),
            GemmPath.Avx2 when !avx2 => throw new InvalidOperationException("AVX2 and FMA are not supported on this CPU."),
            _ => forced,
        };
    }

    private static int ThreadCount(long work)
    {
        int threads = MaxThreads > 0 ? Math.Min(MaxThreads, Environment.ProcessorCount) : Environment.ProcessorCount;
        return work < ParallelThreshold ? 1 : Math.Max(1, threads);
    }

    /// <summary>
    /// Splits [0, total) into <paramref name="parts"/> ranges whose starts are multiples of
    /// <paramref name="align"/> (a register-block size, so no part gets an extra edge tile).
    /// </summary>
    private static (int Start, int Count) Split(int total, int parts, int part, int align)
    {
        int blocks = (total + align - 1) / align;
        int start = (int)Math.Min(total, (long)blocks * part / parts * align);
        int end = (int)Math.Min(total, (long)blocks * (part + 1) / parts * align);
        return (start, end - start);
    }

    /// <summary>C = beta * C (beta == 0 writes zeros without reading C).</summary>
    private static void ScaleC(int m, int n, float beta, float* c, nint ldc)
    {
        if (beta == 1f)
            return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (beta == 0f)
                row.Clear();
            else
                for (int j = 0; j < row.Length; j++)
                    row[j] *= beta;
        }
    }

    private static void Validate(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        if (m < 0)
            throw new ArgumentOutOfRangeException(nameof(m), m, $"m must be >= 0 (got {m}).");
        if (n < 0)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be >= 0 (got {n}).");
        if (k < 0)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be >= 0 (got {k}).");

        // As stored: A is (transA ? k x m : m x k), B is (transB ? n x k : k x n), C is m x n.
        CheckMatrix(a.Length, nameof(a), nameof(lda), lda, transA ? k : m, transA ? m : k,
            transA ? "k x m (transA)" : "m x k");
        CheckMatrix(b.Length, nameof(b), nameof(ldb), ldb, transB ? n : k, transB ? k : n,
            transB ? "n x k (transB)" : "k x n");
        CheckMatrix(c.Length, nameof(c), nameof(ldc), ldc, m, n, "m x n");

        if (m > 0 && n > 0 && k > 0 && (c.Overlaps(a) || c.Overlaps(b)))
            throw new ArgumentException("c must not overlap a or b.", nameof(c));
    }

    private static void CheckMatrix(int length, string name, string ldName, int ld, int rows, int cols, string shape)
    {
        if (ld < cols || ld < 0)
            throw new ArgumentOutOfRangeException(ldName, ld,
                $"{ldName} ({ld}) must be >= {cols}, the row width of {name} stored {shape} = {rows} x {cols}.");
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException(
                $"{name} has {length} elements but {name} stored {shape} = {rows} x {cols} with {ldName} = {ld} needs {need}.",
                name);
    }

    // ---- Blocked path -------------------------------------------------------------------------

    private static void MultiplyBlocked(in Problem p, int m, int n, in KernelInfo kernel)
    {
        // Each thread computes a slab of C on its own (own packed panels, no barriers). Split the
        // dimension whose operand is cheaper to pack twice: splitting N makes every thread pack all of
        // op(A) (m x k), splitting M makes every thread pack all of op(B) (k x n). On many cores, keep
        // every slab at least a few register tiles wide, or the threads would mostly be packing.
        bool splitN = m <= n;
        int threads = Math.Min(ThreadCount((long)m * n * p.K),
            Math.Max(1, splitN ? n / (4 * kernel.NR) : m / (4 * kernel.MR)));
        if (threads == 1)
        {
            RunBlocked(in p, 0, m, 0, n, in kernel, GemmScratch.ForCurrentThread());
            return;
        }

        Problem prob = p;
        KernelInfo kern = kernel;
        Parallel.For(0, threads, t =>
        {
            var scratch = GemmScratch.ForCurrentThread();
            if (splitN)
            {
                var (j0, nt) = Split(n, threads, t, kern.NR);
                if (nt > 0)
                    RunBlocked(in prob, 0, m, j0, nt, in kern, scratch);
            }
            else
            {
                var (i0, mt) = Split(m, threads, t, kern.MR);
                if (mt > 0)
                    RunBlocked(in prob, i0, mt, 0, n, in kern, scratch);
            }
        });
    }

    /// <summary>Rounds the block count up, then evens the blocks out (no thin last block), in steps of <paramref name="unit"/>.</summary>
    private static int EvenBlock(int total, int max, int unit)
    {
        int blocks = (total + max - 1) / max;
        int size = (total + blocks - 1) / blocks;
        return Math.Min(max, (size + unit - 1) / unit * unit);
    }

    /// <summary>
    /// The five BLIS loops for the block C[i0 .. i0+mCount, j0 .. j0+nCount]: NC columns of op(B) at a
    /// time (packed block in L3), KC deep (packed B block KC x NC; packed A block MC x KC in L2), then
    /// NR x MR micro-tiles whose B micro-panel (KC x NR) stays in L1 while the A micro-panels stream.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunBlocked(in Problem p, int i0, int mCount, int j0, int nCount, in KernelInfo kr, GemmScratch scratch)
    {
        int MR = kr.MR, NR = kr.NR, k = p.K;
        int kcMax = EvenBlock(k, kr.KC, 8);
        int mcMax = EvenBlock(mCount, kr.MC, MR);
        int ncMax = EvenBlock(nCount, kr.NC, NR);
        float* packA = scratch.A((nint)mcMax * kcMax);
        float* packB = scratch.B((nint)ncMax * kcMax);
        float* edge = scratch.Edge(MR * NR);

        for (int jc = 0; jc < nCount; jc += ncMax)
        {
            int nc = Math.Min(ncMax, nCount - jc);
            for (int pc = 0; pc < k; pc += kcMax)
            {
                int kc = Math.Min(kcMax, k - pc);
                // The first k block applies the caller's beta; the later ones add to what it wrote.
                float beta = pc == 0 ? p.Beta : 1f;
                GemmPack.PackB(in p, pc, kc, j0 + jc, nc, NR, packB);
                for (int ic = 0; ic < mCount; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, mCount - ic);
                    GemmPack.PackA(in p, i0 + ic, mc, pc, kc, MR, packA);
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        int nr = Math.Min(NR, nc - jr);
                        float* bPanel = packB + (nint)jr * kc;
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            float* aPanel = packA + (nint)ir * kc;
                            float* cTile = p.C + (i0 + ic + ir) * p.Ldc + j0 + jc + jr;
                            if (mr == MR && nr == NR)
                            {
                                kr.Kernel(kc, aPanel, bPanel, cTile, p.Ldc, p.Alpha, beta);
                            }
                            else
                            {
                                // Edge tile: the packed panels are zero-padded, so compute the full tile
                                // into a scratch tile and copy out only the valid part.
                                kr.Kernel(kc, aPanel, bPanel, edge, NR, 1f, 0f);
                                MergeEdge(edge, NR, mr, nr, cTile, p.Ldc, p.Alpha, beta);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Copies the valid mr x nr part of an edge tile into C with the same arithmetic as the kernels'
    /// update (alpha * acc, then one fused multiply-add with beta * C), so a C element gets the same
    /// bits whether its tile is an edge tile or not (and so whatever the split over threads).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MergeEdge(float* tile, int ldt, int mr, int nr, float* c, nint ldc, float alpha, float beta)
    {
        for (int r = 0; r < mr; r++)
        {
            float* t = tile + r * ldt;
            float* cr = c + r * ldc;
            if (beta == 0f)
                for (int j = 0; j < nr; j++)
                    cr[j] = alpha * t[j];
            else
                for (int j = 0; j < nr; j++)
                    cr[j] = MathF.FusedMultiplyAdd(cr[j], beta, alpha * t[j]);
        }
    }
}
