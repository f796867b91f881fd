using System;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoCGen.Generators;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>The generator emits <c>&lt;Model&gt;.Ilgpu.g.cs</c> only for a consumer that references ILGPU; <c>.Cuda.g.cs</c> always.</summary>
public sealed class IlgpuGeneratorTests
{
    private const string Model = """
        using MoCGen;

        namespace Consumer;

        [MoCModel(Hidden = 200, Intermediate = 520, TopK = 65, Layers = 1, Heads = 2, Context = 8, Batch = 1)]
        public partial class Odd;
        """;

    private static (GeneratorDriverRunResult Run, Compilation Output) Generate(bool withIlgpu)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0 && Path.GetFileName(p) != "ILGPU.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        references.Add(MetadataReference.CreateFromFile(typeof(MoCModelAttribute).Assembly.Location));
        if (withIlgpu) references.Add(MetadataReference.CreateFromFile(typeof(ILGPU.Context).Assembly.Location));
        var compilation = CSharpCompilation.Create("Consumer", new[] { CSharpSyntaxTree.ParseText(Model, parse, path: "Odd.cs") }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        GeneratorDriver driver = CSharpGeneratorDriver.Create(new[] { new MoCModelGenerator().AsSourceGenerator() }, parseOptions: parse);
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        return (driver.GetRunResult(), output);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IlgpuSourceFollowsTheReference(bool withIlgpu)
    {
        var (run, output) = Generate(withIlgpu);
        var hints = run.Results.Single().GeneratedSources.Select(s => s.HintName).OrderBy(h => h, StringComparer.Ordinal).ToArray();
        var expected = withIlgpu
            ? new[] { "Consumer.Odd.Cuda.g.cs", "Consumer.Odd.g.cs", "Consumer.Odd.Ilgpu.g.cs" }
            : new[] { "Consumer.Odd.Cuda.g.cs", "Consumer.Odd.g.cs" };
        Assert.Equal(expected.OrderBy(h => h, StringComparer.Ordinal), hints);
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();
        Assert.Empty(problems);
    }
}
