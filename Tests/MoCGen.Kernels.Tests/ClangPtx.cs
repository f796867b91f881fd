using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Xunit;

namespace MoCGen.Kernels.Tests;

/// <summary>Compiles rendered CUDA C to PTX with clang-14's NVPTX backend, no CUDA toolkit (ENVIRONMENT.md).</summary>
internal static class ClangPtx
{
    /// <summary>clang-14 on PATH, or null where it is absent (then the PTX checks have nothing to run).</summary>
    public static string? Clang()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var path = Path.Combine(dir, "clang-14");
            if (dir.Length > 0 && File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>The repository's kernels/ folder.</summary>
    public static string RepositoryKernels() => Path.GetFullPath(Path.Combine(ThisFolder(), "..", "..", "kernels"));

    /// <summary>This project's minimal stand-in for kernels/mocgen_cuda.h.</summary>
    public static string StandInKernels() => Path.Combine(ThisFolder(), "CudaStub");

    /// <summary>The PTX of <paramref name="cudaText"/>; fails the test with clang's message when it does not compile.</summary>
    public static string Compile(string cudaText, string includeDir, string what)
    {
        var dir = Directory.CreateTempSubdirectory("mocgen-ptx-");
        try
        {
            var cu = Path.Combine(dir.FullName, "kernels.cu");
            var ptx = Path.Combine(dir.FullName, "kernels.ptx");
            File.WriteAllText(cu, cudaText);
            var psi = new ProcessStartInfo(Clang()!) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib", "-O2", "-S",
                         "-I", includeDir, cu, "-o", ptx, "-Xclang", "-target-feature", "-Xclang", "+ptx70" })
                psi.ArgumentList.Add(a);
            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"clang-14 failed for {what}:\n{stderr.Result}");
            return File.ReadAllText(ptx);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Asserts that <paramref name="kernel"/> is declared in <paramref name="cuda"/> as <c>extern "C" __global__ void</c>
    /// with its launch bounds (<c>__launch_bounds__(X_THREADS)</c>, or <c>MOCGEN_BOUNDS_128REGS(X_THREADS)</c> for the
    /// kernels that stage tiles in shared memory) on the line before its name.
    /// </summary>
    public static void AssertDeclaredWithLaunchBounds(string cuda, string kernel)
    {
        var declaration = Regex.Match(cuda, @"extern ""C"" __global__ void (__launch_bounds__|MOCGEN_BOUNDS_128REGS)\([A-Z_]+\)\r?\n" + Regex.Escape(kernel) + @"\(");
        Assert.True(declaration.Success, kernel + " is not declared with its launch bounds");
    }

    /// <summary>The text of kernel <paramref name="name"/> in <paramref name="ptx"/> (to the next entry).</summary>
    public static string Entry(string ptx, string name)
    {
        int at = ptx.IndexOf(".entry " + name + "(", StringComparison.Ordinal);
        Assert.True(at >= 0, name + " not in the PTX");
        int next = ptx.IndexOf(".entry ", at + 7, StringComparison.Ordinal);
        return next < 0 ? ptx[at..] : ptx[at..next];
    }

    /// <summary>The first <paramref name="count"/> loads <paramref name="load"/> of the kernel, with none of
    /// <paramref name="uses"/> between them.</summary>
    public static void AssertLoadsBefore(string kernel, string load, int count, params string[] uses)
    {
        var lines = kernel.Split('\n');
        int first = Array.FindIndex(lines, l => l.Contains(load, StringComparison.Ordinal));
        Assert.True(first >= 0, load + " not found");
        int seen = 0, i = first;
        for (; i < lines.Length && seen < count; i++)
        {
            if (lines[i].Contains(load, StringComparison.Ordinal)) seen++;
            foreach (var use in uses)
                Assert.False(lines[i].Contains(use, StringComparison.Ordinal), $"'{use}' after {seen} of {count} {load} loads: {lines[i].Trim()}");
        }
        Assert.Equal(count, seen);
    }

    private static string ThisFolder([CallerFilePath] string file = "") => Path.GetDirectoryName(file)!;
}
