using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("MoCGen.Generators.Tests")]
