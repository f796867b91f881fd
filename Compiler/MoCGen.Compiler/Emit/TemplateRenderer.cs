using System;
using System.Collections.Concurrent;
using System.IO;
using System.Reflection;
using Scriban;
using Scriban.Runtime;

namespace MoCGen.Compiler.Emit;

/// <summary>Renders the Scriban templates embedded from Templates/; members keep their C# names.</summary>
public static class TemplateRenderer
{
    private static readonly ConcurrentDictionary<string, Template> Cache = new();

    /// <summary>Renders <paramref name="templateName"/> (file name without extension) over <paramref name="model"/>.</summary>
    public static string Render(string templateName, object model) => Render(templateName, model, System.Array.Empty<string>());

    /// <summary>
    /// Renders the kernel template <paramref name="templateName"/> over <paramref name="model"/> (which has <c>Cuda</c>)
    /// after Templates/Targets.scriban, Sparse.scriban, Select.scriban and Gemv.scriban in the same context: the spellings of CUDA C
    /// and ILGPU C# that every kernel template shares, the sparse products the forward and backward share, and the
    /// Top-K selection the training and decode kernels share.
    /// </summary>
    public static string RenderKernel(string templateName, object model) => Render(templateName, model, "Targets", "Sparse", "Select", "Gemv");

    private static string Render(string templateName, object model, params string[] preludes)
    {
        var template = Cache.GetOrAdd(templateName, Load);
        var globals = new ScriptObject();
        globals.Import(model, renamer: member => member.Name);
        var context = new TemplateContext
        {
            MemberRenamer = member => member.Name,
            StrictVariables = true,
            LoopLimit = int.MaxValue,
            EnableRelaxedMemberAccess = false,
            LimitToString = 0, // a captured kernel body (re-indented) may exceed 1 MB for very wide models
        };
        context.PushGlobal(globals);
        foreach (var prelude in preludes)
        {
            string text = Cache.GetOrAdd(prelude, Load).Render(context);
            if (text.Trim().Length != 0) throw new InvalidOperationException($"Template {prelude}.scriban must render no text.");
        }
        return template.Render(context).Replace("\r\n", "\n");
    }

    /// <summary>The raw text of an embedded template.</summary>
    public static string ReadTemplate(string templateName)
    {
        var resource = "MoCGen.Templates." + templateName + ".scriban";
        using var stream = typeof(TemplateRenderer).GetTypeInfo().Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Template '{resource}' is not embedded in MoCGen.Compiler.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static Template Load(string templateName)
    {
        var template = Template.Parse(ReadTemplate(templateName), templateName + ".scriban");
        if (template.HasErrors)
            throw new InvalidOperationException($"Template {templateName}.scriban does not parse: {string.Join("; ", template.Messages)}");
        return template;
    }
}
