using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using MoCGen.Compiler.Spec;
using MoCGen.Compiler.Validation;
using MoCGen.Generators;

namespace MoCGen.Cli;

/// <summary>
/// The user's C# files compiled with Roslyn the way a build would see them (the framework plus
/// MoCGen.Runtime as references), and the [MoCModel] classes found in them.
/// </summary>
internal sealed class ModelInput
{
    /// <summary>Parse options for the input and for the generator driver (the newest language: models use C# 12 class declarations).</summary>
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(LoadReferences);

    private ModelInput(CSharpCompilation compilation, IReadOnlyList<DeclaredModel> models)
    {
        Compilation = compilation;
        Models = models;
    }

    /// <summary>All input files as one compilation.</summary>
    public CSharpCompilation Compilation { get; }

    /// <summary>Every [MoCModel] class, in file order.</summary>
    public IReadOnlyList<DeclaredModel> Models { get; }

    /// <summary>Reads and compiles the files; throws <see cref="CliException"/> when one is missing or none declares a model.</summary>
    public static ModelInput Load(IReadOnlyList<string> paths)
    {
        var trees = new List<SyntaxTree>();
        foreach (var path in paths)
        {
            if (!File.Exists(path)) throw new CliException($"file '{path}' not found");
            using var stream = File.OpenRead(path);
            // The path as the user typed it, so diagnostics name the file the way they wrote it.
            trees.Add(CSharpSyntaxTree.ParseText(SourceText.From(stream), ParseOptions, path));
        }

        var compilation = CSharpCompilation.Create("mocgen.input", trees, References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var attributeType = compilation.GetTypeByMetadataName(MoCModelGenerator.AttributeMetadataName);
        var models = ModelExtractor.FindModels(compilation)
            .Select(m => DeclaredModel.From(compilation, attributeType, m.Spec, m.Location))
            .ToList();
        if (models.Count == 0) throw new CliException("no [MoCModel] class in " + string.Join(", ", paths));
        return new ModelInput(compilation, models);
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var platform = (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "").Split(Path.PathSeparator);
        // MoCGen's own assemblies are on that list too (and, in tests, twice); the runtime is added once, by its real location.
        var references = platform
            .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Where(p => !Path.GetFileName(p).StartsWith("MoCGen.", StringComparison.OrdinalIgnoreCase))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToList();
        references.Add(MetadataReference.CreateFromFile(typeof(MoCModelAttribute).Assembly.Location));
        return references.ToImmutableArray();
    }
}

/// <summary>One [MoCModel] class: its spec and the syntax that diagnostics point at.</summary>
internal sealed record DeclaredModel(ModelSpec Spec, TypeDeclarationSyntax Declaration, AttributeSyntax? Attribute)
{
    /// <summary>Finds the declaration and its [MoCModel] attribute from the class-name location that <see cref="ModelExtractor.FindModels"/> reports.</summary>
    public static DeclaredModel From(Compilation compilation, INamedTypeSymbol? attributeType, ModelSpec spec, Location className)
    {
        var tree = className.SourceTree ?? throw new InvalidOperationException("A model's location has no syntax tree.");
        var declaration = tree.GetRoot().FindToken(className.SourceSpan.Start).Parent as TypeDeclarationSyntax
            ?? throw new InvalidOperationException("A model's location is not a type declaration.");
        var semantic = compilation.GetSemanticModel(tree);
        // Match by symbol, not by name: the attribute may be written MoCModel, MoCModelAttribute or MoCGen.MoCModel.
        var attribute = declaration.AttributeLists.SelectMany(l => l.Attributes).FirstOrDefault(a =>
            SymbolEqualityComparer.Default.Equals(semantic.GetSymbolInfo(a).Symbol?.ContainingType, attributeType));
        return new DeclaredModel(spec, declaration, attribute);
    }

    /// <summary>Where a problem points, the way the generator places its diagnostics: the argument if written, else the attribute, or the class name.</summary>
    public Location Locate(SpecProblem problem)
    {
        var className = Declaration.Identifier.GetLocation();
        if (Attribute is null || problem.Site == ProblemSite.ClassName) return className;
        if (problem.Site == ProblemSite.Argument && Attribute.ArgumentList is { } list)
        {
            foreach (var argument in list.Arguments)
                if (argument.NameEquals?.Name.Identifier.ValueText == problem.Argument) return argument.GetLocation();
        }
        return Attribute.GetLocation();
    }
}
