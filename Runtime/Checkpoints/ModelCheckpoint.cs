using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;

namespace MoCGen.Checkpoints;

/// <summary>
/// Saves and loads a model's weights, from and to its flat fp32 parameter buffer, as a safetensors file with
/// Hugging Face LLaMA tensor names and shapes (one tensor per <see cref="ParameterTensor"/>, norms as [n]), in
/// the model's stored precision. Optionally the same file carries the AdamW moments (F32 tensors
/// <c>optimizer.m.&lt;name&gt;</c> and <c>optimizer.v.&lt;name&gt;</c>) and the <see cref="TrainingProgress"/> (metadata).
/// Metadata records the model's sizes, so a mismatch is explained ("checkpoint is for Hidden=512, this model has
/// Hidden=256"); <c>"format": "pt"</c> is written too, so Hugging Face transformers accepts the file.
/// Saving is atomic (<see cref="SafeTensorsWriter"/>).
/// </summary>
public static class ModelCheckpoint
{
    /// <summary>The checkpoint format version written (metadata <c>mocgen.format_version</c>).</summary>
    public const int FormatVersion = 1;

    /// <summary>Name prefix of the AdamW first-moment tensors.</summary>
    public const string FirstMomentPrefix = "optimizer.m.";

    /// <summary>Name prefix of the AdamW second-moment tensors.</summary>
    public const string SecondMomentPrefix = "optimizer.v.";

    /// <summary>Prefix of the metadata keys this class writes.</summary>
    public const string MetadataPrefix = "mocgen.";

    private const string KeyVersion = MetadataPrefix + "format_version";
    private const string KeyModel = MetadataPrefix + "model";
    private const string KeyStep = MetadataPrefix + "training.step";
    private const string KeyScheduleStep = MetadataPrefix + "training.schedule_step";
    private const string KeyLearningRate = MetadataPrefix + "training.learning_rate";
    private const string KeyRandomState = MetadataPrefix + "training.random_state";
    private const string KeyOptimizer = MetadataPrefix + "optimizer";

    /// <summary>The runtime's in-memory layout: every <c>mlp.down_proj.weight</c> kept transposed, [d_ff, d].</summary>
    public static Func<ParameterTensor, bool> DownProjectionTransposed { get; } =
        p => p.Columns != 0 && p.Name.EndsWith(".mlp.down_proj.weight", StringComparison.Ordinal);

    /// <summary>Floats the parameter buffer (and each moment buffer) must hold for <paramref name="plan"/>.</summary>
    public static long RequiredLength(CompiledPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        long end = 0;
        foreach (var p in plan.Parameters) end = Math.Max(end, checked(p.Offset + p.Elements));
        return end;
    }

    /// <summary>Saves the weights alone.</summary>
    /// <exception cref="CheckpointException">A NaN or infinity (unless allowed); the existing file is then unchanged.</exception>
    public static void Save(string path, CompiledPlan plan, ReadOnlySpan<float> parameters, CheckpointOptions? options = null) =>
        Save(path, plan, parameters, default, default, null, options);

