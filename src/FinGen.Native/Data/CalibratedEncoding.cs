using System.Globalization;
using FinGen.Native.Evaluation;
using MathNet.Numerics.LinearAlgebra;

namespace FinGen.Native.Data;

/// <summary>
/// A generator's decoded windows, calibrated to the training windows' first two moments: <see cref="Decode"/>
/// decodes with the inner encoding, then maps the window x to b + A·x, with A = L_data·L_gen⁻¹ (Cholesky factors of
/// the covariance matrices of the training windows and of many generated windows) and b = μ_data − A·μ_gen, fitted
/// once after training (<see cref="Fit"/>). Over the generated windows every day then has the training mean and
/// standard deviation and every pair of days the training covariance. A small GAN's windows oscillate around the
/// data during training, leaving each output a bias of a fraction of a standard deviation and spurious correlations
/// between days (measured: up to ±0.5 on the S&amp;P 500 residuals); with a volatility filter that bias would become
/// drift, and an excess of variance an explosive recursion. Then every value goes through one monotone map, piecewise
/// linear between knots (<see cref="KnotProbabilities"/>), from the quantiles of the (affinely calibrated) generated values to
/// those of the training values: the GAN's marginal tails are too thin (excess kurtosis 1 where the training residuals
/// have 2–10; measured on the index series of the quality table), and a day's innovation distribution decides its
/// VaR and ES. The model keeps its ranks: which days of a window are large together. Fitted on training data only.
/// </summary>
public sealed class CalibratedEncoding : IImageEncoding
{
    /// <summary>Metadata key: b (L numbers) then A (L×L, row-major), space-separated.</summary>
    public const string Key = "calibration";

    /// <summary>Metadata key: the quantile map's knots, the generated side (one number per <see cref="KnotProbabilities"/>) then the data side.</summary>
    public const string QuantilesKey = "calibration_quantiles";
    /// <summary>
    /// The probabilities of the quantile map's knots: 0 (the minimum), 1 (the maximum), every 1/256 between, and more in
    /// each tail (1e-5 … 3e-3 from either end), where a day's VaR and ES are read: with only the even grid a 99.9 %
    /// quantile would rest on one straight segment from the minimum.
    /// </summary>
    public static IReadOnlyList<double> KnotProbabilities { get; } = Enumerable.Range(0, 257).Select(k => k / 256.0)
        .Concat(new[] { 1e-5, 3e-5, 1e-4, 3e-4, 6e-4, 1e-3, 2e-3, 3e-3 }.SelectMany(p => new[] { p, 1 - p }))
        .Order().ToArray();

    /// <summary>Whether a data metadata key belongs to the calibration, which every checkpoint refits to its weights.</summary>
    public static bool IsCalibrationKey(string key) => key is Key or QuantilesKey;

    public CalibratedEncoding(IImageEncoding inner, double[] shift, double[,] matrix, double[]? from = null, double[]? to = null)
    {
        if ((from is null) != (to is null) || (from is not null && (from.Length != to!.Length || from.Length < 2)))
            Throw.User("calibration: the quantile map needs two knot lists of one length (at least 2)");
        for (int k = 1; from is not null && k < from.Length; k++)
            if (!(from[k] >= from[k - 1]) || !(to![k] >= to[k - 1])) Throw.User($"calibration: quantile knot {k} is not increasing");
        From = from;
        To = to;
        ArgumentNullException.ThrowIfNull(inner);
        int n = inner.WindowLength;
        if (shift.Length != n || matrix.GetLength(0) != n || matrix.GetLength(1) != n)
            Throw.User($"calibration: a shift of {shift.Length} and a {matrix.GetLength(0)}×{matrix.GetLength(1)} matrix for a window of {n}");
        foreach (double v in shift) if (!double.IsFinite(v)) Throw.User("calibration: a shift is not finite");
        foreach (double v in matrix) if (!double.IsFinite(v)) Throw.User("calibration: a matrix entry is not finite");
        Inner = inner;
        Shift = shift;
        Matrix = matrix;
        _lower = new double[n * (n + 1) / 2];
        for (int i = 0, at = 0; i < n; i++)
            for (int j = 0; j <= i; j++) _lower[at++] = matrix[i, j];
        if (from is not null) _guide = new KnotGuide(from);
    }

