using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using MoCGen.Compiler.Cuda;
using MoCGen.GpuCheck;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>The clang++ the CPU driver is built with; absent, the tests return early, except under CI, where that fails.</summary>
internal static class CpuDriverCompiler
{
    private static readonly Lazy<CpuDriver?> Lazy = new(() => CpuDriver.Find());

    public static CpuDriver? Find()
    {
        if (Lazy.Value is null && Environment.GetEnvironmentVariable("CI") == "true")
            Assert.Fail("CI=true but no clang++ is on PATH: .ci/run installs clang-14, which has clang++-14");
        return Lazy.Value;
    }

    /// <summary>Runs <paramref name="file"/> with the CPU driver's folder first on the library path; exit code and both streams.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string file, IEnumerable<string> arguments, string? driverFolder, TimeSpan limit)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8 };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        if (driverFolder is not null) start.Environment["LD_LIBRARY_PATH"] = driverFolder;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} ran over {limit.TotalMinutes} minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>
/// The CPU driver itself (kernels/mocgen_cpu.h, mocgen_cpu_driver.h), through the driver API from a small C++ host
/// (CpuDriver/probe_host.cpp): right kernels give the results CUDA defines (block sum, shuffles up and xor,
/// __syncthreads_count), and each kind of wrong kernel fails its launch with a message that says what and where.
/// </summary>
public sealed class CpuDriverProbeTests
{
    private static readonly Lazy<Dictionary<string, string>?> Lines = new(RunProbe);

    /// <summary>The host's output: the first word of each line to the rest; null where no clang++ is.</summary>
    private static Dictionary<string, string>? RunProbe()
    {
        var compiler = CpuDriverCompiler.Find();
        if (compiler is null) return null;
        var folder = Directory.CreateTempSubdirectory("mocgen-cpu-probe-");
        try
        {
            var probe = Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.Cuda.Tests", "CpuDriver");
            var built = compiler.Build(new[] { ("probe_kernels.cu", File.ReadAllText(Path.Combine(probe, "probe_kernels.cu"))) }, folder.FullName);
            Assert.True(built.Succeeded, built.Errors);
            Assert.Equal(new[] { "probe_right", "probe_divergent_barrier", "probe_exited_lanes", "probe_past_end", "probe_deadlock", "probe_unwritten_shared" },
                built.Kernels);
            var host = Path.Combine(folder.FullName, "probe_host");
            var compiled = CpuDriverCompiler.Run(compiler.CompilerPath,
                new[] { "-std=c++20", "-O1", Path.Combine(probe, "probe_host.cpp"), "-o", host, "-ldl" }, null, TimeSpan.FromMinutes(2));
            Assert.True(compiled.ExitCode == 0, compiled.Stderr + compiled.Stdout);
            var run = CpuDriverCompiler.Run(host, new[] { built.LibraryPath! }, null, TimeSpan.FromMinutes(1));
            Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
            var lines = new Dictionary<string, string>();
            foreach (var line in run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int space = line.IndexOf(' ');
                var key = line[..space];
                // A repeated key (probe_right is launched three times; eight `right` rows) gets one more + each time.
                while (lines.ContainsKey(key)) key += "+";
                lines[key] = line[(space + 1)..];
            }
            return lines;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void RightKernelsGiveWhatCudaDefines()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        Assert.Equal("0", lines["load"]);
        Assert.Equal("0 no error", lines["probe_right"]);
        // Rows: block, thread, block sum of in[i] = (i % 7) - 2, lane + 1 (a scan of ones), lane ^ 1, even threads.
        var expected = new[] { "0 0", "0 21", "0 42", "0 63", "1 0", "1 21", "1 42", "1 63" }.Select(bt =>
        {
            var p = bt.Split(' ').Select(int.Parse).ToArray();
            int sum = Enumerable.Range(p[0] * 64, 64).Sum(i => i % 7 - 2);
            int lane = p[1] % 32;
            return $"{p[0]} {p[1]} {sum} {lane + 1} {lane ^ 1} 32";
        }).ToArray();
        var rows = new[] { "right", "right+", "right++", "right+++", "right++++", "right+++++", "right++++++", "right+++++++" }.Select(k => lines[k]);
        Assert.Equal(expected, rows);
    }

    [Fact]
    public void FreshMemoryAndUnwrittenSharedMemoryReadAsNaN()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        Assert.Equal("0xffffffff", lines["fresh"]);
        Assert.Equal("0 no error", lines["probe_unwritten_shared"]);
        Assert.Equal("0xffffffff", lines["shared"]);
    }

