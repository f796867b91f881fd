using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MoCGen.Checkpoints;

/// <summary>
/// Writes one safetensors file atomically, streaming the values: declare every tensor up front (the header is
/// written first), then give the values tensor after tensor with <see cref="Write"/> or <see cref="WriteTensor"/>,
/// then <see cref="Commit"/>. Everything goes to <c>&lt;name&gt;.tmp-&lt;pid&gt;-&lt;random&gt;</c> in the target's folder;
/// <see cref="Commit"/> flushes it to disk (fsync), renames it over the target (atomic on POSIX), fsyncs the folder
/// on Linux, and removes temporary files left by writers that crashed. Until the rename the target is untouched; a
/// writer disposed without <see cref="Commit"/> deletes its temporary file. Not thread-safe.
/// </summary>
public sealed class SafeTensorsWriter : IDisposable
{
    private const int StagingBytes = 1 << 20;

    private readonly TensorSpec[] _specs;
    private readonly long[] _elements;
    private readonly bool _allowNonFinite;
    private readonly byte[] _staging;
    private FileStream? _stream;
    private int _fill;
    private int _current;
    private long _writtenInCurrent;
    private bool _committed;
    private bool _disposed;

    private SafeTensorsWriter(string path, string tempPath, TensorSpec[] specs, long[] elements, bool allowNonFinite,
        byte[] header, long totalBytes)
    {
        FilePath = path;
        TempPath = tempPath;
        _specs = specs;
        _elements = elements;
        _allowNonFinite = allowNonFinite;
        TotalBytes = totalBytes;
        _staging = ArrayPool<byte>.Shared.Rent(StagingBytes);
        try
        {
            _stream = new FileStream(tempPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 0,
                PreallocationSize = totalBytes,
            });
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            _stream.Write(length);
            _stream.Write(header);
            SkipEmptyTensors();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts writing <paramref name="path"/>: validates the specs, writes the header to a new temporary file beside it.
    /// </summary>
    /// <param name="path">The checkpoint file; replaced only by <see cref="Commit"/>.</param>
    /// <param name="tensors">Every tensor, in the order their values will be given (also their order in the file).</param>
    /// <param name="metadata">String metadata stored under <c>__metadata__</c>, or null for none.</param>
    /// <param name="allowNonFinite">Accept NaN and infinities (refused by default, so that a diverged model never
    /// replaces a good checkpoint; a finite value that overflows BF16 or F16 is refused too).</param>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>, or a dimension is negative.</exception>
    public static SafeTensorsWriter Create(string path, IReadOnlyList<TensorSpec> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, bool allowNonFinite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var full = Path.GetFullPath(path);
        var specs = new TensorSpec[tensors.Count];
        var elements = new long[tensors.Count];
        for (int i = 0; i < specs.Length; i++)
        {
            specs[i] = tensors[i];
            if (!ElementConversion.TryElements(specs[i].Shape ?? [], out elements[i]) ||
                elements[i] > long.MaxValue / 8)
                throw new ArgumentException($"Tensor '{specs[i].Name}' has an invalid shape.", nameof(tensors));
        }
        var header = BuildHeader(specs, elements, metadata, out long dataBytes);
        var temp = AtomicFile.NewTempPath(full);
        try
        {
            return new SafeTensorsWriter(full, temp, specs, elements, allowNonFinite, header, 8 + header.Length + dataBytes);
        }
        catch
        {
            AtomicFile.Release(temp);
            throw;
        }
    }

    /// <summary>The target file (full path).</summary>
    public string FilePath { get; }

    /// <summary>The temporary file being written.</summary>
    public string TempPath { get; }

    /// <summary>Size of the finished file in bytes.</summary>
    public long TotalBytes { get; }

    /// <summary>The tensor whose values come next, or null when all were given.</summary>
    public string? NextTensor => _current < _specs.Length ? _specs[_current].Name : null;

    /// <summary>
    /// Gives the next values in file order: they fill the current tensor and may continue into the following ones,
    /// so a tensor can be given in pieces (a transposing caller gives it a block of rows at a time).
    /// </summary>
    /// <exception cref="InvalidOperationException">More values than declared, or the writer was committed or disposed.</exception>
    /// <exception cref="CheckpointException">A NaN or infinity, or a value that overflows the stored dtype.</exception>
    public void Write(ReadOnlySpan<float> values)
    {
        EnsureOpen();
        while (!values.IsEmpty)
        {
            if (_current >= _specs.Length)
                throw new InvalidOperationException($"More values than the {_specs.Length} declared tensors hold ({FilePath}).");
            long left = _elements[_current] - _writtenInCurrent;
            int n = (int)Math.Min(left, values.Length);
            WriteChunk(values[..n]);
            values = values[n..];
            SkipEmptyTensors();
        }
    }

    /// <summary>Gives all values of the next tensor, checking its name and element count.</summary>
    /// <exception cref="InvalidOperationException">Not the next tensor, part of it already given, or a wrong count.</exception>
    /// <exception cref="CheckpointException">A NaN or infinity, or a value that overflows the stored dtype.</exception>
    public void WriteTensor(string name, ReadOnlySpan<float> values)
    {
        EnsureOpen();
        if (NextTensor != name || _writtenInCurrent != 0)
            throw new InvalidOperationException($"Tensor '{name}' is not next; next is '{NextTensor}' ({FilePath}).");
        if (values.Length != _elements[_current])
            throw new InvalidOperationException(
                $"Tensor '{name}' has {_elements[_current]} elements; {values.Length} values given ({FilePath}).");
        Write(values);
    }

    /// <summary>
    /// Finishes the file: flushes and fsyncs it, renames it over the target, fsyncs the folder (Linux), removes stale
    /// temporary files of this target. After this the new checkpoint is in place.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not every tensor was given in full.</exception>
    public void Commit()
    {
        EnsureOpen();
        if (_current < _specs.Length)
            throw new InvalidOperationException(
                $"Tensor '{_specs[_current].Name}' has {_writtenInCurrent} of {_elements[_current]} values; not committing {FilePath}.");
        Flush();
        var stream = _stream!;
        if (stream.Position != TotalBytes)
            throw new InvalidOperationException($"Wrote {stream.Position} bytes, expected {TotalBytes} ({FilePath}).");
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        File.Move(TempPath, FilePath, overwrite: true);
        _committed = true;
        AtomicFile.Release(TempPath);
        DirectorySynced = AtomicFile.TrySyncDirectory(Path.GetDirectoryName(FilePath) ?? ".");
        AtomicFile.CleanStale(FilePath);
    }

    /// <summary>After <see cref="Commit"/>: whether the folder was fsynced too (Linux), making the rename durable.</summary>
    public bool DirectorySynced { get; private set; }

    /// <summary>Closes the writer; without <see cref="Commit"/> the temporary file is deleted and the target kept.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream?.Dispose();
        _stream = null;
        if (!_committed)
        {
            AtomicFile.TryDelete(TempPath);
            AtomicFile.Release(TempPath);
        }
        ArrayPool<byte>.Shared.Return(_staging);
    }

