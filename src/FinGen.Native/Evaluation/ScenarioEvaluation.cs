using FinGen.Native.Data;

namespace FinGen.Native.Evaluation;

/// <param name="Window">Returns per window of the discriminative score (the model's window length).</param>
/// <param name="Scenarios">Scenarios per held-out day of the conditional forecasts.</param>
/// <param name="RollingWindow">Days of history behind rolling historical simulation's conditional forecasts.</param>
public sealed record EvaluationSettings(int Paths = 100, ulong Seed = 7, int MaxLag = 250, int LeverageLags = 20, double GainLossTheta = 0.05, int GainLossHorizon = 250,
    int Window = 28, int Scenarios = 1000, int RollingWindow = 500);

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
    /// <summary>The share of returns below the training 0.5 % or above its 99.5 % quantile (1 % for the training returns themselves).</summary>
    public double TailFrequency { get; init; }
}

public sealed class EvaluationReport
{
    public required EvaluationSettings Settings { get; init; }
    public required int TrainReturns { get; init; }
    /// <summary>The training returns measured like every source (what "no drift" and "heavy tails" are judged against).</summary>
    public required SourceStatistics Training { get; init; }
    public required int HeldOutReturns { get; init; }
    public required IReadOnlyList<SourceStatistics> Sources { get; init; }
    public required Garch11Fit Garch { get; init; }
    /// <summary>The GJR-GARCH(1,1)-t fit behind the GJR baseline and filtered historical simulation.</summary>
    public required GjrGarchFit Gjr { get; init; }
    /// <summary>Every source's conditional VaR/ES forecasts of the held-out days, backtested and scored.</summary>
    public required IReadOnlyList<ConditionalRiskResult> Conditional { get; init; }
    /// <summary>The verdict: each distance and forecast score with every source's interval, and the winner where intervals separate.</summary>
    public IReadOnlyList<VerdictRow> Verdict { get; init; } = [];
    /// <summary>GARCH's own conditional one-day VaR forecasts backtested on the held-out days (95 %, 99 %).</summary>
    public required IReadOnlyList<BacktestResult> GarchConditionalBacktests { get; init; }
    /// <summary>Return paths of each synthetic source, by name, for plots.</summary>
    public required IReadOnlyDictionary<string, double[][]> Paths { get; init; }
    /// <summary>The model's collapse diagnostics on its decoded windows (set by the caller that drew them; null when not measured).</summary>
    public CollapseDiagnostics? Collapse { get; set; }
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

    /// <summary>The baselines' names, as the report shows them.</summary>
    public const string HistoricalName = "historical simulation", GarchName = "GARCH(1,1)-t", GjrName = "GJR-GARCH(1,1)-t", FhsName = "FHS";

