using FinGen.Native.Data;

namespace FinGen.Native.Evaluation;

public sealed record EvaluationSettings(int Paths = 100, ulong Seed = 7, int MaxLag = 250, int LeverageLags = 20, double GainLossTheta = 0.05, int GainLossHorizon = 250);

/// <summary>Everything measured on one source of returns (the held-out data, the model, or a baseline).</summary>
public sealed class SourceStatistics
{
    public required string Name { get; init; }
    public required Moments Moments { get; init; }
    public required double HillTailIndex { get; init; }
    /// <summary>ACFs at lags 0..MaxLag, averaged over paths for synthetic sources.</summary>
    public required ReturnAutocorrelations Acf { get; init; }
    public required PowerLawFit AbsoluteAcfDecay { get; init; }
    /// <summary>corr(r_t, r²_{t+k}) for k = 1..LeverageLags.</summary>
    public required double[] Leverage { get; init; }
    public required int GainHorizon { get; init; }
    public required int LossHorizon { get; init; }
    /// <summary>VaR and ES as positive losses, keyed "var95_1d", "es99_10d", ...</summary>
    public required IReadOnlyDictionary<string, double> Risk { get; init; }
    /// <summary>Distances to the held-out returns; empty for the held-out data itself.</summary>
    public IReadOnlyDictionary<string, double> Distances { get; init; } = new Dictionary<string, double>();
    /// <summary>Backtests of this source's unconditional 1-day VaR on the held-out days, at 95 % and 99 %.</summary>
    public IReadOnlyList<BacktestResult> Backtests { get; init; } = [];
    public (double Score, double Accuracy)? Discriminative { get; init; }
}

public sealed class EvaluationReport
{
    public required EvaluationSettings Settings { get; init; }
    public required int TrainReturns { get; init; }
    public required int HeldOutReturns { get; init; }
    public required IReadOnlyList<SourceStatistics> Sources { get; init; }
    public required Garch11Fit Garch { get; init; }
    /// <summary>GARCH's own conditional one-day VaR forecasts backtested on the held-out days (95 %, 99 %).</summary>
    public required IReadOnlyList<BacktestResult> GarchConditionalBacktests { get; init; }
    /// <summary>Return paths of each synthetic source, by name, for plots.</summary>
    public required IReadOnlyDictionary<string, double[][]> Paths { get; init; }
}

/// <summary>
/// The comparison behind <c>fingen eval</c>: the model's synthetic returns, historical simulation (block
/// bootstrap of the training returns) and GARCH(1,1)-t fitted on the training returns, each as N paths as long
/// as the held-out period, measured side by side with the held-out returns: stylized facts, distances,
/// VaR/ES, backtests on the held-out days and a discriminative score.
/// </summary>
public static class ScenarioEvaluation
{
    public static readonly int[] Horizons = [1, 5, 20, 100];
    public static readonly double[] Levels = [0.95, 0.99];

    public static EvaluationReport Run(double[] train, double[] heldOut, string modelName, double[][] modelPaths, EvaluationSettings settings)
    {
        int length = heldOut.Length;
        int maxLag = Math.Min(settings.MaxLag, length / 4);
        if (maxLag < 20) Throw.User($"the held-out period has {length} returns; the evaluation needs at least 80");
        settings = settings with { MaxLag = maxLag };

        var garch = Garch11.Fit(train);
        var historical = new double[settings.Paths][];
        var garchPaths = new double[settings.Paths][];
        for (int p = 0; p < settings.Paths; p++)
        {
            historical[p] = HistoricalSimulation.Sample(train, length, settings.Seed + (ulong)p);
            garchPaths[p] = Garch11.Simulate(garch.Parameters, length, settings.Seed + 1_000_003UL + (ulong)p);
        }
        var paths = new Dictionary<string, double[][]>
        {
            [modelName] = modelPaths,
            ["historical simulation"] = historical,
            ["GARCH(1,1)-t"] = garchPaths,
        };

        var sources = new List<SourceStatistics> { Measure("held-out (real)", [heldOut], settings, null, null) };
        foreach (var (name, sourcePaths) in paths) sources.Add(Measure(name, sourcePaths, settings, heldOut, train));

        var conditional = Levels.Select(alpha =>
            Risk.Backtest(heldOut, Garch11.ValueAtRiskForecasts(garch.Parameters, train, heldOut, alpha), alpha)).ToList();
        return new EvaluationReport
        {
            Settings = settings,
            TrainReturns = train.Length,
            HeldOutReturns = length,
            Sources = sources,
            Garch = garch,
            GarchConditionalBacktests = conditional,
            Paths = paths,
        };
    }

