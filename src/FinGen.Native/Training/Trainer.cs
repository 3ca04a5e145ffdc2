using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native.Training;

/// <summary>Training samples in host memory: [Count, Width], plus what produced them (for the checkpoint).</summary>
public sealed record TrainingData(string Name, float[] Samples, int Count, int Width, IReadOnlyDictionary<string, string> Metadata)
{
    public ReadOnlySpan<float> Row(int index) => Samples.AsSpan(index * Width, Width);

    /// <summary>A conditional model's condition of every sample [Count, <see cref="ConditionWidth"/>]; null without one.</summary>
    public float[]? Conditions { get; init; }

    /// <summary>Values per condition row; 0 without a condition.</summary>
    public int ConditionWidth { get; init; }

    public ReadOnlySpan<float> ConditionRow(int index) => Conditions.AsSpan(index * ConditionWidth, ConditionWidth);
}

/// <summary>
/// The training loop: draws each batch's rows from the Philox batch stream (with replacement), runs one
/// model step, reports metrics. All randomness is counter-based and its position is in the model's
/// <see cref="TrainingState"/>, so the same seed gives the same losses bit for bit and a resumed run continues
/// exactly where the checkpoint left off.
/// </summary>
public sealed class Trainer
{
    private readonly GenerativeModel _model;
    private readonly TrainingData _data;
    private readonly float[] _batch;
    private readonly float[] _condition;
    private readonly float[] _metrics;

    public Trainer(GenerativeModel model, TrainingData data)
    {
        if (data.Width != model.Config.DataWidth)
            Throw.User($"{data.Name}: samples have {data.Width} values but the model expects {model.Config.DataWidth}");
        if (data.Count < 1) Throw.User($"{data.Name}: no training samples");
        if (data.ConditionWidth != model.Config.ConditionWidth)
            Throw.User($"{data.Name}: samples carry a condition of {data.ConditionWidth} values but the model expects {model.Config.ConditionWidth}");
        _model = model;
        _data = data;
        _batch = new float[model.Config.BatchSize * data.Width];
        _condition = new float[model.Config.BatchSize * data.ConditionWidth];
        _metrics = new float[model.MetricNames.Count];
    }

    /// <summary>Runs steps until the model's step counter reaches <paramref name="untilStep"/>.</summary>
    /// <param name="onStep">Called after every step with the step number (1-based) and the metrics, which are
    /// empty except on every <paramref name="metricsEvery"/>-th step and the last one.</param>
    /// <param name="metricsEvery">How often metrics are copied back from the backend (1 on CPU, where it is free).</param>
    /// <param name="stop">Checked before each step: once cancelled, the run returns after the step in progress (a graceful stop,
    /// e.g. on Ctrl-C, or a divergence <paramref name="onStep"/> saw), leaving the model at a whole step.</param>
    public void Run(long untilStep, Action<long, ReadOnlySpan<float>>? onStep = null, int metricsEvery = 1, CancellationToken stop = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(metricsEvery, 1);
        while (_model.State.Step < untilStep)
        {
            if (stop.IsCancellationRequested) return;
            GatherBatch();
            long step = _model.State.Step + 1;
            bool wanted = onStep is not null && (step % metricsEvery == 0 || step == untilStep);
            var metrics = wanted ? _metrics.AsSpan() : Span<float>.Empty;
            _model.TrainStep(_batch, _condition, metrics);
            onStep?.Invoke(_model.State.Step, metrics);
        }
    }

    private void GatherBatch()
    {
        var state = _model.State;
        int width = _data.Width;
        for (int i = 0; i < _model.Config.BatchSize; i++)
        {
            int row = Philox.NextInt(_model.Config.Seed, (ulong)Philox.Stream.Batches, state.BatchOffset++, _data.Count);
            _data.Row(row).CopyTo(_batch.AsSpan(i * width, width));
            if (_data.ConditionWidth > 0) _data.ConditionRow(row).CopyTo(_condition.AsSpan(i * _data.ConditionWidth, _data.ConditionWidth));
        }
    }
}