    /// <summary>
    /// Saves the weights and, when given, the AdamW moments (both or neither; same layout as the parameters) and
    /// the training progress, atomically.
    /// </summary>
    /// <param name="path">The checkpoint file (conventionally <c>*.safetensors</c>).</param>
    /// <param name="plan">The model's plan: names, shapes and offsets.</param>
    /// <param name="parameters">The flat fp32 parameter buffer.</param>
    /// <param name="firstMoment">AdamW m, laid out like <paramref name="parameters"/>, or empty.</param>
    /// <param name="secondMoment">AdamW v, laid out like <paramref name="parameters"/>, or empty.</param>
    /// <param name="training">Step, schedule position, random state; or null.</param>
    /// <param name="options">Layout, dtype and metadata options.</param>
    /// <exception cref="ArgumentException">A buffer too short, only one moment given, or reserved metadata keys.</exception>
    /// <exception cref="CheckpointException">A NaN or infinity (unless allowed); the existing file is then unchanged.</exception>
    public static void Save(string path, CompiledPlan plan, ReadOnlySpan<float> parameters,
        ReadOnlySpan<float> firstMoment, ReadOnlySpan<float> secondMoment, TrainingProgress? training,
        CheckpointOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        options ??= CheckpointOptions.Default;
        long required = RequiredLength(plan);
        CheckLength(parameters.Length, required, nameof(parameters));
        bool moments = !firstMoment.IsEmpty || !secondMoment.IsEmpty;
        if (moments)
        {
            CheckLength(firstMoment.Length, required, nameof(firstMoment));
            CheckLength(secondMoment.Length, required, nameof(secondMoment));
        }

        var weights = options.WeightsDType ?? SafeTensorDTypes.For(plan.Shape.Weights);
        var specs = new List<TensorSpec>(plan.Parameters.Count * (moments ? 3 : 1));
        foreach (var p in plan.Parameters) specs.Add(new TensorSpec(p.Name, weights, p.Shape));
        if (moments)
        {
            foreach (var p in plan.Parameters) specs.Add(new TensorSpec(FirstMomentPrefix + p.Name, SafeTensorDType.F32, p.Shape));
            foreach (var p in plan.Parameters) specs.Add(new TensorSpec(SecondMomentPrefix + p.Name, SafeTensorDType.F32, p.Shape));
        }

        using var writer = SafeTensorsWriter.Create(path, specs, BuildMetadata(plan, moments, training, options),
            options.AllowNonFinite);
        var scratch = Array.Empty<float>();
        try
        {
            WriteBuffer(writer, plan, parameters, options, ref scratch);
            if (moments)
            {
                WriteBuffer(writer, plan, firstMoment, options, ref scratch);
                WriteBuffer(writer, plan, secondMoment, options, ref scratch);
            }
        }
        finally
        {
            if (scratch.Length > 0) ArrayPool<float>.Shared.Return(scratch);
        }
        writer.Commit();
    }

    /// <summary>Loads the weights alone (AdamW moments in the file are validated and skipped).</summary>
    /// <exception cref="CheckpointException">The file is damaged or does not fit the model.</exception>
    public static CheckpointInfo Load(string path, CompiledPlan plan, Span<float> parameters, CheckpointOptions? options = null) =>
        Load(path, plan, parameters, default, default, options);

