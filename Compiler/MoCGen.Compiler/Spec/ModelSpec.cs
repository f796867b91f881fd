namespace MoCGen.Compiler.Spec;

/// <summary>The names of the [MoCModel] arguments, as the user writes them.</summary>
public static class ArgumentNames
{
    public const string Vocab = "Vocab";
    public const string Hidden = "Hidden";
    public const string Intermediate = "Intermediate";
    public const string TopK = "TopK";
    public const string Layers = "Layers";
    public const string Heads = "Heads";
    public const string KvHeads = "KvHeads";
    public const string Context = "Context";
    public const string Batch = "Batch";
    public const string RopeTheta = "RopeTheta";
    public const string NormEps = "NormEps";
    public const string TieEmbeddings = "TieEmbeddings";
    public const string Weights = "Weights";
    public const string Recompute = "Recompute";

    /// <summary>Arguments with no default: a model without them is an error (MOC004).</summary>
    public static readonly string[] Required = { Hidden, Intermediate, TopK, Layers, Heads, Context };
}

/// <summary>Defaults of the optional arguments; MoCModelAttribute declares the same values (a test keeps them equal).</summary>
public static class ModelDefaults
{
    public const int Vocab = 256;
    public const int Batch = 8;
    public const double RopeTheta = 10000.0;
    public const double NormEps = 1e-5;
    public const bool TieEmbeddings = false;
    public const bool Recompute = false;
    public const int Weights = 0;

    /// <summary>KvHeads when not given: equal to Heads (plain multi-head attention).</summary>
    public const int KvHeadsUnset = 0;
}

/// <summary>Stored weight precision; the numeric values match MoCGen.WeightPrecision.</summary>
public enum StoredPrecision
{
    Float32 = 0,
    BFloat16 = 1,
}

/// <summary>What the generator learned about the class that carries [MoCModel].</summary>
/// <param name="Namespace">Containing namespace, empty for the global namespace.</param>
/// <param name="Name">Class name.</param>
/// <param name="IsPartial">Declared partial (required: the generator adds the other half).</param>
/// <param name="ContainingType">The enclosing type's name when declared inside one (unsupported), else empty.</param>
/// <param name="IsGeneric">Has type parameters (unsupported: every size is fixed).</param>
/// <param name="IsStatic">Declared static (unsupported: models have instances).</param>
/// <param name="IsRecord">A record class (unsupported).</param>
public sealed record ModelType(
    string Namespace, string Name, bool IsPartial, string ContainingType, bool IsGeneric, bool IsStatic, bool IsRecord)
{
    public bool IsNested => ContainingType.Length != 0;

    public string FullName => Namespace.Length == 0 ? Name : Namespace + "." + Name;
}

/// <summary>
/// One [MoCModel] declaration as plain data: every argument value (defaults filled in) and which were
/// written. Equatable, with no Roslyn types, so the incremental pipeline can cache it.
/// </summary>
public sealed record ModelSpec(
    ModelType Type,
    int Vocab,
    int Hidden,
    int Intermediate,
    int TopK,
    int Layers,
    int Heads,
    int KvHeads,
    int Context,
    int Batch,
    double RopeTheta,
    double NormEps,
    bool TieEmbeddings,
    int Weights,
    EquatableArray<string> GivenArguments)
{
    /// <summary>A spec with every optional value at its default and nothing given.</summary>
    public static ModelSpec Default(ModelType type) => new(
        type, ModelDefaults.Vocab, 0, 0, 0, 0, 0, ModelDefaults.KvHeadsUnset, 0, ModelDefaults.Batch,
        ModelDefaults.RopeTheta, ModelDefaults.NormEps, ModelDefaults.TieEmbeddings, ModelDefaults.Weights,
        EquatableArray<string>.Empty);

    public bool IsGiven(string argument)
    {
        foreach (var name in GivenArguments)
            if (name == argument) return true;
        return false;
    }

    /// <summary>Recompute layer activations in backward instead of keeping them.</summary>
    public bool Recompute { get; init; }

    /// <summary>KvHeads as used: Heads when not given.</summary>
    public int EffectiveKvHeads => IsGiven(ArgumentNames.KvHeads) ? KvHeads : Heads;
}
