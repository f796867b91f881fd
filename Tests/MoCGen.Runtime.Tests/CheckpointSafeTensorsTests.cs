using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using MoCGen.Checkpoints;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>The safetensors writer and reader: exact bytes, BF16 rounding, round trips, and every corruption case.</summary>
public sealed class CheckpointSafeTensorsTests : IDisposable
{
    private readonly CheckpointScratch _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TinyFileHasTheFormatsExactBytes()
    {
        var path = _dir.File("tiny.safetensors");
        SafeTensors.Write(path,
        [
            new TensorData(new TensorSpec("a", SafeTensorDType.F32, new long[] { 2 }), new float[] { 1f, -2f }),
            new TensorData(new TensorSpec("b", SafeTensorDType.BF16, new long[] { 1, 2 }), new float[] { 1f, 0.5f }),
        ], new Dictionary<string, string> { ["k"] = "v" });

        var bytes = File.ReadAllBytes(path);
        const string json =
            "{\"__metadata__\":{\"k\":\"v\"}," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
            "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}";
        int padded = (json.Length + 7) / 8 * 8; // 128 characters of JSON, already a multiple of 8
        var expected = new List<byte>();
        expected.AddRange(BitConverter.GetBytes((ulong)padded)); // little-endian u64 header length
        expected.AddRange(Encoding.ASCII.GetBytes(json.PadRight(padded, ' ')));
        expected.AddRange(new byte[] { 0x00, 0x00, 0x80, 0x3F }); // 1.0f
        expected.AddRange(new byte[] { 0x00, 0x00, 0x00, 0xC0 }); // -2.0f
        expected.AddRange(new byte[] { 0x80, 0x3F }); // bf16 1.0 = 0x3F80
        expected.AddRange(new byte[] { 0x00, 0x3F }); // bf16 0.5 = 0x3F00
        Assert.Equal(expected.ToArray(), bytes);
        Assert.Equal(0, (8 + padded) % 8);

        // The structure, independently of our own reader: a JSON object whose entries follow the format's rules.
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var root = doc.RootElement;
        Assert.Equal("v", root.GetProperty("__metadata__").GetProperty("k").GetString());
        var b = root.GetProperty("b");
        Assert.Equal("BF16", b.GetProperty("dtype").GetString());
        Assert.Equal(new[] { 1, 2 }, b.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(new[] { 8, 12 }, b.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(12, bytes.Length - 8 - (long)n);
    }

    [Fact]
    public void HeaderIsPaddedWithSpacesTo8Bytes()
    {
        var path = _dir.File("pad.safetensors");
        SafeTensors.Write(path, [new TensorData(new TensorSpec("x", SafeTensorDType.F32, new long[] { 1 }), new float[] { 3f })]);
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        const string json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Assert.Equal(54, json.Length);
        Assert.Equal(56, n);
        Assert.Equal(json + "  ", Encoding.ASCII.GetString(bytes, 8, (int)n));
        using var r = SafeTensors.Open(path);
        Assert.Equal(new[] { 3f }, r.ReadArray("x"));
        Assert.Empty(r.Metadata);
    }

    [Theory]
    [InlineData(0x3F808000u, (ushort)0x3F80)] // 1 + 2^-8: exactly half way, upper half even: down to 1.0
    [InlineData(0x3F818000u, (ushort)0x3F82)] // 1 + 3 * 2^-8: half way, upper half odd: up to 1.015625
    [InlineData(0x3F808001u, (ushort)0x3F81)] // just above half way: up
    [InlineData(0x3F807FFFu, (ushort)0x3F80)] // just below half way: down
    [InlineData(0xC0490FDBu, (ushort)0xC049)] // -pi: low half 0x0FDB below half: -3.140625
    [InlineData(0x3DCCCCCDu, (ushort)0x3DCD)] // 0.1f: low half 0xCCCD above half: 0.10009765625
    [InlineData(0x3F7FFFFFu, (ushort)0x3F80)] // 0.99999994: carries into the exponent: 1.0
    [InlineData(0x000116C2u, (ushort)0x0001)] // a subnormal
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)] // float.MaxValue rounds past the bf16 range: infinity
    [InlineData(0xFF800000u, (ushort)0xFF80)] // -infinity stays
    public void BFloat16RoundsToNearestEven(uint fp32Bits, ushort expected)
    {
        Assert.Equal(expected, SafeTensors.ToBFloat16(BitConverter.UInt32BitsToSingle(fp32Bits)));
    }

