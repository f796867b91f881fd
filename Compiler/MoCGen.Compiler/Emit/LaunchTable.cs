using System.Globalization;
using System.Text;
using MoCGen.Compiler.Planning;

namespace MoCGen.Compiler.Emit;

/// <summary>
/// Writes the members of the generated launch tables (<c>&lt;Model&gt;.Cuda.*Launch</c>): per kernel its symbol,
/// threads per block, static shared memory and grid, as C# constants inside the carrier's nested classes.
/// </summary>
internal static class LaunchTable
{
    /// <summary>Appends <c>&lt;name&gt;Kernel</c>, <c>&lt;name&gt;Block</c>, <c>&lt;name&gt;SharedBytes</c> and <c>&lt;name&gt;Grid(tokens)</c>.</summary>
    /// <param name="sb">The carrier being written (members indented for a class nested in <c>Cuda</c>).</param>
    /// <param name="name">The member prefix, e.g. <c>GateGemv</c>.</param>
    /// <param name="symbol">The kernel's CUDA symbol.</param>
    /// <param name="block">Threads per block.</param>
    /// <param name="sharedBytes">Static shared memory per block, bytes.</param>
    /// <param name="doc">What the kernel reads and writes (plain text; escaped here).</param>
    /// <param name="grid">A C# expression of <c>tokens</c> giving the grid (x, y).</param>
    public static void Kernel(StringBuilder sb, string name, string symbol, int block, int sharedBytes, string doc, string grid)
    {
        sb.Append("            /// <summary>").Append(Xml(doc)).Append("</summary>\n");
        sb.Append("            public const string ").Append(name).Append("Kernel = \"").Append(symbol).Append("\";\n");
        sb.Append("            /// <summary>Threads per block of <c>").Append(symbol).Append("</c>.</summary>\n");
        sb.Append("            public const int ").Append(name).Append("Block = ").Append(Int(block)).Append(";\n");
        sb.Append("            /// <summary>Static shared memory of <c>").Append(symbol).Append("</c>, bytes.</summary>\n");
        sb.Append("            public const int ").Append(name).Append("SharedBytes = ").Append(Int(sharedBytes)).Append(";\n");
        sb.Append("            /// <summary>Grid (x, y) of <c>").Append(symbol).Append("</c> for <paramref name=\"tokens\"/> tokens.</summary>\n");
        sb.Append("            public static (int X, int Y) ").Append(name).Append("Grid(int tokens) => ").Append(grid).Append(";\n\n");
    }

    /// <summary>Text made safe for an XML doc comment.</summary>
    public static string Xml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    /// <summary>An int as invariant C# / C text.</summary>
    public static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The model's namespace-qualified name.</summary>
    public static string FullName(PlanShape s) => s.Namespace.Length == 0 ? s.Name : s.Namespace + "." + s.Name;
}

/// <summary>What every kernel template reads: the target, the MoCGen version, the model's names, its kernel-name prefix, d,
/// the tiles of the sparse products and the shape of the decode GEMV.</summary>
public abstract class KernelTemplateData
{
    public bool Cuda { get; set; }
    public string Version { get; set; } = "";
    public string Name { get; set; } = "";
    public string FullName { get; set; } = "";
    public string Prefix { get; set; } = "";
    public int Hidden { get; set; }

    // The sparse products' tiles (Templates/Sparse.scriban, SparseTiles).
    public int WindowWidth { get; } = SparseTiles.Window;
    public int SampledThreads { get; } = SparseTiles.SampledThreads;
    public int SampledTokens { get; } = SparseTiles.SampledTokens;
    public int SampledSpan { get; } = SparseTiles.SampledSpan;
    public int SampledDepth { get; } = SparseTiles.SampledDepth;
    public int SampledPerThread { get; } = SparseTiles.SampledPerThread;
    public int WindowedThreads { get; } = SparseTiles.WindowedThreads;
    public int WindowedTokens { get; } = SparseTiles.WindowedTokens;
    public int WindowedCols { get; } = SparseTiles.WindowedCols;
    public int WindowedPerWarp { get; } = SparseTiles.WindowedTokens / (SparseTiles.WindowedThreads / 32);

    // The decode GEMV's shape (Templates/Gemv.scriban: the decode gate kernel and the decoder's projections).
    public int GemvVec { get; set; }
    public int GemvLoads { get; set; }
    public bool GemvWhole { get; set; }

    /// <summary>Sets the fields above for <paramref name="shape"/>, rendered for CUDA or ILGPU, with its kernels named
    /// after <paramref name="prefix"/>; returns <paramref name="data"/> (whose own fields the caller has set).</summary>
    public static T For<T>(T data, PlanShape shape, bool cuda, string prefix) where T : KernelTemplateData
    {
        data.Cuda = cuda;
        data.Version = ModelEmitter.Version;
        data.Name = shape.Name;
        data.FullName = LaunchTable.FullName(shape);
        data.Prefix = prefix;
        data.Hidden = shape.Hidden;
        data.GemvVec = FeedForwardKernelEmitter.DecodeGemvVector(shape);
        data.GemvLoads = FeedForwardKernelEmitter.DecodeGemvLoads;
        data.GemvWhole = FeedForwardKernelEmitter.DecodeGemvWhole(shape);
        return data;
    }
}
