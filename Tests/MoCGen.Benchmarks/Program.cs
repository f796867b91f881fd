using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.Intrinsics;
using System.Text.Json;
using MoCGen.Benchmarks;
using MoCGen.Benchmarks.Suites;
using Spectre.Console;

// dotnet run -c Release --project Tests/MoCGen.Benchmarks -- [gemm] [ffn-decode] [ffn-train] [model-train] [model-decode] [--repeats N] [--out file.json]
string[] allSuites = ["gemm", "ffn-decode", "ffn-train", "model-train", "model-decode"];
var suitesArgument = new Argument<string[]>("suites") { Description = "Suites to run: " + string.Join(", ", allSuites) + " (default: all).", Arity = ArgumentArity.ZeroOrMore };
var repeatsOption = new Option<int>("--repeats") { Description = "Timed runs per row; the median is reported.", DefaultValueFactory = _ => 11 };
var outOption = new Option<string>("--out") { Description = "JSON file for the results.", DefaultValueFactory = _ => Path.Combine("artifacts", "benchmarks", "results.json") };
var root = new RootCommand("MoCGen benchmarks: ours and TorchSharp side by side, medians and ratios.") { suitesArgument, repeatsOption, outOption };
root.SetAction(parsed =>
{
    var suites = parsed.GetValue(suitesArgument) is { Length: > 0 } chosen ? chosen : allSuites;
    var unknown = suites.Except(allSuites).ToList();
    if (unknown.Count > 0)
    {
        Console.Error.WriteLine($"benchmarks: unknown suite(s) {string.Join(", ", unknown)}; choose from {string.Join(", ", allSuites)}.");
        return 2;
    }
    int repeats = parsed.GetValue(repeatsOption);
    TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
    AnsiConsole.MarkupLine($"[bold]MoCGen benchmarks[/]: {Environment.ProcessorCount} cores, Vector<float> {System.Numerics.Vector<float>.Count} lanes, " +
                           $"AVX-512 {Vector512.IsHardwareAccelerated}, TorchSharp threads {TorchSharp.torch.get_num_threads()}, {repeats} runs per row (median).");

    var results = new List<Result>();
    var bandwidth = Bandwidth.Measure(repeats);
    results.Add(bandwidth);
    foreach (var suite in suites)
    {
        AnsiConsole.MarkupLine($"running [bold]{suite}[/]...");
        results.AddRange(suite switch
        {
            "gemm" => GemmSuite.Run(repeats),
            "ffn-decode" => FeedForwardSuites.Decode(repeats, bandwidth.Figures["GB/s"]),
            "ffn-train" => FeedForwardSuites.Train(repeats),
            "model-train" => ModelTrainSuite.Run(repeats),
            _ => ModelDecodeSuite.Run(repeats),
        });
    }

    var table = new Table().AddColumns("suite", "case", "implementation", "median ms", "min ms", "speed-up vs TorchSharp dense", "figures");
    foreach (var r in results)
    {
        table.AddRow(Markup.Escape(r.Suite), Markup.Escape(r.Case), Markup.Escape(r.Implementation),
            r.MedianMs.ToString("0.000", CultureInfo.InvariantCulture), r.MinMs.ToString("0.000", CultureInfo.InvariantCulture),
            r.SpeedupVsBaseline?.ToString("0.00", CultureInfo.InvariantCulture) + "x" ?? "",
            Markup.Escape(string.Join(", ", r.Figures.Select(f => $"{f.Key} {f.Value.ToString(f.Value < 1 ? "0.000" : "0.0", CultureInfo.InvariantCulture)}"))));
    }
    AnsiConsole.Write(table);

    var path = parsed.GetValue(outOption)!;
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    var json = JsonSerializer.Serialize(results.Select(r => new
    {
        suite = r.Suite, @case = r.Case, implementation = r.Implementation, median_ms = r.MedianMs, min_ms = r.MinMs, runs = r.Runs,
        ratio_to_torchsharp_dense = r.SpeedupVsBaseline, figures = r.Figures,
    }), new JsonSerializerOptions { WriteIndented = true });
    var temporary = path + ".tmp";
    File.WriteAllText(temporary, json);
    File.Move(temporary, path, overwrite: true);
    AnsiConsole.MarkupLine($"results written to [bold]{Markup.Escape(path)}[/]");
    return 0;
});
return root.Parse(args).Invoke();
