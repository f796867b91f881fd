using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using MoCGen.Cli;
using MoCGen.Compiler.Cuda;
using MoCGen.Compiler.Planning;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>
/// Checks on the machine code of the GPU harness's models (Tests/MoCGen.GpuCheck/Models.cs: odd shapes, a small
/// decoder, LLaMA-7B FFNs in fp32 and bf16), whichever compiler made their PTX: ptxas assembles it for Ampere (sm_80)
/// and Hopper (sm_90) as the driver would, and cuobjdump shows the instructions.
/// </summary>
internal static class MachineCode
{
    public static readonly string[] Architectures = { "sm_80", "sm_90" };

    private static readonly Lazy<PtxAssembler?> LazyPtxas = new(() => PtxAssembler.Find());
    private static readonly Lazy<Dictionary<string, PlannedLaunch>> LazyPlans = new(Plans);

    /// <summary>ptxas on PATH (build/install-cuda-tools.sh), or null.</summary>
    public static PtxAssembler? Ptxas => LazyPtxas.Value;

    /// <summary>The harness models' generated CUDA units (the same file its build compiles), by unit name.</summary>
    public static Dictionary<string, string> CudaUnits()
    {
        using var stderr = new StringWriter();
        var sources = Emitter.Generate(new[] { ModelsFile }, stderr, PtxToolchain.DefaultArch);
        Assert.True(sources is not null, stderr.ToString());
        return PtxBuilder.CudaUnits(sources!).ToDictionary(u => Path.GetFileNameWithoutExtension(u.Name), u => u.Source);
    }

