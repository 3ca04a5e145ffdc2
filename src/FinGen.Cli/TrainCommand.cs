using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FinGen.Native;
using FinGen.Native.Checkpoints;
using FinGen.Native.Data;
using FinGen.Native.Models;
using FinGen.Native.Training;
using Spectre.Console;
using static FinGen.Native.English;

namespace FinGen.Cli;

internal static class TrainCommand
{
    /// <summary>The default run's length; .ci/run's log shows its step rate and time on the CI machine.</summary>
    public const int DefaultSteps = 20000;

    public static Command Create(CliConsole console)
    {
        var model = new Option<string>("--model") { Description = "gan, vae, dcgan or conv-vae", DefaultValueFactory = _ => "gan" }.AcceptOnlyFromAmong("gan", "vae", "dcgan", "conv-vae");
        var data = new Option<string>("--data") { Description = "mnist, sp500 (embedded S&P 500 daily, the default) or a CSV with a date column and price columns (see --column, --columns)", DefaultValueFactory = _ => DataSets.Sp500 };
        var dataOptions = new DataOptionFlags();
        var steps = new Option<int>("--steps") { Description = "training steps to run", DefaultValueFactory = _ => DefaultSteps };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 64 };
        var lr = new Option<float>("--lr") { Description = "learning rate", DefaultValueFactory = _ => 2e-4f };
        var beta1 = new Option<float?>("--beta1") { Description = "Adam β1 (default 0.5 for GANs, 0.9 for VAEs)" };
        var beta2 = new Option<float>("--beta2") { Description = "Adam β2", DefaultValueFactory = _ => 0.999f };
        var realLabel = new Option<float>("--real-label") { Description = "GAN: D's target for real samples (0.9 = one-sided label smoothing)", DefaultValueFactory = _ => 1f };
        var optimizer = new Option<string>("--optimizer") { Description = "adam, sgd (momentum 0.9) or gd", DefaultValueFactory = _ => "adam" }.AcceptOnlyFromAmong("adam", "sgd", "gd");
        var noise = new Option<string>("--noise") { Description = "GAN latent noise: normal, or student-t[:DOF] (unit-variance Student-t, default 5 degrees of freedom, 3 to 64: heavy-tailed noise)", DefaultValueFactory = _ => "normal", HelpName = "normal|student-t[:DOF]" };
        var spectralNorm = new Option<bool>("--spectral-norm") { Description = "GAN, DCGAN: spectral normalization of every discriminator weight (Miyato et al. 2018: W/σ(W), σ from one power iteration a step on vectors kept in the checkpoint)" };
        var recon = new Option<string>("--recon") { Description = "VAE reconstruction loss: bce or mse", DefaultValueFactory = _ => "bce" }.AcceptOnlyFromAmong("bce", "mse");
        var seed = Options.Seed(42);
        var device = Options.Device();
        var output = new Option<string?>("--out") { Description = "output directory (new or empty; default runs/<model>-<timestamp>)" };
        var metricsEvery = new Option<int?>("--metrics-every") { Description = "copy the losses back every N steps (a GPU synchronization; default 1 on CPU, 10 on CUDA)" };
        var resume = new Option<string?>("--resume") { Description = "a run directory to continue in place (to the step count it was started with, unless --steps gives more), or a checkpoint to continue from into a new --out (--steps more steps); the model, batch, optimizer and seed are kept, the data and data options too unless given" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "write the checkpoint every N steps (and at least every minute), so a killed run can be resumed with --resume DIR", DefaultValueFactory = _ => CheckpointPolicy.DefaultSteps, HelpName = "N" };

