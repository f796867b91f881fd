using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace MoCGen.Compiler.Cuda;

/// <summary>Which compiler turns CUDA C into PTX.</summary>
public enum PtxCompilerKind
{
    /// <summary>NVIDIA's nvcc from a CUDA toolkit.</summary>
    Nvcc,

    /// <summary>clang with its NVPTX backend, run without any CUDA toolkit (<c>-nocudainc -nocudalib</c>, kernels/mocgen_cuda.h fills in).</summary>
    Clang,
}

/// <summary>
/// Where <see cref="PtxToolchain.Find"/> looks. The defaults read the process environment; tests replace them
/// (an empty <see cref="PathVariable"/> and no <see cref="ExtraDirectories"/> finds nothing).
/// </summary>
public sealed record ToolchainSearch
{
    /// <summary>The PATH to search, directories separated by <see cref="Path.PathSeparator"/>.</summary>
    public string PathVariable { get; init; } = Environment.GetEnvironmentVariable("PATH") ?? "";

    /// <summary>A CUDA toolkit root (<c>CUDA_PATH</c>); its <c>bin/nvcc</c> is tried first.</summary>
    public string? CudaPath { get; init; } = Environment.GetEnvironmentVariable("CUDA_PATH");

    /// <summary>Further directories tried for nvcc after PATH (the toolkit's usual home).</summary>
    public IReadOnlyList<string> ExtraDirectories { get; init; } = new[] { "/usr/local/cuda/bin" };

    /// <summary>Skip nvcc even where one is found (to check the toolkit-free path on a machine that has both).</summary>
    public bool ClangOnly { get; init; }

    /// <summary>The process environment, as the defaults above read it.</summary>
    public static ToolchainSearch Default => new();

    /// <summary>Where a CUDA toolkit's programs (nvcc, ptxas) are looked for, in order: CUDA_PATH/bin, PATH, then
    /// <see cref="ExtraDirectories"/>.</summary>
    internal IEnumerable<string> ToolkitDirectories()
    {
        if (!string.IsNullOrEmpty(CudaPath)) yield return Path.Combine(CudaPath, "bin");
        foreach (var dir in PathDirectories()) yield return dir;
        foreach (var dir in ExtraDirectories) yield return dir;
    }

