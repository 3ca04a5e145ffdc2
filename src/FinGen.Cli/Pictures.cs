using FinGen.Native.Data;
using FinGen.Native.IO;
using FinGen.Native.Models;
using FinGen.Native.Training;
using ScottPlot;

namespace FinGen.Cli;

/// <summary>The PNGs a person looks at instead of reading numbers: sample grids and decoded price paths (ScottPlot).</summary>
internal static class Pictures
{
    public const int GridSamples = 64;
    /// <summary>The most samples one PNG grid shows (32×32 cells; beyond that the cells are too small to see).</summary>
    public const int MaxGridSamples = 1024;
    private const int WindowsPerPath = 4;

    /// <summary>samples.png for every image model; paths.png too when the data are prices in an encoding that decodes.</summary>
    public static IEnumerable<string> WriteSamplePictures(GenerativeModel model, TrainingData data, string directory, ulong seed)
    {
        var samples = new float[GridSamples * model.Config.DataWidth];
        model.Generate(samples, GridSamples, seed);
        var written = new List<string>();
        var encoding = DataSets.EncodingOf(data.Metadata);
        int side = model.Config.ImageSide;
        var (height, width) = encoding is not null ? (encoding.Height, encoding.Width) : (side, side);
        if (height > 0)
        {
            string grid = Path.Combine(directory, "samples.png");
            SaveGrid(grid, samples, GridSamples, height, width, $"{GridSamples} generated samples ({ModelConfig.CliName(model.Config.Model).ToUpperInvariant()}, step {model.State.Step})", replace: true);
            written.Add(grid);
        }
        if (encoding is { CanDecode: true })
        {
            string paths = Path.Combine(directory, "paths.png");
            // A filtered model's training windows are residuals, not returns, so they cannot be drawn as the real stretch.
            var filter = VolatilityFilter.FromMetadata(data.Metadata);
            SavePricePaths(paths, samples, GridSamples, encoding, data.Metadata, filter is null ? RealReturns(data, encoding) : null, replace: true, filter);
            written.Add(paths);
        }
        return written;
    }

