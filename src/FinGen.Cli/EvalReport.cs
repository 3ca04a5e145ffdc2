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
        json.WriteNumber("mu", g.Mu); json.WriteNumber("omega", g.Omega); json.WriteNumber("alpha", g.Alpha);
        json.WriteNumber("beta", g.Beta); json.WriteNumber("nu", g.Nu);
        json.WriteNumber("log_likelihood", report.Garch.LogLikelihood);
        json.WriteBoolean("converged", report.Garch.Converged);
        json.WritePropertyName("conditional_backtests");
        WriteBacktests(json, report.GarchConditionalBacktests);
        json.WriteEndObject();
        json.WriteStartArray("sources");
        foreach (var s in report.Sources)
        {
            json.WriteStartObject();
            json.WriteString("name", s.Name);
            json.WriteNumber("mean", s.Moments.Mean);
            json.WriteNumber("std", s.Moments.StandardDeviation);
            json.WriteNumber("skew", s.Moments.Skewness);
            json.WriteNumber("excess_kurtosis", s.Moments.ExcessKurtosis);
            json.WriteNumber("hill_tail_index", s.HillTailIndex);
            json.WriteNumber("abs_acf_power_law_beta", s.AbsoluteAcfDecay.Beta);
            json.WriteNumber("gain_horizon", s.GainHorizon);
            json.WriteNumber("loss_horizon", s.LossHorizon);
            WriteArray(json, "acf_r", s.Acf.Returns);
            WriteArray(json, "acf_abs", s.Acf.Absolute);
            WriteArray(json, "acf_sq", s.Acf.Squared);
            WriteArray(json, "leverage", s.Leverage);
            json.WriteStartObject("risk");
            foreach (var (key, value) in s.Risk) json.WriteNumber(key, value);
            json.WriteEndObject();
            json.WriteStartObject("distances");
            foreach (var (key, value) in s.Distances) json.WriteNumber(key, value);
            json.WriteEndObject();
            json.WritePropertyName("backtests");
            WriteBacktests(json, s.Backtests);
            if (s.Discriminative is { } d)
            {
                json.WriteNumber("discriminative_score", d.Score);
                json.WriteNumber("discriminative_accuracy", d.Accuracy);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteArray(Utf8JsonWriter json, string name, double[] values)
    {
        json.WriteStartArray(name);
        foreach (var v in values) json.WriteNumberValue(double.IsFinite(v) ? v : 0);
        json.WriteEndArray();
    }

    private static void WriteBacktests(Utf8JsonWriter json, IReadOnlyList<BacktestResult> backtests)
    {
        json.WriteStartArray();
        foreach (var b in backtests)
        {
            json.WriteStartObject();
            json.WriteNumber("alpha", b.Alpha);
            json.WriteNumber("observations", b.Observations);
            json.WriteNumber("exceptions", b.Exceptions);
            json.WriteNumber("kupiec_lr", b.Kupiec.Statistic);
            json.WriteNumber("kupiec_p", b.Kupiec.PValue);
            json.WriteNumber("christoffersen_lr", b.Independence.Statistic);
            json.WriteNumber("christoffersen_p", b.Independence.PValue);
            json.WriteNumber("conditional_coverage_p", b.ConditionalCoverage.PValue);
            json.WriteString("traffic_light", b.Zone.ToString().ToLowerInvariant());
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    public static string WriteMarkdown(string path, EvaluationReport report, IReadOnlyDictionary<string, string> provenance)
    {
        var sources = report.Sources;
        var md = new StringBuilder();
        md.AppendLine("# FinGen scenario evaluation").AppendLine();
        md.AppendLine($"Checkpoint `{provenance["checkpoint"]}` (sha256 `{provenance["checkpoint_sha256"][..16]}…`), data `{provenance["data_source"]}` (sha256 `{provenance["data_sha256"][..16]}…`), seed {provenance["seed"]}.");
        md.AppendLine($"{report.TrainReturns} training returns (the model and both baselines saw only these), {report.HeldOutReturns} held-out returns; {report.Settings.Paths} synthetic paths per source, each {report.HeldOutReturns} days.").AppendLine();

        Table(md, "Stylized facts", sources, [
            ("mean", s => F(s.Moments.Mean, "E2")),
            ("std", s => F(s.Moments.StandardDeviation, "E3")),
            ("skew", s => F(s.Moments.Skewness, "F3")),
            ("excess kurtosis", s => F(s.Moments.ExcessKurtosis, "F2")),
            ("Hill tail index", s => F(s.HillTailIndex, "F2")),
            ("ACF r, lag 1", s => F(s.Acf.Returns[1], "F3")),
            ("ACF |r|, lag 1", s => F(s.Acf.Absolute[1], "F3")),
            ("ACF |r|, lag 20", s => F(s.Acf.Absolute[Math.Min(20, s.Acf.Absolute.Length - 1)], "F3")),
            ("power-law β of ACF |r|", s => F(s.AbsoluteAcfDecay.Beta, "F3")),
            ("leverage corr(r, r² next day)", s => F(s.Leverage[0], "F3")),
            ("gain / loss horizon (days)", s => $"{s.GainHorizon} / {s.LossHorizon}"),
        ]);
        var synthetic = sources.Skip(1).ToList();
        Table(md, "Distances to the held-out returns (lower is closer)", synthetic, [
            .. ScenarioEvaluation.Horizons.Select(k => ($"W1 of {k}-day returns", (Func<SourceStatistics, string>)(s => s.Distances.TryGetValue($"w1_{k}d", out var v) ? F(v, "E2") : "—"))),
            ("ACF score r", s => F(s.Distances["acf_score_r"], "F3")),
            ("ACF score |r|", s => F(s.Distances["acf_score_abs"], "F3")),
            ("ACF score r²", s => F(s.Distances["acf_score_sq"], "F3")),
            ("leverage score", s => F(s.Distances["leverage_score"], "F3")),
            ("MMD² (RBF, median heuristic)", s => F(s.Distances["mmd2"], "E2")),
            ("discriminative score \\|acc − 0.5\\|", s => F(s.Discriminative!.Value.Score, "F3")),
        ]);
        Table(md, "Risk (losses positive)", sources, [
            .. report.Sources[0].Risk.Keys.Select(k => (k.Replace('_', ' '), (Func<SourceStatistics, string>)(s => F(s.Risk[k], "P2")))),
        ]);
        md.AppendLine("## VaR backtests on the held-out days").AppendLine();
        md.AppendLine("Each source's unconditional 1-day VaR is held fixed over the held-out period; GARCH also forecasts its own conditional VaR day by day.").AppendLine();
        md.AppendLine("| source | level | exceptions / days | Kupiec p | Christoffersen p | traffic light |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var s in synthetic)
            foreach (var b in s.Backtests) BacktestRow(md, s.Name, b);
        foreach (var b in report.GarchConditionalBacktests) BacktestRow(md, "GARCH(1,1)-t, conditional", b);
        md.AppendLine();
        var g = report.Garch.Parameters;
        md.AppendLine($"GARCH(1,1)-t fit on the training returns: μ {F(g.Mu, "E2")}, ω {F(g.Omega, "E2")}, α {F(g.Alpha, "F3")}, β {F(g.Beta, "F3")}, ν {F(g.Nu, "F2")} (log-likelihood {F(report.Garch.LogLikelihood, "F1")}).").AppendLine();
        md.AppendLine("Plots: `returns_histogram.png`, `qq.png`, `acf.png`, `fan_chart.png`, `images.png`.");
        byte[] text = Encoding.UTF8.GetBytes(md.ToString());
        FinGen.Native.IO.AtomicFile.Write(path, stream => stream.Write(text), replace: false);
        return path;
    }

    private static void BacktestRow(StringBuilder md, string name, BacktestResult b) =>
        md.AppendLine($"| {name} | {b.Alpha:P0} | {b.Exceptions} / {b.Observations} | {F(b.Kupiec.PValue, "F3")} | {F(b.Independence.PValue, "F3")} | {b.Zone.ToString().ToLowerInvariant()} |");

    private static void Table(StringBuilder md, string title, IReadOnlyList<SourceStatistics> sources, IReadOnlyList<(string Name, Func<SourceStatistics, string> Value)> rows)
    {
        md.AppendLine($"## {title}").AppendLine();
        md.AppendLine("| | " + string.Join(" | ", sources.Select(s => s.Name)) + " |");
        md.AppendLine("|---|" + string.Concat(sources.Select(_ => "---|")));
        foreach (var (name, value) in rows) md.AppendLine($"| {name} | " + string.Join(" | ", sources.Select(value)) + " |");
        md.AppendLine();
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
