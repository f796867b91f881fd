using System;

namespace MoCGen.Checkpoints;

/// <summary>
/// A checkpoint file cannot be read or written as asked: truncated, malformed, or not matching the model.
/// The message always names the file, and the tensor when one tensor is at fault.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception; the message is built from the file, the tensor and the detail.</summary>
    /// <param name="filePath">The checkpoint file.</param>
    /// <param name="tensorName">The tensor at fault, or null when the fault is in the file as a whole.</param>
    /// <param name="detail">What is wrong, as one sentence.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public CheckpointException(string filePath, string? tensorName, string detail, Exception? inner = null)
        : base(Format(filePath, tensorName, detail), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
        Detail = detail;
    }

    /// <summary>The checkpoint file.</summary>
    public string FilePath { get; }

    /// <summary>The tensor at fault, or null when the fault concerns the file as a whole (header, metadata, sizes).</summary>
    public string? TensorName { get; }

    /// <summary>What is wrong, without the file and tensor prefix.</summary>
    public string Detail { get; }

    private static string Format(string filePath, string? tensorName, string detail) =>
        tensorName is null
            ? $"Checkpoint '{filePath}': {detail}"
            : $"Checkpoint '{filePath}', tensor '{tensorName}': {detail}";
}
