using System.Collections.Generic;
using MoCGen.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace MoCGen.Benchmarks.Suites;

/// <summary>Our GEMM against TorchSharp's matmul at the shapes the models use.</summary>
public static class GemmSuite
{
    public const string Ours = "ours";
    public const string Torch = "TorchSharp";

    public static List<Result> Run(int repeats)
    {
        var rows = new List<Result>();
        // (label, transA, transB, m, n, k, beta): Y = X W^T, gX = gY W, dW += gY^T X, and the decode product.
        var cases = new (string Label, bool TransA, bool TransB, int M, int N, int K, float Beta)[]
        {
            ("X W^T  1024x2048x768", false, true, 1024, 2048, 768, 0f),
            ("gY W   1024x768x2048", false, false, 1024, 768, 2048, 0f),
            ("gY^T X 2048x768x1024 (+=)", true, false, 2048, 768, 1024, 1f),
            ("x W^T  1x5504x2048", false, true, 1, 5504, 2048, 0f),
        };
        foreach (var c in cases)
        {
            var a = Measure.Random(c.M * c.K, 1, 1);
            var b = Measure.Random(c.K * c.N, 1, 2);
            var result = new float[c.M * c.N];
            int lda = c.TransA ? c.M : c.K, ldb = c.TransB ? c.K : c.N;
            int repeatsHere = c.M == 1 ? repeats * 5 : repeats;
            var ours = Measure.Row("gemm", c.Label, Ours,
                () => Gemm.Multiply(c.TransA, c.TransB, c.M, c.N, c.K, 1f, a, lda, b, ldb, c.Beta, result, c.N), 3, repeatsHere);

            var ta = c.TransA ? torch.tensor(a, new long[] { c.K, c.M }).t() : torch.tensor(a, new long[] { c.M, c.K });
            var tb = c.TransB ? torch.tensor(b, new long[] { c.N, c.K }).t() : torch.tensor(b, new long[] { c.K, c.N });
            var tc = torch.zeros(c.M, c.N);
            var peer = Measure.Row("gemm", c.Label, Torch, () =>
            {
                using var scope = torch.NewDisposeScope();
                if (c.Beta == 0) torch.matmul(ta, tb);
                else tc.addmm_(ta, tb);
            }, 3, repeatsHere);
            foreach (var row in new[] { ours, peer })
            {
                row.Figures["GFLOP/s"] = 2.0 * c.M * c.N * c.K / (row.MedianMs / 1e3) / 1e9;
                rows.Add(row);
            }
        }
        Measure.Relate(rows, Torch);
        return rows;
    }
}
