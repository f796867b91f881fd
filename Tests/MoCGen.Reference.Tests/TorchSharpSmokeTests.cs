using System;
using System.Linq;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MoCGen.Reference.Tests;

/// <summary>
/// Proves that TorchSharp loads on this machine (libLibTorchSharp.so patched by build/TorchSharp.targets
/// where the system libstdc++ is too old) and computes what the reference tests will rely on:
/// dense products, Top-K selection with gather/scatter_add, and autograd, each against answers worked out by hand.
/// </summary>
public sealed class TorchSharpSmokeTests
{
    static TorchSharpSmokeTests()
    {
        // One thread: reference values must not depend on the machine's cores (reduction order).
        // TorchSharp 0.107 marks use_deterministic_algorithms "not implemented"; on CPU these ops are deterministic.
        torch.set_num_threads(1);
        torch.manual_seed(0);
    }

    private static double[] Values(Tensor t) => t.cpu().data<double>().ToArray();

    private static long[] Indices(Tensor t) => t.cpu().data<long>().ToArray();

    [Fact]
    public void Matmul_of_small_double_matrices_matches_hand_result()
    {
        using var scope = torch.NewDisposeScope();
        var a = tensor(new double[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        var b = tensor(new double[] { 7, 8, 9, 10, 11, 12 }, new long[] { 3, 2 });

        var c = matmul(a, b);

        Assert.Equal(new long[] { 2, 2 }, c.shape);
        Assert.Equal(ScalarType.Float64, c.dtype);
        // [1*7+2*9+3*11, 1*8+2*10+3*12; 4*7+5*9+6*11, 4*8+5*10+6*12]
        Assert.Equal(new double[] { 58, 64, 139, 154 }, Values(c));
    }

    [Fact]
    public void Topk_gather_and_scatter_add_match_hand_results()
    {
        using var scope = torch.NewDisposeScope();
        // Two "tokens" of five gate values each, no ties.
        var g = tensor(new double[] { 0.1, 2.0, -1.0, 5.0, 3.0, 4.0, -2.0, 0.0, 1.0, 6.0 }, new long[] { 2, 5 });

        var (values, indices) = g.topk(2, dim: 1, largest: true, sorted: true);

        Assert.Equal(new double[] { 5.0, 3.0, 6.0, 4.0 }, Values(values));
        Assert.Equal(new long[] { 3, 4, 4, 0 }, Indices(indices));

        // gather with Top-K's indices gives back Top-K's values.
        Assert.Equal(Values(values), Values(g.gather(1, indices)));

        // scatter_add accumulates repeated indices: [1, 0, 2+3, 0, 4].
        var index = tensor(new long[] { 0, 2, 2, 4 });
        var src = tensor(new double[] { 1, 2, 3, 4 });
        var acc = zeros(5, dtype: ScalarType.Float64).scatter_add(0, index, src);
        Assert.Equal(new double[] { 1, 0, 5, 0, 4 }, Values(acc));

        // Scattering the selected values back into a zero row rebuilds the masked gate of each token.
        var masked = zeros_like(g).scatter_add(1, indices, values);
        Assert.Equal(new double[] { 0, 0, 0, 5, 3, 4, 0, 0, 0, 6 }, Values(masked));
    }

    [Fact]
    public void Autograd_gradient_of_sum_silu_x_times_y_matches_analytic_formula()
    {
        using var scope = torch.NewDisposeScope();
        double[] xs = { -3.0, -0.5, 0.0, 0.25, 1.5, 4.0 };
        double[] ys = { 0.7, -1.2, 2.0, 0.3, -0.4, 1.1 };
        var x = tensor(xs).requires_grad_(true);
        var y = tensor(ys).requires_grad_(true);

        var f = (nn.functional.silu(x) * y).sum();
        f.backward();

        static double Sigmoid(double z) => 1.0 / (1.0 + Math.Exp(-z));
        // d/dx: y * SiLU'(x), SiLU'(z) = s(z)(1 + z(1 - s(z))); d/dy: SiLU(x) = x s(x).
        double[] expectedGx = xs.Select((z, i) => ys[i] * Sigmoid(z) * (1 + z * (1 - Sigmoid(z)))).ToArray();
        double[] expectedGy = xs.Select(z => z * Sigmoid(z)).ToArray();
        double expectedF = xs.Select((z, i) => z * Sigmoid(z) * ys[i]).Sum();

        Assert.Equal(expectedF, f.item<double>(), 12);
        var gx = Values(x.grad!);
        var gy = Values(y.grad!);
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.Equal(expectedGx[i], gx[i], 12);
            Assert.Equal(expectedGy[i], gy[i], 12);
        }
    }
}
