using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using MoCGen.Inference;

namespace MoCGen.Cuda;

/// <summary>
/// An NVIDIA GPU as a <see cref="IKernelDevice"/>: the model's kernels loaded from PTX (one module per CUDA source
/// unit), buffers in device memory, launches on the default stream in order. Every driver error names the call and
/// the kernel.
/// </summary>
public sealed class CudaKernelDevice : IKernelDevice
{
    private readonly CudaDevice _device;
    private readonly Dictionary<string, CudaModule> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);
    private readonly KernelArguments _args = new();

    /// <summary>Loads every PTX module of <paramref name="ptxByUnit"/> (CUDA source unit, e.g. <c>Decoder</c>, to its PTX) on <paramref name="device"/>.</summary>
    public CudaKernelDevice(CudaDevice device, IReadOnlyDictionary<string, string> ptxByUnit)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(ptxByUnit);
        _device = device;
        try
        {
            foreach (var (unit, ptx) in ptxByUnit) _modules.Add(unit, CudaModule.LoadPtx(device, ptx, unit));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// The PTX of <paramref name="model"/>'s CUDA unit <paramref name="unit"/> carried by <paramref name="assembly"/> as the
    /// manifest resource <c>ptx/&lt;model&gt;.&lt;unit&gt;.ptx</c> (build/MoCGen.Ptx.targets embeds them); null when absent.
    /// </summary>
    public static string? EmbeddedPtx(Assembly assembly, string model, string unit)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        using var stream = assembly.GetManifestResourceStream(PtxResourceName(model, unit));
        if (stream is null) return null;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The manifest resource name of a model's PTX unit: <c>ptx/&lt;model&gt;.&lt;unit&gt;.ptx</c>.</summary>
    public static string PtxResourceName(string model, string unit) => "ptx/" + model + "." + unit + ".ptx";

    /// <inheritdoc />
    public string Name => "cuda";

    /// <summary>The GPU.</summary>
    public CudaDevice Gpu => _device;

    /// <inheritdoc />
    public DeviceBuffer Allocate(DeviceElement element, long length)
    {
        DeviceBuffer buffer = element switch
        {
            DeviceElement.Float32 => new Buffer<float>(_device.Allocate<float>(Math.Max(1, length)), element, length),
            DeviceElement.Int32 => new Buffer<int>(_device.Allocate<int>(Math.Max(1, length)), element, length),
            DeviceElement.BFloat16 => new Buffer<ushort>(_device.Allocate<ushort>(Math.Max(1, length)), element, length),
            _ => throw new ArgumentOutOfRangeException(nameof(element), element, "Unknown device element type."),
        };
        ((IClearable)buffer).Clear();
        return buffer;
    }

    /// <inheritdoc />
    public void Upload(DeviceBuffer buffer, ReadOnlySpan<float> values, long offset = 0) => As<float>(buffer).Cuda.Upload(values, offset);

    /// <inheritdoc />
    public void Upload(DeviceBuffer buffer, ReadOnlySpan<int> values, long offset = 0) => As<int>(buffer).Cuda.Upload(values, offset);

    /// <inheritdoc />
    public void Upload(DeviceBuffer buffer, ReadOnlySpan<ushort> values, long offset = 0) => As<ushort>(buffer).Cuda.Upload(values, offset);

    /// <inheritdoc />
    public void Download(DeviceBuffer buffer, Span<float> values, long offset = 0) => As<float>(buffer).Cuda.Download(values, offset);

    /// <inheritdoc />
    public void Download(DeviceBuffer buffer, Span<int> values, long offset = 0) => As<int>(buffer).Cuda.Download(values, offset);

    /// <inheritdoc />
    public void Download(DeviceBuffer buffer, Span<ushort> values, long offset = 0) => As<ushort>(buffer).Cuda.Download(values, offset);

    /// <inheritdoc />
    public void Launch(KernelLaunch kernel, int tokens, params ReadOnlySpan<KernelArg> args)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var function = Kernel(kernel);
        _args.Clear();
        foreach (var a in args)
        {
            switch (a.Kind)
            {
                case KernelArgKind.Buffer:
                    _args.AddPointer(a.Buffer switch
                    {
                        Buffer<float> f => f.Cuda.DevicePointer + (ulong)(a.Offset * sizeof(float)),
                        Buffer<int> i => i.Cuda.DevicePointer + (ulong)(a.Offset * sizeof(int)),
                        Buffer<ushort> h => h.Cuda.DevicePointer + (ulong)(a.Offset * sizeof(ushort)),
                        _ => throw new ArgumentException($"Kernel '{kernel.Name}': a buffer of another device was passed.", nameof(args)),
                    });
                    break;
                case KernelArgKind.Int32:
                    _args.Add(a.Int);
                    break;
                default:
                    _args.Add(a.Float);
                    break;
            }
        }
        var (x, y) = kernel.Grid(tokens);
        function.Launch(new Dim3(x, y), new Dim3(kernel.Block), kernel.DynamicSharedBytes, null, _args);
    }

    /// <inheritdoc />
    public void Synchronize() => _device.Synchronize();

    /// <summary>Unloads the modules (buffers are their owners' to dispose); the GPU stays open.</summary>
    public void Dispose()
    {
        foreach (var module in _modules.Values) module.Dispose();
        _modules.Clear();
        _kernels.Clear();
        _args.Dispose();
    }

    private CudaKernel Kernel(KernelLaunch launch)
    {
        if (_kernels.TryGetValue(launch.Name, out var found)) return found;
        if (!_modules.TryGetValue(launch.Unit, out var module))
            throw new InvalidOperationException($"Kernel '{launch.Name}' lives in CUDA unit '{launch.Unit}', whose PTX was not loaded (loaded: {string.Join(", ", _modules.Keys)}).");
        var kernel = module.GetKernel(launch.Name);
        // Static plus dynamic shared memory above 48 KiB needs the opt-in; setting it for any dynamic size is harmless.
        if (launch.DynamicSharedBytes > 0) kernel.SetMaxDynamicSharedMemory(launch.DynamicSharedBytes);
        _kernels[launch.Name] = kernel;
        return kernel;
    }

    private static Buffer<T> As<T>(DeviceBuffer buffer) where T : unmanaged =>
        buffer as Buffer<T> ?? throw new ArgumentException($"Expected a CUDA {typeof(T).Name} buffer, got {buffer?.GetType().Name ?? "null"}.", nameof(buffer));

    private interface IClearable
    {
        void Clear();
    }

    private sealed class Buffer<T>(CudaBuffer<T> cuda, DeviceElement element, long length) : DeviceBuffer(element, length), IClearable where T : unmanaged
    {
        public CudaBuffer<T> Cuda { get; } = cuda;

        public void Clear() => Cuda.Clear();

        public override void Dispose() => Cuda.Dispose();
    }
}
