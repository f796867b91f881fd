using System.Text;
using static MoCGen.Compiler.Emit.LaunchTable;
using MoCGen.Compiler.Planning;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// Renders the MoC feed-forward backward kernels from Templates/FeedForwardBackward.scriban: as CUDA C (for
/// <c>&lt;Model&gt;.Cuda.g.cs</c>, with <see cref="AppendLaunchTable"/>) and as the ILGPU C# class <c>Backward</c>
/// nested in the model's <c>Ilgpu</c> class. Launch order for MoC: gh (a sampled product, with gg, gu, h), gx (a
/// windowed product), then the weight-gradient kernel (by windows of channels and tiles of columns); all three read
/// the forward's window-start table. The dense twin (TopK == Intermediate) runs three tiled GEMMs instead:
/// gh (with the gg, gu, h epilogue), gx, and the weight gradients. No kernel adds atomically: deterministic.
/// </summary>
public static class FeedForwardBackwardEmitter
{
    /// <summary>Threads of a weight-gradient block: 8 warps (also the tokens whose slots it looks up at a time).</summary>
    public const int WeightThreads = 256;

    /// <summary>Channels of a weight-gradient block: 8 per warp (with 2 columns per lane, 48 accumulators a thread).</summary>
    public const int WeightWindow = 2 * SparseTiles.Window;

    /// <summary>Columns of a weight-gradient block (two per lane).</summary>
    public const int WeightCols = 64;

    /// <summary>Tokens a weight-gradient block stages at a time (one bit each in a channel's mask).</summary>
    public const int WeightChunk = 32;

    /// <summary>Dense-twin GEMM tile edge: TILE x TILE outputs per block, (TILE / 2)^2 threads.</summary>
    public const int Tile = 32;

    /// <summary>The data FeedForwardBackward.scriban reads.</summary>
    public sealed class TemplateData : KernelTemplateData
    {
        public bool Dense { get; set; }
        public int Intermediate { get; set; }
        public int TopK { get; set; }
        public int WeightThreads { get; set; }
        public int WeightWindow { get; set; }
        public int WeightPerWarp { get; set; }
        public int WeightCols { get; set; }
        public int WeightChunk { get; set; }
        public int Tile { get; set; }
    }

    /// <summary>True for the dense SwiGLU twin (TopK == Intermediate): the backward runs as tiled GEMMs.</summary>
    public static bool IsDense(PlanShape shape) => shape.TopK == shape.Intermediate;

    /// <summary>The CUDA C text of the backward kernels (a whole translation unit).</summary>
    public static string RenderCuda(ModelPlan plan) => Render(plan, cuda: true);

    /// <summary>The ILGPU C# text of the backward kernels: <c>public static class Backward { ... }</c>, for the model's <c>Ilgpu</c> class.</summary>
    public static string RenderIlgpu(ModelPlan plan) => Render(plan, cuda: false);

    /// <summary>CUDA name of the gh kernel (MoC: a sampled product with the gg, gu, h epilogue).</summary>
    public static string GhKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_gh";

    /// <summary>CUDA name of the gx kernel (MoC: a windowed product).</summary>
    public static string GxKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_gx";

    /// <summary>CUDA name of the dense twin's gh GEMM (with the gg, gu, h epilogue).</summary>
    public static string DenseGhKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_dense_gh";

    /// <summary>CUDA name of the dense twin's gx GEMM.</summary>
    public static string DenseGxKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_dense_gx";

    /// <summary>CUDA name of the weight-gradient kernel: by channel windows, or the tiled GEMM for the dense twin.</summary>
    public static string WeightsKernel(PlanShape shape) =>
        FeedForwardKernelEmitter.KernelPrefix(shape) + (IsDense(shape) ? "_bwd_weights_gemm" : "_bwd_weights");

    /// <summary>Static shared memory of the dense twin's gh GEMM (two tiles) and gx GEMM (four tiles), bytes.</summary>
    public static int DenseSharedBytes(int tiles) => tiles * Tile * (Tile + 1) * 4;

    /// <summary>Static shared memory of the weight-gradient kernel, bytes: for MoC its arrays lo, offs, mask, cg, cu, ch,
    /// xs and gys (Templates/FeedForwardBackward.scriban), 4 bytes an element.</summary>
    public static int WeightsSharedBytes(bool dense) => dense ? DenseSharedBytes(5) : (WeightChunk + (WeightChunk + 1) + WeightWindow + 3 * WeightWindow * WeightChunk + 2 * WeightChunk * WeightCols) * 4;

    /// <summary>Appends the CUDA text as <c>public const string FeedForwardBackwardSource</c> (members of the <c>Cuda</c> class).</summary>
    public static void AppendSource(StringBuilder sb, ModelPlan plan)
    {
        sb.Append("        /// <summary>The MoC feed-forward backward kernels: per-token gradients, then the weight gradients (fp32, deterministic).</summary>\n");
        sb.Append("        public const string FeedForwardBackwardSource = @\"").Append(RenderCuda(plan).Replace("\"", "\"\"")).Append("\";\n\n");
    }

