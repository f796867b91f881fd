using System;
using System.Collections.Generic;
using System.Runtime.Intrinsics.X86;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Gemm.Multiply against a double-precision reference (see <see cref="GemmCase.RelTol"/> for the
/// tolerance). The tests that force a kernel path or a thread count change static switches, so they
/// all live in this one class (xunit runs a class's tests one at a time) and restore them.
/// </summary>
public sealed class GemmTests
{
    private static readonly (bool TransA, bool TransB)[] Layouts = { (false, false), (false, true), (true, false), (true, true) };

    private static readonly (float Alpha, float Beta)[] Scalings = { (1f, 0f), (1f, 1f), (-0.75f, 0.5f), (2f, 0f) };

    // m, n, k: unit, odd, below and above one register tile, small-m (GEMV path) and m = 5 (smallest blocked).
    private static readonly (int M, int N, int K)[] SmallShapes =
    {
        (1, 1, 1), (2, 3, 1), (1, 17, 9), (4, 33, 70), (5, 31, 3), (12, 32, 8), (13, 33, 17),
        (37, 53, 29), (64, 7, 300), (7, 64, 300), (200, 520, 65), (25, 97, 513),
    };

    public static IEnumerable<object[]> LayoutsAndShapes()
    {
        foreach (var (ta, tb) in Layouts)
            foreach (var (m, n, k) in SmallShapes)
                yield return new object[] { ta, tb, m, n, k };
    }

    [Theory]
    [MemberData(nameof(LayoutsAndShapes))]
    public void MatchesReference_AllLayoutsAndScalings(bool transA, bool transB, int m, int n, int k)
    {
        foreach (var (alpha, beta) in Scalings)
        {
            var g = new GemmCase(transA, transB, m, n, k, alpha, beta, seed: m * 31 + n * 7 + k);
            g.Check(g.Run());
        }
    }

    [Theory]
    [MemberData(nameof(LayoutsAndShapes))]
    public void LeadingDimensionsLargerThanRows_PaddingNeitherReadNorWritten(bool transA, bool transB, int m, int n, int k)
    {
        var g = new GemmCase(transA, transB, m, n, k, 1.5f, 0.5f, ldaPad: 3, ldbPad: 17, ldcPad: 5, seed: 7);
        g.Check(g.Run());
        var z = new GemmCase(transA, transB, m, n, k, 1f, 0f, ldaPad: 64, ldbPad: 1, ldcPad: 32, seed: 8);
        z.Check(z.Run());
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void DecodeShapes_SmallM(bool transA, bool transB)
    {
        foreach (var (m, n, k) in new[] { (1, 2048, 5504), (1, 5504, 2048), (3, 1031, 769), (4, 200, 11008) })
        {
            var g = new GemmCase(transA, transB, m, n, k, 1f, 0f, seed: n);
            g.Check(g.Run());
            var acc = new GemmCase(transA, transB, m, n, k, 0.5f, 1f, seed: k);
            acc.Check(acc.Run());
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Large_257x1031x769(bool transA, bool transB)
    {
        var g = new GemmCase(transA, transB, 257, 1031, 769, 1f, 0f, ldcPad: 3, seed: 257);
        g.Check(g.Run());
    }

    /// <summary>The training shapes: Y = X W^T (NT), gX = gY W (NN), dW += gY^T X (TN, beta = 1); sampled rows.</summary>
    [Theory]
    [InlineData(false, true, 1024, 2048, 768, 0f)]
    [InlineData(false, false, 1024, 768, 2048, 0f)]
    [InlineData(true, false, 2048, 768, 1024, 1f)]
    public void ModelShapes_SampledRows(bool transA, bool transB, int m, int n, int k, float beta)
    {
        var g = new GemmCase(transA, transB, m, n, k, 1f, beta, seed: m + n + k);
        g.Check(g.Run(), g.SampleRows(48, seed: 5));
    }

    /// <summary>All-positive data: no cancellation, so rounding errors relative to mag are largest here.</summary>
    [Theory]
    [InlineData(false, true, 64, 300, 11008)]
    [InlineData(true, false, 100, 96, 4096)]
    [InlineData(false, true, 1, 512, 11008)]
    public void PositiveData_LongK_StaysWithinTolerance(bool transA, bool transB, int m, int n, int k)
    {
        var g = new GemmCase(transA, transB, m, n, k, 1f, 1f, seed: 3, positive: true);
        g.Check(g.Run());
    }

    [Fact]
    public void BetaOne_Accumulates()
    {
        var g = new GemmCase(true, false, 70, 90, 110, 1f, 0f, seed: 11);
        var once = g.Run();
        var twice = (float[])once.Clone();
        Gemm.Multiply(true, false, 70, 90, 110, 1f, g.A, g.Lda, g.B, g.Ldb, 1f, twice, g.Ldc);
        for (int i = 0; i < once.Length; i++)
            Assert.Equal(2.0 * once[i], twice[i], 1e-5 * (Math.Abs(once[i]) + 1));
    }

    [Theory]
    [InlineData(0, 5, 7)]
    [InlineData(5, 0, 7)]
    [InlineData(0, 0, 0)]
    public void EmptyOutput_DoesNothing(int m, int n, int k)
    {
        var c = new float[Math.Max(1, m * n)];
        Array.Fill(c, 3f);
        Gemm.Multiply(false, false, m, n, k, 1f, new float[m * k], Math.Max(k, 0), new float[k * n], n, 0f, c, n);
        Assert.All(c, x => Assert.Equal(3f, x));
    }

    [Theory]
    [InlineData(3, 4)]
    [InlineData(30, 40)]
    public void KZero_ScalesCByBeta(int m, int n)
    {
        var c = new float[m * n];
        Array.Fill(c, 2f);
        Gemm.Multiply(false, true, m, n, 0, 1f, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 0, 0.5f, c, n);
        Assert.All(c, x => Assert.Equal(1f, x));
        Array.Fill(c, float.NaN);
        Gemm.Multiply(false, true, m, n, 0, 1f, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 0, 0f, c, n);
        Assert.All(c, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void AlphaZero_DoesNotReadAOrB()
    {
        var a = new float[20 * 30];
        Array.Fill(a, float.NaN);
        var c = new float[20 * 40];
        Array.Fill(c, 4f);
        Gemm.Multiply(false, false, 20, 40, 30, 0f, a, 30, new float[30 * 40], 40, 0.25f, c, 40);
        Assert.All(c, x => Assert.Equal(1f, x));
    }

    /// <summary>Every kernel family the CPU supports gives the reference result, on edge tiles, blocking boundaries and the small-m path.</summary>
    [Theory]
    [InlineData("Scalar")]
    [InlineData("Avx2")]
    [InlineData("Avx512")]
    public void ForcedPath_MatchesReference(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        if ((path == GemmPath.Avx2 && !(Avx2.IsSupported && Fma.IsSupported)) || (path == GemmPath.Avx512 && !Avx512F.IsSupported))
            return; // Not on this CPU (xunit 2 has no dynamic skip).
        var saved = Gemm.ForcedPath;
        Gemm.ForcedPath = path;
        try
        {
            foreach (var (ta, tb) in Layouts)
            {
                foreach (var (m, n, k) in new[] { (1, 1, 1), (3, 77, 45), (37, 53, 29), (200, 520, 65), (61, 130, 600), (1, 2048, 5504) })
                {
                    var g = new GemmCase(ta, tb, m, n, k, 1f, 0f, ldaPad: 1, ldcPad: 2, seed: m + k);
                    g.Check(g.Run(), label: path.ToString());
                    var acc = new GemmCase(ta, tb, m, n, k, -0.5f, 1f, ldbPad: 3, seed: n);
                    acc.Check(acc.Run(), label: path.ToString());
                }
            }
            var big = new GemmCase(false, true, 257, 1031, 769, 1f, 0f, seed: 2);
            big.Check(big.Run(), big.SampleRows(40, seed: 9), label: path.ToString());
        }
        finally
        {
            Gemm.ForcedPath = saved;
        }
    }

    [Fact]
    public void ForcedPath_Auto_PicksWidestSupported()
    {
        var expected = Avx512F.IsSupported ? GemmPath.Avx512 : Avx2.IsSupported && Fma.IsSupported ? GemmPath.Avx2 : GemmPath.Scalar;
        var saved = Gemm.ForcedPath;
        Gemm.ForcedPath = GemmPath.Auto;
        try
        {
            Assert.Equal(expected, Gemm.ResolvePath());
        }
        finally
        {
            Gemm.ForcedPath = saved;
        }
    }

    /// <summary>The k summation order does not depend on how C is split over threads, so the result is bitwise the same.</summary>
    [Theory]
    [InlineData(false, true, 300, 700, 500)]
    [InlineData(true, false, 700, 300, 500)]
    [InlineData(false, true, 2, 4000, 700)]
    public void ThreadCount_DoesNotChangeResult(bool transA, bool transB, int m, int n, int k)
    {
        var g = new GemmCase(transA, transB, m, n, k, 1f, 0.5f, seed: 17);
        float[] multi = g.Run();
        var saved = Gemm.MaxThreads;
        Gemm.MaxThreads = 1;
        float[] single;
        try
        {
            single = g.Run();
        }
        finally
        {
            Gemm.MaxThreads = saved;
        }
        Assert.Equal(single, multi);
    }

    [Fact]
    public void Validation_NamesTheParameterAndSizes()
    {
        var a = new float[6];
        var b = new float[6];
        var c = new float[4];
        Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, -1, 2, 3, 1f, a, 3, b, 2, 0f, c, 2)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, -2, 3, 1f, a, 3, b, 2, 0f, c, 2)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, -3, 1f, a, 3, b, 2, 0f, c, 2)).ParamName);

        var lda = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2));
        Assert.Equal("lda", lda.ParamName);
        Assert.Contains("2 x 3", lda.Message);
        Assert.Equal("lda", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(true, false, 2, 2, 3, 1f, a, 1, b, 2, 0f, c, 2)).ParamName);
        Assert.Equal("ldb", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, true, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2)).ParamName);
        Assert.Equal("ldc", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 1)).ParamName);

        var shortA = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, new float[5], 3, b, 2, 0f, c, 2));
        Assert.Equal("a", shortA.ParamName);
        Assert.Contains("5 elements", shortA.Message);
        Assert.Contains("needs 6", shortA.Message);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, true, 2, 2, 3, 1f, a, 3, new float[6], 4, 0f, c, 2)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, new float[4], 3)).ParamName);

        var shared = new float[16];
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 2, 1f, shared.AsSpan(0, 4), 2, shared.AsSpan(4, 4), 2, 0f, shared.AsSpan(2, 4), 2)).ParamName);
    }
}
