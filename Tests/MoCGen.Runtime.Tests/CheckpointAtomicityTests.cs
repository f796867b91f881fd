using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using MoCGen.Checkpoints;
using Xunit;
using Xunit.Abstractions;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Atomic saves under SIGKILL. The child is Tests/MoCGen.CheckpointProbe (built before this project through a
/// ProjectReference with ReferenceOutputAssembly="false"); its dll is found in the probe project's own output folder
/// with the same bin/&lt;Configuration&gt;/&lt;tfm&gt; path as these tests (see <see cref="CheckpointProbeRun.FindProbe"/>),
/// and run with the dotnet host that runs the tests.
/// </summary>
public sealed class CheckpointAtomicityTests(ITestOutputHelper output) : IDisposable
{
    // 256 x 256 x 1024 x 12 layers: 12.7 M weights, a 51 MB F32 checkpoint.
    private const int Vocab = 256, Hidden = 256, Intermediate = 1024, Layers = 12;
    private const int Rounds = 15;

    private readonly CheckpointScratch _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// Each round starts the probe (which saves the same file in a loop), waits for its first completed save, kills it
    /// at a random moment (SIGKILL: no finally, no flush), and then loads and validates the file: it must be complete,
    /// hold exactly the buffer of one iteration, the last reported one or the one after (committed, not yet
    /// reported), and at most the killed writer's temporary file may remain (the earlier ones were removed by the
    /// next successful save). At least one kill must have landed inside a save, or the test proved nothing.
    /// </summary>
    [Fact]
    public void KillingTheWriterMidSaveNeverTearsTheCheckpoint()
    {
        var probe = CheckpointProbeRun.FindProbe();
        var plan = CheckpointTestPlans.Make(name: "ProbeModel", vocab: Vocab, hidden: Hidden, intermediate: Intermediate,
            layers: Layers, heads: Hidden / 64, kvHeads: Hidden / 64, topK: Intermediate / 8);
        var options = new CheckpointOptions { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed };
        var loaded = new float[ModelCheckpoint.RequiredLength(plan)];
        var expected = new float[loaded.Length];
        var path = _dir.File("model.safetensors");
        var rng = new Random(20240611);
        int torn = 0;
        long saves = 0;
        var total = Stopwatch.StartNew();
        var log = new StringBuilder();
        for (int round = 0; round < Rounds; round++)
        {
            long reported, pid;
            using (var run = CheckpointProbeRun.Start(probe, "save-loop", path, Vocab.ToString(CultureInfo.InvariantCulture),
                       Hidden.ToString(CultureInfo.InvariantCulture), Intermediate.ToString(CultureInfo.InvariantCulture),
                       Layers.ToString(CultureInfo.InvariantCulture)))
            {
                pid = run.Pid;
                run.WaitForSaved(1, TimeSpan.FromSeconds(60));
                Thread.Sleep(rng.Next(0, 250));
                reported = run.Kill();
            }
            saves += reported;

            var info = ModelCheckpoint.Load(path, plan, loaded, options);
            long iteration = long.Parse(info.Metadata["probe.iteration"], CultureInfo.InvariantCulture);
            Assert.InRange(iteration, reported, reported + 1);
            ProbePattern(iteration, expected);
            Assert.True(loaded.AsSpan().SequenceEqual(expected), $"round {round}: iteration {iteration} does not hold its buffer");

            var temps = _dir.Names().Where(n => n.StartsWith("model.safetensors.tmp-", StringComparison.Ordinal)).ToArray();
            Assert.True(temps.Length <= 1, $"round {round}: temporary files left: {string.Join(", ", temps)}");
            if (temps.Length == 1)
            {
                Assert.StartsWith($"model.safetensors.tmp-{pid}-", temps[0]);
                torn++;
            }
            log.Append(CultureInfo.InvariantCulture, $"round {round}: {reported} saves reported, file holds {iteration}, temp left: {temps.Length}\n");
        }
        output.WriteLine(log.ToString());
        output.WriteLine($"{Rounds} kills, {torn} inside a save, {saves} saves in all, {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(torn >= 1, $"no kill landed inside a save in {Rounds} rounds:\n{log}");

        // The next successful save removes the killed writer's temporary file.
        ModelCheckpoint.Save(path, plan, expected, options);
        Assert.Equal(new[] { "model.safetensors" }, _dir.Names());
    }

    [Fact]
    public void StaleTemporaryFilesAreIgnoredAndRemovedByTheNextSave()
    {
        var plan = CheckpointTestPlans.Make();
        var weights = CheckpointTestPlans.Random(plan, 1);
        var path = _dir.File("m.safetensors");
        ModelCheckpoint.Save(path, plan, weights);
        var dead = _dir.File($"m.safetensors.tmp-{int.MaxValue}-0123456789abcdef");  // no process has this id
        var mine = _dir.File($"m.safetensors.tmp-{Environment.ProcessId}-00000000deadbeef"); // this process, not in flight
        var other = _dir.File("other.safetensors.tmp-1-0000000000000000");                // another target: not ours to touch
        File.WriteAllBytes(dead, new byte[100]);
        File.WriteAllBytes(mine, new byte[] { 1, 2, 3 });
        File.WriteAllBytes(other, new byte[1]);
        var live = _dir.File("m.safetensors.tmp-1-0000000000000000");                     // pid 1 runs: kept
        if (OperatingSystem.IsLinux()) File.WriteAllBytes(live, new byte[1]);

        var again = new float[weights.Length];
        ModelCheckpoint.Load(path, plan, again); // the reader never looks at them
        Assert.Equal(weights, again);

        ModelCheckpoint.Save(path, plan, weights);
        Assert.False(File.Exists(dead));
        Assert.False(File.Exists(mine));
        Assert.True(File.Exists(other));
        if (OperatingSystem.IsLinux()) Assert.True(File.Exists(live));
    }

    /// <summary>The probe's buffer for an iteration (MoCGen.CheckpointProbe Program.Pattern, repeated here on purpose).</summary>
    private static void ProbePattern(long iteration, Span<float> buffer)
    {
        // Element j is ((iteration * 7 + 31 j) mod 1009) / 1024 - 1/4: periodic in j with period 1009, so one
        // period is computed and then copied, doubling (memcpy speed, so the loop spends its time saving).
        int period = Math.Min(1009, buffer.Length);
        int v = (int)(iteration * 7 % 1009);
        for (int j = 0; j < period; j++)
        {
            buffer[j] = v * (1f / 1024f) - 0.25f;
            v += 31;
            if (v >= 1009) v -= 1009;
        }
        for (int filled = period; filled < buffer.Length;)
        {
            int n = Math.Min(filled - filled % 1009, buffer.Length - filled);
            buffer[..n].CopyTo(buffer[filled..]);
            filled += n;
        }
    }
}

/// <summary>One run of the probe console, its "saved i" lines counted as they arrive.</summary>
internal sealed class CheckpointProbeRun : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();
    private long _saved;

    private CheckpointProbeRun(Process process) => _process = process;

    public int Pid => _process.Id;

    /// <summary>Starts <c>dotnet &lt;probe.dll&gt; args...</c> with stdout and stderr captured.</summary>
    public static CheckpointProbeRun Start(string probeDll, params string[] args)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(probeDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var run = new CheckpointProbeRun(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("saved ", StringComparison.Ordinal))
                lock (run._gate)
                {
                    run._saved = long.Parse(line.AsSpan(6), CultureInfo.InvariantCulture);
                    Monitor.PulseAll(run._gate);
                }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line) lock (run._stderr) run._stderr.AppendLine(line);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return run;
    }

    /// <summary>Waits until the probe reports save <paramref name="count"/>; fails with its stderr if it dies or hangs.</summary>
    public void WaitForSaved(long count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
            while (_saved < count)
            {
                if (_process.HasExited)
                    throw new InvalidOperationException($"The probe exited with {_process.ExitCode} before save {count}: {Stderr()}");
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException($"The probe reported no save {count} within {timeout}: {Stderr()}");
                Monitor.Wait(_gate, TimeSpan.FromMilliseconds(Math.Min(100, left.TotalMilliseconds)));
            }
    }

    /// <summary>SIGKILLs the probe, waits for it and for its last output; returns the last save it reported.</summary>
    public long Kill()
    {
        if (_process.HasExited)
            throw new InvalidOperationException($"The probe exited on its own with {_process.ExitCode}: {Stderr()}");
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit(); // also drains the redirected output
        lock (_gate) return _saved;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: false);
                _process.WaitForExit();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    private string Stderr()
    {
        lock (_stderr) return _stderr.ToString();
    }

    /// <summary>
    /// The probe's dll: in Tests/MoCGen.CheckpointProbe under the same relative output folder as this test assembly
    /// (bin/Debug/net10.0/ next to bin/Debug/net10.0/), else the newest build of it under that project or artifacts/.
    /// </summary>
    public static string FindProbe()
    {
        const string name = "MoCGen.CheckpointProbe";
        var root = RepoRoot();
        var probeProject = Path.Combine(root, "Tests", name);
        var relative = Path.GetRelativePath(Path.Combine(root, "Tests", "MoCGen.Runtime.Tests"), AppContext.BaseDirectory);
        if (!relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative))
        {
            var sibling = Path.Combine(probeProject, relative, name + ".dll");
            if (File.Exists(sibling)) return sibling;
        }
        var found = new[] { Path.Combine(probeProject, "bin"), Path.Combine(root, "artifacts", "bin", name) }
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, name + ".dll", SearchOption.AllDirectories))
            .Where(f => File.Exists(Path.ChangeExtension(f, ".runtimeconfig.json")))
            .OrderByDescending(File.GetLastWriteTimeUtc)
            .FirstOrDefault();
        return found ?? throw new FileNotFoundException(
            $"{name}.dll not found under {probeProject}; build the solution (dotnet build MoCGen.sln) or that project first.");
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MoCGen.sln"))) return dir.FullName;
        throw new InvalidOperationException("MoCGen.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The dotnet host running these tests (DOTNET_HOST_PATH, else this process if it is dotnet, else PATH).</summary>
    private static string DotnetHost()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }
}
