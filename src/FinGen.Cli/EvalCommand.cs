using FinGen.Native.Models;
using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using FinGen.Native;
using FinGen.Native.Data;
using FinGen.Native.Evaluation;

namespace FinGen.Cli;

/// <summary>
/// <c>fingen eval</c>: synthetic returns of a price model against the held-out real returns and two
/// baselines fitted on the same training part; writes report.json, report.md and the plots.
/// </summary>
internal static class EvalCommand
{
    public static Command Create(CliConsole console)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a price model's checkpoint.safetensors", Required = true };
        var data = new Option<string?>("--data") { Description = "price data (default: the data the checkpoint was trained on); its held-out part is evaluated" };
        var column = new Option<string?>("--column") { Description = "the price column to evaluate against (default: the checkpoint's column, the first of a panel's)", HelpName = "NAME" };
        var paths = new Option<int>("--paths") { Description = "synthetic paths per source, each as long as the held-out period", DefaultValueFactory = _ => 100 };
        var scenarios = new Option<int>("--scenarios") { Description = "scenarios per held-out day of the conditional VaR/ES forecasts", DefaultValueFactory = _ => 1000 };
        var pathDays = Options.PathDays();
        var seed = Options.Seed(7);
        var output = new Option<string?>("--out") { Description = "output directory (new or empty; default: eval-<timestamp> beside the checkpoint)" };
        var command = new Command("eval", "Compare a price model's scenarios and conditional VaR/ES forecasts with held-out data and four baselines: historical simulation, GARCH(1,1)-t, GJR-GARCH(1,1)-t and filtered historical simulation") { checkpoint, data, column, paths, scenarios, pathDays, seed, output };
        command.SetAction(parse =>
        {
            string checkpointPath = parse.GetValue(checkpoint)!;
            Options.MustExist(checkpointPath, "--checkpoint");
            int pathCount = Options.AtLeast(parse.GetValue(paths), 2, "--paths");
            int scenarioCount = Options.AtLeast(parse.GetValue(scenarios), 100, "--scenarios");
            ulong seedValue = parse.GetValue(seed);
            string outDir = parse.GetValue(output)
                ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!, $"eval-{DateTime.Now:yyyyMMdd-HHmmss}");
            if (string.IsNullOrWhiteSpace(outDir)) Options.Throw("--out is empty; name a directory");
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(f => !FinGen.Native.IO.AtomicFile.IsTempName(Path.GetFileName(f))))
                Options.Throw($"--out {outDir} is not empty; choose a new directory (nothing was overwritten)");

            using var sampler = Sampler.Load(checkpointPath);
            var encoding = DataSets.EncodingOf(sampler.DataMetadata)
                ?? throw new FinGenException($"--checkpoint {checkpointPath}: the model was trained on images, not prices; eval needs a price model");
            string dataSpec = parse.GetValue(data)
                ?? (sampler.DataMetadata.TryGetValue(DataSets.SpecKey, out var spec) ? spec : DataSets.Sp500);
            // The checkpoint's columns, missing-value policy and stride, so the held-out returns are the ones it never saw.
            // A column the model was trained on is read with all of the model's columns, so --na drop drops the same rows.
            var dataOptions = DataOptions.FromMetadata(sampler.DataMetadata);
            string? chosen = parse.GetValue(column)?.Trim();
            if (chosen is { Length: 0 }) Options.Throw("--column: the column name is empty");
            if (chosen is not null && !dataOptions.Columns.Contains(chosen, StringComparer.OrdinalIgnoreCase))
                dataOptions = dataOptions with { Columns = [chosen] };
            var panel = DataSets.LoadPanel(dataSpec, dataOptions);
            int index = chosen is null ? 0 : Array.FindIndex(panel.Columns, c => c.Equals(chosen, StringComparison.OrdinalIgnoreCase));
            var prices = panel.Series(index);
            var (train, heldOut) = DataSets.SplitReturns(prices);
            var log = console.Out;
            string which = panel.Columns.Length == 1 ? ""
                : chosen is null ? $" (column '{panel.Columns[0]}', the first of the model's {panel.Columns.Length}; choose with --column)"
                : $" (column '{panel.Columns[index]}')";
            log.WriteLine($"fingen eval: {checkpointPath} on {panel.Source}{which}: {English.Plural(train.Length, "training return")}, {heldOut.Length} held out; {English.Plural(pathCount, "path")} per source, seed {seedValue}");
            if (panel.Missing.ToString() is { Length: > 0 } missing) log.WriteLine($"  data: {missing}");

