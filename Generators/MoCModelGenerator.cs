using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using MoCGen.Compiler;
using MoCGen.Compiler.Spec;
using MoCGen.Compiler.Validation;
using MoCGen.Generators.Models;

namespace MoCGen.Generators;

/// <summary>
/// Turns every <c>[MoCModel]</c> class into generated code specialized for its sizes. The pipeline is
/// attribute -> <see cref="ModelDeclaration"/> (equatable) -> <see cref="ModelOutput"/> (sources and
/// diagnostics as strings) -> registered outputs, so an unrelated edit regenerates nothing.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class MoCModelGenerator : IIncrementalGenerator
{
    /// <summary>Metadata name of the attribute the generator looks for.</summary>
    public const string AttributeMetadataName = "MoCGen.MoCModelAttribute";

    /// <summary>Names of the tracked pipeline steps (for cacheability tests).</summary>
    public static class TrackingNames
    {
        public const string Declarations = "MoCModelDeclarations";
        public const string Outputs = "MoCModelOutputs";
        public const string ReferencesIlgpu = "MoCModelReferencesIlgpu";
        public const string CudaArch = "MoCModelCudaArch";
    }

    /// <summary>
    /// The MSBuild property naming the GPU architecture the CUDA kernels are planned for (default sm_80); the MoCGen
    /// package makes it compiler-visible, and the generator reads it as <c>build_property.MoCGenCudaArch</c>.
    /// </summary>
    public const string CudaArchProperty = "build_property.MoCGenCudaArch";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var declarations = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeMetadataName,
                static (node, _) => node is TypeDeclarationSyntax,
                static (ctx, ct) => ModelExtractor.Extract(ctx.TargetNode, ctx.TargetSymbol, ctx.Attributes, ct))
            .Where(static d => d is not null)
            .Select(static (d, _) => d!)
            .WithTrackingName(TrackingNames.Declarations);

        // Whether the consumer references ILGPU: a bool, so an edit elsewhere in the compilation leaves it equal and cached.
        var referencesIlgpu = context.CompilationProvider
            .Select(static (c, _) => ReferencesIlgpu(c))
            .WithTrackingName(TrackingNames.ReferencesIlgpu);

        // The target architecture: a string, so it stays cached until the property changes.
        var cudaArch = context.AnalyzerConfigOptionsProvider
            .Select(static (o, _) => o.GlobalOptions.TryGetValue(CudaArchProperty, out var arch) ? arch.Trim() : "")
            .WithTrackingName(TrackingNames.CudaArch);

        var outputs = declarations
            .Combine(referencesIlgpu)
            .Combine(cudaArch)
            .Select(static (pair, _) => Compile(pair.Left.Left, pair.Left.Right, pair.Right))
            .WithTrackingName(TrackingNames.Outputs);

        context.RegisterSourceOutput(outputs, static (spc, output) =>
        {
            foreach (var d in output.Diagnostics)
            {
                var args = new object[d.MessageArgs.Count];
                for (int i = 0; i < args.Length; i++) args[i] = d.MessageArgs[i];
                spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.Get(d.Id), d.Location.ToLocation(), args));
            }
            foreach (var s in output.Sources)
                spc.AddSource(s.HintName, SourceText.From(s.Text, System.Text.Encoding.UTF8));
        });
    }

    private static bool ReferencesIlgpu(Compilation compilation)
    {
        foreach (var name in compilation.ReferencedAssemblyNames)
            if (string.Equals(name.Name, "ILGPU", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>Runs the compiler on one declaration; an unexpected failure becomes MOC099, never a generator crash.</summary>
    /// <param name="declaration">The model.</param>
    /// <param name="ilgpu">Whether the consumer references ILGPU: then its kernels are also emitted as ILGPU C# (<c>&lt;Model&gt;.Ilgpu.g.cs</c>).</param>
    /// <param name="cudaArch">The GPU architecture of <c>MoCGenCudaArch</c> (empty: sm_80); shared-memory tiles are sized for it.</param>
    internal static ModelOutput Compile(ModelDeclaration declaration, bool ilgpu = false, string cudaArch = "")
    {
        var diagnostics = new List<DiagnosticInfo>();
        var sources = new List<SourceInfo>();
        try
        {
            var result = ModelCompiler.Compile(declaration.Spec, MoCGen.Compiler.Planning.CudaTarget.FromArch(cudaArch));
            foreach (var problem in result.Problems)
                diagnostics.Add(new DiagnosticInfo(problem.Id, Locate(declaration, problem), problem.MessageArgs));
            foreach (var source in result.Sources)
                sources.Add(new SourceInfo(source.HintName, source.Text));
            if (ilgpu && result.Plan is not null)
            {
                var kernels = MoCGen.Compiler.Emit.FeedForwardKernelEmitter.EmitIlgpu(result.Plan);
                sources.Add(new SourceInfo(kernels.HintName, kernels.Text));
            }
        }
        catch (Exception e)
        {
            diagnostics.Add(new DiagnosticInfo(DiagnosticCatalog.GeneratorFailure.Id, declaration.Attribute,
                new EquatableArray<string>(new[] { declaration.Spec.Type.Name, e.GetType().Name + ": " + e.Message })));
            sources.Clear();
        }
        return new ModelOutput(new EquatableArray<SourceInfo>(sources), new EquatableArray<DiagnosticInfo>(diagnostics));
    }

    private static LocationInfo Locate(ModelDeclaration declaration, SpecProblem problem) => problem.Site switch
    {
        ProblemSite.ClassName => declaration.ClassName,
        ProblemSite.Argument => declaration.ArgumentOrAttribute(problem.Argument),
        _ => declaration.Attribute,
    };
}