        var command = new Command("train", "Train a GAN or VAE and write checkpoint.safetensors, metrics.csv, config.json, for price data paths.png (synthetic price paths decoded from the model's images) and samples.png (the generated images; for price data above real training windows)")
        {
            model, data, dataOptions.Column, dataOptions.Columns, dataOptions.DateColumn, dataOptions.Missing, dataOptions.Stride, dataOptions.Window, dataOptions.Encoding, dataOptions.Transform, dataOptions.Filter, dataOptions.FilterStart, dataOptions.PathCalibration, dataOptions.Tails, dataOptions.Condition, dataOptions.AllowExtreme, steps, batch, lr, optimizer, beta1, beta2, realLabel, noise, spectralNorm, recon, seed, device, output, metricsEvery, resume, checkpointEvery,
        };
        command.SetAction(parse =>
        {
            string? resumePath = parse.GetValue(resume);
            if (resumePath is { Length: 0 }) Options.Throw("--resume is empty; name a run directory or a checkpoint");
            var request = new TrainRequest(
                Options.AtLeast(parse.GetValue(steps), 1, "--steps"),
                parse.GetResult(steps) is { Implicit: false },
                new CheckpointPolicy(Options.AtLeast(parse.GetValue(checkpointEvery), 1, "--checkpoint-every"), CheckpointPolicy.DefaultInterval),
                parse.GetResult(checkpointEvery) is { Implicit: false },
                parse.GetValue(data)!,
                parse.GetResult(data) is not null && parse.GetResult(data)!.Implicit == false,
                parse.GetValue(device)!,
                parse.GetValue(output),
                parse.GetValue(metricsEvery) is int every ? Options.AtLeast(every, 1, "--metrics-every") : null,
                resumePath,
                baseline => dataOptions.Resolve(parse, baseline));
            ModelConfig? fresh = null;
            if (resumePath is null)
            {
                var kind = ModelConfig.ParseCliName(parse.GetValue(model)!);
                if (parse.GetResult(recon) is { Implicit: false } && kind is not (ModelKind.Vae or ModelKind.ConvVae))
                    Options.Throw($"--recon applies to the VAEs (vae, conv-vae), not to --model {parse.GetValue(model)}");
                if (parse.GetValue(spectralNorm) && kind is not (ModelKind.Gan or ModelKind.Dcgan))
                    Options.Throw($"--spectral-norm applies to the GANs' discriminators (gan, dcgan), not to --model {parse.GetValue(model)}");
                // The ranges the model config enforces, checked here so the error names the option.
                float lrValue = parse.GetValue(lr), b2 = parse.GetValue(beta2), label = parse.GetValue(realLabel);
                if (!(lrValue > 0) || !float.IsFinite(lrValue)) Options.Throw($"--lr {lrValue.ToString(CultureInfo.InvariantCulture)}: the learning rate must be a positive number");
                if (parse.GetValue(beta1) is float b1 && !(b1 >= 0 && b1 < 1)) Options.Throw($"--beta1 {b1.ToString(CultureInfo.InvariantCulture)}: must be in [0, 1)");
                if (!(b2 >= 0 && b2 < 1)) Options.Throw($"--beta2 {b2.ToString(CultureInfo.InvariantCulture)}: must be in [0, 1)");
                if (!(label > 0.5f && label <= 1f)) Options.Throw($"--real-label {label.ToString(CultureInfo.InvariantCulture)}: must be in (0.5, 1] (1 is no label smoothing)");
                var defaults = ModelConfig.Default(kind);
                fresh = defaults with
                {
                    BatchSize = Options.AtLeast(parse.GetValue(batch), 1, "--batch"),
                    Seed = parse.GetValue(seed),
                    RealLabel = parse.GetValue(realLabel),
                    NoiseDegrees = ParseNoise(parse.GetValue(noise)!, kind),
                    SpectralNorm = parse.GetValue(spectralNorm),
                    Reconstruction = parse.GetValue(recon) == "mse" ? ReconstructionLoss.Mse : ReconstructionLoss.Bce,
                    Optimizer = defaults.Optimizer with
                    {
                        LearningRate = parse.GetValue(lr),
                        Beta1 = parse.GetValue(beta1) ?? defaults.Optimizer.Beta1,
                        Beta2 = parse.GetValue(beta2),
                        Kind = parse.GetValue(optimizer) switch { "sgd" => OptimizerKind.Sgd, "gd" => OptimizerKind.Gd, _ => OptimizerKind.Adam },
                    },
                };
            }
            else
            {
                foreach (var fixedOption in new Option[] { model, batch, lr, optimizer, beta1, beta2, realLabel, noise, spectralNorm, recon, seed })
                {
                    if (parse.GetResult(fixedOption) is { Implicit: false })
                        Options.Throw($"{fixedOption.Name} cannot be changed when resuming; the checkpoint's value is used");
                }
            }
            return Run(console, request, fresh);
        });
        return command;
    }

    /// <summary>--noise: 0 for normal, else the Student-t's degrees of freedom.</summary>
    internal static int ParseNoise(string value, ModelKind kind)
    {
        int degrees;
        if (value == "normal") return 0;
        if (value == "student-t") degrees = 5;
        else if (value.StartsWith("student-t:", StringComparison.Ordinal) && int.TryParse(value.AsSpan("student-t:".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int d)) degrees = d;
        else return Options.Throw<int>($"--noise {value}: use normal, student-t or student-t:DOF (DOF an integer from {Native.Randomness.Philox.MinStudentTDegrees} to {Native.Randomness.Philox.MaxStudentTDegrees})");
        if (degrees < Native.Randomness.Philox.MinStudentTDegrees || degrees > Native.Randomness.Philox.MaxStudentTDegrees)
            Options.Throw($"--noise {value}: the degrees of freedom must be from {Native.Randomness.Philox.MinStudentTDegrees} to {Native.Randomness.Philox.MaxStudentTDegrees} (unit variance needs more than 2)");
        if (kind is not (ModelKind.Gan or ModelKind.Dcgan))
            Options.Throw($"--noise {value} applies to the GANs (gan, dcgan), not to --model {ModelConfig.CliName(kind)}: a VAE's latent prior is the normal of its KL term");
        return degrees;
    }

    /// <param name="DataOptions">The data options given on the command line over a baseline: the defaults, or the resumed checkpoint's.</param>
    private sealed record TrainRequest(int Steps, bool StepsGiven, CheckpointPolicy Checkpoints, bool CheckpointEveryGiven, string Data, bool DataGiven, string Device, string? Out, int? MetricsEvery, string? Resume,
        Func<DataOptions, DataOptions> DataOptions);

    private static int Run(CliConsole console, TrainRequest request, ModelConfig? freshConfig)
    {
        if (request.Out is { } outGiven && string.IsNullOrWhiteSpace(outGiven)) Options.Throw("--out is empty; name a directory");
        bool inPlace = request.Resume is not null && Directory.Exists(request.Resume);
        if (inPlace && request.Out is not null)
            Options.Throw($"--resume {request.Resume} continues that run directory in place; --out does not apply (resume a checkpoint file to write a new directory)");
        RunDirectory? run = null;
        Checkpoint.CheckpointFile? checkpoint = null;
        try
        {
            if (inPlace) (run, checkpoint) = RunDirectory.Resume(request.Resume!);
            else if (request.Resume is not null)
            {
                Options.MustExist(request.Resume, "--resume");
                checkpoint = Checkpoint.Read(request.Resume);
            }
            return Train(console, request, freshConfig, checkpoint, run);
        }
        finally
        {
            run?.Dispose();
        }
    }

    private static int Train(CliConsole console, TrainRequest request, ModelConfig? freshConfig, Checkpoint.CheckpointFile? checkpoint, RunDirectory? resumed)
    {
        var config = checkpoint?.Config ?? freshConfig!;
        string dataSpec = !request.DataGiven && checkpoint is not null && checkpoint.Data.TryGetValue(DataSets.SpecKey, out var source)
            ? source : request.Data;
        string outDir = resumed?.Path ?? request.Out ?? Path.Combine("runs", $"{ModelConfig.CliName(config.Model)}-{DateTime.Now:yyyyMMdd-HHmmss}");
        if (resumed is null && File.Exists(outDir)) Options.Throw($"--out {outDir} is a file; choose a directory");

        // A fresh price model starts from the recommended options (the best measured configuration), images from the plain defaults.
        var baseline = checkpoint is not null ? DataOptions.FromMetadata(checkpoint.Data)
            : dataSpec == DataSets.Mnist ? DataOptions.Default
            : config.IsConvolutional ? DataOptions.RecommendedImages : DataOptions.Recommended;
        var dataOptions = request.DataOptions(baseline);
        var data = DataSets.Load(dataSpec, dataOptions);
        if (checkpoint is not null) CheckSameEncoding(checkpoint, data);
        var trainConfig = config with { DataWidth = data.Width, ImageSide = (int)Math.Round(Math.Sqrt(data.Width)), ConditionWidth = data.ConditionWidth };
        if (trainConfig.ImageSide * trainConfig.ImageSide != data.Width) trainConfig = trainConfig with { ImageSide = 0 };
        Sizes.CheckTraining(trainConfig);

        using var backend = Devices.Create(request.Device);
        using var model = checkpoint is null ? GenerativeModel.Create(backend, trainConfig) : Checkpoint.LoadModel(backend, checkpoint);
        if (checkpoint is null) model.Initialize();

        long first = model.State.Step, last = first + request.Steps;
        if (resumed is not null && !request.StepsGiven)
            last = checkpoint!.UntilStep ?? Options.Throw<long>($"--resume {outDir}: its checkpoint does not record the step count the run was started with (an older fingen wrote it); give --steps N for N more steps");
        // The folder is claimed only now that the data and the model are ready, so a bad option leaves nothing behind.
        // A resumed run keeps its cadence of checkpoints unless --checkpoint-every is given again.
        var checkpoints = resumed is not null && !request.CheckpointEveryGiven && checkpoint!.CheckpointEvery is int recordedEvery
            ? request.Checkpoints with { Steps = recordedEvery } : request.Checkpoints;
        using var created = resumed is null ? RunDirectory.Create(outDir, model, data.Metadata, new RunRecord(last, checkpoints.Steps)) : null;
        var run = resumed ?? created!;
        if (resumed is not null) run.ContinueMetrics(model);

        var log = console.Out;
        log.WriteLine($"fingen train: {ModelConfig.CliName(config.Model)} on {data.Name} ({Plural(data.Count, "sample")} of {data.Width}), backend {backend.Name}, batch {config.BatchSize}, {config.Optimizer.Kind.ToString().ToLowerInvariant()} lr {config.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}, seed {config.Seed}{(config.NoiseDegrees > 0 ? $", Student-t noise ({config.NoiseDegrees} degrees of freedom)" : "")}{(config.SpectralNorm ? ", spectral norm in D" : "")}");
        if (data.Metadata.TryGetValue("held_out_returns", out var heldOut))
        {
            log.WriteLine($"  data: training returns {data.Metadata["train_first_date"]} .. {data.Metadata["train_last_date"]} ({data.Metadata["train_returns"]}); last {Plural(long.Parse(heldOut, CultureInfo.InvariantCulture), "return")} held out for evaluation; {DataSets.EncodingOf(data.Metadata)}");
            log.WriteLine($"  data: {DataOptions.FromMetadata(data.Metadata)}: {Plural(data.Count, "window")} of {Plural(DataOptions.FromMetadata(data.Metadata).Window, "return")}");
            if (data.Metadata.TryGetValue(DataSets.MissingKey, out var missing)) log.WriteLine($"  data: {missing}");
        }
        if (checkpoint is not null) log.WriteLine($"  resuming {request.Resume} at step {first}{(resumed is not null ? $" in place, to step {last}" : "")}");
        if (run.StrayFilesRemoved > 0) log.WriteLine($"  removed {Plural(run.StrayFilesRemoved, "temporary file")} a killed run left in {outDir}");

        var names = model.MetricNames;
        var firstMetrics = new float[names.Count];
        var lastMetrics = new float[names.Count];
        // On a GPU every metrics copy is a synchronization (the only one of a step), so metrics.csv gets a row every 10 steps there.
        int metricsEvery = request.MetricsEvery ?? (backend.Name.StartsWith("cuda", StringComparison.Ordinal) ? 10 : 1);
        bool haveFirst = false;
        var clock = Stopwatch.StartNew();
        void Remember(ReadOnlySpan<float> values)
        {
            if (values.IsEmpty) return;
            if (!haveFirst) values.CopyTo(firstMetrics);
            haveFirst = true;
            values.CopyTo(lastMetrics);
        }
        var training = new CheckpointedTraining(model, data, run, last, checkpoints);
        TrainingOutcome outcome;
        using (var signals = new StopSignals(console.Error))
        {
            if (console.Interactive)
            {
                outcome = TrainingOutcome.Completed;
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("training", maxValue: last - first);
                        outcome = training.Run((step, values) =>
                        {
                            Remember(values);
                            task.Increment(1);
                            if (!values.IsEmpty && (step % 50 == 0 || step == last)) task.Description = Describe(names, values);
                        }, metricsEvery, signals.Token);
                    });
            }
            else
            {
                long every = Math.Max(1, (last - first) / 10), nextLog = first + every;
                outcome = training.Run((step, values) =>
                {
                    Remember(values);
                    if (values.IsEmpty || (step < nextLog && step != last)) return;
                    nextLog += every;
                    log.WriteLine($"  step {step}/{last}  {Describe(names, values)}  {(step - first) / clock.Elapsed.TotalSeconds:F0} steps/s");
                }, metricsEvery, signals.Token);
            }
            if (outcome == TrainingOutcome.Stopped)
            {
                log.WriteLine($"  stopped by {signals.SignalName} at step {model.State.Step} of {last}; checkpoint written to {run.CheckpointPath}; finish with: fingen train --resume {outDir}");
                return signals.ExitCode == 0 ? Cli.Failed : signals.ExitCode;
            }
        }
        if (outcome == TrainingOutcome.Diverged)
        {
            var d = training.Divergence!;
            Options.Throw($"training diverged at step {d.Step}: {d.What}; kept the last good checkpoint (step {d.LastGoodStep}) in {run.CheckpointPath}; try a lower --lr than {config.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}");
        }
        double seconds = clock.Elapsed.TotalSeconds;
        long ran = model.State.Step - first;

        // Every checkpoint carries the filtered model's calibration (CheckpointedTraining); the pictures use it too.
        data = data with { Metadata = DataSets.CalibratedMetadata(model, data, config.Seed) };
        var written = new List<string> { run.CheckpointPath, run.MetricsPath };
        written.Add(run.WriteFile("config.json", stream => WriteConfig(stream, model, data, backend.Name, request, ran, seconds)));
        written.AddRange(Pictures.WriteSamplePictures(model, data, outDir, seed: config.Seed));

        if (haveFirst)
        {
            log.WriteLine($"  first losses  {Describe(names, firstMetrics)}");
            log.WriteLine($"  last losses   {Describe(names, lastMetrics)}");
        }
        log.WriteLine($"  {Plural(ran, "step")} in {seconds:F1} s ({ran / Math.Max(seconds, 1e-9):F0} steps/s){(training.PeriodicCheckpoints > 0 ? $"; {Plural(training.PeriodicCheckpoints, "periodic checkpoint")}" : "")}");
        if (model.IsReplaying)
            log.WriteLine($"  after {GenerativeModel.GraphWarmupSteps} warm-up steps, one step was captured as a graph and replayed; metrics copied back {English.Every(metricsEvery, "step")}");
        else if (model.GraphFailure is not null)
            log.WriteLine($"  every step ran without a graph: capturing one failed ({model.GraphFailure})");
        if (backend is FinGen.Native.Cuda.CudaBackend cuda)
            foreach (string note in cuda.Notes) log.WriteLine($"  note: {note}");
        foreach (var path in written) log.WriteLine($"  wrote {path}");
        return Cli.Ok;
    }

    /// <summary>The model learned images of one encoding, with its fitted bounds and transform: resuming needs exactly those.</summary>
    private static void CheckSameEncoding(Checkpoint.CheckpointFile checkpoint, TrainingData data)
    {
        // The calibration is refitted at the end of every run, so it is not part of what must match.
        var encodingKeys = DataSets.EncodingOf(checkpoint.Data)?.ToMetadata().Keys.Where(k => !CalibratedEncoding.IsCalibrationKey(k)) ?? [];
        var newKeys = DataSets.EncodingOf(data.Metadata)?.ToMetadata().Keys ?? [];
        foreach (var key in encodingKeys.Union(newKeys).Prepend("kind").Append(VolatilityFilter.KindKey).Append(VolatilityFilter.ParametersKey).Append(VolatilityFilter.LongRunLevelsKey).Append(VolatilityFilter.PathParametersKey).Append(ConditionFeatures.KindKey))
        {
            checkpoint.Data.TryGetValue(key, out var was);
            data.Metadata.TryGetValue(key, out var now);
            if (was != now)
                Options.Throw($"--resume {checkpoint.Path}: the data's {key} is '{now}' but the checkpoint was trained with '{was}'");
        }
    }

    private static string Describe(IReadOnlyList<string> names, ReadOnlySpan<float> values)
    {
        var parts = new string[names.Count];
        for (int i = 0; i < names.Count; i++) parts[i] = $"{names[i]} {values[i].ToString("F4", CultureInfo.InvariantCulture)}";
        return string.Join("  ", parts);
    }

    private static void WriteConfig(Stream stream, GenerativeModel model, TrainingData data, string backend, TrainRequest request, long steps, double seconds)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("fingen_version", InfoCommand.Version);
        json.WriteString("backend", backend);
        json.WriteNumber("step", model.State.Step);
        json.WriteNumber("steps_this_run", steps);
        json.WriteNumber("seconds", Math.Round(seconds, 3));
        if (request.Resume is not null) json.WriteString("resumed_from", request.Resume);
        json.WritePropertyName("model");
        using (var config = JsonDocument.Parse(model.Config.ToJson())) config.WriteTo(json);
        json.WriteStartObject("data");
        json.WriteString("name", data.Name);
        json.WriteNumber("samples", data.Count);
        foreach (var (key, value) in data.Metadata) json.WriteString(key, value);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
