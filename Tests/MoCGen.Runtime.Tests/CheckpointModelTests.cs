using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoCGen.Checkpoints;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>ModelCheckpoint: the flat parameter buffer to and from safetensors, with validation against the plan.</summary>
public sealed class CheckpointModelTests : IDisposable
{
    private readonly CheckpointScratch _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void F32RoundTripWritesHuggingFaceNamesShapesAndMetadata()
    {
        var plan = CheckpointTestPlans.Make();
        var weights = CheckpointTestPlans.Random(plan, 1);
        var path = _dir.File("f32.safetensors");
        ModelCheckpoint.Save(path, plan, weights);

        using (var r = SafeTensors.Open(path))
        {
            Assert.Equal(plan.Parameters.Select(p => p.Name), r.Tensors.Select(t => t.Name));
            foreach (var p in plan.Parameters)
            {
                var t = r.GetTensor(p.Name);
                Assert.Equal(SafeTensorDType.F32, t.DType);
                Assert.Equal(p.Shape.Select(d => (long)d), t.Shape);
            }
            Assert.Equal(new long[] { 8 }, r.GetTensor("model.layers.1.input_layernorm.weight").Shape);
            Assert.Equal(new long[] { 8, 12 }, r.GetTensor("model.layers.0.mlp.down_proj.weight").Shape);
            Assert.Equal("pt", r.Metadata["format"]);
            Assert.Equal("1", r.Metadata["mocgen.format_version"]);
            Assert.Equal("Tiny", r.Metadata["mocgen.model"]);
            Assert.Equal("8", r.Metadata["mocgen.hidden"]);
            Assert.Equal("Float32", r.Metadata["mocgen.weights"]);
        }

        var loaded = new float[weights.Length];
        var info = ModelCheckpoint.Load(path, plan, loaded);
        Assert.Equal(weights, loaded);
        Assert.Equal(1, info.FormatVersion);
        Assert.Equal("Tiny", info.ModelName);
        Assert.False(info.HasOptimizerMoments);
        Assert.Null(info.Training);
        Assert.Empty(info.Notes);
        Assert.Empty(info.IgnoredTensors);
    }

    [Fact]
    public void BF16RoundTripRoundsToNearestEven()
    {
        var plan = CheckpointTestPlans.Make(weights: WeightPrecision.BFloat16);
        var weights = CheckpointTestPlans.Random(plan, 2);
        weights[0] = 1.01171875f;  // 0x3F818000: a tie with an odd upper half, rounds up to 1.015625 (0x3F82)
        weights[1] = 1.00390625f;  // 0x3F808000: a tie with an even upper half, rounds down to 1.0
        weights[2] = -3.14159265f; // 0xC0490FDB: -3.140625 (0xC049)
        var path = _dir.File("bf16.safetensors");
        ModelCheckpoint.Save(path, plan, weights);
        using (var r = SafeTensors.Open(path))
        {
            Assert.All(r.Tensors, t => Assert.Equal(SafeTensorDType.BF16, t.DType));
            Assert.Equal(2 * plan.ParameterCount, r.FileLength - r.DataStart); // two bytes per weight
        }

        var loaded = new float[weights.Length];
        ModelCheckpoint.Load(path, plan, loaded);
        Assert.Equal(1.015625f, loaded[0]);
        Assert.Equal(1.0f, loaded[1]);
        Assert.Equal(-3.140625f, loaded[2]);
        for (int i = 0; i < weights.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(weights[i]);
            uint up = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000u;
            Assert.Equal(BitConverter.UInt32BitsToSingle(up), loaded[i]);
        }
    }

