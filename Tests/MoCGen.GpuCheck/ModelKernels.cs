namespace MoCGen.GpuCheck;

// Each model's feed-forward kernels as the harness launches them, read from its generated launch tables (the same
// member names in every model's Cuda class). Kept apart from Models.cs, which stands alone for build/MoCGen.Ptx.targets.

partial class Ffn200
{
    /// <summary>The feed-forward kernels (MoC, fp32).</summary>
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.DecodeKernels.Model, Cuda.WeightBytes == 2,
        Cuda.FeedForwardLaunch.WindowStarts,
        new("FeedForward", Cuda.FeedForwardLaunch.GateGemmKernel, Cuda.FeedForwardLaunch.GateGemmBlock, Cuda.FeedForwardLaunch.GateGemmGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.TopKKernel, Cuda.FeedForwardLaunch.TopKBlock, Cuda.FeedForwardLaunch.TopKGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.WindowsKernel, Cuda.FeedForwardLaunch.WindowsBlock, Cuda.FeedForwardLaunch.WindowsGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.UpKernel, Cuda.FeedForwardLaunch.UpBlock, Cuda.FeedForwardLaunch.UpGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.DownKernel, Cuda.FeedForwardLaunch.DownBlock, Cuda.FeedForwardLaunch.DownGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.GateTopKKernel, Cuda.FeedForwardDecodeLaunch.GateTopKBlock, Cuda.FeedForwardDecodeLaunch.GateTopKGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.UpDownKernel, Cuda.FeedForwardDecodeLaunch.UpDownBlock, Cuda.FeedForwardDecodeLaunch.UpDownGrid,
            Cuda.FeedForwardDecodeLaunch.UpDownDynamicSharedBytes, Cuda.FeedForwardDecodeLaunch.UpDownNeedsSharedOptIn),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GhKernel, Cuda.FeedForwardBackwardLaunch.GhBlock, Cuda.FeedForwardBackwardLaunch.GhGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GxKernel, Cuda.FeedForwardBackwardLaunch.GxBlock, Cuda.FeedForwardBackwardLaunch.GxGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.WeightsKernel, Cuda.FeedForwardBackwardLaunch.WeightsBlock, Cuda.FeedForwardBackwardLaunch.WeightsGrid));
}

partial class Ffn200Dense
{
    /// <summary>The feed-forward kernels (dense twin: the backward's Gh and Gx are tiled GEMMs).</summary>
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.DecodeKernels.Model, Cuda.WeightBytes == 2,
        Cuda.FeedForwardLaunch.WindowStarts,
        new("FeedForward", Cuda.FeedForwardLaunch.GateGemmKernel, Cuda.FeedForwardLaunch.GateGemmBlock, Cuda.FeedForwardLaunch.GateGemmGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.TopKKernel, Cuda.FeedForwardLaunch.TopKBlock, Cuda.FeedForwardLaunch.TopKGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.WindowsKernel, Cuda.FeedForwardLaunch.WindowsBlock, Cuda.FeedForwardLaunch.WindowsGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.UpKernel, Cuda.FeedForwardLaunch.UpBlock, Cuda.FeedForwardLaunch.UpGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.DownKernel, Cuda.FeedForwardLaunch.DownBlock, Cuda.FeedForwardLaunch.DownGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.GateTopKKernel, Cuda.FeedForwardDecodeLaunch.GateTopKBlock, Cuda.FeedForwardDecodeLaunch.GateTopKGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.UpDownKernel, Cuda.FeedForwardDecodeLaunch.UpDownBlock, Cuda.FeedForwardDecodeLaunch.UpDownGrid,
            Cuda.FeedForwardDecodeLaunch.UpDownDynamicSharedBytes, Cuda.FeedForwardDecodeLaunch.UpDownNeedsSharedOptIn),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GhKernel, Cuda.FeedForwardBackwardLaunch.GhBlock, Cuda.FeedForwardBackwardLaunch.GhGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GxKernel, Cuda.FeedForwardBackwardLaunch.GxBlock, Cuda.FeedForwardBackwardLaunch.GxGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.WeightsKernel, Cuda.FeedForwardBackwardLaunch.WeightsBlock, Cuda.FeedForwardBackwardLaunch.WeightsGrid));
}

