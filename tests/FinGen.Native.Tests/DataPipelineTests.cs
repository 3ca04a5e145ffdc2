using FinGen.Cli;
using FinGen.Native.Checkpoints;
using FinGen.Native.Data;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>
/// The window length, return transform and encoding options from the price file to the checkpoint and back:
/// each encoding trains, the transform is inverted when decoding, and resume refuses a different encoding.
/// </summary>
[TestFixture]
public sealed class DataPipelineTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-pipeline-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static PricePanel Sp500 => EmbeddedData.Sp500(DataOptions.Default);

    [TestCase("gasf", 28, 28, 28)]
    [TestCase("gadf", 16, 16, 16)]
    [TestCase("mtf", 20, 20, 20)]
    [TestCase("recurrence", 28, 28, 28)]
    [TestCase("raw", 784, 28, 28)]
    [TestCase("raw", 30, 1, 30)]
    public void EveryEncodingMakesTrainingImagesAndRecordsItsOptions(string encoding, int window, int height, int width)
    {
        var options = new DataOptions { Encoding = encoding, Window = window, Stride = 7 };
        var data = DataSets.FromPanel(Sp500, options);
        Assert.That(data.Width, Is.EqualTo(height * width));
        int trainReturns = int.Parse(data.Metadata["train_returns"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(data.Count, Is.EqualTo((trainReturns - window) / 7 + 1));
        Assert.That(data.Samples, Has.All.InRange(0f, 1f));
        Assert.That(DataOptions.FromMetadata(data.Metadata), Is.EqualTo(options with { Columns = ["close"] }), "the metadata names the column used");
        var rebuilt = DataSets.EncodingOf(data.Metadata)!;
        Assert.That((rebuilt.Name, rebuilt.WindowLength, rebuilt.Height, rebuilt.Width), Is.EqualTo((encoding, window, height, width)));
    }

    [TestCase("robust")]
    [TestCase("lambert-w")]
    public void TheTransformIsFittedOnTrainingReturnsAndInvertedWhenDecoding(string transform)
    {
        var options = new DataOptions { Encoding = "raw", Window = 28, Transform = DataOptions.ParseTransform(transform) };
        var data = DataSets.FromPanel(Sp500, options);
        Assert.That(data.Metadata["transform"], Is.EqualTo(transform));
        var encoding = DataSets.EncodingOf(data.Metadata);
        Assert.That(encoding, Is.InstanceOf<PreprocessedEncoding>());
        var preprocessing = ((PreprocessedEncoding)encoding!).Preprocessing;
        if (transform == "robust") Assert.That(preprocessing.Delta, Is.Zero);
        else Assert.That(preprocessing.Delta, Is.GreaterThan(0.05), "S&P daily returns are heavy-tailed");

        // The first training window, decoded from its image, is the first 28 real returns (the raw encoding is
        // exact; only returns beyond the raw bounds would be clipped, and this window has none).
        var real = MarketImages.LogReturns(Sp500.Series(0)).AsSpan(0, 28).ToArray();
        var decoded = new float[28];
        encoding.Decode(data.Row(0), decoded);
        Compare.Close(decoded, real, 2e-6, 1e-4, "decoded returns");
        // The image is of the transformed returns, not the raw ones: they are about unit scale.
        var direct = ImageEncodings.Fit("raw", MarketImages.LogReturns(Sp500.Series(0)), 28);
        var untransformed = new float[28]; // raw windows of 28 are 1×28 images
        direct.Encode(real, untransformed);
        Assert.That(data.Row(0).ToArray(), Is.Not.EqualTo(untransformed));
    }

    [Test]
    public void BadWindowAndEncodingValuesAreOneLineErrors()
    {
        Assert.That(Assert.Throws<FinGenException>(() => new DataOptions { Window = 1 }.Validate())!.Message, Does.Contain("--window must be between 2"));
        Assert.That(Assert.Throws<FinGenException>(() => new DataOptions { Encoding = "jpeg" }.Validate())!.Message, Does.Contain("gasf, gadf, mtf, recurrence, raw"));
        Assert.That(Assert.Throws<FinGenException>(() => DataOptions.ParseTransform("log"))!.Message, Does.Contain("none, robust, lambert-w"));
        Assert.That(Assert.Throws<FinGenException>(() => DataSets.Load(DataSets.Mnist, new DataOptions { Encoding = "mtf" }))!.Message, Does.Contain("apply to price data"));
    }

    [Test]
    public void TrainRecordsTheEncodingAndResumeRefusesAnother()
    {
        string run = Path.Combine(_dir, "run");
        var first = Fingen("train", "--steps", "2", "--batch", "8", "--encoding", "mtf", "--window", "20", "--transform", "lambert-w", "--out", run);
        Assert.That(first.Code, Is.Zero, first.Error);
        Assert.That(first.Out, Does.Contain("window 20; transform lambert-w; encoding mtf"));
        string checkpoint = Path.Combine(run, Checkpoint.FileName);
        Assert.That(DataOptions.FromMetadata(Checkpoint.Read(checkpoint).Data).Encoding, Is.EqualTo("mtf"));

        // Resuming keeps the checkpoint's options...
        var resumed = Fingen("train", "--steps", "1", "--resume", checkpoint, "--out", Path.Combine(_dir, "resumed"));
        Assert.That(resumed.Code, Is.Zero, resumed.Error);
        // ...and a different encoding would feed the model images it never learned.
        var other = Fingen("train", "--steps", "1", "--resume", checkpoint, "--encoding", "gasf", "--window", "28", "--out", Path.Combine(_dir, "other"));
        Assert.That(other.Code, Is.Not.Zero);
        Assert.That(other.Error.Trim().Split('\n'), Has.Length.EqualTo(1), other.Error);
        Assert.That(other.Error, Does.Contain("the checkpoint was trained with"));
    }
}

/// <summary><c>--date-column</c>: a price file whose date column has another name (R's EuStockMarkets export).</summary>
[TestFixture]
public sealed class DateColumnTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-datecol-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string EuStocks(int rows)
    {
        // The header of /work/shared/data/eu_stock_markets_daily_1991_1998.csv, with made-up prices.
        var lines = new List<string> { "obs,ts_time,approx_date,DAX,SMI,CAC,FTSE" };
        var rng = new System.Random(3);
        double dax = 1600;
        var day = new DateOnly(1991, 7, 1);
        for (int i = 1; i <= rows; i++, day = day.AddDays(1))
        {
            dax *= Math.Exp(0.01 * (rng.NextDouble() - 0.5));
            lines.Add(FormattableString.Invariant($"{i},{1991.5 + i / 260.0},{day:yyyy-MM-dd},{dax:F2},1700,1800,2400"));
        }
        string path = Path.Combine(_dir, "eu.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Test]
    public void AFileWithoutADateColumnNamesTheOptionInItsError()
    {
        var e = Assert.Throws<FinGenException>(() => DataSets.Load(EuStocks(200), new DataOptions { Columns = ["DAX"] }));
        Assert.That(e!.Message, Does.Contain("header has no 'date' column").And.Contain("--date-column"));
    }

    [Test]
    public void TheDateColumnIsUsedAndRecorded()
    {
        var options = new DataOptions { Columns = ["dax"], DateColumn = "APPROX_DATE" };
        var data = DataSets.Load(EuStocks(200), options);
        Assert.That(data.Metadata["train_first_date"], Is.EqualTo("1991-07-02"), "the first return's date: the second price day's");
        var rebuilt = DataOptions.FromMetadata(data.Metadata);
        Assert.That(rebuilt.DateColumn, Is.EqualTo("APPROX_DATE"));
        Assert.That(rebuilt, Is.EqualTo(options with { Columns = ["DAX"] }), "the date column's name is compared case-insensitively");
        Assert.That(rebuilt.ToString(), Does.Contain("date column 'APPROX_DATE'"));
        var e = Assert.Throws<FinGenException>(() => new DataOptions { Columns = ["approx_date"], DateColumn = "approx_date" }.Validate());
        Assert.That(e!.Message, Does.Contain("is the date column"));
    }

    [Test]
    public void TrainTakesTheOption()
    {
        var run = Fingen("train", "--steps", "2", "--batch", "8", "--data", EuStocks(200), "--column", "DAX",
            "--date-column", "approx_date", "--out", Path.Combine(_dir, "run"));
        Assert.That(run.Code, Is.Zero, run.Error);
        Assert.That(run.Out, Does.Contain("column 'DAX'; date column 'approx_date'"));
    }
}
