using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using MoCGen.Compiler;
using MoCGen.Compiler.Planning;
using MoCGen.Generators;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>The plan compiled into a consumer (TinyMoC.Plan) is the plan the compiler computed, entry by entry.</summary>
public sealed class GeneratedPlanTests
{
    [Theory]
    [InlineData(GoldenOutputTests.TinyMoC, "TinyMoCExample.TinyMoC")]
    [InlineData(GoldenOutputTests.DenseGqa, "DenseGqa")]
    public void RuntimePlanEqualsCompilerPlan(string source, string typeName)
    {
        var outcome = GeneratorHarness.Run(source);
        using var image = new MemoryStream();
        var emit = outcome.Output.Emit(image);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var context = new AssemblyLoadContext("consumer", isCollectible: true);
        try
        {
            image.Position = 0;
            var assembly = context.LoadFromStream(image);
            var type = assembly.GetType(typeName)!;
            var runtime = (CompiledPlan)type.GetProperty("Plan", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;

            var compilation = GeneratorHarness.CreateCompilation(source);
            var spec = ModelExtractor.FindModels(compilation).Single().Spec;
            var plan = ModelCompiler.Plan(spec).Plan!;
            AssertSame(plan, runtime);
            Assert.Equal(plan.Shape.TopK, (int)type.GetField("TopK")!.GetValue(null)!);
        }
        finally
        {
            context.Unload();
        }
    }

    private static void AssertSame(ModelPlan plan, CompiledPlan runtime)
    {
        Assert.Equal(plan.Shape.Name, runtime.Shape.Name);
        Assert.Equal(plan.Shape.Hidden, runtime.Shape.Hidden);
        Assert.Equal(plan.Shape.KvHeads, runtime.Shape.KvHeads);
        Assert.Equal(plan.Shape.RopeTheta, runtime.Shape.RopeTheta);
        Assert.Equal(plan.Shape.NormEps, runtime.Shape.NormEps);
        Assert.Equal(plan.Shape.TieEmbeddings, runtime.Shape.TieEmbeddings);
        Assert.Equal((int)plan.Shape.Weights, (int)runtime.Shape.Weights);
        Assert.Equal(plan.ParameterCount, runtime.ParameterCount);
        Assert.Equal(plan.Parameters.Select(p => (p.Name, p.Rows, p.Columns, p.Offset)),
            runtime.Parameters.Select(p => (p.Name, p.Rows, p.Columns, p.Offset)));

        var m = plan.Memory;
        var expectedBuffers = m.Globals.Select(b => (b.Name, -1, b.Offset, b.Bytes))
            .Concat(Enumerable.Range(0, plan.Shape.Layers).SelectMany(l =>
                m.LayerBuffers.Select(b => (b.Name, l, m.LayerBase + l * m.LayerStride + b.Offset, b.Bytes))))
            .Concat(m.Workspace.Select(b => (b.Name, -1, b.Offset, b.Bytes)));
        Assert.Equal(expectedBuffers, runtime.Memory.Buffers.Select(b => (b.Name, b.Layer, b.Offset, b.Bytes)));
        Assert.Equal(m.ArenaBytes, runtime.Memory.ArenaBytes);
        Assert.Equal(m.PerLayer.Total, runtime.Memory.PerLayer.Total);
        Assert.Equal(m.DensePerLayer.FeedForward, runtime.Memory.DensePerLayer.FeedForward);
        Assert.Equal(m.ParameterBytes, runtime.Memory.ParameterBytes);
        Assert.Equal(plan.Flops.Forward.Total, runtime.Flops.Forward.Total);
        Assert.Equal(plan.Flops.Backward.FeedForward, runtime.Flops.Backward.FeedForward);
        Assert.Equal(plan.DenseFlops.Backward.Total, runtime.DenseFlops.Backward.Total);
    }
}
