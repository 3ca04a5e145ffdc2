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
        var paths = new Option<int>("--paths") { Description = "synthetic paths per source, each as long as the held-out period", DefaultValueFactory = _ => 100 };
        var seed = Options.Seed(7);
        var output = new Option<string?>("--out") { Description = "output directory (new or empty; default: eval-<timestamp> beside the checkpoint)" };
        var command = new Command("eval", "Compare a price model's scenarios with held-out data, historical simulation and GARCH(1,1)-t") { checkpoint, data, paths, seed, output };
        command.SetAction(parse =>
        {
            string checkpointPath = parse.GetValue(checkpoint)!;
            Options.MustExist(checkpointPath, "--checkpoint");
            int pathCount = Options.AtLeast(parse.GetValue(paths), 2, "--paths");
            ulong seedValue = parse.GetValue(seed);
            string outDir = parse.GetValue(output)
                ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!, $"eval-{DateTime.Now:yyyyMMdd-HHmmss}");
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
                Options.Throw($"--out {outDir} is not empty; choose a new directory (nothing was overwritten)");

            using var sampler = Sampler.Load(checkpointPath);
            var encoding = DataSets.EncodingOf(sampler.DataMetadata)
                ?? throw new FinGenException($"--checkpoint {checkpointPath}: the model was trained on images, not prices; eval needs a price model");
            string dataSpec = parse.GetValue(data)
                ?? (sampler.DataMetadata.TryGetValue(DataSets.SpecKey, out var spec) ? spec : DataSets.Sp500);
            var prices = DataSets.LoadPrices(dataSpec);
            var (train, heldOut) = DataSets.SplitReturns(prices);
            var log = console.Out;
            log.WriteLine($"fingen eval: {checkpointPath} on {prices.Source}: {train.Length} training returns, {heldOut.Length} held out; {pathCount} paths per source, seed {seedValue}");

            string modelName = $"FinGen {ModelConfig.CliName(sampler.Config.Model).ToUpperInvariant()}";
            var modelPaths = DataSets.ReturnPaths(sampler, encoding, pathCount, heldOut.Length, seedValue);
            var report = ScenarioEvaluation.Run(train, heldOut, modelName, modelPaths,
                new EvaluationSettings(Paths: pathCount, Seed: seedValue));

            Directory.CreateDirectory(outDir);
            var provenance = new Dictionary<string, string>
            {
                ["checkpoint"] = Path.GetFullPath(checkpointPath),
                ["checkpoint_sha256"] = Sha256(File.OpenRead(checkpointPath)),
                ["data"] = dataSpec,
                ["data_source"] = prices.Source,
                ["data_sha256"] = Sha256(dataSpec == DataSets.Sp500 ? EmbeddedData.OpenSp500Csv() : File.OpenRead(dataSpec)),
                ["seed"] = seedValue.ToString(CultureInfo.InvariantCulture),
                ["fingen_version"] = InfoCommand.Version,
            };
            var written = new List<string>
            {
                EvalReport.WriteJson(Path.Combine(outDir, "report.json"), report, provenance),
                EvalReport.WriteMarkdown(Path.Combine(outDir, "report.md"), report, provenance),
            };
            double s0 = prices.Closes[train.Length];
            written.AddRange(EvalPictures.Write(outDir, report, heldOut, s0, modelName, sampler, encoding, train));

            var model = report.Sources[1];
            log.WriteLine($"  {model.Name}: W1(1d) {model.Distances["w1_1d"]:E2}, ACF score |r| {model.Distances["acf_score_abs"]:F3}, discriminative score {model.Discriminative!.Value.Score:F3}, VaR99 backtest {model.Backtests[1].Zone.ToString().ToLowerInvariant()}");
            foreach (var path in written) log.WriteLine($"  wrote {path}");
            return Cli.Ok;
        });
        return command;
    }

    private static string Sha256(Stream stream)
    {
        using (stream) return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
