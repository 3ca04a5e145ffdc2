using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using nietras.SeparatedValues;

namespace FinGen.Native.Data;

/// <summary>
/// A daily close-price series: strictly increasing <see cref="Dates"/> and positive, finite
/// <see cref="Closes"/> of the same length. <see cref="Source"/> names where it came from
/// (the file path as given, or <c>embedded:...</c>) and prefixes every error about it.
/// </summary>
public sealed record PriceSeries(string Source, DateOnly[] Dates, double[] Closes)
{
    /// <summary>Number of prices (rows).</summary>
    public int Count => Closes.Length;
}

/// <summary>
/// Loads a price CSV: a header row naming (case-insensitively) a <c>date</c> and a <c>close</c>
/// column, other columns ignored, <c>,</c> separator, optional quotes, spaces around cells trimmed,
/// blank lines skipped, gzip detected by magic bytes when loading from a path.
/// Every problem throws <see cref="FinGenException"/> with a one-line message
/// "<c>source: line N, column C: ...</c>" (line and column 1-based, as in an editor).
/// </summary>
public static class PriceCsv
{
    static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy/MM/dd", "MM/dd/yyyy"];

    /// <summary>Loads a price CSV (plain or gzip-compressed) from a file.</summary>
    public static PriceSeries Load(string path)
    {
        using var stream = DataFiles.OpenFile(path, "price CSV");
        return DataFiles.Read(path, () =>
        {
            using var data = DataFiles.MaybeDecompress(stream);
            using var reader = DataFiles.CreateTextReader(data);
            return Load(reader, path);
        });
    }

    /// <summary>
    /// Loads a price CSV from <paramref name="reader"/> (left open); <paramref name="sourceName"/>
    /// names it in errors and becomes <see cref="PriceSeries.Source"/>.
    /// </summary>
    public static PriceSeries Load(TextReader reader, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        return DataFiles.Read(sourceName, () => Parse(reader, sourceName));
    }

