using System;
using System.Collections.Generic;
using System.Globalization;
using MoCGen.Checkpoints;
using MoCGen.Cpu;

namespace MoCGen.Inference;

/// <summary>
/// Token-by-token decoding with a key/value cache where every step runs on a kernel device: the model's generated
/// decoder kernels (embedding, RMSNorm, q/k/v, RoPE + cache append, attention, o projection, LM head) around its MoC
/// feed-forward decode kernels (gate GEMV, Top-K, SRAM-tiled up/down). Weights are uploaded once, as one flat buffer in
/// the training layout (down projections transposed): fp32, or for a model that stores bf16 weights every weight
/// rounded once to bf16 (to nearest even, as checkpoints store it) and widened exactly by the kernels; activations,
/// caches and accumulation are fp32 either way. A step takes 1 to <see cref="DecodeKernelTable.MaxTokens"/>
/// consecutive tokens. The host only fills the RoPE table once and reads back the logits.
/// </summary>
public sealed class GpuDecodeSession : ITokenDecoder, IDisposable
{
    private readonly IKernelDevice _device;
    private readonly DecodeKernelTable _k;
    private readonly ModelShape _s;
    private readonly List<DeviceBuffer> _owned = new();
    private readonly DeviceBuffer _weights, _cos, _sin, _kCache, _vCache;
    private readonly DeviceBuffer _x, _normed, _q, _kv, _v, _attention, _gate, _ffnOut, _selected, _logits, _ids, _index, _ticket;
    private readonly long _embed, _finalNorm, _lmHead;
    private readonly Layer[] _layers;
    private readonly float[] _hostLogits;
    private readonly int[] _hostIds;
    private readonly int[] _single = new int[1];
    private int _stepTokens;

