using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using Microsoft.CodeAnalysis;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>
/// Thousands of random [MoCModel] declarations (zero, negative, huge, mismatched, missing, non-finite) never
/// crash the generator; each either generates code that compiles cleanly or is refused with MOC errors, and
/// which one happens agrees with the rules restated independently below.
/// </summary>
public sealed class FuzzTests
{
    private const int Batches = 60;
    private const int ModelsPerBatch = 50;

    private static readonly int[] Interesting =
    {
        int.MinValue, -65536, -1, 0, 1, 2, 3, 4, 6, 7, 8, 12, 16, 31, 32, 64, 100, 128, 255, 256, 511, 4096, 4097,
        65535, 65536, 65537, 70000, 1 << 20, 46341, int.MaxValue - 1, int.MaxValue,
    };

    private static readonly string[] Reals =
    {
        "0", "-1", "1", "0.5", "1e-5", "1e-6", "10000", "500000", "1e300", "double.Epsilon", "double.NaN",
        "double.PositiveInfinity", "double.NegativeInfinity", "double.MaxValue",
    };

    private sealed record Declaration(Dictionary<string, string> Arguments, string Modifiers)
    {
        public string Source(int index) =>
            $"using MoCGen;\nnamespace Fuzz;\n\n[MoCModel({string.Join(", ", Arguments.Select(a => a.Key + " = " + a.Value))})]\n{Modifiers} class M{index};\n";
    }

