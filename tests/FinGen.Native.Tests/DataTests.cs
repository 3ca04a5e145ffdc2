using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using FinGen.Native.Data;
using NUnit.Framework;

namespace FinGen.Native.Tests;

[TestFixture]
public class DataTests
{
    string _dir = "";

    [OneTimeSetUp]
    public void CreateTempDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "fingen-datatests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [OneTimeTearDown]
    public void DeleteTempDir()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    /// <summary>Asserts a one-line FinGenException whose message contains every fragment.</summary>
    static string AssertUserError(TestDelegate action, params string[] fragments)
    {
        var ex = Assert.Throws<FinGenException>(action);
        var message = ex!.Message;
        Assert.That(message, Does.Not.Contain("\n").And.Not.Contain("\r"), "message must be one line");
        foreach (var f in fragments) Assert.That(message, Does.Contain(f));
        return message;
    }

    // ---------------------------------------------------------------- prices

    [Test]
    public void EmbeddedSp500Loads()
    {
        var s = EmbeddedData.Sp500();
        Assert.That(s.Count, Is.EqualTo(5105));
        Assert.That(s.Dates, Has.Length.EqualTo(5105));
        Assert.That(s.Closes[0], Is.EqualTo(1455.219971));
        Assert.That(s.Dates[0], Is.EqualTo(new DateOnly(2000, 1, 3)));
        Assert.That(s.Dates[^1], Is.EqualTo(new DateOnly(2020, 4, 17)));
        Assert.That(s.Closes[^1], Is.EqualTo(2874.560059));
        Assert.That(s.Source, Is.EqualTo(EmbeddedData.Sp500SourceName));
        for (int i = 1; i < s.Count; i++) Assert.That(s.Dates[i], Is.GreaterThan(s.Dates[i - 1]));
    }

    [Test]
    public void RepositoryFileLoadsLikeEmbedded()
    {
        var path = Path.Combine(RepoDataDir(), "sp500_ohlcv_daily_2000_2020.csv");
        var s = PriceCsv.Load(path);
        Assert.That(s.Source, Is.EqualTo(path));
        Assert.That(s.Closes, Is.EqualTo(EmbeddedData.Sp500().Closes));
    }

