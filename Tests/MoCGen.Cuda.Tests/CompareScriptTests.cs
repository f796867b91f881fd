using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>
/// Tests/MoCGen.GpuCheck/compare.py, which the GPU run ends with, on result lines of the shape mocgen-gpucheck and
/// torch_ffn.py print: so that a GPU session, rare here, is not spent on a broken comparison.
/// </summary>
public sealed class CompareScriptTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("mocgen-compare-").FullName;

    private static readonly string[] Ours =
    {
        """{"suite": "device", "implementation": "mocgen moc", "name": "NVIDIA H100 80GB HBM3", "sm": "9.0", "peak_gb_per_s": 3352.3}""",
        """{"suite": "ffn-decode", "implementation": "mocgen moc", "dtype": "bf16", "tokens": 1, "inputs": 16, "hidden": 4096, "intermediate": 11008, "topk": 1376, "median_us": 50.0, "bytes": 112754688, "gb_per_s": 2255.1, "peak_gb_per_s": 3352.3, "fraction_of_peak": 0.6727}""",
        """{"suite": "ffn-decode-stages", "implementation": "mocgen moc", "dtype": "bf16", "gate_topk_us": 38.0, "up_down_us": 12.0, "gate_topk_gb_per_s": 2373.1, "up_down_gb_per_s": 1879.0}""",
        """{"suite": "ffn-decode", "implementation": "mocgen moc", "dtype": "fp32", "tokens": 1, "median_us": 95.0, "bytes": 225492992, "gb_per_s": 2373.6, "peak_gb_per_s": 3352.3, "fraction_of_peak": 0.708}""",
        """{"suite": "ffn-train", "implementation": "mocgen moc", "dtype": "fp32", "tokens": 4096, "median_us": 50000.0, "forward_us": 21000.0, "backward_us": 29000.0}""",
        """{"suite": "ffn-train-stages", "implementation": "mocgen moc", "dtype": "fp32", "tokens": 4096, "gate_gemm_us": 10000.0, "topk_us": 300.0, "gate_gemm_tflops": 36.9}""",
    };

    private static readonly string[] Torch =
    {
        """{"suite": "device", "name": "NVIDIA H100 80GB HBM3", "torch": "2.5.1", "sm": "9.0", "multiprocessors": 132}""",
        """{"suite": "bandwidth", "implementation": "pytorch", "bytes": 1073741824, "read_us": 357.9, "read_gb_per_s": 3000.0, "copy_us": 766.9, "copy_gb_per_s": 2800.0}""",
        """{"suite": "ffn-decode", "implementation": "pytorch dense", "dtype": "bf16", "tokens": 1, "median_us": 110.0}""",
        """{"suite": "ffn-decode", "implementation": "pytorch dense", "dtype": "fp32", "tokens": 1, "median_us": 200.0}""",
        """{"suite": "ffn-train", "implementation": "pytorch dense", "dtype": "fp32", "tokens": 4096, "median_us": 65000.0}""",
        """{"suite": "ffn-train", "implementation": "pytorch dense", "dtype": "bf16", "tokens": 4096, "median_us": 30000.0}""",
    };

    [Fact]
    public void ItReportsSpeedUpsBandwidthAndEachTargetsVerdict()
    {
        var (code, output) = Compare(Ours, Torch);

        Assert.Equal(0, code);
        Assert.Matches(@"decode bf16, batch 1 +50\.0 +110\.0 +2\.20x  >= 2x: met", output);     // 110 / 50
        Assert.Matches(@"train fp32 vs PyTorch fp32 +50000\.0 +65000\.0 +1\.30x  >= 1.2x: met", output);
        Assert.Matches(@"train fp32 vs PyTorch bf16 +50000\.0 +30000\.0 +0\.60x", output);
        Assert.Contains("= 67.3% of peak 3352 GB/s; target >= 75%: MISSED", output);           // 0.6727 of the spec peak
        Assert.Contains("(75.2% of the 3000 GB/s measured for a PyTorch sum of 1 GiB)", output);        // 2255.1 / 3000
        Assert.Contains("memory, measured with PyTorch: read 3000 GB/s", output);
        Assert.Contains("target decode bf16 bandwidth: MISSED", output);
        Assert.Contains("target decode bf16, batch 1: met", output);
        Assert.Contains("ffn-decode-stages bf16: gate_topk 38.0, up_down 12.0 us per call", output);
    }

    [Fact]
    public void AMissingRowIsExit2AndNamed()
    {
        var (code, output) = Compare(Ours, Torch.Where(l => !l.Contains("\"ffn-train\"", StringComparison.Ordinal) || l.Contains("bf16", StringComparison.Ordinal)).ToArray());

        Assert.Equal(2, code);
        Assert.Contains("missing rows: train fp32 vs PyTorch fp32", output);
    }

    /// <summary>torch_ffn.py needs PyTorch and a GPU to run; here it must at least be valid Python.</summary>
    [Fact]
    public void ThePeerScriptParses()
    {
        var (code, output) = Python("-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())",
            Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "torch_ffn.py"));
        Assert.True(code == 0, output);
    }

    /// <summary>
    /// ncu_table.py on a report of the shape <c>ncu --csv --print-units base --metrics ...</c> writes: ncu's own
    /// ==PROF== lines first, then one row per launch and metric, numbers possibly with thousands separators.
    /// </summary>
    [Fact]
    public void TheProfileTableGivesEachKernelsTimeBandwidthRegistersAndOccupancy()
    {
        const string header = "\"ID\",\"Process ID\",\"Process Name\",\"Host Name\",\"Kernel Name\",\"Context\",\"Stream\",\"Block Size\",\"Grid Size\",\"Device\",\"CC\",\"Section Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\"";
        static string Row(int id, string kernel, string metric, string unit, string value) =>
            $"\"{id}\",\"4242\",\"mocgen-gpucheck\",\"127.0.0.1\",\"{kernel}\",\"1\",\"7\",\"(512, 1, 1)\",\"(688, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"{metric}\",\"{unit}\",\"{value}\"";
        var report = new[]
        {
            "==PROF== Connected to process 4242 (/gpucheck/mocgen-gpucheck)",
            "==PROF== Profiling \"mocgen_Llama7BFfnBf16_ffn_decode_gate_topk\": 0%....50%....100% - 6 passes",
            header,
            Row(0, "mocgen_Llama7BFfnBf16_ffn_decode_gate_topk", "dram__bytes_read.sum", "byte", "90,210,304"),
            Row(0, "mocgen_Llama7BFfnBf16_ffn_decode_gate_topk", "dram__bytes_write.sum", "byte", "44,032"),
            Row(0, "mocgen_Llama7BFfnBf16_ffn_decode_gate_topk", "dram__throughput.avg.pct_of_peak_sustained_elapsed", "%", "80.5"),
            Row(0, "mocgen_Llama7BFfnBf16_ffn_decode_gate_topk", "gpu__time_duration.sum", "nsecond", "33,500"),
            Row(0, "mocgen_Llama7BFfnBf16_ffn_decode_gate_topk", "launch__registers_per_thread", "register/thread", "86"),
            Row(0, "mocgen_Llama7BFfnBf16_ffn_decode_gate_topk", "sm__warps_active.avg.pct_of_peak_sustained_active", "%", "24.9"),
            Row(1, "mocgen_Llama7BFfnBf16_ffn_decode_up_down", "gpu__time_duration.sum", "usecond", "9.5"),
            Row(1, "mocgen_Llama7BFfnBf16_ffn_decode_up_down", "dram__bytes_read.sum", "Mbyte", "22.5"),
        };
        string path = Path.Combine(dir, "ncu.csv");
        File.WriteAllLines(path, report);

        var (code, output) = Python(Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "ncu_table.py"), path);

        Assert.True(code == 0, output);
        // 90.254336 MB in 33.5 us: 2694 GB/s.
        Assert.Matches(@"mocgen_Llama7BFfnBf16_ffn_decode_gate_topk +33\.5 +90\.3 +2694 +80\.5 +86 +24\.9", output);
        // Units scaled: 22.5 MB in 9.5 us; the metrics it lacks print as '-'.
        Assert.Matches(@"mocgen_Llama7BFfnBf16_ffn_decode_up_down +9\.5 +22\.5 +2368 +- +- +-", output);
    }

    [Fact]
    public void AProfileWithoutKernelRowsIsExit2()
    {
        string path = Path.Combine(dir, "ncu.csv");
        File.WriteAllLines(path, new[] { "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters" });

        var (code, output) = Python(Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "ncu_table.py"), path);

        Assert.Equal(2, code);
        Assert.Contains("no kernel metrics in", output);
    }

    private (int Code, string Output) Compare(string[] ours, string[] torch)
    {
        string oursPath = Path.Combine(dir, "ours.jsonl"), torchPath = Path.Combine(dir, "torch.jsonl");
        File.WriteAllLines(oursPath, ours);
        File.WriteAllLines(torchPath, torch);
        return Python(Path.Combine(Toolchains.RepoRoot(), "Tests", "MoCGen.GpuCheck", "compare.py"), oursPath, torchPath);
    }

    private static (int Code, string Output) Python(params string[] arguments)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "python3 did not finish within 60 s");
        return (process.ExitCode, output + stderr.Result);
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);
}
