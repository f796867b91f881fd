using System;

namespace MoCGen;

/// <summary>
/// Declares a LLaMA-style decoder whose feed-forward blocks are Mixture-of-Channels: per token only the
/// <see cref="TopK"/> largest channels of the SwiGLU gate are active. Put it on a top-level
/// <c>public partial class</c>; the MoCGen generator emits the model, specialized for these exact sizes.
/// Every value must be a compile-time constant; invalid combinations are build errors (MOC001...).
/// </summary>
/// <remarks>
/// Required: <see cref="Hidden"/>, <see cref="Intermediate"/>, <see cref="TopK"/>, <see cref="Layers"/>,
/// <see cref="Heads"/>, <see cref="Context"/>. <c>TopK == Intermediate</c> declares the dense SwiGLU twin.
/// The defaults written here are mirrored by the generator (a test keeps them equal).
/// </remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class MoCModelAttribute : Attribute
{
    /// <summary>Vocabulary size (default 256: the byte-level tokenizer).</summary>
    public int Vocab { get; set; } = 256;

    /// <summary>Model (residual stream) width d. Required.</summary>
    public int Hidden { get; set; }

    /// <summary>Feed-forward width d_ff: channels of the SwiGLU gate. Required.</summary>
    public int Intermediate { get; set; }

    /// <summary>Active channels per token K (1..Intermediate). Required; equal to Intermediate for dense.</summary>
    public int TopK { get; set; }

    /// <summary>Number of decoder layers. Required.</summary>
    public int Layers { get; set; }

    /// <summary>Attention (query) heads; must divide <see cref="Hidden"/> into an even head dimension. Required.</summary>
    public int Heads { get; set; }

    /// <summary>Key/value heads for grouped-query attention; must divide <see cref="Heads"/>. 0 (default) means equal to Heads.</summary>
    public int KvHeads { get; set; }

    /// <summary>Maximum sequence length, and the sequence length of a training step. Required.</summary>
    public int Context { get; set; }

    /// <summary>Sequences per training step (default 8); with <see cref="Context"/> it fixes the training shapes.</summary>
    public int Batch { get; set; } = 8;

    /// <summary>Rotary position embedding base (default 10000).</summary>
    public double RopeTheta { get; set; } = 10000.0;

    /// <summary>Epsilon of RMSNorm (default 1e-5).</summary>
    public double NormEps { get; set; } = 1e-5;

    /// <summary>Share the token embedding with the LM head (default false).</summary>
    public bool TieEmbeddings { get; set; }

    /// <summary>
    /// Recompute each layer's activations during backward from the layer's input instead of keeping them
    /// (default false): per layer only the residual input is kept, plus one shared layer's worth of buffers.
    /// </summary>
    public bool Recompute { get; set; }

    /// <summary>Precision of stored weights (default <see cref="WeightPrecision.Float32"/>); compute is fp32.</summary>
    public WeightPrecision Weights { get; set; } = WeightPrecision.Float32;
}

/// <summary>Element type in which model weights are stored (checkpoints, GPU copies).</summary>
public enum WeightPrecision
{
    /// <summary>IEEE single precision, 4 bytes.</summary>
    Float32 = 0,

    /// <summary>bfloat16, 2 bytes; accumulation stays fp32.</summary>
    BFloat16 = 1,
}
