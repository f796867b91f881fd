using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace MoCGen.Data;

/// <summary>
/// Finds the .NET installation and the English documentation XML files of its targeting packs:
/// <c>&lt;dotnet root&gt;/packs/&lt;pack&gt;/&lt;version&gt;/ref/&lt;tfm&gt;/*.xml</c>. Localized copies live in
/// sub-folders (de/, fr/, ...) and are not taken.
/// </summary>
public static class SdkDocsLocator
{
    /// <summary>
    /// Candidate dotnet roots, most specific first, without duplicates: DOTNET_ROOT, the running dotnet host's
    /// folder, three folders above the runtime's System.Private.CoreLib (shared/Microsoft.NETCore.App/&lt;version&gt;),
    /// the target of <c>dotnet</c> on PATH, then the usual install folders.
    /// </summary>
    public static IReadOnlyList<string> CandidateRoots()
    {
        var candidates = new List<string?>
        {
            Environment.GetEnvironmentVariable("DOTNET_ROOT"),
            HostFolder(Environment.ProcessPath),
            RuntimeRoot(),
            HostFolder(FindOnPath()),
        };
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsWindows())
        {
            candidates.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), "dotnet"));
        }
        else
        {
            candidates.AddRange(new[] { "/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet", "/opt/dotnet", "/usr/local/dotnet" });
        }
        if (home.Length > 0) candidates.Add(Path.Combine(home, ".dotnet"));
        var comparer = OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
        return candidates.Where(c => !string.IsNullOrWhiteSpace(c))
            .Select(c => Path.TrimEndingDirectorySeparator(Path.GetFullPath(c!)))
            .Distinct(comparer).ToList();
    }

    /// <summary>
    /// The documentation files under one dotnet root, sorted by ordinal path: for every pack in <c>packs/</c>, its
    /// highest version, there the highest target framework folder under <c>ref/</c> with XML files, and there each
    /// XML file that sits beside its reference assembly (same name, .dll). Some packs carry stray copies of other
    /// packs' XML without the assembly (ASP.NET Core's ref pack holds all of Microsoft.NETCore.App's); the assembly
    /// test skips them, and an assembly documented in two packs is taken once (first path wins).
    /// Empty when the root has none.
    /// </summary>
    public static IReadOnlyList<string> DocumentationFiles(string dotnetRoot)
    {
        string packs = Path.Combine(dotnetRoot, "packs");
        if (!Directory.Exists(packs)) return Array.Empty<string>();
        var files = new List<string>();
        foreach (string pack in Directory.GetDirectories(packs))
        {
            // Several versions of one pack document the same API: take only the newest, to avoid duplicated text.
            string? folder = Directory.GetDirectories(pack)
                .OrderByDescending(v => VersionKey(Path.GetFileName(v)), VersionComparer.Instance)
                .Select(NewestFrameworkWithXml).FirstOrDefault(f => f is not null);
            if (folder is not null) files.AddRange(Directory.GetFiles(folder, "*.xml").Where(HasAssembly));
        }
        files.Sort(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        return files.Where(f => seen.Add(Path.GetFileName(f))).ToList();
    }

    private static bool HasAssembly(string xml) => File.Exists(Path.ChangeExtension(xml, ".dll"));

    private static string? NewestFrameworkWithXml(string versionFolder)
    {
        string refFolder = Path.Combine(versionFolder, "ref");
        if (!Directory.Exists(refFolder)) return null;
        return Directory.GetDirectories(refFolder)
            .OrderByDescending(t => VersionKey(Path.GetFileName(t).TrimStart("netcoreapp".ToCharArray())), VersionComparer.Instance)
            .FirstOrDefault(t => Directory.EnumerateFiles(t, "*.xml").Any(HasAssembly));
    }

    private static string? HostFolder(string? host)
    {
        if (host is null) return null;
        string name = Path.GetFileNameWithoutExtension(host);
        if (!name.Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return null;
        // /usr/bin/dotnet is usually a link to /usr/share/dotnet/dotnet or /usr/lib/dotnet/dotnet.
        try
        {
            string target = File.ResolveLinkTarget(host, returnFinalTarget: true)?.FullName ?? host;
            return Path.GetDirectoryName(target);
        }
        catch (IOException) { return Path.GetDirectoryName(host); }
        catch (UnauthorizedAccessException) { return Path.GetDirectoryName(host); }
    }

    // <root>/shared/Microsoft.NETCore.App/<version>/ is the runtime folder; empty under NativeAOT (no runtime folder).
    private static string? RuntimeRoot()
    {
        string runtime = RuntimeEnvironment.GetRuntimeDirectory();
        if (string.IsNullOrEmpty(runtime)) return null;
        var dir = new DirectoryInfo(Path.TrimEndingDirectorySeparator(runtime));
        return dir.Parent?.Parent?.Parent?.FullName;
    }

    private static string? FindOnPath()
    {
        string exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string path = Path.Combine(dir, exe);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    // "10.0.12" -> (10,0,12, release); "10.0.0-rc.1.2" sorts before "10.0.0". Not a version: sorts first.
    private static (Version Number, bool Release) VersionKey(string name)
    {
        int dash = name.IndexOf('-');
        string number = dash < 0 ? name : name[..dash];
        return Version.TryParse(number, out Version? v) ? (v, dash < 0) : (new Version(0, 0), false);
    }

    private sealed class VersionComparer : IComparer<(Version Number, bool Release)>
    {
        public static readonly VersionComparer Instance = new();
        public int Compare((Version Number, bool Release) a, (Version Number, bool Release) b)
        {
            int c = a.Number.CompareTo(b.Number);
            return c != 0 ? c : a.Release.CompareTo(b.Release);
        }
    }
}
