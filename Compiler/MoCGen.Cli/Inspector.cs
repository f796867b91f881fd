using System.Collections.Generic;
using System.IO;
using MoCGen.Compiler;
using MoCGen.Compiler.Emit;

namespace MoCGen.Cli;

/// <summary><c>mocgen inspect</c>: validates and plans every model and prints its plan report.</summary>
internal static class Inspector
{
    /// <summary>Prints one report per valid model (blank line between) and each problem to stderr; 1 when any model is invalid.</summary>
    public static int Run(IReadOnlyList<string> paths, TextWriter stdout, TextWriter stderr)
    {
        var input = ModelInput.Load(paths);
        var failed = false;
        var printed = 0;
        foreach (var model in input.Models)
        {
            var result = ModelCompiler.Plan(model.Spec);
            foreach (var problem in result.Problems)
            {
                stderr.WriteLine(DiagnosticText.Format(model.Locate(problem), problem));
                failed |= problem.IsError;
            }
            if (result.Plan is null)
            {
                failed = true; // Plan() only withholds a plan with an error, but never report success without one
                continue;
            }
            if (printed++ > 0) stdout.WriteLine();
            stdout.Write(PlanReport.Render(result.Plan));
        }
        return failed ? ExitCodes.ModelErrors : ExitCodes.Success;
    }
}
