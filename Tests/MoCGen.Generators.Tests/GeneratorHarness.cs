using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MoCGen.Generators.Tests;

/// <summary>Runs the generator in-process over C# text, the way the compiler does, with no network.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp12);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var list = paths.Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
            .Where(p => !Path.GetFileName(p).StartsWith("MoCGen.", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        list.Add(MetadataReference.CreateFromFile(typeof(MoCModelAttribute).Assembly.Location));
        return list.ToImmutableArray();
    });

    public static CSharpCompilation CreateCompilation(params string[] sources) =>
        CSharpCompilation.Create("Consumer",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Model{i}.cs")),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver CreateDriver(bool track = false) =>
        CSharpGeneratorDriver.Create(
            new[] { new MoCModelGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));

    public sealed record Outcome(
        Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriverRunResult Run)
    {
        public IEnumerable<Diagnostic> MocDiagnostics => GeneratorDiagnostics.Where(d => d.Id.StartsWith("MOC", StringComparison.Ordinal));

        /// <summary>Errors and warnings of the compilation after generation (the user's code plus ours).</summary>
        public IEnumerable<Diagnostic> CompileProblems =>
            Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning);

        public string Source(string hintName) =>
            Run.Results.Single().GeneratedSources.Single(s => s.HintName == hintName).SourceText.ToString();
    }

    public static Outcome Run(params string[] sources)
    {
        var compilation = CreateCompilation(sources);
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return new Outcome(output, diagnostics, driver.GetRunResult());
    }

    /// <summary>The text a diagnostic points at, read from the source it was reported in.</summary>
    public static string LocatedText(Diagnostic diagnostic, string[] sources)
    {
        var path = diagnostic.Location.GetLineSpan().Path;
        var index = int.Parse(path.Substring("Model".Length, path.Length - "Model".Length - ".cs".Length), System.Globalization.CultureInfo.InvariantCulture);
        var span = diagnostic.Location.SourceSpan;
        return sources[index].Substring(span.Start, span.Length);
    }

    /// <summary>A model class with the given attribute arguments.</summary>
    public static string Model(string arguments, string name = "M", string ns = "Demo") =>
        $"using MoCGen;\nnamespace {ns};\n\n[MoCModel({arguments})]\npublic partial class {name};\n";
}
