using System;
using System.IO;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>
/// The NuGet package as a user meets it: `dotnet pack` of Runtime gives one package (generator and its
/// dependencies in analyzers/dotnet/cs, runtime in lib/); a fresh console project in a temporary folder consumes it
/// from a local folder feed with one PackageReference, declares a model, builds, and runs a forward pass.
/// </summary>
public sealed class PackageConsumerTests
{
    [Fact]
    public void AFreshProjectConsumesThePackageAndRunsAForwardPass()
    {
        var root = RepoPaths.Root();
        var folder = Directory.CreateTempSubdirectory("mocgen-package-");
        try
        {
            // A version of its own, so the NuGet cache can never serve an older build of the same number.
            var version = "0.1.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
            var feed = Path.Combine(folder.FullName, "feed");
            var (packCode, packOutput) = DotnetProcess.Run($"pack \"{Path.Combine(root, "Runtime", "MoCGen.Runtime.csproj")}\" -c {DotnetProcess.Configuration()} --no-build -o \"{feed}\" -p:PackageVersion={version} -nologo", root);
            Assert.True(packCode == 0, packOutput);

            var app = Path.Combine(folder.FullName, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="MoCGen" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using System;
                using System.Linq;
                using MoCGen;

                using var model = Small.CreateDecoder();
                var random = new Random(1);
                for (int i = 0; i < model.Parameters.Length; i++) model.Parameters[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
                var tokens = Enumerable.Range(0, Small.TokensPerStep).Select(i => i % Small.Vocab).ToArray();
                double loss = model.Forward(tokens, tokens);
                Console.WriteLine($"params {Small.Plan.ParameterCount} loss {loss:F4}");

                [MoCModel(Vocab = 32, Hidden = 16, Intermediate = 48, TopK = 6, Layers = 1, Heads = 2, Context = 8, Batch = 2)]
                public partial class Small;
                """);

            var environment = ("NUGET_PACKAGES", Path.Combine(folder.FullName, "packages"));
            var (runCode, runOutput) = DotnetProcess.Run("run -nologo", app, environment);
            Assert.True(runCode == 0, runOutput);
            Assert.Matches(@"params \d+ loss [0-9.]+", runOutput);
            // Loss of a near-uniform prediction over 32 tokens: ln 32 = 3.47.
            Assert.Contains("loss 3.4", runOutput);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
