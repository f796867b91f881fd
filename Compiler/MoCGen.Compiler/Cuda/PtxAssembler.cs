using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace MoCGen.Compiler.Cuda;

/// <summary>What ptxas gave one kernel (<c>ptxas -v</c>).</summary>
/// <param name="Kernel">The kernel's symbol.</param>
/// <param name="Registers">Registers a thread.</param>
/// <param name="StaticSharedBytes">Static shared memory of a block, bytes (dynamic shared memory comes at launch).</param>
/// <param name="StackBytes">Stack frame a thread, bytes (local memory).</param>
/// <param name="SpillStoreBytes">Bytes of registers spilled to local memory.</param>
/// <param name="SpillLoadBytes">Bytes of spilled registers loaded back.</param>
public sealed record KernelResources(string Kernel, int Registers, int StaticSharedBytes, int StackBytes, int SpillStoreBytes, int SpillLoadBytes)
{
    /// <summary>Registers an SM has on every architecture MoCGen targets (sm_70 to sm_90).</summary>
    public const int RegistersPerSm = 65536;

    /// <summary>
    /// Blocks of <paramref name="threads"/> an SM can hold by registers alone: registers are allocated 8 a thread at a
    /// time (256 a warp) and a block takes whole warps.
    /// </summary>
    public int BlocksByRegisters(int threads)
    {
        if (threads <= 0) throw new ArgumentOutOfRangeException(nameof(threads));
        int perWarp = (Registers + 7) / 8 * 8 * 32;
        int warps = (threads + 31) / 32;
        return perWarp == 0 ? int.MaxValue : RegistersPerSm / perWarp / warps;
    }
}

/// <summary>The outcome of assembling one PTX file with ptxas.</summary>
/// <param name="Kernels">Each kernel's resources, in the order ptxas reports them; empty when assembly failed.</param>
/// <param name="Errors">ptxas's messages when it failed (or its warnings), else empty.</param>
/// <param name="CommandLine">The command that ran.</param>
/// <param name="Cubin">The assembled module; null when assembly failed.</param>
public sealed record PtxasResult(IReadOnlyList<KernelResources> Kernels, string Errors, string CommandLine, byte[]? Cubin)
{
    /// <summary>True when ptxas made a cubin.</summary>
    public bool Succeeded => Cubin is not null;
}

