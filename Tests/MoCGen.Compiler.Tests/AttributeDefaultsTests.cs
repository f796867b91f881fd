using MoCGen.Compiler.Spec;
using Xunit;

namespace MoCGen.Compiler.Tests;

/// <summary>The generator fills in defaults itself; they must be the ones the attribute documents.</summary>
public sealed class AttributeDefaultsTests
{
    [Fact]
    public void CompilerDefaultsEqualTheAttributeDefaults()
    {
        var attribute = new MoCModelAttribute();
        Assert.Equal(ModelDefaults.Vocab, attribute.Vocab);
        Assert.Equal(ModelDefaults.Batch, attribute.Batch);
        Assert.Equal(ModelDefaults.RopeTheta, attribute.RopeTheta);
        Assert.Equal(ModelDefaults.NormEps, attribute.NormEps);
        Assert.Equal(ModelDefaults.TieEmbeddings, attribute.TieEmbeddings);
        Assert.Equal(ModelDefaults.Weights, (int)attribute.Weights);
        Assert.Equal(ModelDefaults.KvHeadsUnset, attribute.KvHeads);
        foreach (var required in ArgumentNames.Required)
            Assert.Equal(0, (int)typeof(MoCModelAttribute).GetProperty(required)!.GetValue(attribute)!);
    }

    [Fact]
    public void PrecisionValuesMatch()
    {
        Assert.Equal((int)WeightPrecision.Float32, (int)StoredPrecision.Float32);
        Assert.Equal((int)WeightPrecision.BFloat16, (int)StoredPrecision.BFloat16);
    }

    [Fact]
    public void EveryAttributePropertyHasAnArgumentName()
    {
        var names = typeof(ArgumentNames).GetFields();
        foreach (var property in typeof(MoCModelAttribute).GetProperties())
        {
            if (property.DeclaringType != typeof(MoCModelAttribute)) continue;
            Assert.Contains(names, f => f.IsLiteral && (string)f.GetValue(null)! == property.Name);
        }
    }
}
