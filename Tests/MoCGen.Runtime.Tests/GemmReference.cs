using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>One GEMM problem with its stored operands, and the double-precision reference it is checked against.</summary>
internal sealed class GemmCase
{
    /// <summary>
    /// Error allowed per element, relative to mag = |alpha| sum_p |a_ip b_pj| + |beta c_ij|:
    ///     |c - ref| &lt;= RelTol * mag + AbsTol.
    /// Why 1e-5 (about 168 u, u = 2^-24 the unit roundoff of fp32):
    ///  - Inputs are exact in double and the reference is double, so all error is fp32 rounding in Gemm.
    ///    Each element is a chain of roundings: up to KC = 256 FMA steps per k block (one rounding
    ///    each, two on the scalar path), one addition per k block into C, alpha, beta. Each rounding
    ///    is at most u times a partial sum, and every partial sum is bounded by mag. So the
    ///    worst case (Higham, Accuracy and Stability, 3.1) is about (chain length) * u * mag: ~270 u for
    ///    k = 2048, i.e. 1.6e-5 (2x that on the scalar path).
    ///  - That worst case needs every rounding at its maximum with the same sign; rounding errors are
    ///    close to independent and zero-mean, so the error grows like sqrt(chain) * u * mag, ~16 u at
    ///    most at these sizes. Measured: at most 1.5 u on the model shapes with data in [-1, 1] and 7 u
    ///    with all-positive data and k = 11008 (no cancellation: the hardest case for a bound relative
    ///    to mag), so 1e-5 leaves a margin of 20x or more.
    ///  - It stays tight enough to catch a wrong result: one missing, doubled or misplaced term
    ///    changes c by about mag / k, more than 1e-5 * mag for every k here (k &lt;= 11008).
    /// AbsTol = 1e-6 only matters where mag is ~0 (e.g. k = 0 or alpha = 0 with beta c = 0).
    /// </summary>
    public const double RelTol = 1e-5, AbsTol = 1e-6;

    public readonly bool TransA, TransB;
    public readonly int M, N, K, Lda, Ldb, Ldc;
    public readonly float Alpha, Beta;
    public readonly float[] A, B, C0;

    public GemmCase(bool transA, bool transB, int m, int n, int k, float alpha, float beta,
        int ldaPad = 0, int ldbPad = 0, int ldcPad = 0, int seed = 1, bool positive = false)
    {
        TransA = transA; TransB = transB; M = m; N = n; K = k; Alpha = alpha; Beta = beta;
        Lda = (transA ? m : k) + ldaPad;
        Ldb = (transB ? k : n) + ldbPad;
        Ldc = n + ldcPad;
        var rng = new Random(seed);
        A = Matrix(transA ? k : m, transA ? m : k, Lda, rng, positive);
        B = Matrix(transB ? n : k, transB ? k : n, Ldb, rng, positive);
        // beta == 0: C starts as NaN, which must not leak into the result. Padding between the rows
        // of every operand is NaN too, so reading past a row width shows up as NaN.
        C0 = Matrix(m, n, Ldc, rng, positive);
        if (beta == 0f)
            Array.Fill(C0, float.NaN);
    }

    private static float[] Matrix(int rows, int cols, int ld, Random rng, bool positive)
    {
        var x = new float[rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols];
        Array.Fill(x, float.NaN);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                x[r * ld + c] = positive ? (float)rng.NextDouble() : (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    public double OpA(int i, int p) => TransA ? A[p * Lda + i] : A[i * Lda + p];
    public double OpB(int p, int j) => TransB ? B[j * Ldb + p] : B[p * Ldb + j];

    /// <summary>Runs Gemm.Multiply on a copy of C0 and returns it.</summary>
    public float[] Run()
    {
        var c = (float[])C0.Clone();
        Gemm.Multiply(TransA, TransB, M, N, K, Alpha, A, Lda, B, Ldb, Beta, c, Ldc);
        return c;
    }

    /// <summary>
    /// Checks rows <paramref name="rows"/> (all when null) of <paramref name="c"/> against the double
    /// reference, and that the padding of C past column n is untouched. Returns the largest
    /// |c - ref| / (mag + tiny) seen, for information.
    /// </summary>
    public double Check(float[] c, IReadOnlyList<int>? rows = null, string? label = null)
    {
        rows ??= AllRows();
        // op(A) rows and op(B) columns as contiguous double vectors, so the reference is a plain dot.
        double[] bt = new double[(long)N * K];
        for (int j = 0; j < N; j++)
            for (int p = 0; p < K; p++)
                bt[(long)j * K + p] = OpB(p, j);

        var worst = new double[rows.Count];
        var failures = new string?[rows.Count];
        Parallel.For(0, rows.Count, r =>
        {
            int i = rows[r];
            var ai = new double[K];
            for (int p = 0; p < K; p++)
                ai[p] = OpA(i, p);
            for (int j = 0; j < N; j++)
            {
                double dot = 0, abs = 0;
                long off = (long)j * K;
                for (int p = 0; p < K; p++)
                {
                    double t = ai[p] * bt[off + p];
                    dot += t;
                    abs += Math.Abs(t);
                }
                double c0 = C0[i * Ldc + j];
                double expected = Alpha * dot + (Beta == 0f ? 0 : Beta * c0);
                double mag = Math.Abs(Alpha) * abs + (Beta == 0f ? 0 : Math.Abs(Beta * c0));
                double got = c[i * Ldc + j];
                double err = Math.Abs(got - expected);
                if (!(err <= RelTol * mag + AbsTol))
                {
                    failures[r] ??= $"{label} {Describe()}: C[{i},{j}] = {got:R}, expected {expected:R} " +
                        $"(|err| {err:E3} > {RelTol} * {mag:E3} + {AbsTol})";
                }
                worst[r] = Math.Max(worst[r], err / (mag + 1e-30));
            }
            for (int j = N; j < Ldc && i < M - 1; j++)
                if (BitConverter.SingleToInt32Bits(c[i * Ldc + j]) != BitConverter.SingleToInt32Bits(C0[i * Ldc + j]))
                    failures[r] ??= $"{label} {Describe()}: padding C[{i},{j}] was written";
        });
        foreach (var f in failures)
            Assert.True(f is null, f);
        double w = 0;
        foreach (var x in worst)
            w = Math.Max(w, x);
        return w;
    }

    public List<int> AllRows()
    {
        var rows = new List<int>(M);
        for (int i = 0; i < M; i++)
            rows.Add(i);
        return rows;
    }

    /// <summary>Rows 0 and m-1 plus <paramref name="count"/> random others.</summary>
    public List<int> SampleRows(int count, int seed)
    {
        var rng = new Random(seed);
        var rows = new SortedSet<int> { 0, M - 1 };
        while (rows.Count < Math.Min(M, count + 2))
            rows.Add(rng.Next(M));
        return new List<int>(rows);
    }

    public string Describe() =>
        $"{(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')} m={M} n={N} k={K} alpha={Alpha} beta={Beta} lda={Lda} ldb={Ldb} ldc={Ldc}";
}
