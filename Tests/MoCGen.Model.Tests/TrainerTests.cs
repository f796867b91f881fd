using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using MoCGen.Checkpoints;
using MoCGen.Data;
using MoCGen.Training;
using Xunit;

namespace MoCGen.Model.Tests;

/// <summary>Training end to end on a tiny model: it learns, it is deterministic, it resumes exactly, it stops cleanly.</summary>
public sealed class TrainerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mocgen-train-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static DatasetSplit Data()
    {
        var text = string.Concat(Enumerable.Range(0, 400).Select(i => $"The quick brown fox {i % 7} jumps over the lazy dog. "));
        return TokenDataset.FromUtf8(Encoding.UTF8.GetBytes(text), ByteTokenizer.Instance, "test text").Split(TrainableModel.Context);
    }

    private static TrainingOptions Options(int steps) => new()
    {
        Steps = steps, WarmupSteps = 5, MaxLearningRate = 1e-2, MinLearningRate = 1e-3, EvalInterval = 10, EvalBatches = 2,
        CheckpointInterval = 10, Seed = 7, InitStd = 0.05,
    };

    private static double[] Losses(string metricsPath) => File.ReadAllLines(metricsPath)
        .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToArray();

    private double[] Train(string name, int steps)
    {
        using var model = TrainableModel.CreateDecoder();
        var trainer = new Trainer<TrainableModel.DecoderShape, ushort>(model, Data(), Options(steps), Path.Combine(_folder, name));
        trainer.Run();
        return Losses(trainer.MetricsPath);
    }

    [Fact]
    public void LossFallsAndRunsAreDeterministic()
    {
        var first = Train("a", 40);
        var second = Train("b", 40);
        Assert.Equal(first, second);
        Assert.Equal(40, first.Length);
        Assert.True(first[^5..].Average() < first[..5].Average() - 1.0, $"loss went from {first[..5].Average():F3} to {first[^5..].Average():F3}");
        Assert.InRange(first[0], Math.Log(256) - 0.5, Math.Log(256) + 0.5);
    }

    [Fact]
    public void ResumeReproducesTheUninterruptedRun()
    {
        var uninterrupted = Train("full", 20);

        string folder = Path.Combine(_folder, "interrupted");
        using (var model = TrainableModel.CreateDecoder())
        {
            var trainer = new Trainer<TrainableModel.DecoderShape, ushort>(model, Data(), Options(20), folder);
            using var cancel = new CancellationTokenSource();
            Assert.Throws<OperationCanceledException>(() => trainer.Run(r => { if (r.Step == 10) cancel.Cancel(); }, cancel.Token));
            Assert.Equal(10, trainer.Step);
        }
        using (var model = TrainableModel.CreateDecoder())
        {
            var trainer = new Trainer<TrainableModel.DecoderShape, ushort>(model, Data(), Options(20), folder);
            trainer.Resume(trainer.CheckpointPath);
            Assert.Equal(10, trainer.Step);
            trainer.Run();
        }
        Assert.Equal(uninterrupted, Losses(Path.Combine(folder, "metrics.jsonl")));
    }

    [Fact]
    public void NonFiniteLossStopsWithAMessageAndKeepsTheLastCheckpoint()
    {
        using var model = TrainableModel.CreateDecoder();
        string folder = Path.Combine(_folder, "nan");
        var trainer = new Trainer<TrainableModel.DecoderShape, ushort>(model, Data(), Options(30), folder);
        using var cancel = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => trainer.Run(r => { if (r.Step == 10) cancel.Cancel(); }, cancel.Token));
        var saved = File.ReadAllBytes(trainer.CheckpointPath);

        model.Parameters[TrainableModel.ParameterLayout.FinalNorm] = float.NaN; // poison the weights
        var error = Assert.Throws<TrainingStoppedException>(() => trainer.Run());
        Assert.Contains("The training loss became NaN at step 11", error.Message);
        Assert.Contains(trainer.CheckpointPath, error.Message);
        Assert.Equal(saved, File.ReadAllBytes(trainer.CheckpointPath));
        using var fresh = TrainableModel.CreateDecoder();
        ModelCheckpoint.Load(trainer.CheckpointPath, fresh.Plan, fresh.Parameters, new CheckpointOptions { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed });
    }
}
