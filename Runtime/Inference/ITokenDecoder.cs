using System;

namespace MoCGen.Inference;

/// <summary>
/// Token-by-token decoding with a key/value cache, whatever the device: append a token, get the logits of the next.
/// </summary>
public interface ITokenDecoder
{
    /// <summary>Tokens in the cache: the position the next token will take.</summary>
    int Length { get; }

    /// <summary>Where the decoding runs, for reports ("cpu", "cuda").</summary>
    string Device { get; }

    /// <summary>Forgets the cached tokens.</summary>
    void Reset();

    /// <summary>
    /// Appends <paramref name="token"/> at position <see cref="Length"/> and returns the logits for the token after it
    /// (valid until the next call).
    /// </summary>
    ReadOnlySpan<float> Append(int token);

    /// <summary>
    /// Appends every token of <paramref name="tokens"/> (at least one) in order and returns the logits for the token
    /// after the last (valid until the next call). Devices that decode several tokens per step do so here (prompts).
    /// </summary>
    ReadOnlySpan<float> Append(ReadOnlySpan<int> tokens);
}
