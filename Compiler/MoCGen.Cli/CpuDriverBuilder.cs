using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoCGen.Compiler.Cuda;

namespace MoCGen.Cli;

/// <summary>
/// <c>mocgen cuda-cpu</c>: runs the generator over the files and builds, from every CUDA C source it produced, a
/// libcuda.so.1 whose kernels run on the CPU (<see cref="CpuDriver"/>).
/// </summary>
internal static class CpuDriverBuilder
{
    /// <summary>Builds <c>&lt;out&gt;/libcuda.so.1</c>; exit codes as the other commands.</summary>
    public static int Run(IReadOnlyList<string> paths, string outDir, TextWriter stdout, TextWriter stderr, ToolchainSearch? search = null)
    {
        var compiler = CpuDriver.Find(search) ?? throw new CliException(CpuDriver.NotFoundText);
        // The launch tables the host uses are planned for the default architecture, as the PTX a build embeds.
        var sources = Emitter.Generate(paths, stderr, PtxToolchain.DefaultArch);
        if (sources is null) return ExitCodes.ModelErrors;
        var units = PtxBuilder.CudaUnitsOrSelfTests(sources, stdout);
        stdout.WriteLine($"compiling {units.Count} CUDA source(s) for the CPU with {compiler.CompilerPath}");
        CpuDriverResult result;
        try
        {
            result = compiler.Build(units.Select(u => (u.Name, u.Source)).ToList(), outDir);
        }
        catch (System.Exception e) when (e is IOException or System.UnauthorizedAccessException)
        {
            throw new CliException($"cannot write to '{outDir}': {e.Message}");
        }
        if (!result.Succeeded)
        {
            stderr.WriteLine(result.Errors);
            stderr.WriteLine($"mocgen: the CPU driver did not build; the command was: {result.CommandLine}");
            return ExitCodes.ModelErrors;
        }
        stdout.WriteLine($"wrote {result.LibraryPath} ({result.Kernels.Count} kernels; {result.Elapsed.TotalSeconds:F1} s)");
        stdout.WriteLine($"run a MoCGen program on it: LD_LIBRARY_PATH={Path.GetDirectoryName(result.LibraryPath)} <program> --device cuda");
        return ExitCodes.Success;
    }
}
