using System;
using System.Globalization;
using System.Text;
using static MoCGen.Compiler.Emit.LaunchTable;
using MoCGen.Compiler.Planning;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// Renders the decoder kernels around the feed-forward block (embedding, RMSNorm, projection GEMVs, RoPE with the
/// key/value cache append, attention over the cache, LM head, argmax and softmax statistics) from
/// Templates/Decoder.scriban: once as CUDA C and once as the ILGPU C# class <c>Decoder</c> that sits inside the
/// model's <c>Ilgpu</c> class; and their launch table.
/// </summary>
public static class DecoderKernelEmitter
{
    /// <summary>Most tokens of one decode step (the feed-forward decode kernels take as many).</summary>
    public const int DecodeTokens = FeedForwardKernelEmitter.DecodeTokens;

    /// <summary>Threads of the one-block-per-token kernels: embed, rms_norm, residual_norm, rope_kv.</summary>
    public const int RowThreads = 256;

    /// <summary>Row kernels (embed, rms_norm, residual_norm, rope_kv) and sampling (argmax, softmax_stats): elements
    /// of its row a thread loads before it uses any.</summary>
    public const int RowLoads = 8;

    /// <summary>Projection GEMVs: output rows per block, a warp each.</summary>
    public const int GemvWarps = 8;

    /// <summary>Static shared memory of a projection GEMV block: the lanes' partial sums of every token.</summary>
    public const int GemvSharedBytes = DecodeTokens * GemvWarps * 32 * 4;

    /// <summary>Threads of an attention block (one block per head and token).</summary>
    public const int AttnThreads = 128;

    /// <summary>Cached positions an attention block scores per online-softmax round.</summary>
    public const int AttnChunk = 256;

    /// <summary>Attention: keys a warp scores at once, every load of them issued before the sums.</summary>
    public const int AttnKeys = 4;

    /// <summary>Attention: cached values a thread loads before it adds any (the weighted sum of the values).</summary>
    public const int AttnVLoads = 8;

    /// <summary>Threads of the argmax and softmax-statistics blocks (one block per token).</summary>
    public const int SampleThreads = 256;

    /// <summary>CUDA kernel-name prefix: <c>mocgen_&lt;Model&gt;_dec</c>.</summary>
    public static string KernelPrefix(PlanShape shape) => "mocgen_" + shape.Name + "_dec";

    /// <summary>The data Decoder.scriban reads.</summary>
    public sealed class TemplateData : KernelTemplateData
    {
        public int Heads { get; set; }
        public int KvHeads { get; set; }
        public int HeadDim { get; set; }
        public int Vocab { get; set; }
        public int Context { get; set; }
        public int DecodeTokens { get; set; }
        public string RopeThetaText { get; set; } = "";
        public string NormEpsText { get; set; } = "";
        public string NormEpsLiteral { get; set; } = "";
        public string AttnScaleLiteral { get; set; } = "";
        public int RowThreads { get; set; }
        public int RowLoads { get; set; }
        public int GemvWarps { get; set; }
        public int AttnThreads { get; set; }
        public int AttnChunk { get; set; }
        public int AttnKeys { get; set; }
        public int AttnDimSteps { get; set; }
        public int AttnVLoads { get; set; }
        public int SampleThreads { get; set; }
        public bool Bf16 { get; set; }
    }

    /// <summary>The CUDA C text of the decoder kernels.</summary>
    public static string RenderCuda(ModelPlan plan) => Render(plan, cuda: true);

    /// <summary>
    /// The ILGPU C# text of the decoder kernels: a nested <c>public static class Decoder { ... }</c> meant to sit inside
    /// the model's <c>Ilgpu</c> class (it uses that file's <c>System</c> and <c>ILGPU</c> usings).
    /// </summary>
    public static string RenderIlgpu(ModelPlan plan) => Render(plan, cuda: false);

    /// <summary>fp32 1 / sqrt(head dim), computed as the CPU decoder computes it.</summary>
    public static float AttentionScale(PlanShape shape) => 1f / (float)Math.Sqrt(shape.HeadDim);

    private static string Render(ModelPlan plan, bool cuda)
    {
        var s = plan.Shape;
        if (s.QueryDim != s.Hidden)
            throw new InvalidOperationException($"{s.Name}: the decoder kernels need Heads x HeadDim == Hidden (got {s.QueryDim} and {s.Hidden}).");
        var data = new TemplateData
        {
            Heads = s.Heads,
            KvHeads = s.KvHeads,
            HeadDim = s.HeadDim,
            Vocab = s.Vocab,
            Context = s.Context,
            DecodeTokens = DecodeTokens,
            RopeThetaText = s.RopeTheta.ToString("R", CultureInfo.InvariantCulture),
            NormEpsText = s.NormEps.ToString("R", CultureInfo.InvariantCulture),
            NormEpsLiteral = FloatLiteral((float)s.NormEps),
            AttnScaleLiteral = FloatLiteral(AttentionScale(s)),
            RowThreads = RowThreads,
            RowLoads = RowLoads,
            GemvWarps = GemvWarps,
            AttnThreads = AttnThreads,
            AttnChunk = AttnChunk,
            AttnKeys = AttnKeys,
            AttnDimSteps = (s.HeadDim + 31) / 32,
            AttnVLoads = AttnVLoads,
            SampleThreads = SampleThreads,
            Bf16 = FeedForwardKernelEmitter.Bf16(s),
        };
        return ModelEmitter.Tidy(TemplateRenderer.RenderKernel("Decoder", KernelTemplateData.For(data, s, cuda, KernelPrefix(s))));
    }

