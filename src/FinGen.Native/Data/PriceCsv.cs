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
/// Several price series over the same strictly increasing <see cref="Dates"/>: <see cref="Prices"/>[c]
/// is the series of <see cref="Columns"/>[c] (the header's spelling), each as long as the dates, every
/// price positive and finite. <see cref="Missing"/> says which cells were missing and what was done.
/// </summary>
public sealed record PricePanel(string Source, DateOnly[] Dates, string[] Columns, double[][] Prices, MissingReport Missing)
{
    /// <summary>Number of rows (dates).</summary>
    public int Count => Dates.Length;

    /// <summary>One column as a series; its source is the file alone when the panel has one column.</summary>
    public PriceSeries Series(int column) =>
        new(Columns.Length == 1 ? Source : $"{Source} (column '{Columns[column]}')", Dates, Prices[column]);
}

/// <summary>The missing cells of one chosen column: how many, and the line of the first.</summary>
public sealed record MissingColumn(string Column, int Cells, int FirstLine);

/// <summary>
/// What a loader did about missing prices, for the training log and the checkpoint; never silent.
/// <see cref="ToString"/> is empty when nothing was missing.
/// </summary>
public sealed record MissingReport(MissingValues Policy, IReadOnlyList<MissingColumn> Columns, int DroppedRows)
{
    /// <summary>Nothing missing.</summary>
    public static MissingReport None(MissingValues policy) => new(policy, [], 0);

    /// <summary>Missing cells over all chosen columns.</summary>
    public int Cells => Columns.Sum(c => c.Cells);

    /// <summary>e.g. "42 missing cells in 'close' (first at line 130): forward-filled".</summary>
    public override string ToString()
    {
        if (Columns.Count == 0) return "";
        string action = Policy == MissingValues.Drop
            ? (DroppedRows == 1 ? "dropped 1 row" : string.Create(CultureInfo.InvariantCulture, $"dropped {DroppedRows} rows"))
            : "forward-filled";
        static string CellText(int n) => n == 1 ? "1 missing cell" : string.Create(CultureInfo.InvariantCulture, $"{n} missing cells");
        if (Columns.Count == 1)
            return string.Create(CultureInfo.InvariantCulture, $"{CellText(Columns[0].Cells)} in '{Columns[0].Column}' (first at line {Columns[0].FirstLine}): {action}");
        var parts = Columns.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Cells} in '{c.Column}' (first at line {c.FirstLine})"));
        return string.Create(CultureInfo.InvariantCulture, $"{CellText(Cells)} in {Columns.Count} columns, {string.Join(", ", parts)}: {action}");
    }
}

/// <summary>
/// Loads a price CSV: a header row naming (case-insensitively) a <c>date</c> column and the price columns
/// (by default <c>close</c>; see <see cref="DataOptions"/>), other columns ignored, <c>,</c> separator,
/// optional quotes, spaces around cells trimmed, blank lines skipped, gzip detected by magic bytes when
/// loading from a path. Every problem throws <see cref="FinGenException"/> with a one-line message
/// "<c>source: line N, column C: ...</c>" (line and column 1-based, as in an editor).
/// </summary>
public static class PriceCsv
{
    static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy/MM/dd", "MM/dd/yyyy"];

    /// <summary>Loads the <c>close</c> column of a price CSV (plain or gzip-compressed); missing values are an error.</summary>
    public static PriceSeries Load(string path) => LoadPanel(path, DataOptions.Default).Series(0);

    /// <summary>
    /// Loads the <c>close</c> column of a price CSV from <paramref name="reader"/> (left open);
    /// <paramref name="sourceName"/> names it in errors and becomes <see cref="PriceSeries.Source"/>.
    /// </summary>
    public static PriceSeries Load(TextReader reader, string sourceName) => LoadPanel(reader, sourceName, DataOptions.Default).Series(0);

    /// <summary>Loads the columns <paramref name="options"/> choose from a price CSV file, applying its missing-value policy.</summary>
    public static PricePanel LoadPanel(string path, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var stream = DataFiles.OpenFile(path, "price CSV");
        return DataFiles.Read(path, () =>
        {
            using var data = DataFiles.MaybeDecompress(stream);
            using var reader = DataFiles.CreateTextReader(data);
            return Parse(reader, path, options);
        });
    }

