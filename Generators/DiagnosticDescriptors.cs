using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using MoCGen.Compiler.Validation;

namespace MoCGen.Generators;

/// <summary>Roslyn descriptors for every entry of <see cref="DiagnosticCatalog"/>; the texts live there.</summary>
internal static class DiagnosticDescriptors
{
    public static readonly DiagnosticDescriptor NotPartial = new(DiagnosticIds.NotPartial, DiagnosticCatalog.NotPartial.Title,
        DiagnosticCatalog.NotPartial.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.NotPartial), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Nested = new(DiagnosticIds.Nested, DiagnosticCatalog.Nested.Title,
        DiagnosticCatalog.Nested.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.Nested), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Generic = new(DiagnosticIds.Generic, DiagnosticCatalog.Generic.Title,
        DiagnosticCatalog.Generic.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.Generic), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor MissingArgument = new(DiagnosticIds.MissingArgument, DiagnosticCatalog.MissingArgument.Title,
        DiagnosticCatalog.MissingArgument.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.MissingArgument), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotPositive = new(DiagnosticIds.NotPositive, DiagnosticCatalog.NotPositive.Title,
        DiagnosticCatalog.NotPositive.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.NotPositive), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TopKTooLarge = new(DiagnosticIds.TopKTooLarge, DiagnosticCatalog.TopKTooLarge.Title,
        DiagnosticCatalog.TopKTooLarge.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.TopKTooLarge), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor HiddenNotDivisibleByHeads = new(DiagnosticIds.HiddenNotDivisibleByHeads, DiagnosticCatalog.HiddenNotDivisibleByHeads.Title,
        DiagnosticCatalog.HiddenNotDivisibleByHeads.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.HiddenNotDivisibleByHeads), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor HeadsNotDivisibleByKvHeads = new(DiagnosticIds.HeadsNotDivisibleByKvHeads, DiagnosticCatalog.HeadsNotDivisibleByKvHeads.Title,
        DiagnosticCatalog.HeadsNotDivisibleByKvHeads.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.HeadsNotDivisibleByKvHeads), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor OddHeadDim = new(DiagnosticIds.OddHeadDim, DiagnosticCatalog.OddHeadDim.Title,
        DiagnosticCatalog.OddHeadDim.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.OddHeadDim), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor WideChannelIndices = new(DiagnosticIds.WideChannelIndices, DiagnosticCatalog.WideChannelIndices.Title,
        DiagnosticCatalog.WideChannelIndices.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.WideChannelIndices), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TooLarge = new(DiagnosticIds.TooLarge, DiagnosticCatalog.TooLarge.Title,
        DiagnosticCatalog.TooLarge.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.TooLarge), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidRopeTheta = new(DiagnosticIds.InvalidRopeTheta, DiagnosticCatalog.InvalidRopeTheta.Title,
        DiagnosticCatalog.InvalidRopeTheta.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.InvalidRopeTheta), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidNormEps = new(DiagnosticIds.InvalidNormEps, DiagnosticCatalog.InvalidNormEps.Title,
        DiagnosticCatalog.InvalidNormEps.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.InvalidNormEps), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnknownPrecision = new(DiagnosticIds.UnknownPrecision, DiagnosticCatalog.UnknownPrecision.Title,
        DiagnosticCatalog.UnknownPrecision.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.UnknownPrecision), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Static = new(DiagnosticIds.Static, DiagnosticCatalog.Static.Title,
        DiagnosticCatalog.Static.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.Static), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Record = new(DiagnosticIds.Record, DiagnosticCatalog.Record.Title,
        DiagnosticCatalog.Record.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.Record), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor PlanOverflow = new(DiagnosticIds.PlanOverflow, DiagnosticCatalog.PlanOverflow.Title,
        DiagnosticCatalog.PlanOverflow.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.PlanOverflow), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TooManyLayers = new(DiagnosticIds.TooManyLayers, DiagnosticCatalog.TooManyLayers.Title,
        DiagnosticCatalog.TooManyLayers.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.TooManyLayers), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor GpuSharedMemory = new(DiagnosticIds.GpuSharedMemory, DiagnosticCatalog.GpuSharedMemory.Title,
        DiagnosticCatalog.GpuSharedMemory.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.GpuSharedMemory), isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor GeneratorFailure = new(DiagnosticIds.GeneratorFailure, DiagnosticCatalog.GeneratorFailure.Title,
        DiagnosticCatalog.GeneratorFailure.MessageFormat, DiagnosticKind.Category, Severity(DiagnosticCatalog.GeneratorFailure), isEnabledByDefault: true);

    public static IReadOnlyList<DiagnosticDescriptor> All { get; } = new[]
    {
        NotPartial, Nested, Generic, MissingArgument, NotPositive, TopKTooLarge, HiddenNotDivisibleByHeads, HeadsNotDivisibleByKvHeads, OddHeadDim, WideChannelIndices, TooLarge, InvalidRopeTheta, InvalidNormEps, UnknownPrecision, Static, Record, PlanOverflow, TooManyLayers, GpuSharedMemory, GeneratorFailure,
    };

    private static readonly Dictionary<string, DiagnosticDescriptor> ById = BuildIndex();

    public static DiagnosticDescriptor Get(string id) => ById.TryGetValue(id, out var descriptor) ? descriptor : GeneratorFailure;

    private static Dictionary<string, DiagnosticDescriptor> BuildIndex()
    {
        var map = new Dictionary<string, DiagnosticDescriptor>();
        foreach (var d in All) map[d.Id] = d;
        return map;
    }

    private static DiagnosticSeverity Severity(DiagnosticKind kind) => kind.Severity switch
    {
        ProblemSeverity.Info => DiagnosticSeverity.Info,
        ProblemSeverity.Warning => DiagnosticSeverity.Warning,
        _ => DiagnosticSeverity.Error,
    };
}
