// CudaBackend: batch normalization, kernels/batchnorm.cu.
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
    // ---- batch normalization: kernels/batchnorm.cu, one block a channel for the reductions

    public void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd)
    {
        // The CPU reference's contract, shared (Shapes): among others, more than one value per channel (N·H·W > 1).
        int spatial = Shapes.BatchNormTraining(x, gamma, beta, channels, runningMean, runningVar, y, saveMean, saveInvStd);
        Enter();
        if (x.Length == 0) return;
        float* px = x.Data, pg = gamma.Data, pb = beta.Data, py = y.Data, psm = saveMean.Data, psi = saveInvStd.Data,
            prm = runningMean.Data, prv = runningVar.Data;
        int batch = x.Rows;
        void** args = stackalloc void*[] { &px, &pg, &pb, &py, &psm, &psi, &prm, &prv, &momentum, &epsilon, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormForwardTraining, LaunchConfiguration.ChannelGrid(channels), LaunchConfiguration.ChannelBlock, args);
    }

    public void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y)
    {
        int spatial = Shapes.BatchNormInference(x, gamma, beta, channels, runningMean, runningVar, y);
        Enter();
        float* px = x.Data, pg = gamma.Data, pb = beta.Data, prm = runningMean.Data, prv = runningVar.Data, py = y.Data;
        int batch = x.Rows;
        void** args = stackalloc void*[] { &px, &pg, &pb, &prm, &prv, &py, &epsilon, &batch, &channels, &spatial };
        LaunchElementwise(_kernels.BatchNormForwardInference, x.Length, args);
    }

    public void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd,
        Tensor dx, Tensor dGamma, Tensor dBeta)
    {
        int spatial = Shapes.BatchNormBackward(x, gamma, dy, channels, saveMean, saveInvStd, dx, dGamma, dBeta);
        if (dGamma.IsEmpty != dBeta.IsEmpty) Throw.Argument("BatchNorm2dBackward: dGamma and dBeta must both be given or both be empty");
        Enter();
        if (x.Length == 0 || (dx.IsEmpty && dGamma.IsEmpty)) return;
        float* px = x.Data, pg = gamma.Data, pdy = dy.Data, psm = saveMean.Data, psi = saveInvStd.Data,
            pdx = dx.Data, pdg = dGamma.Data, pdb = dBeta.Data;
        int batch = x.Rows;
        void** args = stackalloc void*[] { &px, &pg, &pdy, &psm, &psi, &pdx, &pdg, &pdb, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormBackward, LaunchConfiguration.ChannelGrid(channels), LaunchConfiguration.ChannelBlock, args);
    }
}
