using System.Text.Json;
using System.Text.RegularExpressions;
using FinGen.Cli;
using FinGen.Native.Evaluation;

namespace FinGen.Native.Tests;

/// <summary>report.md and report.json of <c>fingen eval</c>, written from an evaluation of simulated returns.</summary>
[TestFixture]
public sealed class EvalReportTests
{
    static readonly Dictionary<string, string> Provenance = new()
    {
        ["checkpoint"] = "/runs/x/checkpoint.safetensors",
        ["checkpoint_sha256"] = new string('a', 64),
        ["data_source"] = "simulated | GARCH", // a pipe in provenance text must not matter either
        ["data_sha256"] = new string('b', 64),
        ["seed"] = "7",
    };

    static EvaluationReport? _report;

    // One small evaluation shared by the tests: GARCH(1,1)-t returns as the data, a second GARCH as "the model".
    static EvaluationReport Report()
    {
        if (_report is not null) return _report;
        double[] returns = Garch11.Simulate(new Garch11Parameters(2e-4, 3e-6, 0.09, 0.88, 5), 1400, seed: 12);
        double[] train = returns[..1000], heldOut = returns[1000..];
        var model = new Garch11Parameters(5e-4, 1e-5, 0.05, 0.80, 8);
        double[][] modelPaths = Enumerable.Range(0, 6).Select(p => Garch11.Simulate(model, heldOut.Length, seed: 100 + (ulong)p)).ToArray();
        return _report = ScenarioEvaluation.Run(train, heldOut, "FinGen | test", modelPaths, new EvaluationSettings(Paths: 6, Seed: 3));
    }

    // Cells of a markdown table row: split at pipes that are not escaped, without the outer empty pieces.
    static string[] Cells(string line) => Regex.Split(line.Trim(), @"(?<!\\)\|")[1..^1];

