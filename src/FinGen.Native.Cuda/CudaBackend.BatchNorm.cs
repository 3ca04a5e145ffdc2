// CudaBackend: batch normalization and the per-channel sums of kernels/batchnorm.cu, and the workspace they share.
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
    // ---- batch normalization: kernels/batchnorm.cu. Every per-channel sum is two stages in a fixed order: stage 1 cuts
    // each channel into G slices (LaunchConfiguration.ChannelSlices), one block each, so that a layer of few channels and
    // a large N·H·W spreads over the GPU instead of running one block a channel; stage 2 adds each channel's G partial
    // sums in one block. The partial sums and the statistics between the launches live in the channel workspace.

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
        int slices = LaunchConfiguration.ChannelSlices((long)batch * spatial, channels);
        double* partials = ChannelWorkspace(channels, slices, out double* stats);
        uint items = LaunchConfiguration.ChannelItemGrid(channels, slices), perChannel = LaunchConfiguration.ChannelGrid(channels);
        const uint block = LaunchConfiguration.ChannelBlock;

        // μ: Σ x by slices, then a channel's slices (stats[c] = μ); σ² likewise around μ (stats[C + c] = invStd, with the
        // saved and running statistics); then y from stats, element by element.
        void** sum = stackalloc void*[] { &px, &partials, &batch, &channels, &spatial };
        Launch(_kernels.ChannelPartialSums, items, block, sum);
        void** mean = stackalloc void*[] { &partials, &stats, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormMeanFinish, perChannel, block, mean);
        void** squares = stackalloc void*[] { &px, &stats, &partials, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormVariancePartials, items, block, squares);
        void** variance = stackalloc void*[] { &partials, &stats, &psm, &psi, &prm, &prv, &momentum, &epsilon, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormVarianceFinish, perChannel, block, variance);
        void** normalize = stackalloc void*[] { &px, &pg, &pb, &stats, &py, &batch, &channels, &spatial };
        LaunchElementwise(_kernels.BatchNormNormalize, x.Length, normalize);
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
        int slices = LaunchConfiguration.ChannelSlices((long)batch * spatial, channels);
        double* partials = ChannelWorkspace(channels, slices, out double* stats);
        const uint block = LaunchConfiguration.ChannelBlock;

        // Σdy and Σdy·x̂ by slices, then a channel's slices (dGamma, dBeta, and stats = the two means), then dx.
        void** sums = stackalloc void*[] { &px, &pdy, &psm, &psi, &partials, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormBackwardPartials, LaunchConfiguration.ChannelItemGrid(channels, slices), block, sums);
        void** finish = stackalloc void*[] { &partials, &stats, &pdg, &pdb, &batch, &channels, &spatial };
        Launch(_kernels.BatchNormBackwardFinish, LaunchConfiguration.ChannelGrid(channels), block, finish);
        if (dx.IsEmpty) return;
        void** data = stackalloc void*[] { &px, &pg, &pdy, &psm, &psi, &stats, &pdx, &batch, &channels, &spatial };
        LaunchElementwise(_kernels.BatchNormBackwardData, x.Length, data);
    }

    /// <summary>dBias[c] += Σ dy[n, c, i] over (N, H, W): a convolution's bias gradient, in the same two stages.</summary>
    private void ChannelSumAccumulate(Tensor dy, Tensor dBias, int batch, int channels, int spatial)
    {
        float* pdy = dy.Data, pdb = dBias.Data;
        int slices = LaunchConfiguration.ChannelSlices((long)batch * spatial, channels);
        double* partials = ChannelWorkspace(channels, slices, out _);
        const uint block = LaunchConfiguration.ChannelBlock;
        void** sum = stackalloc void*[] { &pdy, &partials, &batch, &channels, &spatial };
        Launch(_kernels.ChannelPartialSums, LaunchConfiguration.ChannelItemGrid(channels, slices), block, sum);
        void** finish = stackalloc void*[] { &partials, &pdb, &batch, &channels, &spatial };
        Launch(_kernels.ChannelSumFinish, LaunchConfiguration.ChannelGrid(channels), block, finish);
    }

    /// <summary>
    /// The channel workspace laid out for <paramref name="channels"/> cut into <paramref name="slices"/>: the partial sums
    /// (returned) and, after them, the 2·channels statistics. One stream orders every use, so one buffer serves every op.
    /// </summary>
    private double* ChannelWorkspace(int channels, int slices, out double* stats)
    {
        long partials = 2L * channels * slices;
        EnsureChannelWorkspace(LaunchConfiguration.ChannelWorkspaceDoubles(channels, slices));
        double* start = (double*)_channelWorkspace!.Pointer;
        stats = start + partials;
        return start;
    }

    /// <summary>
    /// Grows the channel workspace to at least <paramref name="doubles"/>. The one made at creation fits every layer of up
    /// to <see cref="LaunchConfiguration.PreallocatedChannels"/> channels, so only a wider one allocates, on its first
    /// use: like the cuDNN workspace, never inside a graph capture, and an outgrown buffer a graph may still use is kept.
    /// </summary>
    private void EnsureChannelWorkspace(long doubles)
    {
        nuint bytes = (nuint)doubles * sizeof(double);
        if (_channelWorkspace is not null && _channelWorkspace.Bytes >= bytes) return;
        if (Capturing) ThrowCapturing("growing the per-channel reduction workspace (a layer of more than 4096 channels)");
        Check.Cu(Driver.cuStreamSynchronize(_stream), nameof(Driver.cuStreamSynchronize));
        if (GraphsExist && _channelWorkspace is not null) _retiredWorkspaces.Add(_channelWorkspace);
        else _channelWorkspace?.Dispose();
        _channelWorkspace = null;
        _channelWorkspace = AllocateChannelWorkspace(bytes);
    }

    private DeviceAllocationHandle AllocateChannelWorkspace(nuint bytes)
    {
        try
        {
            return DeviceAllocationHandle.Allocate(_context, bytes);
        }
        catch (CudaException e) when (e.Status == (int)CUresult.ErrorOutOfMemory)
        {
            throw new FinGenException($"out of GPU memory allocating a {bytes}-byte batch-norm workspace ({e.Message})", e);
        }
    }
}