    /// <summary>
    /// Loads the weights and, when the file has them and buffers are given, the AdamW moments. Everything structural
    /// (sizes, names, shapes, dtypes, metadata) is validated before any buffer is touched; a NaN or infinity is only
    /// found while copying, so after such an error the buffers may be partly overwritten.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="plan">The model's plan.</param>
    /// <param name="parameters">Receives the weights (fp32; BF16 values are widened exactly).</param>
    /// <param name="firstMoment">Receives AdamW m when the file has moments; empty to skip them.</param>
    /// <param name="secondMoment">Receives AdamW v likewise.</param>
    /// <param name="options">Layout and strictness options.</param>
    /// <returns>What the file held: version, metadata, whether moments were loaded, training progress, notes.</returns>
    /// <exception cref="ArgumentException">A buffer too short, or only one moment buffer given.</exception>
    /// <exception cref="CheckpointException">The file is damaged or does not fit the model; the message names the
    /// file and, where one is at fault, the tensor.</exception>
    public static CheckpointInfo Load(string path, CompiledPlan plan, Span<float> parameters,
        Span<float> firstMoment, Span<float> secondMoment, CheckpointOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        options ??= CheckpointOptions.Default;
        long required = RequiredLength(plan);
        CheckLength(parameters.Length, required, nameof(parameters));
        bool wantMoments = !firstMoment.IsEmpty || !secondMoment.IsEmpty;
        if (wantMoments)
        {
            CheckLength(firstMoment.Length, required, nameof(firstMoment));
            CheckLength(secondMoment.Length, required, nameof(secondMoment));
        }

        using var reader = SafeTensorsReader.Open(path);
        var notes = new List<string>();
        int version = CheckMetadata(reader, plan, notes);
        var training = ReadProgress(reader);

        var expected = new HashSet<string>(StringComparer.Ordinal);
        var weights = options.ConvertPrecision ? (SafeTensorDType?)null : options.WeightsDType ?? SafeTensorDTypes.For(plan.Shape.Weights);
        var weightInfo = new SafeTensorInfo[plan.Parameters.Count];
        for (int i = 0; i < weightInfo.Length; i++)
            weightInfo[i] = Expect(reader, plan, plan.Parameters[i].Name, plan.Parameters[i].Shape, weights, expected);
        bool hasMoments = reader.Tensors.Any(t =>
            t.Name.StartsWith(FirstMomentPrefix, StringComparison.Ordinal) ||
            t.Name.StartsWith(SecondMomentPrefix, StringComparison.Ordinal));
        SafeTensorInfo[]? mInfo = null, vInfo = null;
        if (hasMoments)
        {
            mInfo = new SafeTensorInfo[plan.Parameters.Count];
            vInfo = new SafeTensorInfo[plan.Parameters.Count];
            for (int i = 0; i < mInfo.Length; i++)
            {
                var p = plan.Parameters[i];
                mInfo[i] = Expect(reader, plan, FirstMomentPrefix + p.Name, p.Shape, SafeTensorDType.F32, expected);
                vInfo[i] = Expect(reader, plan, SecondMomentPrefix + p.Name, p.Shape, SafeTensorDType.F32, expected);
            }
        }
        var ignored = new List<string>();
        foreach (var t in reader.Tensors)
        {
            if (expected.Contains(t.Name)) continue;
            if (!options.AllowUnexpectedTensors)
                throw new CheckpointException(reader.FilePath, t.Name,
                    $"unexpected tensor: model {plan.Shape.Name} has no parameter of this name " +
                    "(set CheckpointOptions.AllowUnexpectedTensors to ignore it)");
            ignored.Add(t.Name);
        }

        ReadBuffer(reader, plan, weightInfo, parameters, options);
        if (hasMoments && wantMoments)
        {
            ReadBuffer(reader, plan, mInfo!, firstMoment, options);
            ReadBuffer(reader, plan, vInfo!, secondMoment, options);
        }

        reader.Metadata.TryGetValue(KeyModel, out var modelName);
        return new CheckpointInfo(reader.FilePath, version, modelName, reader.Metadata, hasMoments,
            hasMoments && wantMoments, training, ignored, notes);
    }

    private static void CheckLength(int length, long required, string name)
    {
        if (length < required)
            throw new ArgumentException($"The buffer holds {length} floats; the model needs {required}.", name);
    }

