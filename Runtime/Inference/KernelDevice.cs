using System;
using System.Collections.Generic;
using System.Linq;

namespace MoCGen.Inference;

/// <summary>Element type of a <see cref="DeviceBuffer"/>.</summary>
public enum DeviceElement
{
    /// <summary>32-bit float.</summary>
    Float32,

    /// <summary>32-bit signed integer.</summary>
    Int32,

    /// <summary>16-bit bfloat16, held as its bits (<see cref="ushort"/>): the high half of an fp32.</summary>
    BFloat16,
}

/// <summary>A buffer in a <see cref="IKernelDevice"/>'s memory.</summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>A buffer of <paramref name="length"/> elements of <paramref name="element"/>.</summary>
    protected DeviceBuffer(DeviceElement element, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Element = element;
        Length = length;
    }

    /// <summary>Its element type.</summary>
    public DeviceElement Element { get; }

    /// <summary>Its length in elements.</summary>
    public long Length { get; }

    /// <summary>Frees the device memory.</summary>
    public abstract void Dispose();
}

/// <summary>What a kernel parameter holds.</summary>
public enum KernelArgKind
{
    /// <summary>A pointer into a buffer.</summary>
    Buffer,

    /// <summary>A 32-bit integer.</summary>
    Int32,

    /// <summary>A 32-bit float.</summary>
    Float32,
}

/// <summary>One kernel parameter: a buffer from an element offset on, an int or a float.</summary>
public readonly struct KernelArg
{
    private KernelArg(KernelArgKind kind, DeviceBuffer? buffer, long offset, int integer, float real)
    {
        Kind = kind;
        Buffer = buffer;
        Offset = offset;
        Int = integer;
        Float = real;
    }

    /// <summary>What it holds.</summary>
    public KernelArgKind Kind { get; }

    /// <summary>The buffer (for <see cref="KernelArgKind.Buffer"/>).</summary>
    public DeviceBuffer? Buffer { get; }

    /// <summary>First element the kernel sees (for <see cref="KernelArgKind.Buffer"/>).</summary>
    public long Offset { get; }

    /// <summary>The integer (for <see cref="KernelArgKind.Int32"/>).</summary>
    public int Int { get; }

    /// <summary>The float (for <see cref="KernelArgKind.Float32"/>).</summary>
    public float Float { get; }

    /// <summary>The part of <paramref name="buffer"/> from element <paramref name="offset"/> on.</summary>
    public static KernelArg View(DeviceBuffer buffer, long offset = 0)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, buffer.Length);
        return new(KernelArgKind.Buffer, buffer, offset, 0, 0);
    }

    /// <summary>The whole buffer.</summary>
    public static implicit operator KernelArg(DeviceBuffer buffer) => View(buffer);

    /// <summary>An integer parameter.</summary>
    public static implicit operator KernelArg(int value) => new(KernelArgKind.Int32, null, 0, value, 0);

    /// <summary>A float parameter.</summary>
    public static implicit operator KernelArg(float value) => new(KernelArgKind.Float32, null, 0, 0, value);
}

/// <summary>
/// How to launch one generated kernel: its CUDA symbol, the CUDA source unit that holds it (<c>Decoder</c> for
/// <c>&lt;Model&gt;.Cuda.DecoderSource</c>), its ILGPU twin (<c>Class.Method</c> inside the model's <c>Ilgpu</c> class),
/// threads per block, dynamic shared memory per block, and the grid (x, y) for a number of tokens.
/// </summary>
public sealed record KernelLaunch(string Name, string Unit, string IlgpuMethod, int Block, int DynamicSharedBytes, Func<int, (int X, int Y)> Grid);

/// <summary>
/// A device that runs a model's generated kernels: buffers, copies and launches by name. The CUDA driver implements
/// it for NVIDIA GPUs (<see cref="Cuda.CudaKernelDevice"/>); ILGPU's CPU accelerator implements it in the tests, so
/// the same decode step runs on both.
/// </summary>
public interface IKernelDevice : IDisposable
{
    /// <summary>Where the kernels run, for reports ("cuda", ...).</summary>
    string Name { get; }

    /// <summary>A zeroed buffer of <paramref name="length"/> elements.</summary>
    DeviceBuffer Allocate(DeviceElement element, long length);

    /// <summary>Copies <paramref name="values"/> into <paramref name="buffer"/> from element <paramref name="offset"/> on.</summary>
    void Upload(DeviceBuffer buffer, ReadOnlySpan<float> values, long offset = 0);

    /// <summary>Copies <paramref name="values"/> into <paramref name="buffer"/> from element <paramref name="offset"/> on.</summary>
    void Upload(DeviceBuffer buffer, ReadOnlySpan<int> values, long offset = 0);

