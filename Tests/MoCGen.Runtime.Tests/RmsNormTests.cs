using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// RMSNorm against the double reference. Tolerances (u = 2^-24, n = width):
/// rstd: the sum of squares has n terms (n u relative), then a division, an add, a square root and a reciprocal
/// (~4 u): 2 (n + 4) u rstd. y = (x rstd) w: rstd's error plus two products: 2 (n + 6) u |y|.
/// dx = rstd (g - c x): the n-term dot product sum(g x) (n u on its magnitude), rstd (n u), a few products:
/// 2 (2n + 8) u times the magnitude rstd (|g| + |x| rstd^2 sum|g x| / n).
/// dw += sum over rows of dy x rstd: rows terms plus rstd's error: 2 (rows + n + 8) u times sum |dy x rstd| (+ the
/// initial value's magnitude). A wrong formula errs by O(|value|).
/// </summary>
public sealed class RmsNormTests
{
    private const double U = ModelReference.U;
    private const float Eps = 1e-5f;

    [Theory]
    [InlineData(7, 37)]     // odd width: vector tail
    [InlineData(1, 1)]
    [InlineData(5, 256)]
    [InlineData(300, 257)]  // past the parallel threshold: rows split for dx, columns for dw
    public void MatchesReference(int rows, int width)
    {
        var x = ModelReference.Random(rows * width, 10 + width, 2);
        var w = ModelReference.Random(width, 11 + width).Select(v => 1 + v / 2).ToArray();
        var dy = ModelReference.Random(rows * width, 12 + width);
        var y = Enumerable.Repeat(float.NaN, rows * width).ToArray();
        var rstd = Enumerable.Repeat(float.NaN, rows).ToArray();
        RmsNorm.Forward(rows, width, x, w, Eps, y, rstd);
        var want = ModelReference.RmsNorm(rows, width, x, w, Eps, dy);

        for (int r = 0; r < rows; r++)
            Assert.True(Math.Abs(rstd[r] - want.Rstd[r]) <= 2 * (width + 4) * U * want.Rstd[r], $"rstd[{r}]: {rstd[r]} vs {want.Rstd[r]}");
        for (int i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(y[i] - want.Y[i]) <= 2 * (width + 6) * U * Math.Abs(want.Y[i]) + 1e-30, $"y[{i}]: {y[i]} vs {want.Y[i]}");

        const float initial = 0.25f; // dw accumulates
        var dx = Enumerable.Repeat(float.NaN, rows * width).ToArray();
        var dw = Enumerable.Repeat(initial, width).ToArray();
        RmsNorm.Backward(rows, width, x, w, rstd, dy, dx, dw);
        for (int i = 0; i < dx.Length; i++)
            Assert.True(Math.Abs(dx[i] - want.Dx[i]) <= 2 * (2 * width + 8) * U * want.DxMagnitude[i], $"dx[{i}]: {dx[i]} vs {want.Dx[i]}");
        for (int i = 0; i < width; i++)
            Assert.True(Math.Abs(dw[i] - (initial + want.Dw[i])) <= 2 * (rows + width + 8) * U * (initial + want.DwMagnitude[i]),
                $"dw[{i}]: {dw[i]} vs {initial + want.Dw[i]}");
    }

    [Fact]
    public void InPlaceAndAccumulatingVariantsAgree()
    {
        int rows = 9, width = 45;
        var x = ModelReference.Random(rows * width, 1);
        var w = ModelReference.Random(width, 2);
        var dy = ModelReference.Random(rows * width, 3);
        var y = new float[rows * width];
        var rstd = new float[rows];
        RmsNorm.Forward(rows, width, x, w, Eps, y, rstd);

        // Forward in place (y over x) gives the same bits.
        var inPlace = (float[])x.Clone();
        var rstd2 = new float[rows];
        RmsNorm.Forward(rows, width, inPlace, w, Eps, inPlace, rstd2);
        Assert.Equal(y, inPlace);
        Assert.Equal(rstd, rstd2);

        var dx = new float[rows * width];
        var dw = new float[width];
        RmsNorm.Backward(rows, width, x, w, rstd, dy, dx, dw);

        // Backward in place (dx over dy).
        var g = (float[])dy.Clone();
        var dw2 = new float[width];
        RmsNorm.Backward(rows, width, x, w, rstd, g, g, dw2);
        Assert.Equal(dx, g);
        Assert.Equal(dw, dw2);

        // Accumulating into a residual gradient: dx = residual + gradient.
        var residual = ModelReference.Random(rows * width, 4);
        var acc = (float[])residual.Clone();
        var dw3 = new float[width];
        RmsNorm.Backward(rows, width, x, w, rstd, dy, acc, dw3, accumulateDx: true);
        for (int i = 0; i < acc.Length; i++)
            Assert.True(Math.Abs(acc[i] - (residual[i] + dx[i])) <= 4 * U * (Math.Abs(residual[i]) + Math.Abs(dx[i]) + 1e-6), $"dx[{i}]");
    }

    /// <summary>
    /// Backward against central differences of our forward, L = sum(y * r) in double, h = 1e-2: truncation
    /// O(h^2 |f'''|) ~ 1e-4 (x of order 1, rstd of order 1), rounding noise u |L| / h ~ 1e-5; allowed 2e-3 (|g| + 0.05).
    /// </summary>
    [Fact]
    public void GradientsMatchCentralDifferences()
    {
        int rows = 3, width = 5;
        var x = ModelReference.Random(rows * width, 21, 1.5);
        var w = ModelReference.Random(width, 22);
        var r = ModelReference.Random(rows * width, 23);
        var rstd = new float[rows];
        var y = new float[rows * width];
        RmsNorm.Forward(rows, width, x, w, Eps, y, rstd);
        var dx = new float[rows * width];
        var dw = new float[width];
        RmsNorm.Backward(rows, width, x, w, rstd, r, dx, dw);

        double Loss()
        {
            var yy = new float[rows * width];
            RmsNorm.Forward(rows, width, x, w, Eps, yy, new float[rows]);
            return yy.Select((v, i) => (double)v * r[i]).Sum();
        }

        void Check(string what, float[] p, float[] grad)
        {
            const float h = 1e-2f;
            for (int i = 0; i < p.Length; i++)
            {
                float saved = p[i];
                p[i] = saved + h; double plus = Loss();
                p[i] = saved - h; double minus = Loss();
                p[i] = saved;
                double fd = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(fd - grad[i]) <= 2e-3 * (Math.Abs(grad[i]) + 0.05), $"{what}[{i}]: finite difference {fd}, backward {grad[i]}");
            }
        }

        Check("x", x, dx);
        Check("w", w, dw);
    }

    [Fact]
    public void RejectsBadSizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => RmsNorm.Forward(2, 4, new float[7], new float[4], Eps, new float[8], new float[2]));
        Assert.Equal("x", ex.ParamName);
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(2, 4, new float[8], new float[3], Eps, new float[8], new float[2]));
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(2, 4, new float[8], new float[4], Eps, new float[8], new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RmsNorm.Forward(2, 0, new float[8], new float[4], Eps, new float[8], new float[2]));
        Assert.Throws<ArgumentException>(() => RmsNorm.Backward(2, 4, new float[8], new float[4], new float[2], new float[8], new float[8], new float[3]));
    }
}
