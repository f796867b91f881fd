using System.Collections.Generic;
using System.Text;
using static MoCGen.Compiler.Emit.LaunchTable;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// Renders the MoC feed-forward forward kernels (gate GEMM, Top-K, window starts, sparse up/SiLU, sparse down) from
/// Templates/FeedForward.scriban: once as CUDA C (carried in <c>&lt;Model&gt;.Cuda.g.cs</c> as a string with its
/// launch table) and once as ILGPU C# (<c>&lt;Model&gt;.Ilgpu.g.cs</c>, only for consumers that reference ILGPU).
/// </summary>
public static class FeedForwardKernelEmitter
{
    /// <summary>Gate GEMM tile edge: TILE x TILE outputs per block, 16 x 16 threads of 8 x 8 outputs.</summary>
    public const int Tile = 128;

    /// <summary>Gate GEMM: depth of the slices of x and W_g staged in shared memory.</summary>
    public const int GemmK = 8;

    /// <summary>Gate GEMM threads per block.</summary>
    public const int GemmThreads = 256;

    /// <summary>Gate GEMM static shared memory, bytes: two transposed slices, rows padded by four (16-byte aligned).</summary>
    public const int GemmSharedBytes = 2 * GemmK * (Tile + 4) * 4;

    /// <summary>Channels a Top-K thread should hold at most (in registers), while 1024 threads suffice.</summary>
    public const int SelectChunkTarget = 24;

    /// <summary>
    /// Threads of a Top-K block: the fewest warps (at most 32) that give each thread at most
    /// <see cref="SelectChunkTarget"/> channels. Counting the keys is the same work however it is split; fewer warps
    /// make each round's reduction over the warps shorter (d_ff 11008: 480 threads of 23 channels).
    /// </summary>
    public static int SelectThreads(int intermediate)
    {
        int threads = (intermediate + SelectChunkTarget - 1) / SelectChunkTarget;
        threads = (threads + 31) / 32 * 32;
        return threads < 32 ? 32 : threads > 1024 ? 1024 : threads;
    }

    /// <summary>Contiguous channels per Top-K thread (its keys live in registers).</summary>
    public static int SelectChunk(int intermediate)
    {
        int threads = SelectThreads(intermediate);
        return (intermediate + threads - 1) / threads;
    }

    /// <summary>Top-K histogram: keys are binned by their bits above this one (the top 12).</summary>
    public const int SelectBinShift = 20;

    /// <summary>Top-K histogram bins.</summary>
    public const int SelectBins = 1 << (32 - SelectBinShift);

    /// <summary>Static shared memory of the Top-K kernel, bytes: the histogram, the boundary bin's list (a key per
    /// thread), four words of bin facts, three counts and two sums per warp, and the search digit.</summary>
    public static int SelectSharedBytes(int intermediate) => SelectSharedBytesFor(SelectThreads(intermediate));

    /// <summary>Static shared memory of the Top-K selection by a block of <paramref name="threads"/>, bytes.</summary>
    public static int SelectSharedBytesFor(int threads) => (SelectBins + threads + 4 + 5 * (threads / 32) + 1) * 4;

    /// <summary>Whether the plan stores W_g, W_u and W_d^T as bf16 (the kernels widen them to fp32 and accumulate in fp32).</summary>
    public static bool Bf16(PlanShape shape) => shape.Weights == StoredPrecision.BFloat16;

    /// <summary>How the weights are stored, in words (kernel headers and the launch table).</summary>
    public static string StorageText(PlanShape shape) => Bf16(shape)
        ? "bf16 weights (W_g, W_u, W_d^T as 16-bit mocgen_bf16, widened exactly to fp32), fp32 activations and accumulation"
        : "fp32 weights and activations";

    /// <summary>Batch bound of the decode kernels (Templates/FeedForwardDecode.scriban): 1 to 4 tokens.</summary>
    public const int DecodeTokens = 4;

    /// <summary>Decode gate GEMV: gate rows per block (a warp of <see cref="DecodeGemvLanes"/> threads each). Its last
    /// block selects the Top-K of every token with all 512 threads (23 keys a thread at d_ff 11008).</summary>
    public const int DecodeGemvRows = 16;

