using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace MoCGen.Data;

/// <summary>Where the SDK documentation corpus came from, for the trainer's log and for tests.</summary>
/// <param name="DotnetRoot">The .NET installation whose packs were read.</param>
/// <param name="Folders">The folders holding the XML files, e.g. packs/Microsoft.NETCore.App.Ref/10.0.12/ref/net10.0.</param>
/// <param name="FileCount">Number of XML files read.</param>
/// <param name="SourceBytes">Total size of those XML files.</param>
/// <param name="TextBytes">Size of the extracted text, in UTF-8 bytes (= tokens for the byte tokenizer).</param>
/// <param name="MemberCount">Number of documented members, one line of text each.</param>
/// <param name="CachePath">The cache file holding the text; null when it could not be written.</param>
/// <param name="FromCache">True when the text was read from the cache, false when extracted by this call.</param>
public sealed record SdkDocsProvenance(
    string DotnetRoot,
    IReadOnlyList<string> Folders,
    int FileCount,
    long SourceBytes,
    long TextBytes,
    int MemberCount,
    string? CachePath,
    bool FromCache)
{
    /// <summary>One line for a log: "SDK docs: 354 XML files (72.1 MB) in /usr/share/dotnet/packs/... -> 31.0 MB text, 145,000 members (cached ...)".</summary>
    public string Describe()
    {
        string folders = string.Join(", ", Folders);
        string cache = CachePath is null ? "not cached" : (FromCache ? "read from cache " : "extracted, cached in ") + CachePath;
        return string.Create(CultureInfo.InvariantCulture,
            $"SDK documentation: {FileCount} XML files ({SourceBytes / 1e6:F1} MB) in {folders} -> {TextBytes / 1e6:F1} MB of text, {MemberCount:N0} members; {cache}");
    }
}