    /// <summary>
    /// Measures the model's <paramref name="modelPaths"/> beside the four baselines, each fitted on
    /// <paramref name="train"/>: historical simulation, GARCH(1,1)-t, GJR-GARCH(1,1)-t and filtered historical
    /// simulation, then every source's conditional forecasts of the held-out days (the model's from
    /// <paramref name="modelConditional"/>; rolling historical simulation stands in for plain historical simulation there).
    /// </summary>
    public static EvaluationReport Run(double[] train, double[] heldOut, string modelName, double[][] modelPaths, EvaluationSettings settings,
        ConditionalSource? modelConditional = null)
    {
        int length = heldOut.Length;
        int maxLag = Math.Min(settings.MaxLag, length / 4);
        if (maxLag < 20) Throw.User($"the held-out period has {length} returns; the evaluation needs at least 80");
        settings = settings with { MaxLag = maxLag };

        var garch = Garch11.Fit(train);
        var fhs = FilteredHistoricalSimulation.Create(train);
        var gjr = fhs.Fit.Parameters;
        var historical = new double[settings.Paths][];
        var garchPaths = new double[settings.Paths][];
        var gjrPaths = new double[settings.Paths][];
        var fhsPaths = new double[settings.Paths][];
        for (int p = 0; p < settings.Paths; p++)
        {
            historical[p] = HistoricalSimulation.Sample(train, length, settings.Seed + (ulong)p);
            garchPaths[p] = Garch11.Simulate(garch.Parameters, length, settings.Seed + 1_000_003UL + (ulong)p);
            // The GJR and FHS paths continue the training series from its last filtered variance, as the model's do.
            gjrPaths[p] = GjrGarch.Simulate(gjr, length, settings.Seed + 2_000_003UL + (ulong)p, startVariance: fhs.NextVariance);
            fhsPaths[p] = fhs.Simulate(length, settings.Seed + 3_000_003UL + (ulong)p);
        }
        var paths = new Dictionary<string, double[][]>
        {
            [modelName] = modelPaths,
            [HistoricalName] = historical,
            [GarchName] = garchPaths,
            [GjrName] = gjrPaths,
            [FhsName] = fhsPaths,
        };

        var tails = TailBounds(train);
        var sources = new List<SourceStatistics> { Measure("held-out (real)", [heldOut], settings, null, null, tails) };
        foreach (var (name, sourcePaths) in paths) sources.Add(Measure(name, sourcePaths, settings, heldOut, train, tails));

        var conditional = Levels.Select(alpha =>
            Risk.Backtest(heldOut, Garch11.ValueAtRiskForecasts(garch.Parameters, train, heldOut, alpha), alpha)).ToList();
        var conditionalSources = new List<ConditionalSource>();
        if (modelConditional is not null) conditionalSources.Add(modelConditional with { Name = modelName });
        conditionalSources.Add(new ConditionalSource($"rolling {HistoricalName} ({settings.RollingWindow} days)", null, null, settings.RollingWindow));
        conditionalSources.Add(new ConditionalSource(GarchName, GjrGarchParameters.FromGarch(garch.Parameters), Innovations.StudentT(garch.Parameters.Nu)));
        conditionalSources.Add(new ConditionalSource(GjrName, gjr, Innovations.StudentT(gjr.Nu)));
        conditionalSources.Add(new ConditionalSource(FhsName, gjr, Innovations.Bootstrap(fhs.Residuals)));
        var forecasts = ConditionalForecasts.Run(train, heldOut, conditionalSources, settings.Scenarios, settings.Seed);
        if (modelConditional is not null)
        {
            // The model against the strongest baseline, day by day: is its mean FZ0 loss lower, or only different by chance?
            forecasts = forecasts.Select(c => c.Source != modelName ? c : c with
            {
                AgainstFhs = forecasts.Single(f => f.Source == FhsName && f.Alpha == c.Alpha && f.Horizon == c.Horizon) is var fhsResult
                    ? ForecastScores.DieboldMariano(c.Fz0Losses, fhsResult.Fz0Losses, ForecastScores.NeweyWestLag(c.Fz0Losses.Length)) : null,
            }).ToList();
        }
        return new EvaluationReport
        {
            Settings = settings,
            TrainReturns = train.Length,
            Training = Measure("training (real)", [train], settings with { MaxLag = Math.Min(settings.MaxLag, train.Length / 4) }, null, null, tails),
            HeldOutReturns = length,
            Sources = sources,
            Garch = garch,
            Gjr = fhs.Fit,
            GarchConditionalBacktests = conditional,
            Conditional = forecasts,
            Verdict = Evaluation.Verdict.Build(heldOut, paths, forecasts, maxLag, settings.LeverageLags, settings.Seed),
            Paths = paths,
        };
    }

    /// <summary>The training returns' 0.5 % and 99.5 % quantiles: a return beyond them is a tail event.</summary>
    private static (double Lower, double Upper) TailBounds(double[] train)
    {
        var sorted = train.ToArray();
        Array.Sort(sorted);
        return (Data.EncodingMetadata.Quantile(sorted, 0.005), Data.EncodingMetadata.Quantile(sorted, 0.995));
    }

    private static SourceStatistics Measure(string name, double[][] paths, EvaluationSettings settings, double[]? heldOut, double[]? train,
        (double Lower, double Upper) tails)
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
            // windows, so a stride of the window length takes each generated window once.
            discriminative = DiscriminativeScore.Compute(Windows([heldOut], 1, settings.Window), Windows(paths, settings.Window, settings.Window), settings.Window, settings.Seed);
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
            TailFrequency = pooled.Count(r => r < tails.Lower || r > tails.Upper) / (double)pooled.Length,
        };
    }

    /// <summary>Windows of <paramref name="length"/> consecutive returns of every path, every <paramref name="stride"/> days, flattened [count, length].</summary>
    private static double[] Windows(double[][] paths, int stride, int length)
    {
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