    /// <summary>Copies the bfloat16 bits <paramref name="values"/> into <paramref name="buffer"/> from element <paramref name="offset"/> on.</summary>
    void Upload(DeviceBuffer buffer, ReadOnlySpan<ushort> values, long offset = 0);

    /// <summary>Copies the first <c>values.Length</c> elements of <paramref name="buffer"/> from <paramref name="offset"/> into <paramref name="values"/> (waits for queued work).</summary>
    void Download(DeviceBuffer buffer, Span<float> values, long offset = 0);

    /// <summary>Copies the first <c>values.Length</c> elements of <paramref name="buffer"/> from <paramref name="offset"/> into <paramref name="values"/> (waits for queued work).</summary>
    void Download(DeviceBuffer buffer, Span<int> values, long offset = 0);

    /// <summary>Copies the first <c>values.Length</c> bfloat16 elements of <paramref name="buffer"/> from <paramref name="offset"/> into <paramref name="values"/> (waits for queued work).</summary>
    void Download(DeviceBuffer buffer, Span<ushort> values, long offset = 0);

    /// <summary>Queues <paramref name="kernel"/> for <paramref name="tokens"/> tokens with its parameters in declaration order.</summary>
    void Launch(KernelLaunch kernel, int tokens, params ReadOnlySpan<KernelArg> args);

    /// <summary>Waits for queued work; kernel faults surface here.</summary>
    void Synchronize();
}

/// <summary>
/// The training kernels of a model's feed-forward block, generated with it (<c>&lt;Model&gt;.Cuda.FeedForwardKernels</c>),
/// in launch order, with the parameters each takes (buffers of floats unless named otherwise; K = d_ff for the dense twin):
/// forward <see cref="GateGemm"/> (x, W_g, g, tokens), <see cref="TopK"/> (g, index int, gate, tokens),
/// <see cref="Windows"/> (index, start int [tokens, <see cref="WindowStarts"/>], tokens), <see cref="Up"/> (x, W_u, index,
/// start, gate, up, hidden, tokens), <see cref="Down"/> (W_d^T, index, start, hidden, y, tokens); backward
/// <see cref="Gh"/> (W_d^T, gy, index, start, gate, up, gradGate, gradUp, hidden, tokens), <see cref="Gx"/> (W_g, W_u,
/// index, start, gradGate, gradUp, gx, tokens), <see cref="Weights"/> (x, gy, index, start, gradGate, gradUp, hidden,
/// dW_g, dW_u, dW_d^T, tokens; the weight gradients are added to). y and gx are overwritten. The forward kernels read the
/// weights as <see cref="WeightElement"/>; the backward kernels read fp32 weights. The dense twin's backward kernels are
/// tiled GEMMs that take the same parameters (index and start unused), so one launch sequence serves both.
/// </summary>
public sealed record FeedForwardKernelTable(
    string Model, bool Dense, int WindowStarts,
    KernelLaunch GateGemm, KernelLaunch TopK, KernelLaunch Windows, KernelLaunch Up, KernelLaunch Down,
    KernelLaunch Gh, KernelLaunch Gx, KernelLaunch Weights, DeviceElement WeightElement = DeviceElement.Float32)
{
    /// <summary>The kernels in launch order: the forward's five, then the backward's three.</summary>
    public IReadOnlyList<KernelLaunch> InOrder => new[] { GateGemm, TopK, Windows, Up, Down, Gh, Gx, Weights };
}

/// <summary>
/// The kernels of one decode step of a model, generated with it (<c>&lt;Model&gt;.Cuda.DecodeKernels</c>): the model's
/// full name (its PTX travels as resources <c>ptx/&lt;Model&gt;.&lt;Unit&gt;.ptx</c>), the most tokens a step takes, the
/// floats of one of its key/value caches (all layers), and the element type of the weights every kernel reads
/// (<see cref="DeviceElement.Float32"/> or <see cref="DeviceElement.BFloat16"/>; activations and caches are fp32).
/// </summary>
public sealed record DecodeKernelTable(
    string Model, int MaxTokens, long KvCacheFloats,
    KernelLaunch Embed, KernelLaunch RmsNorm, KernelLaunch Qkv, KernelLaunch RopeKv, KernelLaunch Attention,
    KernelLaunch OProj, KernelLaunch ResidualNorm, KernelLaunch LmHead,
    KernelLaunch GateTopK, KernelLaunch UpDown, DeviceElement Weights = DeviceElement.Float32)
{
    /// <summary>The CUDA source units the kernels live in.</summary>
    public IReadOnlyList<string> Units =>
        new[] { Embed, RmsNorm, Qkv, RopeKv, Attention, OProj, ResidualNorm, LmHead, GateTopK, UpDown }
            .Select(k => k.Unit).Distinct(StringComparer.Ordinal).ToArray();
}
