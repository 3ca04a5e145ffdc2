// CudaBackend: the convolutions: cuDNN (loaded on first use), its plans and algorithm choice; their bias gradient is in CudaBackend.BatchNorm.cs.
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
    // ---- convolutions: cuDNN (loaded on first use), one plan per geometry. Row-major [N, C·H·W] is NCHW, and
    // [K, C·R·S] is cuDNN's KCRS filter, so tensors go to cuDNN as they are. A transposed convolution is the data
    // gradient of its geometry g, so its three passes are g's three passes in other roles:
    //   conv        y = fwd(x)            dX = bwdData(dY)    dW += bwdFilter(x, dY)
    //   transposed  y = bwdData(x)        dX = fwd(dY)        dW += bwdFilter(dY, x)
    // Overwrites use β = 0, accumulations β = 1; bias gradients are ChannelSumAccumulate
    // (CudaBackend.BatchNorm.cs: fg_channel_partial_sums then fg_channel_sum_finish, deterministic).

    public void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        CheckConvForward(x, g.InSize, weight, bias, g.OutChannels, y, g.OutSize, g);
        Enter();
        var plan = ConvPlanFor(g);
        int algorithm = plan.Algorithm(this, ConvPass.Forward);
        float zero = 0f, one = 1f;
        Check.Dnn(Cudnn.cudnnConvolutionForward(_cudnn, &one, plan.Input, x.Data, plan.Filter, weight.Data, plan.Convolution,
            algorithm, Workspace, WorkspaceBytes, &zero, plan.Output, y.Data), nameof(Cudnn.cudnnConvolutionForward));
        if (!bias.IsEmpty)
            Check.Dnn(Cudnn.cudnnAddTensor(_cudnn, &one, plan.OutputBias, bias.Data, &one, plan.Output, y.Data), nameof(Cudnn.cudnnAddTensor));
    }

    public void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        CheckConvBackward(x, g.InSize, weight, dy, g.OutSize, dx, dWeight, dBias, g.OutChannels, g);
        Enter();
        var plan = ConvPlanFor(g);
        float zero = 0f, one = 1f;
        if (!dx.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.BackwardData);
            Check.Dnn(Cudnn.cudnnConvolutionBackwardData(_cudnn, &one, plan.Filter, weight.Data, plan.Output, dy.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &zero, plan.Input, dx.Data), nameof(Cudnn.cudnnConvolutionBackwardData));
        }
        if (!dWeight.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.BackwardFilter);
            Check.Dnn(Cudnn.cudnnConvolutionBackwardFilter(_cudnn, &one, plan.Input, x.Data, plan.Output, dy.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &one, plan.Filter, dWeight.Data), nameof(Cudnn.cudnnConvolutionBackwardFilter));
        }
        if (!dBias.IsEmpty) ChannelSumAccumulate(dy, dBias, g.Batch, g.OutChannels, g.OutHeight * g.OutWidth);
    }

    public void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        CheckConvForward(x, g.OutSize, weight, bias, g.InChannels, y, g.InSize, g);
        Enter();
        var plan = ConvPlanFor(g);
        int algorithm = plan.Algorithm(this, ConvPass.BackwardData);
        float zero = 0f, one = 1f;
        Check.Dnn(Cudnn.cudnnConvolutionBackwardData(_cudnn, &one, plan.Filter, weight.Data, plan.Output, x.Data, plan.Convolution,
            algorithm, Workspace, WorkspaceBytes, &zero, plan.Input, y.Data), nameof(Cudnn.cudnnConvolutionBackwardData));
        if (!bias.IsEmpty)
            Check.Dnn(Cudnn.cudnnAddTensor(_cudnn, &one, plan.InputBias, bias.Data, &one, plan.Input, y.Data), nameof(Cudnn.cudnnAddTensor));
    }

    public void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        CheckConvBackward(x, g.OutSize, weight, dy, g.InSize, dx, dWeight, dBias, g.InChannels, g);
        Enter();
        var plan = ConvPlanFor(g);
        float zero = 0f, one = 1f;
        if (!dx.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.Forward);
            Check.Dnn(Cudnn.cudnnConvolutionForward(_cudnn, &one, plan.Input, dy.Data, plan.Filter, weight.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &zero, plan.Output, dx.Data), nameof(Cudnn.cudnnConvolutionForward));
        }
        if (!dWeight.IsEmpty)
        {
            int algorithm = plan.Algorithm(this, ConvPass.BackwardFilter);
            Check.Dnn(Cudnn.cudnnConvolutionBackwardFilter(_cudnn, &one, plan.Input, dy.Data, plan.Output, x.Data, plan.Convolution,
                algorithm, Workspace, WorkspaceBytes, &one, plan.Filter, dWeight.Data), nameof(Cudnn.cudnnConvolutionBackwardFilter));
        }
        if (!dBias.IsEmpty) ChannelSumAccumulate(dy, dBias, g.Batch, g.InChannels, g.InHeight * g.InWidth);
    }

    /// <summary>The plan of <paramref name="g"/>: made (descriptors created) on first use, then a dictionary lookup.</summary>
    private ConvPlan ConvPlanFor(ConvGeometry g)
    {
        if (_convPlans.TryGetValue(g, out var plan)) return plan;
        if (Capturing) ThrowCapturing($"the first convolution of {g} (it creates cuDNN descriptors)");
        EnsureCudnn();
        plan = new ConvPlan(g, this);
        _convPlans.Add(g, plan);
        return plan;
    }

    /// <summary>
    /// Loads cuDNN and makes the handle on our stream, once. cuDNN is optional for everything but the convolutions,
    /// so its absence surfaces here, as one line naming every place that was tried.
    /// </summary>
    private void EnsureCudnn()
    {
        if (_cudnn != 0) return;
        var attempt = NativeLibraries.Load(NativeLibraries.Cudnn);
        if (!attempt.Loaded) throw new FinGenException($"cuDNN was not found, and the convolutions need it: {attempt.Error}");
        try
        {
            _cudnn = Own(SafeCudnnHandle.Create(_context, _stream)).Value;
        }
        catch (EntryPointNotFoundException e)
        {
            throw new FinGenException($"cuDNN at {attempt.LoadedFrom} is too old for the convolutions (8.0 or later is needed): {e.Message}", e);
        }
    }

    private void* Workspace => _workspace is null ? null : (void*)_workspace.Pointer;

    private nuint WorkspaceBytes => _workspace?.Bytes ?? 0;

    /// <summary>
    /// Grows the one cuDNN workspace to at least <paramref name="bytes"/>; it is never shrunk, so once every pass of
    /// every geometry has run, no op allocates. The old buffer may still be read by queued work, so the stream is
    /// drained before it is freed.
    /// </summary>
    private void EnsureWorkspace(nuint bytes)
    {
        if (bytes == 0 || (_workspace is not null && _workspace.Bytes >= bytes)) return;
        if (Capturing) ThrowCapturing("growing the cuDNN workspace");
        Check.Cu(Driver.cuStreamSynchronize(_stream), nameof(Driver.cuStreamSynchronize));
        // A captured step may use the old workspace on every replay (sampling with a new geometry can grow it mid-training).
        if (GraphsExist && _workspace is not null) _retiredWorkspaces.Add(_workspace);
        else _workspace?.Dispose();
        _workspace = null;
        try
        {
            _workspace = DeviceAllocationHandle.Allocate(_context, bytes);
        }
        catch (CudaException e) when (e.Status == (int)CUresult.ErrorOutOfMemory)
        {
            throw new FinGenException($"out of GPU memory allocating a {bytes}-byte cuDNN workspace on {Info.Name} ({e.Message})", e);
        }
    }

    private enum ConvPass { Forward, BackwardData, BackwardFilter }

    /// <summary>
    /// One geometry's cuDNN descriptors (owned by the backend, destroyed with it) and the algorithm of each pass, chosen
    /// on the pass's first call from cuDNN's heuristics (the <c>_v7</c> queries: no trial runs, no allocation) and kept.
    /// The choice is the best-ranked algorithm that succeeds in full fp32 and is deterministic, else the best fp32 one.
    /// </summary>
    private sealed class ConvPlan
    {
        private readonly int[] _algorithms = [-1, -1, -1];
        private readonly ConvGeometry _geometry;

        public ConvPlan(ConvGeometry g, CudaBackend backend)
        {
            _geometry = g;
            Input = backend.Own(SafeCudnnDescriptorHandle.Tensor(g.Batch, g.InChannels, g.InHeight, g.InWidth)).Value;
            Output = backend.Own(SafeCudnnDescriptorHandle.Tensor(g.Batch, g.OutChannels, g.OutHeight, g.OutWidth)).Value;
            Filter = backend.Own(SafeCudnnDescriptorHandle.Filter(g.OutChannels, g.InChannels, g.KernelHeight, g.KernelWidth)).Value;
            Convolution = backend.Own(SafeCudnnDescriptorHandle.Convolution(g.Padding, g.Stride)).Value;
            InputBias = backend.Own(SafeCudnnDescriptorHandle.Tensor(1, g.InChannels, 1, 1)).Value;
            OutputBias = backend.Own(SafeCudnnDescriptorHandle.Tensor(1, g.OutChannels, 1, 1)).Value;
        }

        /// <summary>[N, C, H, W]: a convolution's input, a transposed convolution's output.</summary>
        public nint Input { get; }
        /// <summary>[N, K, P, Q]: a convolution's output, a transposed convolution's input.</summary>
        public nint Output { get; }
        /// <summary>[K, C, R, S]</summary>
        public nint Filter { get; }
        public nint Convolution { get; }
        /// <summary>[1, C, 1, 1]: a transposed convolution's bias.</summary>
        public nint InputBias { get; }
        /// <summary>[1, K, 1, 1]: a convolution's bias.</summary>
        public nint OutputBias { get; }

        /// <summary>The pass's algorithm, chosen on first use (which also grows the backend's workspace to fit it).</summary>
        public int Algorithm(CudaBackend backend, ConvPass pass)
        {
            int chosen = _algorithms[(int)pass];
            return chosen >= 0 ? chosen : Choose(backend, pass);
        }

        private int Choose(CudaBackend backend, ConvPass pass)
        {
            if (backend.Capturing) ThrowCapturing($"choosing the cuDNN {pass} algorithm of {_geometry}");
            const int Capacity = 16; // cuDNN 8 and 9 have at most 8 algorithms a pass
            var results = stackalloc CudnnAlgorithmPerformance[Capacity];
            int returned = 0, available = 0;
            nint handle = backend._cudnn;
            string call;
            switch (pass)
            {
                case ConvPass.Forward:
                    Check.Dnn(Cudnn.cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &available), nameof(Cudnn.cudnnGetConvolutionForwardAlgorithmMaxCount));
                    break;
                case ConvPass.BackwardData:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &available), nameof(Cudnn.cudnnGetConvolutionBackwardDataAlgorithmMaxCount));
                    break;
                default:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &available), nameof(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithmMaxCount));
                    break;
            }
            int requested = System.Math.Clamp(available, 1, Capacity);
            switch (pass)
            {
                case ConvPass.Forward:
                    call = nameof(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7);
                    Check.Dnn(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7(handle, Input, Filter, Convolution, Output, requested, &returned, results), call);
                    break;
                case ConvPass.BackwardData:
                    call = nameof(Cudnn.cudnnGetConvolutionBackwardDataAlgorithm_v7);
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, Filter, Output, Convolution, Input, requested, &returned, results), call);
                    break;
                default:
                    call = nameof(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7);
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, Input, Output, Convolution, Filter, requested, &returned, results), call);
                    break;
            }
            int algorithm = CudnnAlgorithmChoice.Pick(new ReadOnlySpan<CudnnAlgorithmPerformance>(results, System.Math.Clamp(returned, 0, requested)), out bool deterministic);
            if (algorithm < 0) throw new FinGenException($"{call}: cuDNN has no full-fp32 (FMA math) {pass} algorithm for {_geometry}");
            if (!deterministic)
                backend._notes.Add($"cuDNN has only non-deterministic {pass} algorithms for {_geometry}: algorithm {algorithm} is used, " +
                    "and two runs may differ in the last bits");

            nuint bytes;
            switch (pass)
            {
                case ConvPass.Forward:
                    Check.Dnn(Cudnn.cudnnGetConvolutionForwardWorkspaceSize(handle, Input, Filter, Convolution, Output, algorithm, &bytes),
                        nameof(Cudnn.cudnnGetConvolutionForwardWorkspaceSize));
                    break;
                case ConvPass.BackwardData:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize(handle, Filter, Output, Convolution, Input, algorithm, &bytes),
                        nameof(Cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize));
                    break;
                default:
                    Check.Dnn(Cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, Input, Output, Convolution, Filter, algorithm, &bytes),
                        nameof(Cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize));
                    break;
            }
            backend.EnsureWorkspace(bytes);
            _algorithms[(int)pass] = algorithm;
            return algorithm;
        }
    }

    private static void CheckConvForward(Tensor x, int xSize, Tensor weight, Tensor bias, int biasSize, Tensor y, int ySize, ConvGeometry g)
    {
        g.Validate();
        Shapes.Is(x, g.Batch, xSize, "x");
        Shapes.Is(weight, g.OutChannels, g.FilterSize, "weight");
        if (!bias.IsEmpty) Shapes.Is(bias, 1, biasSize, "bias");
        Shapes.Is(y, g.Batch, ySize, "y");
    }

    private static void CheckConvBackward(Tensor x, int xSize, Tensor weight, Tensor dy, int dySize, Tensor dx, Tensor dWeight, Tensor dBias,
        int biasSize, ConvGeometry g)
    {
        g.Validate();
        Shapes.Is(x, g.Batch, xSize, "x");
        Shapes.Is(weight, g.OutChannels, g.FilterSize, "weight");
        Shapes.Is(dy, g.Batch, dySize, "dy");
        if (!dx.IsEmpty) Shapes.Is(dx, g.Batch, xSize, "dx");
        if (!dWeight.IsEmpty) Shapes.Is(dWeight, g.OutChannels, g.FilterSize, "dWeight");
        if (!dBias.IsEmpty) Shapes.Is(dBias, 1, biasSize, "dBias");
    }
}

/// <summary>How the backend picks a cuDNN algorithm from a <c>_v7</c> heuristic query's ranked results.</summary>
internal static class CudnnAlgorithmChoice
{
    /// <summary>
    /// Ranked results → the first deterministic success in FMA math (full fp32), else the first FMA success (and
    /// <paramref name="deterministic"/> false), else −1. Only CUDNN_FMA_MATH qualifies: tensor-op entries round float
    /// inputs (TF32 or half), and CUDNN_DEFAULT_MATH permits TF32 from Ampere on.
    /// </summary>
    internal static int Pick(ReadOnlySpan<CudnnAlgorithmPerformance> results, out bool deterministic)
    {
        int fallback = -1;
        foreach (ref readonly var result in results)
        {
            if (result.Status != CudnnStatus.Success || result.MathType != CudnnMathType.Fma) continue;
            if (result.Determinism == CudnnDeterminism.Deterministic)
            {
                deterministic = true;
                return result.Algorithm;
            }
            if (fallback < 0) fallback = result.Algorithm;
        }
        deterministic = false;
        return fallback;
    }
}