    /// <summary>A's lower triangle row by row (row i at i(i+1)/2): the affine map reads it in order, without a 2-D array's index arithmetic.</summary>
    private readonly double[] _lower;
    private readonly KnotGuide? _guide;

    public IImageEncoding Inner { get; }
    /// <summary>b [L].</summary>
    public double[] Shift { get; }
    /// <summary>A [L, L], lower triangular.</summary>
    public double[,] Matrix { get; }
    /// <summary>The quantile map's knots on the generated side, or null for no map.</summary>
    public double[]? From { get; }
    /// <summary>The quantile map's knots on the data side.</summary>
    public double[]? To { get; }

    public string Name => Inner.Name;
    public int WindowLength => Inner.WindowLength;
    public int Height => Inner.Height;
    public int Width => Inner.Width;
    public bool CanDecode => Inner.CanDecode;

    /// <summary>
    /// The calibration that gives the decoded <paramref name="generated"/> windows [count, L] the mean vector and
    /// covariance matrix of the <paramref name="training"/> windows [count', L], and the quantile map to the training
    /// values' quantiles, with <paramref name="tails"/> beyond the <see cref="TailFraction"/> ones.
    /// </summary>
    public static CalibratedEncoding Fit(IImageEncoding inner, ReadOnlySpan<float> generated, ReadOnlySpan<float> training,
        TailModel tails = TailModel.Empirical)
    {
        ArgumentNullException.ThrowIfNull(inner);
        int n = inner.WindowLength;
        var (genMean, genCov) = Moments(generated, n, "generated");
        var (dataMean, dataCov) = Moments(training, n, "training");
        Matrix<double> lowerGen, lowerData;
        try
        {
            lowerGen = genCov.Cholesky().Factor;
            lowerData = dataCov.Cholesky().Factor;
        }
        catch (ArgumentException)
        {
            throw new FinGenException("cannot calibrate the generator: the covariance of its windows is singular (a collapsed or diverged model)");
        }
        var a = lowerData * lowerGen.Inverse();
        var b = dataMean - a * genMean;
        var affine = new CalibratedEncoding(inner, b.ToArray(), a.ToArray());
        // The quantile map goes from the affinely calibrated generated values to the training values, pooled over days.
        var mapped = new double[generated.Length];
        var x = new double[n];
        for (int k = 0; k < generated.Length / n; k++)
        {
            for (int i = 0; i < n; i++) x[i] = generated[k * n + i];
            affine.Affine(x);
            x.CopyTo(mapped, k * n);
        }
        var data = EncodingMetadata.ToDouble(training);
        Array.Sort(mapped);
        Array.Sort(data);
        var from = new double[KnotProbabilities.Count];
        var to = new double[KnotProbabilities.Count];
        for (int k = 0; k < from.Length; k++)
        {
            double q = KnotProbabilities[k];
            from[k] = EncodingMetadata.Quantile(mapped, q);
            to[k] = EncodingMetadata.Quantile(data, q);
        }
        if (tails == TailModel.GeneralizedPareto) ParetoTails(data, mapped.Length, to);
        return new CalibratedEncoding(inner, affine.Shift, affine.Matrix, from, to);
    }

    /// <summary>
    /// The share of the training values in each tail that <see cref="TailModel.GeneralizedPareto"/> models: McNeil &amp;
    /// Frey's (2000) choice for GARCH residuals (100 of 1,000), a bias–variance compromise they found insensitive
    /// within 5–15 %. Not tuned on any series here.
    /// </summary>
    public const double TailFraction = 0.10;