partial class Llama7BFfnBf16
{
    /// <summary>The feed-forward kernels (forward and decode read bf16 weights; the backward kernels are fp32).</summary>
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.DecodeKernels.Model, Cuda.WeightBytes == 2,
        Cuda.FeedForwardLaunch.WindowStarts,
        new("FeedForward", Cuda.FeedForwardLaunch.GateGemmKernel, Cuda.FeedForwardLaunch.GateGemmBlock, Cuda.FeedForwardLaunch.GateGemmGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.TopKKernel, Cuda.FeedForwardLaunch.TopKBlock, Cuda.FeedForwardLaunch.TopKGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.WindowsKernel, Cuda.FeedForwardLaunch.WindowsBlock, Cuda.FeedForwardLaunch.WindowsGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.UpKernel, Cuda.FeedForwardLaunch.UpBlock, Cuda.FeedForwardLaunch.UpGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.DownKernel, Cuda.FeedForwardLaunch.DownBlock, Cuda.FeedForwardLaunch.DownGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.GateTopKKernel, Cuda.FeedForwardDecodeLaunch.GateTopKBlock, Cuda.FeedForwardDecodeLaunch.GateTopKGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.UpDownKernel, Cuda.FeedForwardDecodeLaunch.UpDownBlock, Cuda.FeedForwardDecodeLaunch.UpDownGrid,
            Cuda.FeedForwardDecodeLaunch.UpDownDynamicSharedBytes, Cuda.FeedForwardDecodeLaunch.UpDownNeedsSharedOptIn),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GhKernel, Cuda.FeedForwardBackwardLaunch.GhBlock, Cuda.FeedForwardBackwardLaunch.GhGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GxKernel, Cuda.FeedForwardBackwardLaunch.GxBlock, Cuda.FeedForwardBackwardLaunch.GxGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.WeightsKernel, Cuda.FeedForwardBackwardLaunch.WeightsBlock, Cuda.FeedForwardBackwardLaunch.WeightsGrid));
}

partial class Llama7BFfn
{
    /// <summary>The feed-forward kernels (MoC, fp32).</summary>
    internal static FfnKernels Ffn { get; } = FfnKernels.Create<FeedForwardShape>(Cuda.DecodeKernels.Model, Cuda.WeightBytes == 2,
        Cuda.FeedForwardLaunch.WindowStarts,
        new("FeedForward", Cuda.FeedForwardLaunch.GateGemmKernel, Cuda.FeedForwardLaunch.GateGemmBlock, Cuda.FeedForwardLaunch.GateGemmGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.TopKKernel, Cuda.FeedForwardLaunch.TopKBlock, Cuda.FeedForwardLaunch.TopKGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.WindowsKernel, Cuda.FeedForwardLaunch.WindowsBlock, Cuda.FeedForwardLaunch.WindowsGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.UpKernel, Cuda.FeedForwardLaunch.UpBlock, Cuda.FeedForwardLaunch.UpGrid),
        new("FeedForward", Cuda.FeedForwardLaunch.DownKernel, Cuda.FeedForwardLaunch.DownBlock, Cuda.FeedForwardLaunch.DownGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.GateTopKKernel, Cuda.FeedForwardDecodeLaunch.GateTopKBlock, Cuda.FeedForwardDecodeLaunch.GateTopKGrid),
        new("FeedForwardDecode", Cuda.FeedForwardDecodeLaunch.UpDownKernel, Cuda.FeedForwardDecodeLaunch.UpDownBlock, Cuda.FeedForwardDecodeLaunch.UpDownGrid,
            Cuda.FeedForwardDecodeLaunch.UpDownDynamicSharedBytes, Cuda.FeedForwardDecodeLaunch.UpDownNeedsSharedOptIn),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GhKernel, Cuda.FeedForwardBackwardLaunch.GhBlock, Cuda.FeedForwardBackwardLaunch.GhGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.GxKernel, Cuda.FeedForwardBackwardLaunch.GxBlock, Cuda.FeedForwardBackwardLaunch.GxGrid),
        new("FeedForwardBackward", Cuda.FeedForwardBackwardLaunch.WeightsKernel, Cuda.FeedForwardBackwardLaunch.WeightsBlock, Cuda.FeedForwardBackwardLaunch.WeightsGrid));
}

partial class SmallDecoder
{
    /// <summary>Greedy sampling on the GPU: argmax of each token's logits.</summary>
    internal static Kernel Argmax { get; } = new("Decoder", Cuda.DecoderLaunch.ArgmaxKernel, Cuda.DecoderLaunch.ArgmaxBlock, Cuda.DecoderLaunch.ArgmaxGrid);

    /// <summary>Softmax statistics (max, sum of exp) of each token's logits at a temperature.</summary>
    internal static Kernel SoftmaxStats { get; } = new("Decoder", Cuda.DecoderLaunch.SoftmaxStatsKernel, Cuda.DecoderLaunch.SoftmaxStatsBlock, Cuda.DecoderLaunch.SoftmaxStatsGrid);
}
