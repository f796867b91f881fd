using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace MoCGen.Cuda;

/// <summary>
/// A CUDA driver call failed, or the driver or GPU is missing. The message names the driver call, the error name and
/// description, and the kernel or module involved, e.g.
/// <c>cuLaunchKernel(mocgen_ffn_forward) failed: CUDA_ERROR_INVALID_VALUE (invalid argument)</c>.
/// </summary>
public sealed class CudaException : Exception
{
    /// <summary>An error that did not come from a driver call (no driver, no device, ...).</summary>
    public CudaException(string message) : base(message)
    {
        Call = "";
    }

    internal CudaException(string call, string? subject, int result, string? detail = null)
        : base(CudaErrors.Format(call, subject, result, detail))
    {
        Call = call;
        Subject = subject;
        Result = result;
        ErrorName = CudaErrors.Describe(result).Name;
    }

    /// <summary>The driver entry point that failed (e.g. <c>cuLaunchKernel</c>); empty when none did.</summary>
    public string Call { get; }

    /// <summary>The kernel, module or buffer involved, when there was one.</summary>
    public string? Subject { get; }

    /// <summary>The raw CUresult code (0 when the error did not come from a driver call).</summary>
    public int Result { get; }

    /// <summary>The CUresult name, e.g. <c>CUDA_ERROR_INVALID_VALUE</c>; null when the error did not come from a driver call.</summary>
    public string? ErrorName { get; }
}

/// <summary>Turns CUresult codes into names and descriptions: from the driver when it is loaded, else a built-in table.</summary>
internal static unsafe class CudaErrors
{
    // Names and texts as cuda.h / cuGetErrorString give them, for the codes one meets in practice.
    private static readonly Dictionary<int, (string Name, string Description)> Fallback = new()
    {
        [0] = ("CUDA_SUCCESS", "no error"),
        [1] = ("CUDA_ERROR_INVALID_VALUE", "invalid argument"),
        [2] = ("CUDA_ERROR_OUT_OF_MEMORY", "out of memory"),
        [3] = ("CUDA_ERROR_NOT_INITIALIZED", "initialization error"),
        [4] = ("CUDA_ERROR_DEINITIALIZED", "driver shutting down"),
        [34] = ("CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"),
        [35] = ("CUDA_ERROR_INSUFFICIENT_DRIVER", "CUDA driver version is insufficient for CUDA runtime version"),
        [36] = ("CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER", "API call requires a newer CUDA driver"),
        [46] = ("CUDA_ERROR_DEVICE_UNAVAILABLE", "CUDA-capable device(s) is/are busy or unavailable"),
        [100] = ("CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"),
        [101] = ("CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"),
        [200] = ("CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"),
        [201] = ("CUDA_ERROR_INVALID_CONTEXT", "invalid device context"),
        [209] = ("CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"),
        [218] = ("CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"),
        [221] = ("CUDA_ERROR_JIT_COMPILER_NOT_FOUND", "PTX JIT compiler library not found"),
        [222] = ("CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "the provided PTX was compiled with an unsupported toolchain."),
        [300] = ("CUDA_ERROR_INVALID_SOURCE", "device kernel image is invalid"),
        [301] = ("CUDA_ERROR_FILE_NOT_FOUND", "file not found"),
        [400] = ("CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"),
        [500] = ("CUDA_ERROR_NOT_FOUND", "named symbol not found"),
        [600] = ("CUDA_ERROR_NOT_READY", "device not ready"),
        [700] = ("CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"),
        [701] = ("CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"),
        [702] = ("CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"),
        [710] = ("CUDA_ERROR_ASSERT", "device-side assert triggered"),
        [715] = ("CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"),
        [716] = ("CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"),
        [719] = ("CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"),
        [801] = ("CUDA_ERROR_NOT_SUPPORTED", "operation not supported"),
        [803] = ("CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "system has unsupported display driver / cuda driver combination"),
        [999] = ("CUDA_ERROR_UNKNOWN", "unknown error"),
    };

    /// <summary>Name and description of <paramref name="result"/>: from cuGetErrorName/cuGetErrorString when the driver is
    /// loaded and knows the code, else from the built-in table.</summary>
    internal static (string Name, string Description) Describe(int result) =>
        Describe(result, CudaDriver.IsLoaded);

    /// <summary><see cref="Describe(int)"/> with the driver lookup switched off or on (off: the table only; for tests).</summary>
    internal static (string Name, string Description) Describe(int result, bool useDriver)
    {
        if (useDriver)
        {
            try
            {
                byte* name = null, text = null;
                if (CudaDriver.cuGetErrorName(result, &name) == 0 && name != null)
                {
                    string n = Marshal.PtrToStringUTF8((nint)name) ?? "";
                    string d = CudaDriver.cuGetErrorString(result, &text) == 0 && text != null
                        ? Marshal.PtrToStringUTF8((nint)text) ?? ""
                        : (Fallback.TryGetValue(result, out var f) ? f.Description : "");
                    if (n.Length > 0) return (n, d);
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // fall through to the table
            }
        }
        return Fallback.TryGetValue(result, out var entry)
            ? entry
            : ($"CUresult {result}", "unrecognized error code");
    }

    /// <summary>The message of a failed driver call: <c>call(subject) failed: NAME (description)</c>, then the detail
    /// (e.g. a JIT log) on following lines.</summary>
    internal static string Format(string call, string? subject, int result, string? detail = null) =>
        Format(call, subject, result, detail, CudaDriver.IsLoaded);

    /// <summary><see cref="Format(string, string?, int, string?)"/> with the driver lookup switched off or on.</summary>
    internal static string Format(string call, string? subject, int result, string? detail, bool useDriver)
    {
        var (name, description) = Describe(result, useDriver);
        string head = string.IsNullOrEmpty(subject) ? call : $"{call}({subject})";
        string message = string.IsNullOrEmpty(description)
            ? $"{head} failed: {name}"
            : $"{head} failed: {name} ({description})";
        return string.IsNullOrWhiteSpace(detail) ? message : message + Environment.NewLine + detail.TrimEnd();
    }
}
