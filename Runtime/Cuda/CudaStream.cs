using System;

namespace MoCGen.Cuda;

/// <summary>A CUDA stream (cuStreamCreate): launches and event records on one stream run in order.</summary>
public sealed unsafe class CudaStream : IDisposable
{
    private nint handle;

    private CudaStream(CudaDevice device, nint handle)
    {
        Device = device;
        this.handle = handle;
    }

    /// <summary>Creates a stream on <paramref name="device"/>. A non-blocking stream does not synchronize with the legacy
    /// default stream (which the synchronous <see cref="CudaBuffer{T}"/> copies use).</summary>
    public static CudaStream Create(CudaDevice device, bool nonBlocking = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        device.MakeCurrent();
        nint h;
        CudaDriver.Check(CudaDriver.cuStreamCreate(&h, nonBlocking ? CudaDriver.CU_STREAM_NON_BLOCKING : CudaDriver.CU_STREAM_DEFAULT),
            "cuStreamCreate", device.Name);
        return new CudaStream(device, h);
    }

    /// <summary>The device it was created on.</summary>
    public CudaDevice Device { get; }

    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(handle == 0, this);
            return handle;
        }
    }

    /// <summary>Waits until all work queued on the stream has finished (kernel faults surface here).</summary>
    public void Synchronize()
    {
        nint h = Handle;
        Device.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(h), "cuStreamSynchronize");
    }

    /// <summary>Destroys the stream (queued work still completes).</summary>
    public void Dispose()
    {
        if (handle == 0) return;
        nint h = handle;
        handle = 0;
        if (Device.IsDisposed) return;
        try
        {
            Device.MakeCurrent();
            _ = CudaDriver.cuStreamDestroy_v2(h);
        }
        catch (CudaException)
        {
            // The context is unusable.
        }
    }
}

/// <summary>A CUDA event (cuEventCreate), for timing GPU work and waiting on a point in a stream.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    private nint handle;

    private CudaEvent(CudaDevice device, nint handle)
    {
        Device = device;
        this.handle = handle;
    }

    /// <summary>Creates a timing-capable event on <paramref name="device"/>.</summary>
    public static CudaEvent Create(CudaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        device.MakeCurrent();
        nint h;
        CudaDriver.Check(CudaDriver.cuEventCreate(&h, CudaDriver.CU_EVENT_DEFAULT), "cuEventCreate", device.Name);
        return new CudaEvent(device, h);
    }

    /// <summary>The device it was created on.</summary>
    public CudaDevice Device { get; }

    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(handle == 0, this);
            return handle;
        }
    }

    /// <summary>Records the event on <paramref name="stream"/> (null: the default stream).</summary>
    public void Record(CudaStream? stream = null)
    {
        nint h = Handle;
        Device.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuEventRecord(h, stream?.Handle ?? 0), "cuEventRecord");
    }

    /// <summary>Waits until the work before the event's last record has finished.</summary>
    public void Synchronize()
    {
        nint h = Handle;
        Device.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuEventSynchronize(h), "cuEventSynchronize");
    }

    /// <summary>Milliseconds between two recorded events (waits for <paramref name="end"/>); resolution about 0.5 µs.</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        end.Synchronize();
        float ms;
        CudaDriver.Check(CudaDriver.cuEventElapsedTime(&ms, start.Handle, end.Handle), "cuEventElapsedTime");
        return ms;
    }

    /// <summary>Milliseconds from <paramref name="start"/> to this event (waits for this event).</summary>
    public float ElapsedMillisecondsSince(CudaEvent start) => ElapsedMilliseconds(start, this);

    /// <summary>Destroys the event.</summary>
    public void Dispose()
    {
        if (handle == 0) return;
        nint h = handle;
        handle = 0;
        if (Device.IsDisposed) return;
        try
        {
            Device.MakeCurrent();
            _ = CudaDriver.cuEventDestroy_v2(h);
        }
        catch (CudaException)
        {
            // The context is unusable.
        }
    }
}
