// CudaBackend: the optimizers and the step scalars they read, kernels/optimizers.cu.
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
    // ---- optimizers: hyper-parameters are read from device memory. The step-scalar forms take them from a block the
    // caller uploaded (capturable); the by-value forms upload them first into one device slot of the backend's (not
    // capturable, as every upload). One slot is enough: the copy, the kernel that reads it and the next copy into it are
    // ordered on the one stream.

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum)
    {
        Span<float> hyper = stackalloc float[StepScalars.OptimizerSlotFloats];
        hyper[0] = learningRate; hyper[1] = momentum;
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, velocity);
        UploadScalars(hyper, _byValueHyper);
        SgdStep(parameters, gradients, velocity, _byValueHyper);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        Span<float> hyper = stackalloc float[StepScalars.OptimizerSlotFloats];
        hyper[0] = learningRate; hyper[1] = beta1; hyper[2] = beta2; hyper[3] = epsilon;
        hyper[4] = BitConverter.Int32BitsToSingle(step);
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        UploadScalars(hyper, _byValueHyper);
        AdamStep(parameters, gradients, m, v, _byValueHyper);
    }

    public void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, velocity);
        if (hyper.Length < 2) Throw.Argument($"{hyper}: SGD's hyper-parameters are [lr, momentum]");
        Enter();
        float* ph = hyper.Data;
        float* p = parameters.Data, g = gradients.Data, v = velocity.Data;
        int n = parameters.Length;
        void** args = stackalloc void*[] { &p, &g, &v, &ph, &n };
        LaunchElementwise(_kernels.SgdStep, n, args);
    }

    public void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper)
    {
        Shapes.Same(parameters, gradients); Shapes.Same(parameters, m); Shapes.Same(parameters, v);
        if (hyper.Length < 5) Throw.Argument($"{hyper}: Adam's hyper-parameters are [lr, β1, β2, ε, t]");
        Enter();
        float* ph = hyper.Data;
        int* step = (int*)(ph + 4);
        float* p = parameters.Data, g = gradients.Data, pm = m.Data, pv = v.Data;
        int n = parameters.Length;
        void** args = stackalloc void*[] { &p, &g, &pm, &pv, &ph, &step, &n };
        LaunchElementwise(_kernels.AdamStep, n, args);
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the next slot of the pinned ring and queues its copy to the device; returns
    /// without waiting for the device. A slot is rewritten only after the copy that last read it has completed (its
    /// event), and with 64 slots that wait is almost always already over. Not capturable: it waits on an event, and a
    /// captured copy would replay the slot's bytes of capture time.
    /// </summary>
    public void UploadScalars(ReadOnlySpan<float> source, Tensor destination)
    {
        StepScalars.CheckUpload(source, destination);
        EnterWaiting();
        if (source.Length == 0) return;
        int slot = _nextStagingSlot;
        _nextStagingSlot = (slot + 1) % StagingSlots;
        nint copied = _stagingCopied[slot];
        Check.Cu(Driver.cuEventSynchronize(copied), nameof(Driver.cuEventSynchronize));
        float* host = (float*)(_stagingHost + slot * StagingSlotBytes);
        source.CopyTo(new Span<float>(host, source.Length));
        Check.Cu(Driver.cuMemcpyHtoDAsync_v2(Address(destination), host, Bytes(source.Length), _stream), nameof(Driver.cuMemcpyHtoDAsync_v2));
        Check.Cu(Driver.cuEventRecord(copied, _stream), nameof(Driver.cuEventRecord));
    }
}