    /// <summary>Threads of a decode gate block (which also select, as the training Top-K's SELECT_THREADS).</summary>
    public const int DecodeGemvThreads = DecodeGemvRows * DecodeGemvLanes;

    /// <summary>Decode gate GEMV: threads per gate row.</summary>
    public const int DecodeGemvLanes = 32;

    /// <summary>
    /// Decode GEMVs (the gate, the decoder's projections): contiguous weights a lane reads at once, 4 where d allows (8
    /// bytes of bf16 or 16 of fp32 in one load), else 2 (bf16) or 1. Not 8: the lane's x would span 32 bytes, and a
    /// warp's 16-byte loads of x would touch twice the cache lines; with 4 a warp's x is one contiguous 512-byte run.
    /// Every weight tensor starts at a multiple of d elements, so the loads stay aligned.
    /// </summary>
    public static int DecodeGemvVector(PlanShape shape) =>
        shape.Hidden % 4 == 0 ? 4 : Bf16(shape) && shape.Hidden % 2 == 0 ? 2 : 1;

    /// <summary>Decode GEMVs (the gate, the decoder's projections; Templates/Gemv.scriban): loads of its row a lane
    /// issues before it multiplies (that many in flight).</summary>
    public const int DecodeGemvLoads = 8;

    /// <summary>Whether the decode GEMV's unrolled loads tile a row exactly (no guards).</summary>
    public static bool DecodeGemvWhole(PlanShape shape) => shape.Hidden % (DecodeGemvLanes * DecodeGemvVector(shape) * DecodeGemvLoads) == 0;

    /// <summary>
    /// Decode up/down: stored weights one staging copy moves, 16 bytes where d allows (8 bf16 or 4 fp32, one
    /// 128-bit load and store in CUDA), else 1. A row starts at a multiple of d elements, so the copies stay aligned.
    /// </summary>
    public static int DecodeCopyVector(PlanShape shape)
    {
        int perCopy = Bf16(shape) ? 8 : 4;
        return shape.Hidden % perCopy == 0 ? perCopy : 1;
    }

    /// <summary>Decode up/down: copies (and index reads) a thread issues before it stores any.</summary>
    public const int DecodeStageLoads = 8;

    /// <summary>Decode up/down: columns of a staged row a lane reads before it multiplies any, in the up product.</summary>
    public const int DecodeUpLoads = 8;

    /// <summary>Decode up/down: d_ff channels per block (whole warps of the block flag them: a multiple of 32, at most
    /// <see cref="DecodeUpDownThreads"/>).</summary>
    public const int DecodeRange = 64;

    /// <summary>Decode up/down: threads per block.</summary>
    public const int DecodeUpDownThreads = 256;

    /// <summary>
    /// Most rows of a decode tile. A block owns <see cref="DecodeRange"/> = 64 channels; with K = d_ff / 8 the union
    /// its tokens select averages 8 rows at batch 1 and about 26 at batch 4, so 32 rows stage a typical union in one
    /// tile; more would only hold shared memory that another resident block could use.
    /// </summary>
    public const int DecodeMaxTileRows = 32;

    /// <summary>
    /// How a decode up/down block uses shared memory on a target. The tile (R rows of W_u, then of W_d^T, as stored)
    /// is dynamic shared memory; h, the marks, gates, list and partial sums are static.
    /// </summary>
    /// <param name="Target">The GPU planned for.</param>
    /// <param name="BudgetBytes">Shared memory one block may take: half the target's per-block opt-in, so two blocks
    /// stay resident per SM and one's staging overlaps the other's arithmetic (all of it when half fits no row).</param>
    /// <param name="Rows">R, rows per tile: the most that fit the budget, 1 to <see cref="DecodeMaxTileRows"/>.</param>
    /// <param name="DynamicBytes">Dynamic shared memory per block (the tile), bytes: the launch's shared-memory size.</param>
    /// <param name="StaticBytes">Static shared memory per block, bytes.</param>
    public sealed record DecodeTilePlan(CudaTarget Target, int BudgetBytes, int Rows, int DynamicBytes, int StaticBytes)
    {
        /// <summary>Whether the block needs more than 48 KiB: then the kernel must first be allowed
        /// <see cref="DynamicBytes"/> with cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).</summary>
        public bool NeedsOptIn => DynamicBytes + StaticBytes > CudaTarget.DefaultSharedPerBlock;
    }

