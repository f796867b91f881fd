using System;
using System.Collections.Generic;
using System.Text;
using System.Text.RegularExpressions;

namespace MoCGen.Data;

/// <summary>
/// Renders documentation ids ("M:System.String.Trim(System.Char[])") as people write them:
/// member headings keep the full type name and short parameter types ("System.String.Trim(Char[])"),
/// references inside sentences keep only the last part ("String", "String.Trim").
/// Generic arity becomes type parameters: "List`1" is "List&lt;T&gt;", "Select``2" is "Select&lt;T1,T2&gt;".
/// </summary>
internal static partial class DocName
{
    /// <summary>A member heading: "T:System.String" is "System.String", "M:System.String.Trim" is "System.String.Trim()".</summary>
    public static string Readable(string id)
    {
        (char kind, string path, string? parameters) = Parse(id);
        (string name, int typeArity, int methodArity) = Arity(path);
        name = Constructor(name);
        if (kind != 'M' && parameters is null) return name;
        // Methods always show their parameter list, empty or not; indexers (properties with parameters) too.
        var sb = new StringBuilder(name).Append('(');
        if (parameters is not null)
        {
            int depth = 0, start = 0;
            for (int i = 0; i <= parameters.Length; i++)
            {
                char c = i < parameters.Length ? parameters[i] : ',';
                if (c is '{' or '[') depth++;
                else if (c is '}' or ']') depth--;
                else if (c == ',' && depth == 0)
                {
                    if (start > 0) sb.Append(", ");
                    sb.Append(Parameter(parameters[start..i], typeArity, methodArity));
                    start = i + 1;
                }
            }
        }
        return sb.Append(')').ToString();
    }

    /// <summary>A reference inside a sentence: "T:System.String" is "String", "M:System.String.Trim(...)" is "String.Trim".</summary>
    public static string Short(string id)
    {
        (char kind, string path, _) = Parse(id);
        string[] parts = SplitPath(Arity(path).Name);
        if (parts.Length < 2 || kind is not ('M' or 'P' or 'F' or 'E')) return parts[^1];
        // A constructor is referred to by its type's name.
        return parts[^1] is "ctor" or "cctor" ? parts[^2] : parts[^2] + "." + parts[^1];
    }

    // "M:A.B.C(x,y)~R" -> ('M', "A.B.C", "x,y"); the conversion operator's "~R" return type is dropped;
    // explicit implementations' '#' separators become dots, their "{A@B}" becomes "<A,B>" with short names.
    private static (char Kind, string Path, string? Parameters) Parse(string id)
    {
        char kind = id.Length > 1 && id[1] == ':' ? id[0] : '?';
        string rest = kind == '?' ? id : id[2..];
        int conversion = rest.IndexOf(")~", StringComparison.Ordinal);
        if (conversion >= 0) rest = rest[..(conversion + 1)];
        int open = rest.IndexOf('(');
        string path = (open < 0 ? rest : rest[..open]).Replace('#', '.').Replace('{', '<').Replace('}', '>').Replace('@', ',');
        path = GenericArgument().Replace(path, match => match.Value[(match.Value.LastIndexOf('.') + 1)..]);
        return (kind, path, open < 0 || !rest.EndsWith(')') ? null : rest[(open + 1)..^1]);
    }

    // "List`1" -> "List<T>", "Select``2" -> "Select<T1,T2>"; counts the arities for parameter rendering.
    private static (string Name, int TypeArity, int MethodArity) Arity(string path)
    {
        int typeArity = 0, methodArity = 0;
        string name = ArityMarker().Replace(path, match =>
        {
            int n = int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (match.Groups[1].Length == 2) methodArity += n; else typeArity += n;
            return "<" + TypeParameters(n) + ">";
        });
        return (name, typeArity, methodArity);
    }

    private static string TypeParameters(int n)
    {
        if (n == 1) return "T";
        var sb = new StringBuilder();
        for (int i = 1; i <= n; i++) sb.Append(i > 1 ? ",T" : "T").Append(i);
        return sb.ToString();
    }

    // "System.String.#ctor" (parsed as "System.String..ctor") -> "System.String.String": a constructor is named after its type.
    private static string Constructor(string name)
    {
        foreach (string ctor in new[] { "..ctor", "..cctor" })
        {
            if (!name.EndsWith(ctor, StringComparison.Ordinal)) continue;
            string type = name[..^ctor.Length];
            string[] parts = SplitPath(type);
            string simple = parts[^1];
            int lt = simple.IndexOf('<');
            return type + "." + (lt >= 0 ? simple[..lt] : simple);
        }
        return name;
    }

    // One parameter type: short names, "{}" as "<>", "@" as "ref", "[0:,0:]" as "[,]", "`0"/"``0" as the type parameter.
    private static string Parameter(string text, int typeArity, int methodArity)
    {
        bool byRef = text.EndsWith('@');
        if (byRef) text = text[..^1];
        text = ArrayRank().Replace(text, match => "[" + new string(',', match.Value.Split(',').Length - 1) + "]");
        text = TypeParameterRef().Replace(text, match =>
        {
            int index = int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            int arity = match.Groups[1].Length == 2 ? methodArity : typeArity;
            return arity <= 1 ? "T" : "T" + (index + 1);
        });
        text = QualifiedName().Replace(text, match => match.Value[(match.Value.LastIndexOf('.') + 1)..]);
        text = text.Replace('{', '<').Replace('}', '>');
        return byRef ? "ref " + text : text;
    }

    // Splits at dots outside generic brackets, so "Func<T1,T2>.Invoke" keeps its brackets whole.
    internal static string[] SplitPath(string path)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < path.Length; i++)
        {
            char c = path[i];
            if (c == '<') depth++;
            else if (c == '>') depth--;
            else if (c == '.' && depth == 0 && i > start) { parts.Add(path[start..i]); start = i + 1; }
            else if (c == '.' && i == start) start = i + 1; // "..ctor" style empty part
        }
        parts.Add(path[start..]);
        return parts.ToArray();
    }

    [GeneratedRegex(@"(``?)(\d+)(?=$|[.<(])")]
    private static partial Regex ArityMarker();

    [GeneratedRegex(@"(``?)(\d+)")]
    private static partial Regex TypeParameterRef();

    [GeneratedRegex(@"\[[0-9:,]*,[0-9:,]*\]")]
    private static partial Regex ArrayRank();

    [GeneratedRegex(@"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"(?<=[<,])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")]
    private static partial Regex GenericArgument();
}
