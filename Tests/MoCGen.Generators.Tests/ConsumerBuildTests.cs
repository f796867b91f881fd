using System;
using System.IO;
using Xunit;

namespace MoCGen.Generators.Tests;

/// <summary>
/// A real consumer project, built with `dotnet build` the way users build: the generator reaches it through a
/// ProjectReference as an analyzer, and an invalid declaration fails the build with its MOC id and location.
/// </summary>
public sealed class ConsumerBuildTests
{
    [Fact]
    public void InvalidDeclarationFailsTheBuildWithItsMocIdAndLocation()
    {
        var root = RepoPaths.Root();
        var folder = Directory.CreateTempSubdirectory("mocgen-consumer-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                  </PropertyGroup>
                  <ItemGroup>
                    <ProjectReference Include="{root}/Runtime/MoCGen.Runtime.csproj" />
                    <ProjectReference Include="{root}/Generators/MoCGen.Generators.csproj" OutputItemType="Analyzer" ReferenceOutputAssembly="false" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(folder.FullName, "Model.cs"), """
                using MoCGen;

                namespace Consumer;

                [MoCModel(Hidden = 256, Intermediate = 704, TopK = 900, Layers = 4, Heads = 4, Context = 256)]
                public partial class Broken;

                public static class Program
                {
                    public static void Main() => System.Console.WriteLine(Broken.Plan.ParameterCount);
                }
                """);

            var (exitCode, output) = DotnetProcess.Run($"build \"{folder.FullName}\" -c {DotnetProcess.Configuration()} -p:BuildProjectReferences=false -nologo", folder.FullName);

            Assert.NotEqual(0, exitCode);
            // Line 5, column 45: the 'TopK = 900' argument.
            Assert.Contains("Model.cs(5,45): error MOC006: TopK (900) cannot exceed Intermediate (704)", output);
            Assert.DoesNotContain("CS8785", output);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
