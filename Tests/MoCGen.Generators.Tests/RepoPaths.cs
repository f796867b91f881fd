using System;
using System.IO;
using System.Runtime.CompilerServices;

namespace MoCGen.Generators.Tests;

internal static class RepoPaths
{
    /// <summary>
    /// The repository root: the first folder holding MoCGen.sln above the test binaries, or else above this source file
    /// (for builds whose outputs live elsewhere, e.g. --artifacts-path).
    /// </summary>
    public static string Root([CallerFilePath] string thisFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(thisFile) ?? "" })
            for (var dir = start.Length == 0 ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "MoCGen.sln"))) return dir.FullName;
        throw new InvalidOperationException("MoCGen.sln not found above " + AppContext.BaseDirectory + " or " + thisFile);
    }
}
