using System;
using System.Globalization;
using System.IO;

namespace MoCGen.Data;

/// <summary>
/// A tokenized corpus in memory (token ids as <see cref="int"/>), with the name of where it came from so every
/// error can say which data is wrong. <see cref="Split"/> divides it into train and validation parts.
/// </summary>
public sealed class TokenDataset
{
    /// <summary>Default share of the tokens kept for validation: the last 5%.</summary>
    public const double DefaultValidationFraction = 0.05;

    private readonly int[] _tokens;

    /// <summary>Wraps <paramref name="tokens"/> (not copied).</summary>
    /// <param name="tokens">The token ids, in corpus order.</param>
    /// <param name="source">Where they came from, for messages: a file path or a description.</param>
    /// <exception cref="InvalidDataException"><paramref name="tokens"/> is empty.</exception>
    public TokenDataset(int[] tokens, string source)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(source);
        if (tokens.Length == 0) throw new InvalidDataException($"Training data {source} is empty: it has no tokens.");
        _tokens = tokens;
        Source = source;
    }

    /// <summary>Where the tokens came from, as given (a quoted path for <see cref="FromFile"/>).</summary>
    public string Source { get; }

    /// <summary>Number of tokens.</summary>
    public int Count => _tokens.Length;

    /// <summary>The token ids.</summary>
    public ReadOnlyMemory<int> Tokens => _tokens;

    /// <summary>
    /// Reads a UTF-8 text file (a leading byte order mark is dropped) and tokenizes it: the <c>--data file.txt</c> path.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is empty.</exception>
    public static TokenDataset FromFile(string path, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tokenizer);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new FileNotFoundException($"Training data file '{path}' was not found (looked for {full}).", full);
        byte[] bytes = File.ReadAllBytes(full);
        ReadOnlySpan<byte> text = bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes.AsSpan(3) : bytes;
        if (text.IsEmpty) throw new InvalidDataException($"Training data file '{path}' is empty ({bytes.Length} bytes, no text).");
        return FromUtf8(text, tokenizer, $"file '{path}'");
    }

    /// <summary>Tokenizes UTF-8 text already in memory, e.g. <see cref="SdkDocsCorpus.Utf8"/>.</summary>
    /// <exception cref="InvalidDataException">The text is empty.</exception>
    public static TokenDataset FromUtf8(ReadOnlySpan<byte> utf8, ITokenizer tokenizer, string source)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new TokenDataset(tokenizer.Encode(utf8), source);
    }

    /// <summary>Checks that every token id is in [0, <paramref name="vocab"/>): the model's embedding has that many rows.</summary>
    /// <exception cref="InvalidDataException">Some id is outside; the message gives the first one, where, and how many.</exception>
    public void Validate(int vocab)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocab);
        int first = -1, bad = 0, max = 0;
        for (int i = 0; i < _tokens.Length; i++)
        {
            int t = _tokens[i];
            max = Math.Max(max, t);
            if ((uint)t < (uint)vocab) continue;
            if (first < 0) first = i;
            bad++;
        }
        if (first >= 0)
            throw new InvalidDataException(Format(
                $"Training data {Source} has token {_tokens[first]} at position {first:N0}, outside the model's vocabulary 0..{vocab - 1}; {bad:N0} of its {Count:N0} tokens are out of range (largest id {max}). Use a tokenizer whose ids fit the model's Vocab."));
    }

    /// <summary>
    /// Train on the first tokens, validate on the last <c>floor(Count * validationFraction)</c> tokens (default 5%).
    /// The parts do not overlap, and the split depends only on the count, so it is the same on every run.
    /// </summary>
    /// <param name="context">Tokens a model sees at once; each part must hold at least <c>context + 1</c> tokens.</param>
    /// <param name="validationFraction">In [0, 1); 0 means no validation part.</param>
    /// <exception cref="InvalidDataException">A part is shorter than one window; the message gives all sizes.</exception>
    public DatasetSplit Split(int context, double validationFraction = DefaultValidationFraction)
    {
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must be in [0, 1).");
        // In decimal, so that 100 tokens at 0.57 keep 57, not the 56 that 100 * 0.57 (56.99999...) gives in double.
        int validation = (int)decimal.Floor(Count * (decimal)validationFraction);
        return SplitCore(context, validation, Format($"the last {validationFraction * 100:0.###}%"));
    }

    /// <summary>Like <see cref="Split"/>, with an exact number of validation tokens taken from the end (0: none).</summary>
    /// <exception cref="InvalidDataException">A part is shorter than one window; the message gives all sizes.</exception>
    public DatasetSplit SplitWithValidationTokens(int context, int validationTokens)
    {
        if (validationTokens < 0 || validationTokens >= Count)
            throw new ArgumentOutOfRangeException(nameof(validationTokens), validationTokens, Format($"Validation tokens must be in [0, {Count:N0}) for {Source}."));
        return SplitCore(context, validationTokens, Format($"the last {validationTokens:N0} tokens"));
    }

    private DatasetSplit SplitCore(int context, int validation, string rule)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        int train = Count - validation;
        long window = (long)context + 1;
        string sizes = Format($"Training data {Source} has {Count:N0} tokens: {train:N0} for training and {validation:N0} for validation ({rule})");
        if (train < window)
            throw new InvalidDataException(Format($"{sizes}; the training part must hold at least one context window + 1 = {window:N0} tokens. Use more text, a shorter context, or a smaller validation part."));
        if (validation > 0 && validation < window)
            throw new InvalidDataException(Format($"{sizes}; the validation part must hold at least one context window + 1 = {window:N0} tokens (or none). Use more text, a shorter context, or a larger validation part."));
        return new DatasetSplit(Source, context, _tokens.AsMemory(0, train), _tokens.AsMemory(train, validation));
    }

    // Messages use invariant digits and separators, so they read the same on every machine and in tests.
    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
