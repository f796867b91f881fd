using System;
using System.Collections.Generic;
using MoCGen.Cpu;
using MoCGen.Cuda;

namespace MoCGen.GpuCheck;

/// <summary>How to launch one generated kernel: its CUDA source unit and symbol, threads per block, dynamic shared
/// memory (and whether it needs the opt-in above 48 KiB), and its grid for a number of tokens.</summary>
internal sealed record Kernel(string Unit, string Name, int Block, Func<int, (int X, int Y)> Grid, int DynamicSharedBytes = 0, bool NeedsOptIn = false);

/// <summary>The CPU forward pass of a feed-forward block (MoCFeedForward), scratch allocated inside.</summary>
internal delegate void CpuForward(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, Span<float> y, FeedForwardSaved<ushort> saved);

/// <summary>The CPU backward pass of a feed-forward block (MoCFeedForward), scratch allocated inside.</summary>
internal delegate void CpuBackward(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, FeedForwardSaved<ushort> saved,
    ReadOnlySpan<float> gy, Span<float> gx, FeedForwardGradients gradients);

/// <summary>
/// One model's feed-forward kernels, read from its generated launch tables (<c>Cuda.FeedForwardLaunch</c>,
/// <c>FeedForwardDecodeLaunch</c>, <c>FeedForwardBackwardLaunch</c>), with the CPU reference of the same sizes.
/// Forward: <see cref="GateGemm"/>, <see cref="TopKSelect"/>, <see cref="Windows"/> (into a [tokens,
/// <see cref="WindowStarts"/>] int table), <see cref="Up"/>, <see cref="Down"/>. Backward: <see cref="BackwardGh"/>,
/// <see cref="BackwardGx"/>, <see cref="BackwardWeights"/>: for MoC the sparse kernels (Gh and Gx read the window
/// starts), for the dense twin tiled GEMMs (which take no indices). Decode: <see cref="DecodeGateTopK"/> (the gate GEMV
/// whose last block selects), <see cref="DecodeUpDown"/>.
/// </summary>
internal sealed record FfnKernels(
    string Model, int Hidden, int Intermediate, int TopK, bool Bf16, int WindowStarts,
    Kernel GateGemm, Kernel TopKSelect, Kernel Windows, Kernel Up, Kernel Down,
    Kernel DecodeGateTopK, Kernel DecodeUpDown,
    Kernel BackwardGh, Kernel BackwardGx, Kernel BackwardWeights,
    CpuForward Forward, CpuBackward Backward)
{
    /// <summary>The dense SwiGLU twin (K = d_ff).</summary>
    public bool Dense => TopK == Intermediate;

    /// <summary>"bf16" or "fp32": how W_g, W_u, W_d^T are stored for the forward and decode kernels.</summary>
    public string WeightType => Bf16 ? "bf16" : "fp32";

    /// <summary>The record for a model whose feed-forward sizes are <typeparamref name="TShape"/>.</summary>
    public static FfnKernels Create<TShape>(string model, bool bf16, int windowStarts, Kernel gateGemm, Kernel topK, Kernel windows,
        Kernel up, Kernel down, Kernel decodeGateTopK, Kernel decodeUpDown, Kernel gh, Kernel gx, Kernel weights)
        where TShape : struct, IFeedForwardShape =>
        new(model, TShape.Hidden, TShape.Intermediate, TShape.TopK, bf16, windowStarts, gateGemm, topK, windows, up, down,
            decodeGateTopK, decodeUpDown, gh, gx, weights,
            (n, x, w, y, saved) => MoCFeedForward<TShape, ushort>.Forward(n, x, w, y, saved,
                new float[MoCFeedForward<TShape, ushort>.GateScratchLength(n)]),
            (n, x, w, saved, gy, gx, grads) => MoCFeedForward<TShape, ushort>.Backward(n, x, w, saved, gy, gx, grads,
                new float[MoCFeedForward<TShape, ushort>.BackwardScratchLength(n)]));
}

/// <summary>The PTX this binary carries (build/MoCGen.Ptx.targets) loaded on a GPU, and launches by <see cref="Kernel"/>.</summary>
internal sealed class GpuKernels : IDisposable
{
    private readonly CudaDevice _gpu;
    private readonly string _model;
    private readonly Dictionary<string, CudaModule> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);

    /// <summary>Kernels of <paramref name="model"/> (its full name) on <paramref name="gpu"/>; modules load on first use.</summary>
    public GpuKernels(CudaDevice gpu, string model)
    {
        _gpu = gpu;
        _model = model;
    }

    /// <summary>The PTX text of <paramref name="model"/>'s CUDA unit <paramref name="unit"/>, from the manifest resource
    /// <c>ptx/&lt;model&gt;.&lt;unit&gt;.ptx</c>.</summary>
    public static string Ptx(string model, string unit) =>
        CudaKernelDevice.EmbeddedPtx(typeof(GpuKernels).Assembly, model, unit)
            ?? throw new InvalidOperationException($"This build carries no {CudaKernelDevice.PtxResourceName(model, unit)}: it was built where neither nvcc nor clang was found. Rebuild with prepare.sh where clang-14 is installed.");

    /// <summary>Queues <paramref name="kernel"/> for <paramref name="tokens"/> tokens on the default stream, with its
    /// parameters in declaration order.</summary>
    public void Launch(Kernel kernel, int tokens, KernelArguments arguments)
    {
        var (x, y) = kernel.Grid(tokens);
        Get(kernel).Launch(new Dim3(x, y), new Dim3(kernel.Block), kernel.DynamicSharedBytes, null, arguments);
    }

    private CudaKernel Get(Kernel kernel)
    {
        if (_kernels.TryGetValue(kernel.Name, out var found)) return found;
        if (!_modules.TryGetValue(kernel.Unit, out var module))
        {
            module = CudaModule.LoadPtx(_gpu, Ptx(_model, kernel.Unit), _model + "." + kernel.Unit);
            _modules.Add(kernel.Unit, module);
        }
        var function = module.GetKernel(kernel.Name);
        if (kernel.NeedsOptIn) function.SetMaxDynamicSharedMemory(kernel.DynamicSharedBytes);
        _kernels.Add(kernel.Name, function);
        return function;
    }

    /// <summary>Unloads the modules.</summary>
    public void Dispose()
    {
        foreach (var module in _modules.Values) module.Dispose();
        _modules.Clear();
        _kernels.Clear();
    }
}
