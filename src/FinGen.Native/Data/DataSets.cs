using System.Globalization;
using FinGen.Native.Evaluation;
using FinGen.Native.Models;
using FinGen.Native.Training;

namespace FinGen.Native.Data;

/// <summary>
/// Turns a <c>--data</c> value into training samples: <c>mnist</c> (the embedded digits), <c>sp500</c>
/// (the embedded S&amp;P 500, the default) or a path to a price CSV with a <c>date</c> column and price columns.
/// Each chosen price column (<see cref="DataOptions.Columns"/>, by default <c>close</c>) becomes log returns;
/// every column is split at the same date, its last 20 % held out; the training parts are cut into windows of
/// 28 returns every <see cref="DataOptions.Stride"/> days, pooled over the columns, and encoded as 28×28 GASF
/// images with bounds fitted on the pooled training returns only.
/// </summary>
public static class DataSets
{
    public const string Mnist = "mnist";
    public const string Sp500 = "sp500";
    public const int WindowLength = 28;
    public const double HeldOutFraction = 0.2;

    /// <summary><see cref="Load(string, DataOptions)"/> with <see cref="DataOptions.Default"/>.</summary>
    public static TrainingData Load(string spec) => Load(spec, DataOptions.Default);

    /// <summary>
    /// Loads what <paramref name="spec"/> names with <paramref name="options"/>; the metadata records both
    /// (<see cref="SpecKey"/> and <see cref="DataOptions.ToMetadata"/>) so resume, eval and sample rebuild the
    /// same data, and <see cref="MissingKey"/> says what was done about missing prices, if any were missing.
    /// </summary>
    public static TrainingData Load(string spec, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(spec)) Throw.User("--data is empty; use mnist, sp500 or a CSV path");
        options.Validate();
        TrainingData data;
        if (spec == Mnist)
        {
            if (!options.IsDefault)
                Throw.User($"--data mnist is images: --column, --columns, --na and --stride apply to price data (got {options})");
            data = FromImages(EmbeddedData.Mnist());
        }
        else
        {
            data = FromPanel(LoadPanel(spec, options), options);
        }
        // The --data value itself, so that resume and eval find the same data again.
        var metadata = new Dictionary<string, string>(data.Metadata) { [SpecKey] = spec };
        return data with { Metadata = metadata };
    }

    /// <summary>The metadata key holding the <c>--data</c> value the samples came from.</summary>
    public const string SpecKey = "spec";
    /// <summary>The metadata key holding <see cref="MissingReport.ToString"/> when prices were missing.</summary>
    public const string MissingKey = "missing";

    /// <summary>Loads the price columns a <c>--data</c> value and <paramref name="options"/> name.</summary>
    public static PricePanel LoadPanel(string spec, DataOptions options) => spec switch
    {
        Sp500 => EmbeddedData.Sp500(options),
        Mnist => Throw.User<PricePanel>("mnist is not price data; evaluation needs a price model and price data"),
        _ => PriceCsv.LoadPanel(spec, options),
    };

    public static TrainingData FromImages(ImageSet images) =>
        new(Mnist, images.Pixels, images.Count, images.PixelsPerImage, new Dictionary<string, string>
        {
            ["kind"] = "images",
            ["source"] = Mnist,
            ["count"] = Invariant(images.Count),
        });

    /// <summary>One close series, every window (stride 1).</summary>
    public static TrainingData FromPrices(PriceSeries prices)
    {
        ArgumentNullException.ThrowIfNull(prices);
        return FromPanel(new PricePanel(prices.Source, prices.Dates, [DataOptions.DefaultColumn], [prices.Closes], MissingReport.None(MissingValues.Error)), DataOptions.Default);
    }

    /// <summary>
    /// Windows of every column of <paramref name="panel"/>, pooled: column 0's windows first, then column 1's, ...
    /// Every column is split after the same date; the return transform and the encoding's bounds are fitted on
    /// all training returns together. <paramref name="options"/> gives the stride, window, transform and encoding
    /// (its columns and missing-value policy were applied when the panel was loaded).
    /// </summary>
    public static TrainingData FromPanel(PricePanel panel, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(panel);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int stride = options.Stride, window = options.Window;
        PriceCsv.RequireAtLeast(new PriceSeries(panel.Source, panel.Dates, panel.Prices[0]), window + 1, $"one window of {window} log returns");
        int columns = panel.Columns.Length;
        var train = new float[columns][];
        int heldOut = 0;
        for (int c = 0; c < columns; c++)
        {
            (train[c], var held) = MarketImages.SplitByTime(MarketImages.LogReturns(panel.Series(c)), HeldOutFraction);
            heldOut = held.Length;
        }
        int trainReturns = train[0].Length;
        if (trainReturns < window)
            Throw.User($"{panel.Source}: {English.Plural(panel.Count, "price")} leave {English.Plural(trainReturns, "training return")} after holding out the last {HeldOutFraction:P0}; one window needs {window}");
        // The condition is computed from the returns themselves, so keep them before a filter replaces them by residuals.
        var returnsOf = train.Select(t => Array.ConvertAll(t, v => (double)v)).ToArray();
        // With a filter the model learns each column's standardized residuals, not its returns.
        var filters = new List<VolatilityFilter>();
        if (options.Filter != VolatilityFilterKind.None)
        {
            for (int c = 0; c < columns; c++)
            {
                var (filter, residuals) = VolatilityFilter.Fit(options.Filter, train[c], $"{panel.Source} column '{panel.Columns[c]}'", options.FilterStart, options.PathCalibration);
                filters.Add(filter);
                train[c] = residuals;
            }
        }
        var pooled = columns == 1 ? train[0] : train.SelectMany(t => t).ToArray();
        var encoding = FitEncoding(pooled, options);

        int size = encoding.Height * encoding.Width;
        long perColumn = (trainReturns - window) / stride + 1;
        // A conditional model trains only on the windows with a whole condition's worth of returns before them.
        int lookback = ConditionFeatures.LookbackOf(options.Condition, window);
        int skipped = (int)Math.Min(perColumn, (lookback + stride - 1) / stride);
        if (perColumn * columns * size > Array.MaxLength)
            Throw.User($"{panel.Source}: {perColumn * columns} windows of {size} pixels do not fit in one array; use a larger --stride or fewer --columns");
        float[] images;
        int count;
        if (columns == 1 && skipped == 0)
        {
            (images, count) = MarketImages.EncodeWindows(train[0], encoding, stride);
        }
        else
        {
            images = new float[(perColumn - skipped) * columns * size];
            count = 0;
            foreach (var returns in train)
            {
                var (part, n) = MarketImages.EncodeWindows(returns, encoding, stride);
                part.AsSpan((int)((long)skipped * size), (n - skipped) * size).CopyTo(images.AsSpan((int)((long)count * size)));
                count += n - skipped;
            }
        }
        ConditionFeatures? condition = null;
        float[]? conditions = null;
        if (options.Condition != ConditionKind.None)
        {
            var starts = Enumerable.Range(skipped, (int)perColumn - skipped).Select(k => k * stride).ToArray();
            (condition, conditions) = ConditionFeatures.Fit(options.Condition, window, returnsOf.Select(r => (r, starts)).ToList(),
                returnsOf[0][^lookback..]);
        }

        int trainPrices = trainReturns + 1;
        var metadata = new Dictionary<string, string>
        {
            ["kind"] = "prices",
            ["source"] = panel.Source,
            // The dates of the first and last training returns: return t is log(Pₜ/Pₜ₋₁), dated on day t, so the first
            // return is dated on the second price's day.
            ["train_first_date"] = panel.Dates[1].ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["train_last_date"] = panel.Dates[trainPrices - 1].ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["train_returns"] = Invariant(trainReturns),
            ["held_out_returns"] = Invariant(heldOut),
        };
        // A pooled model's paths belong to no one column, so only a single series has a natural start price.
        if (columns == 1) metadata["last_train_close"] = panel.Prices[0][trainPrices - 1].ToString("R", CultureInfo.InvariantCulture);
        var report = panel.Missing.ToString();
        if (report.Length > 0) metadata[MissingKey] = report;
        foreach (var (key, value) in (options with { Missing = panel.Missing.Policy }).ToMetadata(panel.Columns)) metadata[key] = value;
        foreach (var (key, value) in encoding.ToMetadata()) metadata[key] = value;
        if (filters.Count > 0) metadata[VolatilityFilter.ParametersKey] = VolatilityFilter.ToMetadata(filters);
        if (options.FilterStart == FilterStart.Drawn) metadata[VolatilityFilter.LongRunLevelsKey] = VolatilityFilter.LevelsToMetadata(filters);
        if (options.PathCalibration != PathCalibration.None) metadata[VolatilityFilter.PathParametersKey] = VolatilityFilter.PathParametersToMetadata(filters);
        if (condition is not null) foreach (var (key, value) in condition.ToMetadata()) metadata[key] = value;
        return new TrainingData(panel.Source, images, count, size, metadata) { Conditions = conditions, ConditionWidth = condition?.Width ?? 0 };
    }

    /// <summary>
    /// The encoding <paramref name="options"/> asks for, fitted on the training returns: the transform first
    /// (on the raw returns), then the encoding's bounds on the transformed returns.
    /// </summary>
    public static IImageEncoding FitEncoding(ReadOnlySpan<float> trainingReturns, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Transform == ReturnTransform.None) return ImageEncodings.Fit(options.Encoding, trainingReturns, options.Window);
        var transform = options.Transform == ReturnTransform.LambertW ? Preprocessing.Fit(trainingReturns) : Preprocessing.FitRobust(trainingReturns);
        return new PreprocessedEncoding(transform, ImageEncodings.Fit(options.Encoding, transform.Apply(trainingReturns), options.Window));
    }

    /// <summary>
    /// The log returns in double precision, split exactly where <see cref="FromPrices"/> splits them: the
    /// training part (what the model saw) and the held-out part (for evaluation only).
    /// </summary>
    public static (double[] Train, double[] HeldOut) SplitReturns(PriceSeries prices)
    {
        PriceCsv.RequireAtLeast(prices, WindowLength + 1, $"one window of {WindowLength} log returns");
        int trainCount = MarketImages.SplitByTime(MarketImages.LogReturns(prices), HeldOutFraction).train.Length;
        var returns = new double[prices.Count - 1];
        for (int t = 1; t < prices.Count; t++) returns[t - 1] = Math.Log(prices.Closes[t] / prices.Closes[t - 1]);
        return (returns[..trainCount], returns[trainCount..]);
    }

    /// <summary>
    /// <paramref name="paths"/> return paths of <paramref name="length"/> days from a price model, all in memory: each path
    /// chains generated windows, each decoded by <paramref name="encoding"/>. With a volatility <paramref name="filter"/>
    /// the decoded windows are standardized residuals, re-coloured along the whole path from the filter's start variance,
    /// so the variance carries from one window into the next. <see cref="ReturnPathStream"/> draws the same paths a chunk
    /// at a time, for more paths than fit in memory.
    /// </summary>
    public static double[][] ReturnPaths(Sampler sampler, IImageEncoding encoding, int paths, int length, ulong seed, VolatilityFilter? filter = null,
        PathDays days = PathDays.Windows)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(encoding);
        if (sampler.Condition is { } condition)
        {
            if (days == PathDays.Independent)
                Throw.User("--path-days independent does not apply to a conditional model: each window is drawn given the path before it");
            return ConditionalReturnPaths(sampler, encoding, condition, condition.History, paths, length, seed, filter);
        }
        var stream = new ReturnPathStream(sampler, encoding, paths, length, seed, filter, days);
        var result = new double[paths][];
        while (stream.MoveNext())
        {
            var returns = stream.Returns;
            for (int p = 0; p < stream.Count; p++)
            {
                var row = returns.Slice(p * length, length);
                var path = result[stream.FirstPath + p] = new double[length];
                for (int d = 0; d < length; d++) path[d] = row[d];
            }
        }
        return result;
    }

    /// <summary>
    /// A conditional model's paths, rolled out window after window from the real <paramref name="history"/> (oldest
    /// first; its last day is the day before the path): each window is drawn given the condition of the path so far
    /// (the history, then the generated returns), decoded, and with a <paramref name="filter"/> re-coloured from the
    /// variance the previous window left (the first from the filter's start variance). Window w of every path is
    /// drawn in one batch under its own seed, so path p does not depend on how many paths are drawn with it.
    /// </summary>
    public static double[][] ConditionalReturnPaths(Sampler sampler, IImageEncoding encoding, ConditionFeatures condition, ReadOnlySpan<double> history,
        int paths, int length, ulong seed, VolatilityFilter? filter)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(encoding);
        ArgumentNullException.ThrowIfNull(condition);
        int window = encoding.WindowLength, size = sampler.SampleSize, width = condition.Width, lookback = condition.Lookback;
        if (history.Length < lookback) Throw.User($"a conditional path needs {lookback} returns of history, got {history.Length}");
        int perPath = (length + window - 1) / window;
        filter = filter?.ForPaths();
        // Each path's past: the last lookback real returns, then its own generated days.
        var past = new double[paths][];
        var states = new VolatilityState[paths];
        for (int p = 0; p < paths; p++)
        {
            past[p] = new double[lookback + perPath * window];
            history[^lookback..].CopyTo(past[p]);
            states[p] = filter?.Start ?? default;
        }
        var conditions = new float[(long)paths * width];
        var samples = new float[(long)paths * size];
        var decoded = new float[window];
        for (int w = 0; w < perPath; w++)
        {
            int end = lookback + w * window;
            for (int p = 0; p < paths; p++) condition.Compute(past[p].AsSpan(end - lookback, lookback), conditions.AsSpan(p * width, width));
            sampler.Sample(samples, conditions, paths, WindowSeed(seed, w));
            for (int p = 0; p < paths; p++)
            {
                encoding.Decode(samples.AsSpan(p * size, size), decoded);
                if (filter is not null) states[p] = filter.Recolour(states[p], decoded, decoded);
                for (int i = 0; i < window; i++) past[p][end + i] = decoded[i];
            }
        }
        var result = new double[paths][];
        for (int p = 0; p < paths; p++) result[p] = past[p].AsSpan(lookback, length).ToArray();
        return result;
    }

    /// <summary>
    /// A conditional model's innovations for conditional forecasts: the scenarios of a day are windows drawn given the
    /// condition of the real history before it, decoded (for a filtered model: standardized residuals, which the
    /// forecast re-colours from the day's filtered variance), their days taken from the start, where the condition
    /// applies. A scenario longer than one window is rolled out as a path is: its next window is drawn given the
    /// history and the returns the scenario has made so far (re-coloured here from the same variance the forecast uses).
    /// </summary>
    public sealed class ConditionalWindows(Sampler sampler, IImageEncoding encoding, ConditionFeatures condition, VolatilityFilter? filter)
        : Evaluation.ConditionedInnovations
    {
        public override void Draw(ReadOnlySpan<double> history, VolatilityState state, int count, int horizon, ulong seed, Span<double> z)
        {
            int window = encoding.WindowLength, size = sampler.SampleSize, width = condition.Width, lookback = condition.Lookback;
            if (history.Length < lookback) Throw.User($"a conditional forecast needs {lookback} days of history, got {history.Length}");
            int windows = (horizon + window - 1) / window;
            // Scenario k's past: the last lookback real returns, then its own returns (only needed beyond one window).
            int span = lookback + (windows - 1) * window;
            var past = new double[(long)count * span];
            for (int k = 0; k < count; k++) history[^lookback..].CopyTo(past.AsSpan(k * span, lookback));
            var states = new VolatilityState[count];
            Array.Fill(states, state);
            var conditions = new float[(long)count * width];
            var samples = new float[(long)count * size];
            var decoded = new float[window];
            for (int w = 0; w < windows; w++)
            {
                for (int k = 0; k < count; k++)
                {
                    if (w == 0 && k > 0) conditions.AsSpan(0, width).CopyTo(conditions.AsSpan(k * width, width)); // one past for all at first
                    else condition.Compute(past.AsSpan(k * span + w * window, lookback), conditions.AsSpan(k * width, width));
                }
                sampler.Sample(samples, conditions, count, WindowSeed(seed, w));
                for (int k = 0; k < count; k++)
                {
                    encoding.Decode(samples.AsSpan(k * size, size), decoded);
                    for (int d = 0; d < window && w * window + d < horizon; d++) z[k * horizon + w * window + d] = decoded[d];
                    if (w == windows - 1) continue;
                    if (filter is not null) states[k] = filter.Recolour(states[k], decoded, decoded);
                    for (int d = 0; d < window; d++) past[k * span + lookback + w * window + d] = decoded[d];
                }
            }
        }
    }

    /// <summary>The seed of window <paramref name="w"/> of a conditional rollout.</summary>
    static ulong WindowSeed(ulong seed, int w) => seed + (ulong)(w + 1) * 0x9E3779B97F4A7C15UL;


    /// <summary>
    /// <paramref name="count"/> generated windows decoded by <paramref name="encoding"/> without any filter, [count, L]:
    /// for a filtered model these are its standardized residuals, the innovations of its conditional forecasts. Window k
    /// is window k mod 4096 of the draw under seed + ⌊k/4096⌋·0x9E3779B97F4A7C15, so the windows do not depend on
    /// how many a caller asks for; they are drawn and decoded on every core.
    /// </summary>
    /// <param name="conditions">a conditional model's conditions [m, ConditionWidth]: window k is drawn given row k mod m
    /// (null: c = 0 for every window)</param>
    public static float[] DecodedWindows(Sampler sampler, IImageEncoding encoding, int count, ulong seed, float[]? conditions = null)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(encoding);
        if (conditions is null)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(count);
            var all = new float[(long)count * encoding.WindowLength];
            ReturnPathStream.GenerateDecoded(sampler, encoding, 0, count, seed, seedPerChunk: true, all, timings: null);
            return all;
        }
        int window = encoding.WindowLength, size = sampler.SampleSize, width = sampler.ConditionWidth;
        const int Chunk = 4096;
        var result = new float[(long)count * window];
        var samples = new float[(long)Math.Min(count, Chunk) * size];
        var chunkConditions = conditions is null ? null : new float[(long)Math.Min(count, Chunk) * width];
        for (int start = 0, chunk = 0; start < count; start += Chunk, chunk++)
        {
            int n = Math.Min(Chunk, count - start);
            if (chunkConditions is not null)
            {
                int rows = conditions!.Length / width;
                for (int k = 0; k < n; k++)
                    conditions.AsSpan((start + k) % rows * width, width).CopyTo(chunkConditions.AsSpan(k * width, width));
            }
            // Each chunk's noise comes from its own seed, so the windows do not depend on the chunk size of a caller.
            sampler.Sample(samples.AsSpan(0, n * size), chunkConditions.AsSpan(0, chunkConditions is null ? 0 : n * width), n,
                seed + (ulong)chunk * 0x9E3779B97F4A7C15UL);
            for (int k = 0; k < n; k++)
                encoding.Decode(samples.AsSpan(k * size, size), result.AsSpan((start + k) * window, window));
        }
        return result;
    }

    /// <summary>Loads what a <c>--data</c> value names as prices, for evaluation.</summary>
    public static PriceSeries LoadPrices(string spec) => LoadPanel(spec, DataOptions.Default).Series(0);

    /// <summary>The image encoding a checkpoint's data metadata describes, or null for plain images.</summary>
    public static IImageEncoding? EncodingOf(IReadOnlyDictionary<string, string> dataMetadata)
    {
        if (!(dataMetadata.TryGetValue("kind", out var kind) && kind == "prices")) return null;
        IImageEncoding encoding = dataMetadata.ContainsKey(PreprocessingKey)
            ? new PreprocessedEncoding(Preprocessing.FromMetadata(dataMetadata), ImageEncodings.FromMetadata(dataMetadata))
            : ImageEncodings.FromMetadata(dataMetadata);
        return CalibratedEncoding.Wrap(encoding, dataMetadata);
    }

    /// <summary>Generated windows the calibration of a filtered model is fitted on.</summary>
    public const int CalibrationWindows = 20_000;
    /// <summary>The longest window a filtered model's output is calibrated for (see <see cref="CalibratedMetadata"/>).</summary>
    public const int MaxCalibratedWindow = 64;

    /// <summary>
    /// The data metadata to store with a trained price model: <paramref name="data"/>'s, plus, for a model with a
    /// volatility filter, the <see cref="CalibratedEncoding"/> that gives its decoded windows the training residuals'
    /// mean and standard deviation at every day (fitted on <see cref="CalibrationWindows"/> windows generated from
    /// <paramref name="seed"/> and on the training windows, so a resumed run calibrates to the same bits).
    /// </summary>
    public static IReadOnlyDictionary<string, string> CalibratedMetadata(GenerativeModel model, TrainingData data, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var metadata = data.Metadata.Where(p => !CalibratedEncoding.IsCalibrationKey(p.Key)).ToDictionary(p => p.Key, p => p.Value);
        if (VolatilityFilter.FromMetadata(metadata) is null || EncodingOf(metadata) is not { CanDecode: true } encoding) return metadata;
        // The matrix has L² entries in the checkpoint's header: beyond a few months of days it is not worth its size.
        if (encoding.WindowLength > MaxCalibratedWindow) return metadata;
        int window = encoding.WindowLength;
        // The windows are drawn by a Sampler on the CPU backend from the model's current weights, whatever the training
        // device: the scalar reference or the CUDA stand-in would take minutes for a convolutional generator's 20,000
        // draws at every checkpoint, and the calibration then depends on the weights alone.
        string snapshot = Path.Combine(Path.GetTempPath(), $"fingen-calibration-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
        float[] generated;
        try
        {
            Checkpoints.Checkpoint.Save(snapshot, model, metadata);
            using var sampler = Sampler.Load(snapshot);
            // A conditional model is calibrated over the training windows' own conditions, so its windows' marginal law is the one matched.
            generated = DecodedWindows(sampler, encoding, CalibrationWindows, seed, data.Conditions);
        }
        finally
        {
            File.Delete(snapshot);
        }
        var training = new float[(long)data.Count * window];
        for (int k = 0; k < data.Count; k++) encoding.Decode(data.Row(k), training.AsSpan(k * window, window));
        var tails = DataOptions.FromMetadata(metadata).Tails;
        foreach (var (key, value) in CalibratedEncoding.Fit(encoding, generated, training, tails).ToMetadata()) metadata[key] = value;
        return metadata;
    }

    private const string PreprocessingKey = "preprocessing";

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
