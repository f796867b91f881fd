using System;
using System.Collections.Generic;
using MoCGen.Compiler.Spec;

namespace MoCGen.Compiler.Validation;

/// <summary>Checks a <see cref="ModelSpec"/> for everything that would make it unbuildable. Never throws.</summary>
public static class SpecValidator
{
    /// <summary>Largest number of elements of any one tensor or activation buffer (spans index with int).</summary>
    public const long MaxBufferElements = int.MaxValue;

    /// <summary>Most layers a model may have; keeps every plan table small and every total within 64 bits.</summary>
    public const int MaxLayers = 4096;

    /// <summary>Channel indices fit 16 bits while Intermediate is at most this.</summary>
    public const int MaxSixteenBitChannels = 65536;

    public static IReadOnlyList<SpecProblem> Validate(ModelSpec spec)
    {
        var problems = new List<SpecProblem>();
        CheckType(spec, problems);

        var missing = false;
        foreach (var required in ArgumentNames.Required)
        {
            if (spec.IsGiven(required)) continue;
            problems.Add(SpecProblem.At(DiagnosticCatalog.MissingArgument, ProblemSite.Attribute, null, spec.Type.Name, required));
            missing = true;
        }

        var positive = CheckPositive(spec, problems);
        CheckReals(spec, problems);

        if (spec.Weights != (int)StoredPrecision.Float32 && spec.Weights != (int)StoredPrecision.BFloat16)
            problems.Add(SpecProblem.At(DiagnosticCatalog.UnknownPrecision, SiteOf(spec, ArgumentNames.Weights), ArgumentNames.Weights, spec.Weights));

        if (missing || !positive) return problems;

        CheckRelations(spec, problems);
        if (HasErrors(problems)) return problems;
        CheckBufferSizes(spec, problems);
        return problems;
    }

    public static bool HasErrors(IEnumerable<SpecProblem> problems)
    {
        foreach (var p in problems)
            if (p.IsError) return true;
        return false;
    }

    /// <summary>Points at the argument when the user wrote it, else at the attribute as a whole.</summary>
    public static ProblemSite SiteOf(ModelSpec spec, string argument) =>
        spec.IsGiven(argument) ? ProblemSite.Argument : ProblemSite.Attribute;

    private static void CheckType(ModelSpec spec, List<SpecProblem> problems)
    {
        var type = spec.Type;
        if (type.IsRecord) problems.Add(SpecProblem.At(DiagnosticCatalog.Record, ProblemSite.ClassName, null, type.Name));
        else if (!type.IsPartial) problems.Add(SpecProblem.At(DiagnosticCatalog.NotPartial, ProblemSite.ClassName, null, type.Name));
        if (type.IsStatic) problems.Add(SpecProblem.At(DiagnosticCatalog.Static, ProblemSite.ClassName, null, type.Name));
        if (type.IsNested) problems.Add(SpecProblem.At(DiagnosticCatalog.Nested, ProblemSite.ClassName, null, type.Name, type.ContainingType));
        if (type.IsGeneric) problems.Add(SpecProblem.At(DiagnosticCatalog.Generic, ProblemSite.ClassName, null, type.Name));
    }

    private static bool CheckPositive(ModelSpec spec, List<SpecProblem> problems)
    {
        var ok = true;
        void Check(string name, int value)
        {
            if (value >= 1 || !spec.IsGiven(name) && IsRequired(name)) return;
            problems.Add(SpecProblem.At(DiagnosticCatalog.NotPositive, SiteOf(spec, name), name, name, value));
            ok = false;
        }

        Check(ArgumentNames.Vocab, spec.Vocab);
        Check(ArgumentNames.Hidden, spec.Hidden);
        Check(ArgumentNames.Intermediate, spec.Intermediate);
        Check(ArgumentNames.TopK, spec.TopK);
        Check(ArgumentNames.Layers, spec.Layers);
        Check(ArgumentNames.Heads, spec.Heads);
        if (spec.IsGiven(ArgumentNames.KvHeads)) Check(ArgumentNames.KvHeads, spec.KvHeads);
        Check(ArgumentNames.Context, spec.Context);
        Check(ArgumentNames.Batch, spec.Batch);
        return ok;
    }

    private static bool IsRequired(string name) => Array.IndexOf(ArgumentNames.Required, name) >= 0;

