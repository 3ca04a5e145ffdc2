using System.Globalization;
using nietras.SeparatedValues;

namespace FinGen.Native.Data;

/// <summary>
/// A set of grey-scale images: <see cref="Pixels"/> is [<see cref="Count"/>, <see cref="Width"/>·<see cref="Height"/>]
/// row-major (pixel k of an image at row k / Width, column k % Width), values in [0, 1];
/// <see cref="Labels"/> has one label per image.
/// </summary>
public sealed record ImageSet(float[] Pixels, int Count, int Width, int Height, int[] Labels)
{
    /// <summary>Pixels per image (Width·Height).</summary>
    public int PixelsPerImage => Width * Height;

    /// <summary>The pixels of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<float> Image(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return Pixels.AsSpan(index * PixelsPerImage, PixelsPerImage);
    }
}

/// <summary>
/// Loads the MNIST CSV format: header <c>label,index_in_digit,p0,...,p783</c> (the
/// <c>index_in_digit</c> column is optional and ignored; any square number of pixel columns
/// <c>p0..p{N-1}</c> is accepted), one image per row, label a non-negative integer, pixels
/// integers 0..255 scaled by 1/255. Plain or gzip input (detected by magic bytes).
/// Problems throw <see cref="FinGenException"/>: "<c>source: line N, column C (pK): ...</c>".
/// </summary>
public static class Mnist
{
    static readonly float[] Scale = BuildScale();

    /// <summary>Loads an MNIST CSV (plain or gzip) from a file.</summary>
    public static ImageSet Load(string path)
    {
        using var stream = DataFiles.OpenFile(path, "image CSV");
        return Load(stream, path);
    }

    /// <summary>
    /// Loads at most <paramref name="maxCount"/> images (the first ones) from a plain or gzip CSV stream,
    /// which is left open. <paramref name="sourceName"/> names it in errors.
    /// </summary>
    public static ImageSet Load(Stream gzOrPlainCsv, string sourceName, int maxCount = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(gzOrPlainCsv);
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        return DataFiles.Read(sourceName, () =>
        {
            using var data = DataFiles.MaybeDecompress(gzOrPlainCsv);
            using var text = DataFiles.CreateTextReader(data);
            return Parse(text, sourceName, maxCount);
        });
    }

    static ImageSet Parse(TextReader text, string src, int maxCount)
    {
        using var sep = Sep.New(',').Reader(o => o with { HasHeader = false, DisableColCountCheck = true })
            .From(text, leaveOpen: true);
        if (sep.IsEmpty) Throw.User($"{src}: file is empty: expected a header row label,index_in_digit,p0,...,p783");

        int cols = -1, firstPixelCol = -1, pixels = 0, side = 0, headerLine = 0;
        byte[] staged = []; // raw 0..255 values, 1 byte per pixel, converted to float once at the end
        var labels = new List<int>();
        int count = 0;

        foreach (var row in sep)
        {
            // Sep 0.17.1 reports LineNumberFrom == 2 for the first row when HasHeader = false.
            int line = row.RowIndex == 0 ? 1 : row.LineNumberFrom;
            if (row.ColCount == 1 && row[0].Span.IsWhiteSpace()) continue; // blank line

            if (cols < 0)
            {
                (firstPixelCol, pixels) = ParseHeader(row, src, line);
                cols = row.ColCount;
                side = (int)Math.Round(Math.Sqrt(pixels));
                headerLine = line;
                staged = new byte[(long)Math.Min(maxCount, 1024) * pixels];
                continue;
            }

            if (row.ColCount != cols)
                Throw.User($"{src}: line {line}: expected {cols} cells as in the header (line {headerLine}) but found {row.ColCount}");

            var labelCell = row[0].Span;
            int label = ParseInt(labelCell, int.MaxValue);
            if (label < 0)
                Throw.User($"{src}: line {line}, column 1 (label): '{DataFiles.Show(labelCell)}' is not a non-negative integer");

            if ((long)(count + 1) * pixels > staged.Length)
            {
                long rows = Math.Min(Math.Min((long)maxCount, (long)count * 2), Array.MaxLength / pixels);
                if (rows <= count) Throw.User($"{src}: too many images to hold in memory ({count} read)");
                Array.Resize(ref staged, (int)(rows * pixels));
            }

            var dest = staged.AsSpan(count * pixels, pixels);
            if (!TryParsePixels(row.Span, firstPixelCol, dest))
            {
                // Slow path: cell by cell via Sep, to name the exact bad cell.
                for (int k = 0; k < pixels; k++)
                {
                    var cell = row[firstPixelCol + k].Span;
                    int v = ParseInt(cell, 255);
                    if (v < 0)
                        Throw.User($"{src}: line {line}, column {firstPixelCol + k + 1} (p{k}): pixel '{DataFiles.Show(cell)}' is not an integer in 0..255");
                    dest[k] = (byte)v;
                }
            }
            labels.Add(label);
            if (++count == maxCount) break;
        }

        if (cols < 0) Throw.User($"{src}: file is empty (only blank lines): expected a header row label,index_in_digit,p0,...,p783");
        if (count == 0) Throw.User($"{src}: no images after the header on line {headerLine}");
        var data = GC.AllocateUninitializedArray<float>(count * pixels);
        var raw = staged.AsSpan(0, data.Length);
        for (int i = 0; i < data.Length; i++) data[i] = Scale[raw[i]];
        return new ImageSet(data, count, side, side, [.. labels]);
    }