    [Fact]
    public void ThreadsAtDifferentBarriersFailTheLaunch()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        var line = lines["probe_divergent_barrier"];
        Assert.StartsWith("719 unspecified launch failure (CPU driver: probe_divergent_barrier: block (0, 0, 0), thread (32, 0, 0):", line);
        Assert.Contains("threads wait at __syncthreads on different lines (33 and 38)", line);
    }

    [Fact]
    public void AShuffleOverExitedLanesFailsTheLaunch()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        var line = lines["probe_exited_lanes"];
        Assert.StartsWith("719 ", line);
        Assert.Contains("a lane exits while other lanes of its warp (1) wait at a warp shuffle or __syncwarp on line 47", line);
    }

    [Fact]
    public void AWritePastTheEndOfABufferIsAnIllegalAddressThatNamesTheThread()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        var line = lines["probe_past_end"];
        Assert.StartsWith("700 an illegal memory access was encountered (CPU driver: probe_past_end: block (0, 0, 0), thread (63, 0, 0): invalid memory access at 0x", line);
        Assert.EndsWith("0 bytes past the end of a 256-byte buffer)", line);
    }

    [Fact]
    public void ADeadlockFailsTheLaunchAndSaysWhereEachThreadWaits()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        var line = lines["probe_deadlock"];
        Assert.StartsWith("719 ", line);
        Assert.Contains("deadlock, every live thread waits: thread 0 at __syncthreads (line 61); thread 1 at warp shuffle (line 63);", line);
    }

    [Fact]
    public void UnknownKernelsAndLaunchesAboveTheLimitsAreRefused()
    {
        var lines = Lines.Value;
        if (lines is null) return;
        Assert.StartsWith("218 the CPU driver was not built with these kernels of the PTX: probe_nowhere. Build it with `mocgen cuda-cpu`", lines["load-unknown"]);
        Assert.StartsWith("218 probe_past_end: the PTX declares 1 (8 bytes) parameters, the kernel compiled in takes 2 (8, 4 bytes).", lines["load-differing"]);
        Assert.StartsWith("1 invalid argument (CPU driver: probe_right: 65536 bytes of dynamic shared memory, above the 49152", lines["probe_right+"]);
        Assert.Equal("1 invalid argument (CPU driver: probe_right: blocks of (128, 1, 1) threads, above the (64, 1, 1) its PTX allows (.maxntid, from __launch_bounds__))",
            lines["probe_right++"]);
    }
}

/// <summary>
/// mocgen-gpucheck --check, the GPU machine's harness, run on the CPU driver built by <c>mocgen cuda-cpu</c> from the
/// same Models.cs: every generated CUDA kernel as written (the CUDA C text, not its ILGPU twin), launched by the
/// runtime's CUDA host code with the generated launch tables, against the CPU references, with no GPU.
/// </summary>
public sealed class CpuDriverHarnessTests
{
    [Fact]
    public void EveryCheckOfTheGpuHarnessPassesOnTheCpuDriver()
    {
        if (CpuDriverCompiler.Find() is null) return;
        var folder = Directory.CreateTempSubdirectory("mocgen-cpu-driver-");
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            var models = Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "Models.cs");
            Assert.True(MoCGen.Cli.Program.Run(new[] { "cuda-cpu", models, "--out", folder.FullName }, stdout, stderr) == 0, stdout + "\n" + stderr);
            Assert.Contains("(120 kernels;", stdout.ToString());  // 6 models of 20: forward 5, decode 2, backward 3, decoder 10