    /// <summary>The vector paths (Vector&lt;T&gt; wide, then a scalar tail) agree bit for bit with the scalar rule.</summary>
    [Fact]
    public void BFloat16VectorPathsMatchTheScalarRule()
    {
        var rng = new Random(3);
        foreach (int length in new[] { 0, 1, 7, 15, 16, 17, 31, 33, 64, 1000, 4099 })
        {
            var bits = new uint[length];
            for (int i = 0; i < length; i++)
                bits[i] = (i % 5) switch
                {
                    0 => (uint)rng.NextInt64(0, 1L << 32),                      // anything, NaNs included
                    1 => 0x3F800000u | ((uint)rng.Next(0, 1 << 16) & 0x18000u), // near ties
                    2 => (uint)rng.Next(0, 1 << 20),                            // subnormals
                    3 => i % 2 == 0 ? 0x7F800000u : 0xFF800000u,                // infinities
                    _ => BitConverter.SingleToUInt32Bits((float)(rng.NextDouble() * 200 - 100)),
                };
            var values = bits.Select(BitConverter.UInt32BitsToSingle).ToArray();
            var vector = new ushort[length];
            MoCGen.Checkpoints.ElementConversion.ToBFloat16(values, vector);
            for (int i = 0; i < length; i++)
                Assert.True(SafeTensors.ToBFloat16(values[i]) == vector[i], $"length {length}, element {i}: 0x{bits[i]:x8}");
            var widened = new float[length];
            MoCGen.Checkpoints.ElementConversion.FromBFloat16(vector, widened);
            for (int i = 0; i < length; i++)
                Assert.Equal(BitConverter.SingleToUInt32Bits(SafeTensors.FromBFloat16(vector[i])), BitConverter.SingleToUInt32Bits(widened[i]));
            int firstBad = Array.FindIndex(vector, h => (h & 0x7F80) == 0x7F80);
            Assert.Equal(firstBad, MoCGen.Checkpoints.ElementConversion.FirstNonFiniteBFloat16(vector));
        }
    }

    [Fact]
    public void BFloat16KeepsNaN()
    {
        ushort bits = SafeTensors.ToBFloat16(BitConverter.UInt32BitsToSingle(0x7F800001u)); // NaN with only a low payload bit
        Assert.True(float.IsNaN(SafeTensors.FromBFloat16(bits)));
        Assert.Equal(1.015625f, SafeTensors.FromBFloat16(0x3F82));
        Assert.Equal(0.10009765625f, SafeTensors.FromBFloat16(0x3DCD));
    }

    [Fact]
    public void RoundTripF32AndBF16AndF16()
    {
        var rng = new Random(5);
        var values = Enumerable.Range(0, 3 * 5 * 7).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        values[0] = BitConverter.UInt32BitsToSingle(0x3F818000u); // a BF16 tie: must come back as 1.015625
        var path = _dir.File("rt.safetensors");
        SafeTensors.Write(path,
        [
            new TensorData(new TensorSpec("f32", SafeTensorDType.F32, new long[] { 3, 5, 7 }), values),
            new TensorData(new TensorSpec("bf16", SafeTensorDType.BF16, new long[] { 3, 5, 7 }), values),
            new TensorData(new TensorSpec("f16", SafeTensorDType.F16, new long[] { 105 }), values),
            new TensorData(new TensorSpec("scalar", SafeTensorDType.F32, Array.Empty<long>()), new float[] { 42f }),
            new TensorData(new TensorSpec("empty", SafeTensorDType.BF16, new long[] { 0, 4 }), Array.Empty<float>()),
        ], new Dictionary<string, string> { ["note"] = "héllo \"quoted\" + <tag>" });

        using var r = SafeTensors.Open(path);
        Assert.Equal("héllo \"quoted\" + <tag>", r.Metadata["note"]);
        Assert.Equal(new[] { "f32", "bf16", "f16", "scalar", "empty" }, r.Tensors.Select(t => t.Name));
        Assert.Equal(values, r.ReadArray("f32"));
        var bf = r.ReadArray("bf16");
        Assert.Equal(1.015625f, bf[0]);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(SafeTensors.FromBFloat16(SafeTensors.ToBFloat16(values[i])), bf[i]);
            Assert.True(Math.Abs(bf[i] - values[i]) <= Math.Abs(values[i]) / 256, $"bf16[{i}]");
        }
        var half = r.ReadArray("f16");
        for (int i = 0; i < values.Length; i++) Assert.Equal((float)(Half)values[i], half[i]);
        Assert.Equal(new[] { 42f }, r.ReadArray("scalar"));
        Assert.Empty(r.ReadArray("empty"));

