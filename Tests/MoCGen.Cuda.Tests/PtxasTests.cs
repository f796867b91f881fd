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
/// issues. ptxas and cuobjdump come from build/install-ptxas.sh (.ci/run runs it); where they are absent the checks
/// that need them return early, except under CI, where that is a failure.
/// </summary>
public sealed class PtxasTests
{
    private static readonly string[] Architectures = { "sm_80", "sm_90" };

    private static readonly Lazy<PtxAssembler?> LazyPtxas = new(() => PtxAssembler.Find());
    private static readonly Lazy<Dictionary<string, PlannedLaunch>> LazyPlans = new(Plans);
    private static readonly Lazy<Dictionary<(string Unit, string Arch), PtxasResult>> LazyAssembled = new(AssembleAll);

    private static PtxAssembler? Ptxas => LazyPtxas.Value;

    [Fact]
    public void CiHasPtxasAndCuobjdump()
    {
        if (Environment.GetEnvironmentVariable("CI") != "true") return;
        Assert.True(Ptxas is not null, "CI=true but ptxas is not on PATH: .ci/run installs it with build/install-ptxas.sh");
        Assert.True(Cuobjdump() is not null, "CI=true but cuobjdump is not on PATH: .ci/run installs it with build/install-ptxas.sh");
    }

    [Fact]
    public void EveryKernelAssemblesAndMatchesItsLaunchTable()
    {
        if (Ptxas is null) return;
        var plans = LazyPlans.Value;
        foreach (var ((unit, arch), result) in LazyAssembled.Value)
        {
            Assert.True(result.Succeeded, $"{unit} for {arch}: {result.Errors}\n{result.CommandLine}");
            foreach (var kernel in result.Kernels)
            {
                Assert.True(plans.TryGetValue(kernel.Kernel, out var plan), $"{kernel.Kernel} is in no launch table");
                var problems = KernelResourcesReport.Problems(kernel, plan, CudaTarget.FromArch(arch)).ToList();
                Assert.True(problems.Count == 0, $"{kernel.Kernel} ({arch}): {string.Join("; ", problems)}");
                Assert.True(KernelResourcesReport.BlocksPerSm(kernel, plan!, CudaTarget.FromArch(arch)) >= 1, kernel.Kernel);
            }
        }
        // Every kernel of every launch table was assembled, for both architectures.
        foreach (var arch in Architectures)
        {
            var assembled = LazyAssembled.Value.Where(e => e.Key.Arch == arch).SelectMany(e => e.Value.Kernels).Select(k => k.Kernel).ToHashSet();
            var missing = plans.Keys.Where(k => !assembled.Contains(k)).ToList();
            Assert.True(missing.Count == 0, $"not assembled for {arch}: {string.Join(", ", missing)}");
        }
    }

    /// <summary>
    /// A spill moves a register to local memory (an L1 round trip, or DRAM when evicted). None is allowed but the
    /// training Top-K's at LLaMA-7B on sm_90: one value a thread stored once before the selection and loaded once after
    /// it (4 bytes; its SASS has one STL and one LDL, outside every loop).
    /// </summary>
    [Fact]
    public void NoKernelSpills()
    {
        if (Ptxas is null) return;
        foreach (var ((unit, arch), result) in LazyAssembled.Value)
            foreach (var k in result.Kernels)
            {
                int allowed = k.Kernel.EndsWith("_ffn_topk", StringComparison.Ordinal) ? 4 : 0;
                Assert.True(k.SpillStoreBytes <= allowed && k.SpillLoadBytes <= allowed,
                    $"{k.Kernel} ({arch}) spills {k.SpillStoreBytes} bytes ({k.Registers} registers)");
            }
    }

