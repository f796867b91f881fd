using System.Globalization;
using System.Linq;
using MoCGen;
using Spectre.Console;
using TinyMoCExample;

// Until training lands, the example shows what the generator compiled from the declaration in TinyMoC.cs.
var plan = TinyMoC.Plan;
var shape = plan.Shape;
AnsiConsole.MarkupLine($"[bold]{shape.Name}[/]: Top-{TinyMoC.TopK} of {TinyMoC.Intermediate} feed-forward channels per token, " +
                       $"{TinyMoC.Layers} layers, hidden {TinyMoC.Hidden}, {plan.ParameterCount:N0} parameters");

var parameters = new Table().Title("Parameters (layer 0 shown)").AddColumns("tensor", "shape", "elements");
foreach (var p in plan.Parameters.Where(p => !p.Name.StartsWith("model.layers.", System.StringComparison.Ordinal) || p.Name.StartsWith("model.layers.0.", System.StringComparison.Ordinal)))
    parameters.AddRow(p.Name, Markup.Escape("[" + string.Join(", ", p.Shape) + "]"), p.Elements.ToString("N0", CultureInfo.InvariantCulture));
AnsiConsole.Write(parameters);

var memory = plan.Memory;
var footprint = new Table().Title("Activations kept for backward, bytes per token per layer")
    .AddColumns("part", "dense twin", "MoC", "ratio");
void Row(string part, long dense, long moc) =>
    footprint.AddRow(part, dense.ToString("N0", CultureInfo.InvariantCulture), moc.ToString("N0", CultureInfo.InvariantCulture), ((double)moc / dense).ToString("0.000", CultureInfo.InvariantCulture));
Row("residual and norms", memory.DensePerLayer.ResidualAndNorms, memory.PerLayer.ResidualAndNorms);
Row("attention", memory.DensePerLayer.Attention, memory.PerLayer.Attention);
Row("feed-forward", memory.DensePerLayer.FeedForward, memory.PerLayer.FeedForward);
Row("total", memory.DensePerLayer.Total, memory.PerLayer.Total);
AnsiConsole.Write(footprint);

var flops = new Table().Title($"Matmul FLOPs per token (training step of {TinyMoC.TokensPerStep:N0} tokens)")
    .AddColumns("pass", "dense twin", "MoC", "ratio");
void FlopRow(string pass, double dense, double moc) =>
    flops.AddRow(pass, (dense / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M", (moc / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M", (moc / dense).ToString("0.000", CultureInfo.InvariantCulture));
FlopRow("forward", plan.DenseFlops.ForwardPerToken, plan.Flops.ForwardPerToken);
FlopRow("backward", plan.DenseFlops.BackwardPerToken, plan.Flops.BackwardPerToken);
AnsiConsole.Write(flops);

AnsiConsole.MarkupLine($"Training-step arena: {memory.ArenaBytes / (1024.0 * 1024.0):0.00} MiB in {memory.Buffers.Count} buffers " +
                       $"(layer stride {memory.LayerStride:N0} bytes); weights {memory.ParameterBytes / (1024.0 * 1024.0):0.00} MiB.");
AnsiConsole.MarkupLine("Training arrives with the next release; run [bold]mocgen inspect examples/TinyMoC/TinyMoC.cs[/] for the full plan.");
