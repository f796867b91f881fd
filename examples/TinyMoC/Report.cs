using System.Linq;
using ScottPlot;
using Spectre.Console;

namespace TinyMoCExample;

/// <summary>Loss pictures and the MoC-vs-dense comparison.</summary>
internal static class Report
{
    public static void PlotLoss(RunResult run, string path)
    {
        var plot = new Plot();
        AddCurves(plot, run, Colors.Blue);
        plot.Title($"{run.Name}: training and validation loss");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats per byte)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 540);
    }

    public static void Compare(RunResult moc, RunResult dense, string path)
    {
        var plot = new Plot();
        AddCurves(plot, moc, Colors.Blue);
        AddCurves(plot, dense, Colors.OrangeRed);
        plot.Title("MoC (Top-K) vs its dense twin, same data and seed");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats per byte)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 540);

        var table = new Table().AddColumns("", moc.Name, dense.Name, "MoC / dense");
        double mocVal = moc.Validation.Count > 0 ? moc.Validation[^1].Loss : double.NaN;
        double denseVal = dense.Validation.Count > 0 ? dense.Validation[^1].Loss : double.NaN;
        table.AddRow("final validation loss", $"{mocVal:F4}", $"{denseVal:F4}", $"{mocVal / denseVal:F3}");
        table.AddRow("activation bytes kept per token per layer", $"{moc.SavedBytesPerTokenPerLayer:N0}", $"{dense.SavedBytesPerTokenPerLayer:N0}",
            $"{(double)moc.SavedBytesPerTokenPerLayer / dense.SavedBytesPerTokenPerLayer:F3}");
        table.AddRow("training-step arena (MiB)", $"{moc.ActivationBytes / 1048576.0:F1}", $"{dense.ActivationBytes / 1048576.0:F1}",
            $"{(double)moc.ActivationBytes / dense.ActivationBytes:F3}");
        table.AddRow("tokens per second", $"{moc.TokensPerSecond:N0}", $"{dense.TokensPerSecond:N0}", $"{moc.TokensPerSecond / dense.TokensPerSecond:F2}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"comparison picture: {Markup.Escape(path)}");
    }

    private static void AddCurves(Plot plot, RunResult run, ScottPlot.Color color)
    {
        var train = plot.Add.Scatter(run.Train.Select(p => (double)p.Step).ToArray(), run.Train.Select(p => p.Loss).ToArray());
        train.LegendText = $"{run.Name} train";
        train.Color = color.WithAlpha(0.45);
        train.MarkerSize = 0;
        if (run.Validation.Count == 0) return;
        var validation = plot.Add.Scatter(run.Validation.Select(p => (double)p.Step).ToArray(), run.Validation.Select(p => p.Loss).ToArray());
        validation.LegendText = $"{run.Name} validation";
        validation.Color = color;
        validation.LineWidth = 2;
        validation.MarkerSize = 5;
    }
}
