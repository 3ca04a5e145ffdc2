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
/// transposed-convolution checkerboard shows as a strong autocorrelation at an even lag (the DCGAN's period-4 template).</item>
/// </list>
/// The thresholds of <see cref="Collapsed"/> are fixed a priori, not fitted: half the real diversity, a template share
/// above 0.2, or an autocorrelation 0.1 away from the real one at some lag (real residuals' autocorrelations are a few
/// hundredths).
/// </summary>
public sealed record CollapseDiagnostics(
    double DiversityRatio, double TemplateShare, double RealTemplateShare, double[] Acf, double[] RealAcf)
{
    public const double MinDiversityRatio = 0.5, MaxTemplateShare = 0.2, MaxAcfGap = 0.1;

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

    public bool Collapsed => DiversityRatio < MinDiversityRatio || TemplateShare > MaxTemplateShare || WorstLag.Gap > MaxAcfGap;
}

public static class CollapseCheck
{
    public const int MaxLag = 8;
    private const int Pairs = 20_000;

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
        return new CollapseDiagnostics(diversity, TemplateShare(g, count, window), TemplateShare(r, realCount, window),
            WithinWindowAcf(g, count, window), WithinWindowAcf(r, realCount, window));
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
