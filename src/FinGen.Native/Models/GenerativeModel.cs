using System.Diagnostics.CodeAnalysis;
using FinGen.Native.Backends;
using FinGen.Native.Memory;
using FinGen.Native.Randomness;

namespace FinGen.Native.Models;

/// <summary>
/// What GAN and VAE share: a backend, a config, networks whose parameters and optimizer state are one
/// block each, the training state, and a generator network to sample from. Models are written once
/// against <see cref="IBackend"/>; their backward passes are written by hand.
///
/// A step's ops take everything that changes from step to step from backend memory: the batch (uploaded into
/// <see cref="Batch"/>) and the <see cref="StepScalars"/> (noise position, optimizer hyper-parameters, Adam's t), both
/// written by the host before the step. So on a backend that can replay (<see cref="IGraphBackend"/>), the step
/// after <see cref="GraphWarmupSteps"/> eager ones is captured once and every later step is one replay; the host's own
/// bookkeeping (the noise offset, the optimizers' step counts, <see cref="TrainingState.Step"/>) advances outside it.
/// </summary>
public abstract class GenerativeModel : IDisposable
{
    private readonly List<(string Name, ParameterSet Parameters, Optimizer Optimizer)> _networks = [];
    private readonly List<IDisposable> _owned = [];
    private readonly Dictionary<string, int[]> _shapes = [];
    private readonly float[] _lossHost = new float[4];
    private IBackendGraph? _graph;
    private int _eagerSteps;
    private ulong _noiseDrawn;
    private ulong? _noisePerStep;

    protected GenerativeModel(IBackend backend, ModelConfig config)
    {
        config.Validate();
        Backend = backend;
        Config = config;
        Batch = Own(backend.Allocate((long)config.BatchSize * config.DataWidth)).Slice(0, config.BatchSize, config.DataWidth, "batch");
        if (config.ConditionWidth > 0)
            Condition = Own(backend.Allocate((long)config.BatchSize * config.ConditionWidth)).Slice(0, config.BatchSize, config.ConditionWidth, "condition");
        Losses = Own(backend.Allocate(4));
        Scalars = Own(new StepScalars(backend, StepScalars.MaxOptimizers));
    }

    /// <summary>
    /// Eager steps on a graph-capable backend before one is captured: a first step creates what ops create on first
    /// use (cuDNN plans, algorithms and workspace, cuBLAS state, lazily loaded kernels), which a capture must not do.
    /// </summary>
    public const int GraphWarmupSteps = 2;

    /// <summary>
    /// Whether <see cref="TrainStep"/> captures a step and replays it where the backend can (<see cref="IGraphBackend"/>);
    /// true by default, false to run every step eagerly. Read before each step until one is captured.
    /// </summary>
    public bool UseGraph { get; set; } = true;

    /// <summary>True once a step has been captured: every step since is a replay.</summary>
    public bool IsReplaying => _graph is not null;

    /// <summary>Why capturing a step failed (training then went on eagerly); null if it did not.</summary>
    public string? GraphFailure { get; private set; }

    /// <summary>This step's per-step values in backend memory (see <see cref="StepScalars"/>).</summary>
    protected StepScalars Scalars { get; }

    public IBackend Backend { get; }
    public ModelConfig Config { get; }
    public TrainingState State { get; } = new();

    /// <summary>Names of the values <see cref="TrainStep"/> reports, in order (the columns of metrics.csv).</summary>
    public abstract IReadOnlyList<string> MetricNames { get; }

    /// <summary>The device copy of the current batch [B, DataWidth].</summary>
    protected Tensor Batch { get; }

    /// <summary>The device copy of the current batch's conditions [B, ConditionWidth]; empty for an unconditional model.</summary>
    protected Tensor Condition { get; }

    /// <summary>Four one-element loss slots on the device.</summary>
    protected DeviceMemory Losses { get; }

    protected Tensor LossSlot(int index) => Losses.Slice(index, 1, 1);

