using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using MoCGen.Compiler.Cuda;
using MoCGen.Cuda;
using MoCGen.GpuCheck;
using Xunit;

namespace MoCGen.Cuda.Tests;

/// <summary>mocgen-gpucheck (Tests/MoCGen.GpuCheck) without a GPU: it carries its models' PTX and, with no driver, exits 3 saying why.</summary>
public sealed class GpuCheckTests
{
    private static readonly string[] Models = { "Ffn200", "Ffn200Dense", "SmallDecoder", "SmallDecoderBf16", "Llama7BFfnBf16", "Llama7BFfn" };
    private static readonly string[] Units = { "FeedForward", "FeedForwardDecode", "FeedForwardBackward", "Decoder" };

    [Fact]
    public void TheHarnessCarriesThePtxOfEveryUnitOfEveryModel()
    {
        if (PtxToolchain.Find() is null) return; // built where no CUDA compiler is: the build only warns

        var assembly = typeof(GpuCheckApp).Assembly;
        var names = assembly.GetManifestResourceNames();
        foreach (var model in Models)
        foreach (var unit in Units)
        {
            string name = $"ptx/MoCGen.GpuCheck.{model}.{unit}.ptx";
            Assert.Contains(name, names);
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            Assert.Contains(".entry mocgen_" + model + "_", reader.ReadToEnd());
        }
        Assert.Equal(Models.Length * Units.Length, names.Count(n => n.StartsWith("ptx/", StringComparison.Ordinal)));
    }

    [Fact]
    public void WithoutADriverItExitsWith3AndSaysWhy()
    {
        if (NativeLibrary.TryLoad("libcuda.so.1", out var driver))
        {
            NativeLibrary.Free(driver);
            return; // a machine with the driver would run the checks
        }
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        Assert.Equal(GpuCheckApp.NoGpu, GpuCheckApp.Run(new[] { "--check" }, stdout, stderr));
        Assert.Contains(CudaDevice.NoDriverMessage, stderr.ToString());
    }

    [Fact]
    public void AnUnknownOptionIsAUsageError()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        Assert.Equal(2, GpuCheckApp.Run(new[] { "--fast" }, stdout, stderr));
        Assert.Contains("Unknown option '--fast'", stderr.ToString());
        Assert.Contains("--repeats", stderr.ToString());
    }
}