    /// <summary>
    /// The machine code keeps the loads in flight that the PTX issues (ptxas may reorder; with the block size alone as
    /// launch bound it stored each staged load of the decode up/down before the next). Checked at LLaMA-7B shapes, fp32
    /// and bf16, for Ampere and Hopper, as the longest run of global loads that no shared store, barrier or global store
    /// interrupts: the staging of W_u / W_d^T rows (8 16-byte copies a thread), the sampled products (24), the windowed
    /// products (8 and 16), the weight gradient's x / gy staging (16) and its epilogue (12 old values of dW), the
    /// decode gate GEMV and the decoder's projections (8 weight loads a lane before a multiply), and the decoder's row,
    /// RoPE, attention-key and sampling kernels (8 to 16).
    /// </summary>
    [Fact]
    public void MachineCodeKeepsTheBatchedLoadsInFlight()
    {
        if (Ptxas is null || Cuobjdump() is null) return;
        foreach (var model in new[] { "Llama7BFfn", "Llama7BFfnBf16" })
        foreach (var arch in Architectures)
        {
            var decode = Sass($"MoCGen.GpuCheck.{model}.FeedForwardDecode", arch);
            var forward = Sass($"MoCGen.GpuCheck.{model}.FeedForward", arch);
            var backward = Sass($"MoCGen.GpuCheck.{model}.FeedForwardBackward", arch);
            string p = "mocgen_" + model;
            string where = $"{model} {arch}";

            AssertRun(decode[p + "_ffn_decode_up_down"], "LDG.E.128", new[] { "STS", "BAR" }, 8, where);
            AssertRun(decode[p + "_ffn_decode_gate_topk"], model.EndsWith("Bf16", StringComparison.Ordinal) ? "LDG.E.64" : "LDG.E.128", new[] { "FFMA", "BAR" }, 8, where);
            AssertRun(forward[p + "_ffn_up"], "LDG", new[] { "STS", "BAR" }, 24, where);
            AssertRun(forward[p + "_ffn_down"], "LDG", new[] { "STS", "BAR" }, 8, where);
            AssertRun(backward[p + "_ffn_bwd_gh"], "LDG", new[] { "STS", "BAR" }, 24, where);
            AssertRun(backward[p + "_ffn_bwd_gx"], "LDG", new[] { "STS", "BAR" }, 16, where);
            AssertRun(backward[p + "_ffn_bwd_weights"], "LDG", new[] { "STS", "BAR" }, 16, where);
            AssertRun(backward[p + "_ffn_bwd_weights"], "LDG", new[] { "STG", "STS", "BAR" }, 12, where);

            // The decode step's other kernels (the GPU decoder's): projections, norms, RoPE, attention keys, sampling.
            var decoder = Sass($"MoCGen.GpuCheck.{model}.Decoder", arch);
            foreach (var gemv in new[] { "_dec_qkv", "_dec_o_proj", "_dec_lm_head" })
                AssertRun(decoder[p + gemv], "LDG", new[] { "FFMA", "STS", "BAR" }, 8, where);
            foreach (var row in new[] { "_dec_rms_norm", "_dec_argmax", "_dec_softmax_stats" })
                AssertRun(decoder[p + row], "LDG", new[] { "STS", "BAR", "STG" }, 8, where);
            AssertRun(decoder[p + "_dec_embed"], "LDG", new[] { "STG" }, 8, where);
            AssertRun(decoder[p + "_dec_residual_norm"], "LDG", new[] { "STS", "BAR", "STG" }, 16, where);
            AssertRun(decoder[p + "_dec_rope_kv"], "LDG", new[] { "STG" }, 16, where);
            AssertRun(decoder[p + "_dec_attention"], "LDG", new[] { "STS", "BAR" }, 16, where);
        }
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
        // Threads bound it last: 2,048 an SM.
        Assert.Equal(8, KernelResourcesReport.BlocksPerSm(new KernelResources("k", 16, 0, 0, 0, 0), new PlannedLaunch("k", 256, 0, 0), ampere));
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
        Assert.Equal(3, LongestRun(code, "LDG.E.128", new[] { "STS", "BAR" }));
        Assert.Equal(2, LongestRun(code, "LDG.E.128", new[] { "STS", "BAR", "LDS" })); // a branch does not break a run
        Assert.Equal(0, LongestRun(code, "LDG.E.64", new[] { "STS" }));
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
        Assert.Equal(new[] { "LDG.E.128.CONSTANT", "STS.128", "BAR.SYNC" }, Opcodes(sass));
    }