    [Fact]
    public void TrainingStateRoundTripsAndIsOptional()
    {
        var plan = CheckpointTestPlans.Make(weights: WeightPrecision.BFloat16);
        var weights = CheckpointTestPlans.Random(plan, 3);
        var m = CheckpointTestPlans.Random(plan, 4);
        var v = CheckpointTestPlans.Random(plan, 5).Select(Math.Abs).ToArray();
        var progress = new TrainingProgress(1234, 1200, 3e-4 / 7, [0xDEADBEEFCAFEBABEUL, 1UL, ulong.MaxValue]);
        var path = _dir.File("train.safetensors");
        ModelCheckpoint.Save(path, plan, weights, m, v, progress);

        using (var r = SafeTensors.Open(path))
        {
            Assert.Equal(3 * plan.Parameters.Count, r.Tensors.Count);
            var p = plan.Parameters[3];
            Assert.Equal(SafeTensorDType.BF16, r.GetTensor(p.Name).DType);
            Assert.Equal(SafeTensorDType.F32, r.GetTensor("optimizer.m." + p.Name).DType);
            Assert.Equal(SafeTensorDType.F32, r.GetTensor("optimizer.v." + p.Name).DType);
            Assert.Equal("deadbeefcafebabe,0000000000000001,ffffffffffffffff", r.Metadata["mocgen.training.random_state"]);
        }

        var w2 = new float[weights.Length];
        var m2 = new float[weights.Length];
        var v2 = new float[weights.Length];
        var info = ModelCheckpoint.Load(path, plan, w2, m2, v2);
        Assert.True(info.HasOptimizerMoments);
        Assert.True(info.OptimizerMomentsLoaded);
        Assert.Equal(m, m2); // moments are F32: exact
        Assert.Equal(v, v2);
        Assert.NotNull(info.Training);
        Assert.Equal(1234, info.Training!.Step);
        Assert.Equal(1200, info.Training.ScheduleStep);
        Assert.Equal(3e-4 / 7, info.Training.LearningRate);
        Assert.Equal(progress.RandomState, info.Training.RandomState);

        // Weights only from a training checkpoint: moments checked, not copied.
        var w3 = new float[weights.Length];
        var weightsOnly = ModelCheckpoint.Load(path, plan, w3);
        Assert.Equal(w2, w3);
        Assert.True(weightsOnly.HasOptimizerMoments);
        Assert.False(weightsOnly.OptimizerMomentsLoaded);

        // Moment buffers given, file without moments: reported, buffers untouched.
        var plain = _dir.File("plain.safetensors");
        ModelCheckpoint.Save(plain, plan, weights);
        var untouchedM = Enumerable.Repeat(7f, weights.Length).ToArray();
        var untouchedV = Enumerable.Repeat(7f, weights.Length).ToArray();
        var none = ModelCheckpoint.Load(plain, plan, w3, untouchedM, untouchedV);
        Assert.False(none.HasOptimizerMoments);
        Assert.False(none.OptimizerMomentsLoaded);
        Assert.Null(none.Training);
        Assert.All(untouchedM, x => Assert.Equal(7f, x));

        Assert.Throws<ArgumentException>(() => ModelCheckpoint.Save(plain, plan, weights, m, default, null));
    }