    /// <summary>
    /// Throws a <see cref="FinGenException"/> unless <paramref name="s"/> has at least
    /// <paramref name="prices"/> prices. <paramref name="why"/> completes the sentence
    /// "<c>source: 20 prices is too few: {why} needs at least {prices}</c>",
    /// e.g. <c>"one window of 28 log returns"</c>.
    /// </summary>
    public static void RequireAtLeast(PriceSeries s, int prices, string why)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Closes.Length >= prices) return;
        var have = s.Closes.Length == 1 ? "1 price is" : $"{s.Closes.Length} prices is";
        Throw.User($"{s.Source}: {have} too few: {why} needs at least {prices}");
    }

    static PriceSeries Parse(TextReader textReader, string src)
    {
        using var sep = Sep.New(',').Reader(o => o with
        {
            HasHeader = false,             // we read the header ourselves: own messages, case-insensitive
            DisableColCountCheck = true,   // we check ragged rows ourselves: Sep's message is multi-line
            Unescape = true,
            Trim = SepTrim.All,
        }).From(textReader, leaveOpen: true);

        if (sep.IsEmpty) Throw.User($"{src}: file is empty: expected a header row with 'date' and 'close' columns");

        string[]? header = null;
        int headerLine = 0, dateCol = -1, closeCol = -1;
        var dates = new List<DateOnly>(4096);
        var closes = new List<double>(4096);
        int prevLine = 0;
        int missingRows = 0, firstMissingLine = 0, firstMissingCol = 0;
        string firstMissingName = "";

        foreach (var row in sep)
        {
            // Sep 0.17.1 reports LineNumberFrom == 2 for the very first row when HasHeader = false;
            // the first row always starts on line 1.
            int line = row.RowIndex == 0 ? 1 : row.LineNumberFrom;
            if (row.ColCount == 1 && row[0].Span.IsWhiteSpace()) continue; // blank line

            if (header is null)
            {
                header = new string[row.ColCount];
                for (int c = 0; c < header.Length; c++) header[c] = row[c].ToString().Trim().TrimStart('\uFEFF').Trim();
                headerLine = line;
                (dateCol, closeCol) = FindColumns(header, src, line, row.Span);
                continue;
            }

            if (missingRows > 0)
            {
                // After the first missing value we only count the affected rows for the message.
                if ((dateCol < row.ColCount && DataFiles.IsMissing(row[dateCol].Span))
                    || (closeCol < row.ColCount && DataFiles.IsMissing(row[closeCol].Span)))
                    missingRows++;
                continue;
            }

            if (row.ColCount != header.Length)
                Throw.User($"{src}: line {line}: expected {header.Length} cells as in the header (line {headerLine}) but found {row.ColCount}: '{DataFiles.Show(row.Span)}'");

            var dateCell = row[dateCol].Span;
            var closeCell = row[closeCol].Span;
            bool dateMissing = DataFiles.IsMissing(dateCell);
            if (dateMissing || DataFiles.IsMissing(closeCell))
            {
                missingRows = 1;
                firstMissingLine = line;
                firstMissingCol = (dateMissing ? dateCol : closeCol) + 1;
                firstMissingName = dateMissing ? header[dateCol] : header[closeCol];
                continue;
            }

            string at = $"{src}: line {line}, column";
            if (!DateOnly.TryParseExact(dateCell, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                Throw.User($"{at} {dateCol + 1}: date '{DataFiles.Show(dateCell)}' is not a valid date (expected yyyy-MM-dd, yyyy/MM/dd or MM/dd/yyyy)");

            if (!double.TryParse(closeCell, NumberStyles.Float, CultureInfo.InvariantCulture, out var close))
                Throw.User($"{at} {closeCol + 1}: close '{DataFiles.Show(closeCell)}' is not a number");
            if (!double.IsFinite(close))
                Throw.User($"{at} {closeCol + 1}: close '{DataFiles.Show(closeCell)}' is not a finite number (NaN and infinity are not prices)");
            if (close <= 0)
                Throw.User($"{at} {closeCol + 1}: close '{DataFiles.Show(closeCell)}' is not positive (prices must be > 0 to take log returns)");

            if (dates.Count > 0 && date <= dates[^1])
            {
                var what = date == dates[^1] ? "repeats the date" : "comes before the date";
                Throw.User($"{at} {dateCol + 1}: date {Iso(date)} {what} {Iso(dates[^1])} on line {prevLine} (dates must be strictly increasing: remove duplicates and sort oldest first)");
            }

            dates.Add(date);
            closes.Add(close);
            prevLine = line;
        }

        if (header is null) Throw.User($"{src}: file is empty (only blank lines): expected a header row with 'date' and 'close' columns");
        if (missingRows > 0)
        {
            var rows = missingRows == 1 ? "1 row has" : $"{missingRows} rows have";
            Throw.User($"{src}: {rows} a missing value (NA or empty) in 'date' or 'close', the first at line {firstMissingLine}, column {firstMissingCol} ('{firstMissingName}'); missing values are not supported yet: remove or fill those rows");
        }
        if (closes.Count == 0) Throw.User($"{src}: no data rows after the header on line {headerLine}");

        return new PriceSeries(src, [.. dates], [.. closes]);
    }

    static (int date, int close) FindColumns(string[] header, string src, int line, ReadOnlySpan<char> rowText)
    {
        int date = -1, close = -1;
        for (int c = 0; c < header.Length; c++)
        {
            if (header[c].Equals("date", StringComparison.OrdinalIgnoreCase))
            {
                if (date >= 0) Throw.User($"{src}: line {line}: column 'date' appears twice in the header (columns {date + 1} and {c + 1})");
                date = c;
            }
            else if (header[c].Equals("close", StringComparison.OrdinalIgnoreCase))
            {
                if (close >= 0) Throw.User($"{src}: line {line}: column 'close' appears twice in the header (columns {close + 1} and {c + 1})");
                close = c;
            }
        }
        if (date >= 0 && close >= 0) return (date, close);

        if (LooksLikeData(header))
            Throw.User($"{src}: line {line}: no header row: '{DataFiles.Show(rowText)}' looks like data; the first line must name the columns, including 'date' and 'close'");
        var missing = date < 0 && close < 0 ? "'date' and 'close' columns" : date < 0 ? "'date' column" : "'close' column";
        var found = string.Join(", ", header.Select(h => $"'{DataFiles.Show(h)}'"));
        var hint = header.Length == 1 && header[0].AsSpan().IndexOfAny(";\t|") >= 0 ? " (the separator must be ',')" : "";
        return Throw.User<(int, int)>($"{src}: line {line}: header has no {missing} (names are case-insensitive); columns found: {DataFiles.Show(found, 200)}{hint}");
    }

    static bool LooksLikeData(string[] cells)
    {
        foreach (var cell in cells)
        {
            if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return true;
            if (DateOnly.TryParseExact(cell, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out _)) return true;
        }
        return false;
    }

    static string Iso(DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}

/// <summary>
/// The data sets embedded in the FinGen.Native assembly: the S&amp;P 500 daily prices 2000–2020
/// (logical name <c>FinGen.Native.Data.sp500.csv</c>) and 10k MNIST digits
/// (<c>FinGen.Native.Data.mnist.csv.gz</c>).
/// </summary>
public static class EmbeddedData
{
    /// <summary>Manifest resource name of the embedded S&amp;P 500 CSV.</summary>
    public const string Sp500ResourceName = "FinGen.Native.Data.sp500.csv";
    /// <summary>Manifest resource name of the embedded gzip MNIST CSV.</summary>
    public const string MnistResourceName = "FinGen.Native.Data.mnist.csv.gz";
    /// <summary><see cref="PriceSeries.Source"/> of <see cref="Sp500"/>.</summary>
    public const string Sp500SourceName = "embedded:sp500_ohlcv_daily_2000_2020.csv";
    /// <summary><c>sourceName</c> used by <see cref="Mnist(int)"/>.</summary>
    public const string MnistSourceName = "embedded:mnist_28x28_10k.csv.gz";

    /// <summary>The embedded S&amp;P 500 daily closes, 2000-01-03 to 2020-04-17 (5105 prices).</summary>
    public static PriceSeries Sp500()
    {
        using var stream = Open(Sp500ResourceName);
        using var reader = DataFiles.CreateTextReader(stream);
        return PriceCsv.Load(reader, Sp500SourceName);
    }

    /// <summary>A new read-only stream over the embedded S&amp;P 500 CSV (e.g. to hash it); the caller disposes it.</summary>
    public static Stream OpenSp500Csv() => Open(Sp500ResourceName);

    /// <summary>A new read-only stream over the embedded gzip MNIST CSV; the caller disposes it.</summary>
    public static Stream OpenMnistGz() => Open(MnistResourceName);

    /// <summary>The embedded MNIST images (10,000 28×28 digits), at most <paramref name="maxCount"/>.</summary>
    public static ImageSet Mnist(int maxCount = int.MaxValue)
    {
        using var stream = OpenMnistGz();
        return global::FinGen.Native.Data.Mnist.Load(stream, MnistSourceName, maxCount);
    }

    static Stream Open(string name) =>
        typeof(EmbeddedData).Assembly.GetManifestResourceStream(name)
        ?? Throw.User<Stream>($"embedded resource '{name}' is missing from {typeof(EmbeddedData).Assembly.GetName().Name}: the build is broken (check the EmbeddedResource LogicalName in FinGen.Native.csproj)");
}

/// <summary>Shared plumbing of the CSV loaders: opening files, gzip sniffing, one-line messages.</summary>
internal static class DataFiles
{
    /// <summary>Opens a file for reading or throws a <see cref="FinGenException"/> naming it.</summary>
    public static FileStream OpenFile(string path, string what)
    {
        if (string.IsNullOrWhiteSpace(path)) Throw.User($"no {what} file given (the path is empty)");
        if (Directory.Exists(path)) Throw.User($"{path}: is a directory, not a {what} file");
        if (!File.Exists(path)) Throw.User($"{path}: file not found (looked for {Path.GetFullPath(path)})");
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or System.Security.SecurityException)
        {
            return Throw.User<FileStream>($"{path}: cannot open the file: {OneLine(e.Message)}");
        }
    }

    /// <summary>
    /// Runs a parse, turning I/O and decoding failures (Sep, gzip, the file system) into a
    /// <see cref="FinGenException"/> naming <paramref name="source"/>.
    /// </summary>
    public static T Read<T>(string source, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or DecoderFallbackException)
        {
            return Throw.User<T>($"{source}: cannot read: {OneLine(e.Message)}");
        }
    }

    /// <summary>
    /// Returns a stream that yields the data of <paramref name="stream"/>, decompressed if it starts
    /// with the gzip magic bytes 1f 8b. Works on non-seekable streams; never disposes <paramref name="stream"/>.
    /// </summary>
    public static Stream MaybeDecompress(Stream stream)
    {
        var prefix = new byte[2];
        int n = 0;
        while (n < prefix.Length)
        {
            int read = stream.Read(prefix, n, prefix.Length - n);
            if (read == 0) break;
            n += read;
        }
        var whole = new PrefixedStream(prefix.AsSpan(0, n).ToArray(), stream);
        return n == 2 && prefix[0] == 0x1f && prefix[1] == 0x8b
            ? new GZipStream(whole, CompressionMode.Decompress, leaveOpen: false)
            : whole;
    }

    /// <summary>A UTF-8 (BOM-detecting) reader that leaves <paramref name="stream"/> open.</summary>
    public static StreamReader CreateTextReader(Stream stream) =>
        new(stream, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);

    /// <summary>Empty, NA, N/A, #N/A, null (any case, after trimming) mark a missing value.</summary>
    public static bool IsMissing(ReadOnlySpan<char> cell)
    {
        cell = cell.Trim();
        return cell.IsEmpty
            || cell.Equals("NA", StringComparison.OrdinalIgnoreCase)
            || cell.Equals("N/A", StringComparison.OrdinalIgnoreCase)
            || cell.Equals("#N/A", StringComparison.OrdinalIgnoreCase)
            || cell.Equals("null", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Cell text for a one-line message: control characters replaced, long text cut.</summary>
    public static string Show(ReadOnlySpan<char> text, int max = 40)
    {
        var sb = new StringBuilder(Math.Min(text.Length, max) + 1);
        foreach (var ch in text.Length > max ? text[..max] : text)
            sb.Append(char.IsControl(ch) ? '?' : ch);
        if (text.Length > max) sb.Append('…');
        return sb.ToString();
    }

    /// <summary>Joins a possibly multi-line message into one line.</summary>
    public static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Replays a few already-read bytes, then the rest of the inner stream (never disposed).</summary>
    sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        int _pos;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty) return 0;
            if (_pos < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _pos);
                prefix.AsSpan(_pos, n).CopyTo(buffer);
                _pos += n;
                return n;
            }
            return inner.Read(buffer);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
