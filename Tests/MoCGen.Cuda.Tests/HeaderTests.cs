using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using MoCGen.Compiler.Cuda;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>The headers of kernels/ and their self-test kernels, compiled to PTX by clang without a CUDA toolkit.</summary>
public sealed class HeaderTests
{
    public static TheoryData<string> SelfTests()
    {
        var data = new TheoryData<string>();
        foreach (var name in KernelHeaders.SelfTests.Keys) data.Add(name);
        return data;
    }

    [Fact]
    public void TheCompilerAssemblyEmbedsTheHeadersAndSelfTestsAsTheyAreInKernels()
    {
        var headers = Directory.GetFiles(Toolchains.Kernels, "*.h").Select(Path.GetFileName).OrderBy(n => n, System.StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "mocgen_bf16.h", "mocgen_cpu.h", "mocgen_cpu_driver.h", "mocgen_cuda.h", "mocgen_reduce.h" }, headers);
        Assert.Equal(headers, KernelHeaders.Headers.Keys.ToArray());
        foreach (var header in headers)
            Assert.Equal(File.ReadAllText(Path.Combine(Toolchains.Kernels, header!)), KernelHeaders.Headers[header!]);

        var selfTests = Directory.GetFiles(Path.Combine(Toolchains.Kernels, "selftest"), "*.cu").Select(Path.GetFileName).OrderBy(n => n).ToArray();
        Assert.True(selfTests.Length >= 5);
        Assert.Equal(selfTests, KernelHeaders.SelfTests.Keys.ToArray());

        var include = KernelHeaders.IncludeDirectory();
        foreach (var header in headers) Assert.True(File.Exists(Path.Combine(include, header!)));
    }

    [Theory]
    [MemberData(nameof(SelfTests))]
    public void SelfTestCompilesToCompletePtx(string name)
    {
        if (Toolchains.Clang is not { } clang) return;
        var source = KernelHeaders.SelfTests[name];

        var result = clang.Compile(source, name);

        Assert.True(result.Succeeded, result.Errors + "\n" + result.CommandLine);
        var ptx = result.Ptx!;
        Assert.Contains(".version 7.0", ptx);
        Assert.Contains(".target sm_80", ptx);
        Assert.Empty(PtxCheck.UnresolvedLibdeviceCalls(ptx));
        Assert.DoesNotContain("__nv_", ptx);
        var kernels = Regex.Matches(source, @"extern ""C"" __global__ void (?:(?:__launch_bounds__|MOCGEN_BOUNDS_128REGS)\([^)]*\)\s+)?(\w+)\(").Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(kernels);
        Assert.Equal(kernels, result.Kernels);
        foreach (var kernel in kernels) Assert.Contains(".entry " + kernel + "(", ptx);
    }

    [Theory]
    [InlineData("warp_reduce.cu", "shfl.sync.bfly.b32", "bar.sync")]
    [InlineData("warp_reduce.cu", "shfl.sync.down.b32", "st.shared.f32")]
    [InlineData("atomic_add.cu", "atom.global.add.f32", "atom.shared.add.u32")]
    [InlineData("transpose.cu", "bar.sync", "ld.shared.f32")]
    [InlineData("softmax_silu.cu", "ex2.approx", "div.approx")]
    [InlineData("softmax_silu.cu", "rsqrt.approx", "max.f32")]
    [InlineData("bf16_roundtrip.cu", "ld.global.v4.u32", "st.global.v4.u32")]
    [InlineData("bf16_roundtrip.cu", "ld.global.v2.u32", "shl.b32")]
    public void IntrinsicsBecomeSinglePtxInstructions(string name, string first, string second)
    {
        if (Toolchains.Clang is not { } clang) return;
        var result = clang.Compile(KernelHeaders.SelfTests[name], name);
        Assert.True(result.Succeeded, result.Errors);
        Assert.Contains(first, result.Ptx);
        Assert.Contains(second, result.Ptx);
    }

    [Fact]
    public void FastMathIntrinsicsThatClangSendsToLibdeviceAreMappedToHardware()
    {
        if (Toolchains.Clang is not { } clang) return;
        const string source = """
            #include "mocgen_cuda.h"
            extern "C" __global__ void every_mapped_intrinsic(float* x, unsigned int* u)
            {
                float v = x[threadIdx.x];
                x[0] = __expf(v) + __logf(v) + __powf(v, 2.0f) + __sinf(v) + __cosf(v) + __fdividef(v, 3.0f);
                x[1] = __frcp_rn(v) + __fsqrt_rn(v) + __fmul_rn(v, v) + __fadd_rn(v, v) + __fmaf_rn(v, v, v) + __saturatef(v);
                x[2] = rsqrtf(v) + sqrtf(v) + fabsf(v) + fmaxf(v, 1.0f) + fminf(v, 2.0f) + fmaf(v, v, v);
                x[3] = floorf(v) + ceilf(v) + truncf(v) + (float)__float2int_rn(v) + mocgen_silu(v) + mocgen_sigmoid(v);
                u[0] = __float_as_uint(v) + (unsigned int)__float_as_int(v) + (unsigned int)__clz(u[1]) + (unsigned int)__popc(u[2]);
                x[4] = __uint_as_float(u[3]) + __int_as_float((int)u[4]);
                x[5] = __shfl_sync(0xffffffffu, v, 0) + (float)__shfl_xor_sync(0xffffffffu, (int)u[5], 1) + (float)__shfl_down_sync(0xffffffffu, u[6], 2);
            }
            """;

        var result = clang.Compile(source, "intrinsics.cu");

        Assert.True(result.Succeeded, result.Errors);
        Assert.DoesNotContain("__nv_", result.Ptx);
    }

    [Fact]
    public void ABrokenKernelFailsWithTheFileAndLineOfTheError()
    {
        if (Toolchains.Clang is not { } clang) return;
        const string source = "#include \"mocgen_cuda.h\"\n\nextern \"C\" __global__ void broken(float* x)\n{\n    x[threadIdx.x] = undeclared_value;\n}\n";

        var result = clang.Compile(source, "broken.cu");

        Assert.False(result.Succeeded);
        Assert.Null(result.Ptx);
        Assert.Contains("broken.cu:5:22: error: use of undeclared identifier 'undeclared_value'", result.Errors);
    }

    [Fact]
    public void LibdeviceMathIsRejectedNamingTheFunctions()
    {
        if (Toolchains.Clang is not { } clang) return;
        const string source = "#include \"mocgen_cuda.h\"\nextern \"C\" __global__ void slow(float* x) { x[0] = expf(x[1]) + tanhf(x[2]); }\n";

        var result = clang.Compile(source, "slow.cu");

        Assert.False(result.Succeeded);
        Assert.Contains("slow.cu: error: the PTX calls libdevice functions", result.Errors);
        Assert.Contains("__nv_expf", result.Errors);
        Assert.Contains("__nv_tanhf", result.Errors);
    }

    [Fact]
    public void IncludeDirectoriesGivenComeBeforeTheEmbeddedHeaders()
    {
        if (Toolchains.Clang is not { } clang) return;
        var dir = Directory.CreateTempSubdirectory("mocgen-cuda-tests-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "mocgen_reduce.h"), "#error this copy of mocgen_reduce.h was picked\n");
            var result = clang.Compile("#include \"mocgen_reduce.h\"\n", "pick.cu", includeDirectories: new[] { dir.FullName });
            Assert.Contains("this copy of mocgen_reduce.h was picked", result.Errors);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
