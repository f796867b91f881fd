using System;
using System.Collections.Generic;

namespace MoCGen;

/// <summary>Implemented by every generated model: its plan, fixed at build time.</summary>
public interface IMoCModel
{
    /// <summary>The model's shapes, parameter table, memory plan and FLOP counts.</summary>
    static abstract CompiledPlan Plan { get; }

    /// <summary>
    /// A CPU decoder with a key/value cache over <paramref name="parameters"/> (the flat buffer laid out by
    /// <see cref="Plan"/>, down projections transposed as training keeps them; read, not copied).
    /// </summary>
    static abstract Inference.ITokenDecoder CreateDecodeSession(float[] parameters);

    /// <summary>The kernels of one GPU decode step (for <see cref="Inference.GpuDecodeSession"/>), generated with the model.</summary>
    static abstract Inference.DecodeKernelTable GpuDecodeKernels { get; }
}

/// <summary>The sizes of a compiled model, as declared and as derived.</summary>
/// <param name="Name">The model class name.</param>
/// <param name="Vocab">Vocabulary size.</param>
/// <param name="Hidden">Residual width d.</param>
/// <param name="Intermediate">Feed-forward width d_ff.</param>
/// <param name="TopK">Active channels per token K.</param>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads.</param>
/// <param name="HeadDim">Hidden / Heads.</param>
/// <param name="Context">Sequence length.</param>
/// <param name="Batch">Sequences per training step.</param>
/// <param name="RopeTheta">RoPE base.</param>
/// <param name="NormEps">RMSNorm epsilon.</param>
/// <param name="TieEmbeddings">Whether the LM head shares the embedding.</param>
/// <param name="Weights">Stored weight precision.</param>
/// <param name="ChannelIndexBytes">Bytes per stored channel index (2 while Intermediate &lt;= 65536, else 4).</param>
public sealed record ModelShape(
    string Name, int Vocab, int Hidden, int Intermediate, int TopK, int Layers, int Heads, int KvHeads,
    int HeadDim, int Context, int Batch, double RopeTheta, double NormEps, bool TieEmbeddings,
    WeightPrecision Weights, int ChannelIndexBytes)
{
    /// <summary>True for the dense SwiGLU twin (TopK == Intermediate).</summary>
    public bool IsDense => TopK == Intermediate;

    /// <summary>Tokens in one training step (Batch x Context).</summary>
    public int TokensPerStep => Batch * Context;
}

/// <summary>One weight tensor, with its Hugging Face LLaMA name.</summary>
/// <param name="Name">Tensor name, e.g. <c>model.layers.0.mlp.gate_proj.weight</c>.</param>
/// <param name="Rows">First dimension (out features, or the length of a vector).</param>
/// <param name="Columns">Second dimension (in features); 0 for a vector.</param>
/// <param name="Offset">Element offset of the tensor in the model's flat parameter buffer.</param>
public readonly record struct ParameterTensor(string Name, int Rows, int Columns, long Offset)
{
    /// <summary>Number of elements.</summary>
    public long Elements => Columns == 0 ? Rows : (long)Rows * Columns;

    /// <summary>The shape as written in checkpoints.</summary>
    public int[] Shape => Columns == 0 ? [Rows] : [Rows, Columns];
}

/// <summary>What an activation buffer is for.</summary>
public enum BufferRole
{
    /// <summary>Written by the forward pass and read by backward.</summary>
    Saved = 0,

    /// <summary>Transient scratch, reused by every layer.</summary>
    Workspace = 1,
}

/// <summary>Element type of an activation buffer.</summary>
public enum ElementType
{
    /// <summary>32-bit float.</summary>
    Float32 = 0,

    /// <summary>32-bit signed integer (token ids).</summary>
    Int32 = 1,

    /// <summary>16-bit unsigned channel index.</summary>
    UInt16 = 2,

    /// <summary>32-bit unsigned channel index.</summary>
    UInt32 = 3,
}

/// <summary>One buffer of the training-step arena.</summary>
/// <param name="Name">Buffer name, e.g. <c>ffn_gate</c>.</param>
/// <param name="Layer">Owning layer, or -1 for model-level buffers and workspace.</param>
/// <param name="Role">Saved for backward, or workspace.</param>
/// <param name="Element">Element type.</param>
/// <param name="Rows">Rows (tokens, usually).</param>
/// <param name="Columns">Elements per row.</param>
/// <param name="Offset">Byte offset in the arena (aligned).</param>
public readonly record struct ActivationBuffer(
    string Name, int Layer, BufferRole Role, ElementType Element, long Rows, long Columns, long Offset)
{
    /// <summary>Bytes per element.</summary>
    public int ElementBytes => Element == ElementType.UInt16 ? 2 : 4;

    /// <summary>Exact bytes of the buffer (without alignment padding).</summary>
    public long Bytes => Rows * Columns * ElementBytes;
}

