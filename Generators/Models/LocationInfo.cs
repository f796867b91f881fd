using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MoCGen.Generators.Models;

/// <summary>An equatable stand-in for <see cref="Location"/>, so pipeline values never hold syntax trees.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo From(SyntaxNode node) => From(node.GetLocation());

    public static LocationInfo From(SyntaxToken token) => From(token.GetLocation());

    private static LocationInfo From(Location location) =>
        new(location.SourceTree?.FilePath ?? "", location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>Where one named argument of the attribute was written.</summary>
internal sealed record ArgumentLocation(string Name, LocationInfo Location) : System.IEquatable<ArgumentLocation>;
