using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace MoCGen.Compiler.Cuda;

/// <summary>
/// The CUDA headers of kernels/ (mocgen_cuda.h, mocgen_reduce.h, mocgen_bf16.h) and their self-test kernels
/// (kernels/selftest/*.cu), embedded in this assembly so PTX can be compiled away from the repository.
/// </summary>
public static class KernelHeaders
{
    private const string HeaderPrefix = "MoCGen.Kernels.";
    private const string SelfTestPrefix = "MoCGen.Kernels.selftest.";
    private static readonly object Gate = new();
    private static string? _includeDirectory;

    /// <summary>Header file name to text.</summary>
    public static IReadOnlyDictionary<string, string> Headers { get; } = Load(HeaderPrefix, ".h");

    /// <summary>Self-test kernel file name (e.g. <c>warp_reduce.cu</c>) to CUDA C text, in name order.</summary>
    public static IReadOnlyDictionary<string, string> SelfTests { get; } = Load(SelfTestPrefix, ".cu");

    /// <summary>
    /// A folder holding the headers, written once per process under the temp folder (named by a hash of their
    /// content, so concurrent processes and different versions never overwrite each other's files half-way).
    /// </summary>
    public static string IncludeDirectory()
    {
        lock (Gate)
        {
            if (_includeDirectory is not null && Headers.Keys.All(h => File.Exists(Path.Combine(_includeDirectory, h)))) return _includeDirectory;
            var dir = Path.Combine(Path.GetTempPath(), "mocgen-kernels-" + ContentHash());
            Directory.CreateDirectory(dir);
            foreach (var header in Headers)
            {
                var path = Path.Combine(dir, header.Key);
                if (File.Exists(path) && File.ReadAllText(path) == header.Value) continue;
                var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
                File.WriteAllText(temp, header.Value, new UTF8Encoding(false));
                if (File.Exists(path)) File.Delete(path);
                try { File.Move(temp, path); }
                catch (IOException) when (File.Exists(path)) { File.Delete(temp); } // another process wrote the same content first
            }
            return _includeDirectory = dir;
        }
    }

    private static string ContentHash()
    {
        using var sha = SHA256.Create();
        var all = string.Join("\0", Headers.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => h.Key + "\0" + h.Value));
        return string.Concat(sha.ComputeHash(Encoding.UTF8.GetBytes(all)).Take(8).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static IReadOnlyDictionary<string, string> Load(string prefix, string extension)
    {
        var assembly = typeof(KernelHeaders).GetTypeInfo().Assembly;
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(extension, StringComparison.Ordinal)) continue;
            var file = name.Substring(prefix.Length);
            if (file.IndexOf('.') != file.Length - extension.Length) continue; // selftest.* is not a header
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            result[file] = reader.ReadToEnd();
        }
        return result;
    }
}
