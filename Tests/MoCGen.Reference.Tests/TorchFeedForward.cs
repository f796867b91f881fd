using TorchSharp;
using static TorchSharp.torch;

namespace MoCGen.Reference;

/// <summary>
/// The MoC SwiGLU feed-forward block written with TorchSharp the way the published PyTorch code does it:
/// dense gate, topk, gather and scatter for the mask, dense up and down products; autograd for backward.
/// Independent of MoCGen's kernels; used as the tests' reference (in double) and the benchmarks' peer (in float).
/// Weights in Hugging Face layout: gate and up [d_ff, d], down [d, d_ff].
/// </summary>
public static class TorchFeedForward
{
    /// <summary>y = W_d (SiLU(g) * u restricted to the Top-K channels of g), g = W_g x, u = W_u x.</summary>
    public static Tensor Forward(Tensor x, Tensor gate, Tensor up, Tensor down, int topK)
    {
        var g = x.matmul(gate.t());
        var u = x.matmul(up.t());
        Tensor h;
        if (topK == gate.shape[0])
        {
            h = nn.functional.silu(g) * u;
        }
        else
        {
            var (values, index) = g.topk(topK, dim: 1);
            // Gradients reach g only through the selected values: Top-K acts as a fixed mask.
            var selected = nn.functional.silu(values) * u.gather(1, index);
            h = zeros_like(g).scatter(1, index, selected);
        }
        return h.matmul(down.t());
    }
}
