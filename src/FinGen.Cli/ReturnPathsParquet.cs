using System.Diagnostics;
using System.Globalization;
using FinGen.Native;
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

    /// <summary>Where the time of <see cref="Write"/> went.</summary>
    /// <param name="Wall">From the first chunk's generation to the file's rename.</param>
    /// <param name="Columns">CPU time building each row group's columns: path and day numbers, the returns in double and the prices.</param>
    /// <param name="Writing">Wall time of Parquet encoding, compression and file writes, on a thread of their own while the next chunk is drawn.</param>
    public sealed record Timings(TimeSpan Wall, int RowGroups, TimeSpan Columns, TimeSpan Writing);

    /// <summary>
    /// Writes the paths of <paramref name="paths"/>, one row group per chunk, to <paramref name="path"/> through a
    /// temporary file in the same folder that is renamed at the end: an error leaves no half file, and an existing file
    /// is never replaced. Memory holds two chunks' columns: a row group is encoded and written on another thread while
    /// the next chunk is drawn.
    /// </summary>
    public static Timings Write(string path, ReturnPathStream paths, double startPrice, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var clock = Stopwatch.StartNew();
        long columnTicks = 0, writeTicks = 0;
        int groups = 0;
        FinGen.Native.IO.AtomicFile.Write(path, stream => WriteAsync(stream, metadata, async writer =>
        {
            int rows = Math.Min(paths.Paths, ReturnPathStream.ChunkPathsFor(paths.Length)) * paths.Length;
            RowGroupColumns even = new(rows), odd = new(rows);
            Task pending = Task.CompletedTask;
            try
            {
                while (paths.MoveNext())
                {
                    // The columns of the write before last, which ended before the last one began.
                    var columns = groups++ % 2 == 0 ? even : odd;
                    long start = ThreadCpuClock.Now();
                    columns.Fill(paths.FirstPath, paths.Count, paths.Length, startPrice, paths.Returns);
                    columnTicks += ThreadCpuClock.Now() - start;
                    await pending.ConfigureAwait(false);
                    pending = Task.Run(async () =>
                    {
                        long begin = Stopwatch.GetTimestamp();
                        await columns.WriteAsync(writer).ConfigureAwait(false);
                        writeTicks += Stopwatch.GetTimestamp() - begin;
                    });
                }
                await pending.ConfigureAwait(false);
            }
            finally
            {
                // A failed draw still waits for the write in flight before the writer is disposed (WhenAny never throws).
                await Task.WhenAny(pending).ConfigureAwait(false);
            }
        }).GetAwaiter().GetResult(), replace: false, option: "--out");
        return new Timings(clock.Elapsed, groups, new TimeSpan(columnTicks), Stopwatch.GetElapsedTime(0, writeTicks));
    }

    /// <summary>
    /// Parquet.Net keeps the memory streams it encodes pages in for reuse, without bound unless told (its documentation:
    /// "indistinguishable from a memory leak"); a row group's worth is enough to keep.
    /// </summary>
    private static readonly ParquetOptions WriterOptions = new()
    {
        MaximumSmallPoolFreeBytes = 16 << 20,
        MaximumLargePoolFreeBytes = 64 << 20,
    };

    private static async Task WriteAsync(Stream stream, IReadOnlyDictionary<string, string> metadata, Func<ParquetWriter, Task> groups)
    {
        var schema = new ParquetSchema(PathField, DayField, LogReturnField, PriceField);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, WriterOptions).ConfigureAwait(false);
        writer.CustomMetadata = metadata.ToDictionary();
        await groups(writer).ConfigureAwait(false);
    }

    /// <summary>One row group's columns, reused from chunk to chunk.</summary>
    private sealed class RowGroupColumns(int rows)
    {
        private readonly int[] _path = new int[rows];
        private readonly int[] _day = new int[rows];
        private readonly double[] _logReturn = new double[rows];
        private readonly double[] _price = new double[rows];
        private int _rows;

        /// <summary>Paths <paramref name="first"/> .. first + count − 1 of <paramref name="days"/> days from <paramref name="returns"/> [count, days].</summary>
        public void Fill(int first, int count, int days, double startPrice, ReadOnlySpan<float> returns)
        {
            _rows = count * days;
            for (int p = 0, row = 0; p < count; p++)
            {
                // price_d = start·exp(r₁)·…·exp(r_d), multiplied in this order, as MarketImages.Prices does.
                double price = startPrice;
                for (int d = 0; d < days; d++, row++)
                {
                    double r = returns[row];
                    price *= Math.Exp(r);
                    _path[row] = first + p;
                    _day[row] = d + 1;
                    _logReturn[row] = r;
                    _price[row] = price;
                }
            }
        }

        public async Task WriteAsync(ParquetWriter writer)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<int>(PathField, _path.AsMemory(0, _rows)).ConfigureAwait(false);
            await group.WriteAsync<int>(DayField, _day.AsMemory(0, _rows)).ConfigureAwait(false);
            await group.WriteAsync<double>(LogReturnField, _logReturn.AsMemory(0, _rows)).ConfigureAwait(false);
            await group.WriteAsync<double>(PriceField, _price.AsMemory(0, _rows)).ConfigureAwait(false);
        }
    }

    /// <summary>The invariant text of a double that reads back to the same value.</summary>
    public static string Invariant(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
