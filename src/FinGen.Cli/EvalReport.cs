using System.Globalization;
using System.Text;
using System.Text.Json;
using FinGen.Native.Evaluation;

namespace FinGen.Cli;

/// <summary>report.json (every number) and report.md (the tables a person reads) of <c>fingen eval</c>.</summary>
internal static class EvalReport
{
    public static string WriteJson(string path, EvaluationReport report, IReadOnlyDictionary<string, string> provenance)
    {
        FinGen.Native.IO.AtomicFile.Write(path, stream => WriteJson(stream, report, provenance), replace: false);
        return path;
    }

    private static void WriteJson(Stream stream, EvaluationReport report, IReadOnlyDictionary<string, string> provenance)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("provenance");
        foreach (var (key, value) in provenance) json.WriteString(key, value);
        json.WriteEndObject();
        json.WriteStartObject("settings");
        json.WriteNumber("paths", report.Settings.Paths);
        json.WriteNumber("seed", report.Settings.Seed);
        json.WriteNumber("max_lag", report.Settings.MaxLag);
        json.WriteNumber("train_returns", report.TrainReturns);
        json.WriteNumber("held_out_returns", report.HeldOutReturns);
        json.WriteEndObject();
        json.WriteStartObject("garch_fit");
        var g = report.Garch.Parameters;
        Number(json, "mu", g.Mu); Number(json, "omega", g.Omega); Number(json, "alpha", g.Alpha);
        Number(json, "beta", g.Beta); Number(json, "nu", g.Nu);
        Number(json, "log_likelihood", report.Garch.LogLikelihood);
        json.WriteBoolean("converged", report.Garch.Converged);
        json.WritePropertyName("conditional_backtests");
        WriteBacktests(json, report.GarchConditionalBacktests);
        json.WriteEndObject();
        var j = report.Gjr.Parameters;
        json.WriteStartObject("gjr_garch_fit");
        Number(json, "mu", j.Mu); Number(json, "omega", j.Omega); Number(json, "alpha", j.Alpha);
        Number(json, "gamma", j.Gamma); Number(json, "beta", j.Beta); Number(json, "nu", j.Nu);
        Number(json, "log_likelihood", report.Gjr.LogLikelihood);
        json.WriteBoolean("converged", report.Gjr.Converged);
        json.WriteEndObject();
        json.WriteStartArray("conditional");
        foreach (var c in report.Conditional)
        {
            json.WriteStartObject();
            json.WriteString("source", c.Source);
            Number(json, "alpha", c.Alpha);
            Number(json, "horizon", c.Horizon);
            Number(json, "mean_fz0", c.MeanFz0);
            if (c.ExpectedShortfallBacktest is { } es)
            {
                Number(json, "acerbi_szekely_z2", es.Statistic);
                Number(json, "acerbi_szekely_p", es.PValue);
            }
            if (c.AgainstFhs is { } dm)
            {
                Number(json, "dm_vs_fhs_statistic", dm.Statistic);
                Number(json, "dm_vs_fhs_p_model_better", dm.PValueFirstBetter);
                Number(json, "dm_vs_fhs_p_fhs_better", dm.PValueSecondBetter);
            }
            json.WritePropertyName("backtest");
            WriteBacktests(json, [c.Backtest]);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("verdict");
        foreach (var row in report.Verdict)
        {
            json.WriteStartObject();
            json.WriteString("measure", row.Measure);
            if (row.Winner is null) json.WriteNull("winner"); else json.WriteString("winner", row.Winner);
            json.WriteStartArray("values");
            foreach (var (source, ci) in row.Values)
            {
                json.WriteStartObject();
                json.WriteString("source", source);
                Number(json, "estimate", ci.Estimate);
                Number(json, "lower", ci.Lower);
                Number(json, "upper", ci.Upper);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartObject("training");
        Number(json, "mean", report.Training.Moments.Mean);
        Number(json, "std", report.Training.Moments.StandardDeviation);
        Number(json, "excess_kurtosis", report.Training.Moments.ExcessKurtosis);
        Number(json, "hill_tail_index", report.Training.HillTailIndex);
        Number(json, "tail_frequency", report.Training.TailFrequency);
        json.WriteEndObject();
        if (report.Collapse is { } collapse)
        {
            json.WriteStartObject("collapse");
            Number(json, "diversity_ratio", collapse.DiversityRatio);
            Number(json, "template_share", collapse.TemplateShare);
            Number(json, "real_template_share", collapse.RealTemplateShare);
            WriteArray(json, "window_acf", collapse.Acf);
            WriteArray(json, "real_window_acf", collapse.RealAcf);
            Number(json, "nearest_neighbour_ratio", collapse.NearestNeighbourRatio);
            json.WriteNumber("worst_lag", collapse.WorstLag.Lag);
            Number(json, "worst_lag_gap", collapse.WorstLag.Gap);
            json.WriteBoolean("collapsed", collapse.Collapsed);
            json.WriteEndObject();
        }
        json.WriteStartArray("sources");
        foreach (var s in report.Sources)
        {
            json.WriteStartObject();
            json.WriteString("name", s.Name);
            Number(json, "mean", s.Moments.Mean);
            Number(json, "std", s.Moments.StandardDeviation);
            Number(json, "skew", s.Moments.Skewness);
            Number(json, "excess_kurtosis", s.Moments.ExcessKurtosis);
            Number(json, "hill_tail_index", s.HillTailIndex);
            Number(json, "tail_frequency", s.TailFrequency);
            Number(json, "abs_acf_power_law_beta", s.AbsoluteAcfDecay.Beta);
            json.WriteNumber("gain_horizon", s.GainHorizon);
            json.WriteNumber("loss_horizon", s.LossHorizon);
            WriteArray(json, "acf_r", s.Acf.Returns);
            WriteArray(json, "acf_abs", s.Acf.Absolute);
            WriteArray(json, "acf_sq", s.Acf.Squared);
            WriteArray(json, "leverage", s.Leverage);
            json.WriteStartObject("risk");
            foreach (var (key, value) in s.Risk) Number(json, key, value);
            json.WriteEndObject();
            json.WriteStartObject("distances");
            foreach (var (key, value) in s.Distances) Number(json, key, value);
            json.WriteEndObject();
            json.WritePropertyName("backtests");
            WriteBacktests(json, s.Backtests);
            if (s.Discriminative is { } d)
            {
                Number(json, "discriminative_score", d.Score);
                Number(json, "discriminative_accuracy", d.Accuracy);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    // JSON has no NaN or ∞, and 0 would read as a measured value: a statistic that is undefined (an ACF of a constant
    // path, a fit with too few points) is written as null.
    private static void WriteArray(Utf8JsonWriter json, string name, double[] values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
        {
            if (double.IsFinite(v)) json.WriteNumberValue(v);
            else json.WriteNullValue();
        }
        json.WriteEndArray();
    }

    private static void Number(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }

    private static void WriteBacktests(Utf8JsonWriter json, IReadOnlyList<BacktestResult> backtests)
    {
        json.WriteStartArray();
        foreach (var b in backtests)
        {
            json.WriteStartObject();
            Number(json, "alpha", b.Alpha);
            json.WriteNumber("observations", b.Observations);
            json.WriteNumber("exceptions", b.Exceptions);
            Number(json, "kupiec_lr", b.Kupiec.Statistic);
            Number(json, "kupiec_p", b.Kupiec.PValue);
            Number(json, "christoffersen_lr", b.Independence.Statistic);
            Number(json, "christoffersen_p", b.Independence.PValue);
            Number(json, "conditional_coverage_p", b.ConditionalCoverage.PValue);
            json.WriteString("traffic_light", b.Zone.ToString().ToLowerInvariant());
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>A row of a markdown table: its label, what it measures (for "How to read this report"), and its value per source.</summary>
    private sealed record Measure(string Name, string Meaning, Func<SourceStatistics, string> Value);

    public static string WriteMarkdown(string path, EvaluationReport report, IReadOnlyDictionary<string, string> provenance)
    {
        byte[] text = Encoding.UTF8.GetBytes(Markdown(report, provenance));
        FinGen.Native.IO.AtomicFile.Write(path, stream => stream.Write(text), replace: false);
        return path;
    }

    /// <summary>The text of report.md.</summary>
    internal static string Markdown(EvaluationReport report, IReadOnlyDictionary<string, string> provenance)
    {
        var sources = report.Sources;
        var synthetic = sources.Skip(1).ToList();
        int maxLag = report.Settings.MaxLag;
        var md = new StringBuilder();
        md.AppendLine("# FinGen scenario evaluation").AppendLine();
        md.AppendLine($"Checkpoint `{provenance["checkpoint"]}` (sha256 `{provenance["checkpoint_sha256"][..16]}…`), data `{provenance["data_source"]}` (sha256 `{provenance["data_sha256"][..16]}…`), seed {provenance["seed"]}.");
        md.AppendLine($"{report.TrainReturns} training returns (the model and every baseline saw only these), {report.HeldOutReturns} held-out returns; {report.Settings.Paths} synthetic paths per source, each {report.HeldOutReturns} days.");
        if (provenance.TryGetValue("model_filter", out var filter)) md.AppendLine($"The model's volatility filter: {filter}.");
        md.AppendLine("Returns are daily log returns; what each row measures and what good looks like is under *How to read this report* at the end.").AppendLine();
        VerdictTable(md, report);

        Measure[] facts =
        [
            new("mean (log return per day)", "the average daily log return over all paths; good: close to the held-out value (a generator that drifts shows a larger mean).", s => F(s.Moments.Mean, "E2")),
            new("std (log return per day)", "the standard deviation of daily log returns (population, ÷n); good: close to the held-out value.", s => F(s.Moments.StandardDeviation, "E3")),
            new("skew", "the third standardized moment; daily equity returns are usually slightly negative; good: the held-out sign and size.", s => F(s.Moments.Skewness, "F3")),
            new("excess kurtosis", "m₄/m₂² − 3, 0 for a normal distribution; daily equity returns are far above 3; good: close to the held-out value, but one crash day can carry most of it.", s => F(s.Moments.ExcessKurtosis, "F2")),
            new("Hill tail index", $"the Hill estimate α of the tail of |r| from the largest {StylizedFacts.DefaultHillFraction:P0} of them; smaller is heavier (daily equities 3–5); good: close to the held-out value.", s => F(s.HillTailIndex, "F2")),
            new("ACF r, lag 1", "the autocorrelation of returns one day apart; good: near 0, as in real markets (no linear predictability).", s => F(s.Acf.Returns[1], "F3")),
            new("ACF |r|, lag 1", "the autocorrelation of absolute returns one day apart, the measure of volatility clustering; real daily returns: clearly positive; good: close to the held-out value.", s => F(s.Acf.Absolute[1], "F3")),
            new("ACF |r|, lag 20", "the same 20 days apart; real returns keep it positive for months (long memory); paths built from independent windows lose it.", s => F(s.Acf.Absolute[Math.Min(20, s.Acf.Absolute.Length - 1)], "F3")),
            new("power-law β of ACF |r|", $"the exponent β of a fit ACF|r|(k) ≈ A·k^(−β) over lags 1–{maxLag} (least squares on logs, positive lags only); Cont (2001) reports 0.2–0.4; good: close to the held-out value.", s => F(s.AbsoluteAcfDecay.Beta, "F3")),
            new("leverage corr(r, r² next day)", "the correlation of today's return with tomorrow's squared return; negative for equities (falls raise volatility); good: the held-out sign and size.", s => F(s.Leverage[0], "F3")),
            new("gain / loss horizon (days)", $"the most likely number of days until the cumulative return first reaches +θ / −θ (θ = {report.Settings.GainLossTheta:P0}, first path only); for equities the loss horizon is usually the shorter.", s => $"{s.GainHorizon} / {s.LossHorizon}"),
        ];
        Measure[] distances =
        [
            .. ScenarioEvaluation.Horizons.Select(k => new Measure($"W1 of {k}-day returns (log return)",
                $"the Wasserstein-1 (earth mover's) distance between the held-out and the synthetic {k}-day log returns, in log-return units; 0 = the same distribution.",
                s => s.Distances.TryGetValue($"w1_{k}d", out var v) ? F(v, "E2") : "—")),
            new("ACF score r", $"‖ACF_real − ACF_synthetic‖₂ of r over lags 1–{maxLag}, the synthetic ACF averaged over paths (Quant GANs' score); 0 = identical autocorrelations.", s => F(s.Distances["acf_score_r"], "F3")),
            new("ACF score |r|", $"the same for |r| (volatility clustering); the number to watch for volatility memory.", s => F(s.Distances["acf_score_abs"], "F3")),
            new("ACF score r²", "the same for r².", s => F(s.Distances["acf_score_sq"], "F3")),
            new("leverage score", $"‖ℓ_real − ℓ_synthetic‖₂ of the leverage correlations corr(rₜ, r²ₜ₊ₖ), k = 1–{report.Settings.LeverageLags}; 0 = identical.", s => F(s.Distances["leverage_score"], "F3")),
            new("MMD² (RBF, median heuristic)", "the unbiased squared maximum mean discrepancy of daily returns, Gaussian kernel with the median-distance bandwidth; ≈ 0 (it can be slightly negative) when the distributions agree.", s => F(s.Distances["mmd2"], "E2")),
            new("discriminative score |acc − 0.5|", "|test accuracy − 0.5| of a small classifier trained to tell real from synthetic windows of consecutive days (real windows split by time); 0 = indistinguishable, 0.5 = always told apart; on one held-out period even a good source scores above 0 (real S&P 500 returns against their own bootstrap: about 0.08).", s => F(s.Discriminative!.Value.Score, "F3")),
        ];
        Measure[] risk =
        [
            .. report.Sources[0].Risk.Keys.Select(k => new Measure(RiskLabel(k), RiskMeaning(k), s => F(s.Risk[k], "P2"))),
        ];

        Table(md, "Stylized facts", sources, facts);
        Table(md, "Distances to the held-out returns (lower is closer)", synthetic, distances);
        Table(md, "Risk (losses positive, % of log return)", sources, risk);

        md.AppendLine("## VaR backtests on the held-out days").AppendLine();
        md.AppendLine("Each source's unconditional 1-day VaR is held fixed over the held-out period; GARCH also forecasts its own conditional VaR day by day.").AppendLine();
        md.AppendLine(Row("source", "level", "exceptions / days", "expected exceptions", "Kupiec p", "Christoffersen p", "traffic light", "yellow from / red from"));
        md.AppendLine(Separator(8));
        foreach (var s in synthetic)
            foreach (var b in s.Backtests) BacktestRow(md, s.Name, b);
        foreach (var b in report.GarchConditionalBacktests) BacktestRow(md, "GARCH(1,1)-t, conditional", b);
        md.AppendLine();
        var g = report.Garch.Parameters;
        md.AppendLine($"GARCH(1,1)-t fit on the training returns: μ {F(g.Mu, "E2")}, ω {F(g.Omega, "E2")}, α {F(g.Alpha, "F3")}, β {F(g.Beta, "F3")}, ν {F(g.Nu, "F2")} (log-likelihood {F(report.Garch.LogLikelihood, "F1")}).").AppendLine();
        var j = report.Gjr.Parameters;
        md.AppendLine($"GJR-GARCH(1,1)-t fit on the training returns (the filter of FHS): μ {F(j.Mu, "E2")}, ω {F(j.Omega, "E2")}, α {F(j.Alpha, "F3")}, γ {F(j.Gamma, "F3")}, β {F(j.Beta, "F3")}, ν {F(j.Nu, "F2")} (log-likelihood {F(report.Gjr.LogLikelihood, "F1")}).").AppendLine();
        ConditionalTables(md, report);
        CollapseSection(md, report);
        md.AppendLine("Plots: `returns_histogram.png`, `qq.png`, `acf.png`, `fan_chart.png`, `images.png`.").AppendLine();

        HowToRead(md, report, [("Stylized facts", facts), ("Distances", distances), ("Risk", risk)]);
        return md.ToString();
    }

    private static void HowToRead(StringBuilder md, EvaluationReport report, IReadOnlyList<(string Table, Measure[] Rows)> tables)
    {
        md.AppendLine("## How to read this report").AppendLine();
        md.AppendLine($"Every synthetic source is measured on {report.Settings.Paths} paths as long as the held-out period and compared with the held-out returns, which no source saw. The held-out column is the target, not a score.").AppendLine();
        foreach (var (table, rows) in tables)
        {
            md.AppendLine($"{table}:").AppendLine();
            foreach (var row in rows) md.AppendLine($"- **{Escape(row.Name)}**: {Escape(row.Meaning)}");
            md.AppendLine();
        }
        md.AppendLine("VaR backtests:").AppendLine();
        md.AppendLine("- **exceptions / days**: the held-out days whose loss exceeded the VaR forecast; an accurate forecast at level α has about (1 − α)·days of them (the *expected exceptions* column).");
        md.AppendLine("- **Kupiec p**: the proportion-of-failures likelihood-ratio test (Kupiec 1995) that the exception rate is 1 − α, against χ²(1); p < 0.05 rejects the forecast at the 5 % level, too many exceptions and too few alike.");
        md.AppendLine("- **Christoffersen p**: the test (Christoffersen 1998) that exceptions do not cluster (a first-order Markov chain against independence), χ²(1); p < 0.05 rejects independence. A fixed unconditional VaR usually fails it in volatile periods.");
        md.AppendLine("- **mean FZ0 loss**: of the conditional forecasts, the FZ0 scoring function of Patton, Ziegel & Chen (2019) for the day's (VaR, ES) pair, averaged over the forecasts; it is strictly consistent, so the correct forecaster has the lowest expected loss; only differences between sources on the same days mean anything.");
        md.AppendLine("- **ES Z₂ (p)**: of the conditional 1-day forecasts, the Acerbi–Szekely (2014) expected-shortfall backtest Z₂ = Σ XₜIₜ/(T·a·ESₜ) + 1, 0 for a correct ES and negative when losses beyond the VaR are worse than the ES promised; p is the share of 2,000 test periods simulated from the forecasts' own scenarios with a Z₂ at most as low, so p < 0.05 says the ES understates the risk.");
        md.AppendLine("- **DM p vs FHS**: of the model's conditional forecasts, the one-sided p-values of the Diebold–Mariano test (Newey–West variance) that its mean FZ0 loss is lower than FHS's / higher than FHS's on the same days; below 0.05 is a significant difference, otherwise the two forecast equally well as far as these days can tell.");
        md.AppendLine("- **traffic light**: the Basel zones. An accurate model's exception count is Binomial(days, 1 − α); the count is green while its cumulative probability is below 95 %, yellow from 95 %, red from 99.99 %. For 250 days at 99 % this is the Basel table (green 0–4, yellow 5–9, red 10 or more); here the same rule is applied to the held-out length and to each level, which gives the *yellow from / red from* column:");
        foreach (double alpha in ScenarioEvaluation.Levels)
        {
            var (yellow, red) = Risk.TrafficLightThresholds(report.HeldOutReturns, alpha);
            md.AppendLine($"  {report.HeldOutReturns} days at {alpha:P0}: green 0–{yellow - 1}, yellow {yellow}–{red - 1}, red {red} or more (expected {(1 - alpha) * report.HeldOutReturns:F1}).");
        }
        md.AppendLine();
    }

    /// <summary>The model's collapse diagnostics (<see cref="CollapseDiagnostics"/>), with their fixed thresholds.</summary>
    private static void CollapseSection(StringBuilder md, EvaluationReport report)
    {
        if (report.Collapse is not { } c) return;
        var (lag, gap) = c.WorstLag;
        md.AppendLine("## Collapse check of the model's windows").AppendLine();
        md.AppendLine($"Measured on the model's decoded windows against every window of the training series it learned (its standardized residuals when it is filtered). **{(c.Collapsed ? "Collapsed" : "No collapse")}** by the fixed thresholds:").AppendLine();
        md.AppendLine(Row("measure", "model", "real", "collapse when"));
        md.AppendLine(Separator(4));
        md.AppendLine(Row("diversity (mean distance between two windows, ÷ real's)", F(c.DiversityRatio, "F3"), "1", $"below {CollapseDiagnostics.MinDiversityRatio}"));
        md.AppendLine(Row("template share ‖mean window‖² ÷ mean ‖window‖²", F(c.TemplateShare, "F4"), F(c.RealTemplateShare, "F4"), $"above {CollapseDiagnostics.MaxTemplateShare}"));
        md.AppendLine(Row($"autocorrelation inside windows, worst lag ({lag})", F(c.Acf[lag - 1], "F3"), F(c.RealAcf[lag - 1], "F3"), $"{CollapseDiagnostics.MaxAcfGap} or more apart"));
        md.AppendLine(Row("median distance to the nearest other window, ÷ real's", F(c.NearestNeighbourRatio, "F3"), "1", $"below {CollapseDiagnostics.MinNearestNeighbourRatio}"));
        md.AppendLine();
        md.AppendLine("A calibrated model's windows have the training windows' mean and covariance by construction, so the first three rows (second moments) cannot see a generator that repeats a few shapes once calibrated; the nearest-neighbour row can.").AppendLine();
        md.AppendLine($"Autocorrelation at lags 1–{c.Acf.Length}, model: {string.Join(" ", c.Acf.Select(a => F(a, "F3")))}; real: {string.Join(" ", c.RealAcf.Select(a => F(a, "F3")))}.").AppendLine();
    }

    /// <summary>The verdict: each measure (lower is better) with every source's 95 % interval, and the winner where the intervals separate.</summary>
    private static void VerdictTable(StringBuilder md, EvaluationReport report)
    {
        if (report.Verdict.Count == 0) return;
        md.AppendLine("## Verdict").AppendLine();
        md.AppendLine($"Lower is better in every row. Each cell is the estimate and its 95 % percentile-bootstrap interval ({Verdict.Resamples} resamples of the paths; of the held-out days for the FZ0 rows). A source wins a row only when its interval lies entirely below every other source's; otherwise no one wins it.").AppendLine();
        var sources = report.Verdict[0].Values.Select(v => v.Source).ToArray();
        md.AppendLine(Row(["measure", .. sources, "wins"]));
        md.AppendLine(Separator(sources.Length + 2));
        foreach (var row in report.Verdict)
        {
            var cells = sources.Select(source => row.Values.FirstOrDefault(v => v.Source == source) is var (name, ci) && name is not null
                ? $"{Number(ci.Estimate)} [{Number(ci.Lower)}, {Number(ci.Upper)}]" : "—");
            md.AppendLine(Row([row.Measure, .. cells, row.Winner ?? "no one"]));
        }
        md.AppendLine();
        var wins = report.Verdict.Where(r => r.Winner is not null).GroupBy(r => r.Winner!).Select(g => $"{g.Key} {g.Count()}");
        md.AppendLine($"Rows won: {string.Join(", ", wins.DefaultIfEmpty("none"))}, of {report.Verdict.Count}.").AppendLine();
    }

    private static string Number(double value) => Math.Abs(value) is >= 0.01 and < 100 || value == 0 ? F(value, "F3") : F(value, "E2");

    /// <summary>The conditional VaR/ES forecasts of the held-out days: one table per level and horizon.</summary>
    private static void ConditionalTables(StringBuilder md, EvaluationReport report)
    {
        md.AppendLine("## Conditional VaR and ES forecasts of the held-out days").AppendLine();
        md.AppendLine($"For every held-out day each source conditions on the real returns before it and draws {report.Settings.Scenarios} scenarios of the next days; VaR and ES are read off them. A 10-day forecast is made every 10 days, so its backtested periods do not overlap. Lower mean FZ0 loss is better.").AppendLine();
        foreach (var group in report.Conditional.GroupBy(c => (c.Alpha, c.Horizon)))
        {
            md.AppendLine($"### {group.Key.Alpha.ToString("P1", CultureInfo.InvariantCulture)} VaR and ES, {group.Key.Horizon}-day").AppendLine();
            md.AppendLine(Row("source", "exceptions / forecasts", "expected exceptions", "Kupiec p", "Christoffersen p", "traffic light", "mean FZ0 loss", "ES Z₂ (p)", "DM p vs FHS"));
            md.AppendLine(Separator(9));
            foreach (var c in group)
            {
                var b = c.Backtest;
                md.AppendLine(Row(c.Source, $"{b.Exceptions} / {b.Observations}", F(b.Observations * (1 - b.Alpha), "F1"), F(b.Kupiec.PValue, "F3"),
                    F(b.Independence.PValue, "F3"), b.Zone.ToString().ToLowerInvariant(), F(c.MeanFz0, "F4"),
                    c.ExpectedShortfallBacktest is { } es ? $"{F(es.Statistic, "F3")} ({F(es.PValue, "F3")})" : "—",
                    c.AgainstFhs is { } dm ? $"{F(dm.PValueFirstBetter, "F3")} / {F(dm.PValueSecondBetter, "F3")}" : "—"));
            }
            md.AppendLine();
        }
    }

    private static string RiskLabel(string key) => ParseRiskKey(key) is var (measure, level, days) ? $"{measure} {level} %, {days}-day" : key.Replace('_', ' ');

    private static string RiskMeaning(string key) => ParseRiskKey(key) switch
    {
        ("VaR", var level, var days) => $"historical value at risk: the loss on {days}-day log returns exceeded with probability {100 - level} %, pooled over paths; good: close to the held-out value.",
        ("ES", var level, var days) => $"expected shortfall: the mean loss over the worst {100 - level} % of {days}-day log returns, pooled over paths (≥ the VaR); good: close to the held-out value.",
        _ => "a risk measure of the pooled paths, as a positive loss.",
    };

    // "var95_1d" → ("VaR", 95, 1); null for a key of another shape.
    private static (string Measure, int Level, int Days)? ParseRiskKey(string key)
    {
        string measure = key.StartsWith("var", StringComparison.Ordinal) ? "VaR" : key.StartsWith("es", StringComparison.Ordinal) ? "ES" : "";
        if (measure.Length == 0) return null;
        var parts = key[(measure == "VaR" ? 3 : 2)..].Split('_');
        if (parts.Length != 2 || !parts[1].EndsWith('d')) return null;
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int level)) return null;
        if (!int.TryParse(parts[1][..^1], NumberStyles.None, CultureInfo.InvariantCulture, out int days)) return null;
        return (measure, level, days);
    }

    private static void BacktestRow(StringBuilder md, string name, BacktestResult b)
    {
        var (yellow, red) = Risk.TrafficLightThresholds(b.Observations, b.Alpha);
        md.AppendLine(Row(name, F(b.Alpha, "P0"), $"{b.Exceptions} / {b.Observations}", F((1 - b.Alpha) * b.Observations, "F1"),
            F(b.Kupiec.PValue, "F3"), F(b.Independence.PValue, "F3"), b.Zone.ToString().ToLowerInvariant(), $"{yellow} / {red}"));
    }

    private static void Table(StringBuilder md, string title, IReadOnlyList<SourceStatistics> sources, IReadOnlyList<Measure> rows)
    {
        md.AppendLine($"## {title}").AppendLine();
        md.AppendLine(Row(["", .. sources.Select(s => s.Name)]));
        md.AppendLine(Separator(sources.Count + 1));
        foreach (var row in rows) md.AppendLine(Row([row.Name, .. sources.Select(row.Value)]));
        md.AppendLine();
    }

    /// <summary>One markdown table row; every cell's text is escaped, so a | in a label or a value stays in its cell.</summary>
    internal static string Row(params IEnumerable<string> cells) => "| " + string.Join(" | ", cells.Select(Escape)) + " |";

    private static string Separator(int columns) => "|" + string.Concat(Enumerable.Repeat("---|", columns));

    /// <summary>Markdown text with every | escaped as \| (a bare | ends a table cell) and line breaks as spaces.</summary>
    internal static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ').Replace("\r", "", StringComparison.Ordinal);

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