            var harness = Path.Combine(Path.GetDirectoryName(typeof(GpuCheckApp).Assembly.Location)!, "mocgen-gpucheck");
            var run = CpuDriverCompiler.Run(harness, new[] { "--check" }, folder.FullName, TimeSpan.FromMinutes(10));
            var output = run.Stdout + run.Stderr;
            Assert.True(run.ExitCode == 0, output);
            Assert.Contains("mocgen-gpucheck on MoCGen CPU driver", output);
            Assert.Matches(@"All \d+ checks passed\.", output);
            Assert.DoesNotContain("FAIL", output);

            // The benchmark's code, at small shapes: every line it prints is one JSON object, every suite is there.
            var bench = CpuDriverCompiler.Run(harness, new[] { "--bench", "--smoke" }, folder.FullName, TimeSpan.FromMinutes(5));
            Assert.True(bench.ExitCode == 0, bench.Stdout + bench.Stderr);
            var suites = bench.Stdout.Split('\n').Where(l => l.StartsWith('{'))
                .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("suite").GetString()).ToArray();
            Assert.Equal(new[] { "device", "ffn-decode", "ffn-decode-stages", "ffn-decode", "ffn-decode-stages", "ffn-train", "ffn-train-stages" }, suites);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}

/// <summary><c>mocgen cuda-cpu</c> and <see cref="CpuDriver"/>'s reading of kernel names.</summary>
public sealed class CpuDriverCommandTests
{
    [Fact]
    public void KernelNamesFollowGlobalVoidPastLaunchBoundsAndComments()
    {
        const string source = """
            #include "mocgen_cuda.h"
            // an extern "C" __global__ void kernel(...) in a comment is not one
            /* nor __global__ void here(int) */
            static __device__ float helper(float x) { return x; }
            extern "C" __global__ void __launch_bounds__(ROWS * (2 + 1))
            first(const float* x, int n) {}
            extern "C" __global__ void MOCGEN_BOUNDS_128REGS(THREADS) second (float* y) {}
            extern "C" __global__ void third(void) {}
            """;

        Assert.Equal(new[] { "first", "second", "third" }, CpuDriver.KernelNames(source));
    }

    [Fact]
    public void EachKernelIsRegisteredAfterTheUnit()
    {
        var text = CpuDriver.WithRegistrations("int a;\n", new[] { "k1", "k2" });

        Assert.StartsWith("int a;\n", text);
        Assert.Contains("::mocgen_cpu::Registration(\"k1\", &k1),", text);
        Assert.Contains("::mocgen_cpu::Registration(\"k2\", &k2),", text);
        Assert.Equal("int a;\n", CpuDriver.WithRegistrations("int a;\n", Array.Empty<string>()));
    }

    [Fact]
    public void WithoutClangPlusPlusTheCommandSaysWhatToInstall()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var models = Path.Combine(Toolchains.RepoRoot(), "examples", "TinyMoC", "TinyMoC.cs");

        var e = Assert.Throws<MoCGen.Cli.CliException>(() =>
            MoCGen.Cli.CpuDriverBuilder.Run(new[] { models }, Path.Combine(Path.GetTempPath(), "unused"), stdout, stderr, Toolchains.Nowhere));

        Assert.StartsWith("no clang++ found on PATH", e.Message);
        Assert.Contains("apt-get install clang", e.Message);
    }

    [Fact]
    public void ACompileErrorNamesTheUnitAndTheCommand()
    {
        var compiler = CpuDriverCompiler.Find();
        if (compiler is null) return;
        var folder = Directory.CreateTempSubdirectory("mocgen-cpu-bad-");
        try
        {
            var result = compiler.Build(new[] { ("broken.cu", "#include \"mocgen_cuda.h\"\nextern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }\n") },
                folder.FullName);

            Assert.False(result.Succeeded);
            Assert.Contains("broken.cu:2:", result.Errors);
            Assert.Contains("undefined_name", result.Errors);
            Assert.Contains("-DMOCGEN_CUDA_ON_CPU", result.CommandLine);
            Assert.False(File.Exists(Path.Combine(folder.FullName, CpuDriver.LibraryName)));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
