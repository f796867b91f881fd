using System.Collections.Generic;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Planning;

/// <summary>The sizes of a valid model, with everything derived from them.</summary>
public sealed class PlanShape
{
    public string Name { get; set; } = "";
    public string Namespace { get; set; } = "";
    public int Vocab { get; set; }
    public int Hidden { get; set; }
    public int Intermediate { get; set; }
    public int TopK { get; set; }
    public int Layers { get; set; }
    public int Heads { get; set; }
    public int KvHeads { get; set; }
    public int Context { get; set; }
    public int Batch { get; set; }
    public double RopeTheta { get; set; }
    public double NormEps { get; set; }
    public bool TieEmbeddings { get; set; }
    public bool Recompute { get; set; }
    public StoredPrecision Weights { get; set; }

    public int HeadDim => Hidden / Heads;
    public int QueryDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;
    public int Tokens => Batch * Context;
    public bool IsDense => TopK == Intermediate;
    public int ChannelIndexBytes => Intermediate <= 65536 ? 2 : 4;
    public int WeightBytes => Weights == StoredPrecision.BFloat16 ? 2 : 4;
}

/// <summary>One weight tensor: Hugging Face LLaMA name, shape, and element offset in the flat parameter buffer.</summary>
/// <param name="Name">Checkpoint name.</param>
/// <param name="Rows">First dimension.</param>
/// <param name="Columns">Second dimension, 0 for a vector.</param>
/// <param name="Offset">Element offset in the flat parameter buffer.</param>
/// <param name="Layer">Owning layer, or -1.</param>
/// <param name="RowsSymbol">The generated constant naming <paramref name="Rows"/>.</param>
/// <param name="ColumnsSymbol">The generated constant naming <paramref name="Columns"/>, or "0" for a vector.</param>
/// <param name="Constant">Name of the offset constant in the generated ParameterLayout.</param>
public sealed record PlannedParameter(
    string Name, int Rows, int Columns, long Offset, int Layer, string RowsSymbol, string ColumnsSymbol, string Constant)
{
    public long Elements => Columns == 0 ? Rows : (long)Rows * Columns;
    public string ShapeText => Columns == 0 ? $"[{Rows}]" : $"[{Rows}, {Columns}]";
}

public enum PlannedRole
{
    Saved = 0,
    Workspace = 1,
}

public enum PlannedElement
{
    Float32 = 0,
    Int32 = 1,
    UInt16 = 2,
    UInt32 = 3,
}

/// <summary>
/// One arena buffer. For layer buffers <see cref="Offset"/> is relative to the layer's base
/// (every layer has the same layout); for model-level and workspace buffers it is absolute.
/// </summary>
public sealed record PlannedBuffer(
    string Name, string Constant, PlannedRole Role, PlannedElement Element, long Rows, long Columns, long Offset,
    string Purpose, string RowsSymbol, string ColumnsSymbol)
{
    public int ElementBytes => Element == PlannedElement.UInt16 ? 2 : 4;
    public long Bytes => checked(Rows * Columns * ElementBytes);
}

/// <summary>Bytes kept for backward per token in one layer.</summary>
public sealed record Footprint(long ResidualAndNorms, long Attention, long FeedForward)
{
    public long Total => checked(ResidualAndNorms + Attention + FeedForward);
}

/// <summary>The training-step arena: model-level buffers, one layer layout repeated, then workspace.</summary>
public sealed class MemoryLayout
{
    public const int Alignment = 64;

    public IReadOnlyList<PlannedBuffer> Globals { get; set; } = new PlannedBuffer[0];
    public IReadOnlyList<PlannedBuffer> LayerBuffers { get; set; } = new PlannedBuffer[0];
    public IReadOnlyList<PlannedBuffer> Workspace { get; set; } = new PlannedBuffer[0];
    public long LayerBase { get; set; }
    public long LayerStride { get; set; }
    public long WorkspaceBase { get; set; }
    public long ArenaBytes { get; set; }
    public long SavedBytes { get; set; }
    public long WorkspaceBytes { get; set; }
    public int FfnTokenTile { get; set; }
    public Footprint PerLayer { get; set; } = new(0, 0, 0);
    public Footprint DensePerLayer { get; set; } = new(0, 0, 0);
    public long ParameterBytes { get; set; }
    public long TrainingStateBytes { get; set; }

    /// <summary>True when layers keep only their input and are recomputed in backward.</summary>
    public bool Recompute { get; set; }

    /// <summary>Arena bytes of this model with recomputation on.</summary>
    public long ArenaBytesWithRecompute { get; set; }

    /// <summary>Arena bytes of this model with recomputation off.</summary>
    public long ArenaBytesWithoutRecompute { get; set; }
}

/// <summary>Matmul FLOPs of one training step by part.</summary>
public sealed record FlopParts(long Attention, long FeedForward, long LmHead)
{
    public long Total => checked(Attention + FeedForward + LmHead);
}

public sealed record StepFlops(long Tokens, FlopParts Forward, FlopParts Backward)
{
    public double ForwardPerToken => (double)Forward.Total / Tokens;
    public double BackwardPerToken => (double)Backward.Total / Tokens;
}

/// <summary>Everything decided about one model at build time.</summary>
public sealed class ModelPlan
{
    public ModelPlan(PlanShape shape, IReadOnlyList<PlannedParameter> parameters, long parameterCount,
        MemoryLayout memory, StepFlops flops, StepFlops denseFlops)
    {
        Shape = shape;
        Parameters = parameters;
        ParameterCount = parameterCount;
        Memory = memory;
        Flops = flops;
        DenseFlops = denseFlops;
    }

    public PlanShape Shape { get; }
    public IReadOnlyList<PlannedParameter> Parameters { get; }
    public long ParameterCount { get; }
    public MemoryLayout Memory { get; }
    public StepFlops Flops { get; }
    public StepFlops DenseFlops { get; }

    /// <summary>The GPU the CUDA kernels are planned for (shared-memory tiles are sized from it).</summary>
    public CudaTarget Target { get; set; } = CudaTarget.Default;
}
