using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using MoCGen.Cli;
using MoCGen.Compiler.Cuda;
using MoCGen.Compiler.Planning;
using MoCGen.GpuCheck;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>
/// The PTX that mocgen-gpucheck carries to the GPU machine (clang-14, sm_80), assembled here with NVIDIA's ptxas as the
/// driver will assemble it there, for Ampere (sm_80) and Hopper (sm_90): every kernel assembles, matches its launch
/// table, spills nothing, and (read from the machine code with cuobjdump) keeps the loads in flight its template
/// issues (the checks are <see cref="MachineCode"/>'s). ptxas and cuobjdump come from build/install-cuda-tools.sh
/// (.ci/run runs it); where they are absent the checks that need them return early, except under CI, where that fails.
/// </summary>
public sealed class PtxasTests
{
    /// <summary>The harness's PTX resources (ptx/&lt;unit&gt;.ptx), each assembled for sm_80 and sm_90.</summary>
    private static readonly Lazy<Dictionary<(string Unit, string Arch), PtxasResult>> Assembled = new(() =>
    {
        var assembly = typeof(GpuCheckApp).Assembly;
        var ptx = new Dictionary<string, string>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("ptx/", StringComparison.Ordinal)))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            ptx[Path.GetFileNameWithoutExtension(name.Substring("ptx/".Length))] = reader.ReadToEnd();
        }
        Assert.NotEmpty(ptx); // built with clang: the harness carries its PTX
        return MachineCode.AssembleAll(ptx);
    });

    [Fact]
    public void CiHasPtxasAndCuobjdump()
    {
        if (Environment.GetEnvironmentVariable("CI") != "true") return;
        Assert.True(MachineCode.Ptxas is not null, "CI=true but ptxas is not on PATH: .ci/run installs it with build/install-cuda-tools.sh");
        Assert.True(MachineCode.Cuobjdump() is not null, "CI=true but cuobjdump is not on PATH: .ci/run installs it with build/install-cuda-tools.sh");
    }

    [Fact]
    public void EveryKernelAssemblesAndMatchesItsLaunchTable()
    {
        if (MachineCode.Ptxas is null) return;
        MachineCode.AssertAssembledAsPlanned(Assembled.Value);
    }

    [Fact]
    public void NoKernelSpills()
    {
        if (MachineCode.Ptxas is null) return;
        MachineCode.AssertNoSpills(Assembled.Value);
    }

    [Fact]
    public void MachineCodeKeepsTheBatchedLoadsInFlight()
    {
        if (MachineCode.Ptxas is null || MachineCode.Cuobjdump() is null) return;
        MachineCode.AssertLoadsInFlight(Assembled.Value);
    }

    [Fact]
    public void VerboseOutputGivesEachKernelsResources()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'k_up_down' for 'sm_90'
            ptxas info    : Function properties for k_up_down
                0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 95 registers, 2464 bytes smem
            ptxas info    : Compiling entry function 'k_topk' for 'sm_90'
            ptxas info    : Function properties for k_topk
                8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
            ptxas info    : Used 64 registers, 18624 bytes smem, 400 bytes cmem[0]
            ptxas info    : Compiling entry function 'k_embed' for 'sm_90'
            ptxas info    : Function properties for k_embed
                0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 32 registers
            """;
        Assert.Equal(new[]
        {
            new KernelResources("k_up_down", 95, 2464, 0, 0, 0),
            new KernelResources("k_topk", 64, 18624, 8, 4, 4),
            new KernelResources("k_embed", 32, 0, 0, 0, 0),
        }, PtxAssembler.ParseVerbose(log));
    }

    [Fact]
    public void ResidentBlocksFollowRegistersAndSharedMemory()
    {
        var ampere = CudaTarget.FromArch("sm_80");
        // 95 registers are allocated as 96: 3,072 a warp, 21 warps of 65,536, so 2 blocks of 8 warps.
        Assert.Equal(2, new KernelResources("k", 95, 0, 0, 0, 0).BlocksByRegisters(256));
        Assert.Equal(0, new KernelResources("k", 255, 0, 0, 0, 0).BlocksByRegisters(1024));
        // 2,464 static + 73,728 dynamic + the 1 KiB a block reserves, twice in sm_80's 164 KiB.
        Assert.Equal(2, KernelResourcesReport.BlocksPerSm(new KernelResources("k", 32, 2464, 0, 0, 0), new PlannedLaunch("k", 256, 2460, 73728), ampere));
        // Threads bound it last: 2,048 an SM on sm_80, 1,536 on sm_86.
        Assert.Equal(8, KernelResourcesReport.BlocksPerSm(new KernelResources("k", 16, 0, 0, 0, 0), new PlannedLaunch("k", 256, 0, 0), ampere));
        Assert.Equal(6, KernelResourcesReport.BlocksPerSm(new KernelResources("k", 16, 0, 0, 0, 0), new PlannedLaunch("k", 256, 0, 0), CudaTarget.FromArch("sm_86")));
    }

    [Fact]
    public void ThePlanAndTheMachineCodeMustAgree()
    {
        var ampere = CudaTarget.FromArch("sm_80");
        var ok = new KernelResources("k", 95, 2464, 0, 0, 0);
        Assert.Empty(KernelResourcesReport.Problems(ok, new PlannedLaunch("k", 256, 2460, 73728), ampere)); // 4 bytes of alignment
        Assert.Empty(KernelResourcesReport.Problems(ok, null, ampere));                                     // not in a table: not judged
        Assert.Contains("launch table plans 2400", Assert.Single(KernelResourcesReport.Problems(ok, new PlannedLaunch("k", 256, 2400, 0), ampere)));
        Assert.Contains("launch table plans 2470", Assert.Single(KernelResourcesReport.Problems(ok, new PlannedLaunch("k", 256, 2470, 0), ampere)));
        Assert.Contains("exceed the 166912 that sm_80 allows", Assert.Single(KernelResourcesReport.Problems(ok, new PlannedLaunch("k", 256, 2460, 165000), ampere)));
        Assert.Contains("no room for a block of 1024 threads",
            Assert.Single(KernelResourcesReport.Problems(new KernelResources("k", 255, 0, 0, 0, 0), new PlannedLaunch("k", 1024, 0, 0), ampere)));
    }

    [Fact]
    public void LongestRunCountsLoadsUntilABreaker()
    {
        var code = new[] { "LDG.E.128.CONSTANT", "STS.128", "LDG.E.128.CONSTANT", "LDS", "LDG.E.128.CONSTANT", "BRA", "LDG.E.128.CONSTANT", "BAR.SYNC", "LDG.E.128.CONSTANT" };
        Assert.Equal(3, MachineCode.LongestRun(code, "LDG.E.128", new[] { "STS", "BAR" }));
        Assert.Equal(2, MachineCode.LongestRun(code, "LDG.E.128", new[] { "STS", "BAR", "LDS" })); // a branch does not break a run
        Assert.Equal(0, MachineCode.LongestRun(code, "LDG.E.64", new[] { "STS" }));
    }

    [Fact]
    public void SassOpcodesAreReadPastPredicates()
    {
        const string sass = """
                    /*0270*/                   LDG.E.128.CONSTANT R4, [R4.64] ;                      /* 0x0000001004047981 */
                                                                                                     /* 0x000ea2000c1e9d00 */
                    /*02c0*/              @!P0 STS.128 [R14], R4 ;                                   /* 0x000000040e007388 */
                    /*02d0*/                   BAR.SYNC 0x0 ;                                         /* 0x0000000000007b1d */
            """;
        Assert.Equal(new[] { "LDG.E.128.CONSTANT", "STS.128", "BAR.SYNC" }, MachineCode.Opcodes(sass));
    }
}
