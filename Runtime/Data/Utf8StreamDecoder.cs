using System;
using System.Text;

namespace MoCGen.Data;

/// <summary>
/// Decodes byte tokens as they are sampled. A character that spans several UTF-8 bytes is held back until its last
/// byte arrives, so a console never shows half a character; an invalid sequence comes out as U+FFFD as soon as it is
/// known to be invalid. Concatenating every <see cref="Push"/> result and <see cref="Flush"/> equals
/// <see cref="ByteTokenizer.Decode"/> of the same tokens.
/// </summary>
public sealed class Utf8StreamDecoder
{
    // System.Text.Decoder already keeps a partial sequence between calls and applies the replacement fallback.
    private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();
    private readonly byte[] _one = new byte[1];
    // One byte releases at most two chars: U+FFFD for a broken pending sequence, then U+FFFD or an ASCII char
    // (or it completes one surrogate pair). Four leaves room.
    private readonly char[] _chars = new char[4];
    private long _position;

    /// <summary>True while bytes received so far start a character that is not complete yet.</summary>
    public bool HasPending { get; private set; }

    /// <summary>Takes one token; returns the characters it completes ("" while a multi-byte character is pending).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The token is not 0..255.</exception>
    public string Push(int token)
    {
        _one[0] = ByteTokenizer.ToByte(token, _position++);
        return Convert(flush: false);
    }

    /// <summary>Ends the stream: a pending incomplete character becomes U+FFFD. The decoder can be reused after.</summary>
    public string Flush() => Convert(flush: true);

    private string Convert(bool flush)
    {
        int byteCount = flush ? 0 : 1;
        _decoder.Convert(_one, 0, byteCount, _chars, 0, _chars.Length, flush, out _, out int charsUsed, out _);
        // The decoder does not expose its pending bytes; asking what a flush would yield (which leaves its state
        // alone) tells whether any are held.
        HasPending = !flush && _decoder.GetCharCount(Array.Empty<byte>(), 0, 0, flush: true) > 0;
        return charsUsed == 0 ? string.Empty : new string(_chars, 0, charsUsed);
    }
}
