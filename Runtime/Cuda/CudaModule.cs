using System;
using System.Collections.Generic;
using System.Text;

namespace MoCGen.Cuda;

/// <summary>
/// A loaded PTX or cubin image (cuModuleLoadDataEx). PTX is JIT-compiled by the driver for the device; a failure
/// carries the JIT error log in the <see cref="CudaException"/> message. Get kernels with <see cref="GetKernel"/>.
/// </summary>
public sealed unsafe class CudaModule : IDisposable
{
    private const int LogBytes = 64 * 1024;

    private readonly Dictionary<string, CudaKernel> kernels = new(StringComparer.Ordinal);
    private nint handle;

    private CudaModule(CudaDevice device, nint handle, string name, string infoLog)
    {
        Device = device;
        this.handle = handle;
        Name = name;
        InfoLog = infoLog;
    }

    /// <summary>The device it was loaded on.</summary>
    public CudaDevice Device { get; }

    /// <summary>The name it was loaded under (used in error messages).</summary>
    public string Name { get; }

    /// <summary>The JIT info log (register/spill reports when the driver gives them); may be empty.</summary>
    public string InfoLog { get; }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => handle == 0;

    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return handle;
        }
    }

    /// <summary>Loads PTX source text; the driver JIT-compiles it for <paramref name="device"/>.</summary>
    public static CudaModule LoadPtx(CudaDevice device, string ptx, string name = "ptx")
    {
        ArgumentNullException.ThrowIfNull(ptx);
        // NUL-terminated, as the driver reads PTX as a C string.
        byte[] image = new byte[Encoding.UTF8.GetByteCount(ptx) + 1];
        Encoding.UTF8.GetBytes(ptx, image);
        return LoadImage(device, image, name);
    }

    /// <summary>Loads a cubin or fatbin image (bytes as nvcc/clang wrote them).</summary>
    public static CudaModule LoadCubin(CudaDevice device, ReadOnlySpan<byte> image, string name = "cubin")
    {
        if (image.IsEmpty) throw new ArgumentException($"CudaModule '{name}': the cubin image is empty", nameof(image));
        return LoadImage(device, image, name);
    }

    private static CudaModule LoadImage(CudaDevice device, ReadOnlySpan<byte> image, string name)
    {
        ArgumentNullException.ThrowIfNull(device);
        device.MakeCurrent();
        byte[] errorBuffer = new byte[LogBytes];
        byte[] infoBuffer = new byte[LogBytes];
        int* options = stackalloc int[4]
        {
            CudaDriver.CU_JIT_ERROR_LOG_BUFFER, CudaDriver.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
            CudaDriver.CU_JIT_INFO_LOG_BUFFER, CudaDriver.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
        };
        void** values = stackalloc void*[4];
        nint module;
        int result;
        fixed (byte* img = image)
        fixed (byte* err = errorBuffer)
        fixed (byte* info = infoBuffer)
        {
            values[0] = err;
            values[1] = (void*)(nuint)LogBytes;
            values[2] = info;
            values[3] = (void*)(nuint)LogBytes;
            result = CudaDriver.cuModuleLoadDataEx(&module, img, 4, options, values);
        }
        if (result != 0)
        {
            string log = CString(errorBuffer);
            throw new CudaException("cuModuleLoadDataEx", name, result,
                log.Length > 0 ? "JIT error log:" + Environment.NewLine + log : null);
        }
        return new CudaModule(device, module, name, CString(infoBuffer));
    }

    /// <summary>The text up to the first NUL (the driver writes C strings into the log buffers).</summary>
    internal static string CString(ReadOnlySpan<byte> buffer)
    {
        int end = buffer.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? buffer : buffer[..end]).TrimEnd();
    }

    /// <summary>The <c>extern "C" __global__</c> function <paramref name="kernelName"/> (cached per module).</summary>
    /// <exception cref="CudaException">The module has no such kernel (the message names both).</exception>
    public CudaKernel GetKernel(string kernelName)
    {
        ArgumentException.ThrowIfNullOrEmpty(kernelName);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (kernels.TryGetValue(kernelName, out var cached)) return cached;

        Device.MakeCurrent();
        byte[] utf8 = new byte[Encoding.UTF8.GetByteCount(kernelName) + 1];
        Encoding.UTF8.GetBytes(kernelName, utf8);
        nint function;
        int result;
        fixed (byte* n = utf8) result = CudaDriver.cuModuleGetFunction(&function, handle, n);
        if (result != 0)
            throw new CudaException("cuModuleGetFunction", kernelName, result,
                $"Module '{Name}' has no kernel named '{kernelName}' (is it declared extern \"C\" __global__?)");
        var kernel = new CudaKernel(this, function, kernelName);
        kernels.Add(kernelName, kernel);
        return kernel;
    }

    /// <summary>Unloads the module; its kernels can no longer be launched.</summary>
    public void Dispose()
    {
        if (handle == 0) return;
        nint h = handle;
        handle = 0;
        kernels.Clear();
        if (Device.IsDisposed) return;
        try
        {
            Device.MakeCurrent();
            _ = CudaDriver.cuModuleUnload(h);
        }
        catch (CudaException)
        {
            // The context is unusable; nothing left to unload.
        }
    }
}

/// <summary>A kernel (CUfunction) of a <see cref="CudaModule"/>.</summary>
public sealed unsafe class CudaKernel
{
    private readonly nint function;

    internal CudaKernel(CudaModule module, nint function, string name)
    {
        Module = module;
        this.function = function;
        Name = name;
    }

    /// <summary>The module it belongs to.</summary>
    public CudaModule Module { get; }

    /// <summary>The kernel's (unmangled) name.</summary>
    public string Name { get; }

    /// <summary>Allows launches with up to <paramref name="bytes"/> of dynamic shared memory (needed above 48 KiB;
    /// at most <see cref="CudaDevice.SharedMemoryPerBlockOptin"/> less the kernel's static shared memory).</summary>
    public void SetMaxDynamicSharedMemory(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        _ = Module.Handle; // throws when unloaded
        Module.Device.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuFuncSetAttribute(function, CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
            "cuFuncSetAttribute", Name);
    }

    /// <summary>Queues the kernel on <paramref name="stream"/> (null: the default stream). Asynchronous: launch-time errors
    /// (bad configuration, bad arguments) throw here; faults inside the kernel surface at the next synchronization.</summary>
    /// <param name="grid">Blocks per grid.</param>
    /// <param name="block">Threads per block.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block, in bytes.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="arguments">The kernel's parameters in declaration order.</param>
    public void Launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream? stream, KernelArguments arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        _ = Module.Handle; // throws when unloaded
        if (stream is not null && !ReferenceEquals(stream.Device, Module.Device))
            throw new ArgumentException($"Kernel '{Name}': the stream belongs to another device", nameof(stream));
        Module.Device.MakeCurrent();
        void** parameters = arguments.BuildPointerArray();
        CudaDriver.Check(CudaDriver.cuLaunchKernel(function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedBytes,
            stream?.Handle ?? 0, parameters, null), "cuLaunchKernel", Name);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Module.Name})";
}
