using System;
using System.Text;

namespace MoCGen.Data;

/// <summary>
/// Turns text into token ids and back. Token ids are <see cref="int"/> everywhere in MoCGen.Data: they index the
/// embedding table directly, and no vocabulary a model here will use comes near <see cref="int.MaxValue"/>.
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of distinct token ids; every id is in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>Token ids of UTF-8 encoded text.</summary>
    int[] Encode(ReadOnlySpan<byte> utf8);

    /// <summary>Text of a token sequence; never throws on malformed text (it decodes to U+FFFD).</summary>
    string Decode(ReadOnlySpan<int> tokens);
}

/// <summary>
/// The byte-level tokenizer: one token per UTF-8 byte, vocabulary 256. It never meets an unknown word and needs no
/// training, which suits a small model trained from scratch on CPU. Token ids are <see cref="int"/> (0..255).
/// </summary>
public sealed class ByteTokenizer : ITokenizer
{
    /// <summary>Vocabulary size: one id per byte value.</summary>
    public const int Vocab = 256;

    /// <summary>The tokenizer has no state; this one instance serves everyone.</summary>
    public static ByteTokenizer Instance { get; } = new();

    /// <summary>Strict encoder for strings (lone surrogates become U+FFFD, bytes EF BF BD), lenient decoder.</summary>
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <inheritdoc/>
    public int VocabSize => Vocab;

    /// <summary>Token ids of <paramref name="text"/>: its UTF-8 bytes, each as an id 0..255.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(Utf8.GetBytes(text));
    }

    /// <summary>Token ids of raw bytes: each byte is its own id 0..255 (the bytes need not be valid UTF-8).</summary>
    public int[] Encode(ReadOnlySpan<byte> utf8)
    {
        var tokens = new int[utf8.Length];
        for (int i = 0; i < utf8.Length; i++) tokens[i] = utf8[i];
        return tokens;
    }

    /// <summary>
    /// Text of <paramref name="tokens"/>. Invalid UTF-8 (a model may sample any byte sequence) becomes U+FFFD per
    /// maximal invalid subsequence, as <see cref="Encoding.UTF8"/> does; it never throws for that.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A token id outside 0..255 (a caller bug, not bad text).</exception>
    public string Decode(ReadOnlySpan<int> tokens)
    {
        byte[] bytes = new byte[tokens.Length];
        for (int i = 0; i < tokens.Length; i++) bytes[i] = ToByte(tokens[i], i);
        return Utf8.GetString(bytes);
    }

    /// <summary>A decoder for sampling: feed it one token at a time, it returns each character once complete.</summary>
    public Utf8StreamDecoder CreateStreamDecoder() => new();

    internal static byte ToByte(int token, long position) =>
        (uint)token < Vocab
            ? (byte)token
            : throw new ArgumentOutOfRangeException(nameof(token), token,
                $"Token {token} at position {position} is not a byte token (0..{Vocab - 1}).");
}
