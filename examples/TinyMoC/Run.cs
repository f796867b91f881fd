using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using MoCGen.Data;
using MoCGen.Inference;
using MoCGen.Model;
using MoCGen.Training;
using Spectre.Console;

namespace TinyMoCExample;

/// <summary>The curve and the figures of one training run.</summary>
internal sealed record RunResult(string Name, string Folder, List<(long Step, double Loss)> Train, List<(long Step, double Loss)> Validation,
    long ActivationBytes, long SavedBytesPerTokenPerLayer, double TokensPerSecond, CompiledPlanSummary Plan);

internal sealed record CompiledPlanSummary(long Parameters, int TopK, int Intermediate);

/// <summary>One model trained with a live display, its log, checkpoint and loss picture, then a sample of its text.</summary>
internal static class Run
{
    public static RunResult Train<TShape>(string name, MoCDecoder<TShape, ushort> model, DatasetSplit data, TrainingOptions options,
        string runs, bool resume, int sampleBytes) where TShape : struct, IDecoderShape
    {
        using (model)
        {
            var folder = Path.Combine(runs, name);
            var trainer = new Trainer<TShape, ushort>(model, data, options, folder);
            if (resume)
            {
                if (!File.Exists(trainer.CheckpointPath))
                    throw new IOException($"--resume: there is no checkpoint at {trainer.CheckpointPath}; run without --resume first.");
                trainer.Resume(trainer.CheckpointPath);
                AnsiConsole.MarkupLine($"resuming [bold]{name}[/] at step {trainer.Step}");
            }
            var plan = model.Plan;
            AnsiConsole.MarkupLine($"[bold]{name}[/]: {plan.ParameterCount:N0} parameters, Top-{plan.Shape.TopK} of {plan.Shape.Intermediate} channels, " +
                                   $"{plan.Shape.TokensPerStep:N0} tokens per step, activation arena {plan.Memory.ArenaBytes / 1048576.0:F1} MiB " +
                                   $"({plan.Memory.PerLayer.Total:N0} bytes kept per token per layer), {options.Steps} steps -> {Markup.Escape(folder)}");
            var result = new RunResult(name, folder, new(), new(), plan.Memory.ArenaBytes, plan.Memory.PerLayer.Total, 0,
                new CompiledPlanSummary(plan.ParameterCount, plan.Shape.TopK, plan.Shape.Intermediate));
            double tokensPerSecond = 0;
            void Record(StepReport r)
            {
                result.Train.Add((r.Step, r.Loss));
                if (r.ValidationLoss is double v) result.Validation.Add((r.Step, v));
                tokensPerSecond = tokensPerSecond == 0 ? r.TokensPerSecond : 0.9 * tokensPerSecond + 0.1 * r.TokensPerSecond;
            }

            if (AnsiConsole.Profile.Capabilities.Interactive)
            {
                AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(name, maxValue: options.Steps);
                        task.Value = trainer.Step;
                        trainer.Run(r =>
                        {
                            Record(r);
                            task.Value = r.Step;
                            task.Description = Describe(name, r, result, tokensPerSecond);
                        });
                    });
            }
            else
            {
                trainer.Run(r =>
                {
                    Record(r);
                    if (r.Step % 10 == 0 || r.ValidationLoss is not null) Console.WriteLine(Describe(name, r, result, tokensPerSecond));
                });
            }

            result = result with { TokensPerSecond = tokensPerSecond };
            Report.PlotLoss(result, Path.Combine(folder, "loss.png"));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(trainer.CheckpointPath)}, {Markup.Escape(trainer.MetricsPath)}, {Markup.Escape(Path.Combine(folder, "loss.png"))}");
            if (sampleBytes > 0) Sample(model, data, sampleBytes, options.Seed);
            return result;
        }
    }

    private static string Describe(string name, StepReport r, RunResult result, double tokensPerSecond)
    {
        var validation = result.Validation.Count > 0 ? $" val {result.Validation[^1].Loss:F3}" : "";
        return $"{name} step {r.Step} loss {r.Loss:F3}{validation} lr {r.LearningRate:G3} {tokensPerSecond:N0} tok/s, activations {r.ActivationBytes / 1048576.0:F1} MiB";
    }

    /// <summary>
    /// Continues a prompt from the validation text with the key/value-cache decoder (temperature 0.8, top-p 0.95),
    /// streaming complete UTF-8 characters; the context window bounds prompt plus sample.
    /// </summary>
    private static void Sample<TShape>(MoCDecoder<TShape, ushort> model, DatasetSplit data, int bytes, ulong seed) where TShape : struct, IDecoderShape
    {
        var prompt = data.Validation.Slice(0, Math.Min(64, data.Validation.Length)).ToArray();
        var session = new DecodeSession<TShape, ushort>(model.Plan, model.Parameters);
        var sampler = new TokenSampler(temperature: 0.8, topP: 0.95, seed: seed);
        var decoder = ByteTokenizer.Instance.CreateStreamDecoder();
        var output = new StringBuilder();
        ReadOnlySpan<float> logits = default;
        foreach (var t in prompt)
        {
            logits = session.Append(t);
            output.Append(decoder.Push(t));
        }
        output.Append("[[");
        int room = TShape.Context - session.Length;
        for (int i = 0; i < Math.Min(bytes, room); i++)
        {
            int next = sampler.Next(logits);
            output.Append(decoder.Push(next));
            if (session.Length < TShape.Context) logits = session.Append(next);
        }
        output.Append(decoder.Flush()).Append("]]");
        AnsiConsole.MarkupLine("[bold]sample[/] (prompt, then [[[[generated]]]]):");
        Console.WriteLine(output.ToString());
    }
}
