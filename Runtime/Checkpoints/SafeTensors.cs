using System;
using System.Collections.Generic;

namespace MoCGen.Checkpoints;

/// <summary>
/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
/// N bytes of UTF-8 JSON <c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}</c>
/// padded with spaces to 8-byte alignment, then the tensor data (offsets relative to its start).
/// Entry points for <see cref="SafeTensorsWriter"/> (atomic, streaming) and <see cref="SafeTensorsReader"/>
/// (validating, on demand).
/// </summary>
public static class SafeTensors
{
    /// <summary>The header key holding string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes tensors and metadata to <paramref name="path"/> atomically (see <see cref="SafeTensorsWriter"/>).</summary>
    /// <exception cref="ArgumentException">A bad name or shape, or a value count that does not match its shape.</exception>
    /// <exception cref="CheckpointException">A NaN or infinity while <paramref name="allowNonFinite"/> is false; the
    /// existing file is then unchanged.</exception>
    public static void Write(string path, IReadOnlyList<TensorData> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var specs = new TensorSpec[tensors.Count];
        for (int i = 0; i < specs.Length; i++)
        {
            specs[i] = tensors[i].Spec;
            if (tensors[i].Values.Length != specs[i].Elements)
                throw new ArgumentException(
                    $"Tensor '{specs[i].Name}' has {specs[i].Elements} elements; {tensors[i].Values.Length} values given.",
                    nameof(tensors));
        }
        using var writer = SafeTensorsWriter.Create(path, specs, metadata, allowNonFinite);
        foreach (var t in tensors) writer.Write(t.Values.Span);
        writer.Commit();
    }

    /// <summary>Opens a file for reading and validates its header (see <see cref="SafeTensorsReader"/>).</summary>
    /// <exception cref="CheckpointException">Missing, truncated or malformed.</exception>
    public static SafeTensorsReader Open(string path) => SafeTensorsReader.Open(path);

    /// <summary>fp32 to bfloat16 bits by round-to-nearest-even (NaN stays NaN; values past the bf16 range become infinities).</summary>
    public static ushort ToBFloat16(float value) => ElementConversion.ToBFloat16(value);

    /// <summary>bfloat16 bits to fp32 (exact).</summary>
    public static float FromBFloat16(ushort bits) => ElementConversion.FromBFloat16(bits);

    /// <summary>
    /// Removes temporary files (<c>&lt;name&gt;.tmp-&lt;pid&gt;-*</c>) left beside <paramref name="path"/> by writers that no
    /// longer run; every successful save does this. Returns how many were removed.
    /// </summary>
    public static int CleanStaleTempFiles(string path) => AtomicFile.CleanStale(System.IO.Path.GetFullPath(path));
}
