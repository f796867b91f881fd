using System.IO;
using MoCGen.Data;
using Spectre.Console;

namespace TinyMoCExample;

/// <summary>Where the training text comes from: a file given with --data, else the SDK's API documentation.</summary>
internal static class Corpus
{
    public static DatasetSplit Load(string? path, int context, double validationFraction)
    {
        TokenDataset dataset;
        if (path is not null)
        {
            dataset = TokenDataset.FromFile(path, ByteTokenizer.Instance);
            AnsiConsole.MarkupLine($"data: [bold]{Markup.Escape(path)}[/], {dataset.Count:N0} bytes");
        }
        else
        {
            var corpus = SdkDocsCorpus.Load();
            dataset = TokenDataset.FromUtf8(corpus.Utf8, ByteTokenizer.Instance, "the .NET SDK's API documentation");
            AnsiConsole.MarkupLine("data: " + Markup.Escape(corpus.Provenance.Describe()));
        }
        dataset.Validate(ByteTokenizer.Vocab);
        return dataset.Split(context, validationFraction);
    }
}
