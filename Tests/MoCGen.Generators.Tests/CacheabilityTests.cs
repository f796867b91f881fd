using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>The incremental pipeline reuses its cached outputs when nothing about a model changed.</summary>
public sealed class CacheabilityTests
{
    private const string Unrelated = "namespace Demo;\npublic static class Helpers { public static int Twice(int x) => 2 * x; }\n";

    private static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorDriver driver, string step) =>
        driver.GetRunResult().Results.Single().TrackedSteps[step]
            .SelectMany(s => s.Outputs).Select(o => o.Reason);

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        var compilation = GeneratorHarness.CreateCompilation(GoldenOutputTests.TinyMoC, Unrelated);
        var driver = GeneratorHarness.CreateDriver(track: true).RunGenerators(compilation);
        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Outputs), r => Assert.Equal(IncrementalStepRunReason.New, r));
        return (driver, compilation);
    }

    [Fact]
    public void EditingAnotherFileRegeneratesNothing()
    {
        var (driver, compilation) = FirstRun();
        var oldTree = compilation.SyntaxTrees.Last();
        var edited = compilation.ReplaceSyntaxTree(oldTree,
            CSharpSyntaxTree.ParseText(Unrelated.Replace("2 * x", "x + x"), GeneratorHarness.ParseOptions, path: oldTree.FilePath));
        driver = driver.RunGenerators(edited);

        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Declarations),
            r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Outputs), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void AddingAFileRegeneratesNothing()
    {
        var (driver, compilation) = FirstRun();
        var grown = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Demo; public sealed class Later { }", GeneratorHarness.ParseOptions, path: "Model9.cs"));
        driver = driver.RunGenerators(grown);
        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Outputs), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void EditingTheModelFileOutsideTheAttributeReusesTheOutput()
    {
        var (driver, compilation) = FirstRun();
        var oldTree = compilation.SyntaxTrees.First();
        var text = GoldenOutputTests.TinyMoC + "\n// a comment that changes positions of nothing above\n";
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, CSharpSyntaxTree.ParseText(text, GeneratorHarness.ParseOptions, path: oldTree.FilePath)));
        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Declarations),
            r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Outputs), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void ChangingTheModelRegeneratesIt()
    {
        var (driver, compilation) = FirstRun();
        var oldTree = compilation.SyntaxTrees.First();
        var text = GoldenOutputTests.TinyMoC.Replace("TopK = 88", "TopK = 96");
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, CSharpSyntaxTree.ParseText(text, GeneratorHarness.ParseOptions, path: oldTree.FilePath)));
        Assert.All(Reasons(driver, MoCModelGenerator.TrackingNames.Outputs), r => Assert.Equal(IncrementalStepRunReason.Modified, r));
        var generated = driver.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName == "TinyMoCExample.TinyMoC.g.cs").SourceText.ToString();
        Assert.Contains("public const int TopK = 96;", generated);
    }

    [Fact]
    public void PipelineValuesHoldNoRoslynObjects()
    {
        var (driver, _) = FirstRun();
        foreach (var step in driver.GetRunResult().Results.Single().TrackedSteps.Where(s => s.Key.StartsWith("MoCModel", System.StringComparison.Ordinal)))
        foreach (var output in step.Value.SelectMany(s => s.Outputs))
            AssertNoRoslyn(output.Value, 0);
    }

    private static void AssertNoRoslyn(object? value, int depth)
    {
        if (value is null || depth > 6) return;
        Assert.False(value is ISymbol or SyntaxNode or Compilation or SemanticModel or Location,
            $"Pipeline value holds a Roslyn object: {value.GetType()}");
        if (value is string || value.GetType().IsPrimitive) return;
        foreach (var property in value.GetType().GetProperties())
        {
            if (property.GetIndexParameters().Length > 0) continue;
            var type = property.PropertyType;
            Assert.False(typeof(ISymbol).IsAssignableFrom(type) || typeof(SyntaxNode).IsAssignableFrom(type) || typeof(Compilation).IsAssignableFrom(type),
                $"{value.GetType().Name}.{property.Name} is a {type.Name}");
            if (type.IsValueType && type.Namespace?.StartsWith("Microsoft.CodeAnalysis", System.StringComparison.Ordinal) == true) continue;
            AssertNoRoslyn(property.GetValue(value), depth + 1);
        }
    }
}
