using MoCGen;

namespace MoCGen.Model.Tests;

/// <summary>A tiny MoC model: grouped KV heads, 1/4 of the channels active, odd vocabulary.</summary>
[MoCModel(Vocab = 11, Hidden = 8, Intermediate = 16, TopK = 4, Layers = 2, Heads = 2, KvHeads = 1, Context = 5, Batch = 2)]
public partial class TinyDecoderModel;

/// <summary>Its dense twin, with tied embeddings.</summary>
[MoCModel(Vocab = 11, Hidden = 8, Intermediate = 16, TopK = 16, Layers = 2, Heads = 2, KvHeads = 2, Context = 5, Batch = 2, TieEmbeddings = true)]
public partial class TinyDenseModel;

/// <summary>A byte-level model small enough to train for a few dozen steps in a test.</summary>
[MoCModel(Vocab = 256, Hidden = 32, Intermediate = 64, TopK = 8, Layers = 2, Heads = 2, Context = 16, Batch = 4)]
public partial class TrainableModel;

/// <summary>TinyDecoderModel with layer recomputation: same math, less activation memory.</summary>
[MoCModel(Vocab = 11, Hidden = 8, Intermediate = 16, TopK = 4, Layers = 2, Heads = 2, KvHeads = 1, Context = 5, Batch = 2, Recompute = true)]
public partial class TinyRecomputeModel;