    private static SafeTensorInfo Expect(SafeTensorsReader reader, CompiledPlan plan, string name, int[] shape,
        SafeTensorDType? dtype, HashSet<string> expected)
    {
        expected.Add(name);
        if (!reader.TryGetTensor(name, out _))
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in plan.Parameters)
            {
                names.Add(p.Name);
                names.Add(FirstMomentPrefix + p.Name);
                names.Add(SecondMomentPrefix + p.Name);
            }
            var stranger = reader.Tensors.FirstOrDefault(t => !names.Contains(t.Name)).Name;
            throw new CheckpointException(reader.FilePath, name,
                $"missing tensor: model {plan.Shape.Name} needs it and the file ({reader.Tensors.Count} tensors) has none of this name" +
                (stranger is null ? "" : $"; the file has tensors the model does not expect, e.g. '{stranger}'"));
        }
        var longShape = Array.ConvertAll(shape, d => (long)d);
        var t = reader.Expect(name, null, longShape);
        if (dtype is { } d && t.DType != d)
            throw new CheckpointException(reader.FilePath, name,
                $"wrong dtype: the file has {t.DType.Name()}, expected {d.Name()}" +
                (name.StartsWith("optimizer.", StringComparison.Ordinal) ? "" :
                    $" (model {plan.Shape.Name} stores {plan.Shape.Weights} weights; set CheckpointOptions.ConvertPrecision to convert)"));
        return t;
    }

    private static void WriteBuffer(SafeTensorsWriter writer, CompiledPlan plan, ReadOnlySpan<float> buffer,
        CheckpointOptions options, ref float[] scratch)
    {
        foreach (var p in plan.Parameters)
        {
            var src = buffer.Slice(checked((int)p.Offset), checked((int)p.Elements));
            if (p.Columns == 0 || options.TransposedInMemory is not { } transposed || !transposed(p))
            {
                writer.Write(src);
                continue;
            }
            // Memory holds [Columns, Rows]; the file gets [Rows, Columns], a block of file rows at a time.
            int rows = p.Rows, cols = p.Columns;
            int block = Math.Clamp((1 << 16) / cols, 1, rows);
            Rent(ref scratch, block * cols);
            for (int r0 = 0; r0 < rows; r0 += block)
            {
                int rb = Math.Min(block, rows - r0);
                for (int c = 0; c < cols; c++)
                {
                    var column = src.Slice(c * rows + r0, rb);
                    for (int i = 0; i < rb; i++) scratch[i * cols + c] = column[i];
                }
                writer.Write(scratch.AsSpan(0, rb * cols));
            }
        }
    }

    private static unsafe void ReadBuffer(SafeTensorsReader reader, CompiledPlan plan, SafeTensorInfo[] info, Span<float> buffer,
        CheckpointOptions options)
    {
        // Tensors are independent and the reader's reads are positional: up to one worker per core, each taking the next
        // tensor, largest first so that the big matrices spread over the workers. The first error wins and is rethrown.
        var order = Enumerable.Range(0, info.Length).OrderByDescending(k => plan.Parameters[k].Elements).ToArray();
        int workers = Math.Min(Environment.ProcessorCount, info.Length);
        int next = -1;
        Exception? failure = null;
        fixed (float* start = buffer)
        {
            float* basePointer = start;
            void Work()
            {
                var local = Array.Empty<float>();
                try
                {
                    int i;
                    while (failure is null && (i = Interlocked.Increment(ref next)) < order.Length)
                    {
                        int k = order[i];
                        var p = plan.Parameters[k];
                        var dst = new Span<float>(basePointer + p.Offset, checked((int)p.Elements));
                        ReadTensor(reader, p, info[k], dst, options, ref local);
                    }
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                }
                finally
                {
                    if (local.Length > 0) ArrayPool<float>.Shared.Return(local);
                }
            }
            if (workers <= 1) Work();
            else
            {
                var threads = new Thread[workers - 1];
                for (int t = 0; t < threads.Length; t++)
                {
                    threads[t] = new Thread(Work) { IsBackground = true, Name = "checkpoint read " + t };
                    threads[t].Start();
                }
                Work();
                foreach (var thread in threads) thread.Join();
            }
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
    }

    /// <summary>Reads one tensor into its place; a tensor kept transposed in memory is read a block of rows at a time and transposed in tiles.</summary>
    private static void ReadTensor(SafeTensorsReader reader, ParameterTensor p, SafeTensorInfo info, Span<float> dst,
        CheckpointOptions options, ref float[] scratch)
    {
        if (p.Columns == 0 || options.TransposedInMemory is not { } transposed || !transposed(p))
        {
            reader.ReadRange(info, 0, dst, options.AllowNonFinite);
            return;
        }
        int rows = p.Rows, cols = p.Columns;
        int block = Math.Clamp((1 << 18) / cols, 1, rows);
        Rent(ref scratch, block * cols);
        for (int r0 = 0; r0 < rows; r0 += block)
        {
            int rb = Math.Min(block, rows - r0);
            reader.ReadRange(info, (long)r0 * cols, scratch.AsSpan(0, rb * cols), options.AllowNonFinite);
            // dst[c * rows + r0 + i] = scratch[i * cols + c], in 16 x 16 tiles so both sides stay in cache lines.
            const int tile = 16;
            for (int c0 = 0; c0 < cols; c0 += tile)
            {
                int cEnd = Math.Min(c0 + tile, cols);
                for (int i0 = 0; i0 < rb; i0 += tile)
                {
                    int iEnd = Math.Min(i0 + tile, rb);
                    for (int c = c0; c < cEnd; c++)
                    {
                        var column = dst.Slice(c * rows + r0);
                        for (int i = i0; i < iEnd; i++) column[i] = scratch[i * cols + c];
                    }
                }
            }
        }
    }

    private static void Rent(ref float[] scratch, int length)
    {
        if (scratch.Length >= length) return;
        if (scratch.Length > 0) ArrayPool<float>.Shared.Return(scratch);
        scratch = ArrayPool<float>.Shared.Rent(length);
    }

    /// <summary>The metadata written for a model: format, version, sizes, training progress, the caller's extras.</summary>
    private static Dictionary<string, string> BuildMetadata(CompiledPlan plan, bool moments, TrainingProgress? training,
        CheckpointOptions options)
    {
        var m = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = "pt",
            [KeyVersion] = Int(FormatVersion),
            [KeyModel] = plan.Shape.Name,
        };
        foreach (var size in Sizes(plan.Shape)) m[MetadataPrefix + size.Key] = size.Value;
        if (moments) m[KeyOptimizer] = "adamw";
        if (training is not null)
        {
            m[KeyStep] = Int(training.Step);
            m[KeyScheduleStep] = Int(training.ScheduleStep);
            m[KeyLearningRate] = training.LearningRate.ToString("R", CultureInfo.InvariantCulture);
            m[KeyRandomState] = string.Join(",", (training.RandomState ?? []).Select(w => w.ToString("x16", CultureInfo.InvariantCulture)));
        }
        if (options.Metadata is { } extra)
            foreach (var (key, value) in extra)
            {
                if (key == "format" || key.StartsWith(MetadataPrefix, StringComparison.Ordinal))
                    throw new ArgumentException($"Metadata key '{key}' is reserved.", nameof(options));
                m[key] = value;
            }
        return m;
    }

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Real(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// The recorded sizes, as (metadata key suffix, display name, value, whether a difference prevents loading).
    /// Shape-defining sizes and the head split are fatal; the rest only change how the weights are used.
    /// </summary>
    private static IEnumerable<(string Key, string Display, string Value, bool Fatal)> SizeTable(ModelShape s) =>
    [
        ("vocab", "Vocab", Int(s.Vocab), true),
        ("hidden", "Hidden", Int(s.Hidden), true),
        ("intermediate", "Intermediate", Int(s.Intermediate), true),
        ("layers", "Layers", Int(s.Layers), true),
        ("heads", "Heads", Int(s.Heads), true),
        ("kv_heads", "KvHeads", Int(s.KvHeads), true),
        ("tie_embeddings", "TieEmbeddings", s.TieEmbeddings ? "true" : "false", true),
        ("top_k", "TopK", Int(s.TopK), false),
        ("context", "Context", Int(s.Context), false),
        ("batch", "Batch", Int(s.Batch), false),
        ("rope_theta", "RopeTheta", Real(s.RopeTheta), false),
        ("norm_eps", "NormEps", Real(s.NormEps), false),
        ("weights", "Weights", s.Weights.ToString(), false),
    ];

    private static IEnumerable<KeyValuePair<string, string>> Sizes(ModelShape s) =>
        SizeTable(s).Select(e => new KeyValuePair<string, string>(e.Key, e.Value));

    /// <summary>Checks the version and the recorded sizes; returns the version (0 without MoCGen metadata).</summary>
    private static int CheckMetadata(SafeTensorsReader reader, CompiledPlan plan, List<string> notes)
    {
        var md = reader.Metadata;
        if (!md.TryGetValue(KeyVersion, out var versionText))
        {
            notes.Add("the file has no MoCGen metadata; checked by tensor names, shapes and dtypes only");
            return 0;
        }
        if (!int.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version < 1)
            throw new CheckpointException(reader.FilePath, null, $"metadata {KeyVersion}='{versionText}' is not a format version");
        if (version > FormatVersion)
            throw new CheckpointException(reader.FilePath, null,
                $"written in checkpoint format version {version}; this runtime reads versions up to {FormatVersion}");

        var fileFatal = new StringBuilder();
        var modelFatal = new StringBuilder();
        foreach (var (key, display, value, fatal) in SizeTable(plan.Shape))
        {
            if (!md.TryGetValue(MetadataPrefix + key, out var recorded)) continue;
            if (Same(key, recorded, value, reader.FilePath)) continue;
            if (fatal)
            {
                if (fileFatal.Length > 0) { fileFatal.Append(", "); modelFatal.Append(", "); }
                fileFatal.Append(display).Append('=').Append(recorded);
                modelFatal.Append(display).Append('=').Append(value);
            }
            else
            {
                notes.Add($"checkpoint is for {display}={recorded}, this model has {display}={value}");
            }
        }
        md.TryGetValue(KeyModel, out var name);
        if (fileFatal.Length > 0)
            throw new CheckpointException(reader.FilePath, null,
                $"checkpoint is for {fileFatal}, this model has {modelFatal} " +
                $"(checkpoint model {name ?? "?"}, this model {plan.Shape.Name})");
        if (name is not null && name != plan.Shape.Name)
            notes.Add($"checkpoint is for model {name}, this model is {plan.Shape.Name}");
        return version;
    }

    private static bool Same(string key, string recorded, string value, string path)
    {
        switch (key)
        {
            case "tie_embeddings":
            case "weights":
                return recorded == value;
            case "rope_theta":
            case "norm_eps":
                if (!double.TryParse(recorded, NumberStyles.Float, CultureInfo.InvariantCulture, out double r))
                    throw new CheckpointException(path, null, $"metadata {MetadataPrefix}{key}='{recorded}' is not a number");
                return r == double.Parse(value, CultureInfo.InvariantCulture);
            default:
                if (!long.TryParse(recorded, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                    throw new CheckpointException(path, null, $"metadata {MetadataPrefix}{key}='{recorded}' is not a size");
                return n == long.Parse(value, CultureInfo.InvariantCulture);
        }
    }

    private static TrainingProgress? ReadProgress(SafeTensorsReader reader)
    {
        var md = reader.Metadata;
        if (!md.TryGetValue(KeyStep, out var stepText)) return null;
        long step = ParseLong(reader, KeyStep, stepText);
        long schedule = md.TryGetValue(KeyScheduleStep, out var s) ? ParseLong(reader, KeyScheduleStep, s) : step;
        double lr = 0;
        if (md.TryGetValue(KeyLearningRate, out var lrText) &&
            !double.TryParse(lrText, NumberStyles.Float, CultureInfo.InvariantCulture, out lr))
            throw new CheckpointException(reader.FilePath, null, $"metadata {KeyLearningRate}='{lrText}' is not a number");
        var words = new List<ulong>();
        if (md.TryGetValue(KeyRandomState, out var state) && state.Length > 0)
            foreach (var part in state.Split(','))
            {
                if (!ulong.TryParse(part, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong w))
                    throw new CheckpointException(reader.FilePath, null,
                        $"metadata {KeyRandomState}='{state}' is not a list of 64-bit hexadecimal words");
                words.Add(w);
            }
        return new TrainingProgress(step, schedule, lr, words);
    }

    private static long ParseLong(SafeTensorsReader reader, string key, string text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new CheckpointException(reader.FilePath, null, $"metadata {key}='{text}' is not an integer");
}
