using System;
using System.CommandLine;
using System.IO;

namespace MoCGen.Cli;

/// <summary>
/// The <c>mocgen</c> command line: <c>inspect</c> prints a model's plan, <c>emit</c> writes its generated sources,
/// <c>ptx</c> compiles its CUDA sources to PTX, <c>cuda-cpu</c> builds a libcuda.so.1 that runs them on the CPU.
/// </summary>
public static class Program
{
    /// <summary>Entry point of the executable.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs one command line with the given writers and returns the exit code: 0 success, 1 invalid
    /// model or CUDA that does not compile (diagnostics written), 2 bad input or usage. Callable in-process, which is how the tests use it.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("mocgen: the MoCGen model compiler outside a build.");
        root.Subcommands.Add(InspectCommand(stdout, stderr));
        root.Subcommands.Add(EmitCommand(stdout, stderr));
        root.Subcommands.Add(PtxCommand(stdout, stderr));
        root.Subcommands.Add(CudaCpuCommand(stdout, stderr));

        var parsed = root.Parse(args);
        var code = parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        // System.CommandLine answers a usage error with 1, which mocgen reserves for invalid models.
        return parsed.Errors.Count > 0 ? ExitCodes.BadInput : code;
    }

    private static Command InspectCommand(TextWriter stdout, TextWriter stderr)
    {
        var files = FilesArgument();
        var command = new Command("inspect", "Print the plan of every [MoCModel] class: parameters, activation memory, FLOPs, training-step arena.") { files };
        command.SetAction(r => Guard(stderr, () => Inspector.Run(r.GetRequiredValue(files), stdout, stderr)));
        return command;
    }

    private static Command EmitCommand(TextWriter stdout, TextWriter stderr)
    {
        var files = FilesArgument();
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the generated sources into (created if missing).", Required = true };
        var command = new Command("emit", "Run the MoCGen generator and write every generated source file.") { files, output };
        command.SetAction(r => Guard(stderr, () => Emitter.Run(r.GetRequiredValue(files), r.GetRequiredValue(output), stdout, stderr)));
        return command;
    }

    private static Command PtxCommand(TextWriter stdout, TextWriter stderr)
    {
        var files = FilesArgument();
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the .ptx files into (created if missing).", Required = true };
        var arch = new Option<string>("--arch") { Description = "GPU architecture to compile for.", DefaultValueFactory = _ => Compiler.Cuda.PtxToolchain.DefaultArch };
        var assemble = new Option<string?>("--assemble")
        {
            Description = "Also assemble the PTX with ptxas, for --arch or for the architecture given here (e.g. sm_90 for PTX made for sm_80), and report each kernel's registers, spills, shared memory and blocks an SM; fails where they disagree with the launch tables.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("ptx", "Compile every generated CUDA source to PTX (nvcc, else clang without a CUDA toolkit).") { files, output, arch, assemble };
        command.SetAction(r => Guard(stderr, () =>
        {
            // --assemble alone assembles for --arch; with a value, for that architecture.
            string? assembleFor = r.GetResult(assemble) is null ? null : r.GetValue(assemble) ?? r.GetValue(arch)!;
            return PtxBuilder.Run(r.GetRequiredValue(files), r.GetRequiredValue(output), r.GetValue(arch)!, stdout, stderr, assembleFor: assembleFor);
        }));
        return command;
    }

    private static Command CudaCpuCommand(TextWriter stdout, TextWriter stderr)
    {
        var files = FilesArgument();
        var output = new Option<string>("--out", "-o") { Description = "Folder to write libcuda.so.1 into (created if missing).", Required = true };
        var command = new Command("cuda-cpu",
            "Build a libcuda.so.1 that runs the models' CUDA kernels on the CPU (a fiber per CUDA thread; barriers, shuffles and buffer ends checked): run a MoCGen program with LD_LIBRARY_PATH set to its folder to take the CUDA path with no GPU.")
        { files, output };
        command.SetAction(r => Guard(stderr, () => CpuDriverBuilder.Run(r.GetRequiredValue(files), r.GetRequiredValue(output), stdout, stderr)));
        return command;
    }

    private static Argument<string[]> FilesArgument() =>
        new("files") { Description = "C# files that declare [MoCModel] classes.", Arity = ArgumentArity.OneOrMore };

    /// <summary>Turns a <see cref="CliException"/> into its one-line message and exit code 2.</summary>
    private static int Guard(TextWriter stderr, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (CliException e)
        {
            stderr.WriteLine("mocgen: " + e.Message);
            return ExitCodes.BadInput;
        }
    }
}

/// <summary>The exit codes of <c>mocgen</c>.</summary>
public static class ExitCodes
{
    /// <summary>Everything succeeded (info diagnostics may have been printed).</summary>
    public const int Success = 0;

    /// <summary>At least one model is invalid, or (ptx) a CUDA source does not compile; the messages were written to stderr.</summary>
    public const int ModelErrors = 1;

    /// <summary>The command line or its files could not be used (missing file, no model, usage error, no CUDA compiler for ptx).</summary>
    public const int BadInput = 2;
}

/// <summary>A problem with the input itself rather than with a model; printed as <c>mocgen: message</c>, exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