    protected Network Generator { get; set; } = null!;
    protected ParameterSet GeneratorParameters { get; set; } = null!;
    protected bool SigmoidAfterGenerator { get; set; }

    public static GenerativeModel Create(IBackend backend, ModelConfig config) => config.Model switch
    {
        ModelKind.Vae or ModelKind.ConvVae => new Vae(backend, config),
        _ => new Gan(backend, config),
    };

    protected T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    protected ParameterSet AddNetwork(string name, ParameterLayout layout)
    {
        var parameters = Own(new ParameterSet(Backend, layout));
        var optimizer = Own(new Optimizer(Backend, parameters, Config.Optimizer, Scalars, _networks.Count));
        _networks.Add((name, parameters, optimizer));
        foreach (var e in layout.Entries.Concat(layout.Buffers)) _shapes[e.Name] = e.ExportShape;
        foreach (var t in optimizer.StateTensors()) _shapes[t.Name] = _shapes[t.Name[..t.Name.LastIndexOf('.')]];
        return parameters;
    }

    // A plain loop: LINQ's First with a capturing lambda allocated on every training step.
    protected Optimizer OptimizerOf(ParameterSet parameters)
    {
        foreach (var network in _networks)
            if (network.Parameters == parameters) return network.Optimizer;
        throw new ArgumentException("not a network of this model", nameof(parameters));
    }

    /// <summary>Fresh weights from the config's seed (PyTorch's default Linear initialization, drawn from Philox).</summary>
    public void Initialize()
    {
        ulong offset = 0;
        foreach (var (_, parameters, _) in _networks) parameters.Initialize(Config.Seed, ref offset);
    }

    /// <summary>
    /// One training step on <paramref name="batch"/> [B, DataWidth] (host memory). Writes the
    /// <see cref="MetricNames"/> values into <paramref name="metrics"/> unless it is empty: metrics are the only
    /// thing a step copies back from the device, so a GPU run asks for them every N steps, not every step.
    /// </summary>
    public void TrainStep(ReadOnlySpan<float> batch, Span<float> metrics) => TrainStep(batch, [], metrics);

    /// <summary>
    /// <see cref="TrainStep(ReadOnlySpan{float}, Span{float})"/> of a conditional model: <paramref name="condition"/>
    /// [B, ConditionWidth] (host memory) holds each row's condition; empty for an unconditional model.
    /// </summary>
    public void TrainStep(ReadOnlySpan<float> batch, ReadOnlySpan<float> condition, Span<float> metrics)
    {
        if (batch.Length != Batch.Length) Throw.Argument($"batch has {batch.Length} values, expected {Batch.Length}");
        if (condition.Length != Condition.Length) Throw.Argument($"condition has {condition.Length} values, expected {Condition.Length}");
        if (!metrics.IsEmpty && metrics.Length < MetricNames.Count) Throw.Argument($"metrics needs {MetricNames.Count} slots");
        // Outside any capture: the inputs of this step, into the fixed places its ops read them from.
        Backend.Upload(batch, Batch);
        if (!Condition.IsEmpty) Backend.Upload(condition, Condition);
        WriteStepScalars();
        if (_graph is not null)
        {
            _graph.Launch();
        }
        else if (UseGraph && Backend is IGraphBackend graphs && _eagerSteps >= GraphWarmupSteps && TryCapture(graphs, out var graph))
        {
            _graph = graph;
            _graph.Launch(); // capturing ran nothing
        }
        else
        {
            RunStep();
            _eagerSteps++;
        }
        AdvanceHostState();
        if (!metrics.IsEmpty) ReadMetrics(metrics);
        State.Step++;
    }