    [Test]
    public void EveryTableRowHasTheHeadersNumberOfCells()
    {
        string md = EvalReport.Markdown(Report(), Provenance);
        TestContext.Out.WriteLine(md);
        var lines = md.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        int tables = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith('|') || (i > 0 && lines[i - 1].StartsWith('|'))) continue;
            tables++;
            int header = Cells(lines[i]).Length;
            Assert.That(lines[i + 1], Does.Match(@"^\|(---\|)+$"), $"line {i + 2} separates the header");
            Assert.That(Cells(lines[i + 1]), Has.Length.EqualTo(header), $"separator of the table at line {i + 1}");
            for (int j = i + 2; j < lines.Length && lines[j].StartsWith('|'); j++)
                Assert.That(Cells(lines[j]), Has.Length.EqualTo(header), $"line {j + 1}: {lines[j]}");
        }
        Assert.That(tables, Is.EqualTo(9), "the verdict, stylized facts, distances, risk, backtests, and the conditional forecasts at two levels and two horizons");
        // The rows that used to break: |r| in the label, and the source name with a pipe.
        Assert.That(md, Does.Contain(@"| ACF \|r\|, lag 1 |"));
        Assert.That(md, Does.Contain(@"| ACF score \|r\| |"));
        Assert.That(md, Does.Contain(@"| power-law β of ACF \|r\| |"));
        Assert.That(md, Does.Contain(@"| FinGen \| test |"));
        Assert.That(md, Does.Not.Contain(@"\\|"), "nothing escaped twice");
    }

    [Test]
    public void HowToReadExplainsEveryRowAndTheScaledTrafficLight()
    {
        var report = Report();
        string md = EvalReport.Markdown(report, Provenance);
        int how = md.IndexOf("## How to read this report", StringComparison.Ordinal);
        Assert.That(how, Is.GreaterThan(0));
        string guide = md[how..];
        int explained = 0;
        // Every row label of the three measure tables has its own line in the guide.
        // The conditional tables list sources, one a row, like the backtest table.
        int conditional = md.IndexOf("## Conditional VaR and ES forecasts", StringComparison.Ordinal);
        Assert.That(conditional, Is.InRange(0, how));
        // The verdict, first, explains itself; the measure tables follow it.
        int facts = md.IndexOf("## Stylized facts", StringComparison.Ordinal);
        Assert.That(md.IndexOf("## Verdict", StringComparison.Ordinal), Is.InRange(0, facts));
        foreach (var line in md[facts..conditional].Split('\n').Where(l => l.StartsWith("| ") && !l.StartsWith("| source")))
        {
            string label = Cells(line)[0].Trim();
            if (label.Length == 0) continue; // a header row
            if (report.Sources.Any(s => EvalReport.Escape(s.Name) == label) || label.StartsWith("GARCH(1,1)-t, conditional")) continue; // backtest rows
            Assert.That(guide, Does.Contain($"- **{label}**:"), label);
            explained++;
        }
        Assert.That(explained, Is.EqualTo(11 + 10 + 8), "11 stylized facts, 10 distances, 8 risk measures");
        foreach (string column in new[] { "exceptions / days", "Kupiec p", "Christoffersen p", "traffic light", "mean FZ0 loss", "ES Z₂ (p)" })
            Assert.That(guide, Does.Contain($"- **{column}**:"), column);
        // The traffic light scaled to the held-out length: 400 days at 99 % (expected 4) and at 95 % (expected 20).
        var (yellow99, red99) = Risk.TrafficLightThresholds(400, 0.99);
        var (yellow95, red95) = Risk.TrafficLightThresholds(400, 0.95);
        Assert.That(guide, Does.Contain($"400 days at 99 %: green 0–{yellow99 - 1}, yellow {yellow99}–{red99 - 1}, red {red99} or more"));
        Assert.That(guide, Does.Contain($"400 days at 95 %: green 0–{yellow95 - 1}, yellow {yellow95}–{red95 - 1}, red {red95} or more"));
        Assert.That(md, Does.Contain($"| 99 % | ").And.Contain($"| {yellow99} / {red99} |"));
        Assert.That(yellow99, Is.GreaterThan(5), "400 days allow more exceptions than Basel's 250");
        // Units stay in the tables.
        Assert.That(md, Does.Contain("| mean (log return per day) |").And.Contain("| VaR 99 %, 10-day |").And.Contain("Risk (losses positive, % of log return)"));
    }

    [Test]
    public void JsonWritesNullWhereAStatisticIsUndefined()
    {
        var report = Report();
        var model = report.Sources[1];
        double[] acfAbs = (double[])model.Acf.Absolute.Clone();
        acfAbs[3] = double.NaN;
        double[] leverage = (double[])model.Leverage.Clone();
        leverage[1] = double.PositiveInfinity;
        var broken = new SourceStatistics
        {
            Name = model.Name, Moments = model.Moments, HillTailIndex = double.NaN,
            Acf = model.Acf with { Absolute = acfAbs }, AbsoluteAcfDecay = model.AbsoluteAcfDecay, Leverage = leverage,
            GainHorizon = model.GainHorizon, LossHorizon = model.LossHorizon, Risk = model.Risk, Distances = model.Distances,
            Backtests = model.Backtests, Discriminative = model.Discriminative,
        };
        var withGaps = new EvaluationReport
        {
            Settings = report.Settings, TrainReturns = report.TrainReturns, HeldOutReturns = report.HeldOutReturns,
            Sources = [report.Sources[0], broken, .. report.Sources.Skip(2)], Garch = report.Garch,
            GarchConditionalBacktests = report.GarchConditionalBacktests, Paths = report.Paths,
            Training = report.Training, Gjr = report.Gjr, Conditional = report.Conditional,
        };
        string path = Path.Combine(Directory.CreateTempSubdirectory("fingen-report-").FullName, "report.json");
        try
        {
            EvalReport.WriteJson(path, withGaps, Provenance);
            using var json = JsonDocument.Parse(File.ReadAllText(path));
            var source = json.RootElement.GetProperty("sources")[1];
            Assert.That(source.GetProperty("acf_abs")[3].ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(source.GetProperty("acf_abs")[2].GetDouble(), Is.EqualTo(acfAbs[2]));
            Assert.That(source.GetProperty("leverage")[1].ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(source.GetProperty("leverage")[0].GetDouble(), Is.EqualTo(leverage[0]));
            Assert.That(source.GetProperty("hill_tail_index").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(source.GetProperty("mean").GetDouble(), Is.EqualTo(model.Moments.Mean));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Test]
    public void TheRealStretchInPathsPngEndsAtTheStartAndLiesBeforeIt()
    {
        double[] returns = [0.01, -0.02, 0.005, 0.013];
        var (days, prices) = Pictures.StretchBefore(2875.0, returns);
        Assert.That(days, Is.EqualTo(new double[] { -4, -3, -2, -1, 0 }));
        Assert.That(prices[^1], Is.EqualTo(2875.0));
        // Read forwards, the stretch is the returns: Pₖ₊₁ = Pₖ·exp(rₖ), so it leads into S₀ instead of starting from it.
        for (int k = 0; k < returns.Length; k++) Assert.That(prices[k + 1], Is.EqualTo(prices[k] * Math.Exp(returns[k])).Within(1e-9));
        Assert.That(prices[0], Is.EqualTo(2875.0 * Math.Exp(-(0.01 - 0.02 + 0.005 + 0.013))).Within(1e-9));
    }

    [Test]
    public void FlatImagesAreDrawnAsStripsWithWhiteGapsNotBlackBands()
    {
        // Five 1×28 windows: a 3-column grid, each strip's row repeated 7 times (28 / (4·1)), gaps NaN (white).
        var random = new System.Random(5);
        var samples = Enumerable.Range(0, 5 * 28).Select(_ => (float)random.NextDouble()).ToArray();
        var pixels = Pictures.GridPixels(samples, 5, 1, 28);
        Assert.That(pixels.GetLength(0), Is.EqualTo(2 * 8 - 1));
        Assert.That(pixels.GetLength(1), Is.EqualTo(3 * 29 - 1));
        for (int s = 0; s < 5; s++)
            for (int y = 0; y < 7; y++)
                for (int x = 0; x < 28; x++)
                    Assert.That(pixels[s / 3 * 8 + y, s % 3 * 29 + x], Is.EqualTo(samples[s * 28 + x]), $"sample {s} row {y} column {x}");
        Assert.Multiple(() =>
        {
            for (int x = 0; x < pixels.GetLength(1); x++) Assert.That(pixels[7, x], Is.NaN, $"gap row, column {x}");
            for (int y = 0; y < pixels.GetLength(0); y++) Assert.That(pixels[y, 28], Is.NaN, $"gap column, row {y}");
            for (int y = 8; y < 15; y++)
                for (int x = 2 * 29; x < 3 * 29 - 1; x++) Assert.That(pixels[y, x], Is.NaN, "the grid's empty last cell");
        });
        // Square images are drawn as they are.
        var square = Enumerable.Range(0, 4 * 9).Select(_ => (float)random.NextDouble()).ToArray();
        var grid = Pictures.GridPixels(square, 4, 3, 3);
        Assert.That((grid.GetLength(0), grid.GetLength(1)), Is.EqualTo((7, 7)));
        Assert.That(grid[4 + 2, 4 + 1], Is.EqualTo(square[3 * 9 + 2 * 3 + 1]));
    }

    [Test]
    public void TheHistogramBreaksAtEmptyBinsInsteadOfBridgingThem()
    {
        // Six bins of 0.01 from -0.05: returns in bins 0, 1 and 4 (bins 2 and 3 are empty, as a crash's tail often is),
        // one beyond the last bin, and one just below the first, which no bin holds.
        double[] returns = [-0.045, -0.035, -0.031, -0.005, 0.2, -0.0501];
        var steps = EvalPictures.DensitySteps(returns, lo: -0.05, width: 0.01, bins: 6);
        Assert.That(steps, Has.Count.EqualTo(2), "two runs of non-empty bins, so two lines, and nothing across bins 2 and 3");
        double one = Math.Log10(1 / (6 * 0.01)), two = Math.Log10(2 / (6 * 0.01));
        Assert.That(steps[0].Xs, Is.EqualTo(new[] { -0.05, -0.04, -0.04, -0.03 }).Within(1e-12));
        Assert.That(steps[0].Ys, Is.EqualTo(new[] { one, one, two, two }).Within(1e-12), "flat across each bin, at its density");
        Assert.That(steps[1].Xs, Is.EqualTo(new[] { -0.01, 0.0 }).Within(1e-12));
        Assert.That(steps[1].Ys, Is.EqualTo(new[] { one, one }).Within(1e-12));
        Assert.That(steps.SelectMany(s => s.Xs), Has.None.InRange(-0.0299, -0.0101), "no point of any line lies over the empty bins");
    }
}
