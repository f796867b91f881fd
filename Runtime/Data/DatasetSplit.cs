using System;

namespace MoCGen.Data;

/// <summary>The train and validation parts of a <see cref="TokenDataset"/> for one context length.</summary>
public sealed class DatasetSplit
{
    internal DatasetSplit(string source, int context, ReadOnlyMemory<int> train, ReadOnlyMemory<int> validation)
    {
        Source = source;
        Context = context;
        Train = train;
        Validation = validation;
    }

    /// <summary>Where the tokens came from.</summary>
    public string Source { get; }

    /// <summary>Tokens a model sees at once; every window is <c>Context + 1</c> tokens (inputs and next-token targets).</summary>
    public int Context { get; }

    /// <summary>The first tokens of the dataset: batches are sampled from here.</summary>
    public ReadOnlyMemory<int> Train { get; }

    /// <summary>The last tokens of the dataset (possibly none): evaluated in order.</summary>
    public ReadOnlyMemory<int> Validation { get; }

    /// <summary>Random training batches of <paramref name="batch"/> windows, reproducible from <paramref name="seed"/>.</summary>
    public BatchSampler Sampler(int batch, ulong seed) => new(Train, batch, Context, seed);

    /// <summary>The validation part cut into consecutive windows, <paramref name="batch"/> per batch.</summary>
    public ValidationBatches ValidationBatches(int batch) => new(Validation, batch, Context);
}
