using MoCGen;

namespace MoCGen.Benchmarks.Suites;

// The model-decode suite's models. This file stands alone (it only needs MoCGen) so that the inference binary can be
// published for either model: -p:InferModelSource=<this file> -p:InferModel=MoCGen.Benchmarks.Suites.DecodeMoC.

/// <summary>A model whose weights (about 400 MB fp32) are far larger than the CPU caches.</summary>
[MoCModel(Vocab = 256, Hidden = 1024, Intermediate = 2816, TopK = 352, Layers = 8, Heads = 8, Context = 512, Batch = 1)]
public partial class DecodeMoC;

/// <summary>Its dense twin.</summary>
[MoCModel(Vocab = 256, Hidden = 1024, Intermediate = 2816, TopK = 2816, Layers = 8, Heads = 8, Context = 512, Batch = 1)]
public partial class DecodeDense;
