using MoCGen.Compiler.Spec;

namespace MoCGen.Generators.Models;

/// <summary>A [MoCModel] class as plain, equatable data: the spec plus where to point diagnostics.</summary>
internal sealed record ModelDeclaration(
    ModelSpec Spec,
    LocationInfo ClassName,
    LocationInfo Attribute,
    EquatableArray<ArgumentLocation> Arguments)
{
    public LocationInfo ArgumentOrAttribute(string? argument)
    {
        foreach (var a in Arguments)
            if (a.Name == argument) return a.Location;
        return Attribute;
    }
}

/// <summary>One diagnostic ready to report: id, place and message arguments.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo Location, EquatableArray<string> MessageArgs);

/// <summary>One generated file.</summary>
internal sealed record SourceInfo(string HintName, string Text);

/// <summary>What the generator emits for one declaration.</summary>
internal sealed record ModelOutput(EquatableArray<SourceInfo> Sources, EquatableArray<DiagnosticInfo> Diagnostics);
