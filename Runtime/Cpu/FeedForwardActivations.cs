using System;
using System.Numerics;

namespace MoCGen.Cpu;

/// <summary>
/// The buffers one feed-forward block keeps for backward over a step of <see cref="Tokens"/> tokens, sized from
/// the shape alone: K indices, gate and up values per token for MoC; all d_ff gate and up values for dense.
/// </summary>
public sealed class FeedForwardActivations<TShape, TIndex>
    where TShape : struct, IFeedForwardShape
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    private readonly TIndex[] _index;
    private readonly float[] _gate;
    private readonly float[] _up;

    /// <summary>Allocates the saved buffers of <paramref name="tokens"/> tokens.</summary>
    public FeedForwardActivations(int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        Tokens = tokens;
        bool dense = MoCFeedForward<TShape, TIndex>.IsDense;
        int perToken = dense ? TShape.Intermediate : TShape.TopK;
        _index = new TIndex[dense ? 0 : checked(tokens * TShape.TopK)];
        _gate = new float[checked(tokens * perToken)];
        _up = new float[checked(tokens * perToken)];
    }

    /// <summary>Tokens the buffers hold.</summary>
    public int Tokens { get; }

    /// <summary>Bytes actually allocated for the saved values.</summary>
    public unsafe long AllocatedBytes => (long)_index.Length * sizeof(TIndex) + 4L * _gate.Length + 4L * _up.Length;

    /// <summary>The buffers, for <see cref="MoCFeedForward{TShape, TIndex}.Forward"/> and Backward.</summary>
    public FeedForwardSaved<TIndex> Saved => new(_index, _gate, _up);
}
