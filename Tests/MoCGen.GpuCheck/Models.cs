using MoCGen;

namespace MoCGen.GpuCheck;

// The models whose generated CUDA kernels mocgen-gpucheck runs. This file stands alone (it only needs MoCGen):
// build/MoCGen.Ptx.targets compiles the kernels of exactly these declarations to the PTX the binary carries.

/// <summary>An odd-sized feed-forward block for the checks: d = 200, d_ff = 520, K = 65 (no size a multiple of a tile).</summary>
[MoCModel(Vocab = 64, Hidden = 200, Intermediate = 520, TopK = 65, Layers = 1, Heads = 2, Context = 8, Batch = 1)]
public partial class Ffn200;

/// <summary>Its dense SwiGLU twin (K = d_ff): the backward runs the tiled-GEMM path.</summary>
[MoCModel(Vocab = 64, Hidden = 200, Intermediate = 520, TopK = 520, Layers = 1, Heads = 2, Context = 8, Batch = 1)]
public partial class Ffn200Dense;

/// <summary>A small whole decoder for GpuDecodeSession against the CPU DecodeSession: 4 heads over 2 kv heads.</summary>
[MoCModel(Vocab = 64, Hidden = 64, Intermediate = 176, TopK = 22, Layers = 2, Heads = 4, KvHeads = 2, Context = 32, Batch = 1)]
public partial class SmallDecoder;

/// <summary>The same decoder with every weight stored as bf16 (the whole GPU decode path reads 16-bit weights).</summary>
[MoCModel(Vocab = 64, Hidden = 64, Intermediate = 176, TopK = 22, Layers = 2, Heads = 4, KvHeads = 2, Context = 32, Batch = 1,
          Weights = WeightPrecision.BFloat16)]
public partial class SmallDecoderBf16;

/// <summary>A LLaMA-7B feed-forward block (d = 4096, d_ff = 11008, K = d_ff / 8) with bf16 weights: the decode benchmark.</summary>
[MoCModel(Vocab = 64, Hidden = 4096, Intermediate = 11008, TopK = 1376, Layers = 1, Heads = 32, Context = 8, Batch = 1,
          Weights = WeightPrecision.BFloat16)]
public partial class Llama7BFfnBf16;

/// <summary>The same block with fp32 weights: the training (forward + backward) benchmark.</summary>
[MoCModel(Vocab = 64, Hidden = 4096, Intermediate = 11008, TopK = 1376, Layers = 1, Heads = 32, Context = 8, Batch = 1)]
public partial class Llama7BFfn;
