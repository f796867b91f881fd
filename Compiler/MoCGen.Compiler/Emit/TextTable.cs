using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace MoCGen.Compiler.Emit;

/// <summary>A plain-text table with aligned columns: numbers right-aligned, text columns (title starting with a less-than sign) left-aligned.</summary>
internal sealed class TextTable
{
    private readonly string[] _header;
    private readonly bool[] _left;
    private readonly List<string[]> _rows = new();

    /// <param name="header">Column titles; a title starting with '&lt;' marks a left-aligned column (the first always is).</param>
    public TextTable(params string[] header)
    {
        _left = new bool[header.Length];
        _header = new string[header.Length];
        for (int c = 0; c < header.Length; c++)
        {
            _left[c] = c == 0 || header[c].StartsWith("<", StringComparison.Ordinal);
            _header[c] = header[c].TrimStart('<');
        }
    }

    public void Add(params string[] cells)
    {
        if (cells.Length != _header.Length) throw new ArgumentException("Row width differs from the header.");
        _rows.Add(cells);
    }

    public void WriteTo(StringBuilder sb, string indent)
    {
        var widths = new int[_header.Length];
        foreach (var row in Enumerate())
            for (int c = 0; c < row.Length; c++) widths[c] = Math.Max(widths[c], row[c].Length);
        foreach (var row in Enumerate())
        {
            sb.Append(indent);
            for (int c = 0; c < row.Length; c++)
            {
                if (c > 0) sb.Append("  ");
                sb.Append(_left[c] ? row[c].PadRight(widths[c]) : row[c].PadLeft(widths[c]));
            }
            TrimEnd(sb);
            sb.Append('\n');
        }
    }

    private IEnumerable<string[]> Enumerate()
    {
        yield return _header;
        foreach (var row in _rows) yield return row;
    }

    private static void TrimEnd(StringBuilder sb)
    {
        while (sb.Length > 0 && sb[sb.Length - 1] == ' ') sb.Length--;
    }

    public static string Int(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Ratio(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);

    public static string Bytes(long bytes)
    {
        if (bytes < 1024) return Int(bytes) + " B";
        string[] units = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return value.ToString("0.00", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    public static string Flops(double flops)
    {
        string[] units = { "", "K", "M", "G", "T", "P", "E" };
        int unit = 0;
        while (Math.Abs(flops) >= 1000 && unit < units.Length - 1)
        {
            flops /= 1000;
            unit++;
        }
        return flops.ToString("0.00", CultureInfo.InvariantCulture) + " " + units[unit] + "FLOP";
    }
}