    /// <summary>The decode up/down tile of <paramref name="shape"/> on <paramref name="target"/>.</summary>
    public static DecodeTilePlan DecodeTile(PlanShape shape, CudaTarget target)
    {
        int rowBytes = shape.WeightBytes * shape.Hidden + 4 * DecodeTokens; // the row itself, and its h per token
        int budget = target.SharedPerBlockOptin / 2;
        if (budget - DecodeFixedSharedBytes < rowBytes) budget = target.SharedPerBlockOptin;
        int rows = (budget - DecodeFixedSharedBytes) / rowBytes;
        rows = rows < 1 ? 1 : rows > DecodeMaxTileRows ? DecodeMaxTileRows : rows;
        return new DecodeTilePlan(target, budget, rows, rows * shape.Hidden * shape.WeightBytes,
            DecodeFixedSharedBytes + rows * DecodeTokens * 4);
    }

    /// <summary>The decode up/down tile of a plan, on its target.</summary>
    public static DecodeTilePlan DecodeTile(ModelPlan plan) => DecodeTile(plan.Shape, plan.Target);

    /// <summary>Shared memory of a decode up/down block besides the tile and h: marks, gates, list, count, per-warp flags.</summary>
    public const int DecodeFixedSharedBytes =
        (2 * DecodeTokens * DecodeRange + DecodeRange + 1 + DecodeRange / 32) * 4;

    /// <summary>The data FeedForwardDecode.scriban reads.</summary>
    public sealed class DecodeTemplateData : KernelTemplateData
    {
        public int Intermediate { get; set; }
        public int TopK { get; set; }
        public int DecodeTokens { get; set; }
        public int GemvRows { get; set; }
        public int GemvLanes { get; set; }
        public int CopyVec { get; set; }
        public int StageLoads { get; set; }
        public int UpLoads { get; set; }
        public bool UpWhole { get; set; }
        public int SelectThreads { get; set; }
        public int SelectChunk { get; set; }
        public int SelectBinShift { get; set; }
        public int Range { get; set; }
        public int TileRows { get; set; }
        public int UpDownThreads { get; set; }
        public bool Bf16 { get; set; }
        public string Target { get; set; } = "";
        public int SharedOptin { get; set; }
        public int SharedBudget { get; set; }
        public int DynamicBytes { get; set; }
        public int StaticBytes { get; set; }
        public bool NeedsOptIn { get; set; }
    }

    /// <summary>The data FeedForward.scriban reads.</summary>
    public sealed class TemplateData : KernelTemplateData
    {
        public string Namespace { get; set; } = "";
        public int Intermediate { get; set; }
        public int TopK { get; set; }
        public int Tile { get; set; }
        public int GemmK { get; set; }
        public int GemmThreads { get; set; }
        public int GemmLoads { get; set; }
        public int SelectBinShift { get; set; }
        public int SelectThreads { get; set; }
        public int SelectChunk { get; set; }
        public int WindowThreads { get; set; }
        public bool Bf16 { get; set; }
    }

    /// <summary>Hint name of the CUDA carrier source.</summary>
    public static string CudaHintName(PlanShape shape) => FullName(shape) + ".Cuda.g.cs";

    /// <summary>Hint name of the ILGPU kernels source.</summary>
    public static string IlgpuHintName(PlanShape shape) => FullName(shape) + ".Ilgpu.g.cs";

    /// <summary>CUDA name of the window-start kernel (its table is read by the forward and backward sparse products).</summary>
    public static string WindowsKernel(PlanShape shape) => KernelPrefix(shape) + "_windows";

    /// <summary>CUDA kernel-name prefix: <c>mocgen_&lt;Model&gt;_ffn</c>.</summary>
    public static string KernelPrefix(PlanShape shape) => "mocgen_" + shape.Name + "_ffn";

    /// <summary>The CUDA C text of the kernels (what <c>Cuda.FeedForwardSource</c> holds).</summary>
    public static string RenderCuda(ModelPlan plan) => Render(plan, cuda: true);