    static (int firstPixelCol, int pixels) ParseHeader(SepReader.Row row, string src, int line)
    {
        const string expected = "expected label,index_in_digit,p0,...,p783";

        if (!Cell(row, 0).Equals("label", StringComparison.OrdinalIgnoreCase))
        {
            if (ParseInt(Cell(row, 0).AsSpan(), int.MaxValue) >= 0)
                Throw.User($"{src}: line {line}: no header row: the first line looks like data; {expected}");
            Throw.User($"{src}: line {line}, column 1: header starts with '{DataFiles.Show(Cell(row, 0))}', {expected}");
        }
        int first = row.ColCount > 1 && Cell(row, 1).Equals("index_in_digit", StringComparison.OrdinalIgnoreCase) ? 2 : 1;
        int pixels = row.ColCount - first;
        if (pixels == 0) Throw.User($"{src}: line {line}: header has no pixel columns; {expected}");
        for (int k = 0; k < pixels; k++)
        {
            var name = Cell(row, first + k);
            if (!name.Equals(string.Create(CultureInfo.InvariantCulture, $"p{k}"), StringComparison.OrdinalIgnoreCase))
                Throw.User($"{src}: line {line}, column {first + k + 1}: header has '{DataFiles.Show(name)}' where 'p{k}' was expected; {expected}");
        }
        int side = (int)Math.Round(Math.Sqrt(pixels));
        if (side * side != pixels)
            Throw.User($"{src}: line {line}: {pixels} pixel columns do not make a square image (MNIST has 784 = 28×28)");
        return (first, pixels);
    }

    /// <summary>
    /// Fast path: parses the pixels straight from the row text (one pass, no per-cell calls), skipping
    /// <paramref name="skipCells"/> leading cells. False on anything unusual (quotes, spaces, bad values),
    /// in which case the caller re-reads the row cell by cell to report the exact problem.
    /// </summary>
    static bool TryParsePixels(ReadOnlySpan<char> row, int skipCells, Span<byte> dest)
    {
        int i = 0;
        for (int skipped = 0; skipped < skipCells; i++)
        {
            if (i >= row.Length) return false;
            if (row[i] == ',') skipped++;
        }
        int n = dest.Length;
        for (int k = 0; k < n; k++)
        {
            int v = 0, digits = 0;
            while (i < row.Length)
            {
                uint d = (uint)(row[i] - '0');
                if (d > 9) break;
                v = v * 10 + (int)d;
                digits++;
                i++;
            }
            if (digits is 0 or > 3 || v > 255) return false;
            dest[k] = (byte)v;
            if (k < n - 1)
            {
                if (i >= row.Length || row[i] != ',') return false;
                i++;
            }
        }
        return i == row.Length;
    }

    static string Cell(SepReader.Row row, int c) => row[c].ToString().Trim().TrimStart('\uFEFF');

    /// <summary>Parses ASCII digits (no sign, no spaces) up to <paramref name="max"/>; -1 if invalid.</summary>
    static int ParseInt(ReadOnlySpan<char> s, int max)
    {
        if (s.IsEmpty || s.Length > 10) return -1;
        long v = 0;
        foreach (var ch in s)
        {
            uint d = (uint)(ch - '0');
            if (d > 9) return -1;
            v = v * 10 + d;
        }
        return v <= max ? (int)v : -1;
    }

    static float[] BuildScale()
    {
        var t = new float[256];
        for (int i = 0; i < t.Length; i++) t[i] = i / 255f;
        return t;
    }
}
