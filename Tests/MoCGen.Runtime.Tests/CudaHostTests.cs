using System;
using System.Runtime.InteropServices;
using MoCGen.Cuda;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>The CUDA driver-API host's host-side behaviour, all runnable without a GPU or driver.</summary>
public sealed class CudaHostTests
{
    private static bool DriverPresent => OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libcuda.so.1", out _);

    [Fact]
    public void TryOpenReportsTheMissingDriver()
    {
        if (DriverPresent) return; // covered by CudaGpuTests on a GPU machine
        Assert.False(CudaDevice.TryOpen(0, out var device, out string why));
        Assert.Null(device);
        Assert.Equal(CudaDevice.NoDriverMessage, why);
        Assert.Contains("No NVIDIA driver found (libcuda.so.1 could not be loaded)", why);
        Assert.Contains("--device cpu", why);
        Assert.Equal(0, CudaDevice.DeviceCount());
    }

    [Fact]
    public void OpenThrowsCudaExceptionWithoutDriver()
    {
        if (DriverPresent) return;
        var e = Assert.Throws<CudaException>(() => CudaDevice.Open(0));
        Assert.Equal(CudaDevice.NoDriverMessage, e.Message);
        Assert.Equal("", e.Call);
        Assert.Null(e.ErrorName);
    }

    [Theory]
    [InlineData("cuLaunchKernel", "mocgen_ffn_forward", 1, "cuLaunchKernel(mocgen_ffn_forward) failed: CUDA_ERROR_INVALID_VALUE (invalid argument)")]
    [InlineData("cuMemAlloc_v2", null, 2, "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)")]
    [InlineData("cuInit", "", 100, "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)")]
    [InlineData("cuModuleGetFunction", "k", 500, "cuModuleGetFunction(k) failed: CUDA_ERROR_NOT_FOUND (named symbol not found)")]
    [InlineData("cuStreamSynchronize", null, 700, "cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)")]
    [InlineData("cuModuleLoadDataEx", "ffn.ptx", 218, "cuModuleLoadDataEx(ffn.ptx) failed: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)")]
    [InlineData("cuCtxSetCurrent", null, 12345, "cuCtxSetCurrent failed: CUresult 12345 (unrecognized error code)")]
    public void ErrorMessagesFromTheFallbackTable(string call, string? subject, int code, string expected)
    {
        Assert.Equal(expected, CudaErrors.Format(call, subject, code, null, useDriver: false));
    }

    [Fact]
    public void ErrorMessageAppendsDetailOnNewLines()
    {
        string message = CudaErrors.Format("cuModuleLoadDataEx", "ffn", 218, "JIT error log:\nptxas error: bad\n", useDriver: false);
        Assert.Equal("cuModuleLoadDataEx(ffn) failed: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)"
            + Environment.NewLine + "JIT error log:\nptxas error: bad", message);
    }

    [Fact]
    public void CudaExceptionCarriesCallSubjectAndCode()
    {
        if (DriverPresent) return; // the driver's texts may differ slightly from the table
        var e = new CudaException("cuLaunchKernel", "mocgen_ffn_forward", 1);
        Assert.Equal("cuLaunchKernel(mocgen_ffn_forward) failed: CUDA_ERROR_INVALID_VALUE (invalid argument)", e.Message);
        Assert.Equal("cuLaunchKernel", e.Call);
        Assert.Equal("mocgen_ffn_forward", e.Subject);
        Assert.Equal(1, e.Result);
        Assert.Equal("CUDA_ERROR_INVALID_VALUE", e.ErrorName);
    }

    [Fact]
    public void DescribeFallsBackWhenTheDriverIsMissing()
    {
        if (DriverPresent) return;
        Assert.Equal(("CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"), CudaErrors.Describe(719));
    }