    /// <summary>
    /// Appends <c>public static class DecoderLaunch { ... }</c> (indented to sit inside the carrier's <c>Cuda</c> class):
    /// per kernel of <see cref="RenderCuda"/>, in launch order, its symbol, block, static shared bytes and grid.
    /// </summary>
    public static void AppendLaunchTable(StringBuilder sb, ModelPlan plan)
    {
        if (sb is null) throw new ArgumentNullException(nameof(sb));
        var s = plan.Shape;
        string prefix = KernelPrefix(s);
        int qkvRows = s.QueryDim + 2 * s.KvDim;
        string wt = FeedForwardKernelEmitter.Bf16(s) ? " bf16" : "";  // fp32 tables name no storage
        sb.Append("        /// <summary>\n");
        sb.Append("        /// Launch table of the decoder kernels (1 to ").Append(Int(DecodeTokens)).Append(" consecutive tokens a step), in launch order. Per layer the\n");
        sb.Append("        /// feed-forward decode kernels run between RmsNorm and ResidualNorm; the feed-forward output must be zero before\n");
        sb.Append("        /// the first layer (ResidualNorm clears it after each). The host fills the RoPE tables once: entry (p, i) is the\n");
        sb.Append("        /// cos / sin of the fp32 angle p * (1 / theta^(2i / head dim)), as MoCGen.Cpu.RopeTable computes them.\n");
        sb.Append("        /// </summary>\n");
        sb.Append("        public static class DecoderLaunch\n        {\n");
        sb.Append("            /// <summary>Most tokens one step takes.</summary>\n");
        sb.Append("            public const int MaxTokens = ").Append(Int(DecodeTokens)).Append(";\n");
        sb.Append("            /// <summary>Floats of the RoPE cos table, and of the sin table: [").Append(Int(s.Context)).Append(", ").Append(Int(s.HeadDim / 2)).Append("].</summary>\n");
        sb.Append("            public const int RopeTableFloats = ").Append(Int(s.Context * (s.HeadDim / 2))).Append(";\n");
        sb.Append("            /// <summary>Floats of the key cache, and of the value cache: [").Append(Int(s.Layers)).Append(" layers][").Append(Int(s.Context))
            .Append(", ").Append(Int(s.KvDim)).Append("].</summary>\n");
        sb.Append("            public const long KvCacheFloats = ").Append(((long)s.Layers * s.Context * s.KvDim).ToString(CultureInfo.InvariantCulture)).Append("L;\n\n");

        Kernel(sb, "Embed", prefix + "_embed", RowThreads, 0,
            $"ids [tokens], embedding{wt} [{s.Vocab}, {s.Hidden}] -> x [tokens, {s.Hidden}]; an id outside the vocabulary gives a zero row.", "(tokens, 1)");
        Kernel(sb, "RmsNorm", prefix + "_rms_norm", RowThreads, RowThreads * 4,
            $"x, w{wt} [{s.Hidden}] -> y = RMSNorm(x) * w (eps {s.NormEps.ToString("R", CultureInfo.InvariantCulture)}).", "(tokens, 1)");
        Kernel(sb, "Qkv", prefix + "_qkv", GemvWarps * 32, GemvSharedBytes,
            $"normed x, W_q{wt} [{s.QueryDim}, {s.Hidden}], W_k and W_v{wt} [{s.KvDim}, {s.Hidden}] -> q [tokens, {s.QueryDim}], k and v [tokens, {s.KvDim}]; a warp per row.",
            $"({Int(Ceil(qkvRows, GemvWarps))}, 1)");
        Kernel(sb, "RopeKv", prefix + "_rope_kv", RowThreads, 0,
            "q, k, v, cos, sin, caches, layer, start: q and k rotated (token t at position start + t), k and v written to the caches.", "(tokens, 1)");
        Kernel(sb, "Attention", prefix + "_attention", AttnThreads, (2 * s.HeadDim + AttnChunk + AttnThreads) * 4,
            $"q, caches, layer, start -> attention output [tokens, {s.QueryDim}]; one block per (head, token), positions 0..start + t.",
            $"({Int(s.Heads)}, tokens)");
        Kernel(sb, "OProj", prefix + "_o_proj", GemvWarps * 32, GemvSharedBytes,
            $"attention output, W_o{wt} [{s.Hidden}, {s.QueryDim}] -> x += W_o a (the residual add); a warp per row.",
            $"({Int(Ceil(s.Hidden, GemvWarps))}, 1)");
        Kernel(sb, "ResidualNorm", prefix + "_residual_norm", RowThreads, RowThreads * 4,
            $"x, delta (the feed-forward output), w{wt} -> x += delta, delta = 0, y = RMSNorm(x) * w.", "(tokens, 1)");
        Kernel(sb, "LmHead", prefix + "_lm_head", GemvWarps * 32, GemvSharedBytes,
            $"normed x, W{wt} [{s.Vocab}, {s.Hidden}] (lm_head, or the embedding when tied) -> logits [tokens, {s.Vocab}]; a warp per row.",
            $"({Int(Ceil(s.Vocab, GemvWarps))}, 1)");
        Kernel(sb, "Argmax", prefix + "_argmax", SampleThreads, SampleThreads * 8,
            "logits -> next [tokens]: the greedy token, ties to the lower index.", "(tokens, 1)");
        Kernel(sb, "SoftmaxStats", prefix + "_softmax_stats", SampleThreads, SampleThreads * 4,
            "logits, 1 / temperature -> stats [tokens, 2]: max, sum of exp((z - max) / temperature).", "(tokens, 1)");
        sb.Append("        }\n");
    }

    /// <summary>A float as a C / C# literal that reads back to the same value (round-trip digits, always a float suffix).</summary>
    private static string FloatLiteral(float value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        if (text.IndexOf('.') < 0 && text.IndexOf('E') < 0) text += ".0";
        return text + "f";
    }

    private static int Ceil(int a, int b) => (a + b - 1) / b;
}
