using System.Globalization;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Validation;

/// <summary>One finding about a model declaration: which kind, where, and the values for its message.</summary>
/// <param name="Id">The diagnostic id (MOCnnn).</param>
/// <param name="Site">What it points at.</param>
/// <param name="Argument">The argument name when <paramref name="Site"/> is <see cref="ProblemSite.Argument"/>.</param>
/// <param name="MessageArgs">Values for the kind's message format.</param>
public sealed record SpecProblem(string Id, ProblemSite Site, string? Argument, EquatableArray<string> MessageArgs)
{
    public DiagnosticKind Kind
    {
        get
        {
            foreach (var kind in DiagnosticCatalog.All)
                if (kind.Id == Id) return kind;
            return DiagnosticCatalog.GeneratorFailure;
        }
    }

    public ProblemSeverity Severity => Kind.Severity;

    public bool IsError => Severity == ProblemSeverity.Error;

    /// <summary>The message as the user reads it.</summary>
    public string Message
    {
        get
        {
            var args = new object[MessageArgs.Count];
            for (int i = 0; i < args.Length; i++) args[i] = MessageArgs[i];
            return string.Format(CultureInfo.InvariantCulture, Kind.MessageFormat, args);
        }
    }

    public override string ToString() => $"{Id}: {Message}";

    internal static SpecProblem At(DiagnosticKind kind, ProblemSite site, string? argument, params object[] args)
    {
        var texts = new string[args.Length];
        for (int i = 0; i < args.Length; i++)
            texts[i] = System.Convert.ToString(args[i], CultureInfo.InvariantCulture) ?? "";
        return new SpecProblem(kind.Id, site, argument, new EquatableArray<string>(texts));
    }
}
