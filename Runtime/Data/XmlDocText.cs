using System;
using System.IO;
using System.Text;
using System.Xml;

namespace MoCGen.Data;

/// <summary>
/// Turns one XML documentation file (the kind the compiler writes beside an assembly) into plain English: one line
/// per documented member, "Readable.Name(Params): summary Parameter x: ... Returns: ... Remarks ...".
/// Exceptions, examples and see-also lists are left out: they repeat the same few sentences thousands of times.
/// </summary>
internal static class XmlDocText
{
    /// <summary>Bump when the rendering changes, so caches built by an older rendering are not reused.</summary>
    public const int FormatVersion = 1;

    private static readonly XmlReaderSettings Settings = new()
    {
        DtdProcessing = DtdProcessing.Ignore, // documentation files never need a DTD; never fetch or expand one
        XmlResolver = null,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
        CloseInput = false,
    };

    /// <summary>Appends the text of every documented member of <paramref name="xml"/> to <paramref name="output"/>; returns how many.</summary>
    public static int Extract(Stream xml, TextWriter output)
    {
        using var reader = XmlReader.Create(xml, Settings);
        var line = new StringBuilder(1024);
        var part = new StringBuilder(512);
        int members = 0;
        while (reader.ReadToFollowing("member"))
        {
            string name = reader.GetAttribute("name") ?? "";
            line.Clear();
            if (!reader.IsEmptyElement) ReadMember(reader, line, part);
            if (line.Length == 0) continue; // e.g. only <inheritdoc/>: nothing to read
            output.Write(DocName.Readable(name));
            output.Write(':');
            output.Write(line);
            output.Write('\n');
            members++;
        }
        return members;
    }

    // Reader is on <member>; leaves it on </member>. Sections appear in the order the file gives them.
    private static void ReadMember(XmlReader reader, StringBuilder line, StringBuilder part)
    {
        int depth = reader.Depth;
        while (reader.Read() && reader.Depth > depth)
        {
            if (reader.NodeType != XmlNodeType.Element) continue;
            string? label = reader.LocalName switch
            {
                "summary" => "",
                "typeparam" => $"Type parameter {reader.GetAttribute("name")}:",
                "param" => $"Parameter {reader.GetAttribute("name")}:",
                "returns" => "Returns:",
                "value" => "Value:",
                "remarks" => "Remarks:",
                _ => null,
            };
            part.Clear();
            bool empty = reader.IsEmptyElement;
            if (!empty) AppendInline(reader, part); // skipped sections are read too, to get past them
            if (label is null || empty) continue;
            string text = Normalize(part);
            if (text.Length == 0) continue;
            if (label.Length > 0) line.Append(' ').Append(label);
            line.Append(' ').Append(text);
        }
    }

    // Reader is on a non-empty element; appends its content and leaves the reader on its end tag.
    private static void AppendInline(XmlReader reader, StringBuilder sb)
    {
        int depth = reader.Depth;
        while (reader.Read() && reader.Depth > depth)
        {
            switch (reader.NodeType)
            {
                case XmlNodeType.Text:
                case XmlNodeType.CDATA:
                case XmlNodeType.Whitespace:
                case XmlNodeType.SignificantWhitespace:
                    sb.Append(reader.Value);
                    break;
                case XmlNodeType.Element:
                    AppendElement(reader, sb);
                    break;
            }
        }
    }

    private static void AppendElement(XmlReader reader, StringBuilder sb)
    {
        string local = reader.LocalName;
        // Attributes first: once the content is read the reader sits on the end tag, which has none.
        string? reference = local switch
        {
            "see" or "seealso" => reader.GetAttribute("langword") ?? CrefText(reader.GetAttribute("cref")) ?? reader.GetAttribute("href"),
            "paramref" or "typeparamref" => reader.GetAttribute("name"),
            "xref" => CrefText(reader.GetAttribute("uid")),
            _ => null,
        };
        // Block elements start and end with a space so neighbouring paragraphs, list items and code do not merge.
        // <code> is not one of them: it is mostly inline ("the <code>user@domain</code> form").
        bool block = local is "para" or "p" or "br" or "list" or "item" or "listheader" or "term" or "description" or "example" or "li" or "ul" or "ol";
        if (block) sb.Append(' ');
        int before = sb.Length;
        if (!reader.IsEmptyElement) AppendInline(reader, sb);
        // <see cref="...">text</see> shows its own text; an empty one shows its reference.
        if (IsBlank(sb, before)) { sb.Length = before; sb.Append(reference); }
        if (block) sb.Append(' ');
    }

    private static string? CrefText(string? cref) => cref is null ? null : DocName.Short(cref);

    private static bool IsBlank(StringBuilder sb, int from)
    {
        for (int i = from; i < sb.Length; i++) if (!char.IsWhiteSpace(sb[i])) return false;
        return true;
    }

    /// <summary>
    /// Collapses every run of white space (new lines, indentation, tabs) to one space and trims both ends. A space
    /// before a ',', '.' or ';' that ends a word ("a <see/> , b") is dropped; ".NET" keeps its space.
    /// </summary>
    internal static string Normalize(StringBuilder sb)
    {
        var result = new StringBuilder(sb.Length);
        bool space = false;
        for (int i = 0; i < sb.Length; i++)
        {
            char c = sb[i];
            if (char.IsWhiteSpace(c)) { space = result.Length > 0; continue; }
            bool punctuation = c is ',' or '.' or ';' && (i + 1 == sb.Length || char.IsWhiteSpace(sb[i + 1]));
            if (space && !punctuation) result.Append(' ');
            space = false;
            result.Append(c);
        }
        return result.ToString();
    }
}