    /// <summary>The directories of <see cref="PathVariable"/>.</summary>
    internal string[] PathDirectories() => PathVariable.Split(new[] { Path.PathSeparator }, StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>The outcome of one CUDA C to PTX compilation.</summary>
/// <param name="Ptx">The PTX text; null when compilation failed.</param>
/// <param name="Errors">The compiler's own messages (file:line:col: error: ...), or the reason the PTX is unusable.</param>
/// <param name="CommandLine">The command that ran, for reports and for reproducing a failure by hand.</param>
/// <param name="Elapsed">Time the compiler ran.</param>
public sealed record PtxResult(string? Ptx, string Errors, string CommandLine, TimeSpan Elapsed)
{
    /// <summary>True when PTX was produced and calls nothing unresolved.</summary>
    public bool Succeeded => Ptx is not null;

    /// <summary>The names of the kernels (<c>.entry</c>) in the PTX.</summary>
    public IReadOnlyList<string> Kernels => Ptx is null ? Array.Empty<string>() : PtxCheck.Entries(Ptx);
}

/// <summary>Raised when neither nvcc nor clang with the NVPTX backend is available.</summary>
public sealed class PtxToolchainNotFoundException : Exception
{
    /// <summary>The one message users see: what is missing and how to install it.</summary>
    public const string Text =
        "neither nvcc nor clang with the NVPTX backend was found; install clang (apt-get install clang-14) or the CUDA toolkit";

    /// <summary>Creates the exception with <see cref="Text"/>.</summary>
    public PtxToolchainNotFoundException() : base(Text) { }
}

/// <summary>
/// Compiles CUDA C to PTX with nvcc where a CUDA toolkit is installed, else with clang's NVPTX backend and no
/// toolkit at all. The headers of kernels/ (embedded in this assembly) are always on the include path, so the
/// generated kernels compile outside the repository too. PTX is checked to call no libdevice function
/// (<c>__nv_*</c>): with clang those stay unresolved, and the driver could not load them.
/// </summary>
public sealed class PtxToolchain
{
    /// <summary>The architecture compiled for unless another is asked: Ampere, the oldest MoCGen targets (bf16, cp.async).</summary>
    public const string DefaultArch = "sm_80";

    /// <summary>clang executables tried, newest first, then the unversioned one.</summary>
    private static readonly string[] ClangNames = NewestFirst("clang");

    /// <summary>The names LLVM's packages give <paramref name="program"/>: program-22 down to program-14, then program.</summary>
    internal static string[] NewestFirst(string program) =>
        Enumerable.Range(14, 9).Reverse().Select(v => program + "-" + v.ToString(CultureInfo.InvariantCulture)).Append(program).ToArray();

    private static readonly TimeSpan CompileTimeout = TimeSpan.FromMinutes(2);

    private PtxToolchain(PtxCompilerKind kind, string compilerPath)
    {
        Kind = kind;
        CompilerPath = compilerPath;
    }

    /// <summary>nvcc or clang.</summary>
    public PtxCompilerKind Kind { get; }

    /// <summary>Full path of the compiler executable.</summary>
    public string CompilerPath { get; }

    /// <summary>A toolchain for a known compiler (no search, no check of the NVPTX backend).</summary>
    public static PtxToolchain Use(PtxCompilerKind kind, string compilerPath) => new(kind, compilerPath);

    /// <summary>
    /// Finds nvcc (CUDA_PATH/bin, PATH, <see cref="ToolchainSearch.ExtraDirectories"/>), else the newest clang on
    /// PATH whose <c>--print-targets</c> lists nvptx64. Null when neither is there.
    /// </summary>
    public static PtxToolchain? Find(ToolchainSearch? search = null)
    {
        search ??= ToolchainSearch.Default;
        if (!search.ClangOnly)
            foreach (var dir in search.ToolkitDirectories())
                if (Executable(dir, "nvcc") is { } nvcc) return new PtxToolchain(PtxCompilerKind.Nvcc, nvcc);
        var path = search.PathDirectories();
        foreach (var name in ClangNames)
            foreach (var dir in path)
                if (Executable(dir, name) is { } clang && HasNvptxBackend(clang)) return new PtxToolchain(PtxCompilerKind.Clang, clang);
        return null;
    }

    /// <summary>As <see cref="Find"/>, but throws <see cref="PtxToolchainNotFoundException"/> with install advice when nothing is found.</summary>
    public static PtxToolchain FindOrThrow(ToolchainSearch? search = null) => Find(search) ?? throw new PtxToolchainNotFoundException();

    /// <summary>
    /// Compiles one CUDA C translation unit to PTX. <paramref name="fileName"/> is the name error messages
    /// give the source (<c>fileName:line:col: error: ...</c>). <paramref name="includeDirectories"/> are searched
    /// before the embedded kernels/ headers (pass the repository's kernels/ to try header edits without a rebuild).
    /// </summary>
    public PtxResult Compile(string cudaSource, string fileName = "kernel.cu", string arch = DefaultArch,
        IEnumerable<string>? includeDirectories = null)
    {
        if (cudaSource is null) throw new ArgumentNullException(nameof(cudaSource));
        if (!IsArch(arch)) throw new ArgumentException($"'{arch}' is not a GPU architecture such as sm_80 or sm_90a.", nameof(arch));
        fileName = Path.GetFileName(fileName);
        if (fileName.Length == 0) fileName = "kernel.cu";
        if (!fileName.EndsWith(".cu", StringComparison.OrdinalIgnoreCase)) fileName += ".cu";

        var work = Path.Combine(Path.GetTempPath(), "mocgen-ptx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            File.WriteAllText(Path.Combine(work, fileName), cudaSource, new UTF8Encoding(false));
            var ptxName = Path.GetFileNameWithoutExtension(fileName) + ".ptx";
            var includes = (includeDirectories ?? Enumerable.Empty<string>()).Select(Path.GetFullPath).ToList();
            includes.Add(KernelHeaders.IncludeDirectory());
            var arguments = Arguments(arch, fileName, ptxName, includes);
            var commandLine = Quote(CompilerPath) + " " + string.Join(" ", arguments.Select(Quote));

            var run = ProcessRunner.Run(CompilerPath, arguments, work, CompileTimeout);
            var ptxPath = Path.Combine(work, ptxName);
            if (run.ExitCode != 0 || !File.Exists(ptxPath))
            {
                var output = (run.Stderr + run.Stdout).Trim();
                if (output.Length == 0) output = $"{Path.GetFileName(CompilerPath)} exited with code {run.ExitCode} and printed nothing.";
                return new PtxResult(null, output, commandLine, run.Elapsed);
            }
            var ptx = File.ReadAllText(ptxPath);
            var unresolved = PtxCheck.UnresolvedLibdeviceCalls(ptx);
            if (unresolved.Count > 0) return new PtxResult(null, PtxCheck.UnresolvedMessage(fileName, unresolved), commandLine, run.Elapsed);
            return new PtxResult(ptx, run.Stderr.Trim(), commandLine, run.Elapsed);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { } // a leftover temp folder is not worth failing a compilation for
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The compiler's arguments (the source and output are relative to the working folder, so messages name the file plainly).</summary>
    public IReadOnlyList<string> Arguments(string arch, string source, string output, IEnumerable<string> includeDirectories)
    {
        var args = new List<string>();
        if (Kind == PtxCompilerKind.Nvcc)
        {
            args.AddRange(new[] { "-ptx", "-arch=" + arch, "-O3", "-std=c++17" });
        }
        else
        {
            args.AddRange(new[]
            {
                "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=" + arch, "-nocudainc", "-nocudalib", "-O2", "-S",
                // Conservative PTX ISA (drivers older than the ISA refuse the PTX); 7.0 is the first with sm_80 and has the .sync shuffles.
                "-Xclang", "-target-feature", "-Xclang", "+" + PtxFeature(arch),
            });
        }
        foreach (var dir in includeDirectories) { args.Add("-I"); args.Add(dir); }
        args.Add(source);
        args.Add("-o");
        args.Add(output);
        return args;
    }

    /// <summary>The oldest PTX ISA that knows <paramref name="arch"/> (clang's <c>ptxNN</c> target feature).</summary>
    public static string PtxFeature(string arch)
    {
        var number = int.Parse(new string(arch.Substring(3).TakeWhile(char.IsDigit).ToArray()), CultureInfo.InvariantCulture);
        return number switch
        {
            <= 80 => "ptx70",
            86 => "ptx71",
            87 => "ptx74",
            89 => "ptx78",
            90 => "ptx78",
            _ => "ptx80",
        };
    }

    /// <summary>True for names like sm_80, sm_86, sm_90a.</summary>
    public static bool IsArch(string? arch) => arch is not null && Regex.IsMatch(arch, "^sm_[0-9]{2,3}a?$");

    private static bool HasNvptxBackend(string clang)
    {
        try
        {
            var run = ProcessRunner.Run(clang, new[] { "--print-targets" }, Environment.CurrentDirectory, TimeSpan.FromSeconds(30));
            return run.ExitCode == 0 && run.Stdout.IndexOf("nvptx64", StringComparison.OrdinalIgnoreCase) >= 0;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The full path of program <paramref name="name"/> (or <c>name.exe</c>) in <paramref name="dir"/>; null where it is not there.</summary>
    internal static string? Executable(string dir, string name)
    {
        try
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return Path.GetFullPath(path);
            var exe = path + ".exe";
            return File.Exists(exe) ? Path.GetFullPath(exe) : null;
        }
        catch (ArgumentException)
        {
            return null; // a PATH entry with characters a path cannot hold
        }
    }

    /// <summary>Quotes one argument for a shell (display) and for <see cref="ProcessStartInfo.Arguments"/>.</summary>
    internal static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_=+./:,".IndexOf(c) >= 0)
            ? argument
            : "\"" + argument.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}

/// <summary>Checks on PTX text.</summary>
public static class PtxCheck
{
    private static readonly Regex ExternNv = new(@"^\s*\.extern\s+\.func\s+(?:\([^)]*\)\s*)?(__nv_\w+)", RegexOptions.Multiline);
    private static readonly Regex Entry = new(@"\.entry\s+(\w+)", RegexOptions.Multiline);

    /// <summary>libdevice functions (<c>__nv_*</c>) the PTX declares <c>.extern</c> and so cannot be loaded by the driver alone.</summary>
    public static IReadOnlyList<string> UnresolvedLibdeviceCalls(string ptx) =>
        ExternNv.Matches(ptx).Cast<Match>().Select(m => m.Groups[1].Value).Distinct().ToList();

    /// <summary>The kernels (<c>.entry</c>) of the PTX, in order.</summary>
    public static IReadOnlyList<string> Entries(string ptx) =>
        Entry.Matches(ptx).Cast<Match>().Select(m => m.Groups[1].Value).ToList();

    /// <summary>The error for PTX that calls libdevice: which functions, and what to use instead.</summary>
    public static string UnresolvedMessage(string fileName, IReadOnlyList<string> functions) =>
        $"{fileName}: error: the PTX calls libdevice functions that stay unresolved without the CUDA toolkit: " +
        string.Join(", ", functions) +
        ". Use hardware intrinsics instead (__expf, __fdividef, rsqrtf, fmaxf, ... as mapped in mocgen_cuda.h; mocgen_exp, mocgen_silu), not expf, logf, tanhf or powf.";
}

/// <summary>Runs a process to completion with a time limit, capturing both streams.</summary>
internal static class ProcessRunner
{
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

    public static Outcome Run(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName, string.Join(" ", arguments.Select(PtxToolchain.Quote)))
        {
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + fileName);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit((int)timeout.TotalMilliseconds))
        {
            try { process.Kill(); } catch (InvalidOperationException) { }
            process.WaitForExit();
            return new Outcome(-1, stdout.Result, stderr.Result + $"\n{Path.GetFileName(fileName)} took longer than {timeout.TotalSeconds:F0} s and was stopped.", watch.Elapsed);
        }
        process.WaitForExit(); // drains the redirected streams
        return new Outcome(process.ExitCode, stdout.Result, stderr.Result, watch.Elapsed);
    }
}
