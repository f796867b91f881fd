using System;

namespace MoCGen.Data;

/// <summary>
/// The validation part as consecutive windows: window k holds tokens [k * Context, k * Context + Context + 1), so
/// every validation token is predicted once. Windows are grouped in batches of fixed shape [Batch, Context + 1];
/// the last batch, when the windows run out, is padded by starting over from window 0, and
/// <see cref="Fill"/> returns how many of its rows are real, so a caller can weigh or ignore the padding.
/// </summary>
public sealed class ValidationBatches
{
    private readonly ReadOnlyMemory<int> _validation;

    /// <summary>Windows over <paramref name="validation"/>; see <see cref="DatasetSplit.ValidationBatches"/>.</summary>
    public ValidationBatches(ReadOnlyMemory<int> validation, int batch, int context)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        _validation = validation;
        Batch = batch;
        Context = context;
        WindowCount = validation.Length <= context ? 0 : (validation.Length - 1) / context;
        BatchCount = (int)(((long)WindowCount + batch - 1) / batch);
    }

    /// <summary>Rows per batch.</summary>
    public int Batch { get; }

    /// <summary>Input tokens per row; a row holds Context + 1 tokens.</summary>
    public int Context { get; }

    /// <summary>Whole windows in the validation part (0 when there is no validation part).</summary>
    public int WindowCount { get; }

    /// <summary>Batches needed to cover every window once.</summary>
    public int BatchCount { get; }

    /// <summary>Ints a batch fills: <c>Batch * (Context + 1)</c>, laid out [Batch, Context + 1], row-major.</summary>
    public int BatchLength => Batch * (Context + 1);

    /// <summary>Fills <paramref name="destination"/> with batch <paramref name="index"/> (0 .. BatchCount - 1).</summary>
    /// <returns>The rows that are real windows; the rest repeat windows from the start.</returns>
    public int Fill(int index, Span<int> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, BatchCount);
        if (destination.Length != BatchLength)
            throw new ArgumentException($"A batch is {Batch} x {Context + 1} = {BatchLength} tokens; the destination holds {destination.Length}.", nameof(destination));
        ReadOnlySpan<int> tokens = _validation.Span;
        int row = Context + 1;
        long first = (long)index * Batch;
        for (int b = 0; b < Batch; b++)
        {
            int window = (int)((first + b) % WindowCount);
            tokens.Slice(window * Context, row).CopyTo(destination.Slice(b * row, row));
        }
        return (int)Math.Min(Batch, WindowCount - first);
    }
}