    [Fact]
    public void RandomDeclarationsNeverCrashAndAreEitherCleanOrRefused()
    {
        var random = new Random(20261124);
        int generated = 0, refused = 0;
        for (int batch = 0; batch < Batches; batch++)
        {
            var declarations = Enumerable.Range(0, ModelsPerBatch).Select(_ => RandomDeclaration(random)).ToArray();
            var sources = declarations.Select((d, i) => d.Source(i)).ToArray();
            var outcome = GeneratorHarness.Run(sources);
            var run = outcome.Run.Results.Single();
            Assert.Null(run.Exception);
            Assert.DoesNotContain(outcome.GeneratorDiagnostics, d => d.Id is "CS8785" or "MOC099");

            var compileProblems = outcome.CompileProblems.ToList();
            for (int i = 0; i < declarations.Length; i++)
            {
                var mine = outcome.MocDiagnostics.Where(d => d.Location.GetLineSpan().Path == $"Model{i}.cs").ToList();
                var errors = mine.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Id).ToList();
                var source = run.GeneratedSources.Where(s => s.HintName == $"Fuzz.M{i}.g.cs").ToList();
                var expected = ExpectedErrors(declarations[i]);
                var context = $"batch {batch}, model {i}: {sources[i]}\nMOC: {string.Join(", ", mine.Select(d => d.GetMessage(CultureInfo.InvariantCulture)))}";

                if (expected.Count == 0 && errors.SequenceEqual(new[] { "MOC017" }))
                    Assert.True(TotalsExceed64Bits(declarations[i]), "MOC017 on a model whose totals fit: " + context);
                else
                    Assert.True(expected.SetEquals(errors), $"expected [{string.Join(", ", expected)}], got [{string.Join(", ", errors)}] for {context}");

                if (errors.Count > 0)
                {
                    Assert.Empty(source);
                    refused++;
                }
                else
                {
                    Assert.Single(source);
                    var inGenerated = compileProblems.Where(d => d.Location.SourceTree?.FilePath.EndsWith($"Fuzz.M{i}.g.cs", StringComparison.Ordinal) == true);
                    Assert.True(!inGenerated.Any(), "generated code does not compile: " + string.Join("\n", inGenerated) + "\n" + context);
                    generated++;
                }
            }
            Assert.True(!compileProblems.Any(d => d.Severity == DiagnosticSeverity.Error),
                "batch " + batch + ": " + string.Join("\n", compileProblems.Take(5)));
        }
        // The generator makes both decisions many times over: the fuzz reaches both sides.
        Assert.True(generated > 300, $"only {generated} models generated");
        Assert.True(refused > 300, $"only {refused} models refused");
    }

    private static Declaration RandomDeclaration(Random random)
    {
        // Start from a plausible model, then break some of it.
        int heads = new[] { 1, 2, 4, 8 }[random.Next(4)];
        int headDim = 2 * random.Next(1, 17);
        int intermediate = random.Next(1, 300);
        var args = new Dictionary<string, string>
        {
            ["Hidden"] = Int(heads * headDim),
            ["Intermediate"] = Int(intermediate),
            ["TopK"] = Int(random.Next(1, intermediate + 1)),
            ["Layers"] = Int(random.Next(1, 5)),
            ["Heads"] = Int(heads),
            ["Context"] = Int(random.Next(1, 65)),
        };
        if (random.Next(3) == 0) args["Vocab"] = Int(random.Next(1, 600));
        if (random.Next(3) == 0) args["KvHeads"] = Int(heads >> random.Next(0, 3) is var kv && kv > 0 ? kv : 1);
        if (random.Next(3) == 0) args["Batch"] = Int(random.Next(1, 5));
        if (random.Next(4) == 0) args["TieEmbeddings"] = random.Next(2) == 0 ? "true" : "false";
        if (random.Next(4) == 0) args["Weights"] = random.Next(2) == 0 ? "WeightPrecision.BFloat16" : "WeightPrecision.Float32";

        int mutations = random.Next(0, 4);
        string[] ints = { "Vocab", "Hidden", "Intermediate", "TopK", "Layers", "Heads", "KvHeads", "Context", "Batch" };
        for (int m = 0; m < mutations; m++)
        {
            switch (random.Next(6))
            {
                case 0:
                case 1:
                    args[ints[random.Next(ints.Length)]] = Int(Interesting[random.Next(Interesting.Length)]);
                    break;
                case 2:
                    args.Remove(ints[random.Next(ints.Length)]);
                    break;
                case 3:
                    args[random.Next(2) == 0 ? "RopeTheta" : "NormEps"] = Reals[random.Next(Reals.Length)];
                    break;
                case 4:
                    args["Weights"] = $"(WeightPrecision)({random.Next(-2, 4)})";
                    break;
                default:
                    args[ints[random.Next(ints.Length)]] = Int(random.Next(-3, 100_000));
                    break;
            }
        }
        var modifiers = random.Next(20) switch
        {
            0 => "public",
            1 => "public static partial",
            _ => random.Next(2) == 0 ? "public partial" : "internal partial",
        };
        return new Declaration(args, modifiers);
    }

    private static string Int(int value) => value == int.MinValue ? "int.MinValue" : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The rules of DESIGN.md restated from scratch: which error ids this declaration must get.</summary>
    private static HashSet<string> ExpectedErrors(Declaration d)
    {
        var errors = new HashSet<string>();
        if (!d.Modifiers.Contains("partial", StringComparison.Ordinal)) errors.Add("MOC001");
        if (d.Modifiers.Contains("static", StringComparison.Ordinal)) errors.Add("MOC015");
        var a = d.Arguments;
        BigInteger? Get(string name, long fallback) => a.TryGetValue(name, out var text) ? ParseInt(text) : fallback;
        double Real(string name, double fallback) => a.TryGetValue(name, out var text) ? ParseReal(text) : fallback;

        string[] required = { "Hidden", "Intermediate", "TopK", "Layers", "Heads", "Context" };
        var missing = required.Any(r => !a.ContainsKey(r));
        if (missing) errors.Add("MOC004");
        var vocab = Get("Vocab", 256)!.Value;
        var hidden = Get("Hidden", 1)!.Value;
        var ff = Get("Intermediate", 1)!.Value;
        var k = Get("TopK", 1)!.Value;
        var layers = Get("Layers", 1)!.Value;
        var heads = Get("Heads", 1)!.Value;
        var kv = a.ContainsKey("KvHeads") ? Get("KvHeads", 0)!.Value : heads;
        var context = Get("Context", 1)!.Value;
        var batch = Get("Batch", 8)!.Value;
        var positive = new[] { vocab, hidden, ff, k, layers, heads, kv, context, batch }.All(v => v >= 1);
        if (!positive) errors.Add("MOC005");
        var theta = Real("RopeTheta", 10000);
        if (!(theta > 0) || double.IsInfinity(theta)) errors.Add("MOC012");
        var eps = Real("NormEps", 1e-5);
        if (!(eps > 0 && eps < 1)) errors.Add("MOC013");
        if (a.TryGetValue("Weights", out var w) && w.StartsWith("(WeightPrecision)", StringComparison.Ordinal))
        {
            var n = int.Parse(w.Substring("(WeightPrecision)(".Length).TrimEnd(')'), CultureInfo.InvariantCulture);
            if (n is not 0 and not 1) errors.Add("MOC014");
        }
        if (missing || !positive) return errors;

        var relational = false;
        if (layers > 4096) { errors.Add("MOC018"); relational = true; }
        if (k > ff) { errors.Add("MOC006"); relational = true; }
        if (hidden % heads != 0) { errors.Add("MOC007"); relational = true; }
        else if (hidden / heads % 2 != 0) { errors.Add("MOC009"); relational = true; }
        if (heads % kv != 0) { errors.Add("MOC008"); relational = true; }
        if (relational || errors.Count > 0) return errors;

        var limit = new BigInteger(int.MaxValue);
        var tokens = batch * context;
        var kvDim = hidden / heads * kv;
        if (new[] { vocab * hidden, ff * hidden, hidden * hidden, kvDim * hidden, tokens, tokens * vocab, tokens * ff, tokens * hidden }.Any(e => e > limit))
            errors.Add("MOC011");
        return errors;
    }

    /// <summary>Whether a valid-looking model's step FLOPs or arena bytes exceed 64 bits (then MOC017 is right).</summary>
    private static bool TotalsExceed64Bits(Declaration d)
    {
        var a = d.Arguments;
        BigInteger Get(string name, long fallback) => a.TryGetValue(name, out var text) ? ParseInt(text) : fallback;
        var hidden = Get("Hidden", 1);
        var heads = Get("Heads", 1);
        var ff = Get("Intermediate", 1);
        var layers = Get("Layers", 1);
        var context = Get("Context", 1);
        var tokens = Get("Batch", 8) * context;
        var attentionBackward = layers * 5 * Get("Batch", 8) * context * (context + 1) * hidden;
        var ffnForward = layers * tokens * 2 * hidden * (ff + 2 * Get("TopK", 1));
        var arena = layers * tokens * (16 * hidden + 8 * ff);
        var max = new BigInteger(long.MaxValue);
        return attentionBackward > max / 4 || ffnForward > max / 4 || arena > max / 4 || heads <= 0;
    }

    private static BigInteger ParseInt(string text) => text == "int.MinValue" ? int.MinValue : BigInteger.Parse(text, CultureInfo.InvariantCulture);

    private static double ParseReal(string text) => text switch
    {
        "double.Epsilon" => double.Epsilon,
        "double.NaN" => double.NaN,
        "double.PositiveInfinity" => double.PositiveInfinity,
        "double.NegativeInfinity" => double.NegativeInfinity,
        "double.MaxValue" => double.MaxValue,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };
}
