using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FinGen.Native;
using FinGen.Native.Data;
using FinGen.Native.IO;
using nietras.SeparatedValues;

namespace FinGen.Cli;

internal static class SampleCommand
{
    public static Command Create(CliConsole console)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint.safetensors written by 'fingen train'", Required = true };
        var count = new Option<int>("--count") { Description = "number of samples", DefaultValueFactory = _ => 64 };
        var seed = Options.Seed(0);
        var output = new Option<string?>("--out") { Description = "FILE.csv (one sample a row; decoded log returns for price models), FILE.png (a grid) or FILE.parquet (price models: return paths, see --paths); default: CSV on stdout" };
        var paths = new Option<int?>("--paths") { Description = "with --out FILE.parquet: number of return paths, each chaining generated windows (default 100); rows path, day, log_return, price", HelpName = "N" };
        var length = new Option<int?>("--length") { Description = "with --out FILE.parquet: trading days per path (default 252)", HelpName = "DAYS" };
        var pathDays = Options.PathDays();
        var command = new Command("sample", "Draw samples from a trained checkpoint") { checkpoint, count, seed, output, paths, length, pathDays };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(checkpoint)!;
            int n = Options.AtLeast(parse.GetValue(count), 1, "--count");
            string? outPath = parse.GetValue(output);
            if (outPath is not null && string.IsNullOrWhiteSpace(outPath)) Options.Throw("--out is empty; name a .csv, .png or .parquet file, or leave --out out for CSV on stdout");
            string extension = outPath is null ? ".csv" : Path.GetExtension(outPath).ToLowerInvariant();
            if (extension is not (".csv" or ".png" or ".parquet")) Options.Throw($"--out {outPath}: use a .csv or .png file name, or .parquet for return paths");
            bool pathsGiven = parse.GetResult(paths) is { Implicit: false }, lengthGiven = parse.GetResult(length) is { Implicit: false };
            if (extension == ".parquet" && parse.GetResult(count) is { Implicit: false })
                Options.Throw("--count does not apply to .parquet output; use --paths N and --length DAYS");
            if (extension != ".parquet" && (pathsGiven || lengthGiven))
                Options.Throw($"{(pathsGiven ? "--paths" : "--length")} applies to --out FILE.parquet (return paths of a price model)");
            if (extension == ".png" && n > Pictures.MaxGridSamples)
                Options.Throw($"--count {n}: a PNG grid holds at most {Pictures.MaxGridSamples} samples; write a .csv for more");
            if (outPath is not null)
            {
                Options.MustBeNewFile(outPath, "--out");
                AtomicFile.CleanStray(Path.GetDirectoryName(Path.GetFullPath(outPath))!); // what a killed sample run left there
            }
            Options.MustExist(path, "--checkpoint");

            if (extension == ".parquet")
            {
                int pathCount = Options.AtLeast(parse.GetValue(paths) ?? DefaultPaths, 1, "--paths");
                int days = Options.AtLeast(parse.GetValue(length) ?? DefaultLength, 1, "--length");
                WritePaths(console, path, outPath!, pathCount, days, parse.GetValue(seed), Options.ParsePathDays(parse.GetValue(pathDays)!),
                    pathDaysGiven: parse.GetResult(pathDays) is { Implicit: false });
                return Cli.Ok;
            }

