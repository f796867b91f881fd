using System;
using System.Globalization;
using System.IO;

namespace MoCGen.GpuCheck;

/// <summary>The comparisons of one check: how many, the largest |error| / tolerance and where, the failures.</summary>
internal sealed class Tally
{
    /// <summary>Values compared.</summary>
    public long Count { get; private set; }

    /// <summary>Values outside their tolerance (or unequal where equality is required).</summary>
    public long Failures { get; private set; }

    /// <summary>The largest |error| / tolerance.</summary>
    public double WorstRatio { get; private set; }

    /// <summary>Where <see cref="WorstRatio"/> was seen.</summary>
    public string WorstAt { get; private set; } = "-";

    /// <summary>The first failure, in words.</summary>
    public string? FirstFailure { get; private set; }

    /// <summary>|expected - actual| &lt;= tolerance for element <paramref name="index"/> of <paramref name="name"/>
    /// (a matrix of rows of <paramref name="stride"/> elements, for the message).</summary>
    public void Near(double expected, double actual, double tolerance, string name, long index, int stride)
    {
        Count++;
        double error = Math.Abs(expected - actual);
        if (!(error <= tolerance))
        {
            Failures++;
            FirstFailure ??= string.Create(CultureInfo.InvariantCulture,
                $"{At(name, index, stride)} = {actual:G9}, expected {expected:G9} (|error| {error:G3}, tolerance {tolerance:G3})");
        }
        double ratio = error / tolerance;
        if (ratio > WorstRatio)
        {
            WorstRatio = ratio;
            WorstAt = At(name, index, stride);
        }
    }

    /// <summary>A value that must match exactly (an index, a gate value that is exact in fp32).</summary>
    public void Exact(bool equal, Func<string> what)
    {
        Count++;
        if (equal) return;
        Failures++;
        FirstFailure ??= what();
    }

    private static string At(string name, long index, int stride) => stride <= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{name}[{index}]")
        : string.Create(CultureInfo.InvariantCulture, $"{name}[{index / stride},{index % stride}]");
}

/// <summary>Prints one line per check and counts the failures.</summary>
internal sealed class Report(TextWriter output)
{
    /// <summary>Checks that failed (or threw).</summary>
    public int Failed { get; private set; }

    /// <summary>Checks run.</summary>
    public int Run { get; private set; }

    /// <summary>Runs <paramref name="check"/> and prints PASS or FAIL with its worst |error| / tolerance; an exception is a FAIL.</summary>
    public void Check(string name, string tolerance, Func<Tally> check)
    {
        Run++;
        var started = DateTime.UtcNow;
        try
        {
            var t = check();
            bool pass = t.Failures == 0 && t.Count > 0;
            if (!pass) Failed++;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(pass ? "PASS" : "FAIL")}  {name}: {t.Count} values, worst |error|/tolerance {t.WorstRatio:F4} at {t.WorstAt}; tolerance {tolerance} ({(DateTime.UtcNow - started).TotalSeconds:F1} s)"));
            if (!pass) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      {t.Failures} of {t.Count} wrong; first: {t.FirstFailure ?? "nothing compared"}"));
        }
        catch (Exception e)
        {
            Failed++;
            output.WriteLine($"FAIL  {name}: {e.GetType().Name}: {e.Message}");
        }
        output.Flush();
    }
}