/// <summary>Bytes kept for backward per token in one layer, by part of the layer.</summary>
/// <param name="Attention">Attention values kept (q, k, v after RoPE, output, log-sum-exp).</param>
/// <param name="ResidualAndNorms">Residual stream, RMSNorm outputs and statistics kept.</param>
/// <param name="FeedForward">Feed-forward values kept (MoC: indices, selected gate and up; dense: gate and up).</param>
public readonly record struct LayerFootprint(long ResidualAndNorms, long Attention, long FeedForward)
{
    /// <summary>All bytes per token per layer.</summary>
    public long Total => ResidualAndNorms + Attention + FeedForward;
}

/// <summary>The static memory plan of one training step: one aligned arena with every buffer at a fixed offset.</summary>
/// <param name="Alignment">Alignment of every buffer offset, in bytes.</param>
/// <param name="ArenaBytes">Total arena size in bytes.</param>
/// <param name="LayerBase">Byte offset of layer 0's saved buffers.</param>
/// <param name="LayerStride">Bytes between consecutive layers' saved buffers.</param>
/// <param name="Buffers">Every buffer with its absolute offset, layer by layer.</param>
/// <param name="PerLayer">Bytes kept per token per layer by this model without recomputation.</param>
/// <param name="DensePerLayer">The same for the dense SwiGLU twin (TopK = Intermediate).</param>
/// <param name="ParameterBytes">Bytes of the weights at their stored precision.</param>
/// <param name="TrainingStateBytes">Bytes of fp32 master weights, gradients and AdamW moments.</param>
/// <param name="Recompute">Layers keep only their input; their other buffers exist once (layer -1) and are refilled in backward.</param>
/// <param name="ArenaBytesWithRecompute">The arena of this model with recomputation on.</param>
/// <param name="ArenaBytesWithoutRecompute">The arena of this model with recomputation off.</param>
public sealed record MemoryPlan(
    int Alignment, long ArenaBytes, long LayerBase, long LayerStride, IReadOnlyList<ActivationBuffer> Buffers,
    LayerFootprint PerLayer, LayerFootprint DensePerLayer, long ParameterBytes, long TrainingStateBytes,
    bool Recompute = false, long ArenaBytesWithRecompute = 0, long ArenaBytesWithoutRecompute = 0)
{
    /// <summary>Ratio of this model's per-layer footprint to the dense twin's.</summary>
    public double RatioToDense => (double)PerLayer.Total / DensePerLayer.Total;

    /// <summary>Ratio of the feed-forward part alone.</summary>
    public double FeedForwardRatioToDense => (double)PerLayer.FeedForward / DensePerLayer.FeedForward;
}

/// <summary>Matmul FLOPs of one training step (2 per multiply-add), by part of the model.</summary>
/// <param name="Attention">Projections and the causal score/value products.</param>
/// <param name="FeedForward">Gate, up and down products.</param>
/// <param name="LmHead">Final projection to the vocabulary.</param>
public readonly record struct FlopBreakdown(long Attention, long FeedForward, long LmHead)
{
    /// <summary>All matmul FLOPs.</summary>
    public long Total => Attention + FeedForward + LmHead;
}

/// <summary>Matmul FLOPs of one training step, forward and backward.</summary>
/// <param name="Tokens">Tokens in the step.</param>
/// <param name="Forward">Forward pass.</param>
/// <param name="Backward">Backward pass (input and weight gradients; attention recomputes its scores).</param>
public sealed record FlopCounts(int Tokens, FlopBreakdown Forward, FlopBreakdown Backward)
{
    /// <summary>Forward FLOPs per token.</summary>
    public double ForwardPerToken => (double)Forward.Total / Tokens;

    /// <summary>Backward FLOPs per token.</summary>
    public double BackwardPerToken => (double)Backward.Total / Tokens;
}

/// <summary>Everything the generator decided about a model at build time.</summary>
/// <param name="Shape">Sizes.</param>
/// <param name="Parameters">Weight tensors in checkpoint order.</param>
/// <param name="Memory">Training-step memory plan.</param>
/// <param name="Flops">FLOPs of this model.</param>
/// <param name="DenseFlops">FLOPs of the dense twin.</param>
public sealed record CompiledPlan(
    ModelShape Shape, IReadOnlyList<ParameterTensor> Parameters, MemoryPlan Memory, FlopCounts Flops,
    FlopCounts DenseFlops)
{
    /// <summary>Total number of weights.</summary>
    public long ParameterCount
    {
        get
        {
            long total = 0;
            foreach (var p in Parameters) total += p.Elements;
            return total;
        }
    }

    /// <summary>Finds a parameter by its checkpoint name.</summary>
    /// <exception cref="ArgumentException">No tensor has that name.</exception>
    public ParameterTensor Parameter(string name)
    {
        foreach (var p in Parameters)
            if (p.Name == name) return p;
        throw new ArgumentException($"Model {Shape.Name} has no parameter named '{name}'.", nameof(name));
    }
}