    private static void CheckReals(ModelSpec spec, List<SpecProblem> problems)
    {
        if (!(spec.RopeTheta > 0) || double.IsInfinity(spec.RopeTheta))
            problems.Add(SpecProblem.At(DiagnosticCatalog.InvalidRopeTheta, SiteOf(spec, ArgumentNames.RopeTheta), ArgumentNames.RopeTheta, spec.RopeTheta));
        if (!(spec.NormEps > 0 && spec.NormEps < 1))
            problems.Add(SpecProblem.At(DiagnosticCatalog.InvalidNormEps, SiteOf(spec, ArgumentNames.NormEps), ArgumentNames.NormEps, spec.NormEps));
    }

    private static void CheckRelations(ModelSpec spec, List<SpecProblem> problems)
    {
        if (spec.Layers > MaxLayers)
            problems.Add(SpecProblem.At(DiagnosticCatalog.TooManyLayers, SiteOf(spec, ArgumentNames.Layers), ArgumentNames.Layers, spec.Layers, MaxLayers));

        if (spec.TopK > spec.Intermediate)
            problems.Add(SpecProblem.At(DiagnosticCatalog.TopKTooLarge, SiteOf(spec, ArgumentNames.TopK), ArgumentNames.TopK, spec.TopK, spec.Intermediate));

        var headsOk = spec.Hidden % spec.Heads == 0;
        if (!headsOk)
            problems.Add(SpecProblem.At(DiagnosticCatalog.HiddenNotDivisibleByHeads, SiteOf(spec, ArgumentNames.Heads), ArgumentNames.Heads, spec.Hidden, spec.Heads, spec.Hidden % spec.Heads));
        else if (spec.Hidden / spec.Heads % 2 != 0)
            problems.Add(SpecProblem.At(DiagnosticCatalog.OddHeadDim, SiteOf(spec, ArgumentNames.Heads), ArgumentNames.Heads, spec.Hidden, spec.Heads, spec.Hidden / spec.Heads));

        var kvHeads = spec.EffectiveKvHeads;
        if (spec.Heads % kvHeads != 0)
            problems.Add(SpecProblem.At(DiagnosticCatalog.HeadsNotDivisibleByKvHeads, SiteOf(spec, ArgumentNames.KvHeads), ArgumentNames.KvHeads, spec.Heads, kvHeads, spec.Heads % kvHeads));

        if (spec.Intermediate > MaxSixteenBitChannels)
            problems.Add(SpecProblem.At(DiagnosticCatalog.WideChannelIndices, SiteOf(spec, ArgumentNames.Intermediate), ArgumentNames.Intermediate, spec.Intermediate));
    }

    /// <summary>Every tensor and activation buffer must be indexable with an int.</summary>
    private static void CheckBufferSizes(ModelSpec spec, List<SpecProblem> problems)
    {
        long tokens = (long)spec.Batch * spec.Context;
        var kvDim = (long)spec.Hidden / spec.Heads * spec.EffectiveKvHeads;
        var checks = new (string What, long Elements, string Blame)[]
        {
            ("The token embedding (Vocab x Hidden)", (long)spec.Vocab * spec.Hidden, ArgumentNames.Vocab),
            ("Each feed-forward weight (Intermediate x Hidden)", (long)spec.Intermediate * spec.Hidden, ArgumentNames.Intermediate),
            ("Each attention projection (Hidden x Hidden)", (long)spec.Hidden * spec.Hidden, ArgumentNames.Hidden),
            ("The key/value projections (KvHeads x HeadDim x Hidden)", kvDim * spec.Hidden, ArgumentNames.Hidden),
            ("A training step (Batch x Context tokens)", tokens, ArgumentNames.Batch),
            ("The logits of a training step (Batch x Context x Vocab)", tokens * spec.Vocab, ArgumentNames.Batch),
            ("The gate activations of a training step (Batch x Context x Intermediate)", tokens * spec.Intermediate, ArgumentNames.Batch),
            ("The hidden states of a training step (Batch x Context x Hidden)", tokens * spec.Hidden, ArgumentNames.Batch),
        };
        foreach (var (what, elements, blame) in checks)
        {
            if (elements <= MaxBufferElements) continue;
            var advice = blame == ArgumentNames.Batch ? "Batch or Context" : blame;
            problems.Add(SpecProblem.At(DiagnosticCatalog.TooLarge, SiteOf(spec, blame), blame, what, elements, MaxBufferElements, advice));
            return;
        }
    }
}
