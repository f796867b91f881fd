using System;
using System.Collections.Generic;
using MoCGen.Cpu;
using MoCGen.Cuda;
using MoCGen.Inference;

namespace MoCGen.GpuCheck;

/// <summary>The CPU forward pass of a feed-forward block (MoCFeedForward), scratch allocated inside.</summary>
internal delegate void CpuForward(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, Span<float> y, FeedForwardSaved<ushort> saved);

/// <summary>The CPU backward pass of a feed-forward block (MoCFeedForward), scratch allocated inside.</summary>
internal delegate void CpuBackward(int tokens, ReadOnlySpan<float> x, FeedForwardWeights weights, FeedForwardSaved<ushort> saved,
    ReadOnlySpan<float> gy, Span<float> gx, FeedForwardGradients gradients);

/// <summary>
/// One model's feed-forward kernels, from its generated tables (<c>Cuda.FeedForwardKernels</c>: the training kernels;
/// <c>Cuda.DecodeKernels</c>: the decode ones), with the CPU reference of the same sizes. Forward: GateGemm, TopKSelect,
/// Windows (into a [tokens, WindowStarts] int table), Up, Down; backward: BackwardGh, BackwardGx, BackwardWeights, the
/// same parameters for MoC and the dense twin (whose GEMMs ignore index and start). Decode: DecodeGateTopK (the gate
/// GEMV whose last block selects), DecodeUpDown.
/// </summary>
internal sealed record FfnKernels(
    string Model, int Hidden, int Intermediate, int TopK, FeedForwardKernelTable Train,
    KernelLaunch DecodeGateTopK, KernelLaunch DecodeUpDown, CpuForward Forward, CpuBackward Backward)
{
    /// <summary>The dense SwiGLU twin (K = d_ff).</summary>
    public bool Dense => Train.Dense;

    /// <summary>Whether the forward and decode kernels read bf16 weights (the backward kernels read fp32).</summary>
    public bool Bf16 => Train.WeightElement == DeviceElement.BFloat16;

    /// <summary>"bf16" or "fp32": how W_g, W_u, W_d^T are stored for the forward and decode kernels.</summary>
    public string WeightType => Bf16 ? "bf16" : "fp32";

    public int WindowStarts => Train.WindowStarts;
    public KernelLaunch GateGemm => Train.GateGemm;
    public KernelLaunch TopKSelect => Train.TopK;
    public KernelLaunch Windows => Train.Windows;
    public KernelLaunch Up => Train.Up;
    public KernelLaunch Down => Train.Down;
    public KernelLaunch BackwardGh => Train.Gh;
    public KernelLaunch BackwardGx => Train.Gx;
    public KernelLaunch BackwardWeights => Train.Weights;

    /// <summary>The record for a model whose feed-forward sizes are <typeparamref name="TShape"/>.</summary>
    public static FfnKernels Create<TShape>(FeedForwardKernelTable train, DecodeKernelTable decode)
        where TShape : struct, IFeedForwardShape =>
        new(train.Model, TShape.Hidden, TShape.Intermediate, TShape.TopK, train, decode.GateTopK, decode.UpDown,
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
    public void Launch(KernelLaunch kernel, int tokens, KernelArguments arguments)
    {
        var (x, y) = kernel.Grid(tokens);
        Get(kernel).Launch(new Dim3(x, y), new Dim3(kernel.Block), kernel.DynamicSharedBytes, null, arguments);
    }

    private CudaKernel Get(KernelLaunch kernel)
    {
        if (_kernels.TryGetValue(kernel.Name, out var found)) return found;
        if (!_modules.TryGetValue(kernel.Unit, out var module))
        {
            module = CudaModule.LoadPtx(_gpu, Ptx(_model, kernel.Unit), _model + "." + kernel.Unit);
            _modules.Add(kernel.Unit, module);
        }
        var function = module.GetKernel(kernel.Name);
        if (kernel.DynamicSharedBytes > 0) function.SetMaxDynamicSharedMemory(kernel.DynamicSharedBytes); // as CudaKernelDevice
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