    private void EnsureOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) throw new InvalidOperationException($"{FilePath} was already committed.");
    }

    private void SkipEmptyTensors()
    {
        while (_current < _specs.Length && _writtenInCurrent == _elements[_current])
        {
            _current++;
            _writtenInCurrent = 0;
        }
    }

    private void WriteChunk(ReadOnlySpan<float> chunk)
    {
        var spec = _specs[_current];
        if (!_allowNonFinite)
        {
            int bad = ElementConversion.FirstNonFinite(chunk);
            if (bad >= 0) throw ValueError(spec, _writtenInCurrent + bad, chunk[bad], "is not finite");
        }
        switch (spec.DType)
        {
            case SafeTensorDType.F32 when BitConverter.IsLittleEndian:
                Stage(MemoryMarshal.AsBytes(chunk));
                break;
            case SafeTensorDType.F32:
                for (int i = 0; i < chunk.Length; i++)
                {
                    if (_fill + 4 > StagingBytes) Flush();
                    BinaryPrimitives.WriteSingleLittleEndian(_staging.AsSpan(_fill), chunk[i]);
                    _fill += 4;
                }
                break;
            case SafeTensorDType.BF16:
            case SafeTensorDType.F16:
                WriteHalfWidth(spec, chunk);
                break;
            default:
                throw new InvalidOperationException($"Tensor '{spec.Name}': unsupported dtype {spec.DType}.");
        }
        _writtenInCurrent += chunk.Length;
    }

    private void WriteHalfWidth(TensorSpec spec, ReadOnlySpan<float> chunk)
    {
        int done = 0;
        while (done < chunk.Length)
        {
            if (StagingBytes - _fill < 2) Flush();
            int n = Math.Min(chunk.Length - done, (StagingBytes - _fill) / 2);
            var src = chunk.Slice(done, n);
            var dst = _staging.AsSpan(_fill, 2 * n);
            if (spec.DType == SafeTensorDType.BF16 && BitConverter.IsLittleEndian)
            {
                var bits = MemoryMarshal.Cast<byte, ushort>(dst);
                ElementConversion.ToBFloat16(src, bits);
                // The input was checked finite, so a non-finite result is a value past the BF16 range.
                int bad = _allowNonFinite ? -1 : ElementConversion.FirstNonFiniteBFloat16(bits);
                if (bad >= 0) throw ValueError(spec, _writtenInCurrent + done + bad, src[bad], "overflows BF16");
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    bool bf16 = spec.DType == SafeTensorDType.BF16;
                    ushort h = bf16 ? ElementConversion.ToBFloat16(src[i]) : BitConverter.HalfToUInt16Bits((Half)src[i]);
                    ushort exponent = bf16 ? (ushort)0x7F80 : (ushort)0x7C00;
                    if (!_allowNonFinite && (h & exponent) == exponent)
                        throw ValueError(spec, _writtenInCurrent + done + i, src[i], $"overflows {spec.DType.Name()}");
                    BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], h);
                }
            }
            _fill += 2 * n;
            done += n;
        }
    }

    private CheckpointException ValueError(TensorSpec spec, long element, float value, string what) =>
        new(FilePath, spec.Name,
            $"value {value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} at element {element} " +
            $"(index {ElementConversion.IndexText(element, spec.Shape)}) {what}; the checkpoint was not written " +
            "and the existing file is unchanged");

    private void Stage(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (_fill == 0 && bytes.Length >= StagingBytes)
            {
                _stream!.Write(bytes);
                return;
            }
            int n = Math.Min(bytes.Length, StagingBytes - _fill);
            bytes[..n].CopyTo(_staging.AsSpan(_fill));
            _fill += n;
            bytes = bytes[n..];
            if (_fill == StagingBytes) Flush();
        }
    }

    private void Flush()
    {
        if (_fill == 0) return;
        _stream!.Write(_staging, 0, _fill);
        _fill = 0;
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes.</summary>
    internal static byte[] BuildHeader(TensorSpec[] specs, long[] elements, IReadOnlyDictionary<string, string>? metadata,
        out long dataBytes)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new ArrayBufferWriter<byte>(256 + 128 * specs.Length);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            Indented = false,
        }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafeTensors.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    ArgumentNullException.ThrowIfNull(key);
                    ArgumentNullException.ThrowIfNull(value);
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            for (int i = 0; i < specs.Length; i++)
            {
                var s = specs[i];
                if (string.IsNullOrEmpty(s.Name) || s.Name == SafeTensors.MetadataKey || !names.Add(s.Name))
                    throw new ArgumentException($"Tensor name '{s.Name}' is empty, reserved or repeated.", nameof(specs));
                long bytes = checked(elements[i] * s.DType.Size());
                json.WriteStartObject(s.Name);
                json.WriteString("dtype", s.DType.Name());
                json.WriteStartArray("shape");
                foreach (var d in s.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(checked(offset + bytes));
                json.WriteEndArray();
                json.WriteEndObject();
                offset = checked(offset + bytes);
            }
            json.WriteEndObject();
            dataBytes = offset;
        }
        int length = buffer.WrittenCount;
        int padded = (length + 7) & ~7;
        if (padded > SafeTensors.MaxHeaderBytes)
            throw new ArgumentException($"The header would be {padded} bytes, above the {SafeTensors.MaxHeaderBytes}-byte limit.", nameof(specs));
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }
}
