using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace MoCGen.Checkpoints;

/// <summary>
/// Reads a safetensors file: <see cref="Open"/> reads and validates the header only (JSON structure, dtypes,
/// shapes, data_offsets against the file size, no overlaps or gaps); each tensor is then read on demand into a
/// caller's buffer, converted to fp32 and checked for NaN and infinities. The file stays open (shared for reading
/// and deletion) until disposed, so a concurrent atomic replace does not disturb a read in progress.
/// </summary>
public sealed class SafeTensorsReader : IDisposable
{
    private const int ChunkBytes = 1 << 20;

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, int> _byName;
    private readonly SafeTensorInfo[] _tensors;

    private SafeTensorsReader(string path, SafeFileHandle handle, long fileLength, long headerLength,
        SafeTensorInfo[] tensors, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _handle = handle;
        FileLength = fileLength;
        HeaderLength = headerLength;
        _tensors = tensors;
        Metadata = metadata;
        _byName = new Dictionary<string, int>(tensors.Length, StringComparer.Ordinal);
        for (int i = 0; i < tensors.Length; i++) _byName[tensors[i].Name] = i;
    }

    /// <summary>Opens a file and validates its header.</summary>
    /// <exception cref="CheckpointException">Missing, unreadable, truncated or malformed.</exception>
    public static SafeTensorsReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, null, "cannot be opened: " + e.Message, e);
        }
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
                throw new CheckpointException(path, null,
                    $"file is {fileLength} bytes, too short for the 8-byte header length (truncated?)");
            Span<byte> lengthBytes = stackalloc byte[8];
            ReadExactly(path, null, handle, lengthBytes, 0);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > (ulong)(fileLength - 8))
                throw new CheckpointException(path, null,
                    $"header length {headerLength} is beyond the file size: only {fileLength - 8} bytes follow the " +
                    "8-byte length (truncated, or not a safetensors file)");
            if (headerLength > SafeTensors.MaxHeaderBytes)
                throw new CheckpointException(path, null,
                    $"header length {headerLength} exceeds the {SafeTensors.MaxHeaderBytes}-byte limit");
            if (headerLength < 2)
                throw new CheckpointException(path, null, $"header length {headerLength} is too short for a JSON object");
            var header = new byte[(int)headerLength];
            ReadExactly(path, null, handle, header, 8);
            var (tensors, metadata) = ParseHeader(path, header);
            long dataLength = fileLength - 8 - (long)headerLength;
            ValidateLayout(path, tensors, dataLength);
            return new SafeTensorsReader(path, handle, fileLength, (long)headerLength, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The file as given to <see cref="Open"/>.</summary>
    public string FilePath { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long FileLength { get; }

    /// <summary>Bytes of JSON header (after the 8-byte length, padding included).</summary>
    public long HeaderLength { get; }

    /// <summary>Byte offset in the file where tensor data begins.</summary>
    public long DataStart => 8 + HeaderLength;

    /// <summary>The <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>All tensors, in data order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors => _tensors;

    /// <summary>Whether the file holds a tensor of this name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, out SafeTensorInfo tensor)
    {
        if (_byName.TryGetValue(name, out int i))
        {
            tensor = _tensors[i];
            return true;
        }
        tensor = default;
        return false;
    }

    /// <summary>A tensor by name.</summary>
    /// <exception cref="CheckpointException">No such tensor.</exception>
    public SafeTensorInfo GetTensor(string name) =>
        TryGetTensor(name, out var t)
            ? t
            : throw new CheckpointException(FilePath, name, $"missing tensor: the file has no tensor of this name ({_tensors.Length} tensors present)");

    /// <summary>A tensor by name, checked against the dtype and shape the caller expects.</summary>
    /// <param name="name">Tensor name.</param>
    /// <param name="dtype">Expected dtype, or null to accept any readable dtype.</param>
    /// <param name="shape">Expected shape.</param>
    /// <exception cref="CheckpointException">Missing, wrong shape (both shapes shown) or wrong dtype.</exception>
    public SafeTensorInfo Expect(string name, SafeTensorDType? dtype, ReadOnlySpan<long> shape)
    {
        var t = GetTensor(name);
        if (!shape.SequenceEqual(t.Shape))
            throw new CheckpointException(FilePath, name,
                $"wrong shape: the file has {t.ShapeText}, expected {ElementConversion.ShapeText(shape)}");
        if (dtype is { } d && d != t.DType)
            throw new CheckpointException(FilePath, name, $"wrong dtype: the file has {t.DType.Name()}, expected {d.Name()}");
        return t;
    }

    /// <summary>Reads a whole tensor into <paramref name="destination"/> (exactly its element count), as fp32.</summary>
    /// <exception cref="CheckpointException">Missing tensor, wrong length, a NaN or infinity, or an I/O failure.</exception>
    public void Read(string name, Span<float> destination, bool allowNonFinite = false)
    {
        var t = GetTensor(name);
        if (destination.Length != t.Elements)
            throw new CheckpointException(FilePath, name,
                $"tensor {t.ShapeText} has {t.Elements} elements; the destination holds {destination.Length}");
        ReadRange(t, 0, destination, allowNonFinite);
    }

    /// <summary>Reads a whole tensor into a new array.</summary>
    /// <exception cref="CheckpointException">Missing tensor, a NaN or infinity, or an I/O failure.</exception>
    public float[] ReadArray(string name, bool allowNonFinite = false)
    {
        var t = GetTensor(name);
        if (t.Elements > Array.MaxLength)
            throw new CheckpointException(FilePath, name, $"{t.Elements} elements do not fit one array; use ReadRange");
        var values = new float[t.Elements];
        ReadRange(t, 0, values, allowNonFinite);
        return values;
    }

    /// <summary>
    /// Reads <c>destination.Length</c> consecutive elements of a tensor, starting at element
    /// <paramref name="firstElement"/> (row-major), converting to fp32.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the tensor.</exception>
    /// <exception cref="CheckpointException">A NaN or infinity (unless allowed), or the file ended early.</exception>
    public void ReadRange(SafeTensorInfo tensor, long firstElement, Span<float> destination, bool allowNonFinite = false)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (firstElement < 0 || firstElement > tensor.Elements || destination.Length > tensor.Elements - firstElement)
            throw new ArgumentOutOfRangeException(nameof(firstElement),
                $"Elements {firstElement}..{firstElement + destination.Length} are outside tensor '{tensor.Name}' {tensor.ShapeText}.");
        int size = tensor.DType.Size();
        long at = DataStart + tensor.Begin + firstElement * size;
        if (tensor.DType == SafeTensorDType.F32)
        {
            // A chunk at a time, each checked while it is still in cache (one pass over memory instead of two).
            for (int done = 0; done < destination.Length;)
            {
                int n = Math.Min(destination.Length - done, ChunkBytes / sizeof(float));
                var chunk = destination.Slice(done, n);
                ReadExactly(FilePath, tensor.Name, _handle, MemoryMarshal.AsBytes(chunk), at + (long)done * sizeof(float));
                if (!BitConverter.IsLittleEndian)
                {
                    var bits = MemoryMarshal.Cast<float, uint>(chunk);
                    BinaryPrimitives.ReverseEndianness(bits, bits);
                }
                if (!allowNonFinite) ThrowIfNonFinite(tensor, firstElement + done, chunk);
                done += n;
            }
            return;
        }
        else
        {
            var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
            try
            {
                int done = 0;
                while (done < destination.Length)
                {
                    int n = Math.Min(destination.Length - done, ChunkBytes / size);
                    var bytes = buffer.AsSpan(0, n * size);
                    ReadExactly(FilePath, tensor.Name, _handle, bytes, at + (long)done * size);
                    var dst = destination.Slice(done, n);
                    if (tensor.DType == SafeTensorDType.BF16 && BitConverter.IsLittleEndian)
                        ElementConversion.FromBFloat16(MemoryMarshal.Cast<byte, ushort>(bytes), dst);
                    else if (tensor.DType == SafeTensorDType.BF16)
                        for (int i = 0; i < n; i++)
                            dst[i] = ElementConversion.FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                    else
                        for (int i = 0; i < n; i++)
                            dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                    done += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        if (!allowNonFinite) ThrowIfNonFinite(tensor, firstElement, destination);
    }

    /// <summary>Throws naming the first NaN or infinity of <paramref name="values"/>, element <paramref name="firstElement"/> on of the tensor.</summary>
    private void ThrowIfNonFinite(SafeTensorInfo tensor, long firstElement, ReadOnlySpan<float> values)
    {
        int bad = ElementConversion.FirstNonFinite(values);
        if (bad < 0) return;
        long element = firstElement + bad;
        throw new CheckpointException(FilePath, tensor.Name,
            $"value {values[bad].ToString("R", CultureInfo.InvariantCulture)} at element {element} " +
            $"(index {ElementConversion.IndexText(element, tensor.Shape)}) is not finite");
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    private static void ReadExactly(string path, string? tensor, SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int n;
            try
            {
                n = RandomAccess.Read(handle, buffer, offset);
            }
            catch (IOException e)
            {
                throw new CheckpointException(path, tensor, $"read failed at byte {offset}: {e.Message}", e);
            }
            if (n <= 0)
                throw new CheckpointException(path, tensor,
                    $"file ended at byte {offset} while {buffer.Length} more bytes were expected (truncated or changed while reading?)");
            buffer = buffer[n..];
            offset += n;
        }
    }

    private static (SafeTensorInfo[] Tensors, Dictionary<string, string> Metadata) ParseHeader(string path, byte[] header)
    {
        var tensors = new List<SafeTensorInfo>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        var reader = new Utf8JsonReader(header, new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
            MaxDepth = 8,
        });
        string? current = null;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new CheckpointException(path, null, "malformed header: the JSON is not an object");
            while (true)
            {
                current = null;
                if (!reader.Read()) throw new CheckpointException(path, null, "malformed header: the JSON object is not closed");
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string key = reader.GetString()!;
                if (key == SafeTensors.MetadataKey)
                {
                    if (sawMetadata) throw new CheckpointException(path, null, "malformed header: __metadata__ appears twice");
                    sawMetadata = true;
                    ReadMetadata(path, ref reader, metadata);
                    continue;
                }
                current = key;
                if (key.Length == 0) throw new CheckpointException(path, key, "malformed header: empty tensor name");
                if (!names.Add(key)) throw new CheckpointException(path, key, "malformed header: tensor name appears twice");
                tensors.Add(ReadTensor(path, key, ref reader));
            }
            current = null;
            if (reader.Read())
                throw new CheckpointException(path, null, $"malformed header: content after the JSON object at byte {8 + reader.TokenStartIndex}");
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, current,
                $"malformed JSON header (line {e.LineNumber + 1}, byte {e.BytePositionInLine} of that line): {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new CheckpointException(path, current, "malformed JSON header: " + e.Message, e);
        }
        return (tensors.ToArray(), metadata);
    }

    private static void ReadMetadata(string path, ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointException(path, null, "malformed header: __metadata__ is not an object of strings");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                throw new CheckpointException(path, null, $"malformed header: __metadata__ value of '{key}' is not a string");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw new CheckpointException(path, null, $"malformed header: __metadata__ key '{key}' appears twice");
        }
    }

    private static SafeTensorInfo ReadTensor(string path, string name, ref Utf8JsonReader reader)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointException(path, name, "malformed header: the entry is not an object");
        string? dtypeName = null;
        long[]? shape = null;
        long[]? offsets = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string field = reader.GetString()!;
            reader.Read();
            switch (field)
            {
                case "dtype" when dtypeName is null:
                    if (reader.TokenType != JsonTokenType.String)
                        throw new CheckpointException(path, name, "malformed header: dtype is not a string");
                    dtypeName = reader.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(path, name, "shape", ref reader);
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadIntegers(path, name, "data_offsets", ref reader);
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw new CheckpointException(path, name, $"malformed header: '{field}' appears twice");
                default:
                    throw new CheckpointException(path, name, $"malformed header: unknown field '{field}'");
            }
        }
        if (dtypeName is null) throw new CheckpointException(path, name, "malformed header: no dtype");
        if (shape is null) throw new CheckpointException(path, name, "malformed header: no shape");
        if (offsets is null) throw new CheckpointException(path, name, "malformed header: no data_offsets");
        if (!SafeTensorDTypes.TryParse(dtypeName, out var dtype))
            throw new CheckpointException(path, name, SafeTensorDTypes.IsOtherKnownName(dtypeName)
                ? $"dtype {dtypeName} is not supported (this runtime reads F32, BF16 and F16)"
                : $"unknown dtype '{dtypeName}'");
        if (offsets.Length != 2)
            throw new CheckpointException(path, name, $"malformed header: data_offsets has {offsets.Length} numbers, not 2");
        if (!ElementConversion.TryElements(shape, out long elements) || elements > long.MaxValue / 8)
            throw new CheckpointException(path, name, $"shape {ElementConversion.ShapeText(shape)} is too large");
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw new CheckpointException(path, name, $"data_offsets [{begin}, {end}] end before they begin");
        long expected = elements * dtype.Size();
        if (end - begin != expected)
            throw new CheckpointException(path, name,
                $"data_offsets [{begin}, {end}] hold {end - begin} bytes, but {dtypeName} {ElementConversion.ShapeText(shape)} needs {expected}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static long[] ReadIntegers(string path, string name, string field, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new CheckpointException(path, name, $"malformed header: {field} is not an array");
        var values = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0)
                throw new CheckpointException(path, name, $"malformed header: {field} holds something other than a non-negative integer");
            values.Add(v);
        }
        return values.ToArray();
    }

    /// <summary>In data order: every tensor inside the data, none overlapping, no gap, nothing after the last.</summary>
    private static void ValidateLayout(string path, SafeTensorInfo[] tensors, long dataLength)
    {
        Array.Sort(tensors, (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long previousEnd = 0;
        string? previous = null;
        foreach (var t in tensors)
        {
            if (t.Begin < previousEnd)
                throw new CheckpointException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{previous}', which ends at {previousEnd}");
            if (t.Begin > previousEnd)
                throw new CheckpointException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] leave bytes {previousEnd}..{t.Begin} of the data unused (a gap after " +
                    (previous is null ? "the header" : $"tensor '{previous}'") + ")");
            if (t.End > dataLength)
                throw new CheckpointException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] extend beyond the {dataLength} bytes of data in the file (truncated?)");
            previousEnd = t.End;
            previous = t.Name;
        }
        if (previousEnd != dataLength)
            throw new CheckpointException(path, previous,
                $"the file has {dataLength - previousEnd} bytes after the end of the last tensor (data is {dataLength} bytes, tensors end at {previousEnd})");
    }
}
