using System.Globalization;

namespace FinGen.Native.Data;

/// <summary>
/// Markov transition field (Wang &amp; Oates, 2015) with bin edges fixed on training returns. The Q − 1
/// interior edges e₁ ≤ … ≤ e_{Q−1} are the k/Q quantiles of the training returns; a return r falls in bin
/// b(r) = #{k : e_k &lt; r} ∈ 0..Q−1 (so bin k holds e_k &lt; r ≤ e_{k+1}, with e₀ = −∞, e_Q = +∞). Per window,
/// W[a, b] is the fraction of the L − 1 steps t → t + 1 leaving bin a that land in bin b (a row never left
/// within the window is uniform, 1/Q: no evidence, no preference), and the image is M_ij = W[b(r_i), b(r_j)].
/// Pixels are probabilities, already in [0, 1]. No decoder (<see cref="CanDecode"/> is false): the field keeps
/// only which bin each return is in and the window's transition frequencies.
/// </summary>
public sealed class MarkovTransitionFieldEncoding : IImageEncoding
{
    /// <summary>The <see cref="Name"/> and metadata "encoding" value.</summary>
    public const string EncodingName = "mtf";
    /// <summary>Largest supported window length.</summary>
    public const int MaxWindowLength = GasfEncoding.MaxWindowLength;
    /// <summary>The default bin count Q: a window of 28 returns has 27 transitions, too few to fill many more cells.</summary>
    public const int DefaultBins = 5;
    /// <summary>Largest supported bin count.</summary>
    public const int MaxBins = 64;
    const string KeyBins = "bins", KeyEdges = "bin_edges";

    readonly double[] _edges;