        // Partial reads land on the right elements.
        var part = new float[4];
        r.ReadRange(r.GetTensor("f32"), 50, part);
        Assert.Equal(values.AsSpan(50, 4).ToArray(), part);
        r.ReadRange(r.GetTensor("bf16"), 101, part);
        Assert.Equal(bf.AsSpan(101, 4).ToArray(), part);
    }

    [Fact]
    public void StreamingWriterAcceptsPiecesAcrossTensors()
    {
        var path = _dir.File("stream.safetensors");
        var a = Enumerable.Range(0, 10).Select(i => (float)i).ToArray();
        using (var w = SafeTensorsWriter.Create(path,
        [
            new TensorSpec("a", SafeTensorDType.F32, new long[] { 2, 3 }),
            new TensorSpec("b", SafeTensorDType.BF16, new long[] { 4 }),
        ]))
        {
            Assert.StartsWith(Path.GetFileName(path) + ".tmp-" + Environment.ProcessId + "-", Path.GetFileName(w.TempPath));
            Assert.Equal("a", w.NextTensor);
            w.Write(a.AsSpan(0, 4));
            w.Write(a.AsSpan(4, 5)); // finishes a, starts b
            Assert.Equal("b", w.NextTensor);
            Assert.Throws<InvalidOperationException>(() => w.Commit());
            w.Write(a.AsSpan(9, 1));
            Assert.Null(w.NextTensor);
            Assert.Throws<InvalidOperationException>(() => w.Write(new float[1]));
            Assert.False(File.Exists(path));
            w.Commit();
            Assert.False(File.Exists(w.TempPath));
            Assert.Equal(OperatingSystem.IsLinux(), w.DirectorySynced);
        }
        using var r = SafeTensors.Open(path);
        Assert.Equal(a.Take(6), r.ReadArray("a"));
        Assert.Equal(a.Skip(6), r.ReadArray("b"));
    }

    [Fact]
    public void WriterDisposedWithoutCommitLeavesTheOldFileAndNoTemp()
    {
        var path = _dir.File("keep.safetensors");
        SafeTensors.Write(path, [new TensorData(new TensorSpec("x", SafeTensorDType.F32, new long[] { 2 }), new float[] { 1, 2 })]);
        var before = File.ReadAllBytes(path);
        using (var w = SafeTensorsWriter.Create(path, [new TensorSpec("x", SafeTensorDType.F32, new long[] { 2 })]))
        {
            w.Write(new float[] { 9 });
            Assert.True(File.Exists(w.TempPath));
        }
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "keep.safetensors" }, _dir.Names());
    }

    [Theory]
    [InlineData(float.NaN, SafeTensorDType.F32, "is not finite")]
    [InlineData(float.PositiveInfinity, SafeTensorDType.BF16, "is not finite")]
    [InlineData(float.MaxValue, SafeTensorDType.BF16, "overflows BF16")]
    [InlineData(70000f, SafeTensorDType.F16, "overflows F16")]
    public void WriterRefusesNonFiniteAndKeepsTheOldFile(float bad, SafeTensorDType dtype, string what)
    {
        var path = _dir.File("nan.safetensors");
        SafeTensors.Write(path, [new TensorData(new TensorSpec("w", dtype, new long[] { 2, 3 }), new float[6])]);
        var before = File.ReadAllBytes(path);
        var values = new float[] { 0, 1, 2, 3, bad, 5 };
        var e = Assert.Throws<CheckpointException>(() =>
            SafeTensors.Write(path, [new TensorData(new TensorSpec("w", dtype, new long[] { 2, 3 }), values)]));
        Assert.Equal("w", e.TensorName);
        Assert.Contains(path, e.Message);
        Assert.Contains("element 4 (index [1, 1])", e.Message);
        Assert.Contains(what, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "nan.safetensors" }, _dir.Names());

        SafeTensors.Write(path, [new TensorData(new TensorSpec("w", dtype, new long[] { 2, 3 }), values)], allowNonFinite: true);
        using var r = SafeTensors.Open(path);
        var read = Assert.Throws<CheckpointException>(() => r.ReadArray("w"));
        Assert.Equal("w", read.TensorName);
        Assert.Contains("element 4 (index [1, 1]) is not finite", read.Message);
        Assert.False(float.IsFinite(r.ReadArray("w", allowNonFinite: true)[4]));
    }

    /// <summary>
    /// fp32 tensors are read and checked a 1 MiB chunk at a time: a NaN past the first chunks is still found and named
    /// by its element and index, and a read starting mid-tensor reports elements of the tensor, not of the read.
    /// </summary>
    [Fact]
    public void NonFiniteBeyondTheFirstReadChunkIsNamedByItsElement()
    {
        var path = _dir.File("big.safetensors");
        const int rows = 700, cols = 1000; // 2.8 MB: three 1 MiB chunks
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++) values[i] = i % 7;
        values[654_321] = float.NegativeInfinity;
        SafeTensors.Write(path, [new TensorData(new TensorSpec("big", SafeTensorDType.F32, new long[] { rows, cols }), values)], allowNonFinite: true);
        using var r = SafeTensors.Open(path);
        var whole = Assert.Throws<CheckpointException>(() => r.ReadArray("big"));
        Assert.Contains("at element 654321 (index [654, 321]) is not finite", whole.Message);
        var info = r.Tensors.Single(t => t.Name == "big");
        var part = Assert.Throws<CheckpointException>(() => r.ReadRange(info, 300_000, new float[400_000]));
        Assert.Contains("at element 654321 (index [654, 321])", part.Message);
        var clean = new float[300_000];
        r.ReadRange(info, 0, clean);
        Assert.Equal(values.AsSpan(0, clean.Length).ToArray(), clean);
    }

    [Fact]
    public void MissingTensorWrongShapeAndWrongDTypeNameTheTensor()
    {
        var path = WriteSample();
        using var r = SafeTensors.Open(path);
        var missing = Assert.Throws<CheckpointException>(() => r.Read("nope", new float[1]));
        Assert.Equal("nope", missing.TensorName);
        Assert.Contains("missing tensor", missing.Message);
        Assert.Contains(path, missing.Message);

        var shape = Assert.Throws<CheckpointException>(() => r.Expect("first", SafeTensorDType.F32, new long[] { 4, 2 }));
        Assert.Equal("first", shape.TensorName);
        Assert.Contains("the file has [2, 4], expected [4, 2]", shape.Message);

        var dtype = Assert.Throws<CheckpointException>(() => r.Expect("second", SafeTensorDType.F32, new long[] { 6 }));
        Assert.Contains("the file has BF16, expected F32", dtype.Message);

        var length = Assert.Throws<CheckpointException>(() => r.Read("first", new float[7]));
        Assert.Contains("8 elements", length.Message);
    }

    /// <summary>Cut the file at many points: in the length, in the header, at its end, inside and between tensors.</summary>
    [Fact]
    public void TruncatedFilesFailNamingFileAndTheCutTensor()
    {
        var path = WriteSample();
        var full = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(full);
        long data = 8 + n;
        // first: F32 [2,4] = 32 bytes at 0; second: BF16 [6] = 12 bytes at 32; third: F32 [3] = 12 bytes at 44.
        var cuts = new (long Length, string? Tensor)[]
        {
            (0, null), (3, null), (7, null), (8, null), (9, null), (8 + n / 2, null), (data - 1, null),
            (data, "first"), (data + 1, "first"), (data + 31, "first"), (data + 32, "second"), (data + 40, "second"),
            (data + 44, "third"), (full.Length - 1, "third"),
        };
        foreach (var (length, tensor) in cuts)
        {
            var cut = _dir.File($"cut-{length}.safetensors");
            File.WriteAllBytes(cut, full.AsSpan(0, (int)length).ToArray());
            var e = Assert.Throws<CheckpointException>(() => { using var r = SafeTensors.Open(cut); });
            Assert.Contains(cut, e.Message);
            Assert.Equal(tensor, e.TensorName);
            if (tensor is not null)
            {
                Assert.Contains($"tensor '{tensor}'", e.Message);
                Assert.Contains("truncated", e.Message);
            }
        }
        using (var ok = SafeTensors.Open(path)) Assert.Equal(3, ok.Tensors.Count);
    }

    [Fact]
    public void HeaderLengthBeyondTheFile()
    {
        var path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointException>(() => { using var r = SafeTensors.Open(path); });
        Assert.Contains("beyond the file size", e.Message);
        Assert.Contains(path, e.Message);

        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("beyond the file size", Assert.Throws<CheckpointException>(() => SafeTensors.Open(path)).Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", "malformed JSON", null)]
    [InlineData("[]", "not an object", null)]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", "malformed JSON", null)]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", "malformed", null)]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", "appears twice", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "no data_offsets", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "non-negative integer", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "non-negative integer", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", "unknown field 'extra'", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'F33'", "a")]
    [InlineData("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", "I64 is not supported", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", "not 2", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "end before they begin", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", "overlap tensor 'a'", "b")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", "unused (a gap after tensor 'a')", "b")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}", "extend beyond", "b")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "bytes after the end of the last tensor", "a")]
    [InlineData("{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "not a string", null)]
    [InlineData("{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "__metadata__ is not an object", null)]
    public void MalformedHeadersAreRefused(string json, string expected, string? tensor)
    {
        // 12 bytes of data: enough for every case whose offsets are fine, so the named problem is the one found
        // (except "bytes after the end", which relies on it).
        var path = _dir.File("bad.safetensors");
        WriteRaw(path, json, new byte[12]);
        var e = Assert.Throws<CheckpointException>(() => { using var r = SafeTensors.Open(path); });
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(tensor, e.TensorName);
    }

    [Fact]
    public void ForeignFilesWithOtherOrderAndPaddingAreRead()
    {
        // Tensors listed out of data order, metadata last, header padded: all allowed by the format.
        var path = _dir.File("foreign.safetensors");
        var data = new byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(data, 2.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), -1f);
        WriteRaw(path,
            "{\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}, \"y\":{\"data_offsets\":[0,4],\"shape\":[1],\"dtype\":\"F32\"},\"__metadata__\":{\"format\":\"pt\"}}     ",
            data);
        using var r = SafeTensors.Open(path);
        Assert.Equal(new[] { "y", "z" }, r.Tensors.Select(t => t.Name));
        Assert.Equal(new[] { 2.5f }, r.ReadArray("y"));
        Assert.Equal(new[] { -1f }, r.ReadArray("z"));
        Assert.Equal("pt", r.Metadata["format"]);
    }

    [Fact]
    public void MissingFileIsACheckpointException()
    {
        var path = _dir.File("absent.safetensors");
        var e = Assert.Throws<CheckpointException>(() => SafeTensors.Open(path));
        Assert.Contains(path, e.Message);
        Assert.IsAssignableFrom<IOException>(e.InnerException);
    }

    private string WriteSample()
    {
        var path = _dir.File("sample.safetensors");
        SafeTensors.Write(path,
        [
            new TensorData(new TensorSpec("first", SafeTensorDType.F32, new long[] { 2, 4 }), Enumerable.Range(0, 8).Select(i => (float)i).ToArray()),
            new TensorData(new TensorSpec("second", SafeTensorDType.BF16, new long[] { 6 }), new float[] { 1, 2, 3, 4, 5, 6 }),
            new TensorData(new TensorSpec("third", SafeTensorDType.F32, new long[] { 3 }), new float[] { 7, 8, 9 }),
        ], new Dictionary<string, string> { ["who"] = "test" });
        return path;
    }

    /// <summary>Writes a file from a hand-written header (used as is, unpadded) and raw data bytes.</summary>
    internal static void WriteRaw(string path, string json, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(json);
        using var f = File.Create(path);
        Span<byte> n = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(n, (ulong)header.Length);
        f.Write(n);
        f.Write(header);
        f.Write(data);
    }
}

/// <summary>A fresh temporary folder per test class instance, removed afterwards.</summary>
internal sealed class CheckpointScratch : IDisposable
{
    public CheckpointScratch() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mocgen-ckpt-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The names of the files in the folder, sorted.</summary>
    public string[] Names() => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).OrderBy(s => s, StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>The parameter buffer a checkpoint fills: any size, writable everywhere, refused when negative.</summary>
public sealed class ParameterMemoryTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(3_000_001)] // 12 MB: huge pages advised for its aligned middle
    public void AllocatesAWritableBufferOfTheLength(long length)
    {
        var buffer = MoCGen.Checkpoints.ParameterMemory.Allocate(length);
        Assert.Equal(length, buffer.LongLength);
        for (long i = 0; i < length; i += 4099) buffer[i] = i;
        for (long i = 0; i < length; i += 4099) Assert.Equal((float)i, buffer[i]);
    }

    [Fact]
    public void RefusesANegativeLength() =>
        Assert.Throws<System.ArgumentOutOfRangeException>(() => MoCGen.Checkpoints.ParameterMemory.Allocate(-1));
}