    /// <summary><see cref="LoadPanel(string, DataOptions)"/> from a reader (left open), named <paramref name="sourceName"/>.</summary>
    public static PricePanel LoadPanel(TextReader reader, string sourceName, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return DataFiles.Read(sourceName, () => Parse(reader, sourceName, options));
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

    /// <summary>The longest row the CSV reader (Sep) takes.</summary>
    public const int MaxRowBytes = 16 << 20;

    static PricePanel Parse(TextReader textReader, string src, DataOptions options)
    {
        SepReader sep;
        try
        {
            sep = Sep.New(',').Reader(o => o with
            {
                HasHeader = false,             // we read the header ourselves: own messages, case-insensitive
                DisableColCountCheck = true,   // we check ragged rows ourselves: Sep's message is multi-line
                Unescape = true,
                Trim = SepTrim.All,
            }).From(textReader, leaveOpen: true); // reads the first rows
        }
        catch (NotSupportedException e) when (e.Message.Contains("maximum supported length", StringComparison.Ordinal))
        {
            return Throw.User<PricePanel>($"{src}: line 1: a row longer than {MaxRowBytes >> 20} MiB, the reader's limit (an unterminated quote, or not a CSV file)");
        }
        using var disposeSep = sep;

        string[] wanted = options.Columns.Count == 0 ? [DataOptions.DefaultColumn] : [.. options.Columns.Select(c => c.Trim())];
        string expected = $"'date' and {Quoted(wanted)} columns";
        if (sep.IsEmpty) Throw.User($"{src}: file is empty: expected a header row with {expected}");

        var policy = options.Missing;
        string[]? header = null;
        int[] columns = [];
        int headerLine = 0, dateCol = -1;
        var dates = new List<DateOnly>(4096);
        List<double>[] prices = [];
        double[] row = [];
        int prevLine = 0, keptLine = 0;
        DateOnly prevDate = default;
        bool haveDate = false;
        // --na error: rows with a missing value, and the first of them.
        int missingRows = 0, firstMissingLine = 0, firstMissingCol = 0;
        string firstMissingName = "";
        // --na drop / ffill: missing cells per chosen column.
        int[] missingCells = [], firstMissingLines = [];
        int droppedRows = 0;

        int nextLine = 1; // where the row being read starts, for a row too long to read
        try
        {
        foreach (var r in sep)
        {
            nextLine = r.LineNumberToExcl;
            // Sep 0.17.1 reports LineNumberFrom == 2 for the very first row when HasHeader = false;
            // the first row always starts on line 1.
            int line = r.RowIndex == 0 ? 1 : r.LineNumberFrom;
            if (r.ColCount == 1 && r[0].Span.IsWhiteSpace()) continue; // blank line

            if (header is null)
            {
                header = new string[r.ColCount];
                for (int c = 0; c < header.Length; c++) header[c] = r[c].ToString().Trim().TrimStart('\uFEFF').Trim();
                headerLine = line;
                (dateCol, columns) = FindColumns(header, src, line, r.Span, wanted, options.Columns.Count == 0, options.DateColumn);
                prices = [.. columns.Select(_ => new List<double>(4096))];
                row = new double[columns.Length];
                missingCells = new int[columns.Length];
                firstMissingLines = new int[columns.Length];
                continue;
            }

            if (missingRows > 0)
            {
                // After the first missing value we only count the affected rows for the message.
                if (AnyMissing(r, dateCol, columns)) missingRows++;
                continue;
            }

            if (r.ColCount != header.Length)
                Throw.User($"{src}: line {line}: expected {header.Length} cells as in the header (line {headerLine}) but found {r.ColCount}: '{DataFiles.Show(r.Span)}'");

            var dateCell = r[dateCol].Span;
            if (policy == MissingValues.Error && AnyMissing(r, dateCol, columns))
            {
                missingRows = 1;
                firstMissingLine = line;
                firstMissingCol = DataFiles.IsMissing(dateCell) ? dateCol : int.MaxValue;
                foreach (int c in columns)
                    if (c < firstMissingCol && DataFiles.IsMissing(r[c].Span)) firstMissingCol = c;
                firstMissingName = header[firstMissingCol];
                firstMissingCol++;
                continue;
            }

            string at = $"{src}: line {line}, column";
            if (DataFiles.IsMissing(dateCell))
                Throw.User($"{at} {dateCol + 1}: the date is missing; --na {DataOptions.Name(policy)} fills or drops prices, not dates: fix or remove the row");
            if (!DateOnly.TryParseExact(dateCell, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                Throw.User($"{at} {dateCol + 1}: date '{DataFiles.Show(dateCell)}' is not a valid date (expected yyyy-MM-dd, yyyy/MM/dd or MM/dd/yyyy)");

            bool drop = false;
            for (int j = 0; j < columns.Length; j++)
            {
                int col = columns[j];
                var cell = r[col].Span;
                if (DataFiles.IsMissing(cell))
                {
                    if (missingCells[j]++ == 0) firstMissingLines[j] = line;
                    if (policy == MissingValues.Drop) drop = true;
                    else if (dates.Count == 0)
                        Throw.User($"{at} {col + 1}: '{header[col]}' is missing and there is no earlier price to carry forward (--na ffill); remove the leading rows or use --na drop");
                    else row[j] = prices[j][^1];
                    continue;
                }
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var price))
                    Throw.User($"{at} {col + 1}: {header[col]} '{DataFiles.Show(cell)}' is not a number");
                if (!double.IsFinite(price))
                    Throw.User($"{at} {col + 1}: {header[col]} '{DataFiles.Show(cell)}' is not a finite number (NaN and infinity are not prices)");
                if (price <= 0)
                    Throw.User($"{at} {col + 1}: {header[col]} '{DataFiles.Show(cell)}' is not positive (prices must be > 0 to take log returns)");
                row[j] = price;
            }

            if (haveDate && date <= prevDate)
            {
                var what = date == prevDate ? "repeats the date" : "comes before the date";
                Throw.User($"{at} {dateCol + 1}: date {Iso(date)} {what} {Iso(prevDate)} on line {prevLine} (dates must be strictly increasing: remove duplicates and sort oldest first)");
            }
            prevDate = date;
            prevLine = line;
            haveDate = true;

            if (drop)
            {
                droppedRows++;
                continue;
            }
            if (!options.AllowExtreme && dates.Count > 0)
            {
                for (int j = 0; j < columns.Length; j++)
                {
                    double previous = prices[j][^1], logReturn = Math.Log(row[j] / previous);
                    if (Math.Abs(logReturn) > DataOptions.MaxAbsLogReturn)
                        Throw.User(string.Create(CultureInfo.InvariantCulture, $"{at} {columns[j] + 1}: {header[columns[j]]} {row[j]:R} after {previous:R} on line {keptLine} is a daily log return of {logReturn:G4}, beyond ±{DataOptions.MaxAbsLogReturn:F0} (the price changed {row[j] / previous:G3}-fold in a day): fix the price, or pass --allow-extreme if it is real"));
                }
            }
            keptLine = line;
            dates.Add(date);
            for (int j = 0; j < columns.Length; j++) prices[j].Add(row[j]);
        }

        }
        catch (NotSupportedException e) when (e.Message.Contains("maximum supported length", StringComparison.Ordinal))
        {
            // Sep's buffer limit (16 MiB a row): a binary file, a sparse one, or a quote that is never closed.
            Throw.User($"{src}: line {nextLine}: a row longer than {MaxRowBytes >> 20} MiB, the reader's limit (an unterminated quote, or not a CSV file)");
        }
        if (header is null) Throw.User($"{src}: file is empty (only blank lines): expected a header row with {expected}");
        if (missingRows > 0)
        {
            var rows = missingRows == 1 ? "1 row has" : $"{missingRows} rows have";
            var where = columns.Length == 1 ? $"'{header[columns[0]]}'" : $"one of the {columns.Length} chosen columns";
            Throw.User($"{src}: {rows} a missing value (NA or empty) in 'date' or {where}, the first at line {firstMissingLine}, column {firstMissingCol} ('{firstMissingName}'); use --na drop to drop those rows or --na ffill to carry the last price forward");
        }
        if (dates.Count == 0)
        {
            if (droppedRows > 0) Throw.User($"{src}: every one of the {droppedRows} data rows misses a price in a chosen column; --na drop left nothing");
            Throw.User($"{src}: no data rows after the header on line {headerLine}");
        }

        var names = columns.Select(c => header[c]).ToArray();
        var report = new List<MissingColumn>();
        for (int j = 0; j < columns.Length; j++)
            if (missingCells[j] > 0) report.Add(new MissingColumn(names[j], missingCells[j], firstMissingLines[j]));
        return new PricePanel(src, [.. dates], names, [.. prices.Select(p => p.ToArray())], new MissingReport(policy, report, droppedRows));
    }

    static bool AnyMissing(SepReader.Row r, int dateCol, int[] columns)
    {
        if (dateCol < r.ColCount && DataFiles.IsMissing(r[dateCol].Span)) return true;
        foreach (int c in columns)
            if (c < r.ColCount && DataFiles.IsMissing(r[c].Span)) return true;
        return false;
    }

    static string Quoted(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{DataFiles.Show(n)}'"));

    static (int date, int[] columns) FindColumns(string[] header, string src, int line, ReadOnlySpan<char> rowText, string[] wanted, bool byDefault, string dateName)
    {
        int date = -1;
        var columns = new int[wanted.Length];
        Array.Fill(columns, -1);
        for (int c = 0; c < header.Length; c++)
        {
            if (header[c].Equals(dateName, StringComparison.OrdinalIgnoreCase))
            {
                if (date >= 0) Throw.User($"{src}: line {line}: column '{DataFiles.Show(dateName)}' appears twice in the header (columns {date + 1} and {c + 1})");
                date = c;
            }
            for (int j = 0; j < wanted.Length; j++)
            {
                if (!header[c].Equals(wanted[j], StringComparison.OrdinalIgnoreCase)) continue;
                if (columns[j] >= 0) Throw.User($"{src}: line {line}: column '{DataFiles.Show(wanted[j])}' appears twice in the header (columns {columns[j] + 1} and {c + 1})");
                columns[j] = c;
            }
        }
        if (date >= 0 && !columns.Contains(-1)) return (date, columns);

        if (LooksLikeData(header))
            Throw.User($"{src}: line {line}: no header row: '{DataFiles.Show(rowText)}' looks like data; the first line must name the columns, including '{DataFiles.Show(dateName)}' and {Quoted(wanted)}");
        var missing = new List<string>();
        if (date < 0) missing.Add($"'{DataFiles.Show(dateName)}'");
        for (int j = 0; j < wanted.Length; j++)
            if (columns[j] < 0) missing.Add($"'{DataFiles.Show(wanted[j])}'");
        var what = missing.Count == 1 ? $"{missing[0]} column" : $"{string.Join(", ", missing[..^1])} and {missing[^1]} columns";
        var found = string.Join(", ", header.Select(h => $"'{DataFiles.Show(h)}'"));
        var hint = header.Length == 1 && header[0].AsSpan().IndexOfAny(";\t|") >= 0 ? " (the separator must be ',')"
            : byDefault && date >= 0 ? "; choose the price column with --column NAME"
            : date < 0 ? "; name the date column with --date-column NAME"
            : "";
        return Throw.User<(int, int[])>($"{src}: line {line}: header has no {what} (names are case-insensitive); columns found: {DataFiles.Show(found, 600)}{hint}");
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

    /// <summary>The columns of the embedded S&amp;P 500 CSV that <paramref name="options"/> choose (e.g. <c>adjclose</c>).</summary>
    public static PricePanel Sp500(DataOptions options)
    {
        using var stream = Open(Sp500ResourceName);
        using var reader = DataFiles.CreateTextReader(stream);
        return PriceCsv.LoadPanel(reader, Sp500SourceName, options);
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