    [Fact]
    public void KernelArgumentsPointerArrayLayout()
    {
        using var args = new KernelArguments();
        args.Add(42).Add(1.5f).AddPointer(0xDEAD_BEEF_0000UL).Add((short)-7).Add(2.25).Add(new Pair(3, 4));
        Assert.Equal(6, args.Count);
        Assert.Equal(new[] { 0, 8, 16, 24, 32, 48 }, args.Offsets);

        nint[] p = args.PointerArraySnapshot();
        Assert.Equal(6, p.Length);
        for (int i = 0; i < args.Count; i++) Assert.Equal(args.ValueBase + args.Offsets[i], p[i]);
        Assert.Equal(42, Marshal.ReadInt32(p[0]));
        Assert.Equal(1.5f, BitConverter.Int32BitsToSingle(Marshal.ReadInt32(p[1])));
        Assert.Equal(0xDEAD_BEEF_0000L, Marshal.ReadInt64(p[2]));
        Assert.Equal((short)-7, Marshal.ReadInt16(p[3]));
        Assert.Equal(2.25, BitConverter.Int64BitsToDouble(Marshal.ReadInt64(p[4])));
        Assert.Equal(3L, Marshal.ReadInt64(p[5]));
        Assert.Equal(4L, Marshal.ReadInt64(p[5], 8));
        Assert.Equal(0, p[0] % 8);
        Assert.Equal(0, p[5] % 16);
    }

    [Fact]
    public void KernelArgumentsGrowAndClear()
    {
        using var args = new KernelArguments();
        for (int i = 0; i < 100; i++) args.Add(i).Add((float)i);
        Assert.Equal(200, args.Count);
        nint[] p = args.PointerArraySnapshot();
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(i, Marshal.ReadInt32(p[2 * i]));
            Assert.Equal((float)i, BitConverter.Int32BitsToSingle(Marshal.ReadInt32(p[2 * i + 1])));
        }
        args.Clear().Add(7u);
        Assert.Equal(1, args.Count);
        Assert.Equal(7, Marshal.ReadInt32(args.PointerArraySnapshot()[0]));
    }

    [Fact]
    public void KernelArgumentsAddsABufferAsItsDevicePointer()
    {
        using var buffer = CudaBuffer<float>.Detached(16);
        using var args = new KernelArguments().Add(buffer);
        Assert.Equal((long)buffer.DevicePointer, Marshal.ReadInt64(args.PointerArraySnapshot()[0]));
    }

    [Fact]
    public void KernelArgumentsRejectUseAfterDispose()
    {
        var args = new KernelArguments();
        args.Dispose();
        Assert.Throws<ObjectDisposedException>(() => args.Add(1));
    }

    [Fact]
    public void BufferLengthChecks()
    {
        using var buffer = CudaBuffer<float>.Detached(8);
        Assert.Equal(32, buffer.ByteLength);

        var tooLong = Assert.Throws<ArgumentException>(() => buffer.Upload(new float[9]));
        Assert.Contains("CudaBuffer<Single>.Upload: source has 9 elements but the buffer has only 8 from offset 0", tooLong.Message);

        var pastEnd = Assert.Throws<ArgumentException>(() => buffer.Download(new float[4], offset: 5));
        Assert.Contains("CudaBuffer<Single>.Download: destination has 4 elements but the buffer has only 3 from offset 5", pastEnd.Message);

        var badOffset = Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Upload(new float[1], offset: 9));
        Assert.Contains("offset 9 is outside the buffer of 8 elements", badOffset.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Upload(new float[1], offset: -1));

        // In range: the checks pass and the detached buffer reports that it has no device memory.
        Assert.Throws<InvalidOperationException>(() => buffer.Upload(new float[3], offset: 5));
        buffer.Upload(ReadOnlySpan<float>.Empty, offset: 8); // empty copies are no-ops

        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => buffer.Upload(new float[1]));
        Assert.Throws<ObjectDisposedException>(() => buffer.DevicePointer);
    }

    [Fact]
    public void Dim3Conversions()
    {
        Dim3 a = 5;
        Dim3 b = (2, 3, 4);
        Assert.Equal((5u, 1u, 1u), (a.X, a.Y, a.Z));
        Assert.Equal((2u, 3u, 4u), (b.X, b.Y, b.Z));
        Assert.Throws<ArgumentOutOfRangeException>(() => { Dim3 bad = (1, 0, 1); });
    }

    [Fact]
    public void JitLogIsReadUpToTheFirstNul()
    {
        byte[] log = new byte[32];
        "ptxas fatal\n"u8.CopyTo(log);
        Assert.Equal("ptxas fatal", CudaModule.CString(log));
        Assert.Equal("", CudaModule.CString(new byte[8]));
    }

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct Pair(long A, long B);
}
