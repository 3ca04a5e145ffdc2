using FinGen.Native;
using FinGen.Native.Data;
using FinGen.Native.Evaluation;
using FinGen.Native.Models;
using ScottPlot;

namespace FinGen.Cli;

/// <summary>The plots of <c>fingen eval</c> (ScottPlot): where a person would rather look than read.</summary>
internal static class EvalPictures
{
    // One colour per source (the held-out data and five sources), so that no two lines share one.
    private static readonly Color[] Palette = [Colors.Black, Colors.SteelBlue, Colors.DarkOrange, Colors.SeaGreen, Colors.Crimson, Colors.MediumPurple];

    public static IEnumerable<string> Write(string directory, EvaluationReport report, double[] heldOut, double s0, string modelName,
        Sampler sampler, IImageEncoding encoding, double[] train, VolatilityFilter? filter)
    {
        var series = new List<(string Name, double[] Returns)> { ("held-out (real)", heldOut) };
        series.AddRange(report.Paths.Select(kv => (kv.Key, kv.Value.SelectMany(p => p).ToArray())));
        yield return Histogram(Path.Combine(directory, "returns_histogram.png"), series);
        yield return QuantileQuantile(Path.Combine(directory, "qq.png"), series);
        yield return Autocorrelations(Path.Combine(directory, "acf.png"), report);
        yield return FanChart(Path.Combine(directory, "fan_chart.png"), report.Paths[modelName], heldOut, s0, modelName);
        yield return Images(Path.Combine(directory, "images.png"), sampler, encoding, train, filter);
    }

    /// <summary>Densities of 1-day returns on a log scale, where the tails show; a bin without returns is a gap.</summary>
    private static string Histogram(string path, List<(string Name, double[] Returns)> series)
    {
        double lo = series[0].Returns.Min(), hi = series[0].Returns.Max();
        double pad = 0.25 * (hi - lo);
        lo -= pad; hi += pad;
        const int bins = 60;
        double width = (hi - lo) / bins;
        var plot = new Plot();
        for (int s = 0; s < series.Count; s++)
        {
            bool first = true;
            foreach (var (xs, ys) in DensitySteps(series[s].Returns, lo, width, bins))
            {
                var line = plot.Add.Scatter(xs, ys);
                line.Color = Palette[s % Palette.Length];
                line.LineWidth = s == 0 ? 2.5f : 1.5f;
                line.MarkerSize = 0;
                if (first) line.LegendText = series[s].Name;
                first = false;
            }
        }
        plot.Title("Daily log returns: density (log10); a gap is a bin without returns");
        plot.XLabel("log return");
        plot.YLabel("log10 density");
        plot.ShowLegend(Alignment.UpperRight);
        Pictures.Save(plot, path, 900, 560, replace: false);
        return path;
    }

    /// <summary>
    /// The histogram of <paramref name="returns"/> over <paramref name="bins"/> bins from <paramref name="lo"/>, as log10
    /// densities drawn as steps: one polyline per run of bins that hold returns, flat across each bin. An empty bin has
    /// density 0, whose logarithm no axis holds, so it is left out and the line breaks there rather than bridging it with a
    /// slope that no data show. Returns outside the bins are not drawn.
    /// </summary>
    internal static List<(double[] Xs, double[] Ys)> DensitySteps(ReadOnlySpan<double> returns, double lo, double width, int bins)
    {
        var counts = new double[bins];
        foreach (var r in returns)
        {
            double b = Math.Floor((r - lo) / width);
            if (b >= 0 && b < bins) counts[(int)b]++;
        }
        var steps = new List<(double[], double[])>();
        var xs = new List<double>();
        var ys = new List<double>();
        for (int b = 0; b <= bins; b++)
        {
            if (b < bins && counts[b] > 0)
            {
                double density = Math.Log10(counts[b] / (returns.Length * width));
                xs.AddRange([lo + b * width, lo + (b + 1) * width]);
                ys.AddRange([density, density]);
            }
            else if (xs.Count > 0)
            {
                steps.Add(([.. xs], [.. ys]));
                xs.Clear();
                ys.Clear();
            }
        }
        return steps;
    }

    /// <summary>Quantiles of each source against the held-out quantiles; the diagonal is a perfect match.</summary>
    private static string QuantileQuantile(string path, List<(string Name, double[] Returns)> series)
    {
        var real = series[0].Returns.Order().ToArray();
        double[] probabilities = Enumerable.Range(1, 199).Select(i => i / 200.0).ToArray();
        double Quantile(double[] sorted, double p) => sorted[Math.Clamp((int)(p * (sorted.Length - 1)), 0, sorted.Length - 1)];
        var x = probabilities.Select(p => Quantile(real, p)).ToArray();
        var plot = new Plot();
        var diagonal = plot.Add.Line(x[0], x[0], x[^1], x[^1]);
        diagonal.Color = Colors.Gray;
        diagonal.LinePattern = LinePattern.Dashed;
        for (int s = 1; s < series.Count; s++)
        {
            var sorted = series[s].Returns.Order().ToArray();
            var points = plot.Add.Scatter(x, probabilities.Select(p => Quantile(sorted, p)).ToArray());
            points.Color = Palette[s % Palette.Length];
            points.LineWidth = 0;
            points.MarkerSize = 4;
            points.LegendText = series[s].Name;
        }
        plot.Title("QQ plot against the held-out returns (0.5 % … 99.5 %)");
        plot.XLabel("held-out quantile");
        plot.YLabel("synthetic quantile");
        plot.ShowLegend(Alignment.UpperLeft);
        Pictures.Save(plot, path, 700, 620, replace: false);
        return path;
    }