    /// <summary>Creates the encoding from <paramref name="edges"/>: Q − 1 finite, non-decreasing interior edges.</summary>
    public MarkovTransitionFieldEncoding(int windowLength, IReadOnlyList<double> edges)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowLength, MaxWindowLength);
        ArgumentNullException.ThrowIfNull(edges);
        if (edges.Count < 1 || edges.Count > MaxBins - 1)
            throw new ArgumentException($"MTF needs 1..{MaxBins - 1} interior bin edges (2..{MaxBins} bins), got {edges.Count}", nameof(edges));
        for (int k = 0; k < edges.Count; k++)
        {
            if (!double.IsFinite(edges[k])) throw new ArgumentException($"MTF bin edge {k} is {edges[k]}", nameof(edges));
            if (k > 0 && edges[k] < edges[k - 1]) throw new ArgumentException($"MTF bin edges must not decrease (edge {k} is below edge {k - 1})", nameof(edges));
        }
        WindowLength = windowLength;
        _edges = [.. edges];
    }

    /// <inheritdoc/>
    public string Name => EncodingName;
    /// <inheritdoc/>
    public int WindowLength { get; }
    /// <inheritdoc/>
    public int Height => WindowLength;
    /// <inheritdoc/>
    public int Width => WindowLength;
    /// <inheritdoc/>
    public bool CanDecode => false;
    /// <summary>The bin count Q.</summary>
    public int Bins => _edges.Length + 1;
    /// <summary>The Q − 1 interior bin edges, ascending.</summary>
    public IReadOnlyList<double> Edges => _edges;

    /// <summary>Edges at the k/<paramref name="bins"/> quantiles (k = 1..Q−1) of the training returns, interpolated as numpy's default.</summary>
    public static MarkovTransitionFieldEncoding Fit(ReadOnlySpan<double> trainingReturns, int windowLength, int bins = DefaultBins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bins, MaxBins);
        var sorted = EncodingMetadata.SortedTrainingReturns(trainingReturns, "MTF bins");
        if (sorted[0] == sorted[^1])
            Throw.User($"cannot fit MTF bins: the training returns are all {EncodingMetadata.R(sorted[0])} (a constant price series?)");
        var edges = new double[bins - 1];
        for (int k = 1; k < bins; k++) edges[k - 1] = EncodingMetadata.Quantile(sorted, (double)k / bins);
        return new MarkovTransitionFieldEncoding(windowLength, edges);
    }

    /// <summary><see cref="Fit(ReadOnlySpan{double}, int, int)"/> for float returns.</summary>
    public static MarkovTransitionFieldEncoding Fit(ReadOnlySpan<float> trainingReturns, int windowLength, int bins = DefaultBins) =>
        Fit(EncodingMetadata.ToDouble(trainingReturns), windowLength, bins);

    /// <summary>Rebuilds the encoding from <see cref="ToMetadata"/>; bad metadata throws <see cref="FinGenException"/>.</summary>
    public static MarkovTransitionFieldEncoding FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        EncodingMetadata.RequireName(metadata, EncodingName);
        int window = EncodingMetadata.GetWindowLength(metadata, MaxWindowLength);
        int bins = EncodingMetadata.GetInt(metadata, KeyBins, 2, MaxBins);
        var parts = EncodingMetadata.Get(metadata, KeyEdges).Split(',');
        if (parts.Length != bins - 1)
            Throw.User($"image encoding metadata: {KeyEdges} has {parts.Length} values, {bins} bins need {bins - 1}");
        var edges = new double[parts.Length];
        for (int k = 0; k < edges.Length; k++)
        {
            edges[k] = EncodingMetadata.ParseDouble(parts[k], KeyEdges);
            if (k > 0 && edges[k] < edges[k - 1]) Throw.User($"image encoding metadata: {KeyEdges} must not decrease (value {k} is below value {k - 1})");
        }
        return new MarkovTransitionFieldEncoding(window, edges);
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        [EncodingMetadata.KeyEncoding] = EncodingName,
        [EncodingMetadata.KeyWindow] = WindowLength.ToString(CultureInfo.InvariantCulture),
        [KeyBins] = Bins.ToString(CultureInfo.InvariantCulture),
        [KeyEdges] = string.Join(",", _edges.Select(EncodingMetadata.R)),
    };

    /// <summary>The bin of <paramref name="r"/>: the number of edges strictly below it.</summary>
    public int Bin(double r)
    {
        if (double.IsNaN(r)) throw new ArgumentException("cannot bin NaN", nameof(r));
        int bin = 0;
        while (bin < _edges.Length && _edges[bin] < r) bin++;
        return bin;
    }

    /// <summary>
    /// The window's row-stochastic transition matrix <paramref name="matrix"/> [Q, Q] (row-major): row a holds
    /// the frequencies of the bins that follow a return in bin a; a row with no transitions is uniform.
    /// </summary>
    public void TransitionMatrix(ReadOnlySpan<float> window, Span<double> matrix)
    {
        if (window.Length != WindowLength) throw new ArgumentException($"window has {window.Length} returns, expected {WindowLength}", nameof(window));
        Span<int> bins = WindowLength <= 1024 ? stackalloc int[WindowLength] : new int[WindowLength];
        for (int t = 0; t < bins.Length; t++) bins[t] = BinOf(window, t);
        TransitionMatrix(bins, matrix);
    }

    /// <inheritdoc/>
    public void Encode(ReadOnlySpan<float> window, Span<float> image)
    {
        EncodingMetadata.CheckShapes(this, window, image);
        int n = WindowLength, q = Bins;
        Span<int> bins = n <= 1024 ? stackalloc int[n] : new int[n];
        for (int t = 0; t < n; t++) bins[t] = BinOf(window, t);
        Span<double> w = stackalloc double[q * q];
        TransitionMatrix(bins, w);
        for (int i = 0; i < n; i++)
        {
            var row = w.Slice(bins[i] * q, q);
            for (int j = 0; j < n; j++) image[i * n + j] = (float)row[bins[j]];
        }
    }

    private int BinOf(ReadOnlySpan<float> window, int t) =>
        float.IsNaN(window[t]) ? throw new ArgumentException($"window[{t}] is NaN", nameof(window)) : Bin(window[t]);

    private void TransitionMatrix(ReadOnlySpan<int> bins, Span<double> matrix)
    {
        int q = Bins;
        if (matrix.Length != q * q) throw new ArgumentException($"matrix has {matrix.Length} cells, expected {q * q}", nameof(matrix));
        matrix.Clear();
        for (int t = 0; t + 1 < bins.Length; t++) matrix[bins[t] * q + bins[t + 1]] += 1;
        for (int a = 0; a < q; a++)
        {
            var row = matrix.Slice(a * q, q);
            double total = 0;
            foreach (double c in row) total += c;
            if (total == 0) row.Fill(1.0 / q);
            else for (int b = 0; b < q; b++) row[b] /= total;
        }
    }

    /// <summary>Always throws: the field keeps only bins and transition frequencies.</summary>
    public void Decode(ReadOnlySpan<float> image, Span<float> window) =>
        EncodingMetadata.CannotDecode(EncodingName, "the field keeps only each return's quantile bin and the window's transition frequencies");

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"mtf(L={WindowLength}, Q={Bins})");
}
