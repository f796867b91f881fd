using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Emit;

/// <summary>Turns a plan into the generated sources of one model.</summary>
public static class ModelEmitter
{
    public static string Version { get; } =
        typeof(ModelEmitter).GetTypeInfo().Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>Hint name of the model's main source: its full name, so two models of the same name never collide.</summary>
    public static string HintName(PlanShape shape) =>
        (shape.Namespace.Length == 0 ? shape.Name : shape.Namespace + "." + shape.Name) + ".g.cs";

    public static IReadOnlyList<GeneratedSource> Emit(ModelPlan plan) =>
        new[]
        {
            new GeneratedSource(HintName(plan.Shape), Tidy(TemplateRenderer.Render("Model", BuildModel(plan)))),
            FeedForwardKernelEmitter.EmitCuda(plan), // <Model>.Cuda.g.cs: CUDA C text + launch table
        };

    /// <summary>
    /// Normalizes blank lines of rendered C#: at most one in a row, none right after '{' or before '}'.
    /// Keeps the templates readable without whitespace-control noise.
    /// </summary>
    public static string Tidy(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        var kept = new List<string>(lines.Length);
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd();
            var blank = line.Length == 0;
            var previous = kept.Count == 0 ? null : kept[kept.Count - 1];
            if (blank && (previous is null || previous.Length == 0 || previous.TrimStart() == "{")) continue;
            if (!blank && line.TrimStart().StartsWith("}", System.StringComparison.Ordinal) && previous is { Length: 0 })
                kept.RemoveAt(kept.Count - 1);
            kept.Add(line);
        }
        while (kept.Count > 0 && kept[kept.Count - 1].Length == 0) kept.RemoveAt(kept.Count - 1);
        return string.Join("\n", kept) + "\n";
    }

    /// <summary>The data the Model template reads; every value pre-formatted as C# text.</summary>
    public sealed class ModelTemplateData
    {
        public string Version { get; set; } = "";
        public string Namespace { get; set; } = "";
        public string Name { get; set; } = "";
        public string FullName { get; set; } = "";
        public string Summary { get; set; } = "";
        public string HeaderComment { get; set; } = "";
        public bool TieEmbeddings { get; set; }
        public bool IsDense { get; set; }
        public string Recompute { get; set; } = "false";
        public string ArenaBytesWithRecompute { get; set; } = "";
        public string ArenaBytesWithoutRecompute { get; set; } = "";
        public string IndexType { get; set; } = "";
        public string FeedForwardBytesPerToken { get; set; } = "";
        public List<ConstantItem> Constants { get; } = new();
        public List<ParameterItem> HeadParameters { get; } = new();
        public List<ParameterItem> LayerParameters { get; } = new();
        public List<ParameterItem> TailParameters { get; } = new();
        public string ParameterLayerBase { get; set; } = "";
        public string ParameterLayerStride { get; set; } = "";
        public string ParameterCount { get; set; } = "";
        public int ParameterTensorCount { get; set; }
        public List<BufferItem> GlobalBuffers { get; } = new();
        public List<BufferItem> LayerBuffers { get; } = new();
        public List<BufferItem> WorkspaceBuffers { get; } = new();
        public int BufferCount { get; set; }
        public int Alignment { get; set; }
        public string ArenaBytes { get; set; } = "";
        public string LayerBase { get; set; } = "";
        public string LayerStride { get; set; } = "";
        public string WorkspaceBase { get; set; } = "";
        public int FfnTokenTile { get; set; }
        public string PerLayer { get; set; } = "";
        public string DensePerLayer { get; set; } = "";
        public string ParameterBytes { get; set; } = "";
        public string TrainingStateBytes { get; set; } = "";
        public string ForwardFlops { get; set; } = "";
        public string BackwardFlops { get; set; } = "";
        public string DenseForwardFlops { get; set; } = "";
        public string DenseBackwardFlops { get; set; } = "";
    }

    public sealed record ConstantItem(string Type, string Name, string Value, string Doc);

    public sealed record ParameterItem(string Name, string Constant, string Offset, string ShapeText, string RowsSymbol, string ColumnsSymbol);

    public sealed record BufferItem(string Name, string Constant, string Offset, long Rows, long Columns, string ElementName,
        string Purpose, string Role, string Element, string RowsSymbol, string ColumnsSymbol);

    public static ModelTemplateData BuildModel(ModelPlan plan)
    {
        var s = plan.Shape;
        var m = plan.Memory;
        var data = new ModelTemplateData
        {
            Version = Version,
            Namespace = s.Namespace,
            Name = s.Name,
            FullName = s.Namespace.Length == 0 ? s.Name : s.Namespace + "." + s.Name,
            Summary = s.IsDense
                ? $"Dense SwiGLU decoder (TopK = Intermediate = {s.Intermediate}), {TextTable.Int(plan.ParameterCount)} parameters."
                : $"Mixture-of-Channels decoder: Top-{s.TopK} of {s.Intermediate} feed-forward channels per token, {TextTable.Int(plan.ParameterCount)} parameters.",
            HeaderComment = Comment(PlanReport.Render(plan)),
            TieEmbeddings = s.TieEmbeddings,
            IsDense = s.IsDense,
            Recompute = m.Recompute ? "true" : "false",
            ArenaBytesWithRecompute = Long(m.ArenaBytesWithRecompute),
            ArenaBytesWithoutRecompute = Long(m.ArenaBytesWithoutRecompute),
            IndexType = s.ChannelIndexBytes == 2 ? "ushort" : "uint",
            FeedForwardBytesPerToken = Long(m.PerLayer.FeedForward),
            ParameterCount = Long(plan.ParameterCount),
            ParameterTensorCount = plan.Parameters.Count,
            Alignment = MemoryLayout.Alignment,
            ArenaBytes = Long(m.ArenaBytes),
            LayerBase = Long(m.LayerBase),
            LayerStride = Long(m.LayerStride),
            WorkspaceBase = Long(m.WorkspaceBase),
            FfnTokenTile = m.FfnTokenTile,
            PerLayer = FootprintArgs(m.PerLayer),
            DensePerLayer = FootprintArgs(m.DensePerLayer),
            ParameterBytes = Long(m.ParameterBytes),
            TrainingStateBytes = Long(m.TrainingStateBytes),
            ForwardFlops = FlopArgs(plan.Flops.Forward),
            BackwardFlops = FlopArgs(plan.Flops.Backward),
            DenseForwardFlops = FlopArgs(plan.DenseFlops.Forward),
            DenseBackwardFlops = FlopArgs(plan.DenseFlops.Backward),
        };

        AddConstants(data.Constants, s, plan.ParameterCount);

        var layer0 = plan.Parameters.Where(p => p.Layer == 0).ToList();
        long layerBase = layer0.Count > 0 ? layer0[0].Offset : 0;
        data.ParameterLayerBase = Long(layerBase);
        data.ParameterLayerStride = Long(layer0.Sum(p => p.Elements));
        foreach (var p in plan.Parameters)
        {
            if (p.Layer > 0) continue;
            if (p.Layer == 0)
                data.LayerParameters.Add(Item(p, p.Name.Substring("model.layers.0.".Length), p.Offset - layerBase));
            else if (layer0.Count == 0 || p.Offset < layerBase)
                data.HeadParameters.Add(Item(p, p.Name, p.Offset));
            else
                data.TailParameters.Add(Item(p, p.Name, p.Offset));
        }

        foreach (var b in m.Globals) data.GlobalBuffers.Add(Item(b));
        foreach (var b in m.LayerBuffers) data.LayerBuffers.Add(Item(b));
        foreach (var b in m.Workspace) data.WorkspaceBuffers.Add(Item(b));
        data.BufferCount = checked(m.Globals.Count + m.Workspace.Count + m.LayerBuffers.Count * s.Layers);
        return data;
    }

    private static void AddConstants(List<ConstantItem> list, PlanShape s, long parameterCount)
    {
        void Int(string name, int value, string doc) => list.Add(new ConstantItem("int", name, value.ToString(CultureInfo.InvariantCulture), doc));
        Int("Vocab", s.Vocab, "Vocabulary size.");
        Int("Hidden", s.Hidden, "Residual width d.");
        Int("Intermediate", s.Intermediate, "Feed-forward width d_ff.");
        Int("TopK", s.TopK, "Active feed-forward channels per token K.");
        Int("Layers", s.Layers, "Decoder layers.");
        Int("Heads", s.Heads, "Query heads.");
        Int("KvHeads", s.KvHeads, "Key/value heads.");
        Int("HeadDim", s.HeadDim, "Width of one head (Hidden / Heads).");
        Int("QueryDim", s.QueryDim, "Width of all query heads (Heads * HeadDim).");
        Int("KvDim", s.KvDim, "Width of all key/value heads (KvHeads * HeadDim).");
        Int("Context", s.Context, "Sequence length.");
        Int("Batch", s.Batch, "Sequences per training step.");
        Int("TokensPerStep", s.Tokens, "Tokens per training step (Batch * Context).");
        Int("ChannelIndexBytes", s.ChannelIndexBytes, "Bytes per stored channel index.");
        list.Add(new ConstantItem("double", "RopeTheta", Double(s.RopeTheta), "Rotary position embedding base."));
        list.Add(new ConstantItem("double", "NormEps", Double(s.NormEps), "RMSNorm epsilon."));
        list.Add(new ConstantItem("bool", "TieEmbeddings", s.TieEmbeddings ? "true" : "false", "Whether the LM head shares the token embedding."));
        list.Add(new ConstantItem("bool", "IsDense", s.IsDense ? "true" : "false", "True for the dense SwiGLU twin (TopK == Intermediate)."));
        list.Add(new ConstantItem("bool", "Recompute", s.Recompute ? "true" : "false", "Whether layers are recomputed in backward instead of keeping their activations."));
        list.Add(new ConstantItem("global::MoCGen.WeightPrecision", "Weights",
            "global::MoCGen.WeightPrecision." + (s.Weights == StoredPrecision.BFloat16 ? "BFloat16" : "Float32"), "Stored weight precision."));
        list.Add(new ConstantItem("long", "ParameterCount", Long(parameterCount), "Total number of weights."));
    }

    private static ParameterItem Item(PlannedParameter p, string name, long offset) =>
        new(name, p.Constant, Long(offset), p.ShapeText, p.RowsSymbol, p.ColumnsSymbol);

    private static BufferItem Item(PlannedBuffer b) =>
        new(b.Name, b.Constant, Long(b.Offset), b.Rows, b.Columns, PlanReport.ElementName(b.Element), b.Purpose,
            b.Role.ToString(), b.Element.ToString(), b.RowsSymbol, b.ColumnsSymbol);

    private static string FootprintArgs(Footprint f) => $"{Long(f.ResidualAndNorms)}, {Long(f.Attention)}, {Long(f.FeedForward)}";

    private static string FlopArgs(FlopParts f) => $"{Long(f.Attention)}L, {Long(f.FeedForward)}L, {Long(f.LmHead)}L";

    private static string Long(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>C# text of a double that round-trips exactly and always reads as a double.</summary>
    public static string Double(double value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.IndexOfAny(new[] { '.', 'E', 'e' }) >= 0 ? text : text + ".0";
    }

    private static string Comment(string text)
    {
        var sb = new StringBuilder();
        foreach (var line in text.TrimEnd('\n').Split('\n'))
            sb.Append(line.Length == 0 ? "//" : "// " + line).Append('\n');
        return sb.ToString().TrimEnd('\n');
    }
}
