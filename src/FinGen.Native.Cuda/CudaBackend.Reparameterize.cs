// CudaBackend: the VAE's reparameterization, kernels/reparameterize.cu.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FinGen.Native.Backends;
using FinGen.Native.Cuda.Interop;
using FinGen.Native.Memory;
using FinGen.Native.Models;

namespace FinGen.Native.Cuda;

public sealed unsafe partial class CudaBackend
{
    // ---- reparameterization

    public void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z)
    {
        Shapes.Same(mu, logVar); Shapes.Same(mu, epsilon); Shapes.Same(mu, z);
        Enter();
        float* pmu = mu.Data, plv = logVar.Data, peps = epsilon.Data, pz = z.Data;
        int n = mu.Length;
        void** args = stackalloc void*[] { &pmu, &plv, &peps, &pz, &n };
        LaunchElementwise(_kernels.ReparameterizeForward, n, args);
    }

    public void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar)
    {
        Shapes.Same(logVar, epsilon); Shapes.Same(logVar, dz); Shapes.Same(logVar, dMu); Shapes.Same(logVar, dLogVar);
        Enter();
        float* plv = logVar.Data, peps = epsilon.Data, pdz = dz.Data, pdmu = dMu.Data, pdlv = dLogVar.Data;
        int n = logVar.Length;
        void** args = stackalloc void*[] { &plv, &peps, &pdz, &pdmu, &pdlv, &n };
        LaunchElementwise(_kernels.ReparameterizeBackward, n, args);
    }
}
