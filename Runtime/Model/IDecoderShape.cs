using MoCGen.Cpu;

namespace MoCGen.Model;

/// <summary>
/// Every size of a decoder as a compile-time constant. The generator emits one struct per model
/// (<c>Model.DecoderShape</c>); <see cref="MoCDecoder{TShape, TIndex}"/> is compiled separately for each.
/// </summary>
public interface IDecoderShape : IFeedForwardShape
{
    /// <summary>Vocabulary size.</summary>
    static abstract int Vocab { get; }

    /// <summary>Decoder layers.</summary>
    static abstract int Layers { get; }

    /// <summary>Query heads.</summary>
    static abstract int Heads { get; }

    /// <summary>Key/value heads.</summary>
    static abstract int KvHeads { get; }

    /// <summary>Sequence length of a training step.</summary>
    static abstract int Context { get; }

    /// <summary>Sequences per training step.</summary>
    static abstract int Batch { get; }

    /// <summary>RoPE base.</summary>
    static abstract double RopeTheta { get; }

    /// <summary>RMSNorm epsilon.</summary>
    static abstract double NormEps { get; }

    /// <summary>Whether the LM head reads the token embedding.</summary>
    static abstract bool TieEmbeddings { get; }
}
