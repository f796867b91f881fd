using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks;

namespace MoCGen.Compiler.Cuda;

/// <summary>What <see cref="CpuDriver.Build"/> made: the library, or the compiler's errors and the command that failed.</summary>
public sealed record CpuDriverResult(string? LibraryPath, string Errors, string CommandLine, IReadOnlyList<string> Kernels, TimeSpan Elapsed)
{
    /// <summary>Whether the library was built.</summary>
    public bool Succeeded => LibraryPath is not null;
}

/// <summary>
/// Builds a <c>libcuda.so.1</c> that runs CUDA C kernels on the CPU: each unit is compiled as host C++ with
/// <c>-DMOCGEN_CUDA_ON_CPU</c> (kernels/mocgen_cpu.h: a fiber per CUDA thread) and linked with the driver API of
/// kernels/mocgen_cpu_driver.h. A MoCGen program run with <c>LD_LIBRARY_PATH</c> set to the library's folder loads it
/// instead of the NVIDIA driver and takes its CUDA path, kernels and host code as they are, with no GPU.
/// </summary>
public sealed class CpuDriver
{
    /// <summary>The file name the runtime loads (Runtime/Cuda/CudaDriver.cs).</summary>
    public const string LibraryName = "libcuda.so.1";

    private static readonly string[] CompilerNames = PtxToolchain.NewestFirst("clang++");

    private static readonly TimeSpan CompileTimeout = TimeSpan.FromMinutes(5);

    private CpuDriver(string compilerPath) => CompilerPath = compilerPath;

    /// <summary>The clang++ that compiles the kernels for the host.</summary>
    public string CompilerPath { get; }

    /// <summary>The text when no clang++ is found.</summary>
    public const string NotFoundText =
        "no clang++ found on PATH (clang++-14 or newer, or clang++): the CPU driver compiles the kernels as C++ with clang " +
        "(its vector types). On Debian/Ubuntu: apt-get install clang.";

    /// <summary>The newest clang++ on PATH (clang++-22 .. clang++-14, then clang++); null where there is none.</summary>
    public static CpuDriver? Find(ToolchainSearch? search = null)
    {
        search ??= ToolchainSearch.Default;
        var path = search.PathDirectories();
        foreach (var name in CompilerNames)
            foreach (var dir in path)
                if (PtxToolchain.Executable(dir, name) is { } compiler) return new CpuDriver(compiler);
        return null;
    }

