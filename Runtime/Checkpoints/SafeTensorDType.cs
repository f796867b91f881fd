using System;

namespace MoCGen.Checkpoints;

/// <summary>Element types this runtime reads and writes in safetensors files (the format's own names).</summary>
public enum SafeTensorDType
{
    /// <summary>IEEE binary32, 4 bytes, little-endian ("F32").</summary>
    F32 = 0,

    /// <summary>bfloat16, 2 bytes, little-endian ("BF16"): the upper half of a binary32.</summary>
    BF16 = 1,

    /// <summary>IEEE binary16, 2 bytes, little-endian ("F16"); read and written, never chosen by the model checkpoints.</summary>
    F16 = 2,
}

/// <summary>Helpers for <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 => 4,
        SafeTensorDType.BF16 => 2,
        SafeTensorDType.F16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>The name written in the header ("F32", "BF16", "F16").</summary>
    public static string Name(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 => "F32",
        SafeTensorDType.BF16 => "BF16",
        SafeTensorDType.F16 => "F16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>The dtype storing weights of the given precision.</summary>
    public static SafeTensorDType For(WeightPrecision precision) => precision switch
    {
        WeightPrecision.Float32 => SafeTensorDType.F32,
        WeightPrecision.BFloat16 => SafeTensorDType.BF16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown precision."),
    };

    /// <summary>Parses a header dtype name; false for names this runtime does not read.</summary>
    public static bool TryParse(string name, out SafeTensorDType dtype)
    {
        switch (name)
        {
            case "F32": dtype = SafeTensorDType.F32; return true;
            case "BF16": dtype = SafeTensorDType.BF16; return true;
            case "F16": dtype = SafeTensorDType.F16; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>True for the other dtype names the safetensors format defines (valid files this runtime cannot load).</summary>
    internal static bool IsOtherKnownName(string name) => name switch
    {
        "F64" or "I64" or "U64" or "I32" or "U32" or "I16" or "U16" or "I8" or "U8" or "BOOL"
            or "F8_E4M3" or "F8_E5M2" or "F8_E8M0" or "F6_E2M3" or "F6_E3M2" or "F4" or "C64" => true,
        _ => false,
    };
}
