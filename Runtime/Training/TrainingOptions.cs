using System;
using MoCGen.Cpu;

namespace MoCGen.Training;

/// <summary>How to train: schedule, optimizer, evaluation and checkpoint cadence. Every run with the same options,
/// data and seed produces the same losses.</summary>
public sealed record TrainingOptions
{
    /// <summary>Optimizer steps (fixed, so that the schedule and the losses do not depend on the machine's speed).</summary>
    public int Steps { get; init; } = 300;

    /// <summary>Peak learning rate, reached after <see cref="WarmupSteps"/>.</summary>
    public double MaxLearningRate { get; init; } = 3e-3;

    /// <summary>Learning rate at the end of the cosine decay.</summary>
    public double MinLearningRate { get; init; } = 3e-4;

    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; } = 20;

    /// <summary>AdamW settings (weight decay applies to matrices only, never to norm gains).</summary>
    public AdamWOptions Optimizer { get; init; } = new();

    /// <summary>Seed of the weight initialization and of the batch sampler.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Standard deviation of the initial weights (norm gains start at 1).</summary>
    public double InitStd { get; init; } = 0.02;

    /// <summary>Validation loss every this many steps (and at the end); 0 for never.</summary>
    public int EvalInterval { get; init; } = 50;

    /// <summary>Validation batches per evaluation.</summary>
    public int EvalBatches { get; init; } = 4;

    /// <summary>Checkpoint every this many steps (and at the end); 0 for only at the end.</summary>
    public int CheckpointInterval { get; init; } = 100;

    /// <summary>Fraction of the tokens held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.05;

    /// <summary>Throws with a message naming the option when a value cannot work.</summary>
    public void Validate()
    {
        if (Steps < 1) throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "Steps must be at least 1.");
        if (WarmupSteps < 0 || WarmupSteps > Steps) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, $"WarmupSteps must be in 0..{Steps}.");
        if (!(MaxLearningRate > 0) || !(MinLearningRate >= 0) || MinLearningRate > MaxLearningRate)
            throw new ArgumentOutOfRangeException(nameof(MaxLearningRate), $"Learning rates must satisfy 0 <= min ({MinLearningRate}) <= max ({MaxLearningRate}), max > 0.");
        if (!(InitStd > 0)) throw new ArgumentOutOfRangeException(nameof(InitStd), InitStd, "InitStd must be positive.");
        if (EvalInterval < 0 || EvalBatches < 1) throw new ArgumentOutOfRangeException(nameof(EvalInterval), "EvalInterval must be >= 0 and EvalBatches >= 1.");
        if (CheckpointInterval < 0) throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), CheckpointInterval, "CheckpointInterval must be >= 0.");
        Optimizer.Validate();
    }
}

/// <summary>What one step did, for progress displays and logs.</summary>
/// <param name="Step">Step number, from 1.</param>
/// <param name="Loss">Mean training cross-entropy of the step's batch (nats per token).</param>
/// <param name="ValidationLoss">Mean validation loss when this step evaluated, else null.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="GradientNorm">Global gradient L2 norm before clipping.</param>
/// <param name="TokensPerSecond">Training tokens per second over this step.</param>
/// <param name="Elapsed">Time since the run (or resumed run) started.</param>
/// <param name="ActivationBytes">Bytes of the training-step arena.</param>
public sealed record StepReport(long Step, double Loss, double? ValidationLoss, double LearningRate, double GradientNorm,
    double TokensPerSecond, TimeSpan Elapsed, long ActivationBytes);

/// <summary>Raised when training cannot go on (a non-finite loss or gradient); the last good checkpoint is intact.</summary>
public sealed class TrainingStoppedException(string message) : Exception(message);
