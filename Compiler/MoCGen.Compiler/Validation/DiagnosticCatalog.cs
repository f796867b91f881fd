using System.Collections.Generic;

namespace MoCGen.Compiler.Validation;

public enum ProblemSeverity
{
    Info = 0,
    Warning = 1,
    Error = 2,
}

/// <summary>Where a problem points: the class name, the whole attribute, or one named argument.</summary>
public enum ProblemSite
{
    ClassName = 0,
    Attribute = 1,
    Argument = 2,
}

/// <summary>A diagnostic kind with a stable id; the Roslyn descriptors are built from these.</summary>
public sealed record DiagnosticKind(string Id, string Title, string MessageFormat, ProblemSeverity Severity)
{
    public const string Category = "MoCGen";
}

/// <summary>The stable ids, as constants (the Roslyn descriptors and release tracking need literals).</summary>
public static class DiagnosticIds
{
    public const string NotPartial = "MOC001";
    public const string Nested = "MOC002";
    public const string Generic = "MOC003";
    public const string MissingArgument = "MOC004";
    public const string NotPositive = "MOC005";
    public const string TopKTooLarge = "MOC006";
    public const string HiddenNotDivisibleByHeads = "MOC007";
    public const string HeadsNotDivisibleByKvHeads = "MOC008";
    public const string OddHeadDim = "MOC009";
    public const string WideChannelIndices = "MOC010";
    public const string TooLarge = "MOC011";
    public const string InvalidRopeTheta = "MOC012";
    public const string InvalidNormEps = "MOC013";
    public const string UnknownPrecision = "MOC014";
    public const string Static = "MOC015";
    public const string Record = "MOC016";
    public const string PlanOverflow = "MOC017";
    public const string TooManyLayers = "MOC018";
    public const string GpuSharedMemory = "MOC019";
    public const string GeneratorFailure = "MOC099";
}

/// <summary>Every diagnostic MoCGen can report. Ids are stable; record new ones in AnalyzerReleases.Unshipped.md.</summary>
public static class DiagnosticCatalog
{
    public static readonly DiagnosticKind NotPartial = new(
        DiagnosticIds.NotPartial, "Model class must be partial",
        "Model class '{0}' must be declared partial: the generator writes the other half of the class. Add the 'partial' modifier.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind Nested = new(
        DiagnosticIds.Nested, "Model class must be top-level",
        "Model class '{0}' is nested inside '{1}'; [MoCModel] classes must be declared directly in a namespace. Move it out of '{1}'.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind Generic = new(
        DiagnosticIds.Generic, "Model class cannot be generic",
        "Model class '{0}' has type parameters; every size of a model is fixed at build time, so generic models are not supported. Remove the type parameters.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind MissingArgument = new(
        DiagnosticIds.MissingArgument, "Required model size missing",
        "[MoCModel] on '{0}' must set {1}, which has no default. Add '{1} = <value>' to the attribute.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind NotPositive = new(
        DiagnosticIds.NotPositive, "Model size must be positive",
        "{0} must be at least 1, but is {1}.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind TopKTooLarge = new(
        DiagnosticIds.TopKTooLarge, "TopK exceeds Intermediate",
        "TopK ({0}) cannot exceed Intermediate ({1}): a token cannot select more channels than the feed-forward block has. Use TopK <= {1} (TopK = {1} declares the dense SwiGLU twin).",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind HiddenNotDivisibleByHeads = new(
        DiagnosticIds.HiddenNotDivisibleByHeads, "Hidden not divisible by Heads",
        "Hidden ({0}) must be divisible by Heads ({1}) so that every attention head has the same width; {0} / {1} leaves a remainder of {2}.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind HeadsNotDivisibleByKvHeads = new(
        DiagnosticIds.HeadsNotDivisibleByKvHeads, "Heads not divisible by KvHeads",
        "Heads ({0}) must be divisible by KvHeads ({1}) so that every key/value head serves the same number of query heads; {0} / {1} leaves a remainder of {2}.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind OddHeadDim = new(
        DiagnosticIds.OddHeadDim, "Head dimension must be even",
        "The head dimension Hidden / Heads = {0} / {1} = {2} is odd; rotary position embedding rotates pairs of dimensions, so it must be even. Choose Hidden and Heads whose quotient is even.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind WideChannelIndices = new(
        DiagnosticIds.WideChannelIndices, "Channel indices stored as 32-bit",
        "Intermediate ({0}) exceeds 65536, so the selected channel indices kept for backward are stored as 32-bit integers (4 bytes per selected channel instead of 2).",
        ProblemSeverity.Info);

    public static readonly DiagnosticKind TooLarge = new(
        DiagnosticIds.TooLarge, "Model sizes too large",
        "{0} has {1} elements, more than the largest supported buffer ({2} elements). Reduce {3}.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind InvalidRopeTheta = new(
        DiagnosticIds.InvalidRopeTheta, "Invalid RopeTheta",
        "RopeTheta must be a finite number greater than 0, but is {0}.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind InvalidNormEps = new(
        DiagnosticIds.InvalidNormEps, "Invalid NormEps",
        "NormEps must be a finite number greater than 0 and less than 1, but is {0}.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind UnknownPrecision = new(
        DiagnosticIds.UnknownPrecision, "Unknown weight precision",
        "Weights = {0} is not a WeightPrecision value; use WeightPrecision.Float32 or WeightPrecision.BFloat16.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind Static = new(
        DiagnosticIds.Static, "Model class cannot be static",
        "Model class '{0}' is static, but models have instances that hold their weights. Remove the 'static' modifier.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind Record = new(
        DiagnosticIds.Record, "Model cannot be a record",
        "Model '{0}' is a record; declare it as a 'partial class' instead.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind PlanOverflow = new(
        DiagnosticIds.PlanOverflow, "Model totals overflow",
        "The {0} of model '{1}' overflows a 64-bit count. Reduce its sizes.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind TooManyLayers = new(
        DiagnosticIds.TooManyLayers, "Too many layers",
        "Layers ({0}) exceeds the supported maximum of {1}. Use at most {1} layers.",
        ProblemSeverity.Error);

    public static readonly DiagnosticKind GpuSharedMemory = new(
        DiagnosticIds.GpuSharedMemory, "CUDA kernel needs too much shared memory",
        "The CUDA kernel {0} of model '{1}' needs {2} bytes of static shared memory per block, more than the {3} every GPU allows; the model builds and runs on CPU, but its GPU kernels will not load. The size grows with {4}.",
        ProblemSeverity.Warning);

    public static readonly DiagnosticKind GeneratorFailure = new(
        DiagnosticIds.GeneratorFailure, "Generator failure",
        "MoCGen could not generate '{0}': {1}. This is a bug in MoCGen; please report it with the declaration.",
        ProblemSeverity.Error);

    /// <summary>All kinds, in id order.</summary>
    public static IReadOnlyList<DiagnosticKind> All { get; } = new[]
    {
        NotPartial, Nested, Generic, MissingArgument, NotPositive, TopKTooLarge, HiddenNotDivisibleByHeads,
        HeadsNotDivisibleByKvHeads, OddHeadDim, WideChannelIndices, TooLarge, InvalidRopeTheta, InvalidNormEps,
        UnknownPrecision, Static, Record, PlanOverflow, TooManyLayers, GpuSharedMemory, GeneratorFailure,
    };
}
