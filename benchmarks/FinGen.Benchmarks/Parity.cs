using System.Globalization;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Models;
using static TorchSharp.torch;

namespace FinGen.Benchmarks;

/// <summary>
/// Before anything is timed: the same initial weights, batch and noise (our Philox normals fed to torch) must give
/// the same losses in both engines for the first steps, within fp32 tolerance, for every model the suite times: the
/// seed GAN and VAE, the DCGAN and the conv VAE.
/// If they do not, the two sides are not computing the same thing and their times mean nothing.
/// </summary>
internal static class Parity
{
    public const int Steps = 3;
    public const int Batch = 64;

    /// <summary>
    /// |ours − torch| ≤ Atol + Rtol·|torch|, one tolerance for every model: fp32 sums over 784-wide rows (and, in the
    /// conv models, over C·R·S filters and batch-norm batches) in a different order, then Adam. The conv models' worst
    /// difference seen was ~3e-6 on a DCGAN loss of 0.73, well inside.
    /// </summary>
    public const double Atol = 1e-5, Rtol = 1e-4;

    public static bool Run(TextWriter log)
    {
        set_num_threads(Suite.Threads);
        log.WriteLine(Invariant($"Parity check: GAN, VAE, DCGAN, conv VAE, batch {Batch}, {Steps} steps, {Suite.Threads} threads, same weights, batch and noise; tolerance {Atol:G} + {Rtol:G}·|torch|"));
        log.WriteLine("| model | step | metric | FinGen | TorchSharp | abs diff | ok |");
        log.WriteLine("|---|---:|---|---:|---:|---:|---|");
        bool ok = true;
        foreach (var kind in (ModelKind[])[ModelKind.Gan, ModelKind.Vae, ModelKind.Dcgan, ModelKind.ConvVae]) ok &= Compare(log, kind);
        log.WriteLine(ok ? "Parity: PASS" : "Parity: FAIL");
        return ok;
    }

    private static bool Compare(TextWriter log, ModelKind kind)
    {
        var config = ModelConfig.Default(kind) with { BatchSize = Batch };
        using var backend = new CpuSimdBackend(Suite.Threads);
        using var ours = GenerativeModel.Create(backend, config);
        ours.Initialize();
        var noise = new PhiloxNoise(config.Seed);
        using ITorchModel torch = config.IsGan ? new TorchGan(config, noise) : new TorchVae(config, noise);
        torch.CopyWeightsFrom(ours);

        float[] batch = BenchmarkData.Batch(Batch);
        int count = ours.MetricNames.Count;
        float[] fromOurs = new float[count], fromTorch = new float[count];
        bool ok = true;
        for (int step = 1; step <= Steps; step++)
        {
            ours.TrainStep(batch, fromOurs);
            torch.Step(batch, fromTorch);
            for (int i = 0; i < count; i++)
            {
                double diff = Math.Abs((double)fromOurs[i] - fromTorch[i]);
                bool good = double.IsFinite(fromOurs[i]) && diff <= Atol + Rtol * Math.Abs(fromTorch[i]);
                ok &= good;
                log.WriteLine(Invariant($"| {kind} | {step} | {ours.MetricNames[i]} | {fromOurs[i]:R} | {fromTorch[i]:R} | {diff:E2} | {(good ? "yes" : "**NO**")} |"));
            }
        }
        return ok;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