    private static string ModelsFile => Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "Models.cs");

    public static void AssertAssembledAsPlanned(Dictionary<(string Unit, string Arch), PtxasResult> assembled)
    {
        var plans = LazyPlans.Value;
        foreach (var ((unit, arch), result) in assembled)
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
            var kernels = assembled.Where(e => e.Key.Arch == arch).SelectMany(e => e.Value.Kernels).Select(k => k.Kernel).ToHashSet();
            var missing = plans.Keys.Where(k => !kernels.Contains(k)).ToList();
            Assert.True(missing.Count == 0, $"not assembled for {arch}: {string.Join(", ", missing)}");
        }
    }

    /// <summary>
    /// A spill moves a register to local memory (an L1 round trip, or DRAM when evicted). None is allowed but the
    /// training Top-K's at LLaMA-7B on sm_90: one value a thread stored once before the selection and loaded once after
    /// it (4 bytes; its SASS has one STL and one LDL, outside every loop), and what <paramref name="alsoAllowed"/> names
    /// (bytes a kernel may spill, by symbol and architecture; 0 for the rest).
    /// </summary>
    public static void AssertNoSpills(Dictionary<(string Unit, string Arch), PtxasResult> assembled, Func<string, string, int>? alsoAllowed = null)
    {
        foreach (var ((unit, arch), result) in assembled)
            foreach (var k in result.Kernels)
            {
                int allowed = k.Kernel.EndsWith("_ffn_topk", StringComparison.Ordinal) ? 4 : alsoAllowed?.Invoke(k.Kernel, arch) ?? 0;
                Assert.True(k.SpillStoreBytes <= allowed && k.SpillLoadBytes <= allowed,
                    $"{k.Kernel} ({arch}) spills {k.SpillStoreBytes} bytes ({k.Registers} registers)");
            }
    }

    /// <summary>
    /// The machine code keeps the loads in flight that the PTX issues (ptxas may reorder; with the block size alone as
    /// launch bound it stored each staged load of the decode up/down before the next). Checked at LLaMA-7B shapes, fp32
    /// and bf16 (the staging kernels also at the odd and small shapes), for Ampere and Hopper, as the longest run of
    /// global loads that no shared store, barrier or global store interrupts: the staging of W_u / W_d^T rows (8
    /// 16-byte copies a thread), the sampled products (24), the windowed products (8 and 16), the weight gradient's
    /// x / gy staging (16) and its epilogue (12 old values of dW), the decode gate GEMV and the decoder's projections
    /// (8 weight loads a lane before a multiply), and the decoder's row, RoPE, attention-key and sampling kernels (8
    /// to 16; 12 for the attention keys).
    /// </summary>
    public static void AssertLoadsInFlight(Dictionary<(string Unit, string Arch), PtxasResult> assembled)
    {
        // The sparse products, the weight gradient and the decode up/down stage tiles whatever the shape: checked for
        // the odd (d 200, d_ff 520) and small (d 64) models too, where guarded loads could be sunk into branches.
        foreach (var model in new[] { "Llama7BFfn", "Llama7BFfnBf16", "Ffn200", "SmallDecoder", "SmallDecoderBf16" })
        foreach (var arch in Architectures)
        {
            var decode = Sass(assembled, $"MoCGen.GpuCheck.{model}.FeedForwardDecode", arch);
            var forward = Sass(assembled, $"MoCGen.GpuCheck.{model}.FeedForward", arch);
            var backward = Sass(assembled, $"MoCGen.GpuCheck.{model}.FeedForwardBackward", arch);
            string p = "mocgen_" + model;
            string where = $"{model} {arch}";

            AssertRun(decode[p + "_ffn_decode_up_down"], "LDG.E.128", new[] { "STS", "BAR" }, 8, where);
            AssertRun(forward[p + "_ffn_up"], "LDG", new[] { "STS", "BAR" }, 24, where);
            AssertRun(forward[p + "_ffn_down"], "LDG", new[] { "STS", "BAR" }, 8, where);
            AssertRun(backward[p + "_ffn_bwd_gh"], "LDG", new[] { "STS", "BAR" }, 24, where);
            AssertRun(backward[p + "_ffn_bwd_gx"], "LDG", new[] { "STS", "BAR" }, 16, where);
            AssertRun(backward[p + "_ffn_bwd_weights"], "LDG", new[] { "STS", "BAR" }, 16, where);
            AssertRun(backward[p + "_ffn_bwd_weights"], "LDG", new[] { "STG", "STS", "BAR" }, 12, where);
            if (!model.StartsWith("Llama7B", StringComparison.Ordinal)) continue;

            // At LLaMA-7B sizes (a small model's rows have fewer loads than these counts): the decode gate GEMV and
            // the decode step's other kernels (the GPU decoder's): projections, norms, RoPE, attention keys, sampling.
            AssertRun(decode[p + "_ffn_decode_gate_topk"], model.EndsWith("Bf16", StringComparison.Ordinal) ? "LDG.E.64" : "LDG.E.128", new[] { "FFMA", "BAR" }, 8, where);
            var decoder = Sass(assembled, $"MoCGen.GpuCheck.{model}.Decoder", arch);
            foreach (var gemv in new[] { "_dec_qkv", "_dec_o_proj", "_dec_lm_head" })
                AssertRun(decoder[p + gemv], "LDG", new[] { "FFMA", "STS", "BAR" }, 8, where);
            foreach (var row in new[] { "_dec_rms_norm", "_dec_argmax", "_dec_softmax_stats" })
                AssertRun(decoder[p + row], "LDG", new[] { "STS", "BAR", "STG" }, 8, where);
            AssertRun(decoder[p + "_dec_embed"], "LDG", new[] { "STG" }, 8, where);
            AssertRun(decoder[p + "_dec_residual_norm"], "LDG", new[] { "STS", "BAR", "STG" }, 16, where);
            AssertRun(decoder[p + "_dec_rope_kv"], "LDG", new[] { "STG" }, 16, where);
            // 12: 3 keys of the round's 4 in flight before the first score is stored (nvcc pipelines the 4th key's loads
            // behind the 1st key's sum; clang issues all 16 first, which Kernels.Tests checks in its PTX).
            AssertRun(decoder[p + "_dec_attention"], "LDG", new[] { "STS", "BAR" }, 12, where);
        }
    }

    private static void AssertRun(IReadOnlyList<string> code, string load, string[] breakers, int atLeast, string where)
    {
        int run = LongestRun(code, load, breakers);
        Assert.True(run >= atLeast, $"{where}: at most {run} {load} in a row before {string.Join("/", breakers)}, {atLeast} wanted");
    }

    /// <summary>The longest run of instructions starting with <paramref name="load"/> that no instruction starting with a
    /// breaker interrupts (other instructions, shared loads and branches among them, do not).</summary>
    public static int LongestRun(IEnumerable<string> opcodes, string load, string[] breakers)
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

    public static List<string> Opcodes(string sass) => SassLine.Matches(sass).Select(m => m.Groups[1].Value).ToList();

    /// <summary>Each kernel's opcodes in <paramref name="unit"/> assembled for <paramref name="arch"/> (cuobjdump -sass).</summary>
    private static Dictionary<string, List<string>> Sass(Dictionary<(string Unit, string Arch), PtxasResult> assembled, string unit, string arch)
    {
        var result = assembled[(unit, arch)];
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

    public static string? Cuobjdump() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Where(d => d.Length > 0).Select(d => Path.Combine(d, "cuobjdump")).FirstOrDefault(File.Exists);

    /// <summary>Each PTX text (by unit name) assembled for sm_80 and sm_90.</summary>
    public static Dictionary<(string Unit, string Arch), PtxasResult> AssembleAll(IReadOnlyDictionary<string, string> ptx)
    {
        var results = new Dictionary<(string, string), PtxasResult>();
        foreach (var (unit, text) in ptx)
            foreach (var arch in Architectures) results[(unit, arch)] = Ptxas!.Assemble(text, arch, unit + ".ptx");
        return results;
    }

    /// <summary>The launch tables the generator writes for the harness's models (the same file its build compiles).</summary>
    private static Dictionary<string, PlannedLaunch> Plans()
    {
        using var stderr = new StringWriter();
        var sources = Emitter.Generate(new[] { ModelsFile }, stderr, PtxToolchain.DefaultArch);
        Assert.True(sources is not null, stderr.ToString());
        return KernelResourcesReport.LaunchTables(sources!);
    }
}
