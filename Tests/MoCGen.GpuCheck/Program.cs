using System;
using System.Globalization;
using System.IO;
using MoCGen.Cuda;

// mocgen-gpucheck [--check] [--bench [--smoke]] [--repeats N] [--out file.jsonl]   (both when neither is named)
return MoCGen.GpuCheck.GpuCheckApp.Run(args, Console.Out, Console.Error);

namespace MoCGen.GpuCheck
{
    /// <summary>
    /// Validates every generated CUDA kernel of the models in Models.cs against the CPU reference (--check) and times
    /// the LLaMA-7B-sized feed-forward kernels (--bench). Exit codes: 0 all passed, 1 a check failed, 2 usage or a
    /// failure outside the checks, 3 no NVIDIA driver or GPU.
    /// </summary>
    public static class GpuCheckApp
    {
        /// <summary>Exit code when no NVIDIA driver or GPU is there.</summary>
        public const int NoGpu = 3;

        /// <summary>Runs the command line <paramref name="args"/>.</summary>
        public static int Run(string[] args, TextWriter output, TextWriter error)
        {
            bool check = false, bench = false, smoke = false;
            int repeats = 21;
            string? outFile = null;
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : "";
                switch (args[i])
                {
                    case "--check": check = true; break;
                    case "--bench": bench = true; break;
                    case "--smoke": smoke = true; break;
                    case "--repeats":
                        if (!int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out repeats) || repeats < 1)
                            return Usage(error, "--repeats needs an integer >= 1.");
                        break;
                    case "--out":
                        outFile = Value();
                        if (outFile.Length == 0) return Usage(error, "--out needs a file name.");
                        break;
                    case "-h" or "--help":
                        output.WriteLine(UsageText);
                        return 0;
                    default:
                        return Usage(error, $"Unknown option '{args[i]}'.");
                }
            }
            if (!check && !bench) check = bench = true;

            if (!CudaDevice.TryOpen(0, out var gpu, out var why))
            {
                error.WriteLine("mocgen-gpucheck: " + why);
                return NoGpu;
            }
            using (gpu)
            {
                output.WriteLine($"mocgen-gpucheck on {gpu}, driver {gpu.DriverVersion}, peak DRAM bandwidth {gpu.PeakMemoryBandwidth / 1e9:F0} GB/s");
                int code = 0;
                if (check)
                {
                    var report = new Report(output);
                    Checks.RunAll(gpu, report);
                    output.WriteLine(report.Failed == 0 ? $"All {report.Run} checks passed." : $"{report.Failed} of {report.Run} checks FAILED.");
                    if (report.Failed > 0) code = 1;
                }
                if (bench)
                {
                    try
                    {
                        using var file = outFile is null ? null : new StreamWriter(outFile);
                        foreach (var line in Bench.Run(gpu, repeats, smoke))
                        {
                            output.WriteLine(line);
                            output.Flush();
                            file?.WriteLine(line);
                            file?.Flush();
                        }
                    }
                    catch (Exception e) when (e is CudaException or InvalidOperationException or IOException)
                    {
                        error.WriteLine("mocgen-gpucheck: benchmark failed: " + e.Message);
                        return 2;
                    }
                }
                return code;
            }
        }

        private const string UsageText =
            "mocgen-gpucheck [--check] [--bench [--smoke]] [--repeats N] [--out file.jsonl]\n" +
            "  --check   every generated CUDA kernel against the CPU reference, one line per check (exit 1 on a failure)\n" +
            "  --bench   the LLaMA-7B feed-forward kernels timed with CUDA events, JSON lines (--out also writes them to a file)\n" +
            "  --smoke   with --bench: the same code at small shapes, one loop (to try it where speed means nothing)\n" +
            "  Both when neither is named; --repeats: timed loops per case (21). Exit 3: no NVIDIA driver or GPU.";

        private static int Usage(TextWriter error, string problem)
        {
            error.WriteLine("mocgen-gpucheck: " + problem);
            error.WriteLine(UsageText);
            return 2;
        }
    }
}