    private static SourceStatistics Measure(string name, double[][] paths, EvaluationSettings settings, double[]? heldOut, double[]? train)
    {
        var pooled = paths.SelectMany(p => p).ToArray();
        int lag = settings.MaxLag;
        var acf = AverageAcf(paths, lag);
        var gainLoss = StylizedFacts.GainLossAsymmetry(paths[0], settings.GainLossTheta, Math.Min(settings.GainLossHorizon, paths[0].Length / 2));
        var risk = new Dictionary<string, double>();
        foreach (double alpha in Levels)
        {
            foreach (int horizon in new[] { 1, 10 })
            {
                var aggregated = paths.SelectMany(p => StylizedFacts.AggregateReturns(p, horizon)).ToArray();
                string suffix = $"{alpha * 100:F0}_{horizon}d";
                risk["var" + suffix] = Risk.ValueAtRisk(aggregated, alpha);
                risk["es" + suffix] = Risk.ExpectedShortfall(aggregated, alpha);
            }
        }

        var distances = new Dictionary<string, double>();
        var backtests = new List<BacktestResult>();
        (double, double)? discriminative = null;
        if (heldOut is not null)
        {
            foreach (int k in Horizons)
            {
                var real = StylizedFacts.AggregateReturns(heldOut, k);
                var synthetic = paths.SelectMany(p => StylizedFacts.AggregateReturns(p, k)).ToArray();
                if (real.Length >= 2) distances[$"w1_{k}d"] = Distances.Wasserstein1(real, synthetic);
            }
            distances["acf_score_r"] = Distances.AcfScore(heldOut, paths, lag, ReturnTransform.Identity);
            distances["acf_score_abs"] = Distances.AcfScore(heldOut, paths, lag, ReturnTransform.Absolute);
            distances["acf_score_sq"] = Distances.AcfScore(heldOut, paths, lag, ReturnTransform.Squared);
            distances["leverage_score"] = Norm(Difference(StylizedFacts.LeverageEffect(heldOut, settings.LeverageLags), AverageLeverage(paths, settings.LeverageLags)));
            distances["mmd2"] = Distances.MaximumMeanDiscrepancy(heldOut, pooled, seed: settings.Seed);
            foreach (double alpha in Levels)
            {
                double valueAtRisk = Risk.ValueAtRisk(pooled, alpha);
                backtests.Add(Risk.Backtest(heldOut, Enumerable.Repeat(valueAtRisk, heldOut.Length).ToArray(), alpha));
            }
            // Real windows overlap (stride 1) to give the classifier enough of them; synthetic paths are chained
            // windows, so stride 28 takes each generated window once.
            discriminative = DiscriminativeScore.Compute(Windows([heldOut], 1), Windows(paths, DataSets.WindowLength), DataSets.WindowLength, settings.Seed);
        }

        return new SourceStatistics
        {
            Name = name,
            Moments = StylizedFacts.Describe(pooled),
            HillTailIndex = StylizedFacts.HillTailIndex(pooled),
            Acf = acf,
            AbsoluteAcfDecay = StylizedFacts.FitPowerLawDecay(acf.Absolute),
            Leverage = AverageLeverage(paths, settings.LeverageLags),
            GainHorizon = gainLoss.MostLikelyGainHorizon,
            LossHorizon = gainLoss.MostLikelyLossHorizon,
            Risk = risk,
            Distances = distances,
            Backtests = backtests,
            Discriminative = discriminative,
        };
    }

    /// <summary>Windows of 28 consecutive returns of every path, every <paramref name="stride"/> days, flattened [count, 28].</summary>
    private static double[] Windows(double[][] paths, int stride)
    {
        int length = DataSets.WindowLength;
        var windows = new List<double>();
        foreach (var path in paths)
            for (int start = 0; start + length <= path.Length; start += stride)
                windows.AddRange(path.AsSpan(start, length).ToArray());
        return [.. windows];
    }

    private static ReturnAutocorrelations AverageAcf(double[][] paths, int lag)
    {
        var sum = new ReturnAutocorrelations(new double[lag + 1], new double[lag + 1], new double[lag + 1]);
        foreach (var path in paths)
        {
            var acf = StylizedFacts.Autocorrelations(path, lag);
            for (int k = 0; k <= lag; k++)
            {
                sum.Returns[k] += acf.Returns[k] / paths.Length;
                sum.Absolute[k] += acf.Absolute[k] / paths.Length;
                sum.Squared[k] += acf.Squared[k] / paths.Length;
            }
        }
        return sum;
    }

    private static double[] AverageLeverage(double[][] paths, int lags)
    {
        var mean = new double[lags];
        foreach (var path in paths)
        {
            var leverage = StylizedFacts.LeverageEffect(path, lags);
            for (int k = 0; k < lags; k++) mean[k] += leverage[k] / paths.Length;
        }
        return mean;
    }

    private static double[] Difference(double[] a, double[] b) => a.Select((v, i) => v - b[i]).ToArray();

    private static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
}
