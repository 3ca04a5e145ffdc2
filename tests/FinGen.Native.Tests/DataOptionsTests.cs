using System.Globalization;
using System.Text;
using FinGen.Native.Data;

namespace FinGen.Native.Tests;

/// <summary>Column choice, missing-value policies, window stride and panels: the loader and DataSets.</summary>
[TestFixture]
public sealed class DataOptionsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-dataoptions-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    private static string AssertUserError(TestDelegate action, params string[] fragments)
    {
        var message = Assert.Throws<FinGenException>(action)!.Message;
        Assert.That(message, Does.Not.Contain("\n").And.Not.Contain("\r"), "one line");
        foreach (var f in fragments) Assert.That(message, Does.Contain(f));
        return message;
    }

    private static DataOptions Columns(params string[] names) => new() { Columns = names };

    /// <summary>A panel of <paramref name="columns"/> seeded random walks over <paramref name="rows"/> days.</summary>
    internal static string PanelCsv(int rows, string[] columns, int seed)
    {
        var rng = new Random(seed);
        var prices = columns.Select(_ => 100.0).ToArray();
        var sb = new StringBuilder("date," + string.Join(',', columns) + "\n");
        var day = new DateOnly(2010, 1, 4);
        for (int i = 0; i < rows; i++)
        {
            sb.Append(day.AddDays(i).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            for (int c = 0; c < prices.Length; c++)
            {
                prices[c] *= Math.Exp(0.02 * (rng.NextDouble() - 0.5));
                sb.Append(',').Append(prices[c].ToString("R", CultureInfo.InvariantCulture));
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    // ---------------------------------------------------------------- malformed input

    [Test]
    public void UnknownColumnListsTheHeadersColumns()
    {
        var p = Write("panel.csv", "date,AA,KO\n2000-01-03,1,2\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, Columns("AA", "XYZ")), p, "line 1", "header has no 'XYZ' column", "columns found: 'date', 'AA', 'KO'");
        AssertUserError(() => PriceCsv.LoadPanel(p, DataOptions.Default), "no 'close' column", "columns found: 'date', 'AA', 'KO'", "--column NAME");
    }

    [Test]
    public void AColumnTheHeaderHasTwiceIsNamed()
    {
        var p = Write("twice.csv", "date,AA,aa\n2000-01-03,1,2\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, Columns("AA")), "column 'AA' appears twice in the header (columns 2 and 3)");
    }

    [TestCase("AA,aa", "'aa' is given twice")]
    [TestCase("AA,,KO", "a column name is empty")]
    [TestCase("AA,Date", "'date' is the date column")]
    public void BadColumnListsAreRefused(string value, string expected) =>
        AssertUserError(() => DataOptions.ParseColumns(value), "--columns", expected);

    [Test]
    public void StrideBelowOneIsRefused()
    {
        AssertUserError(() => new DataOptions { Stride = 0 }.Validate(), "--stride must be at least 1, got 0");
        AssertUserError(() => DataSets.Load(DataSets.Sp500, new DataOptions { Stride = -2 }), "--stride must be at least 1, got -2");
    }

    [Test]
    public void PriceOptionsWithMnistAreRefused()
    {
        AssertUserError(() => DataSets.Load(DataSets.Mnist, Columns("close")), "mnist is images", "--columns");
        AssertUserError(() => DataSets.Load(DataSets.Mnist, new DataOptions { Stride = 2 }), "mnist is images");
        AssertUserError(() => DataSets.Load(DataSets.Mnist, new DataOptions { Missing = MissingValues.Drop }), "mnist is images");
    }

    [Test]
    public void ALeadingGapCannotBeForwardFilled()
    {
        var p = Write("leading.csv", "date,AA,KO\n2000-01-03,1,NA\n2000-01-04,1,2\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, new DataOptions { Columns = ["AA", "KO"], Missing = MissingValues.ForwardFill }),
            p, "line 2, column 3", "'KO' is missing and there is no earlier price to carry forward");
    }

    [TestCase(MissingValues.Drop)]
    [TestCase(MissingValues.ForwardFill)]
    public void AMissingDateIsAnErrorWhateverThePolicy(MissingValues policy)
    {
        var p = Write("nodate.csv", "date,close\n2000-01-03,1\n,2\n2000-01-05,3\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, new DataOptions { Missing = policy }), "line 3, column 1", "the date is missing");
    }

    [Test]
    public void TheDefaultPolicyCountsRowsOverAllChosenColumns()
    {
        var p = Write("na.csv", "date,AA,x,KO\n2000-01-03,1,NA,2\n2000-01-04,1,1,NA\n2000-01-05,NA,1,#N/A\n2000-01-06,1,1,1\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, Columns("AA", "KO")),
            "2 rows have a missing value", "one of the 2 chosen columns", "first at line 3, column 4 ('KO')", "--na drop", "--na ffill");
        // The ignored column 'x' may be missing; a chosen one may not.
        AssertUserError(() => PriceCsv.LoadPanel(p, Columns("KO")), "2 rows have a missing value (NA or empty) in 'date' or 'KO'");
    }

    [Test]
    public void DroppingEveryRowSaysSo()
    {
        var p = Write("allna.csv", "date,close\n2000-01-03,NA\n2000-01-04,\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, new DataOptions { Missing = MissingValues.Drop }), "every one of the 2 data rows", "left nothing");
    }

    [Test]
    public void BadCellsAreStillErrorsInRowsThatAreDropped()
    {
        var p = Write("dropbad.csv", "date,AA,KO\n2000-01-03,1,2\n2000-01-04,NA,abc\n");
        AssertUserError(() => PriceCsv.LoadPanel(p, new DataOptions { Columns = ["AA", "KO"], Missing = MissingValues.Drop }), "line 3, column 3: KO 'abc' is not a number");
    }

    // ---------------------------------------------------------------- drop and ffill by hand

    private const string Gappy =
        "date,AA,x,KO\n" +      // line 1
        "2000-01-03,10,a,20\n" + // line 2
        "2000-01-04,NA,b,21\n" + // line 3: AA missing
        "2000-01-05,12,c,\n" +   // line 4: KO missing
        "2000-01-06,13,d,23\n" + // line 5
        "2000-01-07,N/A,e,null\n" + // line 6: both missing
        "2000-01-10,15,f,25\n";  // line 7

    [Test]
    public void DropRemovesRowsWhereAnyChosenColumnIsMissing()
    {
        var panel = PriceCsv.LoadPanel(Write("gappy.csv", Gappy), new DataOptions { Columns = ["aa", "KO"], Missing = MissingValues.Drop });
        Assert.That(panel.Columns, Is.EqualTo(new[] { "AA", "KO" }), "the header's spelling");
        Assert.That(panel.Dates, Is.EqualTo(new[] { new DateOnly(2000, 1, 3), new DateOnly(2000, 1, 6), new DateOnly(2000, 1, 10) }));
        Assert.That(panel.Prices[0], Is.EqualTo(new[] { 10.0, 13, 15 }));
        Assert.That(panel.Prices[1], Is.EqualTo(new[] { 20.0, 23, 25 }));
        Assert.That(panel.Missing.Cells, Is.EqualTo(4));
        Assert.That(panel.Missing.DroppedRows, Is.EqualTo(3));
        Assert.That(panel.Missing.ToString(), Is.EqualTo("4 missing cells in 2 columns, 2 in 'AA' (first at line 3), 2 in 'KO' (first at line 4): dropped 3 rows"));

        var one = PriceCsv.LoadPanel(Write("gappy1.csv", Gappy), new DataOptions { Columns = ["KO"], Missing = MissingValues.Drop });
        Assert.That(one.Prices[0], Is.EqualTo(new[] { 20.0, 21, 23, 25 }), "only KO's gaps count");
        Assert.That(one.Missing.ToString(), Is.EqualTo("2 missing cells in 'KO' (first at line 4): dropped 2 rows"));
    }

    [Test]
    public void ForwardFillCarriesEachColumnsLastPrice()
    {
        var panel = PriceCsv.LoadPanel(Write("gappy.csv", Gappy), new DataOptions { Columns = ["AA", "KO"], Missing = MissingValues.ForwardFill });
        Assert.That(panel.Count, Is.EqualTo(6));
        Assert.That(panel.Prices[0], Is.EqualTo(new[] { 10.0, 10, 12, 13, 13, 15 }));
        Assert.That(panel.Prices[1], Is.EqualTo(new[] { 20.0, 21, 21, 23, 23, 25 }));
        Assert.That(panel.Missing.ToString(), Is.EqualTo("4 missing cells in 2 columns, 2 in 'AA' (first at line 3), 2 in 'KO' (first at line 4): forward-filled"));
        Assert.That(new MissingReport(MissingValues.ForwardFill, [new MissingColumn("close", 42, 130)], 0).ToString(),
            Is.EqualTo("42 missing cells in 'close' (first at line 130): forward-filled"));
        Assert.That(MissingReport.None(MissingValues.Drop).ToString(), Is.Empty);
    }

    [Test]
    public void TheRealSwissSectorGapsAreReported()
    {
        // The repository's copy of the shared data folder's file (data/README in the main README names its source).
        string path = Path.Combine(Repository.Root, "data", "spi_sectors_daily_2000_2008.csv");
        var filled = PriceCsv.LoadPanel(path, new DataOptions { Columns = ["SPI", "BASI"], Missing = MissingValues.ForwardFill });
        Assert.That(filled.Missing.Columns.Select(c => (c.Column, c.Cells, c.FirstLine)), Is.EqualTo(new[] { ("SPI", 16, 2184), ("BASI", 1, 523) }));
        Assert.That(filled.Count, Is.EqualTo(2216));
        var dropped = PriceCsv.LoadPanel(path, new DataOptions { Columns = ["SPI", "BASI"], Missing = MissingValues.Drop });
        Assert.That(dropped.Count, Is.EqualTo(2216 - 17));
    }

    [Test]
    public void AnotherColumnOfTheEmbeddedSp500CanBeChosen()
    {
        var adjusted = EmbeddedData.Sp500(Columns("AdjClose"));
        Assert.That(adjusted.Columns, Is.EqualTo(new[] { "adjclose" }));
        Assert.That(adjusted.Prices[0], Is.EqualTo(EmbeddedData.Sp500().Closes), "the index's adjclose equals its close");
        var open = EmbeddedData.Sp500(Columns("open"));
        Assert.That(open.Prices[0][0], Is.EqualTo(1469.25));
    }

    // ---------------------------------------------------------------- panels and stride

    [Test]
    public void APanelSplitsEveryColumnAtTheSameDateAndPoolsItsWindows()
    {
        string[] names = ["AA", "KO", "MSFT"];
        var p = Write("panel.csv", PanelCsv(300, names, seed: 5));
        foreach (int stride in new[] { 1, 3 })
        {
            var pooled = DataSets.Load(p, new DataOptions { Columns = names, Stride = stride });
            var panel = PriceCsv.LoadPanel(p, Columns(names));
            var trains = new List<float[]>();
            foreach (var name in names)
            {
                var alone = DataSets.Load(p, new DataOptions { Columns = [name], Stride = stride });
                Assert.That(alone.Metadata["train_last_date"], Is.EqualTo(pooled.Metadata["train_last_date"]), name);
                Assert.That(alone.Metadata["train_returns"], Is.EqualTo(pooled.Metadata["train_returns"]), name);
                Assert.That(alone.Metadata["held_out_returns"], Is.EqualTo(pooled.Metadata["held_out_returns"]), name);
                trains.Add(MarketImages.SplitByTime(MarketImages.LogReturns(panel.Series(Array.IndexOf(names, name))), DataSets.HeldOutFraction).train);
            }
            int perColumn = (trains[0].Length - DataSets.WindowLength) / stride + 1;
            Assert.That(pooled.Count, Is.EqualTo(names.Length * perColumn), $"stride {stride}: Σ per-column windows");

            // Bounds from the pooled training returns; column c's windows are block c of the samples.
            var encoding = ImageEncodings.Fit("gasf", trains.SelectMany(t => t).ToArray(), DataSets.WindowLength);
            Assert.That(pooled.Metadata["lower"], Is.EqualTo(encoding.ToMetadata()["lower"]));
            Assert.That(pooled.Metadata["upper"], Is.EqualTo(encoding.ToMetadata()["upper"]));
            for (int c = 0; c < names.Length; c++)
            {
                var (images, count) = MarketImages.EncodeWindows(trains[c], encoding, stride);
                Assert.That(count, Is.EqualTo(perColumn));
                Assert.That(pooled.Samples.AsSpan(c * perColumn * 784, count * 784).SequenceEqual(images), $"column {names[c]}, stride {stride}");
            }
            Assert.That(pooled.Metadata.ContainsKey("last_train_close"), Is.False, "a pooled model has no one start price");
        }
    }

    [Test]
    public void OneColumnLoadsAsBeforeAndRecordsItsOptions()
    {
        var plain = DataSets.Load(DataSets.Sp500);
        var explicitDefault = DataSets.Load(DataSets.Sp500, DataOptions.Default);
        var fromPrices = DataSets.FromPrices(EmbeddedData.Sp500());
        Assert.That(plain.Samples, Is.EqualTo(fromPrices.Samples));
        Assert.That(explicitDefault.Metadata, Is.EquivalentTo(plain.Metadata));
        Assert.That(plain.Metadata[DataOptions.ColumnsKey], Is.EqualTo("[\"close\"]"));
        Assert.That(plain.Metadata[DataOptions.MissingKey], Is.EqualTo("error"));
        Assert.That(plain.Metadata[DataOptions.StrideKey], Is.EqualTo("1"));
        Assert.That(plain.Metadata.ContainsKey(DataSets.MissingKey), Is.False, "nothing was missing");

        var strided = DataSets.Load(DataSets.Sp500, new DataOptions { Stride = 5 });
        int trainReturns = int.Parse(plain.Metadata["train_returns"], CultureInfo.InvariantCulture);
        Assert.That(strided.Count, Is.EqualTo((trainReturns - 28) / 5 + 1));
        Assert.That(strided.Row(3).SequenceEqual(plain.Row(15)));
        Assert.That(strided.Metadata[DataOptions.StrideKey], Is.EqualTo("5"));
    }

    [Test]
    public void MissingCellsAreRecordedInTheMetadata()
    {
        var p = Write("gappy.csv", Gappy.TrimEnd('\n') + "\n" + string.Concat(Enumerable.Range(0, 60).Select(i => $"{new DateOnly(2000, 2, 1).AddDays(i):yyyy-MM-dd},{16 + i % 3},g,{26 + i % 5}\n")));
        var data = DataSets.Load(p, new DataOptions { Columns = ["AA", "KO"], Missing = MissingValues.ForwardFill });
        Assert.That(data.Metadata[DataSets.MissingKey], Does.StartWith("4 missing cells in 2 columns").And.EndWith("forward-filled"));
        Assert.That(DataOptions.FromMetadata(data.Metadata), Is.EqualTo(new DataOptions { Columns = ["AA", "KO"], Missing = MissingValues.ForwardFill }));
    }

    // ---------------------------------------------------------------- metadata

    [Test]
    public void OptionsRoundTripThroughMetadata()
    {
        var options = new DataOptions { Columns = ["AA", "Zürich \"close\", adj"], Missing = MissingValues.Drop, Stride = 7 };
        var metadata = options.ToMetadata(options.Columns);
        Assert.That(DataOptions.FromMetadata(metadata), Is.EqualTo(options));
        Assert.That(DataOptions.FromMetadata(new Dictionary<string, string>()), Is.EqualTo(DataOptions.Default), "a checkpoint from before the options");
        Assert.That(options.ToString(), Is.EqualTo("columns 'AA', 'Zürich \"close\", adj'; na drop; stride 7; window 28; transform none; encoding gasf"));
    }

    [TestCase("columns", "AA,KO", "not a JSON array")]
    [TestCase("columns", "[]", "not a JSON array")]
    [TestCase("na", "fill", "--na 'fill' is not one of error, drop, ffill")]
    [TestCase("stride", "0", "stride '0' is not an integer of at least 1")]
    [TestCase("stride", "x", "stride 'x'")]
    public void BadOptionMetadataIsRefused(string key, string value, string expected) =>
        AssertUserError(() => DataOptions.FromMetadata(new Dictionary<string, string> { [key] = value }), expected);
}
