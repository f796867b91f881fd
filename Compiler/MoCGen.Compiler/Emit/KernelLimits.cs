using System.Collections.Generic;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Validation;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// The GPU limits a model's rendered kernels must respect, checked at compile time: every kernel's static shared memory
/// must fit the 48 KiB a block may declare on any GPU (dynamic shared memory, sized from the target, is planned apart).
/// </summary>
public static class KernelLimits
{
    /// <summary>Static shared memory a block may declare, bytes.</summary>
    public const int StaticSharedLimit = 48 * 1024;

    /// <summary>The kernels whose static shared memory grows with the model's sizes: symbol, bytes, what it grows with.
    /// (The feed-forward kernels stage fixed tiles; the decode up/down tile is dynamic and planned for the target.)</summary>
    public static IEnumerable<(string Kernel, int Bytes, string GrowsWith)> SizedKernels(ModelPlan plan)
    {
        var s = plan.Shape;
        yield return (DecoderKernelEmitter.KernelPrefix(s) + "_attention",
            (2 * s.HeadDim + DecoderKernelEmitter.AttnChunk + DecoderKernelEmitter.AttnThreads) * 4, "Hidden / Heads");
    }

    /// <summary>A warning (MOC019) per kernel over <see cref="StaticSharedLimit"/>.</summary>
    public static IEnumerable<SpecProblem> Check(ModelPlan plan)
    {
        foreach (var (kernel, bytes, growsWith) in SizedKernels(plan))
            if (bytes > StaticSharedLimit)
                yield return SpecProblem.At(DiagnosticCatalog.GpuSharedMemory, ProblemSite.Attribute, null,
                    kernel, plan.Shape.Name, bytes, StaticSharedLimit, growsWith);
    }
}
