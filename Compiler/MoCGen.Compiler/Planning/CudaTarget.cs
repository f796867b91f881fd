using System;

namespace MoCGen.Compiler.Planning;

/// <summary>
/// The GPU a model's CUDA kernels are planned for: its architecture name and the shared memory one block may use
/// after opting in (cuFuncSetAttribute with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES; 48 KiB without it).
/// </summary>
/// <param name="Arch">The architecture, e.g. <c>sm_80</c>.</param>
/// <param name="SharedPerBlockOptin">Shared memory per block with the opt-in, bytes.</param>
public sealed record CudaTarget(string Arch, int SharedPerBlockOptin)
{
    /// <summary>Shared memory a block may use without opting in, bytes (every architecture).</summary>
    public const int DefaultSharedPerBlock = 48 * 1024;

    /// <summary>The architecture assumed when none is given.</summary>
    public const string DefaultArch = "sm_80";

    /// <summary>sm_80 (A100): 163 KiB per block.</summary>
    public static CudaTarget Default { get; } = FromArch(DefaultArch);

    /// <summary>
    /// The target of an architecture name (<c>sm_XY</c>, optionally with a suffix such as <c>sm_90a</c>), with the
    /// per-block opt-in shared memory of the CUDA Programming Guide's compute capability table: 7.0/7.2 96 KiB,
    /// 7.5 64 KiB, 8.0/8.7 163 KiB, 8.6/8.9 99 KiB, 9.0 227 KiB. Other or unknown architectures get 48 KiB, what every
    /// architecture allows without opting in. Null or empty gives <see cref="Default"/>.
    /// </summary>
    public static CudaTarget FromArch(string? arch)
    {
        var name = (arch ?? "").Trim().ToLowerInvariant();
        if (name.Length == 0) name = DefaultArch;
        var digits = name.StartsWith("sm_", StringComparison.Ordinal) ? name.Substring(3).TrimEnd('a', 'f') : "";
        int kib = digits switch
        {
            "70" or "72" => 96,
            "75" => 64,
            "80" or "87" => 163,
            "86" or "89" => 99,
            "90" => 227,
            _ => 48,
        };
        return new CudaTarget(name, kib * 1024);
    }
}