    /// <summary>
    /// The ILGPU C# source of the kernels (the whole <c>.Ilgpu.g.cs</c> file): the training kernels of
    /// FeedForward.scriban in class <c>Ilgpu</c>, with the decode kernels of FeedForwardDecode.scriban, the backward
    /// kernels of FeedForwardBackward.scriban and the decoder kernels of Decoder.scriban nested in it as
    /// <c>Ilgpu.Decode</c>, <c>Ilgpu.Backward</c> and <c>Ilgpu.Decoder</c>.
    /// </summary>
    public static string RenderIlgpu(ModelPlan plan)
    {
        var training = Render(plan, cuda: false);
        const string close = "}\n}\n";
        int at = training.LastIndexOf(close, System.StringComparison.Ordinal);
        if (at < 0 || at + close.Length != training.Length)
            throw new System.InvalidOperationException("FeedForward.scriban's ILGPU rendering does not end with its two closing braces.");
        return ModelEmitter.Tidy(training.Substring(0, at) + RenderDecode(plan, cuda: false) + FeedForwardBackwardEmitter.RenderIlgpu(plan)
            + DecoderKernelEmitter.RenderIlgpu(plan) + close);
    }

    /// <summary>The CUDA C text of the decode kernels (what <c>Cuda.FeedForwardDecodeSource</c> holds).</summary>
    public static string RenderDecodeCuda(ModelPlan plan) => RenderDecode(plan, cuda: true);

    private static string RenderDecode(ModelPlan plan, bool cuda)
    {
        var s = plan.Shape;
        var tile = DecodeTile(plan);
        var data = new DecodeTemplateData
        {
            Intermediate = s.Intermediate,
            TopK = s.TopK,
            DecodeTokens = DecodeTokens,
            GemvRows = DecodeGemvRows,
            GemvLanes = DecodeGemvLanes,
            CopyVec = DecodeCopyVector(s),
            StageLoads = DecodeStageLoads,
            UpLoads = DecodeUpLoads,
            UpWhole = s.Hidden % (32 * DecodeUpLoads) == 0,
            SelectThreads = DecodeGemvThreads,
            SelectChunk = (s.Intermediate + DecodeGemvThreads - 1) / DecodeGemvThreads,
            SelectBinShift = SelectBinShift,
            Range = DecodeRange,
            TileRows = tile.Rows,
            UpDownThreads = DecodeUpDownThreads,
            Bf16 = Bf16(s),
            Target = tile.Target.Arch,
            SharedOptin = tile.Target.SharedPerBlockOptin,
            SharedBudget = tile.BudgetBytes,
            DynamicBytes = tile.DynamicBytes,
            StaticBytes = tile.StaticBytes,
            NeedsOptIn = tile.NeedsOptIn,
        };
        return ModelEmitter.Tidy(TemplateRenderer.RenderKernel("FeedForwardDecode", KernelTemplateData.For(data, s, cuda, KernelPrefix(s))));
    }

    /// <summary>The <c>.Cuda.g.cs</c> source: the CUDA text as a verbatim string plus the launch table.</summary>
    public static GeneratedSource EmitCuda(ModelPlan plan) =>
        new(CudaHintName(plan.Shape), CudaCarrier(plan, RenderCuda(plan), RenderDecodeCuda(plan)));

    /// <summary>The <c>.Ilgpu.g.cs</c> source.</summary>
    public static GeneratedSource EmitIlgpu(ModelPlan plan) => new(IlgpuHintName(plan.Shape), RenderIlgpu(plan));

    private static string Render(ModelPlan plan, bool cuda)
    {
        var s = plan.Shape;
        var data = new TemplateData
        {
            Namespace = s.Namespace,
            Intermediate = s.Intermediate,
            TopK = s.TopK,
            Tile = Tile,
            GemmK = GemmK,
            GemmThreads = GemmThreads,
            GemmLoads = Tile * GemmK / GemmThreads,
            SelectBinShift = SelectBinShift,
            SelectThreads = SelectThreads(s.Intermediate),
            SelectChunk = SelectChunk(s.Intermediate),
            WindowThreads = SparseTiles.WindowThreads,
            Bf16 = Bf16(s),
        };
        return ModelEmitter.Tidy(TemplateRenderer.RenderKernel("FeedForward", KernelTemplateData.For(data, s, cuda, KernelPrefix(s))));
    }

