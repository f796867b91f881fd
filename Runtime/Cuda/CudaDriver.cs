using System;
using System.Runtime.InteropServices;

namespace MoCGen.Cuda;

/// <summary>
/// Raw bindings to the CUDA driver API (libcuda.so.1, shipped with the NVIDIA driver; no toolkit needed).
/// Source-generated P/Invoke with blittable signatures only, so it is NativeAOT- and trimming-safe.
/// Every entry point returns a CUresult (0 = CUDA_SUCCESS). Call <see cref="TryLoad"/> first: it probes the library
/// so that a missing driver is a clean error instead of a <see cref="DllNotFoundException"/> on the first call.
/// </summary>
internal static unsafe partial class CudaDriver
{
    internal const string LibraryName = "libcuda.so.1";

    // CUdevice_attribute
    internal const int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    internal const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    internal const int CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36;
    internal const int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37;
    internal const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    internal const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    internal const int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

    // CUjit_option
    internal const int CU_JIT_INFO_LOG_BUFFER = 3;
    internal const int CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
    internal const int CU_JIT_ERROR_LOG_BUFFER = 5;
    internal const int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

    // CUfunction_attribute
    internal const int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    // Flags
    internal const uint CU_STREAM_DEFAULT = 0;
    internal const uint CU_STREAM_NON_BLOCKING = 1;
    internal const uint CU_EVENT_DEFAULT = 0;

    private static readonly object Gate = new();
    private static bool probed;
    private static bool loaded;
    private static string? loadError;

    /// <summary>Whether libcuda.so.1 could be loaded (probed once, cached).</summary>
    internal static bool IsLoaded => TryLoad(out _);

    /// <summary>Probes the driver library once; false with a user-facing reason when it is absent.</summary>
    internal static bool TryLoad(out string why)
    {
        lock (Gate)
        {
            if (!probed)
            {
                probed = true;
                if (!OperatingSystem.IsLinux())
                {
                    loadError = "No NVIDIA driver found (the CUDA backend needs Linux and libcuda.so.1): run with --device cpu, or install the NVIDIA driver";
                }
                else if (NativeLibrary.TryLoad(LibraryName, out _))
                {
                    // Keep the handle: the P/Invoke loader resolves the same library by name from now on.
                    loaded = true;
                }
                else
                {
                    loadError = CudaDevice.NoDriverMessage;
                }
            }
            why = loadError ?? "";
            return loaded;
        }
    }

    [LibraryImport(LibraryName)] internal static partial int cuInit(uint flags);
    [LibraryImport(LibraryName)] internal static partial int cuDriverGetVersion(int* driverVersion);
    [LibraryImport(LibraryName)] internal static partial int cuGetErrorName(int error, byte** pStr);
    [LibraryImport(LibraryName)] internal static partial int cuGetErrorString(int error, byte** pStr);

    [LibraryImport(LibraryName)] internal static partial int cuDeviceGetCount(int* count);
    [LibraryImport(LibraryName)] internal static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(LibraryName)] internal static partial int cuDeviceGetName(byte* name, int len, int device);
    [LibraryImport(LibraryName)] internal static partial int cuDeviceGetAttribute(int* pi, int attrib, int device);
    [LibraryImport(LibraryName)] internal static partial int cuDeviceTotalMem_v2(nuint* bytes, int device);

    [LibraryImport(LibraryName)] internal static partial int cuDevicePrimaryCtxRetain(nint* pctx, int device);
    [LibraryImport(LibraryName)] internal static partial int cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(LibraryName)] internal static partial int cuCtxCreate_v2(nint* pctx, uint flags, int device);
    [LibraryImport(LibraryName)] internal static partial int cuCtxDestroy_v2(nint ctx);
    [LibraryImport(LibraryName)] internal static partial int cuCtxSetCurrent(nint ctx);
    [LibraryImport(LibraryName)] internal static partial int cuCtxSynchronize();

    [LibraryImport(LibraryName)] internal static partial int cuMemAlloc_v2(ulong* dptr, nuint bytesize);
    [LibraryImport(LibraryName)] internal static partial int cuMemFree_v2(ulong dptr);
    [LibraryImport(LibraryName)] internal static partial int cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);
    [LibraryImport(LibraryName)] internal static partial int cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);
    [LibraryImport(LibraryName)] internal static partial int cuMemsetD8_v2(ulong dstDevice, byte value, nuint count);

    [LibraryImport(LibraryName)]
    internal static partial int cuModuleLoadDataEx(nint* module, void* image, uint numOptions, int* options, void** optionValues);
    [LibraryImport(LibraryName)] internal static partial int cuModuleGetFunction(nint* hfunc, nint hmod, byte* name);
    [LibraryImport(LibraryName)] internal static partial int cuModuleUnload(nint hmod);
    [LibraryImport(LibraryName)] internal static partial int cuFuncSetAttribute(nint hfunc, int attrib, int value);

    [LibraryImport(LibraryName)]
    internal static partial int cuLaunchKernel(nint f, uint gridDimX, uint gridDimY, uint gridDimZ, uint blockDimX, uint blockDimY,
        uint blockDimZ, uint sharedMemBytes, nint hStream, void** kernelParams, void** extra);

    [LibraryImport(LibraryName)] internal static partial int cuStreamCreate(nint* phStream, uint flags);
    [LibraryImport(LibraryName)] internal static partial int cuStreamSynchronize(nint hStream);
    [LibraryImport(LibraryName)] internal static partial int cuStreamDestroy_v2(nint hStream);

    [LibraryImport(LibraryName)] internal static partial int cuEventCreate(nint* phEvent, uint flags);
    [LibraryImport(LibraryName)] internal static partial int cuEventRecord(nint hEvent, nint hStream);
    [LibraryImport(LibraryName)] internal static partial int cuEventSynchronize(nint hEvent);
    [LibraryImport(LibraryName)] internal static partial int cuEventElapsedTime(float* pMilliseconds, nint hStart, nint hEnd);
    [LibraryImport(LibraryName)] internal static partial int cuEventDestroy_v2(nint hEvent);

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="call"/> (and <paramref name="subject"/>) unless
    /// <paramref name="result"/> is CUDA_SUCCESS.</summary>
    internal static void Check(int result, string call, string? subject = null)
    {
        if (result != 0) throw new CudaException(call, subject, result);
    }
}
