namespace MoCGen.GpuCheck;

// Each model's feed-forward kernels as the harness launches them, from its generated tables. Kept apart from Models.cs,
// which stands alone for build/MoCGen.Ptx.targets.

partial class Ffn200
{
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.FeedForwardKernels, Cuda.DecodeKernels);
}

partial class Ffn200Dense
{
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.FeedForwardKernels, Cuda.DecodeKernels);
}

partial class Llama7BFfnBf16
{
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.FeedForwardKernels, Cuda.DecodeKernels);
}

partial class Llama7BFfn
{
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.FeedForwardKernels, Cuda.DecodeKernels);
}

partial class SmallDecoderBf16
{
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.FeedForwardKernels, Cuda.DecodeKernels);
}

partial class SmallDecoder
{
    /// <summary>Greedy sampling on the GPU: argmax of each token's logits.</summary>
    internal static MoCGen.Inference.KernelLaunch Argmax { get; } =
        new(Cuda.DecoderLaunch.ArgmaxKernel, "Decoder", "Decoder.Argmax", Cuda.DecoderLaunch.ArgmaxBlock, 0, Cuda.DecoderLaunch.ArgmaxGrid);

    /// <summary>Softmax statistics (max, sum of exp) of each token's logits at a temperature.</summary>
    internal static MoCGen.Inference.KernelLaunch SoftmaxStats { get; } =
        new(Cuda.DecoderLaunch.SoftmaxStatsKernel, "Decoder", "Decoder.SoftmaxStats", Cuda.DecoderLaunch.SoftmaxStatsBlock, 0, Cuda.DecoderLaunch.SoftmaxStatsGrid);
}