    /// <summary>
    /// Uploads <paramref name="parameters"/> (laid out by <paramref name="plan"/>, down projections transposed; rounded to
    /// bf16 on the way where the model stores bf16 weights) to <paramref name="device"/> and allocates every buffer of a
    /// step. The device stays the caller's.
    /// </summary>
    public GpuDecodeSession(IKernelDevice device, CompiledPlan plan, DecodeKernelTable kernels, float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(kernels);
        ArgumentNullException.ThrowIfNull(parameters);
        _s = plan.Shape;
        var element = _s.Weights switch
        {
            WeightPrecision.Float32 => DeviceElement.Float32,
            WeightPrecision.BFloat16 => DeviceElement.BFloat16,
            _ => throw new NotSupportedException($"{_s.Name} stores {_s.Weights} weights; GPU decoding takes float32 and bfloat16 models."),
        };
        if (kernels.Weights != element)
            throw new ArgumentException($"{_s.Name} stores {_s.Weights} weights, but the kernels of {kernels.Model} read {kernels.Weights}.", nameof(kernels));
        if (parameters.Length < plan.ParameterCount)
            throw new ArgumentException($"The parameter buffer holds {parameters.Length} floats; {_s.Name} has {plan.ParameterCount}.", nameof(parameters));
        _device = device;
        _k = kernels;
        try
        {
            _weights = Own(device.Allocate(element, plan.ParameterCount));
            var weights = parameters.AsSpan(0, checked((int)plan.ParameterCount));
            if (element == DeviceElement.Float32) device.Upload(_weights, weights);
            else UploadBFloat16(device, _weights, weights);
            _embed = plan.Parameter("model.embed_tokens.weight").Offset;
            _finalNorm = plan.Parameter("model.norm.weight").Offset;
            _lmHead = _s.TieEmbeddings ? _embed : plan.Parameter("lm_head.weight").Offset;
            _layers = new Layer[_s.Layers];
            for (int l = 0; l < _s.Layers; l++)
            {
                string p = "model.layers." + l.ToString(CultureInfo.InvariantCulture) + ".";
                long At(string name) => plan.Parameter(p + name).Offset;
                _layers[l] = new Layer(At("input_layernorm.weight"), At("self_attn.q_proj.weight"), At("self_attn.k_proj.weight"),
                    At("self_attn.v_proj.weight"), At("self_attn.o_proj.weight"), At("post_attention_layernorm.weight"),
                    At("mlp.gate_proj.weight"), At("mlp.up_proj.weight"), At("mlp.down_proj.weight"));
            }

            var rope = new RopeTable(_s.Context, _s.HeadDim, _s.RopeTheta);
            _cos = Floats(rope.Cos.Length);
            _sin = Floats(rope.Sin.Length);
            device.Upload(_cos, rope.Cos);
            device.Upload(_sin, rope.Sin);
            _kCache = Floats(kernels.KvCacheFloats);
            _vCache = Floats(kernels.KvCacheFloats);
            int n = kernels.MaxTokens, queryDim = _s.Heads * _s.HeadDim, kvDim = _s.KvHeads * _s.HeadDim;
            _x = Floats((long)n * _s.Hidden);
            _normed = Floats((long)n * _s.Hidden);
            _q = Floats((long)n * queryDim);
            _kv = Floats((long)n * kvDim);
            _v = Floats((long)n * kvDim);
            _attention = Floats((long)n * queryDim);
            _gate = Floats((long)n * _s.Intermediate);
            _ffnOut = Floats((long)n * _s.Hidden); // zero; the residual kernel clears it after each layer
            _selected = Floats((long)n * _s.TopK);
            _logits = Floats((long)n * _s.Vocab);
            _ids = Own(device.Allocate(DeviceElement.Int32, n));
            _index = Own(device.Allocate(DeviceElement.Int32, (long)n * _s.TopK));
            _ticket = Own(device.Allocate(DeviceElement.Int32, 1)); // zero; the gate kernel's last block resets it
            _hostLogits = new float[(long)n * _s.Vocab];
            _hostIds = new int[n];
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public int Length { get; private set; }

    /// <inheritdoc />
    public string Device => _device.Name;

    /// <summary>
    /// The logits of every token of the last step, [tokens, vocab] (row t: the distribution of the token after token t);
    /// a call of <see cref="Append(ReadOnlySpan{int})"/> with at most <see cref="DecodeKernelTable.MaxTokens"/> tokens is one step.
    /// </summary>
    public ReadOnlySpan<float> StepLogits => _hostLogits.AsSpan(0, _stepTokens * _s.Vocab);

    /// <inheritdoc />
    public void Reset() => Length = 0; // cached keys/values past Length are never read

    /// <inheritdoc />
    public ReadOnlySpan<float> Append(int token)
    {
        _single[0] = token;
        return Append(_single);
    }

    /// <inheritdoc />
    public ReadOnlySpan<float> Append(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("At least one token is needed.", nameof(tokens));
        if (Length + tokens.Length > _s.Context)
            throw new InvalidOperationException($"The context of {_s.Context} tokens is full; start a new session or shorten the prompt.");
        foreach (int token in tokens)
            if ((uint)token >= (uint)_s.Vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"Token {token} is outside the vocabulary 0..{_s.Vocab - 1}.");
        int last = 0;
        for (int at = 0; at < tokens.Length; at += _k.MaxTokens)
        {
            int n = Math.Min(_k.MaxTokens, tokens.Length - at);
            Step(tokens.Slice(at, n));
            last = n - 1;
        }
        return _hostLogits.AsSpan(last * _s.Vocab, _s.Vocab);
    }

    /// <summary>Appends 1 to MaxTokens consecutive tokens; their logits land in the host buffer, row per token.</summary>
    private void Step(ReadOnlySpan<int> tokens)
    {
        int n = tokens.Length, start = Length;
        var d = _device;
        tokens.CopyTo(_hostIds);
        d.Upload(_ids, _hostIds.AsSpan(0, n));
        d.Launch(_k.Embed, n, _ids, KernelArg.View(_weights, _embed), _x, n);
        d.Launch(_k.RmsNorm, n, _x, KernelArg.View(_weights, _layers[0].InputNorm), _normed, n);
        for (int l = 0; l < _layers.Length; l++)
        {
            var w = _layers[l];
            d.Launch(_k.Qkv, n, _normed, W(w.Q), W(w.K), W(w.V), _q, _kv, _v, n);
            d.Launch(_k.RopeKv, n, _q, _kv, _v, _cos, _sin, _kCache, _vCache, l, start, n);
            d.Launch(_k.Attention, n, _q, _kCache, _vCache, _attention, l, start, n);
            d.Launch(_k.OProj, n, _attention, W(w.O), _x, n); // adds into the residual stream
            d.Launch(_k.RmsNorm, n, _x, W(w.PostNorm), _normed, n);
            d.Launch(_k.GateTopK, n, _normed, W(w.Gate), _gate, _ffnOut, _index, _selected, _ticket, n); // also clears _ffnOut
            d.Launch(_k.UpDown, n, _normed, W(w.Up), W(w.DownT), _index, _selected, _ffnOut, n); // adds into _ffnOut
            long nextNorm = l + 1 < _layers.Length ? _layers[l + 1].InputNorm : _finalNorm;
            d.Launch(_k.ResidualNorm, n, _x, _ffnOut, W(nextNorm), _normed, n); // x += ffn, ffn = 0, normed = norm(x)
        }
        d.Launch(_k.LmHead, n, _normed, W(_lmHead), _logits, n);
        d.Download(_logits, _hostLogits.AsSpan(0, n * _s.Vocab));
        Length = start + n;
        _stepTokens = n;
    }

    /// <summary>Frees every device buffer.</summary>
    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    private KernelArg W(long offset) => KernelArg.View(_weights, offset);

    /// <summary>Rounds <paramref name="weights"/> to bf16 (nearest even) and uploads them, a bounded chunk at a time.</summary>
    private static void UploadBFloat16(IKernelDevice device, DeviceBuffer buffer, ReadOnlySpan<float> weights)
    {
        var bits = new ushort[Math.Min(weights.Length, 1 << 20)];
        for (int at = 0; at < weights.Length; at += bits.Length)
        {
            int n = Math.Min(bits.Length, weights.Length - at);
            ElementConversion.ToBFloat16(weights.Slice(at, n), bits);
            device.Upload(buffer, bits.AsSpan(0, n), at);
        }
    }

    private DeviceBuffer Floats(long length) => Own(_device.Allocate(DeviceElement.Float32, length));

    private DeviceBuffer Own(DeviceBuffer buffer)
    {
        _owned.Add(buffer);
        return buffer;
    }

    private readonly record struct Layer(long InputNorm, long Q, long K, long V, long O, long PostNorm, long Gate, long Up, long DownT);
}
