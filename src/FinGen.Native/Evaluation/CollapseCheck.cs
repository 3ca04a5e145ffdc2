using FinGen.Native.Randomness;

namespace FinGen.Native.Evaluation;

/// <summary>
/// What a collapsed generator looks like, measured on its decoded windows against the real windows of the series it
/// learned (standardized residuals for a filtered model, returns otherwise):
/// <list type="bullet">
/// <item>diversity: the mean distance between two random generated windows over the same for real windows (1 when the
/// generated windows are as spread as real ones; a generator that repeats a few templates scores far below);</item>
/// <item>template share: ‖mean window‖² / mean ‖window‖², the part of the windows' energy that is one fixed shape
/// (near 0 for real returns, whose mean is small against their spread);</item>
/// <item>within-window autocorrelation at lags 1 … <see cref="MaxLag"/>, generated against real: a stride-2
/// transposed-convolution checkerboard shows as a strong autocorrelation at an even lag (the DCGAN's period-4 template);</item>
/// <item>nearest neighbours: the median distance from a generated window to its nearest other generated window, over
/// the same for real windows (equal sample sizes). A calibrated model's windows have the training windows' mean and
/// covariance by construction (<see cref="Data.CalibratedEncoding"/>), so the first three measures, which are second
/// moments, cannot see a generator that repeats a few shapes once calibrated; near-duplicates can.</item>
/// </list>
/// The thresholds of <see cref="Collapsed"/> are fixed a priori, not fitted: half the real diversity, a template share
/// above 0.2, an autocorrelation 0.1 away from the real one at some lag (real residuals' autocorrelations are a few
/// hundredths), or nearest neighbours at half the real distance.
/// </summary>
public sealed record CollapseDiagnostics(
    double DiversityRatio, double TemplateShare, double RealTemplateShare, double[] Acf, double[] RealAcf, double NearestNeighbourRatio)
{
    public const double MinDiversityRatio = 0.5, MaxTemplateShare = 0.2, MaxAcfGap = 0.1, MinNearestNeighbourRatio = 0.5;

    /// <summary>The lag (1-based) whose autocorrelation is farthest from the real one, and that distance.</summary>
    public (int Lag, double Gap) WorstLag
    {
        get
        {
            int worst = 0;
            for (int k = 1; k < Acf.Length; k++)
                if (Math.Abs(Acf[k] - RealAcf[k]) > Math.Abs(Acf[worst] - RealAcf[worst])) worst = k;
            return (worst + 1, Math.Abs(Acf[worst] - RealAcf[worst]));
        }
    }

    public bool Collapsed => DiversityRatio < MinDiversityRatio || TemplateShare > MaxTemplateShare || WorstLag.Gap > MaxAcfGap
        || NearestNeighbourRatio < MinNearestNeighbourRatio;
}

public static class CollapseCheck
{
    public const int MaxLag = 8;
    private const int Pairs = 20_000, Neighbours = 2000;

    /// <param name="generated">[count, window] decoded generated windows</param>
    /// <param name="real">the real series the model learned; its windows are taken at every start</param>
    public static CollapseDiagnostics Compute(ReadOnlySpan<float> generated, ReadOnlySpan<double> real, int window, ulong seed)
    {
        if (window < MaxLag + 2) Throw.User($"the collapse check needs windows of at least {MaxLag + 2} days, got {window}");
        int count = generated.Length / window, realCount = real.Length - window + 1;
        if (count < 2 || realCount < 2) Throw.User($"the collapse check needs at least 2 windows of each kind, got {count} generated and {Math.Max(realCount, 0)} real");
        var g = new double[count * window];
        for (int i = 0; i < g.Length; i++) g[i] = generated[i];
        var r = new double[realCount * window];
        for (int w = 0; w < realCount; w++) real.Slice(w, window).CopyTo(r.AsSpan(w * window, window));

        double diversity = MeanPairDistance(g, count, window, seed) / MeanPairDistance(r, realCount, window, seed + 1);
        int sample = Math.Min(Neighbours, Math.Min(count, realCount));
        double neighbours = MedianNearestNeighbour(g, count, window, sample, seed + 2) / MedianNearestNeighbour(r, realCount, window, sample, seed + 3);
        return new CollapseDiagnostics(diversity, TemplateShare(g, count, window), TemplateShare(r, realCount, window),
            WithinWindowAcf(g, count, window), WithinWindowAcf(r, realCount, window), neighbours);
    }

