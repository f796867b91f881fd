using System;
using System.Collections.Generic;

namespace MoCGen.Checkpoints;

/// <summary>How <see cref="ModelCheckpoint"/> saves and loads.</summary>
public sealed class CheckpointOptions
{
    /// <summary>The defaults: HF layout in memory, strict loading.</summary>
    public static CheckpointOptions Default { get; } = new();

    /// <summary>
    /// Which 2-D parameters are held transposed in memory. For such a tensor with checkpoint (Hugging Face) shape
    /// [Rows, Columns], the <see cref="ParameterTensor.Elements"/> floats at <see cref="ParameterTensor.Offset"/> are
    /// [Columns, Rows] row-major; saving writes [Rows, Columns] and loading transposes back. Applies to the AdamW
    /// moments too (they share the parameters' layout). Null: everything in checkpoint layout.
    /// <see cref="ModelCheckpoint.DownProjectionTransposed"/> is the runtime's layout (down_proj kept as [d_ff, d]).
    /// </summary>
    public Func<ParameterTensor, bool>? TransposedInMemory { get; init; }

    /// <summary>Loading: ignore tensors that are neither parameters nor AdamW moments (listed in
    /// <see cref="CheckpointInfo.IgnoredTensors"/>) instead of refusing the file.</summary>
    public bool AllowUnexpectedTensors { get; init; }

    /// <summary>Saving and loading: accept NaN and infinities (refused by default).</summary>
    public bool AllowNonFinite { get; init; }

    /// <summary>Loading: accept weights stored in another dtype than the model's precision (F32, BF16 or F16) and
    /// convert them; by default a dtype other than <see cref="ModelShape.Weights"/> is refused.</summary>
    public bool ConvertPrecision { get; init; }

    /// <summary>
    /// The dtype of the weights in the file, instead of <see cref="ModelShape.Weights"/>: saving writes it, loading
    /// expects it. A trainer of a BFloat16 model sets <see cref="SafeTensorDType.F32"/> so that its fp32 master
    /// weights survive a resume bit for bit. Null: the model's precision.
    /// </summary>
    public SafeTensorDType? WeightsDType { get; init; }

    /// <summary>Saving: extra string metadata to store (keys must not start with <c>mocgen.</c> nor be <c>format</c>).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>Where training stands, stored with the moments so that a run resumes exactly.</summary>
/// <param name="Step">Optimizer steps taken (AdamW bias correction uses it).</param>
/// <param name="ScheduleStep">Position in the learning-rate schedule (usually equal to <paramref name="Step"/>).</param>
/// <param name="LearningRate">Learning rate of the last step (informational; round-trips exactly).</param>
/// <param name="RandomState">Random generator / sampler / data order state, a few 64-bit words.</param>
public sealed record TrainingProgress(long Step, long ScheduleStep, double LearningRate, IReadOnlyList<ulong> RandomState);

/// <summary>What <see cref="ModelCheckpoint.Load(string, CompiledPlan, Span{float}, Span{float}, Span{float}, CheckpointOptions?)"/> found.</summary>
/// <param name="FilePath">The file.</param>
/// <param name="FormatVersion">MoCGen checkpoint format version, or 0 for a file without MoCGen metadata (e.g. from Hugging Face).</param>
/// <param name="ModelName">Model class name recorded in the file, or null.</param>
/// <param name="Metadata">All metadata strings.</param>
/// <param name="HasOptimizerMoments">The file holds AdamW moments for every parameter.</param>
/// <param name="OptimizerMomentsLoaded">They were copied into the caller's buffers.</param>
/// <param name="Training">Training progress, when recorded.</param>
/// <param name="IgnoredTensors">Unexpected tensors skipped under <see cref="CheckpointOptions.AllowUnexpectedTensors"/>.</param>
/// <param name="Notes">Differences that do not prevent loading, e.g. "checkpoint is for TopK=64, this model has TopK=88".</param>
public sealed record CheckpointInfo(
    string FilePath, int FormatVersion, string? ModelName, IReadOnlyDictionary<string, string> Metadata,
    bool HasOptimizerMoments, bool OptimizerMomentsLoaded, TrainingProgress? Training,
    IReadOnlyList<string> IgnoredTensors, IReadOnlyList<string> Notes);