    /// <summary>
    /// Captures one step. A capture runs nothing, so when it fails (an op the driver or a library refuses to capture)
    /// the step can still run eagerly: training goes on without a graph, and <see cref="GraphFailure"/> says why.
    /// </summary>
    private bool TryCapture(IGraphBackend backend, [NotNullWhen(true)] out IBackendGraph? graph)
    {
        graph = backend.CreateGraph();
        try
        {
            graph.BeginCapture();
            RunStep();
            graph.EndCapture();
            graph = Own(graph); // disposed before the memory it refers to, which was owned earlier
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            graph.Dispose(); // ends an unfinished capture, so the stream takes eager work again
            graph = null;
            GraphFailure = $"{e.GetType().Name}: {e.Message}";
            UseGraph = false;
            return false;
        }
    }

    private void WriteStepScalars()
    {
        Scalars.SetNoiseOffset(State.NoiseOffset);
        foreach (var network in _networks) network.Optimizer.WriteScalars();
        Scalars.Upload();
    }

    private void RunStep()
    {
        _noiseDrawn = 0;
        Step();
        // A replay draws what the captured step drew, so the amount must not depend on anything but the config.
        if (_noisePerStep is ulong expected && expected != _noiseDrawn)
            throw new InvalidOperationException($"a step drew {_noiseDrawn} noise values, an earlier one {expected}");
        _noisePerStep = _noiseDrawn;
    }

    /// <summary>The host's side of a step, eager or replayed: where the next step's noise starts, the optimizers' t.</summary>
    private void AdvanceHostState()
    {
        State.NoiseOffset += _noisePerStep!.Value;
        foreach (var network in _networks) network.Optimizer.Steps++;
    }

    /// <summary>
    /// Queues one step's work on the backend. Nothing in it may wait for the device, and nothing may depend on host
    /// state that changes from step to step: it may be captured once and replayed (see the class comment). Noise comes
    /// from <see cref="DrawNoise"/>, optimizer updates from <see cref="Optimizer.Apply"/>.
    /// </summary>
    protected abstract void Step();

    /// <summary>
    /// Fills <paramref name="destination"/> with the step's next noise values: Philox noise stream at the step's noise
    /// offset (read from <see cref="Scalars"/> when the op runs) plus what this step has drawn so far.
    /// </summary>
    protected void DrawNoise(Tensor destination)
    {
        LatentNoise.Fill(Backend, destination, Config.NoiseDegrees, Config.Seed, (ulong)Philox.Stream.Noise, Scalars.NoiseOffset, _noiseDrawn);
        _noiseDrawn += (ulong)destination.Length;
    }

    /// <summary>Copies the last step's metrics back (the one synchronizing call).</summary>
    protected abstract void ReadMetrics(Span<float> metrics);

    protected ReadOnlySpan<float> DownloadLosses()
    {
        Backend.Download(Losses.All(), _lossHost);
        return _lossHost;
    }

    /// <summary>
    /// <paramref name="count"/> samples [count, DataWidth] in [0, 1] from latent noise of Philox stream
    /// <see cref="Philox.Stream.Sample"/> under <paramref name="seed"/>; sample i uses noise values
    /// [i·latent, (i+1)·latent), so a sample does not depend on how many are drawn with it.
    /// </summary>
    /// <remarks>A conditional model draws at c = 0, the training windows' average condition.</remarks>
    public void Generate(Span<float> destination, int count, ulong seed)
    {
        using var workspace = Generator.CreateWorkspace(Backend, Math.Min(Math.Max(count, 1), 256));
        using var latent = Backend.Allocate((long)workspace.MaxBatch * Generator.InputWidth);
        using var condition = Generator.ConditionWidth > 0 ? Backend.Allocate((long)workspace.MaxBatch * Generator.ConditionWidth) : null;
        Sampling.Generate(Backend, Generator, GeneratorParameters, SigmoidAfterGenerator, Config.NoiseDegrees, workspace, latent, destination, count, seed,
            conditionMemory: condition);
    }

    /// <summary>Every tensor a checkpoint holds: parameters and buffers, then optimizer state, with their names.</summary>
    public IEnumerable<Tensor> CheckpointTensors()
    {
        foreach (var (_, parameters, _) in _networks)
            foreach (var (t, _) in parameters.SavedTensors()) yield return t;
        foreach (var (_, _, optimizer) in _networks)
            foreach (var t in optimizer.StateTensors()) yield return t;
    }

