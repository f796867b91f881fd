using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MoCGen.Compiler;
using MoCGen.Compiler.Cuda;

namespace MoCGen.Cli;

/// <summary>One CUDA C translation unit to compile: a file name for messages and the PTX, and its text.</summary>
internal sealed record CudaUnit(string Name, string Source);

/// <summary>
/// <c>mocgen ptx</c>: runs the generator over the files, takes every CUDA C source it produced and compiles each
/// to PTX (nvcc, else clang with no toolkit), then checks the PTX calls no libdevice function; with
/// <c>--assemble</c> it also assembles the PTX with ptxas and checks each kernel's resources against the launch tables.
/// </summary>
internal static class PtxBuilder
{
    /// <summary>Compiles and writes <c>&lt;out&gt;/&lt;unit&gt;.ptx</c> for each CUDA source; exit codes as the other commands.</summary>
    public static int Run(IReadOnlyList<string> paths, string outDir, string arch, TextWriter stdout, TextWriter stderr,
        ToolchainSearch? search = null, string? assembleFor = null)
    {
        if (!PtxToolchain.IsArch(arch)) throw new CliException($"'{arch}' is not a GPU architecture; use a name such as sm_80 or sm_90a");
        if (assembleFor is not null && !PtxToolchain.IsArch(assembleFor))
            throw new CliException($"--assemble '{assembleFor}' is not a GPU architecture; use a name such as sm_90");
        // Asked to assemble, ptxas must be there before anything is compiled or written.
        var ptxas = assembleFor is null ? null : PtxAssembler.Find(search) ?? throw new CliException(PtxAssembler.NotFoundText);
        var sources = Emitter.Generate(paths, stderr, arch); // the kernels' shared-memory tiles follow --arch
        if (sources is null) return ExitCodes.ModelErrors;

        var toolchain = PtxToolchain.Find(search) ?? throw new CliException(PtxToolchainNotFoundException.Text);
        var units = CudaUnitsOrSelfTests(sources, stdout);
        stdout.WriteLine($"compiling {units.Count} CUDA source(s) for {arch} with {toolchain.CompilerPath}");

        var failed = false;
        var compiled = new List<(CudaUnit Unit, PtxResult Result)>();
        foreach (var unit in units)
        {
            var result = toolchain.Compile(unit.Source, unit.Name, arch);
            if (!result.Succeeded)
            {
                stderr.WriteLine(result.Errors);
                stderr.WriteLine($"mocgen: {unit.Name} did not compile to PTX; the command was: {result.CommandLine}");
                failed = true;
                continue;
            }
            compiled.Add((unit, result));
        }
        // Like emit: nothing is written unless everything compiled.
        if (failed) return ExitCodes.ModelErrors;

        try
        {
            Directory.CreateDirectory(outDir);
            foreach (var (unit, result) in compiled)
            {
                var path = Path.Combine(outDir, Path.GetFileNameWithoutExtension(unit.Name) + ".ptx");
                Emitter.WriteAtomically(path, result.Ptx!);
                stdout.WriteLine($"wrote {path} ({string.Join(", ", result.Kernels)}; {result.Elapsed.TotalSeconds:F2} s)");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write to '{outDir}': {e.Message}");
        }

        // --assemble: the PTX is also assembled (as the driver will when it loads it) and checked against the launch tables.
        if (ptxas is null) return ExitCodes.Success;
        var files = compiled.Select(c => (Path.GetFileNameWithoutExtension(c.Unit.Name) + ".ptx", c.Result.Ptx!)).ToList();
        return KernelResourcesReport.Check(ptxas, files, assembleFor!, KernelResourcesReport.LaunchTables(sources), stdout, stderr)
            ? ExitCodes.Success
            : ExitCodes.ModelErrors;
    }

    /// <summary>
    /// The CUDA C among the generated sources; where there is none (a generator that emits no kernels yet), the
    /// self-test kernels of kernels/selftest, so the headers and the toolchain are still checked (and said so).
    /// </summary>
    public static List<CudaUnit> CudaUnitsOrSelfTests(IEnumerable<GeneratedSource> sources, TextWriter stdout)
    {
        var units = CudaUnits(sources);
        if (units.Count > 0) return units;
        stdout.WriteLine("the generator produced no CUDA sources for these models; compiling the kernels/ header self-tests instead");
        return KernelHeaders.SelfTests.Select(t => new CudaUnit(t.Key, t.Value)).ToList();
    }

    /// <summary>
    /// The CUDA C among generated sources. Two shapes are recognised: a source whose hint name ends in <c>.cu</c> is
    /// CUDA C itself; a <c>&lt;Model&gt;.Cuda.g.cs</c> carrier holds it as <c>const string ...Source</c> fields of a
    /// nested class <c>Cuda</c> (unit <c>&lt;Model&gt;.&lt;Field minus "Source"&gt;.cu</c>).
    /// </summary>
    public static List<CudaUnit> CudaUnits(IEnumerable<GeneratedSource> sources)
    {
        var units = new List<CudaUnit>();
        foreach (var source in sources)
        {
            if (source.HintName.EndsWith(".cu", StringComparison.OrdinalIgnoreCase))
            {
                units.Add(new CudaUnit(Path.GetFileName(source.HintName), source.Text));
                continue;
            }
            foreach (var (model, cuda) in CudaClasses(new[] { source }))
                // Only the class's own fields: nested launch tables hold kernel names, not sources.
                foreach (var (name, value) in ConstantLiterals(cuda))
                    if (name.EndsWith("Source", StringComparison.Ordinal) && name.Length > "Source".Length && value is string text)
                        units.Add(new CudaUnit($"{model}.{name.Substring(0, name.Length - "Source".Length)}.cu", text));
        }
        return units;
    }

    /// <summary>The <c>Cuda</c> classes of the generated carriers (<c>&lt;Model&gt;.Cuda.g.cs</c>), with the model's name.</summary>
    public static IEnumerable<(string Model, ClassDeclarationSyntax Cuda)> CudaClasses(IEnumerable<GeneratedSource> sources)
    {
        foreach (var source in sources)
        {
            var file = Path.GetFileName(source.HintName);
            if (!file.EndsWith(".Cuda.g.cs", StringComparison.OrdinalIgnoreCase)) continue;
            var model = file.Substring(0, file.Length - ".Cuda.g.cs".Length);
            var root = CSharpSyntaxTree.ParseText(source.Text, ModelInput.ParseOptions).GetRoot();
            foreach (var cuda in root.DescendantNodes().OfType<ClassDeclarationSyntax>().Where(c => c.Identifier.ValueText == "Cuda"))
                yield return (model, cuda);
        }
    }

    /// <summary>The <c>const</c> fields of <paramref name="type"/> itself that a literal initialises, with their values.</summary>
    public static IEnumerable<(string Name, object Value)> ConstantLiterals(ClassDeclarationSyntax type) =>
        from field in type.Members.OfType<FieldDeclarationSyntax>()
        where field.Modifiers.Any(SyntaxKind.ConstKeyword)
        from variable in field.Declaration.Variables
        let value = (variable.Initializer?.Value as LiteralExpressionSyntax)?.Token.Value
        where value is not null
        select (variable.Identifier.ValueText, value);
}
