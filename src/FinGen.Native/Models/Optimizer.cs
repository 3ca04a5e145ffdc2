using FinGen.Native.Backends;
using FinGen.Native.Memory;

namespace FinGen.Native.Models;

public enum OptimizerKind
{
    /// <summary>Plain gradient descent: p −= lr·g.</summary>
    Gd,
    /// <summary>SGD with (heavy-ball) momentum.</summary>
    Sgd,
    /// <summary>Adam with bias correction.</summary>
    Adam,
}

public sealed record OptimizerSettings(
    OptimizerKind Kind = OptimizerKind.Adam,
    float LearningRate = 2e-4f,
    float Beta1 = 0.5f,
    float Beta2 = 0.999f,
    float Epsilon = 1e-8f,
    float Momentum = 0.9f)
{
    public void Validate()
    {
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) Throw.User($"learning rate {LearningRate} must be a positive number");
        if (!(Beta1 >= 0 && Beta1 < 1)) Throw.User($"beta1 {Beta1} must be in [0, 1)");
        if (!(Beta2 >= 0 && Beta2 < 1)) Throw.User($"beta2 {Beta2} must be in [0, 1)");
        if (!(Epsilon > 0)) Throw.User($"epsilon {Epsilon} must be positive");
        if (!(Momentum >= 0 && Momentum < 1)) Throw.User($"momentum {Momentum} must be in [0, 1)");
    }
}

/// <summary>
/// The optimizer of one <see cref="ParameterSet"/>: its state (Adam's m and v, or SGD's velocity) is one
/// allocation laid out like the parameters, and a step is one backend call over the whole block. Its
/// hyper-parameters and Adam's t reach the backend through a slot of a <see cref="StepScalars"/> block, so the
/// backend call itself (<see cref="Apply"/>) passes nothing that changes from step to step and can be captured.
/// </summary>
public sealed class Optimizer : IDisposable
{
    private readonly IBackend _backend;
    private readonly ParameterSet _parameters;
    private readonly StepScalars _scalars;
    private readonly int _slot;
    private readonly bool _ownsScalars;

    /// <summary>A stand-alone optimizer with its own one-slot <see cref="StepScalars"/>; <see cref="Step"/> is all it needs.</summary>
    public Optimizer(IBackend backend, ParameterSet parameters, OptimizerSettings settings)
        : this(backend, parameters, settings, new StepScalars(backend, 1), 0, ownsScalars: true)
    {
    }

    /// <summary>An optimizer whose hyper-parameters are slot <paramref name="slot"/> of a model's block (which the model uploads).</summary>
    public Optimizer(IBackend backend, ParameterSet parameters, OptimizerSettings settings, StepScalars scalars, int slot)
        : this(backend, parameters, settings, scalars, slot, ownsScalars: false)
    {
    }

    private Optimizer(IBackend backend, ParameterSet parameters, OptimizerSettings settings, StepScalars scalars, int slot, bool ownsScalars)
    {
        _backend = backend;
        _parameters = parameters;
        _scalars = scalars;
        _slot = slot;
        _ownsScalars = ownsScalars;
        _ = scalars.OptimizerHyper(slot); // checks the slot
        Settings = settings;
        long n = parameters.Layout.Count;
        int slots = settings.Kind switch { OptimizerKind.Adam => 2, OptimizerKind.Sgd => 1, _ => 0 };
        State = backend.Allocate(n * slots);
    }

    public OptimizerSettings Settings { get; }

    /// <summary>Steps taken; Adam's bias correction uses it.</summary>
    public int Steps { get; set; }

    public DeviceMemory State { get; }

    /// <summary>State tensors named after their parameter (e.g. "generator.0.weight.adam_m"), for checkpoints.</summary>
    public IEnumerable<Tensor> StateTensors()
    {
        string[] suffixes = Settings.Kind switch
        {
            OptimizerKind.Adam => ["adam_m", "adam_v"],
            OptimizerKind.Sgd => ["momentum"],
            _ => [],
        };
        long n = _parameters.Layout.Count;
        for (int s = 0; s < suffixes.Length; s++)
        {
            foreach (var e in _parameters.Entries)
                yield return State.Slice(s * n + e.Offset, e.Rows, e.Cols, $"{e.Name}.{suffixes[s]}");
        }
    }

    /// <summary>One eager update: <see cref="WriteScalars"/>, upload, <see cref="Apply"/>, count the step.</summary>
    public void Step()
    {
        WriteScalars();
        _scalars.Upload();
        Apply();
        Steps++;
    }

    /// <summary>Writes the next update's hyper-parameters (t = <see cref="Steps"/> + 1) into the host copy of the slot.</summary>
    public void WriteScalars()
    {
        var s = Settings;
        switch (s.Kind)
        {
            case OptimizerKind.Adam:
                _scalars.SetAdam(_slot, s.LearningRate, s.Beta1, s.Beta2, s.Epsilon, Steps + 1);
                break;
            case OptimizerKind.Sgd:
                _scalars.SetSgd(_slot, s.LearningRate, s.Momentum);
                break;
            default:
                _scalars.SetSgd(_slot, s.LearningRate, 0f);
                break;
        }
    }

    /// <summary>
    /// Queues the update with the hyper-parameters the slot holds when it runs; passes only addresses, so a captured
    /// step replays it correctly as long as the slot is rewritten before each replay. Does not count the step.
    /// </summary>
    public void Apply()
    {
        var p = _parameters.Values.All();
        var g = _parameters.Gradients.All();
        var hyper = _scalars.OptimizerHyper(_slot);
        long n = _parameters.Layout.Count;
        switch (Settings.Kind)
        {
            case OptimizerKind.Adam:
                _backend.AdamStep(p, g, State.Slice(0, 1, (int)n), State.Slice(n, 1, (int)n), hyper);
                break;
            case OptimizerKind.Sgd:
                _backend.SgdStep(p, g, State.Slice(0, 1, (int)n), hyper);
                break;
            default:
                // Momentum 0 makes the velocity equal to the gradient; the scratch velocity is the gradient itself.
                _backend.SgdStep(p, g, g, hyper);
                break;
        }
    }

    public void Dispose()
    {
        State.Dispose();
        if (_ownsScalars) _scalars.Dispose();
    }
}
