// CudaBackend: spectral normalization, kernels/spectralnorm.cu.
using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Cuda;

public sealed unsafe partial class CudaBackend
{
    // ---- spectral normalization: a one-block reduction (the power iteration and σ, or ⟨G, W⟩), then a grid-stride pass

    public void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized)
    {
        Shapes.SpectralNorm(weight, u, v, sigma, normalized);
        Enter();
        float* pw = weight.Data, pu = u.Data, pv = v.Data, ps = sigma.Data, pn = normalized.Data;
        int rows = weight.Rows, cols = weight.Cols, iterate = powerIteration ? 1 : 0, n = weight.Length;
        void** power = stackalloc void*[] { &pw, &pu, &pv, &ps, &rows, &cols, &iterate };
        Launch(_kernels.SpectralNormPower, 1, LaunchConfiguration.SpectralBlock, power);
        void** scale = stackalloc void*[] { &pw, &ps, &pn, &n };
        LaunchElementwise(_kernels.SpectralNormScale, n, scale);
    }

    public void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight)
    {
        Shapes.SpectralNorm(weight, u, v, sigma, dNormalized);
        Shapes.Same(weight, dWeight);
        Enter();
        float* pw = weight.Data, pu = u.Data, pv = v.Data, ps = sigma.Data, pg = dNormalized.Data, pdw = dWeight.Data;
        double* dot = _spectralDot; // one stream orders its uses: written by the first launch, read by the second
        int rows = weight.Rows, cols = weight.Cols, n = weight.Length;
        void** reduce = stackalloc void*[] { &pg, &pw, &dot, &n };
        Launch(_kernels.SpectralNormDot, 1, LaunchConfiguration.SpectralBlock, reduce);
        void** update = stackalloc void*[] { &pg, &pu, &pv, &ps, &dot, &pdw, &rows, &cols };
        LaunchElementwise(_kernels.SpectralNormBackward, n, update);
    }
}