            using var sampler = Sampler.Load(path);
            var encoding = DataSets.EncodingOf(sampler.DataMetadata);
            ulong seedValue = parse.GetValue(seed);
            if (extension == ".csv" && encoding is { CanDecode: false })
                Options.Throw($"--checkpoint {path}: its {encoding.Name} images do not decode to returns, so there is no CSV of returns to write; write --out FILE.png");
            if (extension == ".png")
            {
                var (height, width) = encoding is not null ? (encoding.Height, encoding.Width) : (sampler.Config.ImageSide, sampler.Config.ImageSide);
                if (height == 0) Options.Throw($"--out {outPath}: this model's samples are not images; write a .csv");
                var samples = new float[(long)n * sampler.SampleSize];
                sampler.Sample(samples, n, seedValue);
                Pictures.SaveGrid(outPath!, samples, n, height, width, $"{English.Plural(n, "sample")} of {Path.GetFileName(path)}", replace: false, option: "--out");
            }
            else if (outPath is null && StdoutPipe(console) is { } pipe)
            {
                try
                {
                    using (pipe)
                    using (var writer = Sep.New(',').Writer().To(pipe, leaveOpen: true))
                        WriteCsv(writer, sampler, n, seedValue, encoding);
                }
                catch (IOException) when (!PipeReaderAlive(pipe))
                {
                    return BrokenPipe; // the reader is gone (| head): stop drawing, quietly, as other tools do
                }
            }
            else if (outPath is null)
            {
                using var writer = Sep.New(',').Writer().To(console.Out);
                WriteCsv(writer, sampler, n, seedValue, encoding);
            }
            else
            {
                AtomicFile.Write(outPath, stream =>
                {
                    using var writer = Sep.New(',').Writer().To(stream, leaveOpen: true);
                    WriteCsv(writer, sampler, n, seedValue, encoding);
                }, replace: false, option: "--out");
            }
            if (outPath is not null) console.Out.WriteLine($"wrote {English.Plural(n, "sample")} to {outPath}");
            return Cli.Ok;
        });
        return command;
    }

    public const int DefaultPaths = 100, DefaultLength = 252;

    /// <summary>128 + SIGPIPE, the shell's code for a writer whose reader went away.</summary>
    public const int BrokenPipe = 141;

    /// <summary>
    /// Standard output as a stream when it is the process's own stdout and a pipe (Linux). .NET's console drops writes
    /// to a closed pipe silently, so <c>fingen sample --count 10000000 | head</c> would draw every sample; a stream on
    /// the pipe itself fails at the first write after the reader has gone. (Not for a regular file: a second stream
    /// on it would write at its own offset, over what stderr writes to the same file.)
    /// </summary>
    private static FileStream? StdoutPipe(CliConsole console)
    {
        if (!OperatingSystem.IsLinux() || !ReferenceEquals(console.Out, Console.Out) || !Console.IsOutputRedirected) return null;
        try
        {
            if (new FileInfo("/proc/self/fd/1").LinkTarget is not { } target || !target.StartsWith("pipe:", StringComparison.Ordinal)) return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        console.Out.Flush();
        return new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 1 << 16);
    }

    private static bool PipeReaderAlive(FileStream pipe)
    {
        try
        {
            pipe.Flush();
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void WritePaths(CliConsole console, string checkpointPath, string outPath, int pathCount, int days, ulong seed, PathDays pathDays, bool pathDaysGiven)
    {
        using var sampler = Sampler.Load(checkpointPath);
        // A conditional model rolls out whole windows, each given the path before it; only an explicit --path-days independent is an error.
        if (sampler.Condition is not null && !pathDaysGiven) pathDays = PathDays.Windows;
        var encoding = DataSets.EncodingOf(sampler.DataMetadata)
            ?? throw new FinGenException($"--checkpoint {checkpointPath}: the model was trained on images, not prices; .parquet return paths need a price model");
        // Memory is one chunk's (one shuffle block's for independent days) whatever the path count; the file grows with it.
        Sizes.Require(ReturnPathStream.BufferBytesFor(pathCount, days, encoding.WindowLength, sampler.SampleSize, pathDays)
            + 2.0 * Math.Min(pathCount, ReturnPathStream.ChunkPathsFor(days)) * days * RowBytes,
            (double)Math.Min(pathCount, ReturnPathStream.DefaultShufflePaths) * days, $"{English.Plural(pathCount, "path")} of {English.Plural(days, "day")}", "--length");
        Sizes.RequireDisk((double)pathCount * days * FileBytesPerRow, Path.GetDirectoryName(Path.GetFullPath(outPath))!,
            $"{English.Plural(pathCount, "path")} of {English.Plural(days, "day")}", "--paths");
        var returns = new ReturnPathStream(sampler, encoding, pathCount, days, seed, VolatilityFilter.FromMetadata(sampler.DataMetadata), pathDays);
        // A one-column model starts its paths at the last training close; a panel's paths belong to no one column and start at 1.
        var meta = sampler.DataMetadata;
        bool fromClose = meta.TryGetValue("last_train_close", out var close);
        double start = fromClose ? double.Parse(close!, NumberStyles.Float, CultureInfo.InvariantCulture) : 1.0;
        var options = DataOptions.FromMetadata(meta);
        var fileMetadata = new Dictionary<string, string>
        {
            ["fingen.checkpoint"] = Path.GetFullPath(checkpointPath),
            ["fingen.seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["fingen.start_price"] = ReturnPathsParquet.Invariant(start),
            ["fingen.version"] = InfoCommand.Version,
        };
        foreach (var (key, value) in meta) fileMetadata["fingen.data." + key] = value;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var written = ReturnPathsParquet.Write(outPath, returns, start, fileMetadata);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        string from = fromClose
            ? $"from {start.ToString("R", CultureInfo.InvariantCulture)}, the last training close{(meta.TryGetValue("train_last_date", out var date) ? $" ({date})" : "")}"
            : $"from 1 (a model of {options.Columns.Count} pooled columns has no one start price)";
        console.Out.WriteLine($"wrote {English.Plural(pathCount, "path")} of {English.Plural(days, "day")} to {outPath}: path, day, log_return, price {from}; data {options}");
        // CPU time by phase, summed over the threads that ran it: on shared cores a thread's wall time also counts its
        // waits for a core. Parquet.Net's work hops between pool threads, so its CPU time is what the others leave.
        var phases = returns.GenerationTime + returns.DecodingTime + returns.ChainingTime + written.Columns;
        string cpuKind = ThreadCpuClock.IsCpuTime ? "CPU" : "thread wall";
        console.Out.WriteLine($"  time: {Seconds(written.Wall)}, {Seconds(cpu)} of CPU on {Environment.ProcessorCount} cores, {English.Plural(written.RowGroups, "row group")}; "
            + $"{cpuKind} time: generation {Seconds(returns.GenerationTime)}, decoding to returns {Seconds(returns.DecodingTime)}, "
            + $"chaining days into paths {Seconds(returns.ChainingTime)}, columns {Seconds(written.Columns)}, "
            + $"writing Parquet and the rest {Seconds(cpu - phases)} (writing took {Seconds(written.Writing)} of wall time beside the draws)");
    }

    /// <summary>Bytes of one row in memory: path and day (int), log return and price (double).</summary>
    private const int RowBytes = 24;
    /// <summary>Bytes of one row in the file, about: 14.65 measured on 100,000 paths of 252 days (Snappy, dictionary-encoded path and day).</summary>
    private const double FileBytesPerRow = 14.5;

    private static string Seconds(TimeSpan time) => time.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s";

    /// <summary>Samples per chunk of a CSV: a multiple of the sampler's 64, so the chunks give exactly one draw's numbers.</summary>
    private const int CsvChunk = 4096;

    /// <summary>
    /// Draws and writes <paramref name="count"/> samples a chunk at a time, so memory stays bounded whatever the count;
    /// a chunk's samples are decoded on every core (a GASF decode is a least-squares fit, far dearer than the draw).
    /// A filtered model's window is re-coloured from the filter's start state, as the first window of a path.
    /// A conditional model's windows are drawn given the condition of the last training days.
    /// </summary>
    private static void WriteCsv(SepWriter writer, Sampler sampler, int count, ulong seed, IImageEncoding? encoding)
    {
        int width = sampler.SampleSize;
        var filter = VolatilityFilter.FromMetadata(sampler.DataMetadata)?.ForPaths();
        int columns = encoding?.WindowLength ?? width;
        var names = Enumerable.Range(0, columns).Select(i => (encoding is null ? "p" : "r") + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        int chunkSamples = Math.Min(count, CsvChunk);
        var chunk = new float[(long)chunkSamples * width];
        // A conditional model's windows are drawn given the condition of the last training days, as a path's first window is.
        float[] conditions = [];
        if (sampler.Condition is { } condition)
        {
            var c = new float[condition.Width];
            condition.Compute(condition.History, c);
            conditions = new float[(long)chunkSamples * c.Length];
            for (int s = 0; s < chunkSamples; s++) c.CopyTo(conditions, s * c.Length);
        }
        var decoded = encoding is null ? chunk : new float[(long)chunkSamples * columns];
        for (long start = 0; start < count; start += CsvChunk)
        {
            int n = (int)Math.Min(CsvChunk, count - start);
            sampler.Sample(chunk, conditions.AsSpan(0, conditions.Length == 0 ? 0 : n * sampler.ConditionWidth), n, seed, start);
            if (encoding is not null)
            {
                try
                {
                    Parallel.For(0, n, s =>
                    {
                        var window = decoded.AsSpan(s * columns, columns);
                        encoding.Decode(chunk.AsSpan(s * width, width), window);
                        filter?.Recolour(filter.PathStart(seed, start + s), window, window);
                    });
                }
                catch (AggregateException e) when (e.InnerExceptions.Count > 0)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
                }
            }
            for (int s = 0; s < n; s++)
            {
                var values = decoded.AsSpan(s * columns, columns);
                using var row = writer.NewRow();
                for (int i = 0; i < columns; i++) row[names[i]].Format(values[i]);
            }
        }
    }
}
