using System;
using System.IO;

namespace MoCGen.Generators.Tests;

internal static class RepoPaths
{
    /// <summary>The repository root: the first folder above the test binaries that holds MoCGen.sln.</summary>
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MoCGen.sln"))) return dir.FullName;
        throw new InvalidOperationException("MoCGen.sln not found above " + AppContext.BaseDirectory);
    }
}
