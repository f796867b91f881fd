using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using MoCGen.Checkpoints;
using MoCGen.Data;
using MoCGen.Generators.Tests;
using MoCGen.Inference;
using Xunit;

namespace MoCGen.Model.Tests;

/// <summary>
/// Publishes examples/TinyMoC.Infer with NativeAOT once (into a temporary folder, its own build tree) and runs the
/// binary as a user would: it must decode exactly the tokens the in-process decoder picks, and refuse bad input with
/// exit code 2 and a message that says what is wrong.
/// </summary>
public sealed class PublishedBinaryFixture : IDisposable
{
    public PublishedBinaryFixture()
    {
        Folder = Directory.CreateTempSubdirectory("mocgen-aot-");
        string root = RepoPaths.Root();
        var publish = Path.Combine(Folder.FullName, "publish");
        var (code, output) = DotnetProcess.Run(
            $"publish \"{Path.Combine(root, "examples", "TinyMoC.Infer", "TinyMoC.Infer.csproj")}\" -c Release -r linux-x64 -o \"{publish}\" " +
            $"--artifacts-path \"{Path.Combine(Folder.FullName, "build")}\" -nologo", root);
        PublishOutput = output;
        Binary = Path.Combine(publish, "tinymoc");
        Published = code == 0 && File.Exists(Binary);

        // A checkpoint of TinyMoC's shapes with small random weights (the layout is all the binary checks).
        var parameters = RandomParameters(TinyMoCExample.TinyMoC.Plan, 7);
        Checkpoint = Path.Combine(Folder.FullName, "tinymoc.safetensors");
        ModelCheckpoint.Save(Checkpoint, TinyMoCExample.TinyMoC.Plan, parameters, new CheckpointOptions { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed });
        Parameters = parameters;
    }

    public DirectoryInfo Folder { get; }
    public string Binary { get; }
    public bool Published { get; }
    public string PublishOutput { get; }
    public string Checkpoint { get; }
    public float[] Parameters { get; }

