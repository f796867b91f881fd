using System;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoCGen.Generators;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>The generator plans the decode tiles for <c>build_property.MoCGenCudaArch</c> (sm_80 when absent).</summary>
public sealed class CudaArchGeneratorTests
{
    private const string Model = """
        using MoCGen;

        namespace Consumer;

        [MoCModel(Hidden = 4096, Intermediate = 11008, TopK = 1376, Layers = 1, Heads = 32, Context = 8, Batch = 1,
                  Weights = WeightPrecision.BFloat16)]
        public partial class Big;
        """;

    private static string CudaCarrier(string? arch)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0 && Path.GetFileName(p) != "ILGPU.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        references.Add(MetadataReference.CreateFromFile(typeof(MoCModelAttribute).Assembly.Location));
        var compilation = CSharpCompilation.Create("Consumer", new[] { CSharpSyntaxTree.ParseText(Model, parse, path: "Big.cs") }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        GeneratorDriver driver = CSharpGeneratorDriver.Create(new[] { new MoCModelGenerator().AsSourceGenerator() }, parseOptions: parse,
            optionsProvider: arch is null ? null : new CudaArchOptions(arch));
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        return driver.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName == "Consumer.Big.Cuda.g.cs").SourceText.ToString();
    }

    [Theory]
    [InlineData(null, "sm_80", 9)]
    [InlineData("sm_90", "sm_90", 13)]
    [InlineData("sm_86", "sm_86", 5)]
    [InlineData("sm_61", "sm_61", 2)]
    public void DecodeTilesFollowTheArchitecture(string? arch, string target, int rows)
    {
        var text = CudaCarrier(arch);
        Assert.Contains($"public const string Target = \"{target}\";", text);
        Assert.Contains($"public const int TileRows = {rows};", text);
        Assert.Contains($"public const int UpDownDynamicSharedBytes = {rows * 4096 * 2};", text);
        Assert.Contains("public const string WeightStorage = \"bf16\";", text);
    }
}