            string modelName = $"FinGen {(sampler.Condition is null ? "" : "conditional ")}{ModelConfig.CliName(sampler.Config.Model).ToUpperInvariant()}";
            int windowsPerPath = (heldOut.Length + encoding.WindowLength - 1) / encoding.WindowLength;
            // Five sources of paths (the model and four baselines) and their statistics, plus the model's images.
            Sizes.Require(14.0 * pathCount * heldOut.Length * sizeof(double) + 4.0 * pathCount * windowsPerPath * sampler.SampleSize,
                (double)pathCount * windowsPerPath * sampler.SampleSize, $"{English.Plural(pathCount, "path")} of {English.Plural(heldOut.Length, "held-out day")}", "--paths");
            // The evaluated column's own filter: a panel model standardized each column by its own fit.
            int filterColumn = chosen is null ? 0 : Math.Max(0, dataOptions.Columns.ToList().FindIndex(c => c.Equals(chosen, StringComparison.OrdinalIgnoreCase)));
            var filter = VolatilityFilter.FromMetadata(sampler.DataMetadata, filterColumn);
            var days = Options.ParsePathDays(parse.GetValue(pathDays)!);
            if (sampler.Condition is not null && days == PathDays.Independent && parse.GetResult(pathDays) is { Implicit: false })
                Options.Throw("--path-days independent does not apply to a conditional model: each window is drawn given the path before it");
            // A conditional model's paths roll out from the real history this evaluation holds out after (its training part).
            var modelPaths = sampler.Condition is { } condition
                ? DataSets.ConditionalReturnPaths(sampler, encoding, condition, train, pathCount, heldOut.Length, seedValue, filter)
                : DataSets.ReturnPaths(sampler, encoding, pathCount, heldOut.Length, seedValue, filter, days);
            // The model's conditional forecasts re-colour its own generated residual windows from each day's filtered
            // state; a model without a filter cannot condition on the past, so its scenarios are its windows' returns.
            // A conditional model draws each day's scenarios given the real history before that day instead.
            var windows = sampler.Condition is null ? DataSets.DecodedWindows(sampler, encoding, ConditionalPool, seedValue ^ 0xC0D1_7105UL) : [];
            // An h-day scenario always takes h consecutive days of one generated window, whatever --path-days says about the
            // long paths: on the validation splits the windows' joint shape gave better 10-day forecasts than independent
            // days, while over a whole held-out period its spurious tail clustering compounds (benchmarks/results/quality.md).
            var modelConditional = sampler.Condition is { } given
                ? new ConditionalSource(modelName, filter?.Recursion, null) { Conditioned = new DataSets.ConditionalWindows(sampler, encoding, given, filter) }
                : new ConditionalSource(modelName, filter?.Recursion, Innovations.Windows(windows, encoding.WindowLength));
            EvaluationReport report;
            try
            {
                report = ScenarioEvaluation.Run(train, heldOut, modelName, modelPaths,
                    new EvaluationSettings(Paths: pathCount, Seed: seedValue, Window: encoding.WindowLength, Scenarios: scenarioCount), modelConditional);
            }
            catch (FinGenException e)
            {
                // The statistics do not know where their series came from: say which files they were.
                throw new FinGenException($"evaluating {checkpointPath} against {panel.Source} ({English.Plural(train.Length, "training return")} and {English.Plural(heldOut.Length, "held-out return")}): {e.Message}", e);
            }

            // Collapse diagnostics of the model's windows against the real windows of what it learned (residuals when filtered).
            if (encoding.WindowLength >= CollapseCheck.MaxLag + 2)
                report.Collapse = CollapseCheck.Compute(windows.AsSpan(0, Math.Min(windows.Length, 20_000 * encoding.WindowLength)),
                    filter is null ? train : filter.StandardizedResiduals(train), encoding.WindowLength, seedValue);

            using var folder = OutputFolder.Open(outDir, "--out");
            var provenance = new Dictionary<string, string>
            {
                ["checkpoint"] = Path.GetFullPath(checkpointPath),
                ["checkpoint_sha256"] = Sha256(File.OpenRead(checkpointPath)),
                ["data"] = dataSpec,
                ["data_source"] = panel.Source,
                ["data_column"] = panel.Columns[index],
                ["data_na"] = DataOptions.Name(dataOptions.Missing),
                ["data_sha256"] = Sha256(dataSpec == DataSets.Sp500 ? EmbeddedData.OpenSp500Csv() : File.OpenRead(dataSpec)),
                ["seed"] = seedValue.ToString(CultureInfo.InvariantCulture),
                ["fingen_version"] = InfoCommand.Version,
            };
            if (filter is not null) provenance["model_filter"] = DescribeFilter(filter);
            var written = new List<string>
            {
                folder.Claim(dir => EvalReport.WriteJson(Path.Combine(dir, "report.json"), report, provenance)),
                EvalReport.WriteMarkdown(Path.Combine(outDir, "report.md"), report, provenance),
            };
            double s0 = prices.Closes[train.Length];
            written.AddRange(EvalPictures.Write(outDir, report, heldOut, s0, modelName, sampler, encoding, train, filter));
            folder.Complete();

            var model = report.Sources[1];
            log.WriteLine($"  {model.Name}: W1(1d) {model.Distances["w1_1d"]:E2}, ACF score |r| {model.Distances["acf_score_abs"]:F3}, discriminative score {model.Discriminative!.Value.Score:F3}, VaR99 backtest {model.Backtests[1].Zone.ToString().ToLowerInvariant()}");
            foreach (var path in written) log.WriteLine($"  wrote {path}");
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>Generated windows behind the model's conditional forecasts; each day draws its scenarios from them.</summary>
    public const int ConditionalPool = 100_000;

    private static string Sha256(Stream stream)
    {
        using (stream) return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The model's filter for the report: its kind and, when its paths use another recursion, both parameter sets.</summary>
    internal static string DescribeFilter(VolatilityFilter filter)
    {
        static string Parameters(IVolatilityRecursion r) => r switch
        {
            GjrGarchParameters p => string.Create(CultureInfo.InvariantCulture, $"ω {p.Omega:E2}, α {p.Alpha:F3}, γ {p.Gamma:F3}, β {p.Beta:F3}"),
            ComponentGjrGarchParameters p => string.Create(CultureInfo.InvariantCulture, $"ω {p.Omega:E2}, ρ {p.Rho:F4}, φ {p.Phi:F3}, α {p.Alpha:F3}, γ {p.Gamma:F3}, β {p.Beta:F3}"),
            _ => r.GetType().Name,
        };
        string kind = VolatilityFilter.Title(filter.Kind);
        return filter.PathRecursion is { } path
            ? $"{kind} (fitted: {Parameters(filter.Recursion)}); its paths are re-coloured by the recursion calibrated to the residuals' skew ({Parameters(path)}), its conditional forecasts by the fitted one"
            : $"{kind} ({Parameters(filter.Recursion)}), for its paths and its conditional forecasts";
    }
}
