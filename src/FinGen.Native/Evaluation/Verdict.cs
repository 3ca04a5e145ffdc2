namespace FinGen.Native.Evaluation;

/// <summary>One measure of the verdict: every source's value with its 95 % interval, and the source that wins it, if any.</summary>
/// <param name="Measure">What is measured; lower is better for every row.</param>
/// <param name="Values">Each source's estimate and percentile-bootstrap interval.</param>
/// <param name="Winner">The source with the lowest estimate when its interval lies below every other source's; null when none separates.</param>
public sealed record VerdictRow(string Measure, IReadOnlyList<(string Source, ConfidenceInterval Interval)> Values, string? Winner);

/// <summary>
/// The verdict that opens report.md: for each distance to the held-out data (and each conditional forecast score) every
/// source's value with a 95 % percentile-bootstrap interval, and which source wins. A win counts only when the winner's
/// interval lies entirely below every other source's: overlapping intervals are no win. Path measures resample the
/// synthetic paths (<see cref="Resamples"/> times, the held-out series fixed); the conditional FZ0 rows resample the
/// held-out days, each day's loss as it is (an i.i.d. bootstrap that ignores any dependence between days' losses).
/// </summary>
public static class Verdict
{
    /// <summary>Bootstrap resamples per interval: the W1 rows sort every resample's pooled returns, so it stays modest.</summary>
    public const int Resamples = 200;

    public static IReadOnlyList<VerdictRow> Build(double[] heldOut, IReadOnlyDictionary<string, double[][]> paths, IReadOnlyList<ConditionalRiskResult> conditional,
        int maxLag, int leverageLags, ulong seed)
    {
        var rows = new List<VerdictRow>();
        var names = paths.Keys.ToList();
        var realAcfAbs = StylizedFacts.Autocorrelation(heldOut, maxLag, ReturnTransform.Absolute);
        var realAcfSq = StylizedFacts.Autocorrelation(heldOut, maxLag, ReturnTransform.Squared);
        var realLeverage = StylizedFacts.LeverageEffect(heldOut, leverageLags);
        var realMoments = StylizedFacts.Describe(heldOut);

        // Per-path pieces, computed once, that each resample averages.
        var perSource = names.ToDictionary(n => n, n => paths[n].Select(p => new PathPieces(p, maxLag, leverageLags)).ToArray());
        void AddPathRow(string measure, Func<PathPieces[], int[], double> statistic)
        {
            var values = new (string, ConfidenceInterval)[names.Count];
            Parallel.For(0, names.Count, s =>
            {
                var pieces = perSource[names[s]];
                values[s] = (names[s], ForecastScores.BootstrapInterval(pieces.Length, idx => statistic(pieces, idx), seed + (ulong)s, Resamples));
            });
            rows.Add(new VerdictRow(measure, values, Winner(values)));
        }

        AddPathRow("|mean − held-out mean|", (p, idx) => Math.Abs(PooledMean(p, idx) - realMoments.Mean));
        AddPathRow("|std − held-out std|", (p, idx) => Math.Abs(PooledStd(p, idx) - realMoments.StandardDeviation));
        foreach (int k in new[] { 1, 5, 20 })
        {
            var real = StylizedFacts.AggregateReturns(heldOut, k);
            if (real.Length < 2) continue;
            AddPathRow($"W1 of {k}-day returns", (p, idx) => Distances.Wasserstein1(real, idx.SelectMany(i => StylizedFacts.AggregateReturns(p[i].Returns, k)).ToArray()));
        }
        AddPathRow("ACF score |r|", (p, idx) => Distance(realAcfAbs, Average(idx.Select(i => p[i].AcfAbs), maxLag + 1), 1));
        AddPathRow("ACF score r²", (p, idx) => Distance(realAcfSq, Average(idx.Select(i => p[i].AcfSq), maxLag + 1), 1));
        AddPathRow("leverage score", (p, idx) => Distance(realLeverage, Average(idx.Select(i => p[i].Leverage), leverageLags), 0));

        foreach (var group in conditional.Where(c => c.Horizon == 1).GroupBy(c => c.Alpha))
        {
            var values = group.Select((c, s) => (c.Source, ForecastScores.BootstrapInterval(c.Fz0Losses, seed + 100 + (ulong)s, Resamples))).ToArray();
            rows.Add(new VerdictRow($"conditional 1-day FZ0 loss at {group.Key:P1}", values, Winner(values)));
        }
        return rows;
    }

    /// <summary>The lowest estimate's source, when its interval lies below every other source's.</summary>
    static string? Winner(IReadOnlyList<(string Source, ConfidenceInterval Interval)> values)
    {
        var best = values.MinBy(v => v.Interval.Estimate);
        return values.All(v => v.Source == best.Source || best.Interval.Upper < v.Interval.Lower) ? best.Source : null;
    }

    sealed class PathPieces(double[] path, int maxLag, int leverageLags)
    {
        public double[] Returns { get; } = path;
        public double Sum { get; } = path.Sum();
        public double SumSquares { get; } = path.Sum(r => r * r);
        public double[] AcfAbs { get; } = StylizedFacts.Autocorrelation(path, maxLag, ReturnTransform.Absolute);
        public double[] AcfSq { get; } = StylizedFacts.Autocorrelation(path, maxLag, ReturnTransform.Squared);
        public double[] Leverage { get; } = StylizedFacts.LeverageEffect(path, leverageLags);
    }

    static double PooledMean(PathPieces[] p, int[] idx) => idx.Sum(i => p[i].Sum) / idx.Sum(i => (double)p[i].Returns.Length);

    static double PooledStd(PathPieces[] p, int[] idx)
    {
        double n = idx.Sum(i => (double)p[i].Returns.Length), mean = PooledMean(p, idx);
        return Math.Sqrt(Math.Max(0, idx.Sum(i => p[i].SumSquares) / n - mean * mean));
    }

    static double[] Average(IEnumerable<double[]> arrays, int length)
    {
        var mean = new double[length];
        int count = 0;
        foreach (var a in arrays)
        {
            for (int k = 0; k < length; k++) mean[k] += a[k];
            count++;
        }
        for (int k = 0; k < length; k++) mean[k] /= count;
        return mean;
    }

    static double Distance(double[] a, double[] b, int from)
    {
        double sum = 0;
        for (int k = from; k < a.Length; k++) sum += (a[k] - b[k]) * (a[k] - b[k]);
        return Math.Sqrt(sum);
    }
}
