using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace MoCGen.Cuda;

/// <summary>
/// One NVIDIA GPU opened through the CUDA driver API, with its primary context retained. Open it with
/// <see cref="TryOpen"/> (no exception when there is no driver or GPU) or <see cref="Open"/>. Dispose the buffers,
/// modules, streams and events made on it before the device itself.
/// </summary>
public sealed unsafe class CudaDevice : IDisposable
{
    /// <summary>The message when libcuda.so.1 cannot be loaded.</summary>
    public const string NoDriverMessage =
        "No NVIDIA driver found (libcuda.so.1 could not be loaded): run with --device cpu, or install the NVIDIA driver";

    private static readonly object InitGate = new();
    private static int initResult = -1;

    private nint context;

    private CudaDevice(int ordinal, int handle, nint context)
    {
        Ordinal = ordinal;
        Handle = handle;
        this.context = context;
    }

    /// <summary>The device ordinal it was opened with.</summary>
    public int Ordinal { get; }

    /// <summary>The device's name, e.g. "NVIDIA H100 80GB HBM3".</summary>
    public string Name { get; private init; } = "";

    /// <summary>Compute capability (major, minor), e.g. (9, 0) for Hopper.</summary>
    public (int Major, int Minor) ComputeCapability { get; private init; }

    /// <summary>Most shared memory one block may opt into (bytes), via <see cref="CudaKernel.SetMaxDynamicSharedMemory"/>.</summary>
    public int SharedMemoryPerBlockOptin { get; private init; }

    /// <summary>Number of streaming multiprocessors.</summary>
    public int MultiprocessorCount { get; private init; }

    /// <summary>Peak memory clock in kHz (0 when the driver does not report it).</summary>
    public int MemoryClockKHz { get; private init; }

    /// <summary>Width of the global memory bus in bits (0 when the driver does not report it).</summary>
    public int MemoryBusWidthBits { get; private init; }

    /// <summary>Peak DRAM bandwidth in bytes per second, 2 x memory clock x bus width / 8 (double data rate); 0 when unknown.</summary>
    public double PeakMemoryBandwidth => 2.0 * MemoryClockKHz * 1000.0 * MemoryBusWidthBits / 8.0;

    /// <summary>Total device memory in bytes.</summary>
    public long TotalMemory { get; private init; }

    /// <summary>The driver's CUDA version as cuDriverGetVersion reports it (e.g. 12040 for CUDA 12.4).</summary>
    public int DriverVersion { get; private init; }

    internal int Handle { get; }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => context == 0;

    /// <summary>Number of CUDA devices, or 0 when there is no driver or it fails to initialize.</summary>
    public static int DeviceCount()
    {
        if (!CudaDriver.TryLoad(out _) || Init() != 0) return 0;
        int count;
        return CudaDriver.cuDeviceGetCount(&count) == 0 ? count : 0;
    }

    /// <summary>Opens device <paramref name="ordinal"/>; false with a user-facing reason when there is no driver, no GPU,
    /// no such ordinal, or a driver call fails.</summary>
    public static bool TryOpen(int ordinal, [NotNullWhen(true)] out CudaDevice? device, out string why)
    {
        try
        {
            device = Open(ordinal);
            why = "";
            return true;
        }
        catch (CudaException e)
        {
            device = null;
            why = e.Message;
            return false;
        }
    }

    /// <summary>Opens device <paramref name="ordinal"/>.</summary>
    /// <exception cref="CudaException">No driver, no GPU, no such ordinal, or a driver call failed.</exception>
    public static CudaDevice Open(int ordinal = 0)
    {
        if (!CudaDriver.TryLoad(out string why)) throw new CudaException(why);
        int init = Init();
        if (init != 0)
        {
            string call = CudaErrors.Format("cuInit", null, init);
            throw init is 100 or 34
                ? new CudaException($"No CUDA-capable GPU found ({call}): run with --device cpu")
                : new CudaException("cuInit", null, init);
        }

        int count;
        CudaDriver.Check(CudaDriver.cuDeviceGetCount(&count), "cuDeviceGetCount");
        if (count == 0) throw new CudaException("No CUDA-capable GPU found (cuDeviceGetCount returned 0): run with --device cpu");
        if (ordinal < 0 || ordinal >= count)
            throw new CudaException($"CUDA device {ordinal} does not exist: this machine has {count} CUDA device(s), 0..{count - 1}");

        int handle;
        CudaDriver.Check(CudaDriver.cuDeviceGet(&handle, ordinal), "cuDeviceGet", $"device {ordinal}");

        byte* name = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, 256, handle), "cuDeviceGetName", $"device {ordinal}");
        nuint total;
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem_v2(&total, handle), "cuDeviceTotalMem_v2", $"device {ordinal}");
        int version;
        CudaDriver.Check(CudaDriver.cuDriverGetVersion(&version), "cuDriverGetVersion");

        nint ctx;
        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(&ctx, handle), "cuDevicePrimaryCtxRetain", $"device {ordinal}");
        var device = new CudaDevice(ordinal, handle, ctx)
        {
            Name = Marshal.PtrToStringUTF8((nint)name) ?? "",
            ComputeCapability = (Attribute(handle, ordinal, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                Attribute(handle, ordinal, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)),
            SharedMemoryPerBlockOptin = Attribute(handle, ordinal, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
            MultiprocessorCount = Attribute(handle, ordinal, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            MemoryClockKHz = OptionalAttribute(handle, CudaDriver.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
            MemoryBusWidthBits = OptionalAttribute(handle, CudaDriver.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH),
            TotalMemory = (long)total,
            DriverVersion = version,
        };
        device.MakeCurrent();
        return device;
    }

    private static int Init()
    {
        lock (InitGate)
        {
            if (initResult != 0) initResult = CudaDriver.cuInit(0);
            return initResult;
        }
    }

    private static int Attribute(int handle, int ordinal, int attribute)
    {
        int value;
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&value, attribute, handle), "cuDeviceGetAttribute",
            $"device {ordinal}, attribute {attribute}");
        return value;
    }

    /// <summary>An attribute that is informative only: 0 when the driver does not report it.</summary>
    private static int OptionalAttribute(int handle, int attribute)
    {
        int value;
        return CudaDriver.cuDeviceGetAttribute(&value, attribute, handle) == 0 ? value : 0;
    }

    /// <summary>Makes this device's context current on the calling thread (every wrapper does so before its driver call).</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent", Name);
    }

    /// <summary>Waits for all work queued on this device's context to finish.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize", Name);
    }

    /// <summary>Allocates an uninitialized device buffer of <paramref name="length"/> elements.</summary>
    public CudaBuffer<T> Allocate<T>(long length) where T : unmanaged => CudaBuffer<T>.Allocate(this, length);

    /// <summary>Allocates a device buffer and uploads <paramref name="source"/> into it.</summary>
    public CudaBuffer<T> Upload<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        var buffer = CudaBuffer<T>.Allocate(this, source.Length);
        try
        {
            buffer.Upload(source);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Releases the primary context (retained once per <see cref="Open"/>).</summary>
    public void Dispose()
    {
        if (context == 0) return;
        context = 0;
        _ = CudaDriver.cuDevicePrimaryCtxRelease_v2(Handle);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name} (device {Ordinal}, sm_{ComputeCapability.Major}{ComputeCapability.Minor}, {MultiprocessorCount} SMs, " +
        $"{TotalMemory / (1024 * 1024)} MiB, {SharedMemoryPerBlockOptin / 1024} KiB shared/block opt-in)";
}