    private static void AssertRun(IReadOnlyList<string> code, string load, string[] breakers, int atLeast, string where)
    {
        int run = LongestRun(code, load, breakers);
        Assert.True(run >= atLeast, $"{where}: at most {run} {load} in a row before {string.Join("/", breakers)}, {atLeast} wanted");
    }

    /// <summary>The longest run of instructions starting with <paramref name="load"/> that no instruction starting with a
    /// breaker interrupts (other instructions, shared loads and branches among them, do not).</summary>
    private static int LongestRun(IEnumerable<string> opcodes, string load, string[] breakers)
    {
        int best = 0, run = 0;
        foreach (var op in opcodes)
        {
            if (op.StartsWith(load, StringComparison.Ordinal)) best = Math.Max(best, ++run);
            else if (breakers.Any(b => op.StartsWith(b, StringComparison.Ordinal))) run = 0;
        }
        return best;
    }

    private static readonly Regex SassLine = new(@"^\s*/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", RegexOptions.Multiline);

    private static List<string> Opcodes(string sass) => SassLine.Matches(sass).Select(m => m.Groups[1].Value).ToList();

    /// <summary>Each kernel's opcodes in <paramref name="unit"/> assembled for <paramref name="arch"/> (cuobjdump -sass).</summary>
    private static Dictionary<string, List<string>> Sass(string unit, string arch)
    {
        var result = LazyAssembled.Value[(unit, arch)];
        Assert.True(result.Succeeded, result.Errors);
        var dir = Directory.CreateTempSubdirectory("mocgen-sass-");
        try
        {
            var cubin = Path.Combine(dir.FullName, "k.cubin");
            File.WriteAllBytes(cubin, result.Cubin!);
            var psi = new ProcessStartInfo(Cuobjdump()!) { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-sass");
            psi.ArgumentList.Add(cubin);
            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var text = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, "cuobjdump failed: " + stderr.Result);
            // cuobjdump prints "Function : <name>" before each kernel's code.
            var kernels = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            var parts = Regex.Split(text, @"^\s*Function : (\w+)\s*$", RegexOptions.Multiline);
            for (int i = 1; i + 1 < parts.Length; i += 2) kernels[parts[i]] = Opcodes(parts[i + 1]);
            return kernels;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string? Cuobjdump() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Where(d => d.Length > 0).Select(d => Path.Combine(d, "cuobjdump")).FirstOrDefault(File.Exists);

    /// <summary>The harness's PTX resources (ptx/&lt;unit&gt;.ptx), each assembled for both architectures.</summary>
    private static Dictionary<(string Unit, string Arch), PtxasResult> AssembleAll()
    {
        var assembly = typeof(GpuCheckApp).Assembly;
        var results = new Dictionary<(string, string), PtxasResult>();
        var names = assembly.GetManifestResourceNames().Where(n => n.StartsWith("ptx/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(names); // built with clang: the harness carries its PTX
        foreach (var name in names)
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            var ptx = reader.ReadToEnd();
            var unit = Path.GetFileNameWithoutExtension(name.Substring("ptx/".Length));
            foreach (var arch in Architectures) results[(unit, arch)] = Ptxas!.Assemble(ptx, arch, unit + ".ptx");
        }
        return results;
    }

    /// <summary>The launch tables the generator writes for the harness's models (the same file its build compiles).</summary>
    private static Dictionary<string, PlannedLaunch> Plans()
    {
        using var stderr = new StringWriter();
        var models = Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "Models.cs");
        var sources = Emitter.Generate(new[] { models }, stderr, PtxToolchain.DefaultArch);
        Assert.True(sources is not null, stderr.ToString());
        return KernelResourcesReport.LaunchTables(sources!);
    }
}
