using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>One test per MOC diagnostic: id, severity, message, and the exact text it points at.</summary>
public sealed class DiagnosticTests
{
    private const string Valid = "Hidden = 64, Intermediate = 128, TopK = 16, Layers = 2, Heads = 4, Context = 32";

    private static Diagnostic Single(string source, string id, out string located)
    {
        var sources = new[] { source };
        var outcome = GeneratorHarness.Run(sources);
        var diagnostic = Assert.Single(outcome.MocDiagnostics, d => d.Id == id);
        located = GeneratorHarness.LocatedText(diagnostic, sources);
        return diagnostic;
    }

    private static void AssertNoSource(string source)
    {
        var outcome = GeneratorHarness.Run(source);
        Assert.Empty(outcome.Run.Results.Single().GeneratedSources);
        Assert.Null(outcome.Run.Results.Single().Exception);
    }

    [Fact]
    public void MOC001_ClassNotPartial()
    {
        var source = $"using MoCGen;\nnamespace Demo;\n[MoCModel({Valid})]\npublic class Plain;\n";
        var d = Single(source, "MOC001", out var located);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Equal("Model class 'Plain' must be declared partial: the generator writes the other half of the class. Add the 'partial' modifier.", d.GetMessage());
        Assert.Equal("Plain", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC002_NestedClass()
    {
        var source = $"using MoCGen;\nnamespace Demo;\npublic partial class Outer\n{{\n    [MoCModel({Valid})]\n    public partial class Inner {{ }}\n}}\n";
        var d = Single(source, "MOC002", out var located);
        Assert.Equal("Model class 'Inner' is nested inside 'Outer'; [MoCModel] classes must be declared directly in a namespace. Move it out of 'Outer'.", d.GetMessage());
        Assert.Equal("Inner", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC003_GenericClass()
    {
        var source = $"using MoCGen;\nnamespace Demo;\n[MoCModel({Valid})]\npublic partial class Gen<T> {{ }}\n";
        var d = Single(source, "MOC003", out var located);
        Assert.Contains("'Gen' has type parameters", d.GetMessage());
        Assert.Equal("Gen", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC004_MissingRequiredArgument()
    {
        var source = GeneratorHarness.Model("Hidden = 64, Intermediate = 128, Layers = 2, Heads = 4, Context = 32");
        var d = Single(source, "MOC004", out var located);
        Assert.Equal("[MoCModel] on 'M' must set TopK, which has no default. Add 'TopK = <value>' to the attribute.", d.GetMessage());
        Assert.StartsWith("MoCModel(", located);
        AssertNoSource(source);
    }

    [Theory]
    [InlineData("Hidden = 0, Intermediate = 128, TopK = 16, Layers = 2, Heads = 4, Context = 32", "Hidden = 0", "Hidden must be at least 1, but is 0.")]
    [InlineData("Hidden = 64, Intermediate = 128, TopK = -3, Layers = 2, Heads = 4, Context = 32", "TopK = -3", "TopK must be at least 1, but is -3.")]
    [InlineData("Vocab = 0, " + Valid, "Vocab = 0", "Vocab must be at least 1, but is 0.")]
    [InlineData(Valid + ", KvHeads = 0", "KvHeads = 0", "KvHeads must be at least 1, but is 0.")]
    [InlineData(Valid + ", Batch = -1", "Batch = -1", "Batch must be at least 1, but is -1.")]
    [InlineData("Hidden = 64, Intermediate = 128, TopK = 16, Layers = -2147483648, Heads = 4, Context = 32", "Layers = -2147483648", "Layers must be at least 1, but is -2147483648.")]
    public void MOC005_SizeNotPositive(string arguments, string expectedLocation, string expectedMessage)
    {
        var source = GeneratorHarness.Model(arguments);
        var d = Single(source, "MOC005", out var located);
        Assert.Equal(expectedMessage, d.GetMessage());
        Assert.Equal(expectedLocation, located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC006_TopKAboveIntermediate()
    {
        var source = GeneratorHarness.Model("Hidden = 256, Intermediate = 704, TopK = 900, Layers = 4, Heads = 4, Context = 256");
        var d = Single(source, "MOC006", out var located);
        Assert.Equal("TopK (900) cannot exceed Intermediate (704): a token cannot select more channels than the feed-forward block has. Use TopK <= 704 (TopK = 704 declares the dense SwiGLU twin).", d.GetMessage());
        Assert.Equal("TopK = 900", located);
        Assert.Equal(4, d.Location.GetLineSpan().StartLinePosition.Line + 1);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC007_HiddenNotDivisibleByHeads()
    {
        var source = GeneratorHarness.Model("Hidden = 100, Intermediate = 128, TopK = 16, Layers = 2, Heads = 8, Context = 32");
        var d = Single(source, "MOC007", out var located);
        Assert.Equal("Hidden (100) must be divisible by Heads (8) so that every attention head has the same width; 100 / 8 leaves a remainder of 4.", d.GetMessage());
        Assert.Equal("Heads = 8", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC008_HeadsNotDivisibleByKvHeads()
    {
        var source = GeneratorHarness.Model(Valid + ", KvHeads = 3");
        var d = Single(source, "MOC008", out var located);
        Assert.Equal("Heads (4) must be divisible by KvHeads (3) so that every key/value head serves the same number of query heads; 4 / 3 leaves a remainder of 1.", d.GetMessage());
        Assert.Equal("KvHeads = 3", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC009_OddHeadDimension()
    {
        var source = GeneratorHarness.Model("Hidden = 60, Intermediate = 128, TopK = 16, Layers = 2, Heads = 4, Context = 32");
        var d = Single(source, "MOC009", out var located);
        Assert.Equal("The head dimension Hidden / Heads = 60 / 4 = 15 is odd; rotary position embedding rotates pairs of dimensions, so it must be even. Choose Hidden and Heads whose quotient is even.", d.GetMessage());
        Assert.Equal("Heads = 4", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC010_WideIntermediateChoosesThirtyTwoBitIndicesAndStillGenerates()
    {
        var source = GeneratorHarness.Model("Vocab = 16, Hidden = 8, Intermediate = 70000, TopK = 8, Layers = 1, Heads = 2, Context = 4, Batch = 1");
        var d = Single(source, "MOC010", out var located);
        Assert.Equal(DiagnosticSeverity.Info, d.Severity);
        Assert.Equal("Intermediate (70000) exceeds 65536, so the selected channel indices kept for backward are stored as 32-bit integers (4 bytes per selected channel instead of 2).", d.GetMessage());
        Assert.Equal("Intermediate = 70000", located);
        var outcome = GeneratorHarness.Run(source);
        Assert.Contains("public const int ChannelIndexBytes = 4;", outcome.Source("Demo.M.g.cs"));
        Assert.Empty(outcome.CompileProblems);
    }

    [Theory]
    [InlineData("Vocab = 2000000, Hidden = 4096, Intermediate = 128, TopK = 16, Layers = 2, Heads = 4, Context = 32", "Vocab = 2000000", "The token embedding (Vocab x Hidden) has 8192000000 elements")]
    [InlineData("Hidden = 64, Intermediate = 128, TopK = 16, Layers = 2, Heads = 4, Context = 65536, Batch = 65536", "Batch = 65536", "A training step (Batch x Context tokens) has 4294967296 elements")]
    public void MOC011_BufferTooLarge(string arguments, string expectedLocation, string expectedStart)
    {
        var source = GeneratorHarness.Model(arguments);
        var d = Single(source, "MOC011", out var located);
        Assert.StartsWith(expectedStart, d.GetMessage());
        Assert.Equal(expectedLocation, located);
        AssertNoSource(source);
    }

    [Theory]
    [InlineData("RopeTheta = 0", "RopeTheta must be a finite number greater than 0, but is 0.")]
    [InlineData("RopeTheta = double.NaN", "RopeTheta must be a finite number greater than 0, but is NaN.")]
    [InlineData("RopeTheta = double.PositiveInfinity", "RopeTheta must be a finite number greater than 0, but is Infinity.")]
    public void MOC012_InvalidRopeTheta(string argument, string expectedMessage)
    {
        var source = GeneratorHarness.Model(Valid + ", " + argument);
        var d = Single(source, "MOC012", out var located);
        Assert.Equal(expectedMessage, d.GetMessage());
        Assert.Equal(argument, located);
        AssertNoSource(source);
    }

    [Theory]
    [InlineData("NormEps = 0")]
    [InlineData("NormEps = -1e-5")]
    [InlineData("NormEps = 1.5")]
    public void MOC013_InvalidNormEps(string argument)
    {
        var source = GeneratorHarness.Model(Valid + ", " + argument);
        var d = Single(source, "MOC013", out var located);
        Assert.StartsWith("NormEps must be a finite number greater than 0 and less than 1, but is ", d.GetMessage());
        Assert.Equal(argument, located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC014_UnknownWeightPrecision()
    {
        var source = GeneratorHarness.Model(Valid + ", Weights = (WeightPrecision)7");
        var d = Single(source, "MOC014", out var located);
        Assert.Equal("Weights = 7 is not a WeightPrecision value; use WeightPrecision.Float32 or WeightPrecision.BFloat16.", d.GetMessage());
        Assert.Equal("Weights = (WeightPrecision)7", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC015_StaticClass()
    {
        var source = $"using MoCGen;\nnamespace Demo;\n[MoCModel({Valid})]\npublic static partial class Holder {{ }}\n";
        var d = Single(source, "MOC015", out var located);
        Assert.Contains("'Holder' is static", d.GetMessage());
        Assert.Equal("Holder", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC016_RecordClass()
    {
        var source = $"using MoCGen;\nnamespace Demo;\n[MoCModel({Valid})]\npublic partial record Rec;\n";
        var d = Single(source, "MOC016", out var located);
        Assert.Equal("Model 'Rec' is a record; declare it as a 'partial class' instead.", d.GetMessage());
        Assert.Equal("Rec", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC017_TotalsOverflow()
    {
        // Every buffer fits an int, but causal attention over a million-token context in 4096 layers
        // needs more than 2^63 FLOPs per step.
        var source = GeneratorHarness.Model("Hidden = 1024, Intermediate = 64, TopK = 8, Layers = 4096, Heads = 8, Context = 1048576, Batch = 1");
        var d = Single(source, "MOC017", out var located);
        Assert.Equal("The training-step memory plan or FLOP count of model 'M' overflows a 64-bit count. Reduce its sizes.", d.GetMessage());
        Assert.StartsWith("MoCModel(", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC018_TooManyLayers()
    {
        var source = GeneratorHarness.Model("Hidden = 64, Intermediate = 128, TopK = 16, Layers = 2147483647, Heads = 4, Context = 32");
        var d = Single(source, "MOC018", out var located);
        Assert.Equal("Layers (2147483647) exceeds the supported maximum of 4096. Use at most 4096 layers.", d.GetMessage());
        Assert.Equal("Layers = 2147483647", located);
        AssertNoSource(source);
    }

    [Fact]
    public void MOC019_KernelSharedMemoryOverTheLimitWarnsAndStillGenerates()
    {
        // One attention head of 8192: the decode attention kernel keeps the query and a partial output (2 x 8192 floats)
        // with a 256-score chunk and 128 partial sums in shared memory: (16384 + 384) x 4 bytes, above 48 KiB.
        var source = GeneratorHarness.Model("Vocab = 256, Hidden = 8192, Intermediate = 28672, TopK = 3584, Layers = 1, Heads = 1, Context = 16, Batch = 1");
        var d = Single(source, "MOC019", out var located);
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.Equal("The CUDA kernel mocgen_M_dec_attention of model 'M' needs 67072 bytes of static shared memory per block, more than the 49152 every GPU allows; the model builds and runs on CPU, but its GPU kernels will not load. The size grows with Hidden / Heads.", d.GetMessage());
        Assert.StartsWith("MoCModel(", located);
        var outcome = GeneratorHarness.Run(source);
        Assert.Contains("public const int Hidden = 8192;", outcome.Source("Demo.M.g.cs"));
        Assert.Empty(outcome.CompileProblems);

        // LLaMA-7B and -70B-sized blocks are within the limit: the feed-forward kernels stage fixed tiles whatever d and K.
        foreach (var model in new[] { "Hidden = 4096, Intermediate = 11008, TopK = 1376, Layers = 1, Heads = 32",
                     "Hidden = 8192, Intermediate = 28672, TopK = 3584, Layers = 1, Heads = 64, KvHeads = 8" })
        {
            var fits = GeneratorHarness.Run(GeneratorHarness.Model("Vocab = 256, " + model + ", Context = 16, Batch = 1"));
            Assert.DoesNotContain(fits.MocDiagnostics, x => x.Id == "MOC019");
        }
    }

    [Fact]
    public void EveryCatalogedIdIsRecordedInAnalyzerReleases()
    {
        var root = RepoPaths.Root();
        var releases = System.IO.File.ReadAllText(System.IO.Path.Combine(root, "Generators", "AnalyzerReleases.Unshipped.md"))
                       + System.IO.File.ReadAllText(System.IO.Path.Combine(root, "Generators", "AnalyzerReleases.Shipped.md"));
        foreach (var kind in MoCGen.Compiler.Validation.DiagnosticCatalog.All)
            Assert.Contains($"{kind.Id} | MoCGen | {kind.Severity} | {kind.Title}", releases);
    }

    [Fact]
    public void SeveralProblemsAreAllReportedAtOnce()
    {
        var source = "using MoCGen;\nnamespace Demo;\n[MoCModel(Hidden = 64, Intermediate = 128, TopK = 0, Layers = 2, Heads = 4, Context = 32, RopeTheta = -1)]\npublic class Both;\n";
        var outcome = GeneratorHarness.Run(source);
        Assert.Equal(new[] { "MOC001", "MOC005", "MOC012" }, outcome.MocDiagnostics.Select(d => d.Id).OrderBy(i => i));
    }

    [Fact]
    public void AttributeThatDoesNotCompileIsLeftToTheCompiler()
    {
        var source = GeneratorHarness.Model("Hidden = \"wide\", Intermediate = 128, TopK = 16, Layers = 2, Heads = 4, Context = 32");
        var outcome = GeneratorHarness.Run(source);
        Assert.Empty(outcome.MocDiagnostics);
        Assert.Contains(outcome.Output.GetDiagnostics(), d => d.Id == "CS0029");
        Assert.Null(outcome.Run.Results.Single().Exception);
    }
}

public sealed class DescriptorTests
{
    [Fact]
    public void EveryCatalogEntryHasARoslynDescriptorWithTheSameText()
    {
        var catalog = MoCGen.Compiler.Validation.DiagnosticCatalog.All;
        Assert.Equal(catalog.Select(k => k.Id), DiagnosticDescriptors.All.Select(d => d.Id));
        foreach (var kind in catalog)
        {
            var descriptor = DiagnosticDescriptors.Get(kind.Id);
            Assert.Equal(kind.MessageFormat, descriptor.MessageFormat.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(kind.Title, descriptor.Title.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal(catalog.Count, catalog.Select(k => k.Id).Distinct().Count());
    }
}
