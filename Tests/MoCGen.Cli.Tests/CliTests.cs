using System;
using System.IO;
using System.Linq;
using Xunit;

namespace MoCGen.Cli.Tests;

public sealed class CliTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static string Model(string arguments, string name = "M") =>
        $"using MoCGen;\nnamespace Demo;\n\n[MoCModel({arguments})]\npublic partial class {name};\n";

    [Fact]
    public void InspectPrintsThePlanOfTinyMoC()
    {
        var result = CliHarness.Run("inspect", CliHarness.TinyMoC);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal("", result.Stderr);
        Assert.StartsWith("Model TinyMoCExample.TinyMoC: Mixture-of-Channels, Top-88 of 704 channels", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Parameters: 3,344,640 ", result.Stdout, StringComparison.Ordinal);
        // Activations per token per layer: dense SwiGLU keeps 5,632 bytes in the feed-forward block, MoC 880.
        // (The file also declares the dense twin, whose report follows; the first such line is TinyMoC's.)
        var feedForward = result.Stdout.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("feed-forward ", StringComparison.Ordinal));
        Assert.Contains("\n\nModel TinyMoCExample.TinyDense: dense SwiGLU twin", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(new[] { "feed-forward", "5,632", "880", "0.156" }, feedForward.Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void InspectSeparatesModelsWithABlankLine()
    {
        var file = temp.Write("Two.cs", Model("Hidden = 64, Intermediate = 128, TopK = 16, Layers = 1, Heads = 2, Context = 16", "A")
            + "\n[MoCModel(Hidden = 64, Intermediate = 128, TopK = 128, Layers = 1, Heads = 2, Context = 16)]\npublic partial class B;\n");

        var result = CliHarness.Run("inspect", file);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.StartsWith("Model Demo.A: ", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("\n\nModel Demo.B: dense SwiGLU twin", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectReportsAnInvalidArgumentWhereItIsWritten()
    {
        var file = temp.Write("Bad.cs",
            "using MoCGen;\nnamespace Demo;\n\n[MoCModel(Hidden = 64, Intermediate = 704,\n          TopK = 900, Layers = 1, Heads = 2, Context = 16)]\npublic partial class Bad;\n");

        var result = CliHarness.Run("inspect", file);

        Assert.Equal(ExitCodes.ModelErrors, result.ExitCode);
        Assert.Equal("", result.Stdout);
        // Line 5, column 11: where "TopK = 900" starts.
        Assert.StartsWith($"{file}(5,11): error MOC006: TopK (900) cannot exceed Intermediate (704)", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectPointsClassProblemsAtTheClassName()
    {
        var file = temp.Write("NotPartial.cs",
            "using MoCGen;\nnamespace Demo;\n\n[MoCModel(Hidden = 64, Intermediate = 128, TopK = 16, Layers = 1, Heads = 2, Context = 16)]\npublic class Whole;\n");

        var result = CliHarness.Run("inspect", file);

        Assert.Equal(ExitCodes.ModelErrors, result.ExitCode);
        Assert.StartsWith($"{file}(5,14): error MOC001: ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectPrintsInfoWithoutFailing()
    {
        var file = temp.Write("Wide.cs", Model("Hidden = 64, Intermediate = 70000, TopK = 8, Layers = 1, Heads = 2, Context = 16"));

        var result = CliHarness.Run("inspect", file);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.StartsWith($"{file}(4,", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("): info MOC010: Intermediate (70000) exceeds 65536", result.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("Model Demo.M: ", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFileIsBadInput()
    {
        var result = CliHarness.Run("inspect", "no-such-model.cs");

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Equal("mocgen: file 'no-such-model.cs' not found", result.Stderr.TrimEnd());
    }

    [Fact]
    public void FileWithoutModelIsBadInput()
    {
        var file = temp.Write("Plain.cs", "namespace Demo;\n\npublic class Plain { }\n");

        var result = CliHarness.Run("inspect", file);

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Equal($"mocgen: no [MoCModel] class in {file}", result.Stderr.TrimEnd());
    }

    [Fact]
    public void UsageErrorsAreBadInput()
    {
        Assert.Equal(ExitCodes.BadInput, CliHarness.Run().ExitCode);
        Assert.Equal(ExitCodes.BadInput, CliHarness.Run("inspect").ExitCode);
        Assert.Equal(ExitCodes.BadInput, CliHarness.Run("emit", CliHarness.TinyMoC).ExitCode); // --out is required
    }

    [Fact]
    public void EmitWritesTheGeneratedSourceUnderItsHintName()
    {
        var outDir = Path.Combine(temp.Path, "out", "nested");

        var result = CliHarness.Run("emit", CliHarness.TinyMoC, "--out", outDir);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal("", result.Stderr);
        var path = Path.Combine(outDir, "TinyMoCExample.TinyMoC.g.cs");
        var twin = Path.Combine(outDir, "TinyMoCExample.TinyDense.g.cs");
        // Each model also gets its CUDA carrier, <Model>.Cuda.g.cs (the kernels' CUDA C and launch table).
        var cuda = Path.Combine(outDir, "TinyMoCExample.TinyMoC.Cuda.g.cs");
        var twinCuda = Path.Combine(outDir, "TinyMoCExample.TinyDense.Cuda.g.cs");
        var all = new[] { twin, twinCuda, path, cuda }.Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(all.Select(p => "wrote " + p), result.Stdout.TrimEnd().Split('\n').Select(l => l.TrimEnd()).OrderBy(l => l, StringComparer.Ordinal));
        Assert.Contains("public const int TopK = 88;", File.ReadAllText(path), StringComparison.Ordinal);
        Assert.Contains("public const int TopK = 704;", File.ReadAllText(twin), StringComparison.Ordinal);
        Assert.Equal(all, Directory.GetFiles(outDir).Order(StringComparer.Ordinal)); // no temporary files left behind
    }

    [Fact]
    public void EmitOverwritesAnEarlierOutput()
    {
        var outDir = Path.Combine(temp.Path, "out");
        var path = Path.Combine(outDir, "TinyMoCExample.TinyMoC.g.cs");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(path, "stale");

        var result = CliHarness.Run("emit", CliHarness.TinyMoC, "-o", outDir);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Contains("public const int TopK = 88;", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void EmitReportsDiagnosticsAndWritesNothingForAnInvalidModel()
    {
        var file = temp.Write("Bad.cs", Model("Hidden = 64, Intermediate = 704, TopK = 900, Layers = 1, Heads = 2, Context = 16"));
        var outDir = Path.Combine(temp.Path, "out");

        var result = CliHarness.Run("emit", file, "--out", outDir);

        Assert.Equal(ExitCodes.ModelErrors, result.ExitCode);
        // "[MoCModel(Hidden = 64, Intermediate = 704, " is 43 characters: TopK starts in column 44.
        Assert.StartsWith($"{file}(4,44): error MOC006: ", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }
}
