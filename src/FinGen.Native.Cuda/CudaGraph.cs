using FinGen.Native.Backends;
using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>
/// Records the work queued on a <see cref="CudaBackend"/>'s stream between <see cref="BeginCapture"/> and
/// <see cref="EndCapture"/> into a CUDA graph, instantiates it, and replays it with <see cref="Launch"/>: one
/// driver call for a whole training step instead of one per kernel.
///
/// <see cref="Models.GenerativeModel.TrainStep"/> captures one training step with it after a warm-up and launches it
/// every step after. The contract a captured step keeps: a replay re-runs the captured kernels with the same
/// arguments (pointer values and scalars as they were at capture), so everything that varies per step lives in
/// device memory, written before <see cref="Launch"/> by work queued outside the graph: the batch (uploaded into a
/// fixed tensor) and the step's <see cref="Models.StepScalars"/> (noise offset, optimizer hyper-parameters and Adam's
/// t, one asynchronous copy from pinned memory), which the step-scalar forms of FillNormal, SgdStep and AdamStep read
/// when they run. And nothing captured may wait for the device or allocate. The backend enforces the latter: while
/// capturing, Upload, UploadScalars, Download, Synchronize, Allocate, the by-value optimizer steps (they upload their
/// hyper-parameters), a convolution geometry's first use, cuDNN workspace growth and batch-norm workspace growth (only
/// a layer of more than 4096 channels, on its first use) throw <see cref="InvalidOperationException"/>. Once a graph
/// exists the backend frees no buffer a graph may use before the backend itself (an outgrown workspace is kept); cuBLAS
/// uses a fixed workspace set at creation.
///
/// Capture mode is thread-local: only this thread's unsafe calls invalidate the capture, so other threads may
/// keep using CUDA meanwhile.
/// </summary>
public sealed unsafe class CudaGraph : IBackendGraph
{
    private readonly CudaBackend _backend;
    private SafeGraphHandle? _graph;
    private SafeGraphExecHandle? _exec;
    private bool _capturing, _disposed;

    internal CudaGraph(CudaBackend backend) => _backend = backend;

    /// <summary>True between <see cref="BeginCapture"/> and <see cref="EndCapture"/>.</summary>
    public bool IsCapturing => _capturing;

    /// <summary>True once a capture has been instantiated and can be launched.</summary>
    public bool IsReady => _exec is not null;

    /// <summary>Starts recording the backend's stream; a previous capture of this graph is discarded.</summary>
    public void BeginCapture()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_backend.Capturing) throw new InvalidOperationException("the backend's stream is already being captured");
        _backend.Enter();
        ReleaseGraph();
        Check.Cu(Driver.cuStreamBeginCapture_v2(_backend.Stream, CUstreamCaptureMode.ThreadLocal), nameof(Driver.cuStreamBeginCapture_v2));
        _capturing = true;
        _backend.Capturing = true;
    }

    /// <summary>Stops recording and instantiates the graph. Throws if the capture was invalidated (the graph is then empty).</summary>
    public void EndCapture()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_capturing) throw new InvalidOperationException("EndCapture without BeginCapture");
        _backend.Enter();
        nint graph = 0;
        var status = Driver.cuStreamEndCapture(_backend.Stream, &graph);
        _capturing = false;
        _backend.Capturing = false;
        // An invalidated capture returns an error and no graph; a graph that came back is owned either way.
        if (graph != 0) _graph = new SafeGraphHandle(_backend.Context, graph);
        Check.Cu(status, nameof(Driver.cuStreamEndCapture));
        nint exec;
        Check.Cu(Driver.cuGraphInstantiateWithFlags(&exec, graph, 0), nameof(Driver.cuGraphInstantiateWithFlags));
        _exec = new SafeGraphExecHandle(_backend.Context, exec);
        _backend.GraphsExist = true;
    }

    /// <summary>Queues one replay on the backend's stream (asynchronous, like every op).</summary>
    public void Launch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_exec is null) throw new InvalidOperationException("nothing captured: call BeginCapture and EndCapture first");
        _backend.Enter();
        Check.Cu(Driver.cuGraphLaunch(_exec.Value, _backend.Stream), nameof(Driver.cuGraphLaunch));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_capturing)
        {
            // Leave the stream usable: end the capture and drop whatever it recorded.
            nint graph = 0;
            if (_backend.Context.TryMakeCurrent() == CUresult.Success && Driver.cuStreamEndCapture(_backend.Stream, &graph) == CUresult.Success && graph != 0)
                Driver.cuGraphDestroy(graph);
            _capturing = false;
            _backend.Capturing = false;
        }
        ReleaseGraph();
    }

    private void ReleaseGraph()
    {
        _exec?.Dispose();
        _exec = null;
        _graph?.Dispose();
        _graph = null;
    }
}