    public static float[] RandomParameters(CompiledPlan plan, int seed)
    {
        var random = new Random(seed);
        var parameters = new float[plan.ParameterCount];
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)((random.NextDouble() * 2 - 1) * 0.08);
        foreach (var p in plan.Parameters.Where(p => p.Columns == 0)) Array.Fill(parameters, 1f, (int)p.Offset, (int)p.Elements);
        return parameters;
    }

    public (int ExitCode, string Stdout, string Stderr) Run(params string[] arguments) => RunWithLibraryPath(null, arguments);

    /// <summary>Runs the binary with <paramref name="libraryPath"/> (where not null) as LD_LIBRARY_PATH.</summary>
    public (int ExitCode, string Stdout, string Stderr) RunWithLibraryPath(string? libraryPath, params string[] arguments)
    {
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8 };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        if (libraryPath is not null) start.Environment["LD_LIBRARY_PATH"] = libraryPath;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("the published binary ran over a minute");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose()
    {
        try { Folder.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>TinyMoC with a larger vocabulary: same layer shapes, different embedding and LM head.</summary>
[MoCModel(Vocab = 300, Hidden = 256, Intermediate = 704, TopK = 88, Layers = 4, Heads = 4, KvHeads = 4, Context = 256, Batch = 8)]
public partial class TinyMoCVocab300;

public sealed class PublishedBinaryTests(PublishedBinaryFixture binary) : IClassFixture<PublishedBinaryFixture>
{
    private void RequirePublished() =>
        Assert.True(binary.Published, "dotnet publish -r linux-x64 (NativeAOT) failed:\n" + binary.PublishOutput);

    [Fact]
    public void PublishesOneSmallNativeExecutable()
    {
        RequirePublished();
        var size = new FileInfo(binary.Binary).Length;
        Assert.True(size < 15L * 1024 * 1024, $"the binary is {size / 1048576.0:F1} MiB; the target is under 15 MiB");
        // One native executable: no managed assemblies beside it.
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(binary.Binary)!, "*.dll"));
    }

    [Fact]
    public void GreedyDecodingEqualsTheInProcessDecoder()
    {
        RequirePublished();
        const string prompt = "Gets the ";
        const int tokens = 40;
        var (code, stdout, stderr) = binary.Run("--checkpoint", binary.Checkpoint, "--prompt", prompt, "--max-tokens", tokens.ToString(),
            "--temperature", "0", "--device", "cpu", "--stats");
        Assert.True(code == 0, stderr);

        var session = TinyMoCExample.TinyMoC.CreateDecodeSession(binary.Parameters);
        var sampler = new TokenSampler();
        var decoder = ByteTokenizer.Instance.CreateStreamDecoder();
        var expected = new StringBuilder(prompt);
        ReadOnlySpan<float> logits = default;
        foreach (var t in ByteTokenizer.Instance.Encode(prompt)) logits = session.Append(t);
        for (int i = 0; i < tokens; i++)
        {
            int next = sampler.Next(logits);
            expected.Append(decoder.Push(next));
            if (i + 1 < tokens) logits = session.Append(next);
        }
        expected.Append(decoder.Flush());
        Assert.Equal(expected.ToString(), stdout.TrimEnd('\n'));

        using var stats = JsonDocument.Parse(stderr.Trim().Split('\n').Last());
        Assert.Equal("TinyMoC", stats.RootElement.GetProperty("model").GetString());
        Assert.Equal("cpu", stats.RootElement.GetProperty("device").GetString());
        Assert.Equal(tokens, stats.RootElement.GetProperty("tokens").GetInt32());
        Assert.True(stats.RootElement.GetProperty("tokens_per_s").GetDouble() > 0);
    }

    /// <summary>
    /// <c>--device cuda</c> with no GPU, on the CPU driver (<c>mocgen cuda-cpu</c> from the example's own model file): the
    /// binary loads it as the NVIDIA driver, JIT-loads its PTX (every kernel must be one the driver was built with) and
    /// decodes through GpuDecodeSession and the generated CUDA kernels; greedy, it must pick the tokens its CPU path picks.
    /// </summary>
    [Fact]
    public void OnTheCpuDriverTheCudaPathDecodesWhatTheCpuPathDoes()
    {
        RequirePublished();
        if (MoCGen.Compiler.Cuda.CpuDriver.Find() is null)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "CI=true but no clang++ is on PATH (.ci/run installs clang-14)");
            return;
        }
        var driver = Path.Combine(binary.Folder.FullName, "cpu-driver");
        using (var log = new StringWriter())
            Assert.True(MoCGen.Cli.Program.Run(["cuda-cpu", Path.Combine(RepoPaths.Root(), "examples", "TinyMoC", "TinyMoC.cs"), "--out", driver], log, log) == 0,
                log.ToString());
        string[] args = ["--checkpoint", binary.Checkpoint, "--prompt", "Gets the ", "--max-tokens", "24", "--temperature", "0", "--stats"];

        var cpu = binary.Run([.. args, "--device", "cpu"]);
        var cuda = binary.RunWithLibraryPath(driver, [.. args, "--device", "cuda"]);

        Assert.True(cpu.ExitCode == 0, cpu.Stderr);
        Assert.True(cuda.ExitCode == 0, cuda.Stderr);
        Assert.Equal(cpu.Stdout, cuda.Stdout);
        using var stats = JsonDocument.Parse(cuda.Stderr.Trim().Split('\n').Last());
        Assert.Equal("cuda", stats.RootElement.GetProperty("device").GetString());
        Assert.Equal(24, stats.RootElement.GetProperty("tokens").GetInt32());

        // auto takes the GPU path where a driver answers (and the CPU path where none does, as above).
        var auto = binary.RunWithLibraryPath(driver, "--checkpoint", binary.Checkpoint, "--prompt", "Gets ", "--max-tokens", "2", "--stats", "--device", "auto");
        Assert.True(auto.ExitCode == 0, auto.Stderr);
        using var autoStats = JsonDocument.Parse(auto.Stderr.Trim().Split('\n').Last());
        Assert.Equal("cuda", autoStats.RootElement.GetProperty("device").GetString());
    }

    [Fact]
    public void SampledDecodingIsReproducibleForASeed()
    {
        RequirePublished();
        string[] args = ["--checkpoint", binary.Checkpoint, "--prompt", "The ", "--max-tokens", "30", "--temperature", "1.0", "--top-p", "0.9", "--seed", "5"];
        var first = binary.Run(args);
        var second = binary.Run(args);
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Equal(first.Stdout, second.Stdout);
        Assert.StartsWith("The ", first.Stdout);
    }

    [Fact]
    public void MissingCheckpointIsAClearError()
    {
        RequirePublished();
        var missing = Path.Combine(binary.Folder.FullName, "nope.safetensors");
        var (code, _, stderr) = binary.Run("--checkpoint", missing);
        Assert.Equal(2, code);
        Assert.Contains("nope.safetensors' was not found", stderr);
    }

    [Fact]
    public void CheckpointOfAnotherModelNamesBothModels()
    {
        RequirePublished();
        var other = Path.Combine(binary.Folder.FullName, "other.safetensors");
        ModelCheckpoint.Save(other, TrainableModel.Plan, PublishedBinaryFixture.RandomParameters(TrainableModel.Plan, 3),
            new CheckpointOptions { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed });
        var (code, _, stderr) = binary.Run("--checkpoint", other);
        Assert.Equal(2, code);
        Assert.True(stderr.Contains("checkpoint is for Hidden=32") && stderr.Contains("this model has Hidden=256") && stderr.Contains("TrainableModel"), stderr);
    }

    [Fact]
    public void CheckpointWithAnotherTensorShapeNamesTheTensorAndBothShapes()
    {
        RequirePublished();
        // A file without MoCGen metadata (as other tools write them): only the tensors can tell it is another model.
        var other = Path.Combine(binary.Folder.FullName, "vocab300.safetensors");
        var plan = TinyMoCVocab300.Plan;
        using (var writer = SafeTensorsWriter.Create(other, plan.Parameters.Select(p => new TensorSpec(p.Name, SafeTensorDType.F32, p.Shape)).ToList()))
        {
            foreach (var p in plan.Parameters) writer.WriteTensor(p.Name, new float[p.Elements]);
            writer.Commit();
        }
        var (code, _, stderr) = binary.Run("--checkpoint", other);
        Assert.Equal(2, code);
        Assert.True(stderr.Contains("model.embed_tokens.weight") && stderr.Contains("300") && stderr.Contains("[256, 256]"), stderr);
    }

    [Fact]
    public void PromptLongerThanTheContextIsRefused()
    {
        RequirePublished();
        var (code, _, stderr) = binary.Run("--checkpoint", binary.Checkpoint, "--prompt", new string('a', 300));
        Assert.Equal(2, code);
        Assert.Contains("The prompt is 300 tokens; TinyMoC's context is 256", stderr);
    }

    [Fact]
    public void CudaDemandedWithoutAGpuIsRefused()
    {
        RequirePublished();
        var (code, _, stderr) = binary.Run("--checkpoint", binary.Checkpoint, "--device", "cuda");
        Assert.Equal(2, code);
        // The binary carries its kernels (PTX compiled at build time by clang, which CI installs), so what it lacks here is
        // the driver; a build without kernels would say so instead.
        Assert.True(stderr.Contains("--device cuda") && stderr.Contains("No NVIDIA driver found"), stderr);
    }

    [Fact]
    public void AutoFallsBackToTheCpuWithoutAGpu()
    {
        RequirePublished();
        var (code, _, stderr) = binary.Run("--checkpoint", binary.Checkpoint, "--device", "auto", "--max-tokens", "5", "--stats");
        Assert.True(code == 0, stderr);
        using var stats = JsonDocument.Parse(stderr.Trim().Split('\n').Last());
        Assert.Equal("cpu", stats.RootElement.GetProperty("device").GetString());
    }

    [Fact]
    public void UnknownOptionListsTheOptions()
    {
        RequirePublished();
        var (code, _, stderr) = binary.Run("--temprature", "1");
        Assert.Equal(2, code);
        Assert.Contains("Unknown option '--temprature'", stderr);
    }
}
