using System;
using System.Linq;
using MoCGen.Cuda;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>End-to-end checks of the CUDA host on a real GPU; each test returns early where there is no driver or GPU.</summary>
public sealed class CudaGpuTests
{
    // x[i] += a for i < n, written by hand so no toolkit is needed.
    private const string AddScalarPtx = """
        .version 7.0
        .target sm_50
        .address_size 64

        .visible .entry add_scalar(
            .param .u64 p_x,
            .param .u32 p_n,
            .param .f32 p_a
        )
        {
            .reg .pred %p;
            .reg .b32 %r<6>;
            .reg .f32 %f<3>;
            .reg .b64 %rd<5>;
            ld.param.u64 %rd1, [p_x];
            ld.param.u32 %r1, [p_n];
            ld.param.f32 %f1, [p_a];
            mov.u32 %r2, %ctaid.x;
            mov.u32 %r3, %ntid.x;
            mov.u32 %r4, %tid.x;
            mad.lo.s32 %r5, %r2, %r3, %r4;
            setp.ge.u32 %p, %r5, %r1;
            @%p bra DONE;
            cvta.to.global.u64 %rd2, %rd1;
            mul.wide.u32 %rd3, %r5, 4;
            add.s64 %rd4, %rd2, %rd3;
            ld.global.f32 %f2, [%rd4];
            add.f32 %f2, %f2, %f1;
            st.global.f32 [%rd4], %f2;
        DONE:
            ret;
        }
        """;

    private static CudaDevice? TryDevice() => CudaDevice.TryOpen(0, out var device, out _) ? device : null;

    [Fact]
    public void DeviceReportsItsProperties()
    {
        using var device = TryDevice();
        if (device is null) return;
        Assert.False(string.IsNullOrWhiteSpace(device.Name));
        Assert.True(device.ComputeCapability.Major >= 3);
        Assert.True(device.MultiprocessorCount > 0);
        Assert.True(device.TotalMemory > 0);
        Assert.True(device.SharedMemoryPerBlockOptin >= 48 * 1024);
        Assert.True(device.DriverVersion >= 10000);
        Console.WriteLine(device);
    }

    [Fact]
    public void BufferRoundTripAndClear()
    {
        using var device = TryDevice();
        if (device is null) return;
        var data = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        using var buffer = device.Upload<float>(data);
        Assert.Equal(data, buffer.ToArray());
        var part = new float[10];
        buffer.Download(part, offset: 990);
        Assert.Equal(data[990..], part);
        buffer.Clear();
        Assert.All(buffer.ToArray(), v => Assert.Equal(0f, v));
        using var empty = device.Allocate<int>(0);
        Assert.Empty(empty.ToArray());
    }

    [Fact]
    public void PtxKernelRunsOnAStreamAndIsTimed()
    {
        using var device = TryDevice();
        if (device is null) return;
        const int n = 10_000;
        var data = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        using var module = CudaModule.LoadPtx(device, AddScalarPtx, "add_scalar.ptx");
        var kernel = module.GetKernel("add_scalar");
        Assert.Same(kernel, module.GetKernel("add_scalar"));
        using var x = device.Upload<float>(data);
        using var stream = CudaStream.Create(device);
        using var start = CudaEvent.Create(device);
        using var end = CudaEvent.Create(device);
        using var args = new KernelArguments().Add(x).Add((uint)n).Add(2.5f);
        start.Record(stream);
        kernel.Launch(((n + 255) / 256, 1, 1), (256, 1, 1), 0, stream, args);
        end.Record(stream);
        stream.Synchronize();
        Assert.True(CudaEvent.ElapsedMilliseconds(start, end) >= 0);
        var result = x.ToArray();
        for (int i = 0; i < n; i++) Assert.Equal(i + 2.5f, result[i]);
    }

    [Fact]
    public void BadLaunchMissingKernelAndBadPtxAreClearErrors()
    {
        using var device = TryDevice();
        if (device is null) return;
        using var module = CudaModule.LoadPtx(device, AddScalarPtx, "add_scalar.ptx");

        var missing = Assert.Throws<CudaException>(() => module.GetKernel("mocgen_nope"));
        Assert.StartsWith("cuModuleGetFunction(mocgen_nope) failed: CUDA_ERROR_NOT_FOUND", missing.Message);
        Assert.Contains("Module 'add_scalar.ptx' has no kernel named 'mocgen_nope'", missing.Message);

        var kernel = module.GetKernel("add_scalar");
        using var args = new KernelArguments().AddPointer(0).Add(0u).Add(0f);
        var tooBig = Assert.Throws<CudaException>(() => kernel.Launch(1, (4096, 1, 1), 0, null, args));
        Assert.StartsWith("cuLaunchKernel(add_scalar) failed: CUDA_ERROR_INVALID_VALUE", tooBig.Message);

        var bad = Assert.Throws<CudaException>(() => CudaModule.LoadPtx(device, AddScalarPtx.Replace("add.f32", "add.bogus"), "broken.ptx"));
        Assert.StartsWith("cuModuleLoadDataEx(broken.ptx) failed:", bad.Message);
        Assert.Contains("JIT error log:", bad.Message);
        Console.WriteLine(bad.Message);
    }
}
