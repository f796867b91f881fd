using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MoCGen.Compiler.Spec;
using MoCGen.Generators.Models;

namespace MoCGen.Generators;

/// <summary>Reads one [MoCModel] application into a <see cref="ModelDeclaration"/>. Also used by the mocgen CLI.</summary>
public static class ModelExtractor
{
    /// <summary>Extracts the spec of a class carrying [MoCModel]; null when the attribute itself does not compile.</summary>
    internal static ModelDeclaration? Extract(SyntaxNode node, ISymbol symbol, ImmutableArray<AttributeData> attributes, CancellationToken ct)
    {
        if (node is not TypeDeclarationSyntax declaration || symbol is not INamedTypeSymbol type || attributes.IsEmpty)
            return null;
        var attribute = attributes[0];
        if (HasErrors(attribute)) return null; // the C# compiler already reports why
        ct.ThrowIfCancellationRequested();

        var spec = ReadSpec(type, declaration, attribute);
        var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(ct) as AttributeSyntax;
        var attributeLocation = attributeSyntax is null ? LocationInfo.From(declaration.Identifier) : LocationInfo.From(attributeSyntax);
        var arguments = new List<ArgumentLocation>();
        if (attributeSyntax?.ArgumentList is { } list)
        {
            foreach (var argument in list.Arguments)
            {
                var name = argument.NameEquals?.Name.Identifier.ValueText;
                if (name is not null) arguments.Add(new ArgumentLocation(name, LocationInfo.From(argument)));
            }
        }
        return new ModelDeclaration(spec, LocationInfo.From(declaration.Identifier), attributeLocation,
            new EquatableArray<ArgumentLocation>(arguments));
    }

    /// <summary>The spec of one [MoCModel] class: values written in the attribute, defaults for the rest.</summary>
    public static ModelSpec ReadSpec(INamedTypeSymbol type, TypeDeclarationSyntax declaration, AttributeData attribute)
    {
        var modelType = new ModelType(
            type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : "",
            type.Name,
            declaration.Modifiers.Any(SyntaxKind.PartialKeyword),
            type.ContainingType?.Name ?? "",
            type.TypeParameters.Length > 0,
            type.IsStatic,
            type.IsRecord);

        var spec = ModelSpec.Default(modelType);
        var given = new List<string>();
        foreach (var pair in attribute.NamedArguments)
        {
            var value = pair.Value.Value;
            given.Add(pair.Key);
            spec = pair.Key switch
            {
                ArgumentNames.Vocab => spec with { Vocab = AsInt(value) },
                ArgumentNames.Hidden => spec with { Hidden = AsInt(value) },
                ArgumentNames.Intermediate => spec with { Intermediate = AsInt(value) },
                ArgumentNames.TopK => spec with { TopK = AsInt(value) },
                ArgumentNames.Layers => spec with { Layers = AsInt(value) },
                ArgumentNames.Heads => spec with { Heads = AsInt(value) },
                ArgumentNames.KvHeads => spec with { KvHeads = AsInt(value) },
                ArgumentNames.Context => spec with { Context = AsInt(value) },
                ArgumentNames.Batch => spec with { Batch = AsInt(value) },
                ArgumentNames.RopeTheta => spec with { RopeTheta = AsDouble(value) },
                ArgumentNames.NormEps => spec with { NormEps = AsDouble(value) },
                ArgumentNames.TieEmbeddings => spec with { TieEmbeddings = value is true },
                ArgumentNames.Recompute => spec with { Recompute = value is true },
                ArgumentNames.Weights => spec with { Weights = AsInt(value) },
                _ => spec,
            };
        }
        return spec with { GivenArguments = new EquatableArray<string>(given) };
    }

    /// <summary>Finds every [MoCModel] class in a compilation (for tools; the generator uses the incremental pipeline).</summary>
    public static IReadOnlyList<(ModelSpec Spec, Location Location)> FindModels(Compilation compilation, CancellationToken ct = default)
    {
        var found = new List<(ModelSpec, Location)>();
        var attributeType = compilation.GetTypeByMetadataName(MoCModelGenerator.AttributeMetadataName);
        if (attributeType is null) return found;
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var declaration in tree.GetRoot(ct).DescendantNodes())
            {
                if (declaration is not TypeDeclarationSyntax typeSyntax) continue;
                if (model.GetDeclaredSymbol(typeSyntax, ct) is not INamedTypeSymbol type) continue;
                foreach (var attribute in type.GetAttributes())
                {
                    if (!SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, attributeType)) continue;
                    if (attribute.ApplicationSyntaxReference?.SyntaxTree != tree) continue;
                    if (attribute.ApplicationSyntaxReference.GetSyntax(ct).Parent?.Parent != typeSyntax) continue;
                    found.Add((ReadSpec(type, typeSyntax, attribute), typeSyntax.Identifier.GetLocation()));
                }
            }
        }
        return found;
    }

    private static bool HasErrors(AttributeData attribute)
    {
        if (attribute.AttributeClass is null || attribute.AttributeClass.TypeKind == TypeKind.Error) return true;
        foreach (var pair in attribute.NamedArguments)
            if (pair.Value.Kind == TypedConstantKind.Error) return true;
        return false;
    }

    private static int AsInt(object? value) => value switch
    {
        int i => i,
        _ => Convert.ToInt32(value ?? 0, System.Globalization.CultureInfo.InvariantCulture),
    };

    private static double AsDouble(object? value) => value switch
    {
        double d => d,
        _ => Convert.ToDouble(value ?? 0.0, System.Globalization.CultureInfo.InvariantCulture),
    };
}
