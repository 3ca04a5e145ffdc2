// CudaBackend: normal and Student-t noise, kernels/philox.cu.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FinGen.Native.Backends;
using FinGen.Native.Cuda.Interop;
using FinGen.Native.Memory;
using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native.Cuda;

public sealed unsafe partial class CudaBackend
{
    // ---- random numbers

    public void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset)
    {
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        void** args = stackalloc void*[] { &y, &n, &seed, &stream, &offset };
        if (n > 0) Launch(_kernels.PhiloxNormal, LaunchConfiguration.PhiloxGrid(n), LaunchConfiguration.Block, args);
    }

    public void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta)
    {
        CheckOffset(offset);
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        ulong* at = (ulong*)offset.Data;
        void** args = stackalloc void*[] { &y, &n, &seed, &stream, &at, &delta };
        if (n > 0) Launch(_kernels.PhiloxNormalAt, LaunchConfiguration.PhiloxGrid(n), LaunchConfiguration.Block, args);
    }

    public void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees)
    {
        Philox.CheckStudentTDegrees(degrees);
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        void** args = stackalloc void*[] { &y, &n, &seed, &stream, &offset, &degrees };
        if (n > 0) Launch(_kernels.PhiloxStudentT, LaunchConfiguration.Grid(n), LaunchConfiguration.Block, args);
    }

    public void FillStudentT(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta, int degrees)
    {
        Philox.CheckStudentTDegrees(degrees);
        CheckOffset(offset);
        Enter();
        float* y = destination.Data;
        int n = destination.Length;
        ulong* at = (ulong*)offset.Data;
        void** args = stackalloc void*[] { &y, &n, &seed, &stream, &at, &delta, &degrees };
        if (n > 0) Launch(_kernels.PhiloxStudentTAt, LaunchConfiguration.Grid(n), LaunchConfiguration.Block, args);
    }

    private static void CheckOffset(Tensor offset)
    {
        if (offset.Length < 2 || ((nuint)offset.Data & 7) != 0)
            Throw.Argument($"{offset}: a noise offset is two floats holding an 8-byte-aligned 64-bit integer");
    }
}
