using System;
using System.Linq;
using MoCGen.Compiler.Cuda;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>Finding nvcc or clang, and the command line each gets.</summary>
public sealed class ToolchainTests
{
    [Fact]
    public void NothingOnThePathMeansNoToolchainAndAnInstallHint()
    {
        Assert.Null(PtxToolchain.Find(Toolchains.Nowhere));

        var e = Assert.Throws<PtxToolchainNotFoundException>(() => PtxToolchain.FindOrThrow(Toolchains.Nowhere));
        Assert.Equal("neither nvcc nor clang with the NVPTX backend was found; install clang (apt-get install clang-14) or the CUDA toolkit", e.Message);
    }

    [Fact]
    public void ClangIsFoundOnThePathWithItsNvptxBackend()
    {
        if (Toolchains.Clang is not { } clang) return;
        Assert.Equal(PtxCompilerKind.Clang, clang.Kind);
        Assert.Matches(@"clang(-\d+)?$", clang.CompilerPath);
    }

    [Fact]
    public void NvccIsPreferredWhereOneIsFound()
    {
        var dir = System.IO.Directory.CreateTempSubdirectory("mocgen-fake-cuda-");
        try
        {
            System.IO.Directory.CreateDirectory(System.IO.Path.Combine(dir.FullName, "bin"));
            System.IO.File.WriteAllText(System.IO.Path.Combine(dir.FullName, "bin", "nvcc"), "");
            var found = PtxToolchain.Find(Toolchains.Nowhere with { CudaPath = dir.FullName });
            Assert.NotNull(found);
            Assert.Equal(PtxCompilerKind.Nvcc, found!.Kind);
            Assert.Equal(System.IO.Path.Combine(dir.FullName, "bin", "nvcc"), found.CompilerPath);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void ClangCompilesWithoutAToolkitForAConservativePtxIsa()
    {
        var clang = PtxToolchain.Use(PtxCompilerKind.Clang, "/usr/bin/clang-14");
        var args = string.Join(" ", clang.Arguments("sm_80", "k.cu", "k.ptx", new[] { "/inc" }));
        Assert.Equal("-x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -O2 -S -Xclang -target-feature -Xclang +ptx70 -I /inc k.cu -o k.ptx", args);

        var nvcc = PtxToolchain.Use(PtxCompilerKind.Nvcc, "/usr/local/cuda/bin/nvcc");
        Assert.Equal("-ptx -arch=sm_90 -O3 -std=c++17 -I /inc k.cu -o k.ptx", string.Join(" ", nvcc.Arguments("sm_90", "k.cu", "k.ptx", new[] { "/inc" })));
    }

    [Theory]
    [InlineData("sm_80", "ptx70")]
    [InlineData("sm_75", "ptx70")]
    [InlineData("sm_86", "ptx71")]
    [InlineData("sm_90", "ptx78")]
    [InlineData("sm_90a", "ptx78")]
    public void PtxIsaIsTheOldestThatKnowsTheArchitecture(string arch, string feature) => Assert.Equal(feature, PtxToolchain.PtxFeature(arch));

    [Theory]
    [InlineData("sm_80", true)]
    [InlineData("sm_90a", true)]
    [InlineData("compute_80", false)]
    [InlineData("80", false)]
    [InlineData("sm_80; rm -rf /", false)]
    public void ArchitectureNamesAreChecked(string arch, bool valid) => Assert.Equal(valid, PtxToolchain.IsArch(arch));

    [Fact]
    public void AnUnknownArchitectureIsRefusedBeforeAnythingRuns()
    {
        var clang = PtxToolchain.Use(PtxCompilerKind.Clang, "/nonexistent/clang");
        Assert.Throws<ArgumentException>(() => clang.Compile("", "k.cu", "bogus"));
    }

    [Fact]
    public void UnresolvedLibdeviceExternsAreListedOnce()
    {
        const string ptx = ".version 7.0\n.extern .func  (.param .b32 func_retval0) __nv_expf\n(\n.param .b32 __nv_expf_param_0\n);\n.extern .func __nv_foo\n.visible .entry k(\n";
        Assert.Equal(new[] { "__nv_expf", "__nv_foo" }, PtxCheck.UnresolvedLibdeviceCalls(ptx).ToArray());
        Assert.Equal(new[] { "k" }, PtxCheck.Entries(ptx).ToArray());
    }
}
