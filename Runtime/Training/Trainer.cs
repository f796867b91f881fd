using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Threading;
using MoCGen.Checkpoints;
using MoCGen.Cpu;
using MoCGen.Data;
using MoCGen.Model;

namespace MoCGen.Training;

/// <summary>
/// Trains a <see cref="MoCDecoder{TShape, TIndex}"/>: AdamW with decoupled weight decay, linear warm-up then cosine
/// decay, global gradient-norm clipping; writes <c>metrics.jsonl</c> (one JSON object per step) and
/// <c>checkpoint.safetensors</c> (weights, AdamW moments, step and sampler state, written atomically) into its
/// output folder, and resumes from that checkpoint exactly where the uninterrupted run would be.
/// </summary>
public sealed class Trainer<TShape, TIndex>
    where TShape : struct, IDecoderShape
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    /// <summary>File name of the checkpoint in the output folder.</summary>
    public const string CheckpointFile = "checkpoint.safetensors";

    /// <summary>File name of the per-step metrics in the output folder.</summary>
    public const string MetricsFile = "metrics.jsonl";

    private readonly MoCDecoder<TShape, TIndex> _model;
    private readonly DatasetSplit _data;
    private readonly TrainingOptions _options;
    private readonly string _output;
    private readonly float[] _m, _v;
    private readonly AdamWSegment[] _segments;
    private readonly LearningRateSchedule _schedule;
    private readonly BatchSampler _sampler;
    private long _step;

    /// <summary>Prepares training of <paramref name="model"/> on <paramref name="data"/>, writing into <paramref name="outputDirectory"/>.</summary>
    public Trainer(MoCDecoder<TShape, TIndex> model, DatasetSplit data, TrainingOptions options, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (data.Context != TShape.Context)
            throw new ArgumentException($"The data is split for context {data.Context}; the model trains on {TShape.Context}.", nameof(data));
        _model = model;
        _data = data;
        _options = options;
        _output = outputDirectory;
        Directory.CreateDirectory(outputDirectory);
        _m = new float[model.Parameters.Length];
        _v = new float[model.Parameters.Length];
        var segments = new List<AdamWSegment>();
        foreach (var p in model.Plan.Parameters)
            segments.Add(new AdamWSegment(checked((int)p.Offset), checked((int)p.Elements), Decay: p.Columns != 0, p.Name));
        _segments = segments.ToArray();
        _schedule = new LearningRateSchedule(options.WarmupSteps, options.Steps, options.MaxLearningRate, options.MinLearningRate);
        _sampler = data.Sampler(TShape.Batch, options.Seed);
        Initialize(model, options);
    }

    /// <summary>Steps completed so far.</summary>
    public long Step => _step;

    /// <summary>Path of the checkpoint this trainer writes.</summary>
    public string CheckpointPath => Path.Combine(_output, CheckpointFile);

    /// <summary>Path of the metrics log.</summary>
    public string MetricsPath => Path.Combine(_output, MetricsFile);

    private static CheckpointOptions CheckpointOptions => new() { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed };

    /// <summary>Continues from a checkpoint written by this trainer: weights, moments, step and sampler state.</summary>
    public void Resume(string checkpointPath)
    {
        var info = ModelCheckpoint.Load(checkpointPath, _model.Plan, _model.Parameters, _m, _v, CheckpointOptions);
        var progress = info.Training ?? throw new CheckpointException(checkpointPath, null, "it holds weights but no training state (step, sampler), so training cannot resume from it.");
        if (progress.RandomState.Count != 3)
            throw new CheckpointException(checkpointPath, null, $"its sampler state has {progress.RandomState.Count} values; 3 are expected.");
        _step = progress.Step;
        _sampler.State = new SamplerState(progress.RandomState[0], progress.RandomState[1], (long)progress.RandomState[2]);
    }

    /// <summary>
    /// Runs the remaining steps, reporting each through <paramref name="progress"/>. Throws
    /// <see cref="TrainingStoppedException"/> when a loss or gradient becomes non-finite; the previous checkpoint
    /// stays as it was.
    /// </summary>
    public void Run(Action<StepReport>? progress = null, CancellationToken cancel = default)
    {
        var batch = new int[_sampler.BatchLength];
        var tokens = new int[TShape.Batch * TShape.Context];
        var targets = new int[tokens.Length];
        var clock = Stopwatch.StartNew();
        using var metrics = new StreamWriter(MetricsPath, append: _step > 0, new UTF8Encoding(false));
        while (_step < _options.Steps)
        {
            cancel.ThrowIfCancellationRequested();
            long start = Stopwatch.GetTimestamp();
            _sampler.Next(batch);
            SplitBatch(batch, tokens, targets);
            double loss = _model.Forward(tokens, targets);
            long step = _step + 1;
            if (!double.IsFinite(loss))
                throw new TrainingStoppedException($"The training loss became {loss.ToString(CultureInfo.InvariantCulture)} at step {step}. " +
                    $"Nothing was saved from this step; the last good checkpoint is {DescribeCheckpoint()}. Lower the learning rate (now {_schedule.At(step):G3}) or check the data.");
            _model.Backward();
            double lr = _schedule.At(step);
            var result = AdamW.Step(_model.Parameters, _model.Gradients, _m, _v, _segments, step, lr, _options.Optimizer);
            if (!result.Applied)
                throw new TrainingStoppedException($"Step {step}: {result.Message} The weights were not updated; the last good checkpoint is {DescribeCheckpoint()}.");
            _step = step;
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

            double? validation = null;
            if ((_options.EvalInterval > 0 && step % _options.EvalInterval == 0) || step == _options.Steps)
                validation = ValidationLoss();
            var report = new StepReport(step, loss, validation, lr, result.GradientNorm, tokens.Length / seconds, clock.Elapsed, _model.Plan.Memory.ArenaBytes);
            WriteMetrics(metrics, report);
            progress?.Invoke(report);
            if ((_options.CheckpointInterval > 0 && step % _options.CheckpointInterval == 0) || step == _options.Steps)
                SaveCheckpoint();
        }
    }

    /// <summary>Mean loss over the first <see cref="TrainingOptions.EvalBatches"/> validation batches (the same ones every time).</summary>
    public double ValidationLoss()
    {
        var batches = _data.ValidationBatches(TShape.Batch);
        if (batches.BatchCount == 0) return double.NaN;
        var batch = new int[batches.BatchLength];
        var tokens = new int[TShape.Batch * TShape.Context];
        var targets = new int[tokens.Length];
        double sum = 0;
        int count = Math.Min(_options.EvalBatches, batches.BatchCount);
        for (int i = 0; i < count; i++)
        {
            batches.Fill(i, batch);
            SplitBatch(batch, tokens, targets);
            sum += _model.Forward(tokens, targets);
        }
        return sum / count;
    }

    /// <summary>Writes weights, moments, step and sampler state atomically.</summary>
    public void SaveCheckpoint()
    {
        var state = _sampler.State;
        var training = new TrainingProgress(_step, _step, _schedule.At(Math.Max(1, _step)), new[] { state.Seed, state.Rng, (ulong)state.Batches });
        ModelCheckpoint.Save(CheckpointPath, _model.Plan, _model.Parameters, _m, _v, training, CheckpointOptions);
    }

    private string DescribeCheckpoint() => File.Exists(CheckpointPath) ? CheckpointPath : "none yet (no checkpoint was written)";

    /// <summary>[batch, context + 1] windows into inputs (first context tokens) and targets (the next token of each).</summary>
    private static void SplitBatch(ReadOnlySpan<int> batch, Span<int> tokens, Span<int> targets)
    {
        int t = TShape.Context;
        for (int b = 0; b < TShape.Batch; b++)
        {
            batch.Slice(b * (t + 1), t).CopyTo(tokens.Slice(b * t, t));
            batch.Slice(b * (t + 1) + 1, t).CopyTo(targets.Slice(b * t, t));
        }
    }

    private static void WriteMetrics(StreamWriter writer, StepReport r)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("step", r.Step);
            json.WriteNumber("loss", r.Loss);
            if (r.ValidationLoss is double v) json.WriteNumber("val_loss", v);
            json.WriteNumber("lr", r.LearningRate);
            json.WriteNumber("grad_norm", r.GradientNorm);
            json.WriteNumber("tokens_per_s", Math.Round(r.TokensPerSecond, 1));
            json.WriteNumber("elapsed_s", Math.Round(r.Elapsed.TotalSeconds, 3));
            json.WriteNumber("activation_bytes", r.ActivationBytes);
            json.WriteEndObject();
        }
        writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        writer.Flush();
    }

    /// <summary>Normal(0, std) weights from the seed, scaled by 1/sqrt(2 L) on the projections that add to the residual stream; norm gains 1.</summary>
    private static void Initialize(MoCDecoder<TShape, TIndex> model, TrainingOptions options)
    {
        ulong state = options.Seed ^ 0x5DEECE66DUL;
        double residualScale = 1 / Math.Sqrt(2.0 * TShape.Layers);
        foreach (var p in model.Plan.Parameters)
        {
            var span = model.Parameters.AsSpan(checked((int)p.Offset), checked((int)p.Elements));
            if (p.Columns == 0)
            {
                span.Fill(1f);
                continue;
            }
            bool residual = p.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) || p.Name.EndsWith("down_proj.weight", StringComparison.Ordinal);
            double std = options.InitStd * (residual ? residualScale : 1);
            for (int i = 0; i < span.Length; i++) span[i] = (float)(std * Gaussian(ref state));
        }
    }

    /// <summary>A standard normal draw (Box-Muller on SplitMix64), reproducible on every platform.</summary>
    private static double Gaussian(ref ulong state)
    {
        double u1 = ((SplitMix64.Next(ref state) >> 11) + 1) * (1.0 / 9007199254740993.0);
        double u2 = (SplitMix64.Next(ref state) >> 11) * (1.0 / 9007199254740992.0);
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
