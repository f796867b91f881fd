using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>
/// The generated feed-forward entry points run the kernels specialized for the model's sizes, and the buffers
/// they keep for backward are exactly the plan's (the arena's ffn_* buffers of a layer).
/// </summary>
public sealed class GeneratedFeedForwardTests
{
    private const string Probe = """
        namespace TinyMoCExample;

        public static class Probe
        {
            public static long AllocatedBytes() =>
                new global::MoCGen.Cpu.FeedForwardActivations<TinyMoC.FeedForwardShape, ushort>(TinyMoC.TokensPerStep).AllocatedBytes;

            public static float[] Forward(int tokens, float[] x, float[] gate, float[] up, float[] downT)
            {
                var saved = new global::MoCGen.Cpu.FeedForwardActivations<TinyMoC.FeedForwardShape, ushort>(tokens);
                var y = new float[tokens * TinyMoC.Hidden];
                var scratch = new float[global::MoCGen.Cpu.MoCFeedForward<TinyMoC.FeedForwardShape, ushort>.GateScratchLength(tokens)];
                TinyMoC.FeedForwardForward(tokens, x, new global::MoCGen.Cpu.FeedForwardWeights(gate, up, downT), y, saved.Saved, scratch);
                return y;
            }
        }
        """;

    private struct SameShape : IFeedForwardShape
    {
        public static int Hidden => 256;
        public static int Intermediate => 704;
        public static int TopK => 88;
    }

    [Fact]
    public void EntryPointsRunTheSpecializedKernelAndKeepWhatThePlanSays()
    {
        var outcome = GeneratorHarness.Run(GoldenOutputTests.TinyMoC, Probe);
        Assert.Empty(outcome.CompileProblems);
        using var image = new MemoryStream();
        Assert.True(outcome.Output.Emit(image).Success);
        var context = new AssemblyLoadContext("ffn-consumer", isCollectible: true);
        try
        {
            image.Position = 0;
            var assembly = context.LoadFromStream(image);
            var probe = assembly.GetType("TinyMoCExample.Probe")!;
            var model = assembly.GetType("TinyMoCExample.TinyMoC")!;
            var plan = (CompiledPlan)model.GetProperty("Plan")!.GetValue(null)!;

            // Allocated saved bytes == the plan's ffn_index + ffn_gate + ffn_up of one layer == bytes per token x tokens.
            long planned = plan.Memory.Buffers.Where(b => b.Layer == 0 && b.Name is "ffn_index" or "ffn_gate" or "ffn_up").Sum(b => b.Bytes);
            long allocated = (long)probe.GetMethod("AllocatedBytes")!.Invoke(null, null)!;
            Assert.Equal(planned, allocated);
            Assert.Equal(plan.Memory.PerLayer.FeedForward * plan.Shape.TokensPerStep, allocated);
            Assert.Equal(plan.Memory.PerLayer.FeedForward, (long)model.GetField("SavedFeedForwardBytesPerToken")!.GetValue(null)!);

            const int tokens = 5;
            var random = new Random(3);
            float[] Fill(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var x = Fill(tokens * 256);
            var gate = Fill(704 * 256);
            var up = Fill(704 * 256);
            var downT = Fill(704 * 256);
            var generated = (float[])probe.GetMethod("Forward")!.Invoke(null, [tokens, x, gate, up, downT])!;

            var direct = new float[tokens * 256];
            var saved = new FeedForwardActivations<SameShape, ushort>(tokens);
            MoCFeedForward<SameShape, ushort>.Forward(tokens, x, new FeedForwardWeights(gate, up, downT), direct, saved.Saved,
                new float[MoCFeedForward<SameShape, ushort>.GateScratchLength(tokens)]);
            Assert.Equal(direct, generated);
            Assert.All(generated, v => Assert.True(float.IsFinite(v)));
        }
        finally
        {
            context.Unload();
        }
    }
}
