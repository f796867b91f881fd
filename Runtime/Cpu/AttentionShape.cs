using System;

namespace MoCGen.Cpu;

/// <summary>
/// Sizes of one causal self-attention call: <see cref="Batch"/> sequences of <see cref="SequenceLength"/> tokens,
/// laid out token-major ([batch * T, width]); <see cref="Heads"/> query heads share <see cref="KvHeads"/> key/value
/// heads (grouped-query attention: query head h reads kv head h / (Heads / KvHeads)).
/// </summary>
public readonly record struct AttentionShape
{
    /// <summary>Validates and stores the sizes.</summary>
    /// <param name="batch">Sequences.</param>
    /// <param name="sequenceLength">Tokens per sequence, T.</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="kvHeads">Key/value heads; divides <paramref name="heads"/>.</param>
    /// <param name="headDim">Head size.</param>
    public AttentionShape(int batch, int sequenceLength, int heads, int kvHeads, int headDim)
    {
        if (batch < 0)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch must be >= 0 (got {batch}).");
        if (sequenceLength < 0)
            throw new ArgumentOutOfRangeException(nameof(sequenceLength), sequenceLength, $"sequenceLength must be >= 0 (got {sequenceLength}).");
        if (heads <= 0)
            throw new ArgumentOutOfRangeException(nameof(heads), heads, $"heads must be > 0 (got {heads}).");
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ArgumentOutOfRangeException(nameof(kvHeads), kvHeads, $"kvHeads must be > 0 and divide heads = {heads} (got {kvHeads}).");
        if (headDim <= 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"headDim must be > 0 (got {headDim}).");
        if ((long)batch * sequenceLength * heads * headDim > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch x sequenceLength x heads x headDim must fit a span (2^31 - 1 elements).");
        Batch = batch;
        SequenceLength = sequenceLength;
        Heads = heads;
        KvHeads = kvHeads;
        HeadDim = headDim;
    }

    /// <summary>Sequences.</summary>
    public int Batch { get; }

    /// <summary>Tokens per sequence, T.</summary>
    public int SequenceLength { get; }

    /// <summary>Query heads.</summary>
    public int Heads { get; }

    /// <summary>Key/value heads.</summary>
    public int KvHeads { get; }

    /// <summary>Head size.</summary>
    public int HeadDim { get; }

    /// <summary>Rows of q, k, v and o: Batch * SequenceLength.</summary>
    public int Tokens => Batch * SequenceLength;

    /// <summary>Floats per row of q and o: Heads * HeadDim.</summary>
    public int QueryWidth => Heads * HeadDim;

    /// <summary>Floats per row of k and v: KvHeads * HeadDim.</summary>
    public int KvWidth => KvHeads * HeadDim;

    /// <summary>Query heads per key/value head.</summary>
    public int GroupSize => Heads / KvHeads;

    /// <summary>The score scale, 1 / sqrt(HeadDim).</summary>
    public float Scale => (float)(1.0 / Math.Sqrt(HeadDim));
}
