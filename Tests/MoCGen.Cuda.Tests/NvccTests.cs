using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoCGen.Compiler.Cuda;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>
/// The kernels compiled with NVIDIA's nvcc, the compiler <c>mocgen ptx</c> prefers where a CUDA toolkit is installed:
/// every generated CUDA unit of the harness's models compiles, calls no libdevice function, and its machine code passes
/// the same checks as clang's (<see cref="MachineCode"/>). nvcc 11.8 comes from build/install-cuda-tools.sh, which
/// leaves it off PATH (everything else compiles with clang); it is found as $MOCGEN_NVCC or at the script's default
/// place. Where it is absent the tests return early, except under CI, where that fails.
/// </summary>
public sealed class NvccTests
{
    private const string DefaultNvcc = "/opt/mocgen-cuda/nvcc-11.8/nvcc";

    private static readonly Lazy<PtxToolchain?> LazyNvcc = new(() =>
    {
        var path = Environment.GetEnvironmentVariable("MOCGEN_NVCC");
        if (string.IsNullOrEmpty(path)) path = DefaultNvcc;
        return File.Exists(path) ? PtxToolchain.Use(PtxCompilerKind.Nvcc, path) : null;
    });

    private static readonly Lazy<Dictionary<string, PtxResult>> Compiled = new(() =>
        MachineCode.CudaUnits().ToDictionary(u => u.Key, u => LazyNvcc.Value!.Compile(u.Value, u.Key + ".cu")));

    private static readonly Lazy<Dictionary<(string Unit, string Arch), PtxasResult>> Assembled = new(() =>
        MachineCode.AssembleAll(Compiled.Value.ToDictionary(c => c.Key, c => c.Value.Ptx ?? throw new InvalidOperationException(c.Key + ": " + c.Value.Errors))));

    private static bool Ready => LazyNvcc.Value is not null && MachineCode.Ptxas is not null;

    [Fact]
    public void CiHasNvcc()
    {
        if (Environment.GetEnvironmentVariable("CI") != "true") return;
        Assert.True(LazyNvcc.Value is not null, $"CI=true but nvcc is neither $MOCGEN_NVCC nor {DefaultNvcc}: .ci/run installs it with build/install-cuda-tools.sh");
    }

    [Fact]
    public void EveryUnitCompilesWithNvccAndCallsNoLibdevice()
    {
        if (LazyNvcc.Value is null) return;
        Assert.NotEmpty(Compiled.Value);
        foreach (var (unit, result) in Compiled.Value)
        {
            Assert.True(result.Succeeded, $"{unit}: {result.Errors}\n{result.CommandLine}");
            Assert.Contains(".entry mocgen_", result.Ptx);
            Assert.Empty(PtxCheck.UnresolvedLibdeviceCalls(result.Ptx!));
        }
    }

    [Fact]
    public void EveryKernelAssemblesAndMatchesItsLaunchTable()
    {
        if (!Ready) return;
        MachineCode.AssertAssembledAsPlanned(Assembled.Value);
    }

    /// <summary>
    /// As with clang, but for one kernel that nvcc's PTX lets ptxas squeeze: the bf16 decode gate of the d = 64 model on
    /// sm_90 gets 32 registers (four 512-thread blocks an SM, which its shared memory allows) and spills 16 bytes in its
    /// GEMV, loading 24 back (clang's PTX: 40 to 56 registers, none spilled). A second launch bound would stop it but
    /// cost the LLaMA-7B gate, whose selection holds 22 keys a thread, its registers (128 and a spill with clang).
    /// </summary>
    [Fact]
    public void NoKernelSpills()
    {
        if (!Ready) return;
        MachineCode.AssertNoSpills(Assembled.Value,
            (kernel, arch) => kernel == "mocgen_SmallDecoderBf16_ffn_decode_gate_topk" && arch == "sm_90" ? 24 : 0);
    }

    [Fact]
    public void MachineCodeKeepsTheBatchedLoadsInFlight()
    {
        if (!Ready || MachineCode.Cuobjdump() is null) return;
        MachineCode.AssertLoadsInFlight(Assembled.Value);
    }
}