    private static string CudaCarrier(ModelPlan plan, string cudaText, string decodeText)
    {
        var s = plan.Shape;
        string prefix = KernelPrefix(s);
        string wt = Bf16(s) ? "bf16" : "fp32";
        var sb = new StringBuilder();
        sb.Append("// <auto-generated>\n");
        sb.Append("// MoCGen ").Append(ModelEmitter.Version).Append(": CUDA C of ").Append(FullName(s)).Append("'s kernels and their launch table.\n");
        sb.Append("// Rendered from Templates/FeedForward, FeedForwardDecode, FeedForwardBackward and Decoder.scriban (each also renders the ILGPU twin).\n");
        sb.Append("// </auto-generated>\n\n#nullable enable\n");
        if (s.Namespace.Length != 0) sb.Append("\nnamespace ").Append(s.Namespace).Append(";\n");
        sb.Append("\npartial class ").Append(s.Name).Append("\n{\n");
        sb.Append("    /// <summary>CUDA C of this model's kernels, specialized for its sizes, with their launch configuration.</summary>\n");
        sb.Append("    public static class Cuda\n    {\n");
        sb.Append("        /// <summary>The header the sources include first (kernels/ in the MoCGen repository")
            .Append(Bf16(s) ? "; the bf16 sources also include mocgen_bf16.h" : "").Append(").</summary>\n");
        sb.Append("        public const string Include = \"mocgen_cuda.h\";\n\n");
        sb.Append("        /// <summary>Storage of the kernels' weight arguments: ").Append(Xml(StorageText(s))).Append(".</summary>\n");
        sb.Append("        public const string WeightStorage = \"").Append(Bf16(s) ? "bf16" : "fp32").Append("\";\n\n");
        sb.Append("        /// <summary>Bytes of one stored weight element (W_g, W_u, W_d^T).</summary>\n");
        sb.Append("        public const int WeightBytes = ").Append(Int(s.WeightBytes)).Append(";\n\n");
        sb.Append("        /// <summary>The MoC feed-forward forward kernels: gate GEMM, Top-K, window starts, sparse up/SiLU, sparse down (").Append(Xml(StorageText(s))).Append(").</summary>\n");
        sb.Append("        public const string FeedForwardSource = @\"").Append(cudaText.Replace("\"", "\"\"")).Append("\";\n\n");
        sb.Append("        /// <summary>Launch table of <see cref=\"FeedForwardSource\"/>: kernels in launch order, one grid row per launch.</summary>\n");
        sb.Append("        public static class FeedForwardLaunch\n        {\n");
        int gemmGridX = (s.Intermediate + Tile - 1) / Tile;
        Kernel(sb, "GateGemm", prefix + "_gate_gemm", GemmThreads, GemmSharedBytes,
            $"x [tokens, {s.Hidden}], W_g {wt} [{s.Intermediate}, {s.Hidden}] -> g [tokens, {s.Intermediate}]; grid (ceil(d_ff / {Tile}), ceil(tokens / {Tile})).",
            $"({Int(gemmGridX)}, (tokens + {Int(Tile - 1)}) / {Int(Tile)})");
        int select = SelectThreads(s.Intermediate);
        Kernel(sb, "TopK", prefix + "_topk", select, SelectSharedBytes(s.Intermediate),
            $"g [tokens, {s.Intermediate}] -> index [tokens, {s.TopK}] (ascending), gate [tokens, {s.TopK}]; one block per token.",
            "(tokens, 1)");
        sb.Append("            /// <summary>Window starts per token: the start table Windows writes (and Up, Down and the backward's Gh, Gx and Weights read) is [tokens, WindowStarts] ints.</summary>\n");
        sb.Append("            public const int WindowStarts = ").Append(Int(SparseTiles.WindowStarts(s))).Append(";\n\n");
        Kernel(sb, "Windows", WindowsKernel(s), SparseTiles.WindowThreads, 0,
            $"index [tokens, {s.TopK}] -> start [tokens, {SparseTiles.WindowStarts(s)}] (each token's first slot per window of {SparseTiles.Window} channels); one block per token.",
            "(tokens, 1)");
        Kernel(sb, "Up", prefix + "_up", SparseTiles.SampledThreads, SparseTiles.SampledSharedBytes,
            $"x [tokens, {s.Hidden}], W_u {wt} [{s.Intermediate}, {s.Hidden}], index, start, gate -> up, hidden [tokens, {s.TopK}] (u of every kept slot and h = SiLU(gate) u); a block per {SparseTiles.SampledTokens} tokens and {SparseTiles.SampledSpan * SparseTiles.Window} channels.",
            SparseTiles.SampledGrid(s));
        Kernel(sb, "Down", prefix + "_down", SparseTiles.WindowedThreads, SparseTiles.WindowedSharedBytes(1),
            $"W_d^T {wt} [{s.Intermediate}, {s.Hidden}], index, start, hidden [tokens, {s.TopK}] -> y [tokens, {s.Hidden}] (overwritten); a block per {SparseTiles.WindowedTokens} tokens and {SparseTiles.WindowedCols} columns.",
            SparseTiles.WindowedGrid(s));
        sb.Append("        }\n\n");

        var tile = DecodeTile(plan);
        int tileRows = tile.Rows;
        sb.Append("        /// <summary>The MoC feed-forward decode kernels (1 to ").Append(Int(DecodeTokens))
            .Append(" tokens): gate GEMV with Top-K, and SRAM-tiled up/SiLU/down (tile R = ").Append(Int(tileRows)).Append(" rows; ").Append(Xml(StorageText(s))).Append(").</summary>\n");
        sb.Append("        public const string FeedForwardDecodeSource = @\"").Append(decodeText.Replace("\"", "\"\"")).Append("\";\n\n");
        sb.Append("        /// <summary>\n");
        sb.Append("        /// Launch table of <see cref=\"FeedForwardDecodeSource\"/>, kernels in launch order: GateTopK (the gate GEMV with Top-K)\n");
        sb.Append("        /// and UpDown, which adds into y (GateTopK clears it).\n");
        sb.Append("        /// </summary>\n");
        sb.Append("        public static class FeedForwardDecodeLaunch\n        {\n");
        sb.Append("            /// <summary>Most tokens one decode launch takes.</summary>\n");
        sb.Append("            public const int MaxTokens = ").Append(Int(DecodeTokens)).Append(";\n");
        sb.Append("            /// <summary>The GPU architecture the tiles are sized for (").Append(Int(tile.Target.SharedPerBlockOptin))
            .Append(" bytes of shared memory per block with the opt-in).</summary>\n");
        sb.Append("            public const string Target = \"").Append(tile.Target.Arch).Append("\";\n");
        sb.Append("            /// <summary>Shared memory planned for one up/down block, bytes (half the opt-in: two blocks per SM).</summary>\n");
        sb.Append("            public const int SharedBudget = ").Append(Int(tile.BudgetBytes)).Append(";\n");
        sb.Append("            /// <summary>R: rows of W_u / W_d^T (").Append(wt).Append(") staged per shared-memory tile.</summary>\n");
        sb.Append("            public const int TileRows = ").Append(Int(tileRows)).Append(";\n\n");
        int gemvGrid = (s.Intermediate + DecodeGemvRows - 1) / DecodeGemvRows;
        Kernel(sb, "GateTopK", prefix + "_decode_gate_topk", DecodeGemvThreads, SelectSharedBytesFor(DecodeGemvThreads) + 4,
            $"x [tokens <= {DecodeTokens}, {s.Hidden}], W_g {wt} [{s.Intermediate}, {s.Hidden}] -> g [tokens, {s.Intermediate}], index [tokens, {s.TopK}] (ascending), gate [tokens, {s.TopK}], and y [tokens, {s.Hidden}] cleared; ticket: one int, zero before the first launch (the kernel leaves it zero); {DecodeGemvRows} gate rows per block, the last block to finish selects.",
            $"({Int(gemvGrid)}, 1)");
        int rangeGrid = (s.Intermediate + DecodeRange - 1) / DecodeRange;
        Kernel(sb, "UpDown", prefix + "_decode_up_down", DecodeUpDownThreads, tile.StaticBytes,
            $"x, W_u {wt} [{s.Intermediate}, {s.Hidden}], W_d^T {wt} [{s.Intermediate}, {s.Hidden}], index, gate -> y [tokens, {s.Hidden}] (cleared first; atomicAdd); {DecodeRange} channels per block, tiles of {tileRows} rows.",
            $"({Int(rangeGrid)}, 1)");
        sb.Append("            /// <summary>Dynamic shared memory of <c>").Append(prefix).Append("_decode_up_down</c> (the tile, ")
            .Append(Int(tileRows)).Append(" x ").Append(Int(s.Hidden)).Append(' ').Append(wt).Append("), bytes: pass it as the launch's shared-memory size")
            .Append(tile.NeedsOptIn
                ? "; above 48 KiB per block, so allow it first with cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) (CudaKernel.SetMaxDynamicSharedMemory)"
                : "")
            .Append(".</summary>\n");
        sb.Append("            public const int UpDownDynamicSharedBytes = ").Append(Int(tile.DynamicBytes)).Append(";\n");
        sb.Append("            /// <summary>Whether <c>").Append(prefix).Append("_decode_up_down</c> needs more than 48 KiB of shared memory per block (the opt-in above).</summary>\n");
        sb.Append("            public const bool UpDownNeedsSharedOptIn = ").Append(tile.NeedsOptIn ? "true" : "false").Append(";\n");
        sb.Append("        }\n\n");

        FeedForwardBackwardEmitter.AppendSource(sb, plan);
        FeedForwardBackwardEmitter.AppendLaunchTable(sb, plan);
        sb.Append('\n');
        AppendFeedForwardKernelTable(sb, plan);
        sb.Append('\n');

        sb.Append("        /// <summary>The decoder kernels around the feed-forward blocks (embedding, RMSNorm, projections, RoPE, attention over the\n");
        sb.Append(Bf16(s)
            ? "        /// key/value cache, LM head, sampling support): bf16 weights widened exactly, fp32 activations, caches and accumulation.</summary>\n"
            : "        /// key/value cache, LM head, sampling support), fp32.</summary>\n");
        sb.Append("        public const string DecoderSource = @\"").Append(DecoderKernelEmitter.RenderCuda(plan).Replace("\"", "\"\"")).Append("\";\n\n");
        DecoderKernelEmitter.AppendLaunchTable(sb, plan);
        sb.Append('\n');
        AppendDecodeKernelTable(sb, plan);
        sb.Append("    }\n\n");
        sb.Append("    /// <summary>The kernels of one GPU decode step (see <see cref=\"Cuda.DecodeKernels\"/>).</summary>\n");
        sb.Append("    public static global::MoCGen.Inference.DecodeKernelTable GpuDecodeKernels => Cuda.DecodeKernels;\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>
    /// Appends <c>FeedForwardKernels</c>: the training kernels of the feed-forward block in launch order (forward, then
    /// backward), each with its CUDA source unit and its ILGPU twin, for MoCGen.Inference.FeedForwardKernelTable.
    /// </summary>
    private static void AppendFeedForwardKernelTable(StringBuilder sb, ModelPlan plan)
    {
        bool dense = FeedForwardBackwardEmitter.IsDense(plan.Shape);
        void Launch(string table, string kernel, string unit, string ilgpu) => AppendLaunch(sb, table, kernel, unit, ilgpu, "0");
        sb.Append("        /// <summary>\n");
        sb.Append("        /// The training kernels of this model's feed-forward block in launch order, each with its CUDA source unit and its ILGPU\n");
        sb.Append("        /// twin (MoCGen.Inference.FeedForwardKernelTable: forward GateGemm, TopK, Windows, Up, Down; backward Gh, Gx, Weights")
            .Append(dense ? ", here the dense twin's tiled GEMMs" : "").Append(").\n");
        sb.Append("        /// </summary>\n");
        sb.Append("        public static global::MoCGen.Inference.FeedForwardKernelTable FeedForwardKernels { get; } = new(\n");
        sb.Append("            \"").Append(FullName(plan.Shape)).Append("\", FeedForwardBackwardLaunch.Dense, FeedForwardLaunch.WindowStarts,\n");
        Launch("FeedForwardLaunch", "GateGemm", "FeedForward", "GateGemm");
        Launch("FeedForwardLaunch", "TopK", "FeedForward", "TopKSelect");
        Launch("FeedForwardLaunch", "Windows", "FeedForward", "WindowStarts");
        Launch("FeedForwardLaunch", "Up", "FeedForward", "Up");
        Launch("FeedForwardLaunch", "Down", "FeedForward", "Down");
        Launch("FeedForwardBackwardLaunch", "Gh", "FeedForwardBackward", dense ? "Backward.DenseGh" : "Backward.Gh");
        Launch("FeedForwardBackwardLaunch", "Gx", "FeedForwardBackward", dense ? "Backward.DenseGx" : "Backward.GxByWindows");
        Launch("FeedForwardBackwardLaunch", "Weights", "FeedForwardBackward", dense ? "Backward.WeightsGemm" : "Backward.WeightsByChannel");
        CloseKernelTable(sb, plan.Shape);
    }

    /// <summary>Appends one <c>KernelLaunch</c> of a generated kernel table: the kernel <paramref name="kernel"/> of the
    /// launch table class <paramref name="table"/>, its CUDA unit, its ILGPU twin and its dynamic shared memory.</summary>
    private static void AppendLaunch(StringBuilder sb, string table, string kernel, string unit, string ilgpu, string dynamicBytes) =>
        sb.Append("            new(").Append(table).Append('.').Append(kernel).Append("Kernel, \"").Append(unit).Append("\", \"").Append(ilgpu).Append("\", ")
          .Append(table).Append('.').Append(kernel).Append("Block, ").Append(dynamicBytes).Append(", ").Append(table).Append('.').Append(kernel).Append("Grid),\n");

    /// <summary>Ends a generated kernel table after its last launch: the weights' element type where it is not fp32.</summary>
    private static void CloseKernelTable(StringBuilder sb, PlanShape shape)
    {
        if (Bf16(shape))
        {
            sb.Append("            global::MoCGen.Inference.DeviceElement.BFloat16);\n");
            return;
        }
        sb.Length -= 2; // the last launch's ",\n"
        sb.Append(");\n");
    }

    /// <summary>
    /// Appends <c>DecodeKernels</c>: the launch table of one GPU decode step for MoCGen.Inference.GpuDecodeSession, each
    /// kernel with its CUDA source unit and its ILGPU twin.
    /// </summary>
    private static void AppendDecodeKernelTable(StringBuilder sb, ModelPlan plan)
    {
        void Launch(string table, string kernel, string unit, string ilgpu, string dynamicBytes) => AppendLaunch(sb, table, kernel, unit, ilgpu, dynamicBytes);
        sb.Append("        /// <summary>\n");
        sb.Append("        /// One GPU decode step of this model (MoCGen.Inference.GpuDecodeSession): the decoder kernels around the feed-forward\n");
        sb.Append("        /// decode kernels, each with its CUDA source unit (<c>&lt;Unit&gt;Source</c>) and its ILGPU twin")
            .Append(Bf16(plan.Shape) ? "; every weight stored as bf16" : "").Append(".\n");
        sb.Append("        /// </summary>\n");
        sb.Append("        public static global::MoCGen.Inference.DecodeKernelTable DecodeKernels { get; } = new(\n");
        sb.Append("            \"").Append(FullName(plan.Shape)).Append("\", DecoderLaunch.MaxTokens, DecoderLaunch.KvCacheFloats,\n");
        Launch("DecoderLaunch", "Embed", "Decoder", "Decoder.Embed", "0");
        Launch("DecoderLaunch", "RmsNorm", "Decoder", "Decoder.RmsNorm", "0");
        Launch("DecoderLaunch", "Qkv", "Decoder", "Decoder.Qkv", "0");
        Launch("DecoderLaunch", "RopeKv", "Decoder", "Decoder.RopeKv", "0");
        Launch("DecoderLaunch", "Attention", "Decoder", "Decoder.Attention", "0");
        Launch("DecoderLaunch", "OProj", "Decoder", "Decoder.OProj", "0");
        Launch("DecoderLaunch", "ResidualNorm", "Decoder", "Decoder.ResidualNorm", "0");
        Launch("DecoderLaunch", "LmHead", "Decoder", "Decoder.LmHead", "0");
        Launch("FeedForwardDecodeLaunch", "GateTopK", "FeedForwardDecode", "Decode.GateTopK", "0");
        Launch("FeedForwardDecodeLaunch", "UpDown", "FeedForwardDecode", "Decode.UpDownTiled", "FeedForwardDecodeLaunch.UpDownDynamicSharedBytes");
        CloseKernelTable(sb, plan.Shape);
    }
}
