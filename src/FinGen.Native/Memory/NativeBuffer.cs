using System.Runtime.InteropServices;

namespace FinGen.Native.Memory;

/// <summary>
/// 64-byte-aligned native memory of floats owned by a SafeHandle, so it is freed exactly once even if
/// the owner forgets to dispose. 64 bytes is one cache line and one AVX-512 vector.
/// </summary>
public sealed unsafe class NativeBuffer : SafeHandle
{
    public const int Alignment = 64;

    public NativeBuffer(long count) : base(IntPtr.Zero, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        nuint bytes = (nuint)Math.Max(1, count) * sizeof(float);
        void* p = NativeMemory.AlignedAlloc(bytes, Alignment);
        NativeMemory.Clear(p, bytes);
        SetHandle((IntPtr)p);
    }

    /// <summary>Number of floats.</summary>
    public long Count { get; }

    public float* Pointer => (float*)handle;

    public Span<float> Span => new((void*)handle, checked((int)Count));

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
