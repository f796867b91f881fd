using System.Globalization;
using System.Text;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Emit;

/// <summary>The plan as a human-readable report: printed by `mocgen inspect` and written atop generated code.</summary>
public static class PlanReport
{
    public static string Render(ModelPlan plan)
    {
        var s = plan.Shape;
        var m = plan.Memory;
        var sb = new StringBuilder();
        var kind = s.IsDense
            ? "dense SwiGLU twin (TopK = Intermediate)"
            : $"Mixture-of-Channels, Top-{s.TopK} of {s.Intermediate} channels ({Percent((double)s.TopK / s.Intermediate)} active)";
        sb.Append("Model ").Append(Full(s)).Append(": ").Append(kind).Append('\n');
        sb.Append($"  vocab {s.Vocab}, hidden {s.Hidden}, intermediate {s.Intermediate}, top-k {s.TopK}, layers {s.Layers}\n");
        sb.Append($"  heads {s.Heads} (kv heads {s.KvHeads}, head dim {s.HeadDim}), context {s.Context}, batch {s.Batch} ({TextTable.Int(s.Tokens)} tokens per step)\n");
        sb.Append("  rope theta ").Append(s.RopeTheta.ToString("R", CultureInfo.InvariantCulture))
          .Append(", norm eps ").Append(s.NormEps.ToString("R", CultureInfo.InvariantCulture))
          .Append(", tied embeddings ").Append(s.TieEmbeddings ? "yes" : "no")
          .Append(", weights ").Append(s.Weights == StoredPrecision.BFloat16 ? "bfloat16" : "float32")
          .Append(s.IsDense ? ", no channel indices (dense)" : ", channel index uint" + (s.ChannelIndexBytes * 8)).Append('\n');

        sb.Append('\n').Append("Parameters: ").Append(TextTable.Int(plan.ParameterCount))
          .Append(" (").Append(TextTable.Bytes(m.ParameterBytes)).Append(" stored; ")
          .Append(TextTable.Bytes(m.TrainingStateBytes)).Append(" with fp32 gradients and AdamW moments)\n");
        var parameters = new TextTable("tensor", "shape", "elements", "count");
        foreach (var p in plan.Parameters)
        {
            if (p.Layer > 0) continue;
            var name = p.Layer == 0 ? p.Name.Replace("model.layers.0.", "model.layers.{i}.") : p.Name;
            parameters.Add(name, p.ShapeText, TextTable.Int(p.Elements), p.Layer == 0 ? "x" + s.Layers : "x1");
        }
        parameters.WriteTo(sb, "  ");

        sb.Append('\n').Append("Activations kept for backward, bytes per token per layer (fp32 values, uint")
          .Append(s.ChannelIndexBytes * 8).Append(" channel indices for MoC):\n");
        var footprint = new TextTable("part", "dense twin", s.IsDense ? "this model" : "MoC (this model)", "ratio");
        void Row(string part, long dense, long ours) => footprint.Add(part, TextTable.Int(dense), TextTable.Int(ours), TextTable.Ratio((double)ours / dense));
        Row("residual and norms", m.DensePerLayer.ResidualAndNorms, m.PerLayer.ResidualAndNorms);
        Row("attention", m.DensePerLayer.Attention, m.PerLayer.Attention);
        Row("feed-forward", m.DensePerLayer.FeedForward, m.PerLayer.FeedForward);
        Row("total", m.DensePerLayer.Total, m.PerLayer.Total);
        footprint.WriteTo(sb, "  ");
        sb.Append("  Layer recomputation is ").Append(m.Recompute ? "on" : "off").Append(" (Recompute = ").Append(m.Recompute ? "true" : "false")
          .Append("). With it a layer keeps only its input (").Append(TextTable.Int(4L * s.Hidden))
          .Append(" bytes per token) and one shared layer's buffers are refilled before each layer's backward: arena ")
          .Append(TextTable.Bytes(m.ArenaBytesWithRecompute)).Append(" with, ").Append(TextTable.Bytes(m.ArenaBytesWithoutRecompute)).Append(" without.\n");

        sb.Append('\n').Append("Matmul FLOPs per token (training step of ").Append(TextTable.Int(s.Tokens)).Append(" tokens):\n");
        var flops = new TextTable("pass", "dense twin", s.IsDense ? "this model" : "MoC (this model)", "ratio");
        void FlopRow(string pass, long dense, long ours) =>
            flops.Add(pass, TextTable.Flops((double)dense / s.Tokens), TextTable.Flops((double)ours / s.Tokens), TextTable.Ratio((double)ours / dense));
        FlopRow("forward feed-forward", plan.DenseFlops.Forward.FeedForward, plan.Flops.Forward.FeedForward);
        FlopRow("forward total", plan.DenseFlops.Forward.Total, plan.Flops.Forward.Total);
        FlopRow("backward feed-forward", plan.DenseFlops.Backward.FeedForward, plan.Flops.Backward.FeedForward);
        FlopRow("backward total", plan.DenseFlops.Backward.Total, plan.Flops.Backward.Total);
        flops.WriteTo(sb, "  ");

        sb.Append('\n').Append("Training-step arena: ").Append(TextTable.Bytes(m.ArenaBytes))
          .Append(" (").Append(TextTable.Int(m.ArenaBytes)).Append(" bytes, ").Append(MemoryLayout.Alignment).Append("-byte aligned): saved ")
          .Append(TextTable.Bytes(m.SavedBytes)).Append(", workspace ").Append(TextTable.Bytes(m.WorkspaceBytes)).Append('\n');
        var arena = new TextTable("buffer", "offset", "bytes", "shape", "<type", "<purpose");
        void BufferRow(PlannedBuffer b, string name, long offset) =>
            arena.Add(name, TextTable.Int(offset), TextTable.Int(b.Bytes), $"[{b.Rows}, {b.Columns}]", ElementName(b.Element), b.Purpose);
        foreach (var b in m.Globals) BufferRow(b, b.Name, b.Offset);
        foreach (var b in m.LayerBuffers) BufferRow(b, "layer[i]." + b.Name, b.Offset);
        foreach (var b in m.Workspace) BufferRow(b, "workspace." + b.Name, b.Offset);
        arena.WriteTo(sb, "  ");
        sb.Append("  layer[i] offsets are relative to ").Append(TextTable.Int(m.LayerBase)).Append(" + i x ")
          .Append(TextTable.Int(m.LayerStride)).Append(" (layers 0..").Append(s.Layers - 1).Append(").\n");
        return sb.ToString();
    }

    public static string ElementName(PlannedElement element) => element switch
    {
        PlannedElement.Int32 => "int32",
        PlannedElement.UInt16 => "uint16",
        PlannedElement.UInt32 => "uint32",
        _ => "float32",
    };

    private static string Full(PlanShape s) => s.Namespace.Length == 0 ? s.Name : s.Namespace + "." + s.Name;

    private static string Percent(double fraction) => (fraction * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";
}
