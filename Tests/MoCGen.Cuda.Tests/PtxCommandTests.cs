using System;
using System.IO;
using System.Linq;
using MoCGen.Cli;
using MoCGen.Compiler;
using MoCGen.Compiler.Cuda;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary><c>mocgen ptx</c>: the generator's CUDA sources (or, until it emits any, the header self-tests) to PTX.</summary>
public sealed class PtxCommandTests : IDisposable
{
    private readonly string outDir = Path.Combine(Path.GetTempPath(), "mocgen-ptx-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
    }

    private static (int Code, string Stdout, string Stderr) Mocgen(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string TinyMoC => Path.Combine(Toolchains.RepoRoot(), "examples", "TinyMoC", "TinyMoC.cs");

    [Fact]
    public void PtxCompilesEveryCudaSourceOfTinyMoC()
    {
        if (Toolchains.Clang is null) return;

        var (code, stdout, stderr) = Mocgen("ptx", TinyMoC, "--out", outDir);

        Assert.True(code == ExitCodes.Success, stdout + stderr);
        var files = Directory.GetFiles(outDir, "*.ptx");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var ptx = File.ReadAllText(file);
            Assert.Contains(".entry ", ptx);
            Assert.Empty(PtxCheck.UnresolvedLibdeviceCalls(ptx));
            Assert.Contains("wrote " + file, stdout);
        }
    }

    [Fact]
    public void CudaSourcesAreTakenFromCuFilesAndFromCudaCarriers()
    {
        var carrier = new GeneratedSource("Demo.M.Cuda.g.cs", """
            namespace Demo;
            partial class M
            {
                public static class Cuda
                {
                    public const string Include = "mocgen_cuda.h";
                    public const string FeedForwardSource = @"#include ""mocgen_cuda.h""
            extern ""C"" __global__ void k() {}";
                    public static class FeedForwardLaunch { public const string GateGemmSource = "not CUDA"; }
                }
            }
            """);
        var units = PtxBuilder.CudaUnits(new[] { new GeneratedSource("Demo.M.g.cs", "class M {}"), carrier, new GeneratedSource("Demo.M.Attention.cu", "// cuda") });

        Assert.Equal(new[] { "Demo.M.FeedForward.cu", "Demo.M.Attention.cu" }, units.Select(u => u.Name).ToArray());
        Assert.Equal("#include \"mocgen_cuda.h\"\nextern \"C\" __global__ void k() {}", units[0].Source.Replace("\r\n", "\n"));
        Assert.Equal("// cuda", units[1].Source);
    }

    [Fact]
    public void WithoutGeneratedCudaTheHeaderSelfTestsAreCompiledInstead()
    {
        using var stdout = new StringWriter();
        var units = PtxBuilder.CudaUnitsOrSelfTests(new[] { new GeneratedSource("Demo.M.g.cs", "class M {}") }, stdout);

        Assert.Equal(KernelHeaders.SelfTests.Keys.ToArray(), units.Select(u => u.Name).ToArray());
        Assert.Contains("no CUDA sources", stdout.ToString());
    }

    [Fact]
    public void NoCompilerIsBadInputWithAnInstallHint()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var e = Assert.Throws<CliException>(() => PtxBuilder.Run(new[] { TinyMoC }, outDir, "sm_80", stdout, stderr, Toolchains.Nowhere));
        Assert.Equal(PtxToolchainNotFoundException.Text, e.Message);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void AssembleWithoutPtxasIsBadInputBeforeAnythingIsWritten()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var e = Assert.Throws<CliException>(() => PtxBuilder.Run(new[] { TinyMoC }, outDir, "sm_80", stdout, stderr, Toolchains.Nowhere, assembleFor: "sm_80"));
        Assert.Equal(PtxAssembler.NotFoundText, e.Message);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void AssembleReportsEveryKernelOfTinyMoCBesideItsLaunchTable()
    {
        if (Toolchains.Clang is null || PtxAssembler.Find() is null) return;

        var (code, stdout, stderr) = Mocgen("ptx", TinyMoC, "--out", outDir, "--assemble");

        Assert.True(code == ExitCodes.Success, stdout + stderr);
        Assert.Contains("compiling 8 CUDA source(s) for sm_80 with ", stdout);
        Assert.Contains("assembling 8 PTX file(s) for sm_80 with ", stdout);
        foreach (var file in Directory.GetFiles(outDir, "*.ptx"))
            foreach (var kernel in PtxCheck.Entries(File.ReadAllText(file)))
            {
                // kernel, threads, registers, spilled, shared, planned, dynamic, blocks/SM: all known for a generated kernel
                var row = stdout.Split('\n').Single(l => l.TrimStart().StartsWith(kernel + " ", StringComparison.Ordinal));
                var cells = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(8, cells.Length);
                Assert.All(cells.Skip(1), c => Assert.True(int.TryParse(c, out _), row));
                Assert.Equal("0", cells[3]); // nothing spilled
            }
    }

    [Fact]
    public void AssembleTakesAnotherArchitectureForTheSamePtx()
    {
        if (Toolchains.Clang is null || PtxAssembler.Find() is null) return;

        var (code, stdout, stderr) = Mocgen("ptx", TinyMoC, "--out", outDir, "--assemble", "sm_90");

        Assert.True(code == ExitCodes.Success, stdout + stderr);
        Assert.Contains("compiling 8 CUDA source(s) for sm_80 with ", stdout);  // clang-14 makes sm_80 PTX
        Assert.Contains("assembling 8 PTX file(s) for sm_90 with ", stdout);   // ptxas assembles it for Hopper
    }

    [Fact]
    public void AssembleForABadArchitectureIsBadInput()
    {
        var (code, _, stderr) = Mocgen("ptx", TinyMoC, "--out", outDir, "--assemble", "hopper");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--assemble 'hopper' is not a GPU architecture", stderr);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void ABadArchitectureIsBadInput()
    {
        var (code, _, stderr) = Mocgen("ptx", TinyMoC, "--out", outDir, "--arch", "ampere");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'ampere' is not a GPU architecture", stderr);
    }

    [Fact]
    public void AMissingFileIsBadInput()
    {
        var (code, _, stderr) = Mocgen("ptx", Path.Combine(outDir, "nope.cs"), "--out", outDir);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("not found", stderr);
    }
}
