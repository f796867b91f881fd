using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;

namespace MoCGen.Checkpoints;

/// <summary>
/// The pieces of an atomic replace: temporary names beside the target (<c>&lt;name&gt;.tmp-&lt;pid&gt;-&lt;random&gt;</c>),
/// the directory fsync after the rename (Linux), and the removal of temporary files left by crashed writers.
/// </summary>
internal static partial class AtomicFile
{
    /// <summary>Temporary files this process is writing now; never removed as stale.</summary>
    private static readonly ConcurrentDictionary<string, byte> InFlight = new(StringComparer.Ordinal);

    /// <summary>The marker between a target's file name and the rest of its temporary file name.</summary>
    public const string TempMarker = ".tmp-";

    /// <summary>A fresh temporary path in the target's folder, registered as in flight.</summary>
    public static string NewTempPath(string fullPath)
    {
        var name = Path.GetFileName(fullPath);
        var dir = Path.GetDirectoryName(fullPath) ?? ".";
        var temp = Path.Combine(dir, string.Create(CultureInfo.InvariantCulture,
            $"{name}{TempMarker}{Environment.ProcessId}-{Random.Shared.NextInt64():x16}"));
        InFlight[temp] = 0;
        return temp;
    }

    /// <summary>Forgets a temporary path (renamed or deleted).</summary>
    public static void Release(string tempPath) => InFlight.TryRemove(tempPath, out _);

    /// <summary>Deletes a file, ignoring every error (best effort cleanup).</summary>
    public static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Removes <c>&lt;name&gt;.tmp-&lt;pid&gt;-*</c> files beside <paramref name="fullPath"/> whose writer is gone: another
    /// process id that no longer runs, or this process when the file is not one of its saves in flight. Returns how
    /// many were removed. Errors are ignored: a file that cannot be removed now is tried again at the next save.
    /// </summary>
    public static int CleanStale(string fullPath)
    {
        var name = Path.GetFileName(fullPath);
        var dir = Path.GetDirectoryName(fullPath) ?? ".";
        var prefix = name + TempMarker;
        int removed = 0;
        try
        {
            foreach (var file in Directory.EnumerateFiles(dir, "*" + TempMarker + "*"))
            {
                var fileName = Path.GetFileName(file);
                if (!fileName.StartsWith(prefix, StringComparison.Ordinal)) continue;
                var rest = fileName.AsSpan(prefix.Length);
                int dash = rest.IndexOf('-');
                if (dash <= 0 || !int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                    continue;
                bool stale = pid == Environment.ProcessId ? !InFlight.ContainsKey(file) : !IsRunning(pid);
                if (!stale) continue;
                try
                {
                    File.Delete(file);
                    removed++;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return removed;
    }

    /// <summary>Whether a process with this id runs now (a reused id counts as running: its file is kept).</summary>
    private static bool IsRunning(int pid)
    {
        if (OperatingSystem.IsLinux() && Directory.Exists("/proc/self"))
            return Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var p = Process.GetProcessById(pid);
            return true;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
        catch (PlatformNotSupportedException) { return true; }
    }

    /// <summary>
    /// fsyncs a directory so that a rename inside it survives a power loss (Linux only: open(O_RDONLY) + fsync).
    /// False when not attempted or when it failed; the rename itself is atomic either way.
    /// </summary>
    public static bool TrySyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            int fd = Open(directory, OpenReadOnly | OpenCloseOnExec);
            if (fd < 0) return false;
            try { return FSync(fd) == 0; }
            finally { _ = Close(fd); }
        }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    private const int OpenReadOnly = 0;
    private const int OpenCloseOnExec = 0x80000; // O_CLOEXEC, the same value on Linux x64 and arm64

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
