using System;
using System.Linq;
using System.Text;
using MoCGen.Data;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>The byte tokenizer and the streaming decoder used while sampling.</summary>
public sealed class TokenizerTests
{
    private static readonly ByteTokenizer Tokenizer = ByteTokenizer.Instance;

    [Theory]
    [InlineData("Hello, world!\n")]
    [InlineData("")]
    [InlineData("héllo € 𝄞 日本語 😀")]
    public void TextRoundTrips(string text)
    {
        int[] tokens = Tokenizer.Encode(text);
        Assert.Equal(Encoding.UTF8.GetBytes(text).Select(b => (int)b), tokens);
        Assert.Equal(text, Tokenizer.Decode(tokens));
    }

    [Fact]
    public void EveryTokenIsOneUtf8Byte()
    {
        Assert.Equal(256, Tokenizer.VocabSize);
        Assert.Equal(new[] { 0xC3, 0xA9 }, Tokenizer.Encode("é"));
        Assert.Equal(new[] { 0xF0, 0x9F, 0x98, 0x80 }, Tokenizer.Encode("😀"));
        // Raw bytes need not be UTF-8: every byte value is a token.
        byte[] all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        Assert.Equal(Enumerable.Range(0, 256), Tokenizer.Encode(all));
    }

    [Fact]
    public void LoneSurrogatesEncodeAsTheReplacementCharacter()
    {
        Assert.Equal(new[] { 0x61, 0xEF, 0xBF, 0xBD, 0x62 }, Tokenizer.Encode("a\uD800b"));
    }

    [Theory]
    [InlineData(new[] { 0x41, 0xFF, 0x42 }, "A\uFFFDB")]            // never valid in UTF-8
    [InlineData(new[] { 0xE2, 0x82 }, "\uFFFD")]                     // truncated 3-byte sequence: one replacement
    [InlineData(new[] { 0xE2, 0x82, 0x41 }, "\uFFFDA")]              // interrupted sequence
    [InlineData(new[] { 0xC0, 0xAF }, "\uFFFD\uFFFD")]               // overlong encoding of '/'
    [InlineData(new[] { 0xED, 0xA0, 0x80 }, "\uFFFD\uFFFD\uFFFD")]   // encoded surrogate
    [InlineData(new[] { 0x80, 0x80 }, "\uFFFD\uFFFD")]               // stray continuation bytes
    public void InvalidUtf8DecodesToReplacementCharactersWithoutThrowing(int[] tokens, string expected)
    {
        Assert.Equal(expected, Tokenizer.Decode(tokens));
    }

    [Fact]
    public void TokensOutsideTheVocabularyAreRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode(new[] { 65, 256 }));
        Assert.Contains("Token 256 at position 1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.CreateStreamDecoder().Push(-1));
    }

    [Fact]
    public void StreamingHoldsASplitCharacterUntilItIsComplete()
    {
        var decoder = Tokenizer.CreateStreamDecoder();
        Assert.Equal("a", decoder.Push('a'));
        Assert.False(decoder.HasPending);
        Assert.Equal("", decoder.Push(0xE2)); // € = E2 82 AC
        Assert.True(decoder.HasPending);
        Assert.Equal("", decoder.Push(0x82));
        Assert.Equal("€", decoder.Push(0xAC));
        Assert.False(decoder.HasPending);
        // A character outside the BMP comes out whole: both UTF-16 surrogates at once.
        Assert.Equal("", decoder.Push(0xF0));
        Assert.Equal("", decoder.Push(0x9F));
        Assert.Equal("", decoder.Push(0x98));
        Assert.Equal("😀", decoder.Push(0x80));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void StreamingReplacesBrokenSequencesAsSoonAsTheyAreKnownBroken()
    {
        var decoder = Tokenizer.CreateStreamDecoder();
        Assert.Equal("", decoder.Push(0xE2));
        Assert.Equal("\uFFFDA", decoder.Push('A'));
        Assert.Equal("\uFFFD", decoder.Push(0xFF));
        Assert.Equal("", decoder.Push(0xC3));
        Assert.Equal("\uFFFD", decoder.Push(0xF0)); // a new lead byte: the old one is broken, the new one pending
        Assert.True(decoder.HasPending);
        Assert.Equal("\uFFFD", decoder.Flush()); // the end of the stream breaks the pending one
        Assert.False(decoder.HasPending);
        Assert.Equal("ok", decoder.Push('o') + decoder.Push('k')); // usable after a flush
    }

    [Fact]
    public void StreamingGivesTheSameTextAsDecodingAtOnce()
    {
        var random = new Random(7);
        byte[] pieces = Encoding.UTF8.GetBytes("aé€😀");
        for (int trial = 0; trial < 500; trial++)
        {
            // Mostly valid UTF-8 pieces, cut and mixed with random bytes, so every boundary case comes up.
            int[] tokens = Enumerable.Range(0, random.Next(0, 24))
                .Select(_ => random.Next(4) == 0 ? random.Next(256) : pieces[random.Next(pieces.Length)]).ToArray();
            var decoder = Tokenizer.CreateStreamDecoder();
            var streamed = new StringBuilder();
            foreach (int t in tokens) streamed.Append(decoder.Push(t));
            streamed.Append(decoder.Flush());
            Assert.Equal(Tokenizer.Decode(tokens), streamed.ToString());
        }
    }
}
