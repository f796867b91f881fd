using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoCGen.Compiler;
using MoCGen.Compiler.Emit;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>Plans models through the Compiler and compiles their ILGPU rendering in memory with Roslyn.</summary>
internal static class KernelBuild
{
    private static readonly ConcurrentDictionary<string, Type> Compiled = new();

    /// <summary>A one-layer model with these FFN sizes and weight storage, planned.</summary>
    public static ModelPlan Plan(string name, int hidden, int intermediate, int topK, int heads = 2,
        StoredPrecision weights = StoredPrecision.Float32, CudaTarget? target = null)
    {
        var spec = ModelSpec.Default(new ModelType("KernelDemo", name, true, "", false, false, false)) with
        {
            Vocab = 64, Hidden = hidden, Intermediate = intermediate, TopK = topK, Layers = 1, Heads = heads, KvHeads = heads,
            Context = 8, Batch = 1, Weights = (int)weights,
            GivenArguments = new EquatableArray<string>(new[] { "Vocab", "Hidden", "Intermediate", "TopK", "Layers", "Heads", "KvHeads", "Context", "Batch", "Weights" }),
        };
        var result = ModelCompiler.Plan(spec, target);
        Assert.True(result.Succeeded, string.Join("; ", result.Problems));
        return result.Plan!;
    }

    /// <summary>The nested <c>Ilgpu</c> class of the model's rendered ILGPU source, compiled and loaded (cached by name, storage and target).</summary>
    public static Type IlgpuKernels(ModelPlan plan) => Compiled.GetOrAdd(plan.Shape.Name + "/" + plan.Shape.Weights + "/" + plan.Target, _ => Compile(plan));

    private static Type Compile(ModelPlan plan)
    {
        var text = FeedForwardKernelEmitter.RenderIlgpu(plan);
        var tree = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Latest), path: plan.Shape.Name + ".Ilgpu.g.cs");
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(ILGPU.Context).Assembly.Location))
            .GroupBy(r => Path.GetFileName(r.Display)).Select(g => g.First());
        var compilation = CSharpCompilation.Create("KernelDemo." + plan.Shape.Name, new[] { tree }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
                optimizationLevel: OptimizationLevel.Release, generalDiagnosticOption: ReportDiagnostic.Error));
        using var image = new MemoryStream();
        var emit = compilation.Emit(image);
        Assert.True(emit.Success, "the ILGPU rendering does not compile:\n" + string.Join("\n", emit.Diagnostics) + "\n" + text);
        var assembly = Assembly.Load(image.ToArray());
        return assembly.GetType("KernelDemo." + plan.Shape.Name + "+Ilgpu", throwOnError: true)!;
    }
}
