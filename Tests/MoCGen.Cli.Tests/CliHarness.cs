using System;
using System.IO;

namespace MoCGen.Cli.Tests;

/// <summary>Runs mocgen in-process and captures what it prints.</summary>
internal static class CliHarness
{
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr);

    public static Outcome Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = Program.Run(args, stdout, stderr);
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The repository root: the first folder above the test binaries that holds MoCGen.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MoCGen.sln"))) return dir.FullName;
        throw new InvalidOperationException("MoCGen.sln not found above " + AppContext.BaseDirectory);
    }

    public static string TinyMoC => Path.Combine(RepoRoot(), "examples", "TinyMoC", "TinyMoC.cs");
}

/// <summary>A fresh temporary folder per test, removed afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mocgen-cli-tests-" + Guid.NewGuid().ToString("N"));

    /// <summary>Writes a file into the folder and returns its full path.</summary>
    public string Write(string name, string text)
    {
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