/// <summary>
/// NVIDIA's PTX assembler, where one is installed (a CUDA toolkit, or Debian's nvidia-cuda-toolkit package): it turns
/// the PTX of clang or nvcc into machine code for one architecture, the same step the driver takes when it loads PTX.
/// MoCGen needs none of it to build or run (the driver assembles PTX itself); it is used to check, without a GPU, that
/// every kernel assembles, and to read what each costs in registers, spills and shared memory.
/// </summary>
public sealed class PtxAssembler
{
    private static readonly TimeSpan AssembleTimeout = TimeSpan.FromMinutes(2);
    private static readonly Regex EntryLine = new(@"Compiling entry function '(\w+)'", RegexOptions.Compiled);
    private static readonly Regex FrameLine = new(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", RegexOptions.Compiled);
    private static readonly Regex UsedLine = new(@"Used (\d+) registers(?:, (\d+) bytes smem)?", RegexOptions.Compiled);

    /// <summary>The message where ptxas is asked for and not found.</summary>
    public const string NotFoundText =
        "ptxas was not found (CUDA_PATH/bin, PATH, /usr/local/cuda/bin); install a CUDA toolkit, or Debian's nvidia-cuda-toolkit from non-free (build/install-cuda-tools.sh takes only the tools)";

    private PtxAssembler(string path) => AssemblerPath = path;

    /// <summary>Full path of ptxas.</summary>
    public string AssemblerPath { get; }

    /// <summary>ptxas at a known path (no search).</summary>
    public static PtxAssembler Use(string path) => new(path);

    /// <summary>ptxas in CUDA_PATH/bin, on PATH or in <see cref="ToolchainSearch.ExtraDirectories"/>; null where there is none.</summary>
    public static PtxAssembler? Find(ToolchainSearch? search = null)
    {
        search ??= ToolchainSearch.Default;
        foreach (var dir in search.ToolkitDirectories())
            if (PtxToolchain.Executable(dir, "ptxas") is { } ptxas) return new PtxAssembler(ptxas);
        return null;
    }

    /// <summary>
    /// Assembles <paramref name="ptx"/> for <paramref name="arch"/> (<c>ptxas -v</c>, optimisation level 3, the
    /// driver's default). <paramref name="fileName"/> names the PTX in messages.
    /// </summary>
    public PtxasResult Assemble(string ptx, string arch, string fileName = "kernels.ptx")
    {
        if (ptx is null) throw new ArgumentNullException(nameof(ptx));
        if (!PtxToolchain.IsArch(arch)) throw new ArgumentException($"'{arch}' is not a GPU architecture such as sm_80 or sm_90a.", nameof(arch));
        fileName = Path.GetFileName(fileName);
        if (fileName.Length == 0) fileName = "kernels.ptx";

        var work = Path.Combine(Path.GetTempPath(), "mocgen-ptxas-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            File.WriteAllText(Path.Combine(work, fileName), ptx, new UTF8Encoding(false));
            var cubin = Path.GetFileNameWithoutExtension(fileName) + ".cubin";
            var arguments = new[] { "-v", "-O3", "-arch=" + arch, fileName, "-o", cubin };
            var commandLine = PtxToolchain.Quote(AssemblerPath) + " " + string.Join(" ", arguments.Select(PtxToolchain.Quote));
            var run = ProcessRunner.Run(AssemblerPath, arguments, work, AssembleTimeout);
            var cubinPath = Path.Combine(work, cubin);
            var output = (run.Stdout + run.Stderr).Trim();
            if (run.ExitCode != 0 || !File.Exists(cubinPath))
            {
                if (output.Length == 0) output = $"ptxas exited with code {run.ExitCode} and printed nothing.";
                return new PtxasResult(Array.Empty<KernelResources>(), output, commandLine, null);
            }
            var kernels = ParseVerbose(output);
            var messages = string.Join("\n", output.Split('\n').Where(l => !l.Contains("ptxas info", StringComparison.Ordinal) && !FrameLine.IsMatch(l)).Select(l => l.TrimEnd()).Where(l => l.Length > 0));
            return new PtxasResult(kernels, messages, commandLine, File.ReadAllBytes(cubinPath));
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { } // a leftover temp folder is not worth failing for
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// The kernels' resources from <c>ptxas -v</c> output: for each <c>Compiling entry function 'name'</c>, the stack
    /// and spill line and the <c>Used N registers, M bytes smem</c> line that follow it.
    /// </summary>
    public static IReadOnlyList<KernelResources> ParseVerbose(string output)
    {
        var kernels = new List<KernelResources>();
        string? kernel = null;
        int stack = 0, spillStores = 0, spillLoads = 0;
        foreach (var line in output.Split('\n'))
        {
            var entry = EntryLine.Match(line);
            if (entry.Success)
            {
                kernel = entry.Groups[1].Value;
                stack = spillStores = spillLoads = 0;
                continue;
            }
            if (kernel is null) continue;
            var frame = FrameLine.Match(line);
            if (frame.Success)
            {
                stack = Int(frame.Groups[1].Value);
                spillStores = Int(frame.Groups[2].Value);
                spillLoads = Int(frame.Groups[3].Value);
                continue;
            }
            var used = UsedLine.Match(line);
            if (used.Success)
            {
                int shared = used.Groups[2].Success ? Int(used.Groups[2].Value) : 0;
                kernels.Add(new KernelResources(kernel, Int(used.Groups[1].Value), shared, stack, spillStores, spillLoads));
                kernel = null;
            }
        }
        return kernels;
    }

    private static int Int(string digits) => int.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
}
