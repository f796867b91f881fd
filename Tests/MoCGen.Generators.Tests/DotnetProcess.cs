using System;
using System.Diagnostics;
using System.Reflection;

namespace MoCGen.Generators.Tests;

/// <summary>Runs the dotnet CLI the way a user would, for the tests that build real projects.</summary>
internal static class DotnetProcess
{
    /// <summary>The configuration these tests were built in (the repository's projects are built in it too).</summary>
    public static string Configuration() =>
        typeof(DotnetProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>Exit code and combined output of <c>dotnet arguments</c>; killed after five minutes.</summary>
    public static (int ExitCode, string Output) Run(string arguments, string workingDirectory, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {arguments} ran over 5 minutes");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
