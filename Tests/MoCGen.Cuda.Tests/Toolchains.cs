using System;
using System.IO;
using System.Runtime.CompilerServices;
using MoCGen.Compiler.Cuda;

namespace MoCGen.Cuda.Tests;

/// <summary>The clang the tests compile with, and the repository's folders.</summary>
internal static class Toolchains
{
    private static readonly Lazy<PtxToolchain?> LazyClang = new(() => PtxToolchain.Find(new ToolchainSearch { ClangOnly = true }));

    /// <summary>
    /// clang with the NVPTX backend, found the way mocgen finds it. The build machines have clang-14
    /// (ENVIRONMENT.md); elsewhere the compile tests have nothing to compile with and return early.
    /// </summary>
    public static PtxToolchain? Clang => LazyClang.Value;

    /// <summary>Nothing to search: neither nvcc nor clang can be found.</summary>
    public static ToolchainSearch Nowhere => new() { PathVariable = "", CudaPath = null, ExtraDirectories = Array.Empty<string>() };

    public static string RepoRoot([CallerFilePath] string file = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    public static string Kernels => Path.Combine(RepoRoot(), "kernels");
}
