using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

namespace MoCGen.Data;

/// <summary>
/// The default training corpus: the English API documentation that ships with the .NET SDK (the XML files beside
/// the reference assemblies of its targeting packs), as plain text, one documented member per line:
/// <c>System.String.Trim(): Removes all leading and trailing white-space characters from the current string. Returns: ...</c>.
/// Extraction takes seconds, so the text is cached once per SDK install in a file named by a hash of the sources.
/// </summary>
public sealed class SdkDocsCorpus
{
    private SdkDocsCorpus(byte[] utf8, SdkDocsProvenance provenance)
    {
        Utf8 = utf8;
        Provenance = provenance;
    }

    /// <summary>The corpus text as UTF-8 bytes (what the byte tokenizer consumes directly).</summary>
    public byte[] Utf8 { get; }

    /// <summary>Where the text came from: folders, file count, sizes, cache file.</summary>
    public SdkDocsProvenance Provenance { get; }

    /// <summary>The corpus text as a string (decoded on each call: tens of megabytes).</summary>
    public string GetText() => Encoding.UTF8.GetString(Utf8);

    /// <summary><c>$XDG_CACHE_HOME/mocgen</c>, else <c>~/.cache/mocgen</c> (on Windows, local application data/mocgen).</summary>
    public static string DefaultCacheDirectory
    {
        get
        {
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "mocgen");
            if (OperatingSystem.IsWindows())
                return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "mocgen");
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mocgen");
        }
    }

    /// <summary>
    /// Finds the SDK documentation and returns its text, from the cache when the sources are unchanged.
    /// </summary>
    /// <param name="dotnetRoot">The .NET install to read; null searches <see cref="SdkDocsLocator.CandidateRoots"/> in order.</param>
    /// <param name="cacheDirectory">Where the text is cached; null for <see cref="DefaultCacheDirectory"/>.</param>
    /// <exception cref="DirectoryNotFoundException">No documentation XML was found; the message lists the folders searched.</exception>
    public static SdkDocsCorpus Load(string? dotnetRoot = null, string? cacheDirectory = null)
    {
        IReadOnlyList<string> roots = dotnetRoot is null ? SdkDocsLocator.CandidateRoots() : new[] { Path.GetFullPath(dotnetRoot) };
        foreach (string root in roots)
        {
            IReadOnlyList<string> files = SdkDocsLocator.DocumentationFiles(root);
            if (files.Count > 0) return Load(root, files, cacheDirectory ?? DefaultCacheDirectory);
        }
        throw new DirectoryNotFoundException(
            "No .NET SDK API documentation (packs/<pack>/<version>/ref/<tfm>/*.xml) was found. Searched: " +
            string.Join(", ", roots.Select(r => Path.Combine(r, "packs"))) +
            ". Set DOTNET_ROOT to a .NET SDK install that has them, or pass --data file.txt to train on a UTF-8 text file instead.");
    }

    /// <summary>Extracts the text of the given XML documentation files, in the order given, into <paramref name="output"/>.</summary>
    /// <returns>The number of members written (lines).</returns>
    /// <exception cref="InvalidDataException">A file is not well-formed XML; the message names it.</exception>
    public static int Extract(IEnumerable<string> xmlFiles, TextWriter output)
    {
        int members = 0;
        foreach (string file in xmlFiles)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            try { members += XmlDocText.Extract(stream, output); }
            catch (System.Xml.XmlException e) { throw new InvalidDataException($"{file} is not well-formed XML documentation: {e.Message}", e); }
        }
        return members;
    }

    private static SdkDocsCorpus Load(string root, IReadOnlyList<string> files, string cacheDirectory)
    {
        var infos = files.Select(f => new FileInfo(f)).ToList();
        long sourceBytes = infos.Sum(i => i.Length);
        var folders = files.Select(f => Path.GetDirectoryName(f)!).Distinct().ToList();
        string? cachePath = Path.Combine(Path.GetFullPath(cacheDirectory), $"sdk-docs-{SourceHash(infos)}.txt");

        byte[]? text = TryRead(cachePath);
        bool fromCache = text is not null;
        if (text is null)
        {
            var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
            Extract(files, writer);
            text = new UTF8Encoding(false).GetBytes(writer.ToString());
            if (!TryWriteAtomically(cachePath, text)) cachePath = null;
        }
        int members = text.AsSpan().Count((byte)'\n');
        return new SdkDocsCorpus(text, new SdkDocsProvenance(root, folders, files.Count, sourceBytes, text.LongLength, members, cachePath, fromCache));
    }

    /// <summary>Names the cache: any change of the file set, a size or a modification time (an SDK update) gives a new name.</summary>
    private static string SourceHash(IEnumerable<FileInfo> files)
    {
        var sb = new StringBuilder().Append("format ").Append(XmlDocText.FormatVersion).Append('\n');
        foreach (FileInfo f in files)
            sb.Append(f.FullName).Append('|').Append(f.Length).Append('|').Append(f.LastWriteTimeUtc.Ticks).Append('\n');
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()));
        return Convert.ToHexStringLower(hash, 0, 8);
    }

    private static byte[]? TryRead(string path)
    {
        try { return File.Exists(path) ? File.ReadAllBytes(path) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    // Temp file in the same folder, flushed to disk, then renamed over the target: a reader never sees half a file,
    // and two processes extracting at once both end with a complete cache. A read-only cache folder is not an error.
    private static bool TryWriteAtomically(string path, byte[] bytes)
    {
        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (Exception) { /* best effort: the temp name is unique, a leftover harms nothing */ }
            return false;
        }
    }
}
