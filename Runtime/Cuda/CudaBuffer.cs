using System;
using System.Runtime.CompilerServices;

namespace MoCGen.Cuda;

/// <summary>
/// A device allocation of <see cref="Length"/> elements of <typeparamref name="T"/> (cuMemAlloc_v2). Upload from and
/// download to host spans with bounds checks; <see cref="Dispose"/> frees it. Pass it to a kernel with
/// <see cref="KernelArguments.Add{T}(CudaBuffer{T})"/>.
/// </summary>
/// <typeparam name="T">Element type: any unmanaged type (float, ushort for bf16 bits, int, ...).</typeparam>
public sealed unsafe class CudaBuffer<T> : IDisposable where T : unmanaged
{
    private readonly CudaDevice? device;
    private ulong pointer;
    private bool disposed;

    private CudaBuffer(CudaDevice? device, ulong pointer, long length)
    {
        this.device = device;
        this.pointer = pointer;
        Length = length;
    }

    /// <summary>Allocates an uninitialized buffer of <paramref name="length"/> elements on <paramref name="device"/>.</summary>
    public static CudaBuffer<T> Allocate(CudaDevice device, long length)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (length < 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"{TypeName}: length must be non-negative");
        long bytes = checked(length * Unsafe.SizeOf<T>());
        ulong ptr = 0;
        if (bytes > 0)
        {
            device.MakeCurrent();
            CudaDriver.Check(CudaDriver.cuMemAlloc_v2(&ptr, (nuint)bytes), "cuMemAlloc_v2",
                $"{TypeName}[{length}], {bytes} bytes on {device.Name}");
        }
        return new CudaBuffer<T>(device, ptr, length);
    }

    /// <summary>A buffer with no device and no allocation, for testing the host-side checks without a GPU.</summary>
    internal static CudaBuffer<T> Detached(long length) => new(null, 0, length);

    private static string TypeName => $"CudaBuffer<{typeof(T).Name}>";

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Size in bytes.</summary>
    public long ByteLength => Length * Unsafe.SizeOf<T>();

    /// <summary>The device address (CUdeviceptr); 0 for an empty buffer.</summary>
    public ulong DevicePointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return pointer;
        }
    }

    /// <summary>Copies <paramref name="source"/> into the buffer at element <paramref name="offset"/> (synchronous).</summary>
    public void Upload(ReadOnlySpan<T> source, long offset = 0)
    {
        CheckRange("Upload", "source", source.Length, offset);
        if (source.IsEmpty) return;
        var dev = RequireDevice();
        dev.MakeCurrent();
        fixed (T* src = source)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD_v2(pointer + (ulong)(offset * Unsafe.SizeOf<T>()), src,
                (nuint)((long)source.Length * Unsafe.SizeOf<T>())), "cuMemcpyHtoD_v2", $"{TypeName}[{Length}]");
        }
    }

    /// <summary>Copies elements starting at <paramref name="offset"/> into <paramref name="destination"/> (synchronous:
    /// waits for work on the default stream; synchronize other streams first).</summary>
    public void Download(Span<T> destination, long offset = 0)
    {
        CheckRange("Download", "destination", destination.Length, offset);
        if (destination.IsEmpty) return;
        var dev = RequireDevice();
        dev.MakeCurrent();
        fixed (T* dst = destination)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH_v2(dst, pointer + (ulong)(offset * Unsafe.SizeOf<T>()),
                (nuint)((long)destination.Length * Unsafe.SizeOf<T>())), "cuMemcpyDtoH_v2", $"{TypeName}[{Length}]");
        }
    }

    /// <summary>Downloads the whole buffer into a new array.</summary>
    public T[] ToArray()
    {
        if (Length > Array.MaxLength)
            throw new InvalidOperationException($"{TypeName}.ToArray: {Length} elements do not fit in one array; use Download with an offset");
        var result = new T[Length];
        Download(result);
        return result;
    }

    /// <summary>Sets every byte of the buffer to zero (cuMemsetD8_v2).</summary>
    public void Clear()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Length == 0) return;
        var dev = RequireDevice();
        dev.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemsetD8_v2(pointer, 0, (nuint)ByteLength), "cuMemsetD8_v2", $"{TypeName}[{Length}]");
    }

    /// <summary>Host-side checks shared by upload and download; runs before any driver call.</summary>
    internal void CheckRange(string operation, string spanName, int spanLength, long offset)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (offset < 0 || offset > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"{TypeName}.{operation}: offset {offset} is outside the buffer of {Length} elements");
        if (spanLength > Length - offset)
            throw new ArgumentException(
                $"{TypeName}.{operation}: {spanName} has {spanLength} elements but the buffer has only {Length - offset} " +
                $"from offset {offset} (length {Length})", spanName);
    }

    private CudaDevice RequireDevice() =>
        device ?? throw new InvalidOperationException($"{TypeName}: detached buffer has no device memory");

    /// <summary>Frees the device memory. Errors are ignored (e.g. when the context is already gone).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (pointer != 0 && device is { IsDisposed: false })
        {
            try
            {
                device.MakeCurrent();
                _ = CudaDriver.cuMemFree_v2(pointer);
            }
            catch (CudaException)
            {
                // The context is unusable; nothing left to free into.
            }
        }
        pointer = 0;
    }
}