    /// <summary>The shape a checkpoint gives one of <see cref="CheckpointTensors"/> (PyTorch's: a conv weight is [K, C, R, S]).</summary>
    public int[] CheckpointShape(Tensor t) => _shapes[t.Name];

    /// <summary>Optimizer step counters by network name, for checkpoints.</summary>
    public IEnumerable<(string Network, Optimizer Optimizer)> Optimizers() => _networks.Select(n => (n.Name, n.Optimizer));

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The sampling loop shared by training-time previews and the embedding API.</summary>
internal static class Sampling
{
    /// <param name="conditionMemory">a conditional generator's condition rows (at least the workspace's batch); null otherwise</param>
    /// <param name="conditions">sample i's condition is row i [count, ConditionWidth]; empty for c = 0 throughout</param>
    public static void Generate(IBackend backend, Network generator, ParameterSet parameters, bool sigmoidAfter, int noiseDegrees,
        NetworkWorkspace workspace, DeviceMemory latentMemory, Span<float> destination, int count, ulong seed, long first = 0,
        DeviceMemory? conditionMemory = null, ReadOnlySpan<float> conditions = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int latent = generator.InputWidth, width = generator.OutputWidth, conditionWidth = generator.ConditionWidth;
        if ((long)count * width > destination.Length)
            Throw.Argument($"destination holds {destination.Length} values; {count} samples need {(long)count * width}");
        if (conditionWidth > 0 && conditionMemory is null) Throw.Argument("a conditional generator needs condition memory");
        if (!conditions.IsEmpty && conditions.Length < (long)count * conditionWidth)
            Throw.Argument($"conditions hold {conditions.Length} values; {count} samples need {(long)count * conditionWidth}");
        for (int start = 0; start < count; start += workspace.MaxBatch)
        {
            int n = Math.Min(workspace.MaxBatch, count - start);
            var z = latentMemory.Slice(0, n, latent);
            LatentNoise.Fill(backend, z, noiseDegrees, seed, (ulong)Philox.Stream.Sample, ((ulong)first + (ulong)start) * (ulong)latent);
            Tensor c = default;
            if (conditionWidth > 0)
            {
                c = conditionMemory!.Slice(0, n, conditionWidth);
                if (conditions.IsEmpty) backend.Fill(c, 0f);
                else backend.Upload(conditions.Slice(start * conditionWidth, n * conditionWidth), c);
            }
            var y = generator.Forward(backend, parameters, z, c, workspace, training: false);
            if (sigmoidAfter) backend.SigmoidForward(y, y);
            backend.Download(y, destination.Slice(start * width, n * width));
        }
    }
}

/// <summary>
/// A generator's latent noise: standard normal, or unit-variance Student-t with <see cref="ModelConfig.NoiseDegrees"/>
/// degrees of freedom (heavy-tailed noise, an option of the GAN family: a Lipschitz generator fed Gaussian noise has
/// Gaussian-like tails, Wiese et al. 2020). Number n of a stream is the same function of (seed, stream, n) either
/// way, so offsets, chunked draws and captured steps work as with normal noise.
/// </summary>
public static class LatentNoise
{
    public static void Fill(IBackend backend, Tensor z, int degrees, ulong seed, ulong stream, ulong offset)
    {
        if (degrees == 0) backend.FillNormal(z, seed, stream, offset);
        else backend.FillStudentT(z, seed, stream, offset, degrees);
    }

    /// <summary>At offset = *<paramref name="offset"/> + <paramref name="delta"/>, read when the op runs (a training step's).</summary>
    public static void Fill(IBackend backend, Tensor z, int degrees, ulong seed, ulong stream, Tensor offset, ulong delta)
    {
        if (degrees == 0) backend.FillNormal(z, seed, stream, offset, delta);
        else backend.FillStudentT(z, seed, stream, offset, delta, degrees);
    }
}
