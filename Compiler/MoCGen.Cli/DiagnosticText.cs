using System.Globalization;
using Microsoft.CodeAnalysis;
using MoCGen.Compiler.Validation;

namespace MoCGen.Cli;

/// <summary>
/// Diagnostics in the MSBuild/compiler format, <c>file(line,col): error MOC006: message</c>, so that
/// editors and CI log parsers pick them up like build errors.
/// </summary>
internal static class DiagnosticText
{
    /// <summary>A MoC problem found by the CLI itself (inspect).</summary>
    public static string Format(Location location, SpecProblem problem) =>
        Format(location, Severity(problem.Severity), problem.Id, problem.Message);

    /// <summary>A diagnostic reported by the generator (emit).</summary>
    public static string Format(Diagnostic diagnostic) =>
        Format(diagnostic.Location, Severity(diagnostic.Severity), diagnostic.Id, diagnostic.GetMessage(CultureInfo.InvariantCulture));

    private static string Format(Location location, string severity, string id, string message)
    {
        // Not IsInSource: the generator reports through Location.Create(path, ...), an external-file location.
        var span = location.GetLineSpan();
        if (!span.IsValid || span.Path.Length == 0) return $"{severity} {id}: {message}";
        // Roslyn counts from 0; the format counts lines and columns from 1.
        return $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): {severity} {id}: {message}";
    }

    private static string Severity(ProblemSeverity severity) => severity switch
    {
        ProblemSeverity.Info => "info",
        ProblemSeverity.Warning => "warning",
        _ => "error",
    };

    private static string Severity(DiagnosticSeverity severity) => severity switch
    {
        DiagnosticSeverity.Hidden => "hidden",
        DiagnosticSeverity.Info => "info",
        DiagnosticSeverity.Warning => "warning",
        _ => "error",
    };
}