    static string RepoDataDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "data", "sp500_ohlcv_daily_2000_2020.csv");
            if (File.Exists(candidate)) return Path.GetDirectoryName(candidate)!;
        }
        const string fallback = "/work/main/data";
        if (Directory.Exists(fallback)) return fallback;
        Assert.Ignore("repository data directory not found");
        return "";
    }

    [Test]
    public void LogReturnsHaveLengthNMinus1AndMatchHandComputed()
    {
        var s = EmbeddedData.Sp500();
        var r = MarketImages.LogReturns(s);
        Assert.That(r, Has.Length.EqualTo(s.Count - 1));
        // ln(1399.420044 / 1455.219971), 2000-01-03 -> 2000-01-04
        Assert.That(r[0], Is.EqualTo(-0.03909917550586638).Within(1e-7));
        Assert.That(r[^1], Is.EqualTo(Math.Log(2874.560059 / 2799.550049)).Within(1e-7));

        var tiny = new PriceSeries("t", [new DateOnly(2020, 1, 1), new DateOnly(2020, 1, 2), new DateOnly(2020, 1, 3)], [100, 110, 99]);
        Assert.That(MarketImages.LogReturns(tiny), Is.EqualTo(new[] { (float)Math.Log(1.1), (float)Math.Log(0.9) }));
    }

    [Test]
    public void AcceptsHeaderCaseExtraColumnsDateFormatsQuotesCrLfBlankLinesAndBom()
    {
        var path = Write("flexible.csv",
            "\uFEFFSymbol, Close ,Volume,DATE\r\n" +
            "X,\"10.5\",1,2001-02-03\r\n" +
            "\r\n" +
            "X, 11 ,2,2001/02/04\r\n" +
            "X,1.2e1,3,02/05/2001\r\n");
        var s = PriceCsv.Load(path);
        Assert.That(s.Dates, Is.EqualTo(new[] { new DateOnly(2001, 2, 3), new DateOnly(2001, 2, 4), new DateOnly(2001, 2, 5) }));
        Assert.That(s.Closes, Is.EqualTo(new[] { 10.5, 11.0, 12.0 }));
    }

    [Test]
    public void LoadsFromTextReaderAndGzipFile()
    {
        const string csv = "date,close\n2020-01-01,1\n2020-01-02,2\n";
        var s = PriceCsv.Load(new StringReader(csv), "inline");
        Assert.That(s.Source, Is.EqualTo("inline"));
        Assert.That(s.Closes, Is.EqualTo(new[] { 1.0, 2.0 }));

        var gz = Path.Combine(_dir, "prices.csv.gz");
        using (var f = File.Create(gz))
        using (var z = new GZipStream(f, CompressionLevel.Fastest))
            z.Write(Encoding.UTF8.GetBytes(csv));
        Assert.That(PriceCsv.Load(gz).Closes, Is.EqualTo(new[] { 1.0, 2.0 }));
    }

    [Test]
    public void MissingFileDirectoryAndEmptyPath()
    {
        var missing = Path.Combine(_dir, "nope.csv");
        AssertUserError(() => PriceCsv.Load(missing), missing, "not found");
        AssertUserError(() => PriceCsv.Load(_dir), _dir, "directory");
        AssertUserError(() => PriceCsv.Load(""), "empty");
    }

    [Test]
    public void EmptyFile()
    {
        var p = Write("empty.csv", "");
        AssertUserError(() => PriceCsv.Load(p), p, "empty");
        var blank = Write("blank.csv", "\n\n  \n");
        AssertUserError(() => PriceCsv.Load(blank), blank, "empty");
    }

    [Test]
    public void NoHeader()
    {
        var p = Write("noheader.csv", "2000-01-03,1455.2\n2000-01-04,1399.4\n");
        AssertUserError(() => PriceCsv.Load(p), p, "line 1", "no header");
    }

    [Test]
    public void HeaderOnly()
    {
        var p = Write("headeronly.csv", "date,close\n");
        AssertUserError(() => PriceCsv.Load(p), p, "no data rows", "line 1");
    }

    [Test]
    public void MissingColumnsListTheColumnsFound()
    {
        var p = Write("noclose.csv", "date,open,adj close\n2000-01-03,1,1\n");
        AssertUserError(() => PriceCsv.Load(p), p, "line 1", "'close'", "columns found: 'date', 'open', 'adj close'");
        var q = Write("nodate.csv", "Day,Close\n2000-01-03,1\n");
        AssertUserError(() => PriceCsv.Load(q), q, "'date'", "columns found: 'Day', 'Close'");
        var r = Write("dupclose.csv", "date,close,CLOSE\n2000-01-03,1,1\n");
        AssertUserError(() => PriceCsv.Load(r), r, "'close' appears twice", "columns 2 and 3");
        var semicolon = Write("semicolon.csv", "date;close\n2000-01-03;1\n");
        AssertUserError(() => PriceCsv.Load(semicolon), semicolon, "columns found: 'date;close'", "separator must be ','");
    }

    [Test]
    public void NonNumericClose()
    {
        var p = Write("abc.csv", "date,open,close\n2000-01-03,1,1\n2000-01-04,1,abc\n");
        AssertUserError(() => PriceCsv.Load(p), p, "line 3, column 3: close 'abc' is not a number");
        var thousands = Write("thousands.csv", "date,close\n2000-01-03,\"1,455.2\"\n");
        AssertUserError(() => PriceCsv.Load(thousands), "line 2, column 2: close '1,455.2' is not a number");
    }

    [TestCase("NaN")]
    [TestCase("Infinity")]
    [TestCase("-Infinity")]
    [TestCase("1e400")]
    public void NonFiniteClose(string value)
    {
        var p = Write($"nonfinite{value.GetHashCode(StringComparison.Ordinal)}.csv", $"date,close\n2000-01-03,1\n2000-01-04,{value}\n");
        AssertUserError(() => PriceCsv.Load(p), p, "line 3, column 2", "not a finite number");
    }

    [TestCase("0")]
    [TestCase("-3.5")]
    public void NonPositiveClose(string value)
    {
        var p = Write($"nonpositive{value.Length}.csv", $"date,close\n2000-01-03,1\n2000-01-04,{value}\n");
        AssertUserError(() => PriceCsv.Load(p), p, "line 3, column 2", $"close '{value}' is not positive");
    }

    [Test]
    public void MissingValuesAreCountedAndTheFirstLineNamed()
    {
        var p = Write("na.csv",
            "date,x,close\n" +
            "2000-01-03,1,10\n" +
            "2000-01-04,1,NA\n" +   // line 3, column 3
            "2000-01-05,1,\n" +     // line 4
            "2000-01-06,1,11\n" +
            "NA,1,12\n");           // line 6 (date)
        AssertUserError(() => PriceCsv.Load(p), p, "3 rows have a missing value", "line 3, column 3 ('close')", "use --na drop");

        var one = Write("na1.csv", "date,close\n,10\n2000-01-04,11\n");
        AssertUserError(() => PriceCsv.Load(one), one, "1 row has a missing value", "line 2, column 1 ('date')");
    }

    [TestCase("2000-13-01")]
    [TestCase("2000-02-30")]
    [TestCase("3 Jan 2000")]
    [TestCase("2000-1-3")]
    [TestCase("2000-01-03T00:00:00")]
    public void UnparseableDate(string value)
    {
        var p = Write($"baddate{value.GetHashCode(StringComparison.Ordinal)}.csv", $"close,date\n1,2000-01-02\n2,{value}\n");
        AssertUserError(() => PriceCsv.Load(p), p, $"line 3, column 2: date '{value}' is not a valid date");
    }

    [Test]
    public void DatesMustBeStrictlyIncreasing()
    {
        var dup = Write("dup.csv", "date,close\n2000-01-03,1\n2000-01-04,2\n2000-01-04,3\n");
        AssertUserError(() => PriceCsv.Load(dup), dup, "line 4, column 1", "repeats", "on line 3");
        var unsorted = Write("unsorted.csv", "date,close\n2000-01-05,1\n2000-01-04,2\n");
        AssertUserError(() => PriceCsv.Load(unsorted), unsorted, "line 3, column 1", "2000-01-04 comes before the date 2000-01-05 on line 2");
    }

    [Test]
    public void RaggedRows()
    {
        var p = Write("ragged.csv", "date,close,volume\n2000-01-03,1,5\n2000-01-04,2\n");
        AssertUserError(() => PriceCsv.Load(p), p, "line 3", "expected 3 cells", "found 2");
        var q = Write("ragged2.csv", "date,close\n2000-01-03,1,5\n");
        AssertUserError(() => PriceCsv.Load(q), q, "line 2", "expected 2 cells", "found 3");
    }

    [Test]
    public void LineNumbersCountPhysicalLinesAfterQuotedNewlinesAndBlankLines()
    {
        var p = Write("multiline.csv",
            "date,note,close\n" +
            "2000-01-03,\"two\nlines\",1\n" + // lines 2-3
            "\n" +                            // line 4 (blank, skipped)
            "2000-01-04,x,oops\n");           // line 5
        AssertUserError(() => PriceCsv.Load(p), "line 5, column 3: close 'oops' is not a number");

        var leadingBlank = Write("leadingblank.csv", "\n\ndate,close\n2000-01-03,1\n2000-01-04,x\n");
        AssertUserError(() => PriceCsv.Load(leadingBlank), "line 5, column 2: close 'x' is not a number");
        var firstRow = Write("firstrow.csv", "date,close\n2000-01-03,x\n");
        AssertUserError(() => PriceCsv.Load(firstRow), "line 2, column 2: close 'x' is not a number");
    }

    [Test]
    public void RequireAtLeast()
    {
        var s = new PriceSeries("prices.csv", new DateOnly[20], new double[20]);
        var m = AssertUserError(() => PriceCsv.RequireAtLeast(s, 29, "one window of 28 log returns"));
        Assert.That(m, Is.EqualTo("prices.csv: 20 prices is too few: one window of 28 log returns needs at least 29"));
        Assert.DoesNotThrow(() => PriceCsv.RequireAtLeast(s, 20, "anything"));
    }

    // ---------------------------------------------------------------- MNIST

    [Test]
    public void EmbeddedMnistLoads()
    {
        ImageSet set;
        using (var gz = EmbeddedData.OpenMnistGz())
            set = Mnist.Load(gz, "mnist");

        Assert.That(set.Count, Is.EqualTo(10000));
        Assert.That((set.Width, set.Height), Is.EqualTo((28, 28)));
        Assert.That(set.Pixels, Has.Length.EqualTo(10000 * 784));
        Assert.That(set.Labels, Has.Length.EqualTo(10000));
        Assert.That(set.Labels[0], Is.EqualTo(0));
        Assert.That(set.Labels[^1], Is.EqualTo(9));
        Assert.That(set.Pixels.Min(), Is.EqualTo(0f));
        Assert.That(set.Pixels.Max(), Is.EqualTo(1f));
        // first row: p127 = 51, p128 = 159, p129 = 253
        Assert.That(set.Image(0)[127], Is.EqualTo(51 / 255f));
        Assert.That(set.Image(0)[129], Is.EqualTo(253 / 255f));
    }

    [Test]
    public void MnistMaxCountPlainFileAndNonSeekableStream()
    {
        using (var gz = EmbeddedData.OpenMnistGz())
        {
            var first = Mnist.Load(gz, "mnist", maxCount: 3);
            Assert.That(first.Count, Is.EqualTo(3));
            Assert.That(first.Pixels, Has.Length.EqualTo(3 * 784));
        }

        var path = Write("tiny.csv", "label,index_in_digit,p0,p1,p2,p3\n7,0,0,255,51,0\n3,1,1,2,3,4\n");
        var set = Mnist.Load(path);
        Assert.That(set.Count, Is.EqualTo(2));
        Assert.That((set.Width, set.Height), Is.EqualTo((2, 2)));
        Assert.That(set.Labels, Is.EqualTo(new[] { 7, 3 }));
        Assert.That(set.Pixels, Is.EqualTo(new[] { 0f, 1f, 51 / 255f, 0f, 1 / 255f, 2 / 255f, 3 / 255f, 4 / 255f }));

        var crlf = Write("tiny-crlf.csv", "label,p0,p1,p2,p3\r\n7,0,255,51,0\r\n\r\n3,1,2,3,4\r\n");
        var fromCrlf = Mnist.Load(crlf);
        Assert.That(fromCrlf.Labels, Is.EqualTo(new[] { 7, 3 }));
        Assert.That(fromCrlf.Pixels, Is.EqualTo(set.Pixels));

        // gzip through a stream that cannot seek
        var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(File.ReadAllBytes(path));
        using var nonSeekable = new NonSeekableStream(new MemoryStream(ms.ToArray()));
        Assert.That(Mnist.Load(nonSeekable, "pipe").Labels, Is.EqualTo(new[] { 7, 3 }));
    }

    [Test]
    public void MnistBadInputs()
    {
        AssertUserError(() => Mnist.Load(Path.Combine(_dir, "none.csv.gz")), "none.csv.gz", "not found");

        var empty = Write("m-empty.csv", "");
        AssertUserError(() => Mnist.Load(empty), empty, "empty");

        var noHeader = Write("m-noheader.csv", "7,0,0,255,51,0\n");
        AssertUserError(() => Mnist.Load(noHeader), noHeader, "line 1", "no header");

        var badName = Write("m-badname.csv", "label,index_in_digit,p0,p1,p3,p2\n7,0,0,255,51,0\n");
        AssertUserError(() => Mnist.Load(badName), badName, "line 1, column 5", "'p3' where 'p2' was expected");

        var notSquare = Write("m-square.csv", "label,p0,p1,p2\n7,0,1,2\n");
        AssertUserError(() => Mnist.Load(notSquare), notSquare, "3 pixel columns", "square");

        var big = Write("m-256.csv", "label,index_in_digit,p0,p1,p2,p3\n7,0,0,255,51,0\n3,1,1,2,256,4\n");
        AssertUserError(() => Mnist.Load(big), big, "line 3, column 5 (p2): pixel '256' is not an integer in 0..255");

        var frac = Write("m-frac.csv", "label,index_in_digit,p0,p1,p2,p3\n7,0,0,0.5,51,0\n");
        AssertUserError(() => Mnist.Load(frac), frac, "line 2, column 4 (p1): pixel '0.5'");

        var neg = Write("m-neg.csv", "label,index_in_digit,p0,p1,p2,p3\n7,0,-1,0,51,0\n");
        AssertUserError(() => Mnist.Load(neg), neg, "line 2, column 3 (p0)");

        var label = Write("m-label.csv", "label,index_in_digit,p0,p1,p2,p3\nx,0,0,0,51,0\n");
        AssertUserError(() => Mnist.Load(label), label, "line 2, column 1 (label)");

        var ragged = Write("m-ragged.csv", "label,index_in_digit,p0,p1,p2,p3\n7,0,0,0,51\n");
        AssertUserError(() => Mnist.Load(ragged), ragged, "line 2", "expected 6 cells", "found 5");

        var headerOnly = Write("m-headeronly.csv", "label,p0\n");
        AssertUserError(() => Mnist.Load(headerOnly), headerOnly, "no images");

        using var corrupt = new MemoryStream([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        AssertUserError(() => Mnist.Load(corrupt, "corrupt.gz"), "corrupt.gz: cannot read");
    }

    sealed class NonSeekableStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 7));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    // ---------------------------------------------------------------- GASF

    static float[] RandomReturns(Random rng, int n, double lo, double hi)
    {
        var r = new float[n];
        for (int i = 0; i < n; i++)
        {
            float v;
            do v = (float)(lo + rng.NextDouble() * (hi - lo)); while (v == 0f);
            r[i] = v;
        }
        return r;
    }

    [Test]
    public void GasfRoundTripInsideBounds()
    {
        const int L = 28;
        const double lower = -0.05, upper = 0.04;
        var enc = new GasfEncoding(L, lower, upper);
        var rng = new Random(12345);
        var image = new float[L * L];
        var back = new float[L];
        double worst = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            var window = RandomReturns(rng, L, lower, upper);
            enc.Encode(window, image);
            enc.Decode(image, back);
            for (int i = 0; i < L; i++) worst = Math.Max(worst, Math.Abs(back[i] - window[i]) / (upper - lower));
        }
        TestContext.Out.WriteLine($"worst round-trip error relative to range: {worst:E2}");
        Assert.That(worst, Is.LessThan(1e-5));
    }

    [Test]
    public void GasfLeastSquaresDecodeResistsPixelNoiseBetterThanTheDiagonal()
    {
        const int L = 28;
        const double lower = -0.05, upper = 0.04;
        var enc = new GasfEncoding(L, lower, upper);
        var rng = new Random(77);
        var image = new float[L * L];
        var fitted = new float[L];
        var diagonal = new float[L];
        double fittedError = 0, diagonalError = 0;
        for (int trial = 0; trial < 100; trial++)
        {
            var window = RandomReturns(rng, L, lower, upper);
            enc.Encode(window, image);
            // A generator's image: every pixel off by Gaussian noise of 0.05 (Box–Muller), kept in [0, 1].
            for (int p = 0; p < image.Length; p++)
            {
                double noise = 0.05 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                image[p] = (float)Math.Clamp(image[p] + noise, 0, 1);
            }
            enc.Decode(image, fitted);
            enc.DecodeDiagonal(image, diagonal);
            for (int i = 0; i < L; i++)
            {
                fittedError += Math.Pow(fitted[i] - window[i], 2);
                diagonalError += Math.Pow(diagonal[i] - window[i], 2);
            }
        }
        TestContext.Out.WriteLine($"RMS error: least squares {Math.Sqrt(fittedError / 2800):E2}, diagonal {Math.Sqrt(diagonalError / 2800):E2}");
        Assert.That(fittedError, Is.LessThan(0.25 * diagonalError), "fitting all 2L − 1 pixels of a row and column should beat one pixel");
    }

    [Test]
    public void PricePathsCompoundLogReturns()
    {
        var prices = MarketImages.Prices(100, [Math.Log(1.1), Math.Log(0.5), 0]);
        Assert.That(prices, Is.EqualTo(new[] { 100, 110, 55, 55 }).Within(1e-9));
    }

    [Test]
    public void GasfDiagonalDecodeRoundTripsToo()
    {
        var enc = new GasfEncoding(8, -0.03, 0.03);
        float[] window = [0.01f, -0.02f, 0.005f, 0.029f, -0.029f, 0f, 0.013f, -0.007f];
        var image = new float[64];
        var back = new float[8];
        enc.Encode(window, image);
        enc.DecodeDiagonal(image, back);
        Assert.That(back, Is.EqualTo(window).Within(1e-6));
    }

    [Test]
    public void GasfClipsOutsideBounds()
    {
        var enc = new GasfEncoding(4, -0.02, 0.03);
        var image = new float[16];
        var back = new float[4];
        enc.Encode([0.5f, -0.5f, 0.03f, -0.02f], image);
        enc.Decode(image, back);
        Assert.That(back[0], Is.EqualTo(0.03f).Within(1e-7));
        Assert.That(back[1], Is.EqualTo(-0.02f).Within(1e-7));
        Assert.That(back[2], Is.EqualTo(0.03f).Within(1e-7));
        Assert.That(back[3], Is.EqualTo(-0.02f).Within(1e-7));
    }

    [Test]
    public void GasfImageIsSymmetricInUnitRangeWithDiagonalIdentity()
    {
        const int L = 16;
        const double lower = -0.03, upper = 0.03;
        var enc = new GasfEncoding(L, lower, upper);
        var rng = new Random(7);
        var image = new float[L * L];
        for (int trial = 0; trial < 50; trial++)
        {
            var window = RandomReturns(rng, L, 1.5 * lower, 1.5 * upper); // some outside the bounds
            enc.Encode(window, image);
            var x = window.Select(r => Math.Clamp((r - lower) / (upper - lower), 0.0, 1.0)).ToArray();
            for (int i = 0; i < L; i++)
            {
                // G_ii = 2x̃² − 1, pixel = (G_ii + 1)/2 = x̃²
                Assert.That(2.0 * image[i * L + i] - 1.0, Is.EqualTo(2 * x[i] * x[i] - 1).Within(1e-6));
                for (int j = 0; j < L; j++)
                {
                    float p = image[i * L + j];
                    Assert.That(p, Is.InRange(0f, 1f));
                    Assert.That(p, Is.EqualTo(image[j * L + i]), "symmetric");
                    double g = Math.Cos(Math.Acos(x[i]) + Math.Acos(x[j]));
                    Assert.That(p, Is.EqualTo((g + 1) / 2).Within(1e-6), "pixel = (cos(φi+φj)+1)/2");
                }
            }
        }
    }

    [Test]
    public void GasfMetadataRoundTripRebuildsIdenticalEncoder()
    {
        var enc = new GasfEncoding(28, -1.0 / 3.0, 0.1 + 0.2);
        var meta = enc.ToMetadata();
        Assert.That(meta["encoding"], Is.EqualTo("gasf"));
        var copy = GasfEncoding.FromMetadata(new Dictionary<string, string>(meta));
        Assert.That(copy.Name, Is.EqualTo(enc.Name));
        Assert.That(copy.WindowLength, Is.EqualTo(enc.WindowLength));
        Assert.That((copy.Height, copy.Width), Is.EqualTo((enc.Height, enc.Width)));
        Assert.That(BitConverter.DoubleToInt64Bits(copy.Lower), Is.EqualTo(BitConverter.DoubleToInt64Bits(enc.Lower)));
        Assert.That(BitConverter.DoubleToInt64Bits(copy.Upper), Is.EqualTo(BitConverter.DoubleToInt64Bits(enc.Upper)));
        Assert.That(copy.ToMetadata(), Is.EqualTo(meta));

        var window = RandomReturns(new Random(3), 28, -0.4, 0.4);
        var a = new float[28 * 28];
        var b = new float[28 * 28];
        enc.Encode(window, a);
        copy.Encode(window, b);
        Assert.That(b, Is.EqualTo(a));

        AssertUserError(() => GasfEncoding.FromMetadata(new Dictionary<string, string> { ["encoding"] = "gasf" }), "no 'window_length'");
        var wrong = new Dictionary<string, string>(meta) { ["encoding"] = "mtf" };
        AssertUserError(() => GasfEncoding.FromMetadata(wrong), "'mtf'");
        var badNumber = new Dictionary<string, string>(meta) { ["lower"] = "abc" };
        AssertUserError(() => GasfEncoding.FromMetadata(badNumber), "lower 'abc'");
    }

    [Test]
    public void FitQuantilesMatchHandComputation()
    {
        double[] r = [0.05, 0.01, 0.04, 0.02, 0.03]; // sorted: .01 .02 .03 .04 .05
        var enc = GasfEncoding.Fit(r, 5, 0.1, 0.9);
        // h = 4·0.1 = 0.4 → .01 + 0.4·(.02 − .01) = .014;  h = 4·0.9 = 3.6 → .04 + 0.6·(.05 − .04) = .046
        Assert.That(enc.Lower, Is.EqualTo(0.014).Within(1e-15));
        Assert.That(enc.Upper, Is.EqualTo(0.046).Within(1e-15));

        var minMax = GasfEncoding.Fit(r, 5, 0, 1);
        Assert.That((minMax.Lower, minMax.Upper), Is.EqualTo((0.01, 0.05)));

        // 201 values −100..100: default quantiles at h = 200·0.005 = 1 and 200·0.995 = 199
        var ramp = Enumerable.Range(-100, 201).Select(i => (double)i).Reverse().ToArray();
        var d = GasfEncoding.Fit(ramp, 8);
        Assert.That((d.Lower, d.Upper), Is.EqualTo((-99.0, 99.0)));

        AssertUserError(() => GasfEncoding.Fit(new double[] { 0.01, 0.01, 0.01 }, 4), "constant");
        AssertUserError(() => GasfEncoding.Fit(new double[] { 0.01, double.NaN }, 4), "NaN");
    }

    [Test]
    public void FitIgnoresHeldOutData()
    {
        var rng = new Random(99);
        var returns = RandomReturns(rng, 100, -0.01, 0.01);
        for (int i = 80; i < 100; i++) returns[i] *= 50; // a crash in the held-out tail only

        var (train, heldOut) = MarketImages.SplitByTime(returns, 0.2);
        Assert.That(train, Has.Length.EqualTo(80));
        Assert.That(heldOut, Is.EqualTo(returns[80..]));
        Assert.That(train, Is.EqualTo(returns[..80]));

        var fitted = GasfEncoding.Fit(train, 10);
        var expected = GasfEncoding.Fit(returns.AsSpan(0, 80), 10);
        Assert.That((fitted.Lower, fitted.Upper), Is.EqualTo((expected.Lower, expected.Upper)));
        Assert.That(fitted.Lower, Is.GreaterThanOrEqualTo(-0.01));
        Assert.That(fitted.Upper, Is.LessThanOrEqualTo(0.01));

        var leaky = GasfEncoding.Fit(returns, 10);
        Assert.That(leaky.Upper - leaky.Lower, Is.GreaterThan(fitted.Upper - fitted.Lower));

        var (all, none) = MarketImages.SplitByTime(returns, 0);
        Assert.That((all.Length, none.Length), Is.EqualTo((100, 0)));
    }

    [Test]
    public void EncodeWindowsSlidesOverTheSeries()
    {
        var returns = MarketImages.LogReturns(EmbeddedData.Sp500());
        var (train, _) = MarketImages.SplitByTime(returns);
        var enc = GasfEncoding.Fit(train, 28);
        var (images, count) = MarketImages.EncodeWindows(train, enc);
        Assert.That(count, Is.EqualTo(train.Length - 28 + 1));
        Assert.That(images, Has.Length.EqualTo(count * 28 * 28));

        var one = new float[28 * 28];
        enc.Encode(train.AsSpan(17, 28), one);
        Assert.That(images.AsSpan(17 * 784, 784).ToArray(), Is.EqualTo(one));

        var (strided, n5) = MarketImages.EncodeWindows(train, enc, stride: 5);
        Assert.That(n5, Is.EqualTo((train.Length - 28) / 5 + 1));
        Assert.That(strided.AsSpan(3 * 784, 784).ToArray(), Is.EqualTo(images.AsSpan(15 * 784, 784).ToArray()));

        AssertUserError(() => MarketImages.EncodeWindows(train.AsSpan(0, 27), enc), "27 returns is too few");
    }

    [Test]
    public void EncodingStringsAreInvariant()
    {
        var enc = new GasfEncoding(3, -0.5, 0.25);
        Assert.That(enc.ToMetadata()["lower"], Is.EqualTo((-0.5).ToString("R", CultureInfo.InvariantCulture)));
        Assert.That(enc.ToString(), Is.EqualTo("gasf(L=3, lower=-0.5, upper=0.25)"));
    }
}
