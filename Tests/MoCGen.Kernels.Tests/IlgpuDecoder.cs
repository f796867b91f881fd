using System;
using System.Collections.Generic;
using System.Globalization;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using MoCGen.Compiler.Planning;
using MoCGen.Cpu;

namespace MoCGen.Kernels.Tests;

/// <summary>
/// A key/value-cache decoder whose every step runs on an ILGPU accelerator: the decoder kernels of
/// Templates/Decoder.scriban around the feed-forward decode kernels of FeedForwardDecode.scriban (with the Top-K of
/// FeedForward.scriban). Buffers are allocated once; <see cref="Step"/> appends 1 to MaxTokens consecutive tokens and
/// returns their logits. Launch shapes come from the rendered launch table (<c>Cuda.DecoderLaunch</c>) and the
/// feed-forward kernels' constants. The host's only numeric work is the RoPE cos/sin table, filled once.
/// </summary>
internal sealed class IlgpuDecoder : IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly PlanShape _shape;
    private readonly Type _launch;
    private readonly int _maxTokens;
    private readonly List<IDisposable> _owned = new();
    private readonly Dictionary<string, (int Block, Func<int, (int X, int Y)> Grid)> _configs = new();

    // Weights: one flat buffer (the training layout, down projections transposed) and views into it.
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weights;
    private readonly ArrayView<float> _embed, _finalNorm, _lmHead;
    private readonly Layer[] _layers;

    // RoPE tables, caches, and the activations of one step ([MaxTokens, width] each).
    private readonly ArrayView1D<float, Stride1D.Dense> _cos, _sin, _kCache, _vCache;
    private readonly ArrayView1D<float, Stride1D.Dense> _x, _normed, _q, _k, _v, _attention, _gate, _ffnOut, _logits, _selected;
    private readonly ArrayView1D<int, Stride1D.Dense> _ids, _next, _index;

    private readonly Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<float>, int> _embedKernel;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _rmsNorm;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _qkv;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _ropeKv;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _attend;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _oProj, _lmHeadKernel;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _residualNorm;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int> _argmax;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _gateGemv;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int> _topK;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int> _upDown;
    private readonly int _gemvRows, _gemvThreads, _selectThreads, _range, _upDownThreads;
    private readonly SharedMemoryConfig _upDownShared;

    /// <summary>Uploads <paramref name="parameters"/> (laid out by <paramref name="plan"/>) and allocates every buffer.</summary>
    public IlgpuDecoder(Accelerator accelerator, ModelPlan plan, float[] parameters)
    {
        _accelerator = accelerator;
        _shape = plan.Shape;
        var s = plan.Shape;
        var ilgpu = DecoderBuild.Ilgpu(plan);
        var decoder = ilgpu.GetNestedType("Decoder")!;
        var ffn = ilgpu.GetNestedType("Decode")!;
        _launch = DecoderBuild.Launch(plan);
        _maxTokens = DecoderBuild.Const(_launch, "MaxTokens");

        _weights = Own(accelerator.Allocate1D(parameters));
        var offsets = new Dictionary<string, PlannedParameter>();
        foreach (var p in plan.Parameters) offsets[p.Name] = p;
        ArrayView<float> W(string name) => _weights.View.SubView(offsets[name].Offset, offsets[name].Elements);
        _embed = W("model.embed_tokens.weight");
        _finalNorm = W("model.norm.weight");
        _lmHead = s.TieEmbeddings ? _embed : W("lm_head.weight");
        _layers = new Layer[s.Layers];
        for (int l = 0; l < s.Layers; l++)
        {
            string p = "model.layers." + l.ToString(CultureInfo.InvariantCulture) + ".";
            _layers[l] = new Layer(W(p + "input_layernorm.weight"), W(p + "self_attn.q_proj.weight"), W(p + "self_attn.k_proj.weight"),
                W(p + "self_attn.v_proj.weight"), W(p + "self_attn.o_proj.weight"), W(p + "post_attention_layernorm.weight"),
                W(p + "mlp.gate_proj.weight"), W(p + "mlp.up_proj.weight"), W(p + "mlp.down_proj.weight"));
        }

        var rope = new RopeTable(s.Context, s.HeadDim, s.RopeTheta);
        _cos = Own(accelerator.Allocate1D(rope.Cos.ToArray())).View;
        _sin = Own(accelerator.Allocate1D(rope.Sin.ToArray())).View;
        long cache = (long)_launch.GetField("KvCacheFloats")!.GetRawConstantValue()!;
        _kCache = Floats(cache);
        _vCache = Floats(cache);
        int n = _maxTokens;
        _x = Floats(n * s.Hidden);
        _normed = Floats(n * s.Hidden);
        _q = Floats(n * s.QueryDim);
        _k = Floats(n * s.KvDim);
        _v = Floats(n * s.KvDim);
        _attention = Floats(n * s.QueryDim);
        _gate = Floats(n * s.Intermediate);
        _ffnOut = Floats(n * s.Hidden);
        _ffnOut.MemSetToZero();  // the feed-forward adds into it; ResidualNorm clears it again after each layer
        _selected = Floats(n * s.TopK);
        _logits = Floats(n * s.Vocab);
        _ids = Own(accelerator.Allocate1D<int>(n)).View;
        _next = Own(accelerator.Allocate1D<int>(n)).View;
        _index = Own(accelerator.Allocate1D<int>(n * s.TopK)).View;

        _embedKernel = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<int>, ArrayView<float>, ArrayView<float>, int>>(decoder, "Embed"));
        _rmsNorm = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(decoder, "RmsNorm"));
        _qkv = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(decoder, "Qkv"));
        _ropeKv = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>>(decoder, "RopeKv"));
        _attend = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>>(decoder, "Attention"));
        _oProj = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(decoder, "OProj"));
        _lmHeadKernel = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(decoder, "LmHead"));
        _residualNorm = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(decoder, "ResidualNorm"));
        _argmax = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<int>, int>>(decoder, "Argmax"));
        _gateGemv = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(ffn, "GateGemv"));
        _topK = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<int>, ArrayView<float>, int>>(ilgpu, "TopKSelect"));
        _upDown = accelerator.LoadStreamKernel(Kernel<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>>(ffn, "UpDownTiled"));
        _gemvRows = DecoderBuild.Const(ffn, "GEMV_ROWS");
        _gemvThreads = DecoderBuild.Const(ffn, "GEMV_THREADS");
        _range = DecoderBuild.Const(ffn, "RANGE");
        _upDownThreads = DecoderBuild.Const(ffn, "UPDOWN_THREADS");
        // Where the up/down tile lives in dynamic shared memory, the launch requests it (TILE_ELEMENTS floats).
        _upDownShared = ffn.GetField("TILE_ELEMENTS") is { } tile
            ? SharedMemoryConfig.RequestDynamic<float>((int)tile.GetRawConstantValue()!)
            : default;
        _selectThreads = DecoderBuild.Const(ilgpu, "SELECT_THREADS");
    }

    /// <summary>Tokens in the cache: the position the next token takes.</summary>
    public int Length { get; private set; }

    /// <summary>The greedy next token after each token of the last step (argmax of its logits, ties to the lower id).</summary>
    public int[] Next { get; private set; } = Array.Empty<int>();

    /// <summary>
    /// Appends <paramref name="tokens"/> (1 to MaxTokens) at positions Length, Length + 1, ... and returns their logits,
    /// [tokens, vocab]: row t is the distribution of the token after token t.
    /// </summary>
    public float[] Step(ReadOnlySpan<int> tokens)
    {
        var s = _shape;
        int n = tokens.Length, start = Length;
        if (n < 1 || n > _maxTokens) throw new ArgumentOutOfRangeException(nameof(tokens), n, $"A step takes 1 to {_maxTokens} tokens.");
        if (start + n > s.Context) throw new InvalidOperationException($"The context of {s.Context} tokens is full.");
        foreach (int id in tokens)
            if ((uint)id >= (uint)s.Vocab) throw new ArgumentOutOfRangeException(nameof(tokens), id, $"Token {id} is outside the vocabulary 0..{s.Vocab - 1}.");
        _ids.SubView(0, n).CopyFromCPU(tokens.ToArray());

        _embedKernel(Config("Embed", n), _ids, _embed, _x, n);
        _rmsNorm(Config("RmsNorm", n), _x, _layers[0].InputNorm, _normed, n);
        for (int l = 0; l < s.Layers; l++)
        {
            var w = _layers[l];
            _qkv(Config("Qkv", n), _normed, w.Q, w.K, w.V, _q, _k, _v, n);
            _ropeKv(Config("RopeKv", n), _q, _k, _v, _cos, _sin, _kCache, _vCache, l, start, n);
            _attend(Config("Attention", n), _q, _kCache, _vCache, _attention, l, start, n);
            _oProj(Config("OProj", n), _attention, w.O, _x, n);
            _rmsNorm(Config("RmsNorm", n), _x, w.PostNorm, _normed, n);

            _gateGemv(new KernelConfig(new Index1D((s.Intermediate + _gemvRows - 1) / _gemvRows), new Index1D(_gemvThreads)), _normed, w.Gate, _gate, n);
            _topK(new KernelConfig(new Index1D(n), new Index1D(_selectThreads)), _gate, _index, _selected, n);
            _upDown(new KernelConfig(new Index1D((s.Intermediate + _range - 1) / _range), new Index1D(_upDownThreads), _upDownShared),
                _normed, w.Up, w.DownT, _index, _selected, _ffnOut, n);

            var nextNorm = l + 1 < s.Layers ? _layers[l + 1].InputNorm : _finalNorm;
            _residualNorm(Config("ResidualNorm", n), _x, _ffnOut, nextNorm, _normed, n);
        }
        _lmHeadKernel(Config("LmHead", n), _normed, _lmHead, _logits, n);
        _argmax(Config("Argmax", n), _logits, _next, n);
        _accelerator.Synchronize();

        var logits = new float[n * s.Vocab];
        _logits.SubView(0, logits.Length).CopyToCPU(logits);
        var next = new int[n];
        _next.SubView(0, n).CopyToCPU(next);
        Next = next;
        Length = start + n;
        return logits;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    /// <summary>Grid and block of a decoder kernel for <paramref name="tokens"/> tokens, from the launch table.</summary>
    private KernelConfig Config(string kernel, int tokens)
    {
        if (!_configs.TryGetValue(kernel, out var launch))
        {
            var grid = _launch.GetMethod(kernel + "Grid")!.CreateDelegate<Func<int, (int X, int Y)>>();
            _configs[kernel] = launch = (DecoderBuild.Const(_launch, kernel + "Block"), grid);
        }
        var (x, y) = launch.Grid(tokens);
        return new KernelConfig(new Index2D(x, y), new Index2D(launch.Block, 1));
    }

    /// <summary>Loads the static kernel <paramref name="name"/> of <paramref name="type"/> as an explicitly grouped stream kernel.</summary>
    private static TDelegate Kernel<TDelegate>(Type type, string name) where TDelegate : Delegate =>
        (type.GetMethod(name, BindingFlags.Public | BindingFlags.Static) ?? throw new InvalidOperationException($"{type.Name} has no kernel {name}."))
            .CreateDelegate<TDelegate>();

    private ArrayView1D<float, Stride1D.Dense> Floats(long length) => Own(_accelerator.Allocate1D<float>(length)).View;

    private T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    private readonly record struct Layer(
        ArrayView<float> InputNorm, ArrayView<float> Q, ArrayView<float> K, ArrayView<float> V, ArrayView<float> O,
        ArrayView<float> PostNorm, ArrayView<float> Gate, ArrayView<float> Up, ArrayView<float> DownT);
}
