using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Backward against central finite differences of our own forward pass, on a tiny shape away from Top-K ties:
/// L = sum(y * r), so dL/dy = r. Step h = 1e-2 in fp32: truncation error O(h^2 |f'''|) ~ 1e-4 and rounding noise
/// ~ u |L| / h ~ 1e-5; we allow 3e-3 (|g| + 0.1), far above both and far below a wrong formula's error.
/// Coordinates whose perturbation changes the selection are skipped (Top-K is a fixed mask in backward).
/// </summary>
public sealed class FiniteDifferenceTests
{
    [Fact]
    public void GradientsMatchCentralDifferences()
    {
        var c = MoCFeedForwardTests.MakeCase<Tiny>(3, 11);
        var analytic = MoCFeedForwardTests.RunKernel<Tiny, ushort>(c);
        var baseline = analytic.Selected;

        double Loss(out int[][] selected)
        {
            var o = MoCFeedForwardTests.RunKernel<Tiny, ushort>(c, backward: false);
            selected = o.Selected;
            double l = 0;
            for (int i = 0; i < o.Y.Length; i++) l += (double)o.Y[i] * c.Gy[i];
            return l;
        }

        int checkedCount = 0;
        void Check(string what, float[] parameter, float[] gradient)
        {
            const float h = 1e-2f;
            for (int i = 0; i < parameter.Length; i++)
            {
                float saved = parameter[i];
                parameter[i] = saved + h;
                double plus = Loss(out var selPlus);
                parameter[i] = saved - h;
                double minus = Loss(out var selMinus);
                parameter[i] = saved;
                if (!Same(selPlus, baseline) || !Same(selMinus, baseline)) continue;
                double fd = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(fd - gradient[i]) <= 3e-3 * (Math.Abs(gradient[i]) + 0.1),
                    $"{what}[{i}]: finite difference {fd}, backward {gradient[i]}");
                checkedCount++;
            }
        }

        Check("x", c.X, analytic.Gx);
        Check("W_g", c.Wg, analytic.DGate.Select(v => v - MoCFeedForwardTests.InitialGate).ToArray());
        Check("W_u", c.Wu, analytic.DUp.Select(v => v - MoCFeedForwardTests.InitialUp).ToArray());
        Check("W_d^T", c.WdT, analytic.DDownT.Select(v => v - MoCFeedForwardTests.InitialDown).ToArray());
        Assert.True(checkedCount > 3 * 8 + 3 * 16 * 8 * 3 / 4, $"only {checkedCount} coordinates checked");
    }

    private static bool Same(int[][] a, int[][] b) => a.Zip(b).All(p => p.First.SequenceEqual(p.Second));
}
