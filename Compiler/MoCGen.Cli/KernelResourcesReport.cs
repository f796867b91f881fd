using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MoCGen.Compiler;
using MoCGen.Compiler.Cuda;
using MoCGen.Compiler.Planning;

namespace MoCGen.Cli;

/// <summary>One kernel's row of a generated launch table: threads a block and the shared memory it was planned with.</summary>
internal sealed record PlannedLaunch(string Kernel, int Block, int StaticSharedBytes, int DynamicSharedBytes);

/// <summary>
/// What ptxas makes of the kernels, beside what the launch tables planned: <c>mocgen ptx</c> assembles the PTX it wrote
/// where ptxas is installed, prints each kernel's registers, spills, shared memory and resident blocks, and fails
/// where the plan and the machine code disagree.
/// </summary>
internal static class KernelResourcesReport
{
    /// <summary>
    /// Bytes of static shared memory ptxas may add to the planned sum of a kernel's arrays: it starts each array at a
    /// multiple of its alignment (up to 16 bytes), which the plan does not model. ptxas 11.8 adds 0, 4 or 8 to the
    /// kernels of the test models.
    /// </summary>
    public const int AlignmentSlack = 15;

    /// <summary>
    /// The launch tables in the generated carriers (<c>&lt;Model&gt;.Cuda.g.cs</c>): in every nested class of <c>Cuda</c>,
    /// each <c>&lt;X&gt;Kernel</c> string with its <c>&lt;X&gt;Block</c>, <c>&lt;X&gt;SharedBytes</c> and, where there is
    /// one, <c>&lt;X&gt;DynamicSharedBytes</c>; keyed by kernel symbol.
    /// </summary>
    public static Dictionary<string, PlannedLaunch> LaunchTables(IEnumerable<GeneratedSource> sources)
    {
        var launches = new Dictionary<string, PlannedLaunch>(StringComparer.Ordinal);
        foreach (var (_, cuda) in PtxBuilder.CudaClasses(sources))
            foreach (var table in cuda.Members.OfType<ClassDeclarationSyntax>())
            {
                var constants = PtxBuilder.ConstantLiterals(table).ToDictionary(c => c.Name, c => c.Value, StringComparer.Ordinal);
                foreach (var (name, value) in constants)
                {
                    if (!name.EndsWith("Kernel", StringComparison.Ordinal) || value is not string symbol) continue;
                    var member = name.Substring(0, name.Length - "Kernel".Length);
                    if (constants.GetValueOrDefault(member + "Block") is not int block || constants.GetValueOrDefault(member + "SharedBytes") is not int shared) continue;
                    int dynamic = constants.GetValueOrDefault(member + "DynamicSharedBytes") is int d ? d : 0;
                    launches[symbol] = new PlannedLaunch(symbol, block, shared, dynamic);
                }
            }
        return launches;
    }

    /// <summary>
    /// Assembles each PTX for <paramref name="arch"/>, writes a table per file to <paramref name="stdout"/> and every
    /// disagreement with the plan to <paramref name="stderr"/>; false when ptxas failed or the plan is wrong.
    /// </summary>
    public static bool Check(PtxAssembler ptxas, IReadOnlyList<(string Name, string Ptx)> files, string arch,
        IReadOnlyDictionary<string, PlannedLaunch> planned, TextWriter stdout, TextWriter stderr)
    {
        var target = CudaTarget.FromArch(arch);
        stdout.WriteLine($"assembling {files.Count} PTX file(s) for {arch} with {ptxas.AssemblerPath}");
        bool ok = true;
        foreach (var (name, ptx) in files)
        {
            var result = ptxas.Assemble(ptx, arch, name);
            if (!result.Succeeded)
            {
                stderr.WriteLine(result.Errors);
                stderr.WriteLine($"mocgen: {name} did not assemble for {arch}; the command was: {result.CommandLine}");
                ok = false;
                continue;
            }
            stdout.WriteLine(name + ":");
            var rows = new List<string[]> { new[] { "kernel", "threads", "registers", "spilled", "shared", "planned", "dynamic", "blocks/SM" } };
            foreach (var k in result.Kernels)
            {
                var plan = planned.GetValueOrDefault(k.Kernel);
                rows.Add(new[]
                {
                    k.Kernel,
                    plan is null ? "-" : Int(plan.Block),
                    Int(k.Registers),
                    Int(k.SpillStoreBytes),
                    Int(k.StaticSharedBytes),
                    plan is null ? "-" : Int(plan.StaticSharedBytes),
                    plan is null ? "-" : Int(plan.DynamicSharedBytes),
                    plan is null ? "-" : Int(BlocksPerSm(k, plan, target)),
                });
                foreach (var problem in Problems(k, plan, target))
                {
                    stderr.WriteLine($"mocgen: {name}: {k.Kernel}: {problem}");
                    ok = false;
                }
            }
            Write(rows, stdout);
        }
        return ok;
    }

    /// <summary>Where the machine code and the launch table disagree (nothing for a kernel the tables do not list).</summary>
    public static IEnumerable<string> Problems(KernelResources k, PlannedLaunch? plan, CudaTarget target)
    {
        if (plan is null) yield break;
        int extra = k.StaticSharedBytes - plan.StaticSharedBytes;
        if (extra < 0 || extra > AlignmentSlack)
            yield return $"ptxas gives it {k.StaticSharedBytes} bytes of static shared memory, the launch table plans {plan.StaticSharedBytes}";
        if (k.StaticSharedBytes + plan.DynamicSharedBytes > target.SharedPerBlockOptin)
            yield return $"{k.StaticSharedBytes} + {plan.DynamicSharedBytes} bytes of shared memory a block exceed the {target.SharedPerBlockOptin} that {target.Arch} allows";
        if (k.BlocksByRegisters(plan.Block) < 1)
            yield return $"{k.Registers} registers a thread leave no room for a block of {plan.Block} threads ({KernelResources.RegistersPerSm} registers an SM)";
    }

    /// <summary>Blocks an SM can hold, by registers, by shared memory (the target's opt-in limit, plus 1 KiB the
    /// driver reserves a block on sm_80 and later; an SM has as much shared memory as one block may opt in to, plus that
    /// reserve) and by resident threads.</summary>
    public static int BlocksPerSm(KernelResources k, PlannedLaunch plan, CudaTarget target)
    {
        const int reserved = 1024;
        int shared = k.StaticSharedBytes + plan.DynamicSharedBytes + reserved;
        int byShared = (target.SharedPerBlockOptin + reserved) / shared;
        int byThreads = ThreadsPerSm(target.Arch) / Math.Max(32, (plan.Block + 31) / 32 * 32);
        return Math.Min(Math.Min(k.BlocksByRegisters(plan.Block), byShared), byThreads);
    }

    /// <summary>Resident threads an SM holds (CUDA Programming Guide, compute capabilities): 1,024 on sm_75, 1,536 on
    /// sm_86 and sm_89, 2,048 on sm_70, sm_80 and sm_90.</summary>
    public static int ThreadsPerSm(string arch) => arch.TrimEnd('a', 'f') switch
    {
        "sm_75" => 1024,
        "sm_86" or "sm_89" => 1536,
        _ => 2048,
    };

    private static void Write(List<string[]> rows, TextWriter stdout)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
            stdout.WriteLine("  " + string.Join("  ", row.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd());
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
}
