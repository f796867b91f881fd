using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoCGen.Compiler;
using MoCGen.Compiler.Emit;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// Plans whole decoders and compiles, in memory with Roslyn, what the generator would emit for ILGPU: the feed-forward
/// kernels (<c>Ilgpu</c>, <c>Ilgpu.Decode</c>) with the decoder kernels nested as <c>Ilgpu.Decoder</c>, plus the
/// decoder launch table as <c>Cuda.DecoderLaunch</c>.
/// </summary>
internal static class DecoderBuild
{
    private static readonly ConcurrentDictionary<string, Assembly> Compiled = new();

    /// <summary>A decoder plan; Batch is 1 (decoding does not use the training shapes).</summary>
    public static ModelPlan Plan(string name, int vocab, int hidden, int intermediate, int topK, int layers, int heads, int kvHeads,
        int context, bool tie = false, double ropeTheta = 10000.0, double normEps = 1e-5, StoredPrecision weights = StoredPrecision.Float32)
    {
        var given = new[] { "Vocab", "Hidden", "Intermediate", "TopK", "Layers", "Heads", "KvHeads", "Context", "Batch", "TieEmbeddings", "RopeTheta", "NormEps" };
        var spec = ModelSpec.Default(new ModelType("KernelDemo", name, true, "", false, false, false)) with
        {
            Vocab = vocab, Hidden = hidden, Intermediate = intermediate, TopK = topK, Layers = layers, Heads = heads, KvHeads = kvHeads,
            Context = context, Batch = 1, TieEmbeddings = tie, RopeTheta = ropeTheta, NormEps = normEps, Weights = (int)weights,
            GivenArguments = new EquatableArray<string>(weights == StoredPrecision.Float32 ? given : given.Append("Weights").ToArray()),
        };
        var result = ModelCompiler.Plan(spec);
        Assert.True(result.Succeeded, string.Join("; ", result.Problems));
        return result.Plan!;
    }

    /// <summary>The model's <c>Ilgpu</c> class (with <c>Decode</c> and <c>Decoder</c> nested in it).</summary>
    public static Type Ilgpu(ModelPlan plan) => Assembly(plan).GetType("KernelDemo." + plan.Shape.Name + "+Ilgpu", throwOnError: true)!;

    /// <summary>The model's generated <c>Cuda.DecodeKernels</c> table.</summary>
    public static MoCGen.Inference.DecodeKernelTable DecodeKernels(ModelPlan plan) =>
        (MoCGen.Inference.DecodeKernelTable)Assembly(plan).GetType("KernelDemo." + plan.Shape.Name + "+Cuda", throwOnError: true)!
            .GetProperty("DecodeKernels")!.GetValue(null)!;

    /// <summary>The model's generated <c>Cuda.FeedForwardKernels</c> table.</summary>
    public static MoCGen.Inference.FeedForwardKernelTable FeedForwardKernels(ModelPlan plan) =>
        (MoCGen.Inference.FeedForwardKernelTable)Assembly(plan).GetType("KernelDemo." + plan.Shape.Name + "+Cuda", throwOnError: true)!
            .GetProperty("FeedForwardKernels")!.GetValue(null)!;

    /// <summary>The model's <c>Cuda.DecoderLaunch</c> class.</summary>
    public static Type Launch(ModelPlan plan) => Assembly(plan).GetType("KernelDemo." + plan.Shape.Name + "+Cuda+DecoderLaunch", throwOnError: true)!;

    /// <summary>An int constant of a compiled class.</summary>
    public static int Const(Type type, string name) => (int)type.GetField(name)!.GetRawConstantValue()!;

    private static Assembly Assembly(ModelPlan plan) => Compiled.GetOrAdd(plan.Shape.Name, _ => Compile(plan));

    private static Assembly Compile(ModelPlan plan)
    {
        // Exactly what the generator emits: <Model>.Ilgpu.g.cs (Ilgpu, with Decode, Backward and Decoder nested) and
        // <Model>.Cuda.g.cs (the CUDA text, the launch tables and DecodeKernels).
        var ilgpu = FeedForwardKernelEmitter.RenderIlgpu(plan);
        var carrier = FeedForwardKernelEmitter.EmitCuda(plan).Text;
        var options = new CSharpParseOptions(LanguageVersion.Latest, DocumentationMode.Diagnose);
        var trees = new[]
        {
            CSharpSyntaxTree.ParseText(ilgpu, options, path: plan.Shape.Name + ".Ilgpu.g.cs"),
            CSharpSyntaxTree.ParseText(carrier, options, path: plan.Shape.Name + ".Cuda.g.cs"),
        };
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(ILGPU.Context).Assembly.Location))
            .Append(MetadataReference.CreateFromFile(typeof(MoCGen.Inference.DecodeKernelTable).Assembly.Location))
            .GroupBy(r => Path.GetFileName(r.Display)).Select(g => g.First());
        var compilation = CSharpCompilation.Create("KernelDemo." + plan.Shape.Name, trees, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
                optimizationLevel: OptimizationLevel.Release, generalDiagnosticOption: ReportDiagnostic.Error));
        using var image = new MemoryStream();
        var emit = compilation.Emit(image);
        Assert.True(emit.Success, "the decoder's ILGPU rendering or launch table does not compile:\n" + string.Join("\n", emit.Diagnostics.Take(20))
            + "\n" + DecoderKernelEmitter.RenderIlgpu(plan));
        return System.Reflection.Assembly.Load(image.ToArray());
    }
}
