using System;
using System.Collections.Generic;
using MoCGen.Compiler.Emit;
using MoCGen.Compiler.Planning;
using MoCGen.Compiler.Spec;
using MoCGen.Compiler.Validation;

namespace MoCGen.Compiler;

/// <summary>One generated source file.</summary>
public sealed record GeneratedSource(string HintName, string Text);

/// <summary>What compiling one declaration produced: the plan (when valid), the sources, and the findings.</summary>
public sealed record CompileResult(ModelPlan? Plan, IReadOnlyList<GeneratedSource> Sources, IReadOnlyList<SpecProblem> Problems)
{
    public bool Succeeded => Plan is not null;
}

/// <summary>The whole compiler: ModelSpec -> validate -> ModelPlan -> rendered sources. Never throws on user input.</summary>
public static class ModelCompiler
{
    /// <summary>Validates and plans for <paramref name="target"/> (null: sm_80), without rendering.</summary>
    public static CompileResult Plan(ModelSpec spec, CudaTarget? target = null)
    {
        var problems = new List<SpecProblem>(SpecValidator.Validate(spec));
        if (SpecValidator.HasErrors(problems)) return new CompileResult(null, Array.Empty<GeneratedSource>(), problems);
        try
        {
            var plan = PlanBuilder.Build(spec, target);
            problems.AddRange(KernelLimits.Check(plan));
            return new CompileResult(plan, Array.Empty<GeneratedSource>(), problems);
        }
        catch (OverflowException)
        {
            problems.Add(SpecProblem.At(DiagnosticCatalog.PlanOverflow, ProblemSite.Attribute, null, "training-step memory plan or FLOP count", spec.Type.Name));
            return new CompileResult(null, Array.Empty<GeneratedSource>(), problems);
        }
    }

    /// <summary>Validates, plans and renders every source of the model, its CUDA kernels for <paramref name="target"/> (null: sm_80).</summary>
    public static CompileResult Compile(ModelSpec spec, CudaTarget? target = null)
    {
        var planned = Plan(spec, target);
        if (planned.Plan is null) return planned;
        return planned with { Sources = ModelEmitter.Emit(planned.Plan) };
    }
}
