using FinGen.Native.Data;
using System.Diagnostics;
using FinGen.Native.Checkpoints;
using FinGen.Native.Models;

namespace FinGen.Native.Training;

/// <summary>How often a run checkpoints: every <see cref="Steps"/> steps or every <see cref="Interval"/>, whichever comes first.</summary>
public sealed record CheckpointPolicy(int Steps, TimeSpan Interval)
{
    public const int DefaultSteps = 1000;
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMinutes(1);
    public static CheckpointPolicy Default { get; } = new(DefaultSteps, DefaultInterval);
}

public enum TrainingOutcome
{
    /// <summary>The run reached its step; the checkpoint is the final one.</summary>
    Completed,
    /// <summary>Stopped on request (a signal) after a whole step; the checkpoint is at that step.</summary>
    Stopped,
    /// <summary>A loss or a parameter became NaN or ±∞; the last good checkpoint is kept.</summary>
    Diverged,
}

/// <summary>Where and how training diverged.</summary>
/// <param name="Step">The step whose metrics or parameters were first seen non-finite.</param>
/// <param name="What">E.g. "d_loss is NaN" or "tensor 'net.0.weight' holds +∞".</param>
/// <param name="LastGoodStep">The step of the checkpoint that was kept.</param>
public sealed record Divergence(long Step, string What, long LastGoodStep);

/// <summary>
/// The training loop of a run folder (<see cref="RunDirectory"/>): every step's metrics into metrics.csv, a checkpoint
/// as often as <see cref="CheckpointPolicy"/> says and at the end, a graceful stop on request, and a divergence guard.
/// The guard looks at the losses where they are copied back anyway (every metrics step: no extra synchronization on a
/// GPU) and at the parameters where a checkpoint downloads them anyway; a checkpoint is never written with NaN or ±∞
/// in it, so the folder keeps the last good one.
/// </summary>
public sealed class CheckpointedTraining(GenerativeModel model, TrainingData data, RunDirectory run, long untilStep, CheckpointPolicy policy)
{
    /// <summary>Set when <see cref="Run"/> returned <see cref="TrainingOutcome.Diverged"/>.</summary>
    public Divergence? Divergence { get; private set; }

    /// <summary>The step of the checkpoint in the folder now.</summary>
    public long CheckpointStep { get; private set; } = model.State.Step;

    /// <summary>Periodic checkpoints written (the final one not counted).</summary>
    public int PeriodicCheckpoints { get; private set; }

    /// <summary>Trains until <c>untilStep</c>, a divergence, or <paramref name="stop"/>; leaves a checkpoint of the last good step.</summary>
    /// <param name="onStep">Called after each step that was recorded (for progress output).</param>
    public TrainingOutcome Run(Action<long, ReadOnlySpan<float>>? onStep, int metricsEvery, CancellationToken stop)
    {
        using var halt = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var names = model.MetricNames;
        var sinceCheckpoint = Stopwatch.StartNew();
        var trainer = new Trainer(model, data);
        trainer.Run(untilStep, (step, values) =>
        {
            if (!values.IsEmpty)
            {
                run.Record(step, values);
                int bad = Checkpoint.FirstNonFinite(values);
                if (bad >= 0)
                {
                    Diverge(step, $"{names[bad]} is {Checkpoint.Describe(values[bad])}", halt);
                    return;
                }
            }
            onStep?.Invoke(step, values);
            if (step < untilStep && !halt.IsCancellationRequested
                && (step - CheckpointStep >= policy.Steps || sinceCheckpoint.Elapsed >= policy.Interval))
            {
                if (TrySave(step, halt)) PeriodicCheckpoints++;
                sinceCheckpoint.Restart();
            }
        }, metricsEvery, halt.Token);

        if (Divergence is not null)
        {
            run.Flush();
            return TrainingOutcome.Diverged;
        }
        if (model.State.Step != CheckpointStep && !TrySave(model.State.Step, halt))
        {
            run.Flush();
            return TrainingOutcome.Diverged;
        }
        return model.State.Step >= untilStep ? TrainingOutcome.Completed : TrainingOutcome.Stopped;
    }

    private bool TrySave(long step, CancellationTokenSource halt)
    {
        try
        {
            // A filtered model's calibration is refitted to the weights each checkpoint holds, so every checkpoint samples right.
            run.SaveCheckpoint(model, DataSets.CalibratedMetadata(model, data, model.Config.Seed), new RunRecord(untilStep, policy.Steps));
            CheckpointStep = step;
            return true;
        }
        catch (NonFiniteCheckpointException e)
        {
            Diverge(step, $"tensor '{e.Tensor}' holds non-finite values", halt);
            return false;
        }
    }

    private void Diverge(long step, string what, CancellationTokenSource halt)
    {
        Divergence ??= new Divergence(step, what, CheckpointStep);
        halt.Cancel();
    }
}
