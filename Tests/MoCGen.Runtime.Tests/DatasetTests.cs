using System;
using System.IO;
using System.Linq;
using System.Text;
using MoCGen.Data;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>Loading token data, the train/validation split, and reproducible batches.</summary>
public sealed class DatasetTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("mocgen-data-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    // Token i is i: every batch value tells where in the corpus it came from.
    private static TokenDataset Counting(int count) => new(Enumerable.Range(0, count).ToArray(), "counting");

    [Fact]
    public void SplitMix64MatchesItsPublishedSequence()
    {
        ulong state = 1234567;
        ulong[] expected = { 6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821 };
        Assert.Equal(expected, expected.Select(_ => SplitMix64.Next(ref state)));
    }

    [Fact]
    public void ReadsAUtf8FileAsByteTokens()
    {
        string path = Path.Combine(_temp, "text.txt");
        File.WriteAllBytes(path, new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("héllo")).ToArray());
        var data = TokenDataset.FromFile(path, ByteTokenizer.Instance);
        Assert.Equal(Encoding.UTF8.GetBytes("héllo").Select(b => (int)b), data.Tokens.ToArray()); // byte order mark dropped
        Assert.Equal($"file '{path}'", data.Source);
    }

    [Fact]
    public void SplitKeepsTheLastTokensForValidation()
    {
        var split = Counting(1000).Split(context: 16);
        Assert.Equal(950, split.Train.Length);
        Assert.Equal(50, split.Validation.Length);
        Assert.Equal(0, split.Train.Span[0]);
        Assert.Equal(950, split.Validation.Span[0]);

        Assert.Equal(13, Counting(1000).Split(8, 0.0137).Validation.Length); // floor(13.7)
        Assert.Equal(57, Counting(100).Split(8, 0.57).Validation.Length); // not 56, as floor(100 * 0.57) would give in double
        Assert.Equal(100, Counting(1000).SplitWithValidationTokens(16, 100).Validation.Length);
        var none = Counting(1000).Split(16, 0);
        Assert.Equal(1000, none.Train.Length);
        Assert.Equal(0, none.ValidationBatches(4).BatchCount);
    }

    [Fact]
    public void SameSeedSameBatchesForever()
    {
        var split = Counting(1000).Split(context: 8);
        var batch = split.Sampler(batch: 8, seed: 42).Next();
        // Row starts pinned from an independent (Python) SplitMix64 + Lemire: changing the generator breaks this.
        Assert.Equal(new[] { 698, 150, 262, 324, 35, 817, 205, 754 }, Enumerable.Range(0, 8).Select(r => batch[r * 9]));
        Assert.Equal(batch, split.Sampler(8, 42).Next());
        Assert.NotEqual(batch, split.Sampler(8, 43).Next());
    }

    [Fact]
    public void RowsAreContiguousWindowsOfTheTrainPart()
    {
        var split = Counting(300).Split(context: 16, validationFraction: 0.1);
        var sampler = split.Sampler(batch: 5, seed: 1);
        var buffer = new int[sampler.BatchLength];
        for (int step = 0; step < 200; step++)
        {
            sampler.Next(buffer);
            for (int r = 0; r < 5; r++)
            {
                var row = buffer.AsSpan(r * 17, 17);
                for (int i = 1; i < 17; i++) Assert.Equal(row[0] + i, row[i]); // targets are the inputs shifted by one
                Assert.InRange(row[0], 0, 270 - 17); // never a validation token
            }
        }
    }

    [Fact]
    public void EveryStartIsDrawnAboutEquallyOften()
    {
        var sampler = Counting(20).Split(context: 16, validationFraction: 0).Sampler(batch: 1, seed: 3);
        var counts = new int[4];
        for (int i = 0; i < 4000; i++) counts[sampler.Next()[0]]++;
        Assert.All(counts, c => Assert.InRange(c, 900, 1100));
    }

    [Fact]
    public void RestoredStateContinuesTheUninterruptedRun()
    {
        var split = Counting(5000).Split(context: 32);
        var run = split.Sampler(batch: 4, seed: 2024);
        for (int i = 0; i < 3; i++) run.Next();
        SamplerState saved = run.State;
        var expected = Enumerable.Range(0, 5).Select(_ => run.Next()).ToArray();

        var resumed = split.Sampler(batch: 4, seed: 0); // the state, not the seed, decides what comes next
        resumed.State = saved;
        Assert.Equal(new SamplerState(2024, saved.Rng, 3), saved);
        Assert.Equal(expected, Enumerable.Range(0, 5).Select(_ => resumed.Next()).ToArray());
        Assert.Equal(8, resumed.State.Batches);
    }

    [Fact]
    public void ValidationBatchesWalkTheValidationPartInOrder()
    {
        // 200 tokens, last 50 for validation (150..199), context 8: windows start at 150, 158, ..., 190 (6 windows).
        var validation = Counting(200).Split(context: 8, validationFraction: 0.25).ValidationBatches(batch: 4);
        Assert.Equal(6, validation.WindowCount);
        Assert.Equal(2, validation.BatchCount);
        var buffer = new int[validation.BatchLength];

        Assert.Equal(4, validation.Fill(0, buffer));
        Assert.Equal(new[] { 150, 158, 166, 174 }, Enumerable.Range(0, 4).Select(r => buffer[r * 9]));
        Assert.Equal(Enumerable.Range(150, 9), buffer.Take(9));

        Assert.Equal(2, validation.Fill(1, buffer)); // two real rows, then padding from window 0
        Assert.Equal(new[] { 182, 190, 150, 158 }, Enumerable.Range(0, 4).Select(r => buffer[r * 9]));
        Assert.Equal(198, buffer[9 + 8]); // the last window ends at the last usable token
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        string path = Path.Combine(_temp, "nope.txt");
        var e = Assert.Throws<FileNotFoundException>(() => TokenDataset.FromFile(path, ByteTokenizer.Instance));
        Assert.Equal($"Training data file '{path}' was not found (looked for {path}).", e.Message);
    }

    [Theory]
    [InlineData(new byte[0], 0)]
    [InlineData(new byte[] { 0xEF, 0xBB, 0xBF }, 3)]
    public void EmptyFileIsNamed(byte[] content, int size)
    {
        string path = Path.Combine(_temp, "empty.txt");
        File.WriteAllBytes(path, content);
        var e = Assert.Throws<InvalidDataException>(() => TokenDataset.FromFile(path, ByteTokenizer.Instance));
        Assert.Equal($"Training data file '{path}' is empty ({size} bytes, no text).", e.Message);
    }

    [Fact]
    public void EmptyTokensAreRejected()
    {
        var e = Assert.Throws<InvalidDataException>(() => new TokenDataset(Array.Empty<int>(), "the docs"));
        Assert.Equal("Training data the docs is empty: it has no tokens.", e.Message);
    }

    [Fact]
    public void TrainPartShorterThanAWindowGivesTheSizes()
    {
        var e = Assert.Throws<InvalidDataException>(() => Counting(2000).Split(context: 256, validationFraction: 0.9));
        Assert.Equal("Training data counting has 2,000 tokens: 200 for training and 1,800 for validation (the last 90%); "
            + "the training part must hold at least one context window + 1 = 257 tokens. Use more text, a shorter context, or a smaller validation part.", e.Message);
        Assert.Throws<InvalidDataException>(() => Counting(256).Split(context: 256, validationFraction: 0));
        Counting(257).Split(context: 256, validationFraction: 0); // exactly one window is enough
    }

    [Fact]
    public void ValidationPartShorterThanAWindowGivesTheSizes()
    {
        var e = Assert.Throws<InvalidDataException>(() => Counting(2000).Split(context: 256));
        Assert.Equal("Training data counting has 2,000 tokens: 1,900 for training and 100 for validation (the last 5%); "
            + "the validation part must hold at least one context window + 1 = 257 tokens (or none). Use more text, a shorter context, or a larger validation part.", e.Message);
        Assert.Contains("the last 100 tokens", Assert.Throws<InvalidDataException>(() => Counting(2000).SplitWithValidationTokens(256, 100)).Message);
    }

    [Fact]
    public void TokensOutsideTheVocabularyAreReported()
    {
        var data = new TokenDataset(new[] { 1, 2, 300, 4, 999 }, "file 'x.txt'");
        data.Validate(1000);
        var e = Assert.Throws<InvalidDataException>(() => data.Validate(256));
        Assert.Equal("Training data file 'x.txt' has token 300 at position 2, outside the model's vocabulary 0..255; "
            + "2 of its 5 tokens are out of range (largest id 999). Use a tokenizer whose ids fit the model's Vocab.", e.Message);
        Assert.Contains("token -1 at position 0", Assert.Throws<InvalidDataException>(() => new TokenDataset(new[] { -1 }, "t").Validate(256)).Message);
    }

    [Fact]
    public void WrongBufferSizesAreRejected()
    {
        var split = Counting(1000).Split(context: 8);
        Assert.Throws<ArgumentException>(() => split.Sampler(4, 1).Next(new int[35]));
        Assert.Throws<ArgumentException>(() => split.ValidationBatches(4).Fill(0, new int[37]));
        Assert.Throws<ArgumentOutOfRangeException>(() => split.ValidationBatches(4).Fill(5, new int[36]));
    }
}