    private static string Autocorrelations(string path, EvaluationReport report)
    {
        var plot = new Plot();
        for (int s = 0; s < report.Sources.Count; s++)
        {
            var source = report.Sources[s];
            double[] lags = Enumerable.Range(1, source.Acf.Absolute.Length - 1).Select(k => (double)k).ToArray();
            var absolute = plot.Add.Scatter(lags, source.Acf.Absolute[1..]);
            absolute.Color = Palette[s % Palette.Length];
            absolute.MarkerSize = 0;
            absolute.LineWidth = 2;
            absolute.LegendText = $"{source.Name}: |r|";
            var plain = plot.Add.Scatter(lags, source.Acf.Returns[1..]);
            plain.Color = Palette[s % Palette.Length].WithAlpha(0.5);
            plain.MarkerSize = 0;
            plain.LinePattern = LinePattern.Dotted;
            plain.LegendText = $"{source.Name}: r";
        }
        plot.Title("Autocorrelation of r (dotted) and |r| (solid)");
        plot.XLabel("lag (days)");
        plot.YLabel("ACF");
        plot.ShowLegend(Alignment.UpperRight);
        Pictures.Save(plot, path, 900, 560, replace: false);
        return path;
    }

    /// <summary>Percentile bands of the model's price paths over the held-out period, with the real path.</summary>
    private static string FanChart(string path, double[][] paths, double[] heldOut, double s0, string modelName)
    {
        int days = heldOut.Length;
        var prices = paths.Select(p => MarketImages.Prices(s0, p)).ToArray();
        double[] xs = Enumerable.Range(0, days + 1).Select(d => (double)d).ToArray();
        var plot = new Plot();
        foreach (var (low, high, alpha) in new[] { (0.05, 0.95, 0.25), (0.25, 0.75, 0.45) })
        {
            var lower = new double[days + 1];
            var upper = new double[days + 1];
            for (int d = 0; d <= days; d++)
            {
                var column = prices.Select(p => p[d]).Order().ToArray();
                lower[d] = column[(int)(low * (column.Length - 1))];
                upper[d] = column[(int)(high * (column.Length - 1))];
            }
            var band = plot.Add.FillY(xs, lower, upper);
            band.FillColor = Colors.SteelBlue.WithAlpha(alpha);
            band.LineWidth = 0;
            band.LegendText = $"{modelName}: {low:P0}–{high:P0}";
        }
        var median = new double[days + 1];
        for (int d = 0; d <= days; d++) median[d] = prices.Select(p => p[d]).Order().ElementAt(prices.Length / 2);
        var mid = plot.Add.Scatter(xs, median);
        mid.Color = Colors.SteelBlue;
        mid.MarkerSize = 0;
        mid.LegendText = "median";
        var real = plot.Add.Scatter(xs, MarketImages.Prices(s0, heldOut));
        real.Color = Colors.Black;
        real.MarkerSize = 0;
        real.LineWidth = 2;
        real.LegendText = "held-out (real): the days after training, which no source saw";
        plot.Title($"Synthetic price paths over the held-out period, from the last training close S0 = {s0:F2}");
        plot.XLabel("trading day after the last training close");
        plot.YLabel("price");
        plot.ShowLegend(Alignment.UpperLeft);
        Pictures.Save(plot, path, 900, 560, replace: false);
        return path;
    }

    /// <summary>
    /// 32 generated images above 32 real training windows encoded as the model saw them in training: a filtered model
    /// learned the filter's standardized residuals, not the returns, and before the calibration fitted after training
    /// (whose inverse would map real windows into the generator's own space and hide how its images differ).
    /// </summary>
    private static string Images(string path, Sampler sampler, IImageEncoding encoding, double[] train, VolatilityFilter? filter)
    {
        const int half = Pictures.GridSamples / 2;
        int size = sampler.SampleSize;
        var generated = new float[half * size];
        sampler.Sample(generated, half, seed: 1);
        var real = TrainingImages(encoding, train, filter, half);
        string model = ModelConfig.CliName(sampler.Config.Model).ToUpperInvariant();
        Pictures.SaveGrid(path, Pictures.GeneratedAboveReal(generated, real), Pictures.GridSamples, encoding.Height, encoding.Width,
            Pictures.GeneratedAboveRealTitle($"generated by the {model}", Pictures.RealWindows(encoding, sampler.DataMetadata)), replace: false);
        return path;
    }

    /// <summary>
    /// <paramref name="count"/> training windows spread over <paramref name="train"/> (window i starts at day i·stride),
    /// as the images the model was trained on: residuals of the filter, encoded without the calibration.
    /// </summary>
    internal static float[] TrainingImages(IImageEncoding encoding, double[] train, VolatilityFilter? filter, int count)
    {
        int length = encoding.WindowLength, size = encoding.Height * encoding.Width;
        var learned = filter is null ? train : filter.StandardizedResiduals(train);
        var trained = encoding is CalibratedEncoding calibrated ? calibrated.Inner : encoding;
        int stride = TrainingImageStride(learned.Length, length, count);
        var images = new float[count * size];
        var window = new float[length];
        for (int i = 0; i < count; i++)
        {
            for (int t = 0; t < length; t++) window[t] = (float)learned[i * stride + t];
            trained.Encode(window, images.AsSpan(i * size, size));
        }
        return images;
    }

    internal static int TrainingImageStride(int returns, int window, int count) => Math.Max(1, (returns - window) / count);
}
