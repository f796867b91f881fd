using System;

namespace MoCGen.Checkpoints;

/// <summary>A tensor to be written: its name, stored dtype and shape (row-major, last dimension fastest).</summary>
/// <param name="Name">Tensor name, unique in the file (not <c>__metadata__</c>).</param>
/// <param name="DType">Stored element type; values are given as fp32 and converted.</param>
/// <param name="Shape">Dimensions; <c>[]</c> is a scalar (one element).</param>
public readonly record struct TensorSpec(string Name, SafeTensorDType DType, long[] Shape)
{
    /// <summary>A spec from an int shape such as <see cref="ParameterTensor.Shape"/>.</summary>
    public TensorSpec(string name, SafeTensorDType dtype, int[] shape)
        : this(name, dtype, Array.ConvertAll(shape, d => (long)d))
    {
    }

    /// <summary>Number of elements.</summary>
    public long Elements => ElementConversion.TryElements(Shape, out var n) ? n : throw new OverflowException("Shape too large.");
}

/// <summary>One tensor with its values, for <see cref="SafeTensors.Write"/>.</summary>
/// <param name="Spec">Name, dtype and shape.</param>
/// <param name="Values">The values as fp32, exactly <see cref="TensorSpec.Elements"/> of them.</param>
public readonly record struct TensorData(TensorSpec Spec, ReadOnlyMemory<float> Values);

/// <summary>One tensor as found in a file's header.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">Stored element type.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">First byte, relative to the start of the data (just after the header).</param>
/// <param name="End">One past the last byte, relative to the start of the data.</param>
public readonly record struct SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements.</summary>
    public long Elements => (End - Begin) / DType.Size();

    /// <summary>Bytes of data.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The shape as text, e.g. "[256, 704]".</summary>
    public string ShapeText => ElementConversion.ShapeText(Shape);
}