    /// <summary>A grid of ⌈√count⌉ columns of <paramref name="height"/>×<paramref name="width"/> grayscale images, one pixel gap between them.</summary>
    /// <param name="replace">True for a run's own picture (rewritten when the run is resumed); false for a path the user named.</param>
    public static void SaveGrid(string path, ReadOnlySpan<float> samples, int count, int height, int width, string title, bool replace, string? option = null)
    {
        int columns = (int)Math.Ceiling(Math.Sqrt(count));
        int rows = (count + columns - 1) / columns;
        int cellHeight = height + 1, cellWidth = width + 1, size = height * width;
        var pixels = new double[rows * cellHeight - 1, columns * cellWidth - 1];
        for (int s = 0; s < count; s++)
        {
            int top = s / columns * cellHeight, left = s % columns * cellWidth;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    pixels[top + y, left + x] = samples[s * size + y * width + x];
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(pixels);
        heatmap.Colormap = new ScottPlot.Colormaps.Grayscale();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        plot.Axes.Frameless();
        plot.HideGrid();
        plot.Title(title);
        Save(plot, path, 720, 760, replace, option);
    }

    /// <summary>
    /// Each path chains <see cref="WindowsPerPath"/> generated windows decoded to log returns, starting from the
    /// last training close at day 0: S_t = S₀·exp(Σ r). The real path is the last stretch of training data, for scale;
    /// it is history, so it is drawn before day 0 and ends at S₀ (see <see cref="StretchBefore"/>), never over the
    /// synthetic future.
    /// </summary>
    public static void SavePricePaths(string path, ReadOnlySpan<float> samples, int count, IImageEncoding encoding,
        IReadOnlyDictionary<string, string> metadata, float[]? realReturns, bool replace, VolatilityFilter? filter = null)
    {
        double s0 = metadata.TryGetValue("last_train_close", out var close) && double.TryParse(close, System.Globalization.CultureInfo.InvariantCulture, out var c) ? c : 100.0;
        int length = encoding.WindowLength, size = encoding.Height * encoding.Width;
        var window = new float[length];
        var plot = new Plot();
        int paths = count / WindowsPerPath;
        for (int p = 0; p < paths; p++)
        {
            var returns = new float[WindowsPerPath * length];
            double variance = filter?.NextVariance ?? 0;
            for (int w = 0; w < WindowsPerPath; w++)
            {
                encoding.Decode(samples.Slice((p * WindowsPerPath + w) * size, size), window);
                if (filter is not null) variance = filter.Recolour(variance, window, window);
                window.CopyTo(returns, w * length);
            }
            var line = plot.Add.Signal(MarketImages.Prices(s0, Array.ConvertAll(returns, r => (double)r)));
            line.Color = Colors.SteelBlue.WithAlpha(0.5);
            line.LineWidth = 1;
            if (p == 0) line.LegendText = $"synthetic (decoded {encoding.Name.ToUpperInvariant()})";
        }
        if (realReturns is not null)
        {
            var (days, prices) = StretchBefore(s0, Array.ConvertAll(realReturns, r => (double)r));
            var real = plot.Add.Scatter(days, prices);
            real.Color = Colors.Black;
            real.LineWidth = 2;
            real.MarkerSize = 0;
            real.LegendText = $"real: the last {realReturns.Length} training days, before the start (history, not a forecast)";
        }
        var start = plot.Add.VerticalLine(0);
        start.Color = Colors.Gray;
        start.LinePattern = LinePattern.Dashed;
        start.LegendText = "start: last training close S0";
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title($"{paths} synthetic price paths of {WindowsPerPath * length} days from S0 = {s0:F2}");
        plot.XLabel("trading day (0 = last training close; negative = history)");
        plot.YLabel("price");
        Save(plot, path, 900, 560, replace);
    }

    /// <summary>A plot as a PNG that appears whole or not at all (see <see cref="AtomicFile"/>).</summary>
    public static void Save(Plot plot, string path, int width, int height, bool replace, string? option = null)
    {
        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        AtomicFile.Write(path, stream => stream.Write(png), replace, option);
    }

    /// <summary>
    /// A real stretch of log returns r₁..rₙ drawn as history ending at <paramref name="end"/>: days −n..0 and prices
    /// P₀ = end, P₋ₖ = P₋ₖ₊₁·exp(−rₙ₋ₖ₊₁), so that the stretch's last return leads into day 0.
    /// </summary>
    internal static (double[] Days, double[] Prices) StretchBefore(double end, ReadOnlySpan<double> returns)
    {
        int n = returns.Length;
        var days = new double[n + 1];
        var prices = new double[n + 1];
        prices[n] = end;
        for (int k = n - 1; k >= 0; k--) prices[k] = prices[k + 1] * Math.Exp(-returns[k]);
        for (int k = 0; k <= n; k++) days[k] = k - n;
        return (days, prices);
    }

    // The last WindowsPerPath non-overlapping windows of the training images (of the last column of a panel), decoded;
    // none when the stride does not divide the window length, as then no windows follow each other exactly. When the
    // stride does not divide (training returns − window length) either, the last window ends up to stride − 1 days
    // before the last close; the picture anchors it at S₀ all the same, as it is there for scale.
    private static float[]? RealReturns(TrainingData data, IImageEncoding encoding)
    {
        int length = encoding.WindowLength;
        int stride = DataOptions.FromMetadata(data.Metadata).Stride;
        if (length % stride != 0) return null;
        int step = length / stride;
        int perColumn = (int.Parse(data.Metadata["train_returns"], System.Globalization.CultureInfo.InvariantCulture) - length) / stride + 1;
        int first = data.Count - 1 - (WindowsPerPath - 1) * step;
        if (first < data.Count - perColumn) return null;
        var returns = new float[WindowsPerPath * length];
        for (int w = 0; w < WindowsPerPath; w++)
            encoding.Decode(data.Row(first + w * step), returns.AsSpan(w * length, length));
        return returns;
    }
}
