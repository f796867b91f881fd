using System;

namespace MoCGen.Data;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state that advances by a constant, mixed on output. Written out
/// here, unlike <see cref="Random"/>, whose algorithm may change between .NET versions, so that a seed gives the
/// same batches, and a training run the same losses, forever. One ulong is the whole state: easy to checkpoint.
/// </summary>
internal static class SplitMix64
{
    private const ulong Gamma = 0x9E3779B97F4A7C15;

    public static ulong Next(ref ulong state)
    {
        ulong z = state += Gamma;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, n) without modulo bias (Lemire 2019: multiply, reject the few low products that bias).</summary>
    public static ulong Below(ref ulong state, ulong n)
    {
        ulong high = Math.BigMul(Next(ref state), n, out ulong low);
        if (low < n)
        {
            ulong threshold = (0 - n) % n;
            while (low < threshold) high = Math.BigMul(Next(ref state), n, out low);
        }
        return high;
    }
}
