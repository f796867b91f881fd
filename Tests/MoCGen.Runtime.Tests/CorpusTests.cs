using System;
using System.IO;
using System.Linq;
using MoCGen.Data;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>Extraction of the SDK's XML documentation into training text, its discovery and its cache.</summary>
public sealed class CorpusTests : IDisposable
{
    private const string SampleXml = """
        <?xml version="1.0" encoding="utf-8"?>
        <doc>
          <assembly><name>Sample</name></assembly>
          <members>
            <member name="T:Sample.Widget">
              <summary>Represents a   widget
                that holds <see cref="T:System.String" /> values.</summary>
              <remarks><para>First paragraph.</para><para>Uses <c>Trim</c> and <see langword="null" />.</para></remarks>
            </member>
            <member name="M:Sample.Widget.Trim">
              <summary>Trims the widget.</summary>
              <returns>The trimmed <see cref="T:Sample.Widget"/>.</returns>
            </member>
            <member name="M:Sample.Widget.#ctor(System.String,System.Int32@)">
              <summary>Creates a widget from <paramref name="text" /> , see <see cref="M:System.String.Trim(System.Char[])">trimming</see>.</summary>
              <param name="text">The text.</param>
              <param name="count">The count.</param>
              <exception cref="T:System.ArgumentNullException"><paramref name="text"/> is null.</exception>
            </member>
            <member name="M:Sample.Widget.Map``2(System.Collections.Generic.IEnumerable{``0},System.Func{``0,``1})">
              <summary>Maps with <typeparamref name="TIn"/>; see <see cref="P:Sample.Widget.Item(System.Int32)"/>.</summary>
              <typeparam name="TIn">Input.</typeparam>
              <example><code>widget.Map(x => x);</code></example>
            </member>
            <member name="P:Sample.Widget.Item(System.Int32)">
              <summary>Gets an item.</summary>
              <value>The item.</value>
            </member>
            <member name="F:Sample.Widget.Empty">
              <inheritdoc/>
            </member>
            <member name="T:Sample.Box`1">
              <summary>A box of <see href="https://example.com">things</see> &amp; <see href="https://x.org"/>.</summary>
            </member>
          </members>
        </doc>
        """;

    // One line per member with text; exceptions and examples left out; <inheritdoc/> alone gives no line.
    private const string SampleText =
        "Sample.Widget: Represents a widget that holds String values. Remarks: First paragraph. Uses Trim and null.\n" +
        "Sample.Widget.Trim(): Trims the widget. Returns: The trimmed Widget.\n" +
        "Sample.Widget.Widget(String, ref Int32): Creates a widget from text, see trimming. Parameter text: The text. Parameter count: The count.\n" +
        "Sample.Widget.Map<T1,T2>(IEnumerable<T1>, Func<T1,T2>): Maps with TIn; see Widget.Item. Type parameter TIn: Input.\n" +
        "Sample.Widget.Item(Int32): Gets an item. Value: The item.\n" +
        "Sample.Box<T>: A box of things & https://x.org.\n";

