using System.Runtime.CompilerServices;

// The GEMM tests force each SIMD path (Gemm.ForcedPath) to check them all on one machine.
[assembly: InternalsVisibleTo("MoCGen.Runtime.Tests")]
