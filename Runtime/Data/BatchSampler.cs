using System;

namespace MoCGen.Data;

/// <summary>
/// Everything a <see cref="BatchSampler"/> needs to continue exactly where it was: store it in a checkpoint, set it
/// back with <see cref="BatchSampler.State"/> after resuming, and the next batches are those of the uninterrupted run.
/// </summary>
/// <param name="Seed">The seed the sampler started from (kept to report and compare, not needed to continue).</param>
/// <param name="Rng">The SplitMix64 state.</param>
/// <param name="Batches">Batches drawn so far.</param>
public readonly record struct SamplerState(ulong Seed, ulong Rng, long Batches);

/// <summary>
/// Draws training batches: each row is a window of <c>Context + 1</c> consecutive tokens starting at a uniformly
/// random offset of the train part (inputs are the first Context tokens, targets the last Context). Rows are
/// independent draws, with replacement, as in nanoGPT; the same seed gives the same batches on every machine.
/// </summary>
public sealed class BatchSampler
{
    private readonly ReadOnlyMemory<int> _train;
    private SamplerState _state;

    /// <summary>A sampler over <paramref name="train"/>; see <see cref="DatasetSplit.Sampler"/>.</summary>
    /// <exception cref="ArgumentException">The part is shorter than one window, or batch or context is not positive.</exception>
    public BatchSampler(ReadOnlyMemory<int> train, int batch, int context, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        if (train.Length < (long)context + 1)
            throw new ArgumentException($"The train part has {train.Length} tokens, fewer than one window of context + 1 = {(long)context + 1}.", nameof(train));
        _train = train;
        Batch = batch;
        Context = context;
        _state = new SamplerState(seed, seed, 0);
    }

    /// <summary>Rows per batch.</summary>
    public int Batch { get; }

    /// <summary>Input tokens per row; a row holds Context + 1 tokens.</summary>
    public int Context { get; }

    /// <summary>Ints a batch fills: <c>Batch * (Context + 1)</c>, laid out [Batch, Context + 1], row-major.</summary>
    public int BatchLength => Batch * (Context + 1);

    /// <summary>The state to checkpoint, or to restore: setting it makes the next batches continue that run.</summary>
    public SamplerState State
    {
        get => _state;
        set => _state = value;
    }

    /// <summary>Fills <paramref name="destination"/> ([Batch, Context + 1]) with the next batch.</summary>
    /// <exception cref="ArgumentException">The destination is not exactly <see cref="BatchLength"/> long.</exception>
    public void Next(Span<int> destination)
    {
        if (destination.Length != BatchLength)
            throw new ArgumentException($"A batch is {Batch} x {Context + 1} = {BatchLength} tokens; the destination holds {destination.Length}.", nameof(destination));
        ReadOnlySpan<int> train = _train.Span;
        int row = Context + 1;
        ulong starts = (ulong)(train.Length - row) + 1;
        ulong rng = _state.Rng;
        for (int b = 0; b < Batch; b++)
        {
            int start = (int)SplitMix64.Below(ref rng, starts);
            train.Slice(start, row).CopyTo(destination.Slice(b * row, row));
        }
        _state = _state with { Rng = rng, Batches = _state.Batches + 1 };
    }

    /// <summary>Allocates and returns the next batch; <see cref="Next(Span{int})"/> reuses a buffer instead.</summary>
    public int[] Next()
    {
        var batch = new int[BatchLength];
        Next(batch);
        return batch;
    }
}