    private readonly string _temp = Directory.CreateTempSubdirectory("mocgen-corpus-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void ExtractsReadableTextFromAnXmlDocumentationFile()
    {
        string xml = Path.Combine(_temp, "Sample.xml");
        File.WriteAllText(xml, SampleXml);
        var text = new StringWriter { NewLine = "\n" };
        int members = SdkDocsCorpus.Extract(new[] { xml }, text);
        Assert.Equal(SampleText, text.ToString());
        Assert.Equal(6, members);
    }

    [Fact]
    public void DtdsAreNeitherFetchedNorExpanded()
    {
        string xml = Path.Combine(_temp, "Evil.xml");
        File.WriteAllText(xml, """
            <?xml version="1.0"?>
            <!DOCTYPE doc [<!ENTITY big "expanded">]>
            <doc><members><member name="T:A"><summary>Plain text.</summary></member></members></doc>
            """);
        var text = new StringWriter { NewLine = "\n" };
        SdkDocsCorpus.Extract(new[] { xml }, text);
        Assert.Equal("A: Plain text.\n", text.ToString());
    }

    [Fact]
    public void MalformedXmlIsNamed()
    {
        string xml = Path.Combine(_temp, "Broken.xml");
        File.WriteAllText(xml, "<doc><members><member name=\"T:A\"><summary>Unclosed");
        var e = Assert.Throws<InvalidDataException>(() => SdkDocsCorpus.Extract(new[] { xml }, new StringWriter()));
        Assert.StartsWith($"{xml} is not well-formed XML documentation: ", e.Message);
    }

    [Theory]
    [InlineData("T:System.String", "System.String")]
    [InlineData("M:System.String.Trim", "System.String.Trim()")]
    [InlineData("M:System.String.Split(System.Char[],System.Int32)", "System.String.Split(Char[], Int32)")]
    [InlineData("M:System.Array.GetValue(System.Int32[0:,0:])", "System.Array.GetValue(Int32[,])")]
    [InlineData("M:System.Decimal.op_Explicit(System.Decimal)~System.Byte", "System.Decimal.op_Explicit(Decimal)")]
    [InlineData("M:System.Collections.Generic.List`1.#ctor(System.Collections.Generic.IEnumerable{`0})", "System.Collections.Generic.List<T>.List(IEnumerable<T>)")]
    [InlineData("M:System.Linq.Enumerable.Select``2(System.Collections.Generic.IEnumerable{``0},System.Func{``0,``1})", "System.Linq.Enumerable.Select<T1,T2>(IEnumerable<T1>, Func<T1,T2>)")]
    [InlineData("M:System.Byte.System#Numerics#IShiftOperators{System#Byte@System#Int32@System#Byte}#op_LeftShift(System.Byte,System.Int32)", "System.Byte.System.Numerics.IShiftOperators<Byte,Int32,Byte>.op_LeftShift(Byte, Int32)")]
    [InlineData("P:System.String.Chars(System.Int32)", "System.String.Chars(Int32)")]
    [InlineData("F:System.Int32.MaxValue", "System.Int32.MaxValue")]
    public void MemberNamesReadAsCode(string id, string expected) => Assert.Equal(expected, DocName.Readable(id));

    [Theory]
    [InlineData("T:System.String", "String")]
    [InlineData("T:System.Collections.Generic.List`1", "List<T>")]
    [InlineData("M:System.String.Trim(System.Char[])", "String.Trim")]
    [InlineData("M:System.String.#ctor(System.Char[])", "String")]
    [InlineData("P:System.String.Length", "String.Length")]
    [InlineData("System.Diagnostics.Activity", "Activity")]
    public void ReferencesInSentencesAreShort(string id, string expected) => Assert.Equal(expected, DocName.Short(id));

    [Fact]
    public void FindsTheNewestPackVersionAndOnlyDocsBesideAssemblies()
    {
        string root = FakeDotnetRoot();
        var files = SdkDocsLocator.DocumentationFiles(root);
        Assert.Equal(new[] { Path.Combine(root, "packs", "Fake.Ref", "2.0.0", "ref", "net10.0", "Sample.xml") }, files);
    }

    [Fact]
    public void ExtractsOnceThenReadsTheCache()
    {
        string root = FakeDotnetRoot();
        string cache = Path.Combine(_temp, "cache");

        var first = SdkDocsCorpus.Load(root, cache);
        Assert.False(first.Provenance.FromCache);
        Assert.Equal(SampleText, first.GetText());
        Assert.Equal(root, first.Provenance.DotnetRoot);
        Assert.Equal(1, first.Provenance.FileCount);
        Assert.Equal(6, first.Provenance.MemberCount);
        Assert.Equal(first.Utf8.Length, first.Provenance.TextBytes);
        string cacheFile = Assert.Single(Directory.GetFiles(cache)); // no temp file left behind
        Assert.Equal(cacheFile, first.Provenance.CachePath);
        DateTime written = File.GetLastWriteTimeUtc(cacheFile);

        var second = SdkDocsCorpus.Load(root, cache);
        Assert.True(second.Provenance.FromCache);
        Assert.Equal(first.Utf8, second.Utf8);
        Assert.Equal(written, File.GetLastWriteTimeUtc(cacheFile));
        Assert.Contains("read from cache", second.Provenance.Describe());

        // An SDK update changes the sources: a new cache file, extracted again.
        string xml = Path.Combine(root, "packs", "Fake.Ref", "2.0.0", "ref", "net10.0", "Sample.xml");
        File.WriteAllText(xml, SampleXml.Replace("Trims the widget.", "Trims the widget now."));
        var third = SdkDocsCorpus.Load(root, cache);
        Assert.False(third.Provenance.FromCache);
        Assert.NotEqual(cacheFile, third.Provenance.CachePath);
        Assert.Contains("Trims the widget now.", third.GetText());
    }

    [Fact]
    public void NoDocumentationSaysWhereItLookedAndWhatToDoInstead()
    {
        string empty = Path.Combine(_temp, "no-sdk");
        Directory.CreateDirectory(empty);
        var e = Assert.Throws<DirectoryNotFoundException>(() => SdkDocsCorpus.Load(empty, Path.Combine(_temp, "cache")));
        Assert.Contains(Path.Combine(empty, "packs"), e.Message);
        Assert.Contains("--data file.txt", e.Message);
    }

    [Fact]
    public void TheSdkOnThisMachineDocumentsItsApi()
    {
        // Extracts the real documentation (a few seconds) into a private cache, then reads it back from there.
        string cache = Path.Combine(_temp, "cache");
        var corpus = SdkDocsCorpus.Load(cacheDirectory: cache);
        var p = corpus.Provenance;
        Assert.False(p.FromCache);
        Assert.Contains(p.Folders, f => f.Contains("Microsoft.NETCore.App.Ref", StringComparison.Ordinal));
        Assert.True(p.FileCount >= 50, p.Describe());
        Assert.True(p.TextBytes > 5_000_000, p.Describe());
        string text = corpus.GetText();
        Assert.Contains("\nSystem.String: Represents text as a sequence of UTF-16 code units.\n", text);
        Assert.Contains("\nSystem.String.Trim(): Removes all leading and trailing white-space characters from the current string.", text);
        Assert.DoesNotContain("<see", text);
        Assert.DoesNotContain("  ", text);

        var again = SdkDocsCorpus.Load(cacheDirectory: cache);
        Assert.True(again.Provenance.FromCache);
        Assert.Equal(p.CachePath, again.Provenance.CachePath);
        Assert.Equal(corpus.Utf8, again.Utf8);
    }

    // packs/Fake.Ref/{1.0.0,2.0.0}/ref/net10.0 with Sample.xml + Sample.dll; 2.0.0 also holds a stray XML without
    // its assembly and a localized copy in de/, neither of which may be read.
    private string FakeDotnetRoot()
    {
        string root = Path.Combine(_temp, "dotnet");
        foreach (string version in new[] { "1.0.0", "2.0.0", "2.0.0-preview.1" })
        {
            string folder = Path.Combine(root, "packs", "Fake.Ref", version, "ref", "net10.0");
            Directory.CreateDirectory(Path.Combine(folder, "de"));
            File.WriteAllText(Path.Combine(folder, "Sample.xml"), version == "2.0.0" ? SampleXml : "<doc/>");
            File.WriteAllText(Path.Combine(folder, "Sample.dll"), "");
        }
        string newest = Path.Combine(root, "packs", "Fake.Ref", "2.0.0", "ref", "net10.0");
        File.WriteAllText(Path.Combine(newest, "Stray.xml"), SampleXml);
        File.WriteAllText(Path.Combine(newest, "de", "Sample.xml"), SampleXml);
        return root;
    }
}
