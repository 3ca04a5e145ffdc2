using System.Globalization;
using FinGen.Native.Data;
using Parquet;
using Parquet.Schema;

namespace FinGen.Cli;

/// <summary>
/// Scenario paths as a Parquet table, long (tidy) layout: one row per path and day, columns
/// <c>path</c> int32 (0-based), <c>day</c> int32 (1 = the first day after the start), <c>log_return</c> double and
/// <c>price</c> double = start·exp(Σ returns up to that day). Long rather than one column per path because
/// risk tools group and filter by path and day (pandas, polars, DuckDB, Spark), and thousands of paths
/// would make thousands of Parquet columns. File key-value metadata records where the paths came from.
/// </summary>
internal static class ReturnPathsParquet
{
    public static readonly DataField<int> PathField = new("path");
    public static readonly DataField<int> DayField = new("day");
    public static readonly DataField<double> LogReturnField = new("log_return");
    public static readonly DataField<double> PriceField = new("price");

    /// <summary>
    /// Writes <paramref name="returns"/> [paths][days] to <paramref name="path"/> through a temporary file in the
    /// same folder that is renamed at the end: an error leaves no half file, and an existing file is never replaced.
    /// </summary>
    public static void Write(string path, double[][] returns, double startPrice, IReadOnlyDictionary<string, string> metadata)
    {
        int paths = returns.Length, days = paths == 0 ? 0 : returns[0].Length;
        long rows = (long)paths * days;
        if (rows > Array.MaxLength) Options.Throw($"--out {path}: {rows} rows do not fit in one Parquet column here; write fewer --paths");
        var pathColumn = new int[rows];
        var dayColumn = new int[rows];
        var returnColumn = new double[rows];
        var priceColumn = new double[rows];
        for (int p = 0; p < paths; p++)
        {
            if (returns[p].Length != days) throw new ArgumentException($"path {p} has {returns[p].Length} days, path 0 has {days}", nameof(returns));
            var prices = MarketImages.Prices(startPrice, returns[p]);
            for (int d = 0; d < days; d++)
            {
                long i = (long)p * days + d;
                pathColumn[i] = p;
                dayColumn[i] = d + 1;
                returnColumn[i] = returns[p][d];
                priceColumn[i] = prices[d + 1];
            }
        }

        FinGen.Native.IO.AtomicFile.Write(path,
            stream => WriteAsync(stream, pathColumn, dayColumn, returnColumn, priceColumn, metadata).GetAwaiter().GetResult(),
            replace: false, option: "--out");
    }

    private static async Task WriteAsync(Stream stream, int[] path, int[] day, double[] logReturn, double[] price, IReadOnlyDictionary<string, string> metadata)
    {
        var schema = new ParquetSchema(PathField, DayField, LogReturnField, PriceField);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream).ConfigureAwait(false);
        writer.CustomMetadata = metadata.ToDictionary();
        using var group = writer.CreateRowGroup();
        await group.WriteAsync<int>(PathField, path).ConfigureAwait(false);
        await group.WriteAsync<int>(DayField, day).ConfigureAwait(false);
        await group.WriteAsync<double>(LogReturnField, logReturn).ConfigureAwait(false);
        await group.WriteAsync<double>(PriceField, price).ConfigureAwait(false);
    }

    /// <summary>The invariant text of a double that reads back to the same value.</summary>
    public static string Invariant(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