    private static double MeanPairDistance(double[] windows, int count, int window, ulong seed)
    {
        double sum = 0;
        for (int p = 0; p < Pairs; p++)
        {
            int a = Philox.NextInt(seed, (ulong)Philox.Stream.Batches, 2UL * (ulong)p, count);
            int b = Philox.NextInt(seed, (ulong)Philox.Stream.Batches, 2UL * (ulong)p + 1, count - 1);
            if (b >= a) b++; // two different windows
            double d = 0;
            for (int t = 0; t < window; t++)
            {
                double e = windows[a * window + t] - windows[b * window + t];
                d += e * e;
            }
            sum += Math.Sqrt(d);
        }
        return sum / Pairs;
    }

    /// <summary>The median over <paramref name="sample"/> windows drawn without replacement of the distance to the nearest other one of them.</summary>
    private static double MedianNearestNeighbour(double[] windows, int count, int window, int sample, ulong seed)
    {
        var pick = Enumerable.Range(0, count).ToArray();
        for (int i = 0; i < sample; i++) // a partial Fisher–Yates shuffle: the first `sample` entries
        {
            int j = i + Philox.NextInt(seed, (ulong)Philox.Stream.Batches, (ulong)i, count - i);
            (pick[i], pick[j]) = (pick[j], pick[i]);
        }
        var nearest = new double[sample];
        for (int a = 0; a < sample; a++)
        {
            double best = double.PositiveInfinity;
            var x = windows.AsSpan(pick[a] * window, window);
            for (int b = 0; b < sample; b++)
            {
                if (b == a) continue;
                var y = windows.AsSpan(pick[b] * window, window);
                double d = 0;
                for (int t = 0; t < window && d < best; t++)
                {
                    double e = x[t] - y[t];
                    d += e * e;
                }
                if (d < best) best = d;
            }
            nearest[a] = Math.Sqrt(best);
        }
        Array.Sort(nearest);
        return sample % 2 == 1 ? nearest[sample / 2] : 0.5 * (nearest[sample / 2 - 1] + nearest[sample / 2]);
    }

    private static double TemplateShare(double[] windows, int count, int window)
    {
        var mean = new double[window];
        double energy = 0;
        for (int w = 0; w < count; w++)
            for (int t = 0; t < window; t++)
            {
                double v = windows[w * window + t];
                mean[t] += v / count;
                energy += v * v;
            }
        energy /= count;
        return energy > 0 ? mean.Sum(m => m * m) / energy : 0;
    }

    /// <summary>Autocorrelation at lags 1 … <see cref="MaxLag"/> of the pooled windows, pairs taken inside windows only.</summary>
    private static double[] WithinWindowAcf(double[] windows, int count, int window)
    {
        double mean = windows.Average(), variance = 0;
        foreach (double v in windows) variance += (v - mean) * (v - mean);
        variance /= windows.Length;
        var acf = new double[MaxLag];
        for (int k = 1; k <= MaxLag; k++)
        {
            double sum = 0;
            for (int w = 0; w < count; w++)
                for (int t = 0; t + k < window; t++)
                    sum += (windows[w * window + t] - mean) * (windows[w * window + t + k] - mean);
            acf[k - 1] = variance > 0 ? sum / ((double)count * (window - k) * variance) : 0;
        }
        return acf;
    }
}