    /// <summary>
    /// Replaces the data-side knots below the <see cref="TailFraction"/> quantile of <paramref name="sorted"/> (and above
    /// the 1 − that one) by the quantiles of generalized Pareto tails fitted to the excesses beyond them. The end knots
    /// (the generated minimum and maximum, probabilities 0 and 1) take the plotting positions ½/n and 1 − ½/n of the
    /// <paramref name="generatedCount"/> generated values, so the generated extremes land beyond the training ones as
    /// far as the fitted tail says, rather than on them.
    /// </summary>
    static void ParetoTails(double[] sorted, int generatedCount, double[] to)
    {
        double low = EncodingMetadata.Quantile(sorted, TailFraction), high = EncodingMetadata.Quantile(sorted, 1 - TailFraction);
        var lower = GeneralizedPareto.Fit(sorted.Where(v => v < low).Select(v => low - v).ToArray());
        var upper = GeneralizedPareto.Fit(sorted.Where(v => v > high).Select(v => v - high).ToArray());
        double end = 0.5 / generatedCount;
        for (int k = 0; k < to.Length; k++)
        {
            double q = Math.Clamp(KnotProbabilities[k], end, 1 - end);
            if (q < TailFraction) to[k] = low - lower.InverseSurvival(q / TailFraction);
            else if (q > 1 - TailFraction) to[k] = high + upper.InverseSurvival((1 - q) / TailFraction);
        }
    }