    /// <summary>
    /// Compiles every unit (file name, CUDA C text) and the driver, and links them into
    /// <paramref name="outputDirectory"/>/libcuda.so.1 (written whole or not at all).
    /// </summary>
    public CpuDriverResult Build(IReadOnlyList<(string Name, string Source)> units, string outputDirectory)
    {
        if (units is null) throw new ArgumentNullException(nameof(units));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var work = Path.Combine(Path.GetTempPath(), "mocgen-cpu-driver-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var include = KernelHeaders.IncludeDirectory();
            var sources = new List<(string File, string Text)> { ("mocgen_cpu_driver.cpp", "#include \"mocgen_cpu_driver.h\"\n") };
            var kernels = new List<string>();
            foreach (var (name, source) in units)
            {
                var file = Path.GetFileNameWithoutExtension(Path.GetFileName(name)) + ".cu";
                var names = KernelNames(source);
                kernels.AddRange(names);
                sources.Add((file, WithRegistrations(source, names)));
            }
            foreach (var (file, text) in sources) File.WriteAllText(Path.Combine(work, file), text, new UTF8Encoding(false));

            var failures = new List<(string Errors, string CommandLine)>();
            var gate = new object();
            Parallel.ForEach(sources, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, source =>
            {
                var arguments = new List<string>
                {
                    "-x", "c++", "-std=c++20", "-O2", "-fPIC", "-fvisibility=hidden", "-fno-exceptions", "-fno-rtti",
                    "-DMOCGEN_CUDA_ON_CPU", "-I", include, "-c", source.File, "-o", source.File + ".o",
                };
                var run = ProcessRunner.Run(CompilerPath, arguments, work, CompileTimeout);
                if (run.ExitCode != 0)
                    lock (gate) failures.Add(((run.Stderr + run.Stdout).Trim(), CommandLine(arguments)));
            });
            if (failures.Count > 0)
                return new CpuDriverResult(null, string.Join(Environment.NewLine, failures.Select(f => f.Errors)), failures[0].CommandLine,
                    kernels, watch.Elapsed);

            // The library exports the driver API and nothing else (not the kernels, not the C++ library's templates).
            File.WriteAllText(Path.Combine(work, "exports.map"), "{ global: cu*; local: *; };\n");
            var link = new List<string> { "-shared", "-fPIC", "-Wl,-soname," + LibraryName, "-Wl,--version-script=exports.map", "-o", LibraryName };
            link.AddRange(sources.Select(s => s.File + ".o"));
            link.Add("-lpthread");
            var linked = ProcessRunner.Run(CompilerPath, link, work, CompileTimeout);
            if (linked.ExitCode != 0) return new CpuDriverResult(null, (linked.Stderr + linked.Stdout).Trim(), CommandLine(link), kernels, watch.Elapsed);

            Directory.CreateDirectory(outputDirectory);
            var target = Path.Combine(outputDirectory, LibraryName);
            var temp = target + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.Copy(Path.Combine(work, LibraryName), temp);
            if (File.Exists(target)) File.Delete(target);
            File.Move(temp, target);
            return new CpuDriverResult(Path.GetFullPath(target), "", CommandLine(link), kernels, watch.Elapsed);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private string CommandLine(IEnumerable<string> arguments) => PtxToolchain.Quote(CompilerPath) + " " + string.Join(" ", arguments.Select(PtxToolchain.Quote));

    /// <summary>
    /// The <c>__global__</c> functions of a CUDA C unit, in order: after <c>__global__ void</c> (comments aside), the
    /// first name that is not <c>__launch_bounds__(...)</c> or <c>MOCGEN_BOUNDS_128REGS(...)</c>.
    /// </summary>
    public static IReadOnlyList<string> KernelNames(string source)
    {
        var code = Regex.Replace(source ?? throw new ArgumentNullException(nameof(source)), @"//[^\n]*|/\*.*?\*/", " ", RegexOptions.Singleline);
        var names = new List<string>();
        foreach (Match declaration in GlobalVoid.Matches(code))
        {
            int i = declaration.Index + declaration.Length;
            while (true)
            {
                var word = Word.Match(code, i);
                if (!word.Success) break;
                i = word.Index + word.Length;
                bool call = word.Groups[2].Success;
                var name = word.Groups[1].Value;
                if (call && (name == "__launch_bounds__" || name == "MOCGEN_BOUNDS_128REGS"))
                {
                    i = SkipParentheses(code, word.Groups[2].Index);
                    continue;
                }
                if (call) names.Add(name);
                break;
            }
        }
        return names;
    }

    private static readonly Regex GlobalVoid = new(@"\b__global__\s+void\b");
    private static readonly Regex Word = new(@"\G\s*([A-Za-z_]\w*)\s*(\()?");

    /// <summary>The unit followed by one registration a kernel, which the driver's registry reads at load.</summary>
    public static string WithRegistrations(string source, IReadOnlyList<string> kernels)
    {
        var text = new StringBuilder(source);
        if (kernels.Count == 0) return source;
        text.AppendLine().AppendLine("// mocgen cuda-cpu: the kernels of this unit, for the CPU driver's registry.");
        text.AppendLine("static const ::mocgen_cpu::Registration mocgen_cpu_kernels[] = {");
        foreach (var kernel in kernels) text.Append("    ::mocgen_cpu::Registration(\"").Append(kernel).Append("\", &").Append(kernel).AppendLine("),");
        text.AppendLine("};");
        return text.ToString();
    }

    private static int SkipParentheses(string source, int open)
    {
        int depth = 0;
        for (int i = open; i < source.Length; i++)
        {
            if (source[i] == '(') depth++;
            else if (source[i] == ')' && --depth == 0) return i + 1;
        }
        return source.Length;
    }
}