    [Fact]
    public void MasterWeightsCanBeKeptInF32ForABFloat16Model()
    {
        var plan = CheckpointTestPlans.Make(weights: WeightPrecision.BFloat16);
        var weights = CheckpointTestPlans.Random(plan, 6);
        var path = _dir.File("master.safetensors");
        var f32 = new CheckpointOptions { WeightsDType = SafeTensorDType.F32 };
        ModelCheckpoint.Save(path, plan, weights, f32);
        var loaded = new float[weights.Length];
        ModelCheckpoint.Load(path, plan, loaded, f32);
        Assert.Equal(weights, loaded);

        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(path, plan, loaded));
        Assert.Equal("model.embed_tokens.weight", e.TensorName);
        Assert.Contains("wrong dtype: the file has F32, expected BF16", e.Message);
        Assert.Contains("ConvertPrecision", e.Message);
        ModelCheckpoint.Load(path, plan, loaded, new CheckpointOptions { ConvertPrecision = true });
        Assert.Equal(weights, loaded);
    }

    /// <summary>
    /// The runtime keeps down_proj as [d_ff, d]; the file must hold the HF layout [d, d_ff]. Several row blocks
    /// (d_ff = 4096 gives 16 rows per block, d = 48 rows) and the moments go through the same hook.
    /// </summary>
    [Theory]
    [InlineData(8, 12)]
    [InlineData(48, 4096)]
    public void TransposedInMemoryIsWrittenInCheckpointLayout(int hidden, int intermediate)
    {
        var plan = CheckpointTestPlans.Make(hidden: hidden, intermediate: intermediate, heads: 4, kvHeads: 2, layers: 1);
        var memory = CheckpointTestPlans.Random(plan, 7);
        var m = CheckpointTestPlans.Random(plan, 8);
        var options = new CheckpointOptions { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed };
        var down = plan.Parameter("model.layers.0.mlp.down_proj.weight");
        Assert.True(options.TransposedInMemory(down));
        Assert.False(options.TransposedInMemory(plan.Parameter("model.layers.0.mlp.up_proj.weight")));
        var path = _dir.File("t.safetensors");
        ModelCheckpoint.Save(path, plan, memory, m, m, null, options);

        using (var r = SafeTensors.Open(path))
        {
            var file = r.ReadArray(down.Name);
            var fileM = r.ReadArray("optimizer.m." + down.Name);
            Assert.Equal(new long[] { hidden, intermediate }, r.GetTensor(down.Name).Shape);
            for (int row = 0; row < hidden; row++)
                for (int col = 0; col < intermediate; col++)
                {
                    // file [row, col] of W_d ([d, d_ff]) is memory [col, row] of W_d^T ([d_ff, d])
                    Assert.Equal(memory[down.Offset + (long)col * hidden + row], file[row * intermediate + col]);
                    Assert.Equal(m[down.Offset + (long)col * hidden + row], fileM[row * intermediate + col]);
                }
            var up = plan.Parameter("model.layers.0.mlp.up_proj.weight");
            Assert.Equal(memory.AsSpan((int)up.Offset, (int)up.Elements).ToArray(), r.ReadArray(up.Name));
        }

        var loaded = new float[memory.Length];
        var loadedM = new float[memory.Length];
        ModelCheckpoint.Load(path, plan, loaded, loadedM, new float[memory.Length], options);
        Assert.Equal(memory, loaded);
        Assert.Equal(m, loadedM);

        // Without the hook the same bytes land in HF layout: different from the transposed memory.
        var plain = new float[memory.Length];
        ModelCheckpoint.Load(path, plan, plain);
        Assert.NotEqual(memory.AsSpan((int)down.Offset, (int)down.Elements).ToArray(),
            plain.AsSpan((int)down.Offset, (int)down.Elements).ToArray());
    }

    [Fact]
    public void SizeMismatchIsExplained()
    {
        var path = _dir.File("big.safetensors");
        var big = CheckpointTestPlans.Make(hidden: 16);
        ModelCheckpoint.Save(path, big, CheckpointTestPlans.Random(big, 1));
        var small = CheckpointTestPlans.Make(hidden: 8);
        var e = Assert.Throws<CheckpointException>(() =>
            ModelCheckpoint.Load(path, small, new float[ModelCheckpoint.RequiredLength(small)]));
        Assert.Contains("checkpoint is for Hidden=16, this model has Hidden=8", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Null(e.TensorName);

        var deeper = CheckpointTestPlans.Make(hidden: 8, layers: 3, vocab: 20);
        e = Assert.Throws<CheckpointException>(() =>
            ModelCheckpoint.Load(path, deeper, new float[ModelCheckpoint.RequiredLength(deeper)]));
        Assert.Contains("checkpoint is for Vocab=16, Hidden=16, Layers=2, this model has Vocab=20, Hidden=8, Layers=3", e.Message);
    }

    [Fact]
    public void DifferencesThatKeepShapesAreNotes()
    {
        var path = _dir.File("notes.safetensors");
        var a = CheckpointTestPlans.Make(topK: 4, name: "A");
        var weights = CheckpointTestPlans.Random(a, 1);
        ModelCheckpoint.Save(path, a, weights);
        var b = CheckpointTestPlans.Make(topK: 12, name: "B");
        var loaded = new float[weights.Length];
        var info = ModelCheckpoint.Load(path, b, loaded);
        Assert.Equal(weights, loaded);
        Assert.Contains("checkpoint is for TopK=4, this model has TopK=12", info.Notes);
        Assert.Contains("checkpoint is for model A, this model is B", info.Notes);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var (plan, path) = Saved();
        const string gone = "model.layers.1.mlp.up_proj.weight";
        Rewrite(path, t => t.Name == gone ? null : t);
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal(gone, e.TensorName);
        Assert.Contains("missing tensor", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void RenamedTensorIsMissingAndTheStrangerIsShown()
    {
        var (plan, path) = Saved();
        Rewrite(path, t => t.Name == "model.norm.weight" ? t with { Name = "model.nrom.weight" } : t);
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal("model.norm.weight", e.TensorName);
        Assert.Contains("e.g. 'model.nrom.weight'", e.Message);
    }

    [Fact]
    public void UnexpectedTensorIsRefusedUnlessAllowed()
    {
        var (plan, path) = Saved();
        Rewrite(path, t => t, extra: new TensorSpec("model.layers.0.mlp.router.weight", SafeTensorDType.F32, new long[] { 3 }));
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal("model.layers.0.mlp.router.weight", e.TensorName);
        Assert.Contains("unexpected tensor", e.Message);
        var info = ModelCheckpoint.Load(path, plan, new float[ModelCheckpoint.RequiredLength(plan)],
            new CheckpointOptions { AllowUnexpectedTensors = true });
        Assert.Equal(new[] { "model.layers.0.mlp.router.weight" }, info.IgnoredTensors);
    }

    [Fact]
    public void WrongShapeShowsBothShapes()
    {
        var (plan, path) = Saved();
        const string gate = "model.layers.0.mlp.gate_proj.weight";
        Rewrite(path, t => t.Name == gate ? t with { Shape = new long[] { 8, 12 } } : t);
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal(gate, e.TensorName);
        Assert.Contains("wrong shape: the file has [8, 12], expected [12, 8]", e.Message);
    }

    [Fact]
    public void WrongDTypeIsRefusedUnlessConverting()
    {
        var (plan, path) = Saved();
        const string q = "model.layers.0.self_attn.q_proj.weight";
        Rewrite(path, t => t.Name == q ? t with { DType = SafeTensorDType.BF16 } : t);
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal(q, e.TensorName);
        Assert.Contains("wrong dtype: the file has BF16, expected F32", e.Message);
        ModelCheckpoint.Load(path, plan, new float[ModelCheckpoint.RequiredLength(plan)], new CheckpointOptions { ConvertPrecision = true });
    }

    [Fact]
    public void NaNAndInfinityAreNamedWithTheirIndex()
    {
        var (plan, path) = Saved();
        const string o = "model.layers.1.self_attn.o_proj.weight";
        Rewrite(path, t => t, (name, values) =>
        {
            if (name == o) values[2 * 8 + 5] = float.NaN;
        });
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal(o, e.TensorName);
        Assert.Contains("NaN at element 21 (index [2, 5]) is not finite", e.Message);
        Assert.Contains(path, e.Message);

        ModelCheckpoint.Save(path, plan, CheckpointTestPlans.Random(plan, 1));
        Rewrite(path, t => t, (name, values) =>
        {
            if (name == "model.norm.weight") values[3] = float.NegativeInfinity;
        });
        e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal("model.norm.weight", e.TensorName);
        ModelCheckpoint.Load(path, plan, new float[ModelCheckpoint.RequiredLength(plan)], new CheckpointOptions { AllowNonFinite = true });

        // Saving refuses a diverged model outright and keeps the previous file.
        var before = File.ReadAllBytes(path);
        var bad = CheckpointTestPlans.Random(plan, 9);
        bad[^1] = float.PositiveInfinity;
        e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Save(path, plan, bad));
        Assert.Equal("lm_head.weight", e.TensorName);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void IncompleteOrMistypedMomentsAreRefused()
    {
        var plan = CheckpointTestPlans.Make();
        var w = CheckpointTestPlans.Random(plan, 1);
        var path = _dir.File("moments.safetensors");
        ModelCheckpoint.Save(path, plan, w, w, w, new TrainingProgress(1, 1, 0.1, []));
        var name = "optimizer.v." + plan.Parameters[4].Name;
        File.Copy(path, path + ".orig");
        Rewrite(path, t => t.Name == name ? null : t);
        var e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal(name, e.TensorName);

        File.Copy(path + ".orig", path, overwrite: true);
        Rewrite(path, t => t.Name == name ? t with { DType = SafeTensorDType.BF16 } : t);
        e = Assert.Throws<CheckpointException>(() => Load(plan, path));
        Assert.Equal(name, e.TensorName);
        Assert.Contains("wrong dtype: the file has BF16, expected F32", e.Message);
    }

    [Fact]
    public void NewerFormatAndBadMetadataAreRefused()
    {
        var (plan, path) = Saved();
        File.Copy(path, path + ".orig");
        Rewrite(path, t => t, metadata: md => md["mocgen.format_version"] = "2");
        Assert.Contains("format version 2; this runtime reads versions up to 1",
            Assert.Throws<CheckpointException>(() => Load(plan, path)).Message);

        File.Copy(path + ".orig", path, overwrite: true);
        Rewrite(path, t => t, metadata: md => md["mocgen.hidden"] = "eight");
        Assert.Contains("mocgen.hidden='eight' is not a size", Assert.Throws<CheckpointException>(() => Load(plan, path)).Message);

        File.Copy(path + ".orig", path, overwrite: true);
        Rewrite(path, t => t, metadata: md => md["mocgen.training.step"] = "12x");
        Assert.Contains("mocgen.training.step='12x' is not an integer", Assert.Throws<CheckpointException>(() => Load(plan, path)).Message);
    }

    [Fact]
    public void FileWithoutMoCGenMetadataLoadsByNamesAndShapes()
    {
        var (plan, path) = Saved();
        var weights = new float[ModelCheckpoint.RequiredLength(plan)];
        ModelCheckpoint.Load(path, plan, weights);
        Rewrite(path, t => t, metadata: md => md.Clear());
        var again = new float[weights.Length];
        var info = ModelCheckpoint.Load(path, plan, again);
        Assert.Equal(weights, again);
        Assert.Equal(0, info.FormatVersion);
        Assert.Single(info.Notes);
    }

    [Fact]
    public void BadArgumentsAreArgumentExceptions()
    {
        var plan = CheckpointTestPlans.Make();
        var path = _dir.File("args.safetensors");
        var w = CheckpointTestPlans.Random(plan, 1);
        Assert.Throws<ArgumentException>(() => ModelCheckpoint.Save(path, plan, w.AsSpan(1)));
        Assert.Throws<ArgumentException>(() => ModelCheckpoint.Save(path, plan, w,
            new CheckpointOptions { Metadata = new Dictionary<string, string> { ["mocgen.hidden"] = "1" } }));
        ModelCheckpoint.Save(path, plan, w, new CheckpointOptions { Metadata = new Dictionary<string, string> { ["run"] = "r1" } });
        Assert.Throws<ArgumentException>(() => ModelCheckpoint.Load(path, plan, new float[w.Length - 1]));
        Assert.Equal("r1", ModelCheckpoint.Load(path, plan, w).Metadata["run"]);
    }

    /// <summary>
    /// Every single-byte corruption of the length prefix and the header (one bit flipped per byte, which bit varying) either fails
    /// with a CheckpointException naming the file, or loads exactly the same weights (a flip in a free-form metadata
    /// value such as the model name). Never another exception, never different weights.
    /// </summary>
    [Fact]
    public void EveryHeaderByteFlipIsCaughtOrHarmless()
    {
        var plan = CheckpointTestPlans.Make(layers: 1);
        var weights = CheckpointTestPlans.Random(plan, 11);
        var good = _dir.File("good.safetensors");
        ModelCheckpoint.Save(good, plan, weights, weights, weights, new TrainingProgress(5, 5, 0.5, [42UL]));
        var original = File.ReadAllBytes(good);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
        var path = _dir.File("flipped.safetensors");
        var loaded = new float[weights.Length];
        int caught = 0, harmless = 0;
        var masks = new byte[] { 0x01, 0x04, 0x80, 0x02, 0x40, 0x10 }; // one flip per byte, the bit varying
        for (int i = 0; i < headerEnd; i++)
        {
            byte mask = masks[i % masks.Length];
            var bytes = (byte[])original.Clone();
            bytes[i] ^= mask;
            File.WriteAllBytes(path, bytes);
            Array.Clear(loaded);
            try
            {
                ModelCheckpoint.Load(path, plan, loaded);
                Assert.True(weights.AsSpan().SequenceEqual(loaded), $"byte {i} ^ 0x{mask:x2} loaded different weights");
                harmless++;
            }
            catch (CheckpointException e)
            {
                Assert.Contains(path, e.Message);
                caught++;
            }
        }
        Assert.Equal(headerEnd, caught + harmless);
        Assert.True(caught > 2 * harmless, $"{caught} caught, {harmless} harmless");
    }

    private (CompiledPlan Plan, string Path) Saved()
    {
        var plan = CheckpointTestPlans.Make();
        var path = _dir.File("model.safetensors");
        ModelCheckpoint.Save(path, plan, CheckpointTestPlans.Random(plan, 1));
        return (plan, path);
    }

    private static CheckpointInfo Load(CompiledPlan plan, string path) =>
        ModelCheckpoint.Load(path, plan, new float[ModelCheckpoint.RequiredLength(plan)]);

    /// <summary>
    /// Rewrites a file tensor by tensor: <paramref name="map"/> may drop a tensor (null) or change its name, dtype or
    /// shape (same element count); <paramref name="values"/> may edit its values; <paramref name="extra"/> appends a tensor.
    /// </summary>
    private static void Rewrite(string path, Func<TensorSpec, TensorSpec?> map, Action<string, float[]>? values = null,
        TensorSpec? extra = null, Action<Dictionary<string, string>>? metadata = null)
    {
        var tensors = new List<TensorData>();
        Dictionary<string, string> md;
        using (var r = SafeTensors.Open(path))
        {
            md = new Dictionary<string, string>(r.Metadata);
            foreach (var t in r.Tensors)
            {
                if (map(new TensorSpec(t.Name, t.DType, t.Shape)) is not { } spec) continue;
                var data = r.ReadArray(t.Name, allowNonFinite: true);
                values?.Invoke(t.Name, data);
                tensors.Add(new TensorData(spec, data));
            }
        }
        if (extra is { } e) tensors.Add(new TensorData(e, new float[e.Elements]));
        metadata?.Invoke(md);
        SafeTensors.Write(path, tensors, md, allowNonFinite: true);
    }
}

/// <summary>Plans built the way the generator builds them (PlanBuilder.ParameterTable: HF names, checkpoint order).</summary>
internal static class CheckpointTestPlans
{
    public static CompiledPlan Make(string name = "Tiny", int vocab = 16, int hidden = 8, int intermediate = 12,
        int layers = 2, int heads = 2, int kvHeads = 1, int topK = 4, bool tie = false,
        WeightPrecision weights = WeightPrecision.Float32)
    {
        var list = new List<ParameterTensor>();
        long offset = 0;
        void Add(string n, int rows, int columns)
        {
            list.Add(new ParameterTensor(n, rows, columns, offset));
            offset += columns == 0 ? rows : (long)rows * columns;
        }
        int headDim = hidden / heads;
        int kv = kvHeads * headDim;
        Add("model.embed_tokens.weight", vocab, hidden);
        for (int i = 0; i < layers; i++)
        {
            var p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", hidden, 0);
            Add(p + "self_attn.q_proj.weight", hidden, hidden);
            Add(p + "self_attn.k_proj.weight", kv, hidden);
            Add(p + "self_attn.v_proj.weight", kv, hidden);
            Add(p + "self_attn.o_proj.weight", hidden, hidden);
            Add(p + "post_attention_layernorm.weight", hidden, 0);
            Add(p + "mlp.gate_proj.weight", intermediate, hidden);
            Add(p + "mlp.up_proj.weight", intermediate, hidden);
            Add(p + "mlp.down_proj.weight", hidden, intermediate);
        }
        Add("model.norm.weight", hidden, 0);
        if (!tie) Add("lm_head.weight", vocab, hidden);
        var shape = new ModelShape(name, vocab, hidden, intermediate, topK, layers, heads, kvHeads, headDim, 16, 2,
            10000, 1e-5, tie, weights, 2);
        var memory = new MemoryPlan(64, 0, 0, 0, [], default, new LayerFootprint(1, 1, 1), offset * 4, 0);
        var flops = new FlopCounts(1, default, default);
        return new CompiledPlan(shape, list, memory, flops, flops);
    }

    public static float[] Random(CompiledPlan plan, int seed)
    {
        var rng = new Random(seed);
        var values = new float[ModelCheckpoint.RequiredLength(plan)];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }
}
