using System;
using System.Runtime.InteropServices;

namespace MoCGen.Checkpoints;

/// <summary>
/// Memory for a model's flat parameter buffer that a checkpoint is about to fill: not zeroed first (the load writes every
/// element), pinned, and on Linux advised to use transparent huge pages, so that loading hundreds of MB takes a few
/// hundred page faults instead of one per 4 KiB page.
/// </summary>
public static partial class ParameterMemory
{
    private const nint HugePage = 2 << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>An uninitialized, pinned buffer of <paramref name="length"/> floats, huge pages advised where possible.</summary>
    public static unsafe float[] Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var buffer = GC.AllocateUninitializedArray<float>(checked((int)length), pinned: true);
        long bytes = length * sizeof(float);
        if (OperatingSystem.IsLinux() && bytes >= 2 * HugePage)
        {
            fixed (float* p = buffer)
            {
                nint start = ((nint)p + HugePage - 1) & ~(HugePage - 1);
                nint end = ((nint)p + (nint)bytes) & ~(HugePage - 1);
                if (end > start)
                {
                    try
                    {
                        _ = madvise(start, (nuint)(end - start), MadviseHugePage); // advice only: a refusal changes nothing
                    }
                    catch (DllNotFoundException)
                    {
                    }
                    catch (EntryPointNotFoundException)
                    {
                    }
                }
            }
        }
        return buffer;
    }

    [LibraryImport("libc")]
    private static partial int madvise(nint address, nuint length, int advice);
}
