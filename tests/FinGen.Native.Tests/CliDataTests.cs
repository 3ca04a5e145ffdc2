using System.Globalization;
using System.Text.Json;
using FinGen.Cli;
using FinGen.Native.Checkpoints;
using FinGen.Native.Data;
using Parquet;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>fingen's data options and Parquet output end to end: what train records, resume, eval and sample find again.</summary>
[TestFixture]
public sealed class CliDataTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-clidata-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    /// <summary>A three-column panel with one gap in KO (line 51) and one in MSFT (line 101).</summary>
    private string GappyPanel()
    {
        var lines = DataOptionsTests.PanelCsv(500, ["AA", "KO", "MSFT"], seed: 11).Split('\n').ToList();
        static string Blank(string line, int column, string missing)
        {
            var cells = line.Split(',');
            cells[column] = missing;
            return string.Join(',', cells);
        }
        lines[50] = Blank(lines[50], 2, "NA");
        lines[100] = Blank(lines[100], 3, "");
        File.WriteAllText(In("panel.csv"), string.Join('\n', lines));
        return In("panel.csv");
    }

    private string Train(params string[] args)
    {
        var r = Fingen(["train", "--steps", "2", "--batch", "8", "--device", "cpu", .. args]);
        Assert.That(r.Code, Is.Zero, r.Error + r.Out);
        return r.Out;
    }

    [Test]
    public void PanelOptionsSurviveResumeEvalAndSample()
    {
        string data = GappyPanel();
        string log = Train("--data", data, "--columns", "aa,KO,MSFT", "--na", "ffill", "--stride", "2", "--out", In("run"));
        Assert.That(log, Does.Contain("data: columns 'AA', 'KO', 'MSFT'; na ffill; stride 2"));
        Assert.That(log, Does.Contain("data: 2 missing cells in 2 columns, 1 in 'KO' (first at line 51), 1 in 'MSFT' (first at line 101): forward-filled"));

        string checkpoint = In("run/checkpoint.safetensors");
        var recorded = Checkpoint.Read(checkpoint).Data;
        // A fresh price model starts from the recommended options.
        var expected = DataOptions.Recommended with { Columns = ["AA", "KO", "MSFT"], Missing = MissingValues.ForwardFill, Stride = 2 };
        Assert.That(DataOptions.FromMetadata(recorded), Is.EqualTo(expected));
        Assert.That(recorded["columns"], Is.EqualTo("[\"AA\",\"KO\",\"MSFT\"]"));
        Assert.That(recorded["na"], Is.EqualTo("ffill"));
        Assert.That(recorded["stride"], Is.EqualTo("2"));
        Assert.That(recorded[DataSets.MissingKey], Does.EndWith("forward-filled"));

        // Resume: no data options given, the checkpoint's are used (the same windows, so the same bounds).
        var resumed = Fingen("train", "--resume", checkpoint, "--steps", "1", "--device", "cpu", "--out", In("resumed"));
        Assert.That(resumed.Code, Is.Zero, resumed.Error);
        Assert.That(resumed.Out, Does.Contain("data: columns 'AA', 'KO', 'MSFT'; na ffill; stride 2"));
        // The same data metadata, except the calibration, which is refitted to the model after its extra step.
        var resumedData = Checkpoint.Read(In("resumed/checkpoint.safetensors")).Data;
        Assert.That(resumedData.Where(p => !CalibratedEncoding.IsCalibrationKey(p.Key)), Is.EquivalentTo(recorded.Where(p => !CalibratedEncoding.IsCalibrationKey(p.Key))));
        Assert.That(resumedData[CalibratedEncoding.Key], Is.Not.EqualTo(recorded[CalibratedEncoding.Key]));
        // Another column changes the GASF bounds, which the resumed model cannot take.
        AssertOneLineError(Fingen("train", "--resume", checkpoint, "--column", "AA", "--steps", "1", "--out", In("other")), "the checkpoint was trained with");

        // Eval: the checkpoint's options; without ffill the gaps would stop it.
        var eval = Fingen("eval", "--checkpoint", checkpoint, "--paths", "4", "--out", In("eval"));
        Assert.That(eval.Code, Is.Zero, eval.Error);
        Assert.That(eval.Out, Does.Contain("column 'AA', the first of the model's 3").And.Contain("forward-filled"));
        eval = Fingen("eval", "--checkpoint", checkpoint, "--column", "msft", "--paths", "4", "--out", In("eval-msft"));
        Assert.That(eval.Code, Is.Zero, eval.Error);
        using (var json = JsonDocument.Parse(File.ReadAllText(In("eval-msft/report.json"))))
        {
            var provenance = json.RootElement.GetProperty("provenance");
            Assert.That(provenance.GetProperty("data_column").GetString(), Is.EqualTo("MSFT"));
            Assert.That(provenance.GetProperty("data_na").GetString(), Is.EqualTo("ffill"));
        }

        // Sample: the Parquet file carries the checkpoint's data metadata; a panel's paths start at 1.
        var sample = Fingen("sample", "--checkpoint", checkpoint, "--paths", "3", "--length", "40", "--out", In("paths.parquet"));
        Assert.That(sample.Code, Is.Zero, sample.Error);
        Assert.That(sample.Out, Does.Contain("from 1").And.Contain("columns 'AA', 'KO', 'MSFT'; na ffill; stride 2"));
        var (metadata, _, _, _, prices) = ReadParquet(In("paths.parquet"));
        foreach (var (key, value) in recorded) Assert.That(metadata["fingen.data." + key], Is.EqualTo(value), key);
        Assert.That(metadata["fingen.start_price"], Is.EqualTo("1"));
        Assert.That(prices, Has.Length.EqualTo(3 * 40));
    }

    [TestCase(4, 61, 1)]
    [TestCase(4097, 3, 2)] // one row group per chunk of 4,096 paths, the numbers of one draw
    public void ParquetPathsAreTheDecodedReturnPaths(int paths, int days, int rowGroups)
    {
        Train("--out", In("run"));
        string checkpoint = In("run/checkpoint.safetensors");
        var r = Fingen("sample", "--checkpoint", checkpoint, "--paths", paths.ToString(CultureInfo.InvariantCulture), "--length", days.ToString(CultureInfo.InvariantCulture),
            "--seed", "9", "--out", In("paths.parquet"));
        Assert.That(r.Code, Is.Zero, r.Error);
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { In("paths.parquet") }), "no temporary file is left");

        using var sampler = Sampler.Load(checkpoint);
        var encoding = DataSets.EncodingOf(sampler.DataMetadata)!;
        var filter = VolatilityFilter.FromMetadata(sampler.DataMetadata);
        var expected = DataSets.ReturnPaths(sampler, encoding, paths, days, 9, filter, PathDays.Independent);
        double start = double.Parse(sampler.DataMetadata["last_train_close"], CultureInfo.InvariantCulture);
        var (metadata, path, day, logReturn, price) = ReadParquet(In("paths.parquet"), rowGroups);
        Assert.That(path, Has.Length.EqualTo(paths * days));
        for (int p = 0; p < paths; p++)
        {
            var prices = MarketImages.Prices(start, expected[p]);
            for (int d = 0; d < days; d++)
            {
                int i = p * days + d;
                if ((path[i], day[i]) != (p, d + 1)) Assert.That((path[i], day[i]), Is.EqualTo((p, d + 1)));
                if (logReturn[i] != expected[p][d]) Assert.That(logReturn[i], Is.EqualTo(expected[p][d]), $"path {p} day {d + 1}");
                if (price[i] != prices[d + 1]) Assert.That(price[i], Is.EqualTo(prices[d + 1]), $"path {p} day {d + 1}");
            }
        }
        Assert.That(metadata["fingen.start_price"], Is.EqualTo(sampler.DataMetadata["last_train_close"]));
        Assert.That(metadata["fingen.seed"], Is.EqualTo("9"));
        Assert.That(r.Out, Does.Contain("the last training close"));
        Assert.That(r.Out, Does.Contain($"{(rowGroups == 1 ? "1 row group" : $"{rowGroups} row groups")}; ").And.Contain(" time: generation ").And.Contain("writing Parquet"), "the time breakdown");

        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", In("paths.parquet")), "already exists");
        // The writer itself never replaces a file either, and leaves nothing behind when it fails.
        File.WriteAllText(In("mine.parquet"), "precious");
        Assert.Throws<FinGenException>(() => ReturnPathsParquet.Write(In("mine.parquet"), new ReturnPathStream(sampler, encoding, 4, 61, 9, filter, PathDays.Independent),
            start, new Dictionary<string, string>()));
        Assert.That(File.ReadAllText(In("mine.parquet")), Is.EqualTo("precious"));
        Assert.That(Directory.GetFiles(_dir).Where(f => FinGen.Native.IO.AtomicFile.IsTempName(Path.GetFileName(f))), Is.Empty);
    }

    private static (Dictionary<string, string> Metadata, int[] Path, int[] Day, double[] LogReturn, double[] Price) ReadParquet(string file, int rowGroups = 1) =>
        ReadParquetAsync(file, rowGroups).GetAwaiter().GetResult();

    private static async Task<(Dictionary<string, string>, int[], int[], double[], double[])> ReadParquetAsync(string file, int rowGroups)
    {
        await using var reader = await ParquetReader.CreateAsync(file);
        Assert.That(reader.Schema.GetDataFields().Select(f => (f.Name, f.ClrType)),
            Is.EqualTo(new[] { ("path", typeof(int)), ("day", typeof(int)), ("log_return", typeof(double)), ("price", typeof(double)) }));
        Assert.That(reader.RowGroupCount, Is.EqualTo(rowGroups));
        var (path, day, logReturn, price) = (new List<int>(), new List<int>(), new List<double>(), new List<double>());
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int rows = checked((int)group.RowCount);
            var (p, d, r, v) = (new int[rows], new int[rows], new double[rows], new double[rows]);
            await group.ReadAsync<int>(ReturnPathsParquet.PathField, p);
            await group.ReadAsync<int>(ReturnPathsParquet.DayField, d);
            await group.ReadAsync<double>(ReturnPathsParquet.LogReturnField, r);
            await group.ReadAsync<double>(ReturnPathsParquet.PriceField, v);
            (path, day, logReturn, price) = ([.. path, .. p], [.. day, .. d], [.. logReturn, .. r], [.. price, .. v]);
        }
        return (reader.CustomMetadata.ToDictionary(), path.ToArray(), day.ToArray(), logReturn.ToArray(), price.ToArray());
    }

    [Test]
    public void EveryMalformedDataOptionGetsOneLine()
    {
        string data = GappyPanel();
        string Out() => In("out");
        AssertOneLineError(Fingen("train", "--data", data, "--column", "XYZ", "--out", Out()), "header has no 'XYZ' column (names are case-insensitive); columns found: 'date', 'AA', 'KO', 'MSFT'");
        AssertOneLineError(Fingen("train", "--data", data, "--columns", "AA,aa", "--out", Out()), "--columns: 'aa' is given twice");
        AssertOneLineError(Fingen("train", "--data", data, "--columns", "AA,", "--out", Out()), "a column name is empty");
        AssertOneLineError(Fingen("train", "--data", data, "--column", "AA", "--columns", "KO", "--out", Out()), "--column and --columns cannot be used together");
        AssertOneLineError(Fingen("train", "--data", data, "--columns", "AA,KO", "--out", Out()), "1 row has a missing value");
        AssertOneLineError(Fingen("train", "--data", data, "--stride", "0", "--out", Out()), "--stride must be at least 1, got 0");
        AssertOneLineError(Fingen("train", "--data", "mnist", "--columns", "AA,KO", "--out", Out()), "mnist is images");
        AssertOneLineError(Fingen("train", "--data", "mnist", "--stride", "2", "--out", Out()), "mnist is images");
        var usage = Fingen("train", "--na", "fill", "--out", Out());
        AssertOneLineError(usage, "fill");
        Assert.That(usage.Code, Is.EqualTo(2));

        File.WriteAllText(In("leading.csv"), "date,AA\n2000-01-03,NA\n2000-01-04,1\n");
        AssertOneLineError(Fingen("train", "--data", In("leading.csv"), "--column", "AA", "--na", "ffill", "--out", Out()), "line 2, column 2: 'AA' is missing and there is no earlier price");
        Assert.That(Directory.Exists(Out()), Is.False, "nothing is created for bad input");
    }

    [Test]
    public void ParquetOutputNeedsAPriceModelAndItsOwnOptions()
    {
        Train("--data", "mnist", "--model", "vae", "--out", In("vae"));
        string checkpoint = In("vae/checkpoint.safetensors");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--paths", "2", "--out", In("p.parquet")), "trained on images");
        Assert.That(Directory.GetFiles(_dir), Is.Empty, "no file, not even a temporary one");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--count", "2", "--out", In("p.parquet")), "--count does not apply to .parquet");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--paths", "2", "--out", In("p.csv")), "--paths applies to --out FILE.parquet");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--length", "2"), "--length applies to --out FILE.parquet");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--paths", "0", "--out", In("p.parquet")), "--paths must be at least 1");
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--out", In("p.txt")), ".csv or .png file name, or .parquet");
    }

    [Test]
    public void AConditionalModelTrainsSamplesAndRollsOutFromTheCommandLine()
    {
        string log = Train("--condition", "realized-vol", "--out", In("run"));
        Assert.That(log, Does.Contain("condition realized-vol"));
        string checkpoint = In("run/checkpoint.safetensors");
        var r = Fingen("sample", "--checkpoint", checkpoint, "--paths", "3", "--length", "40", "--seed", "9", "--out", In("paths.parquet"));
        Assert.That(r.Code, Is.Zero, r.Error);
        using (var sampler = Sampler.Load(checkpoint))
        {
            Assert.That(sampler.Config.ConditionWidth, Is.EqualTo(3));
            var condition = sampler.Condition!;
            var expected = DataSets.ConditionalReturnPaths(sampler, DataSets.EncodingOf(sampler.DataMetadata)!, condition, condition.History, 3, 40, 9,
                VolatilityFilter.FromMetadata(sampler.DataMetadata));
            var (_, _, _, logReturn, _) = ReadParquet(In("paths.parquet"));
            Assert.That(logReturn, Is.EqualTo(expected.SelectMany(p => p).ToArray()).Within(1e-12));
        }
        var csv = Fingen("sample", "--checkpoint", checkpoint, "--count", "3");
        Assert.That(csv.Code, Is.Zero, csv.Error);
        Assert.That(csv.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(4));
        AssertOneLineError(Fingen("sample", "--checkpoint", checkpoint, "--path-days", "independent", "--out", In("other.parquet")), "does not apply to a conditional model");
        AssertOneLineError(Fingen("train", "--model", "dcgan", "--condition", "realized-vol", "--steps", "1", "--out", In("dcgan")), "--condition applies to --model gan or vae");
        AssertOneLineError(Fingen("train", "--data", "mnist", "--condition", "realized-vol", "--steps", "1", "--out", In("mnist")), "apply to price data");
    }
}
