using System.Globalization;
using FinGen.Native.Training;

namespace FinGen.Native.Data;

/// <summary>
/// Turns a <c>--data</c> value into training samples: <c>mnist</c> (the embedded digits), <c>sp500</c>
/// (the embedded S&amp;P 500, the default) or a path to a price CSV with <c>date</c> and <c>close</c> columns.
/// Prices become log returns; the last 20 % of them are held out; the rest are cut into windows of 28
/// returns and encoded as 28×28 GASF images with bounds fitted on the training part only.
/// </summary>
public static class DataSets
{
    public const string Mnist = "mnist";
    public const string Sp500 = "sp500";
    public const int WindowLength = 28;
    public const double HeldOutFraction = 0.2;

    public static TrainingData Load(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) Throw.User("--data is empty; use mnist, sp500 or a CSV path");
        var data = spec switch
        {
            Mnist => FromImages(EmbeddedData.Mnist()),
            Sp500 => FromPrices(EmbeddedData.Sp500()),
            _ => FromPrices(PriceCsv.Load(spec)),
        };
        // The --data value itself, so that resume and eval find the same data again.
        var metadata = new Dictionary<string, string>(data.Metadata) { [SpecKey] = spec };
        return data with { Metadata = metadata };
    }

    /// <summary>The metadata key holding the <c>--data</c> value the samples came from.</summary>
    public const string SpecKey = "spec";

    public static TrainingData FromImages(ImageSet images) =>
        new(Mnist, images.Pixels, images.Count, images.PixelsPerImage, new Dictionary<string, string>
        {
            ["kind"] = "images",
            ["source"] = Mnist,
            ["count"] = Invariant(images.Count),
        });

    public static TrainingData FromPrices(PriceSeries prices)
    {
        PriceCsv.RequireAtLeast(prices, WindowLength + 1, $"one window of {WindowLength} log returns");
        var returns = MarketImages.LogReturns(prices);
        var (train, heldOut) = MarketImages.SplitByTime(returns, HeldOutFraction);
        if (train.Length < WindowLength)
            Throw.User($"{prices.Source}: {prices.Count} prices leave {train.Length} training returns after holding out the last {HeldOutFraction:P0}; one window needs {WindowLength}");
        var encoding = GasfEncoding.Fit(train, WindowLength);
        var (images, count) = MarketImages.EncodeWindows(train, encoding);
        int trainPrices = train.Length + 1;
        var metadata = new Dictionary<string, string>
        {
            ["kind"] = "prices",
            ["source"] = prices.Source,
            ["train_first_date"] = prices.Dates[0].ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["train_last_date"] = prices.Dates[trainPrices - 1].ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["train_returns"] = Invariant(train.Length),
            ["held_out_returns"] = Invariant(heldOut.Length),
            ["last_train_close"] = prices.Closes[trainPrices - 1].ToString("R", CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in encoding.ToMetadata()) metadata[key] = value;
        return new TrainingData(prices.Source, images, count, encoding.Height * encoding.Width, metadata);
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
    /// <paramref name="paths"/> return paths of <paramref name="length"/> days from a price model: each path
    /// chains consecutive generated windows, each decoded to 28 log returns.
    /// </summary>
    public static double[][] ReturnPaths(Sampler sampler, IImageEncoding encoding, int paths, int length, ulong seed)
    {
        int window = encoding.WindowLength, size = sampler.SampleSize;
        int perPath = (length + window - 1) / window;
        var samples = new float[(long)paths * perPath * size];
        sampler.Sample(samples, paths * perPath, seed);
        var decoded = new float[window];
        var result = new double[paths][];
        for (int p = 0; p < paths; p++)
        {
            result[p] = new double[length];
            for (int w = 0; w < perPath; w++)
            {
                encoding.Decode(samples.AsSpan((p * perPath + w) * size, size), decoded);
                for (int i = 0; i < window && w * window + i < length; i++) result[p][w * window + i] = decoded[i];
            }
        }
        return result;
    }

    /// <summary>Loads what a <c>--data</c> value names as prices, for evaluation.</summary>
    public static PriceSeries LoadPrices(string spec) => spec switch
    {
        Sp500 => EmbeddedData.Sp500(),
        Mnist => Throw.User<PriceSeries>("mnist is not price data; evaluation needs a price model and price data"),
        _ => PriceCsv.Load(spec),
    };

    /// <summary>The image encoding a checkpoint's data metadata describes, or null for plain images.</summary>
    public static IImageEncoding? EncodingOf(IReadOnlyDictionary<string, string> dataMetadata) =>
        dataMetadata.TryGetValue("kind", out var kind) && kind == "prices" ? ImageEncodings.FromMetadata(dataMetadata) : null;

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
