using System;
using System.Collections.Generic;
using System.Linq;
using System.Linq.Expressions;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using MoCGen.Inference;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// ILGPU's accelerator as an <see cref="IKernelDevice"/>: a kernel launch names its ILGPU twin
/// (<see cref="KernelLaunch.IlgpuMethod"/>, e.g. <c>Decoder.Embed</c> inside the model's <c>Ilgpu</c> class), which is
/// loaded once as an explicitly grouped stream kernel; buffers become ArrayViews from the given offset on. With the CPU
/// accelerator this runs the runtime's GPU decode step, unchanged, on the renderings of the same templates as CUDA.
/// </summary>
internal sealed class IlgpuKernelDevice(Accelerator accelerator, Type ilgpu) : IKernelDevice
{
    private readonly Dictionary<string, (Delegate Launcher, Type[] Parameters)> _kernels = new(StringComparer.Ordinal);

    public string Name => "ilgpu-" + accelerator.AcceleratorType.ToString().ToLowerInvariant();

    /// <summary>Launches so far, by kernel name (what a step ran).</summary>
    public Dictionary<string, int> Launches { get; } = new(StringComparer.Ordinal);

    public DeviceBuffer Allocate(DeviceElement element, long length) => element switch
    {
        DeviceElement.Float32 => new Buffer<float>(accelerator, element, length),
        DeviceElement.Int32 => new Buffer<int>(accelerator, element, length),
        DeviceElement.BFloat16 => new Buffer<ushort>(accelerator, element, length),
        _ => throw new ArgumentOutOfRangeException(nameof(element), element, "Unknown device element type."),
    };

    public void Upload(DeviceBuffer buffer, ReadOnlySpan<float> values, long offset = 0) => ((Buffer<float>)buffer).Upload(values, offset);

    public void Upload(DeviceBuffer buffer, ReadOnlySpan<int> values, long offset = 0) => ((Buffer<int>)buffer).Upload(values, offset);

    public void Upload(DeviceBuffer buffer, ReadOnlySpan<ushort> values, long offset = 0) => ((Buffer<ushort>)buffer).Upload(values, offset);

    public void Download(DeviceBuffer buffer, Span<float> values, long offset = 0) => ((Buffer<float>)buffer).Download(values, offset);

    public void Download(DeviceBuffer buffer, Span<int> values, long offset = 0) => ((Buffer<int>)buffer).Download(values, offset);

    public void Download(DeviceBuffer buffer, Span<ushort> values, long offset = 0) => ((Buffer<ushort>)buffer).Download(values, offset);

    public void Launch(KernelLaunch kernel, int tokens, params ReadOnlySpan<KernelArg> args)
    {
        var (launcher, parameters) = Load(kernel.IlgpuMethod);
        if (parameters.Length != args.Length)
            throw new ArgumentException($"{kernel.IlgpuMethod} takes {parameters.Length} parameters; the launch passed {args.Length}.");
        var values = new object[args.Length + 1];
        var (x, y) = kernel.Grid(tokens);
        // The dynamic shared memory is a tile of stored weights (the up/down tile): bf16 bits where the kernel takes them.
        bool bf16 = parameters.Contains(typeof(ArrayView<ushort>));
        values[0] = kernel.DynamicSharedBytes <= 0
            ? new KernelConfig(new Index3D(x, y, 1), new Index3D(kernel.Block, 1, 1))
            : new KernelConfig(new Index3D(x, y, 1), new Index3D(kernel.Block, 1, 1), bf16
                ? SharedMemoryConfig.RequestDynamic<ushort>(kernel.DynamicSharedBytes / sizeof(ushort))
                : SharedMemoryConfig.RequestDynamic<float>(kernel.DynamicSharedBytes / sizeof(float)));
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            values[i + 1] = a.Kind switch
            {
                KernelArgKind.Int32 => parameters[i] == typeof(int) ? a.Int : throw Mismatch(kernel, i, parameters[i], "int"),
                KernelArgKind.Float32 => parameters[i] == typeof(float) ? a.Float : throw Mismatch(kernel, i, parameters[i], "float"),
                _ => a.Buffer switch
                {
                    Buffer<float> f when parameters[i] == typeof(ArrayView<float>) => f.View(a.Offset),
                    Buffer<int> n when parameters[i] == typeof(ArrayView<int>) => n.View(a.Offset),
                    Buffer<ushort> h when parameters[i] == typeof(ArrayView<ushort>) => h.View(a.Offset),
                    _ => throw Mismatch(kernel, i, parameters[i], a.Buffer?.Element.ToString() ?? "null"),
                },
            };
        }
        launcher.DynamicInvoke(values);
        Launches[kernel.Name] = Launches.GetValueOrDefault(kernel.Name) + 1;
    }

    public void Synchronize() => accelerator.Synchronize();

    public void Dispose()
    {
    }

    private static ArgumentException Mismatch(KernelLaunch kernel, int index, Type expected, string given) =>
        new($"{kernel.IlgpuMethod} parameter {index} is {expected.Name}; the launch passed {given}.");

    private (Delegate, Type[]) Load(string method)
    {
        if (_kernels.TryGetValue(method, out var found)) return found;
        var path = method.Split('.');
        var type = ilgpu;
        foreach (var nested in path[..^1])
            type = type.GetNestedType(nested) ?? throw new InvalidOperationException($"{type.FullName} has no nested class {nested}.");
        var info = type.GetMethod(path[^1], BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException($"{type.FullName} has no kernel {path[^1]}.");
        var parameters = info.GetParameters().Select(p => p.ParameterType).ToArray();
        var kernel = info.CreateDelegate(Expression.GetActionType(parameters));
        var loader = typeof(KernelLoaders).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Single(m => m.Name == "LoadStreamKernel" && m.GetGenericArguments().Length == parameters.Length
                && m.GetParameters() is [var a, var b] && a.ParameterType == typeof(Accelerator) && b.ParameterType.Name.StartsWith("Action", StringComparison.Ordinal))
            .MakeGenericMethod(parameters);
        var launcher = (Delegate)loader.Invoke(null, new object[] { accelerator, kernel })!;
        _kernels[method] = (launcher, parameters);
        return (launcher, parameters);
    }

    private sealed class Buffer<T> : DeviceBuffer where T : unmanaged
    {
        private readonly MemoryBuffer1D<T, Stride1D.Dense> _memory;

        public Buffer(Accelerator accelerator, DeviceElement element, long length) : base(element, length)
        {
            _memory = accelerator.Allocate1D<T>(Math.Max(1, length));
            _memory.MemSetToZero();
            accelerator.Synchronize();
        }

        public ArrayView<T> View(long offset) => _memory.View.SubView(offset, _memory.Length - offset);

        public void Upload(ReadOnlySpan<T> values, long offset) => _memory.View.SubView(offset, values.Length).CopyFromCPU(values.ToArray());

        public void Download(Span<T> values, long offset)
        {
            var host = new T[values.Length];
            _memory.View.SubView(offset, values.Length).CopyToCPU(host);
            host.CopyTo(values);
        }

        public override void Dispose() => _memory.Dispose();
    }
}
