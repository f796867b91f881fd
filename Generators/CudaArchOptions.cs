using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MoCGen.Generators;

/// <summary>
/// Analyzer options that carry only <c>build_property.MoCGenCudaArch</c>: how a driver outside MSBuild (the mocgen
/// command line, tests) tells the generator which GPU architecture to plan the CUDA kernels for.
/// </summary>
public sealed class CudaArchOptions : AnalyzerConfigOptionsProvider
{
    private readonly Options global;

    /// <summary>Options naming <paramref name="arch"/> (e.g. sm_90).</summary>
    public CudaArchOptions(string arch) => global = new Options(arch);

    /// <inheritdoc/>
    public override AnalyzerConfigOptions GlobalOptions => global;

    /// <inheritdoc/>
    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    /// <inheritdoc/>
    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options(string? arch) : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new(null);

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value)
        {
            value = key == MoCModelGenerator.CudaArchProperty ? arch : null;
            return value is not null;
        }
    }
}
