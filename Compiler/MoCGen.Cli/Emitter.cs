using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoCGen.Generators;

namespace MoCGen.Cli;

/// <summary><c>mocgen emit</c>: runs the real generator over the files and writes what it generates.</summary>
internal static class Emitter
{
    private static readonly Encoding Utf8NoBom = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    /// <summary>
    /// Writes every generated source into <paramref name="outDir"/> under its hint name. When the generator
    /// reports an error nothing is written, so a failed run never leaves a half-updated folder.
    /// </summary>
    public static int Run(IReadOnlyList<string> paths, string outDir, TextWriter stdout, TextWriter stderr)
    {
        var sources = Generate(paths, stderr);
        if (sources is null) return ExitCodes.ModelErrors;

        try
        {
            Directory.CreateDirectory(outDir);
            foreach (var source in sources)
            {
                var path = Path.Combine(outDir, source.HintName);
                WriteAtomically(path, source.Text);
                stdout.WriteLine("wrote " + path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write to '{outDir}': {e.Message}");
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// Runs the real generator over the files and returns what it generated, or null after writing its error
    /// diagnostics (or its crash) to <paramref name="stderr"/>. Warnings and infos are written too. With
    /// <paramref name="cudaArch"/>, the kernels are planned for that GPU architecture (as MoCGenCudaArch does in a build).
    /// </summary>
    public static IReadOnlyList<MoCGen.Compiler.GeneratedSource>? Generate(IReadOnlyList<string> paths, TextWriter stderr, string? cudaArch = null)
    {
        var input = ModelInput.Load(paths);
        // The generator itself, not ModelCompiler directly: the files are exactly what a build would compile.
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            new[] { new MoCModelGenerator().AsSourceGenerator() }, parseOptions: ModelInput.ParseOptions,
            optionsProvider: cudaArch is null ? null : new CudaArchOptions(cudaArch));
        var run = driver.RunGenerators(input.Compilation).GetRunResult();

        var failed = false;
        foreach (var diagnostic in run.Diagnostics)
        {
            if (diagnostic.Severity == DiagnosticSeverity.Hidden) continue;
            stderr.WriteLine(DiagnosticText.Format(diagnostic));
            failed |= diagnostic.Severity == DiagnosticSeverity.Error;
        }
        var result = run.Results.Single();
        if (result.Exception is not null)
        {
            // Roslyn turns a generator crash into a warning (CS8785); for a tool whose only job is generating, it is a failure.
            stderr.WriteLine($"mocgen: the generator failed: {result.Exception.GetType().Name}: {result.Exception.Message}");
            failed = true;
        }
        return failed ? null : result.GeneratedSources.Select(s => new MoCGen.Compiler.GeneratedSource(s.HintName, s.SourceText.ToString())).ToList();
    }

    /// <summary>Writes beside the target, then renames over it: a reader (a running build) sees the old file or the new one, never a partial one.</summary>
    internal static void WriteAtomically(string path, string text)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory); // a hint name may contain folders
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(temp, text, Utf8NoBom);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
