using System;
using System.Collections.Generic;
using System.Globalization;
using MoCGen;
using MoCGen.Checkpoints;

namespace MoCGen.CheckpointProbe;

/// <summary>
/// <c>save-loop &lt;path&gt; &lt;vocab&gt; &lt;hidden&gt; &lt;intermediate&gt; &lt;layers&gt;</c>: for i = 1, 2, ... fills a parameter
/// buffer with <see cref="Pattern"/>(i), saves it with <see cref="ModelCheckpoint.Save(string, CompiledPlan, ReadOnlySpan{float}, CheckpointOptions?)"/>
/// (down_proj transposed in memory, metadata <c>probe.iteration</c> = i) and prints <c>saved i</c> once the save
/// has returned; runs until killed. Exit codes: 0 never (it loops), 2 bad arguments.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 6 || args[0] != "save-loop")
        {
            Console.Error.WriteLine("usage: MoCGen.CheckpointProbe save-loop <path> <vocab> <hidden> <intermediate> <layers>");
            return 2;
        }
        var path = args[1];
        int Arg(int i) => int.Parse(args[i], CultureInfo.InvariantCulture);
        var plan = ProbeModel.Plan(Arg(2), Arg(3), Arg(4), Arg(5));
        var buffer = new float[ModelCheckpoint.RequiredLength(plan)];
        Console.Out.WriteLine($"started {Environment.ProcessId}");
        for (long i = 1; ; i++)
        {
            Pattern(i, buffer);
            ModelCheckpoint.Save(path, plan, buffer, new CheckpointOptions
            {
                TransposedInMemory = ModelCheckpoint.DownProjectionTransposed,
                Metadata = new Dictionary<string, string> { ["probe.iteration"] = i.ToString(CultureInfo.InvariantCulture) },
            });
            Console.Out.WriteLine($"saved {i}");
        }
    }

    /// <summary>The buffer content of iteration i: small multiples of 1/1024, exact in fp32; differs for every i.</summary>
    public static void Pattern(long iteration, Span<float> buffer)
    {
        // Element j is ((iteration * 7 + 31 j) mod 1009) / 1024 - 1/4: periodic in j with period 1009, so one
        // period is computed and then copied, doubling (memcpy speed, so the loop spends its time saving).
        int period = Math.Min(1009, buffer.Length);
        int v = (int)(iteration * 7 % 1009);
        for (int j = 0; j < period; j++)
        {
            buffer[j] = v * (1f / 1024f) - 0.25f;
            v += 31;
            if (v >= 1009) v -= 1009;
        }
        for (int filled = period; filled < buffer.Length;)
        {
            int n = Math.Min(filled - filled % 1009, buffer.Length - filled);
            buffer[..n].CopyTo(buffer[filled..]);
            filled += n;
        }
    }
}

/// <summary>A LLaMA parameter table built the way the generator builds it (HF names, checkpoint order).</summary>
public static class ProbeModel
{
    public static CompiledPlan Plan(int vocab, int hidden, int intermediate, int layers)
    {
        var list = new List<ParameterTensor>();
        long offset = 0;
        void Add(string name, int rows, int columns)
        {
            list.Add(new ParameterTensor(name, rows, columns, offset));
            offset += columns == 0 ? rows : (long)rows * columns;
        }
        Add("model.embed_tokens.weight", vocab, hidden);
        for (int i = 0; i < layers; i++)
        {
            var p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", hidden, 0);
            Add(p + "self_attn.q_proj.weight", hidden, hidden);
            Add(p + "self_attn.k_proj.weight", hidden, hidden);
            Add(p + "self_attn.v_proj.weight", hidden, hidden);
            Add(p + "self_attn.o_proj.weight", hidden, hidden);
            Add(p + "post_attention_layernorm.weight", hidden, 0);
            Add(p + "mlp.gate_proj.weight", intermediate, hidden);
            Add(p + "mlp.up_proj.weight", intermediate, hidden);
            Add(p + "mlp.down_proj.weight", hidden, intermediate);
        }
        Add("model.norm.weight", hidden, 0);
        Add("lm_head.weight", vocab, hidden);
        int heads = Math.Max(1, hidden / 64);
        var shape = new ModelShape("ProbeModel", vocab, hidden, intermediate, Math.Max(1, intermediate / 8), layers, heads, heads,
            hidden / heads, 256, 8, 10000, 1e-5, false, WeightPrecision.Float32, 2);
        var memory = new MemoryPlan(64, 0, 0, 0, [], default, new LayerFootprint(1, 1, 1), offset * 4, 0);
        var flops = new FlopCounts(1, default, default);
        return new CompiledPlan(shape, list, memory, flops, flops);
    }
}
