using System;
using System.CommandLine;
using System.IO;
using MoCGen.Data;
using MoCGen.Training;
using Spectre.Console;
using TinyMoCExample;

// dotnet run -c Release --project examples/TinyMoC [-- --steps N] [--dense | --compare] [--data file.txt] [--resume] [--out runs/x]
var steps = new Option<int>("--steps") { Description = "Optimizer steps (default 1000: a few minutes on two cores).", DefaultValueFactory = _ => 1000 };
var dense = new Option<bool>("--dense") { Description = "Train the dense twin (TopK = Intermediate) instead of the MoC model." };
var compare = new Option<bool>("--compare") { Description = "Train both on the same data and seed, and compare them." };
var data = new Option<string?>("--data") { Description = "UTF-8 text file to train on (default: the .NET SDK's API documentation)." };
var seed = new Option<ulong>("--seed") { Description = "Seed of initialization and batches.", DefaultValueFactory = _ => 1UL };
var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in the output folder." };
var output = new Option<string>("--out") { Description = "Runs folder; each model writes into <out>/<model>.", DefaultValueFactory = _ => "runs" };
var sample = new Option<int>("--sample") { Description = "Bytes of text to sample at the end (0 for none).", DefaultValueFactory = _ => 160 };
var root = new RootCommand("Train the TinyMoC example model on CPU, then sample from it.") { steps, dense, compare, data, seed, resume, output, sample };
root.SetAction(parsed =>
{
    try
    {
        int stepCount = parsed.GetValue(steps);
        var options = new TrainingOptions { Steps = stepCount, WarmupSteps = Math.Min(20, Math.Max(1, stepCount / 10)), Seed = parsed.GetValue(seed) };
        var split = Corpus.Load(parsed.GetValue(data), TinyMoC.Context, options.ValidationFraction);
        var runs = parsed.GetValue(output)!;
        bool resuming = parsed.GetValue(resume);
        int sampleBytes = parsed.GetValue(sample);
        if (parsed.GetValue(compare))
        {
            var moc = Run.Train<TinyMoC.DecoderShape>("tinymoc", TinyMoC.CreateDecoder(), split, options, runs, resuming, sampleBytes);
            var twin = Run.Train<TinyDense.DecoderShape>("tinydense", TinyDense.CreateDecoder(), split, options, runs, resuming, sampleBytes);
            Report.Compare(moc, twin, Path.Combine(runs, "compare.png"));
        }
        else if (parsed.GetValue(dense))
            Run.Train<TinyDense.DecoderShape>("tinydense", TinyDense.CreateDecoder(), split, options, runs, resuming, sampleBytes);
        else
            Run.Train<TinyMoC.DecoderShape>("tinymoc", TinyMoC.CreateDecoder(), split, options, runs, resuming, sampleBytes);
        return 0;
    }
    catch (Exception e) when (e is TrainingStoppedException or IOException or ArgumentException or MoCGen.Checkpoints.CheckpointException or UnauthorizedAccessException)
    {
        AnsiConsole.MarkupLine("[red]error:[/] " + Markup.Escape(e.Message));
        return 1;
    }
});
return root.Parse(args).Invoke();
