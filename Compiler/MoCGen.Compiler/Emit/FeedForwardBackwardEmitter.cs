using System.Text;
using static MoCGen.Compiler.Emit.LaunchTable;
using MoCGen.Compiler.Planning;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// Renders the MoC feed-forward backward kernels from Templates/FeedForwardBackward.scriban: as CUDA C (for
/// <c>&lt;Model&gt;.Cuda.g.cs</c>, with <see cref="AppendLaunchTable"/>) and as the ILGPU C# class <c>Backward</c>
/// nested in the model's <c>Ilgpu</c> class. Launch order for MoC: window starts, the per-token kernel (sparse gh, gg,
/// gu, h), gx by tiles, then the weight-gradient kernel (by windows of channels and tiles of columns). The dense twin (TopK == Intermediate) runs three tiled GEMMs instead:
/// gh (with the gg, gu, h epilogue), gx, and the weight gradients. No kernel adds atomically: deterministic.
/// </summary>
public static class FeedForwardBackwardEmitter
{
    /// <summary>Threads of a per-token block.</summary>
    public const int TokenThreads = 128;

    /// <summary>Threads per W_d^T row dot product in the per-token kernel (8 floats a step: one 32-byte sector).</summary>
    public const int Lanes = 8;

    /// <summary>Selected slots the per-token kernel stages in shared memory at a time.</summary>
    public const int SlotTile = 256;

    /// <summary>Threads of a weight-gradient block: 8 warps (also the tokens whose slots it looks up at a time).</summary>
    public const int WeightThreads = 256;