    static (Vector<double> Mean, Matrix<double> Covariance) Moments(ReadOnlySpan<float> windows, int n, string what)
    {
        int count = windows.Length / n;
        if (count <= n) Throw.User($"calibration needs more than {n} {what} windows, got {count}");
        var mean = Vector<double>.Build.Dense(n);
        for (int k = 0; k < count; k++)
            for (int i = 0; i < n; i++) mean[i] += windows[k * n + i];
        mean /= count;
        var cov = Matrix<double>.Build.Dense(n, n);
        var centred = new double[n];
        for (int k = 0; k < count; k++)
        {
            for (int i = 0; i < n; i++) centred[i] = windows[k * n + i] - mean[i];
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++) cov[i, j] += centred[i] * centred[j];
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) cov[j, i] = cov[i, j] /= count;
        return (mean, cov);
    }

    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        // Undo the quantile map, then solve A·x = w − b by forward substitution (A is lower triangular).
        int n = window.Length;
        Span<float> raw = n <= 1024 ? stackalloc float[n] : new float[n];
        for (int i = 0; i < n; i++)
        {
            double sum = (To is null ? window[i] : Interpolate(To, From!, window[i])) - Shift[i];
            for (int j = 0; j < i; j++) sum -= Matrix[i, j] * raw[j];
            raw[i] = (float)(sum / Matrix[i, i]);
        }
        Inner.Encode(raw, image);
    }

    public void Decode(ReadOnlySpan<float> image, Span<float> window)
    {
        int n = window.Length;
        Inner.Decode(image, window);
        Span<double> x = n <= 512 ? stackalloc double[n] : new double[n];
        for (int i = 0; i < n; i++) x[i] = window[i];
        Affine(x);
        if (_guide is null) for (int i = 0; i < n; i++) window[i] = (float)x[i];
        else for (int i = 0; i < n; i++) window[i] = (float)_guide.Interpolate(From!, To!, x[i]);
    }

    /// <summary>x ← b + A·x in place (A lower triangular, so row i reads only x[0..i], which are still the inputs when done from the end).</summary>
    void Affine(Span<double> x)
    {
        var lower = _lower.AsSpan();
        for (int i = x.Length - 1; i >= 0; i--)
        {
            var row = lower.Slice(i * (i + 1) / 2, i + 1);
            double sum = Shift[i];
            for (int j = 0; j < row.Length; j++) sum += row[j] * x[j];
            x[i] = sum;
        }
    }

    /// <summary>
    /// Finds <see cref="Interpolate"/>'s segment in a few steps instead of a binary search over every knot (a quarter of
    /// the decoding time of 100,000 paths went to those searches): a table over equal slices of [first knot, last knot]
    /// gives a knot to start from, and a short walk finds the first knot ≥ v, the segment the binary search ends on,
    /// equal knots included, so the result is the same to the bit.
    /// </summary>
    internal sealed class KnotGuide
    {
        private const int Slices = 1024;
        private readonly int[] _start = new int[Slices];
        private readonly double _low, _perSlice;

        public KnotGuide(double[] xs)
        {
            _low = xs[0];
            double width = xs[^1] - xs[0];
            _perSlice = width > 0 && double.IsFinite(Slices / width) ? Slices / width : 0;
            for (int slice = 0, k = 0; slice < Slices; slice++)
            {
                double edge = _perSlice == 0 ? _low : _low + slice / _perSlice;
                while (k < xs.Length - 1 && xs[k] < edge) k++;
                _start[slice] = k;
            }
        }

        public double Interpolate(double[] xs, double[] ys, double v)
        {
            if (!(v > xs[0] && v < xs[^1])) return CalibratedEncoding.Interpolate(xs, ys, v); // the ends, and NaN
            double at = (v - _low) * _perSlice;
            int k = _start[at >= Slices - 1 ? Slices - 1 : (int)at];
            // The first k with xs[k] ≥ v: from the table's guess, back over knots ≥ v, then on over knots < v.
            while (k > 0 && xs[k - 1] >= v) k--;
            while (xs[k] < v) k++;
            if (xs[k] == v) return ys[k];
            int lo = k - 1;
            double w = (v - xs[lo]) / (xs[k] - xs[lo]);
            return ys[lo] + w * (ys[k] - ys[lo]);
        }
    }

    /// <summary>
    /// The piecewise-linear map through the knots (xs[k], ys[k]); beyond the end knots it continues with slope 1, so a
    /// value past the generated extremes lands as far past the data's. Among equal knots the first is used.
    /// </summary>
    internal static double Interpolate(double[] xs, double[] ys, double v)
    {
        if (v <= xs[0]) return ys[0] + (v - xs[0]);
        if (v >= xs[^1]) return ys[^1] + (v - xs[^1]);
        int hi = Array.BinarySearch(xs, v);
        if (hi >= 0)
        {
            while (hi > 0 && xs[hi - 1] == v) hi--;
            return ys[hi];
        }
        hi = ~hi;
        int lo = hi - 1;
        double w = (v - xs[lo]) / (xs[hi] - xs[lo]);
        return ys[lo] + w * (ys[hi] - ys[lo]);
    }

    public IReadOnlyDictionary<string, string> ToMetadata()
    {
        var numbers = Shift.Concat(Matrix.Cast<double>()).Select(v => v.ToString("R", CultureInfo.InvariantCulture));
        var metadata = new Dictionary<string, string>(Inner.ToMetadata()) { [Key] = string.Join(" ", numbers) };
        if (From is not null)
            metadata[QuantilesKey] = string.Join(" ", From.Concat(To!).Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        return metadata;
    }

    /// <summary>Wraps <paramref name="inner"/> in the calibration <paramref name="metadata"/> holds, or returns it as it is.</summary>
    public static IImageEncoding Wrap(IImageEncoding inner, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(Key, out var text)) return inner;
        int n = inner.WindowLength;
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != n + n * n)
            Throw.User($"data metadata: {Key} holds {parts.Length} numbers, expected {n + n * n} (a shift per day and a {n}×{n} matrix)");
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                Throw.User($"data metadata: {Key} value '{DataFiles.Show(parts[i])}' is not a number");
        var matrix = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) matrix[i, j] = values[n + i * n + j];
        double[]? from = null, to = null;
        if (metadata.TryGetValue(QuantilesKey, out var knots))
        {
            var k = knots.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var parsed = new double[k.Length];
            for (int i = 0; i < k.Length; i++)
                if (!double.TryParse(k[i], NumberStyles.Float, CultureInfo.InvariantCulture, out parsed[i]) || !double.IsFinite(parsed[i]))
                    Throw.User($"data metadata: {QuantilesKey} value '{DataFiles.Show(k[i])}' is not a finite number");
            if (parsed.Length % 2 != 0) Throw.User($"data metadata: {QuantilesKey} holds {parsed.Length} numbers, not two lists of one length");
            from = parsed[..(parsed.Length / 2)];
            to = parsed[(parsed.Length / 2)..];
        }
        return new CalibratedEncoding(inner, values[..n], matrix, from, to);
    }

    public override string ToString() => $"{Inner}, calibrated to the training windows' mean, covariance{(From is null ? "" : " and marginal distribution")}";
}
