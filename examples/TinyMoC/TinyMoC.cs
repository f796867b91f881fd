using MoCGen;

namespace TinyMoCExample;

/// <summary>The example model: a 4-layer byte-level decoder whose feed-forward blocks keep 88 of 704 channels per token.</summary>
[MoCModel(Vocab = 256, Hidden = 256, Intermediate = 704, TopK = 88,
          Layers = 4, Heads = 4, KvHeads = 4, Context = 256, Batch = 8)]
public partial class TinyMoC;

/// <summary>Its dense SwiGLU twin: the same model with every channel active, for like-for-like comparison.</summary>
[MoCModel(Vocab = 256, Hidden = 256, Intermediate = 704, TopK = 704,
          Layers = 4, Heads = 4, KvHeads = 4, Context = 256, Batch = 8)]
public partial class TinyDense;