    /// <summary>Channels of a weight-gradient block: 8 per warp (with 2 columns per lane, 48 accumulators a thread).</summary>
    public const int WeightWindow = 64;

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
        public int TokenThreads { get; set; }
        public int Lanes { get; set; }
        public int SlotTile { get; set; }
        public int WeightThreads { get; set; }
        public int WeightWindow { get; set; }
        public int WeightPerWarp { get; set; }
        public int WeightCols { get; set; }
        public int WeightChunk { get; set; }
        public int WindowThreads { get; set; }
        public int GxWindow { get; set; }
        public int GxTokens { get; set; }
        public int GxCols { get; set; }
        public int GxThreads { get; set; }
        public int GxPerWarp { get; set; }
        public int Tile { get; set; }
    }

    /// <summary>True for the dense SwiGLU twin (TopK == Intermediate): the backward runs as tiled GEMMs.</summary>
    public static bool IsDense(PlanShape shape) => shape.TopK == shape.Intermediate;

    /// <summary>The CUDA C text of the backward kernels (a whole translation unit).</summary>
    public static string RenderCuda(ModelPlan plan) => Render(plan, cuda: true);

    /// <summary>The ILGPU C# text of the backward kernels: <c>public static class Backward { ... }</c>, for the model's <c>Ilgpu</c> class.</summary>
    public static string RenderIlgpu(ModelPlan plan) => Render(plan, cuda: false);

    /// <summary>CUDA name of the window-start kernel (MoC).</summary>
    public static string WindowsKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_windows";

    /// <summary>CUDA name of the gx kernel by tiles (MoC).</summary>
    public static string GxKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_gx";

    /// <summary>Threads of a window-start block (one token).</summary>
    public const int WindowThreads = 128;

    /// <summary>Channels of a gx window (one mask bit each).</summary>
    public const int GxWindow = 32;

    /// <summary>Threads of a gx block (8 warps).</summary>
    public const int GxThreads = 256;

    /// <summary>Tokens and columns of a gx block (GX_TOKENS, GX_COLS).</summary>
    public const int GxTokens = 64, GxCols = 64;

    /// <summary>Static shared memory of the gx kernel, bytes: per-token slot facts and masks, gg and gu of the window, its W_g and W_u rows.</summary>
    public const int GxSharedBytes = (4 * GxTokens + 1 + GxTokens + 2 * GxTokens * GxWindow + 2 * GxWindow * GxCols) * 4;

    /// <summary>Window starts per token (the start table is [tokens, WindowStarts] ints).</summary>
    public static int WindowStarts(PlanShape shape) => (shape.Intermediate + GxWindow - 1) / GxWindow + 1;

    /// <summary>CUDA name of the per-token kernel (MoC).</summary>
    public static string TokenKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_token";

    /// <summary>CUDA name of the dense twin's gh GEMM (with the gg, gu, h epilogue).</summary>
    public static string DenseGhKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_dense_gh";

    /// <summary>CUDA name of the dense twin's gx GEMM.</summary>
    public static string DenseGxKernel(PlanShape shape) => FeedForwardKernelEmitter.KernelPrefix(shape) + "_bwd_dense_gx";

    /// <summary>CUDA name of the weight-gradient kernel: by channel windows, or the tiled GEMM for the dense twin.</summary>
    public static string WeightsKernel(PlanShape shape) =>
        FeedForwardKernelEmitter.KernelPrefix(shape) + (IsDense(shape) ? "_bwd_weights_gemm" : "_bwd_weights");

    /// <summary>Static shared memory of the per-token kernel, bytes.</summary>
    public static int TokenSharedBytes(int hidden) => (hidden + SlotTile * Lanes + SlotTile) * 4;

    /// <summary>Static shared memory of the dense twin's gh GEMM (two tiles) and gx GEMM (four tiles), bytes.</summary>
    public static int DenseSharedBytes(int tiles) => tiles * Tile * (Tile + 1) * 4;

    /// <summary>Static shared memory of the weight-gradient kernel, bytes.</summary>
    public static int WeightsSharedBytes(bool dense) => dense ? DenseSharedBytes(5) : (2 * WeightThreads + WeightChunk + 1 + WeightWindow + 3 * WeightWindow * WeightChunk + 2 * WeightChunk * WeightCols) * 4;

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
        sb.Append("            /// <summary>True for the dense twin: Gh, Gx, Weights (tiled GEMMs); false for MoC: Windows, Token, Gx, Weights.</summary>\n");
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
            sb.Append("            /// <summary>Window starts per token: the start table Windows writes and Gx reads is [tokens, WindowStarts] ints.</summary>\n");
            sb.Append("            public const int WindowStarts = ").Append(Int(WindowStarts(s))).Append(";\n\n");
            Kernel(sb, "Windows", WindowsKernel(s), WindowThreads, 0,
                $"index [tokens, {s.TopK}] -> start [tokens, {WindowStarts(s)}] (each token's first slot per window of {GxWindow} channels); one block per token.",
                "(tokens, 1)");
            Kernel(sb, "Token", TokenKernel(s), TokenThreads, TokenSharedBytes(s.Hidden),
                $"W_d^T [{s.Intermediate}, {s.Hidden}], index, gate, up [tokens, {s.TopK}], gy [tokens, {s.Hidden}] -> gradGate, gradUp, hidden [tokens, {s.TopK}]; one block per token.",
                "(tokens, 1)");
            Kernel(sb, "Gx", GxKernel(s), GxThreads, GxSharedBytes,
                $"W_g, W_u [{s.Intermediate}, {s.Hidden}], index, start, gradGate, gradUp [tokens, {s.TopK}] -> gx [tokens, {s.Hidden}] (overwritten); a block per {GxTokens} tokens and {GxCols} columns, grid (ceil(d / {GxCols}), ceil(tokens / {GxTokens})).",
                $"({Int((s.Hidden + GxCols - 1) / GxCols)}, (tokens + {Int(GxTokens - 1)}) / {Int(GxTokens)})");
            Kernel(sb, "Weights", WeightsKernel(s), WeightThreads, WeightsSharedBytes(false),
                $"x, gy [tokens, {s.Hidden}], index, gradGate, gradUp, hidden [tokens, {s.TopK}] -> dW_g, dW_u, dW_d^T [{s.Intermediate}, {s.Hidden}] (added to); a block per {WeightWindow} channels and {WeightCols} columns, grid (ceil(d / {WeightCols}), ceil(d_ff / {WeightWindow})).",
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
            TokenThreads = TokenThreads,
            Lanes = Lanes,
            SlotTile = SlotTile,
            WeightThreads = WeightThreads,
            WeightWindow = WeightWindow,
            WeightPerWarp = WeightWindow / (WeightThreads / 32),
            WeightCols = WeightCols,
            WeightChunk = WeightChunk,
            WindowThreads = WindowThreads,
            GxWindow = GxWindow,
            GxTokens = GxTokens,
            GxCols = GxCols,
            GxThreads = GxThreads,
            GxPerWarp = GxTokens / (GxThreads / 32),
            Tile = Tile,
        };
        return ModelEmitter.Tidy(TemplateRenderer.RenderKernel("FeedForwardBackward", KernelTemplateData.For(data, s, cuda, FeedForwardKernelEmitter.KernelPrefix(s))));
    }
}