    /// <summary>Appends <c>public static class FeedForwardBackwardLaunch</c>, the launch table of the backward kernels, in launch order.</summary>
    public static void AppendLaunchTable(StringBuilder sb, ModelPlan plan)
    {
        var s = plan.Shape;
        bool dense = IsDense(s);
        string k = dense ? "d_ff" : "K";
        sb.Append("        /// <summary>\n");
        sb.Append("        /// Launch table of the backward kernels (FeedForwardBackwardSource), in launch order. gx is overwritten; the weight\n");
        sb.Append("        /// gradients are accumulated (dW += ...). gradGate, gradUp, hidden [tokens, ").Append(k).Append("] carry gg, gu, h between the kernels.\n");
        sb.Append("        /// </summary>\n");
        sb.Append("        public static class FeedForwardBackwardLaunch\n        {\n");
        sb.Append("            /// <summary>True for the dense twin: Gh, Gx, Weights (tiled GEMMs); false for MoC: Gh, Gx, Weights (sparse; all three read the forward's window starts).</summary>\n");
        sb.Append("            public const bool Dense = ").Append(dense ? "true" : "false").Append(";\n\n");
        int tokenTiles = Tile - 1;
        int gemmThreads = Tile / 2 * (Tile / 2);
        if (dense)
        {
            Kernel(sb, "Gh", DenseGhKernel(s), gemmThreads, DenseSharedBytes(2),
                $"W_d^T [{s.Intermediate}, {s.Hidden}], gate, up [tokens, {s.Intermediate}], gy [tokens, {s.Hidden}] -> gradGate, gradUp, hidden [tokens, {s.Intermediate}]; tiled GEMM, grid (ceil(d_ff / {Tile}), ceil(tokens / {Tile})).",
                $"({Int((s.Intermediate + Tile - 1) / Tile)}, (tokens + {Int(tokenTiles)}) / {Int(Tile)})");
            Kernel(sb, "Gx", DenseGxKernel(s), gemmThreads, DenseSharedBytes(4),
                $"W_g, W_u [{s.Intermediate}, {s.Hidden}], gradGate, gradUp [tokens, {s.Intermediate}] -> gx [tokens, {s.Hidden}]; tiled GEMM, grid (ceil(d / {Tile}), ceil(tokens / {Tile})).",
                $"({Int((s.Hidden + Tile - 1) / Tile)}, (tokens + {Int(tokenTiles)}) / {Int(Tile)})");
            Kernel(sb, "Weights", WeightsKernel(s), gemmThreads, WeightsSharedBytes(true),
                $"x, gy [tokens, {s.Hidden}], gradGate, gradUp, hidden [tokens, {s.Intermediate}] -> dW_g, dW_u, dW_d^T [{s.Intermediate}, {s.Hidden}] (added to); tiled GEMM, grid (ceil(d / {Tile}), ceil(d_ff / {Tile})).",
                $"({Int((s.Hidden + Tile - 1) / Tile)}, {Int((s.Intermediate + Tile - 1) / Tile)})");
        }
        else
        {
            Kernel(sb, "Gh", GhKernel(s), SparseTiles.SampledThreads, SparseTiles.SampledSharedBytes,
                $"W_d^T [{s.Intermediate}, {s.Hidden}], gy [tokens, {s.Hidden}], index, start (the forward's window starts), gate, up [tokens, {s.TopK}] -> gradGate, gradUp, hidden [tokens, {s.TopK}]; a block per {SparseTiles.SampledTokens} tokens and {SparseTiles.SampledSpan * SparseTiles.Window} channels.",
                SparseTiles.SampledGrid(s));
            Kernel(sb, "Gx", GxKernel(s), SparseTiles.WindowedThreads, SparseTiles.WindowedSharedBytes(2),
                $"W_g, W_u [{s.Intermediate}, {s.Hidden}], index, start, gradGate, gradUp [tokens, {s.TopK}] -> gx [tokens, {s.Hidden}] (overwritten); a block per {SparseTiles.WindowedTokens} tokens and {SparseTiles.WindowedCols} columns.",
                SparseTiles.WindowedGrid(s));
            Kernel(sb, "Weights", WeightsKernel(s), WeightThreads, WeightsSharedBytes(false),
                $"x, gy [tokens, {s.Hidden}], index, start, gradGate, gradUp, hidden [tokens, {s.TopK}] -> dW_g, dW_u, dW_d^T [{s.Intermediate}, {s.Hidden}] (added to); a block per {WeightWindow} channels and {WeightCols} columns, grid (ceil(d / {WeightCols}), ceil(d_ff / {WeightWindow})).",
                $"({Int((s.Hidden + WeightCols - 1) / WeightCols)}, {Int((s.Intermediate + WeightWindow - 1) / WeightWindow)})");
        }
        sb.Append("        }\n");
    }

    private static string Render(ModelPlan plan, bool cuda)
    {
        var s = plan.Shape;
        var data = new TemplateData
        {
            Dense = IsDense(s),
            Intermediate = s.Intermediate,
            TopK = s.TopK,
            WeightThreads = WeightThreads,
            WeightWindow = WeightWindow,
            WeightPerWarp = WeightWindow / (WeightThreads / 32),
            WeightCols = WeightCols,
            WeightChunk = WeightChunk,
            Tile = Tile,
        };
        return ModelEmitter.Tidy(TemplateRenderer.RenderKernel("FeedForwardBackward", KernelTemplateData.For(data, s, cuda, FeedForwardKernelEmitter.KernelPrefix(s))));
    }
}
