using System.Globalization;
using System.Text.Json;

namespace FinGen.Native.Data;

/// <summary>What to do with a missing price (an empty cell, NA, N/A, #N/A or null).</summary>
public enum MissingValues
{
    /// <summary>Stop with a message that counts the affected rows and names the first (the default).</summary>
    Error,
    /// <summary>Drop every row where any chosen column is missing.</summary>
    Drop,
    /// <summary>Carry the column's last price forward (a zero return that day); a leading gap is an error.</summary>
    ForwardFill,
}

/// <summary>How returns are transformed before they are encoded (see <see cref="Data.Preprocessing"/>).</summary>
public enum ReturnTransform
{
    /// <summary>Returns as they are (the default).</summary>
    None,
    /// <summary>(r − median) / (1.4826·MAD), fitted on the training returns.</summary>
    Robust,
    /// <summary>Robust standardization, then inverse Lambert W Gaussianization with δ fitted by maximum likelihood (as QuantGAN).</summary>
    LambertW,
}

/// <summary>
/// The tails of a filtered model's residuals, where <see cref="CalibratedEncoding"/>'s quantile map ends (its data side
/// below the training residuals' <see cref="CalibratedEncoding.TailFraction"/> quantile and above the 1 − that one).
/// </summary>
public enum TailModel
{
    /// <summary>The training residuals' own quantiles, up to their extremes (the default).</summary>
    Empirical,
    /// <summary>
    /// Generalized Pareto tails fitted by maximum likelihood to the training residuals beyond those quantiles (McNeil &amp;
    /// Frey 2000), so generated residuals can exceed the largest training residual, as held-out ones do.
    /// </summary>
    GeneralizedPareto,
}

/// <summary>
/// How a price file becomes training windows: which <see cref="Columns"/> (empty: the <c>close</c> column),
/// what to do with <see cref="Missing"/> prices, the <see cref="Stride"/> between window starts, the
/// <see cref="Window"/> length, the <see cref="Transform"/> of the returns and the image <see cref="Encoding"/>.
/// Stored in a checkpoint's data metadata (<see cref="ToMetadata"/>) so that resume, eval and sample
/// rebuild the same series from the same file.
/// </summary>
public sealed record DataOptions
{
    /// <summary>Metadata key of the chosen columns, a JSON array of names as the header spells them.</summary>
    public const string ColumnsKey = "columns";
    /// <summary>Metadata key of the missing-value policy: <c>error</c>, <c>drop</c> or <c>ffill</c>.</summary>
    public const string MissingKey = "na";
    /// <summary>Metadata key of the window stride.</summary>
    public const string StrideKey = "stride";
    /// <summary>Metadata key of the date column's name.</summary>
    public const string DateColumnKey = "date_column";
    /// <summary>The date column used when none is named.</summary>
    public const string DefaultDateColumn = "date";
    /// <summary>The price column used when none is chosen.</summary>
    public const string DefaultColumn = "close";
    /// <summary>Metadata key of the return transform: <c>none</c>, <c>robust</c> or <c>lambert-w</c>.</summary>
    public const string TransformKey = "transform";
    /// <summary>Metadata keys the encodings write themselves (see <see cref="IImageEncoding.ToMetadata"/>).</summary>
    public const string EncodingKey = "encoding", WindowKey = "window_length";
    /// <summary>Returns per window when none is chosen: a 28×28 image.</summary>
    public const int DefaultWindow = 28;
    /// <summary>The encoding when none is chosen.</summary>
    public const string DefaultEncoding = GasfEncoding.EncodingName;

    /// <summary>Today's behaviour: the <c>close</c> column, missing values are an error, every window.</summary>
    public static DataOptions Default { get; } = new();

    /// <summary>The price columns, case-insensitive; empty means <see cref="DefaultColumn"/>.</summary>
    public IReadOnlyList<string> Columns { get; init; } = [];
    public MissingValues Missing { get; init; } = MissingValues.Error;
    /// <summary>The date column's name, case-insensitive (e.g. <c>approx_date</c>).</summary>
    public string DateColumn { get; init; } = DefaultDateColumn;
    /// <summary>Returns between the starts of consecutive windows; 1 takes every window.</summary>
    public int Stride { get; init; } = 1;
    /// <summary>Returns per window (28 gives 28×28 GASF images; the raw encoding of 784 gives 28×28 too).</summary>
    public int Window { get; init; } = DefaultWindow;
    /// <summary>One of <see cref="ImageEncodings.Names"/>.</summary>
    public string Encoding { get; init; } = DefaultEncoding;
    public ReturnTransform Transform { get; init; } = ReturnTransform.None;
    /// <summary>The volatility filter that standardizes the returns before the transform (see <see cref="VolatilityFilter"/>).</summary>
    public VolatilityFilterKind Filter { get; init; } = VolatilityFilterKind.None;
    /// <summary>Where the filtered model's unconditional paths start (see <see cref="Data.FilterStart"/>); <see cref="FilterStart.Drawn"/> needs the component filter.</summary>
    public FilterStart FilterStart { get; init; } = FilterStart.Last;
    public const string FilterStartKey = "filter_start";
    /// <summary>How the GJR-filtered model's unconditional paths are calibrated (see <see cref="Data.PathCalibration"/>); none but with the GJR filter.</summary>
    public PathCalibration PathCalibration { get; init; } = PathCalibration.None;
    public const string PathCalibrationKey = "path_calibration";
    /// <summary>The tails of a filtered model's calibrated residuals (see <see cref="TailModel"/>); empirical by default.</summary>
    public TailModel Tails { get; init; } = TailModel.Empirical;
    public const string TailsKey = "tails";
    /// <summary>The condition a conditional model sees with each window (see <see cref="ConditionFeatures"/>); none by default.</summary>
    public ConditionKind Condition { get; init; } = ConditionKind.None;

    /// <summary>
    /// What <c>fingen train</c> uses for price data when no option says otherwise: the best configuration measured
    /// on the training parts of the series in <c>benchmarks/results/quality.md</c>. Returns are filtered by a
    /// GJR-GARCH(1,1)-t (volatility memory across windows, leverage), the standardized residuals Gaussianized by the
    /// Lambert W transform, long paths re-coloured by the recursion calibrated to the residuals' skew (<see cref="Data.PathCalibration"/>), and windows encoded raw with bounds covering every training value (no clipped tails; a
    /// raw window decodes exactly, where a GASF needs a least-squares fit). <see cref="Default"/> stays the plain
    /// library default that checkpoints without these keys were written with.
    /// </summary>
    public static DataOptions Recommended { get; } = new()
    {
        Filter = VolatilityFilterKind.GjrGarch,
        PathCalibration = PathCalibration.VariancePersistence,
        Transform = ReturnTransform.LambertW,
        Encoding = RawWindowEncoding.EncodingName,
    };

    /// <summary>
    /// <see cref="Recommended"/> for the convolutional models, which need square images: the same filter and transform,
    /// windows encoded as Gramian angular summation fields (28×28), with the same bounds that cover every training value.
    /// </summary>
    public static DataOptions RecommendedImages { get; } = Recommended with { Encoding = GasfEncoding.EncodingName };
    /// <summary>
    /// Accept daily log returns beyond ±<see cref="MaxAbsLogReturn"/> (a 170 % rise or a 63 % fall in a day): without it such
    /// a price is an error naming its line, as it is far more often a typo (1e308, a missing decimal point) than a market move.
    /// </summary>
    public bool AllowExtreme { get; init; }

    /// <summary>The largest |log(p_t / p_{t−1})| accepted unless <see cref="AllowExtreme"/>.</summary>
    public const double MaxAbsLogReturn = 1.0;
    public const string AllowExtremeKey = "allow_extreme";

    /// <summary>True when nothing differs from <see cref="Default"/>.</summary>
    public bool IsDefault => Columns.Count == 0 && Missing == MissingValues.Error && Stride == 1
        && DateColumn.Equals(DefaultDateColumn, StringComparison.OrdinalIgnoreCase)
        && Window == DefaultWindow && Encoding == DefaultEncoding && Transform == ReturnTransform.None
        && Filter == VolatilityFilterKind.None && FilterStart == FilterStart.Last && PathCalibration == PathCalibration.None && Tails == TailModel.Empirical && Condition == ConditionKind.None && !AllowExtreme;

    /// <summary>Throws a one-line <see cref="FinGenException"/> unless the options can be used.</summary>
    public DataOptions Validate()
    {
        if (Stride < 1) Throw.User($"--stride must be at least 1, got {Stride}");
        if (string.IsNullOrWhiteSpace(DateColumn)) Throw.User("--date-column: the column name is empty");
        if (Window < 2 || Window > GasfEncoding.MaxWindowLength) Throw.User($"--window must be between 2 and {GasfEncoding.MaxWindowLength}, got {Window}");
        if (!ImageEncodings.Names.Contains(Encoding)) Throw.User($"--encoding '{DataFiles.Show(Encoding)}' is not one of {string.Join(", ", ImageEncodings.Names)}");
        if (FilterStart == FilterStart.Drawn && Filter != VolatilityFilterKind.ComponentGjrGarch)
            Throw.User($"--filter-start {VolatilityFilter.DrawnStartName} needs --filter {VolatilityFilter.ComponentGjrGarchName}: only its long-run level can be drawn");
        if (PathCalibration != PathCalibration.None && Filter != VolatilityFilterKind.GjrGarch)
            Throw.User($"--path-calibration {VolatilityFilter.Name(PathCalibration)} needs --filter {VolatilityFilter.GjrGarchName}");
        if (Tails != TailModel.Empirical && Filter == VolatilityFilterKind.None)
            Throw.User($"--tails {Name(Tails)} needs a volatility filter: only a filtered model's residuals are calibrated");
        if (Tails != TailModel.Empirical && Window > DataSets.MaxCalibratedWindow)
            Throw.User($"--tails {Name(Tails)} needs --window {DataSets.MaxCalibratedWindow} or less: longer windows are not calibrated");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var column in Columns)
        {
            if (string.IsNullOrWhiteSpace(column)) Throw.User("--columns: a column name is empty");
            if (column.Trim().Equals(DateColumn.Trim(), StringComparison.OrdinalIgnoreCase))
                Throw.User($"--columns: '{DataFiles.Show(DateColumn)}' is the date column, not a price column");
            if (!seen.Add(column.Trim())) Throw.User($"--columns: '{DataFiles.Show(column)}' is given twice");
        }
        return this;
    }

    /// <summary>Splits a <c>--columns A,B,C</c> value (names trimmed; empty names and duplicates are errors).</summary>
    public static string[] ParseColumns(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var names = value.Split(',', StringSplitOptions.TrimEntries);
        if (names.Any(n => n.Length == 0)) Throw.User($"--columns '{DataFiles.Show(value, 200)}': a column name is empty (write A,B,C)");
        new DataOptions { Columns = names }.Validate();
        return names;
    }

    /// <summary>The <c>--na</c> word of a policy.</summary>
    public static string Name(MissingValues missing) => missing switch
    {
        MissingValues.Drop => "drop",
        MissingValues.ForwardFill => "ffill",
        _ => "error",
    };

    /// <summary>The <c>--transform</c> word of a return transform.</summary>
    public static string Name(ReturnTransform transform) => transform switch
    {
        ReturnTransform.Robust => "robust",
        ReturnTransform.LambertW => "lambert-w",
        _ => "none",
    };

    /// <summary>Reads a <c>--transform</c> word: <c>none</c>, <c>robust</c> or <c>lambert-w</c>.</summary>
    public static ReturnTransform ParseTransform(string value) => value switch
    {
        "none" => ReturnTransform.None,
        "robust" => ReturnTransform.Robust,
        "lambert-w" => ReturnTransform.LambertW,
        _ => Throw.User<ReturnTransform>($"--transform '{DataFiles.Show(value)}' is not one of none, robust, lambert-w"),
    };

    /// <summary>The <c>--tails</c> word of a tail model.</summary>
    public static string Name(TailModel tails) => tails == TailModel.GeneralizedPareto ? GeneralizedParetoName : "empirical";
    public const string GeneralizedParetoName = "gpd";

    /// <summary>Reads a <c>--tails</c> word: <c>empirical</c> or <c>gpd</c>.</summary>
    public static TailModel ParseTails(string value) => value switch
    {
        "empirical" => TailModel.Empirical,
        GeneralizedParetoName => TailModel.GeneralizedPareto,
        _ => Throw.User<TailModel>($"--tails '{DataFiles.Show(value)}' is not one of empirical, {GeneralizedParetoName}"),
    };

    /// <summary>Reads an <c>--na</c> word: <c>error</c>, <c>drop</c> or <c>ffill</c>.</summary>
    public static MissingValues ParseMissing(string value) => value switch
    {
        "error" => MissingValues.Error,
        "drop" => MissingValues.Drop,
        "ffill" => MissingValues.ForwardFill,
        _ => Throw.User<MissingValues>($"--na '{DataFiles.Show(value)}' is not one of error, drop, ffill"),
    };

    /// <summary>
    /// The keys a checkpoint stores; <paramref name="resolvedColumns"/> are the header's spellings of the
    /// columns actually used, so a checkpoint never depends on how the default was resolved.
    /// </summary>
    public IReadOnlyDictionary<string, string> ToMetadata(IReadOnlyList<string> resolvedColumns)
    {
        var metadata = new Dictionary<string, string>
        {
            [ColumnsKey] = JsonSerializer.Serialize(resolvedColumns.ToArray(), DataOptionsJson.Default.StringArray),
            [MissingKey] = Name(Missing),
            [StrideKey] = Stride.ToString(CultureInfo.InvariantCulture),
            [DateColumnKey] = DateColumn,
            [TransformKey] = Name(Transform),
            // the encoding's name and window are written by the encoding itself, under EncodingKey and WindowKey
        };
        // Only a filtered model says so, so that a model without a filter keeps the keys it always had.
        if (Filter != VolatilityFilterKind.None) metadata[VolatilityFilter.KindKey] = VolatilityFilter.Name(Filter);
        if (FilterStart != FilterStart.Last) metadata[FilterStartKey] = VolatilityFilter.Name(FilterStart);
        if (PathCalibration != PathCalibration.None) metadata[PathCalibrationKey] = VolatilityFilter.Name(PathCalibration);
        if (Tails != TailModel.Empirical) metadata[TailsKey] = Name(Tails);
        // the condition's kind, standardization and start history are written by ConditionFeatures itself, under its keys
        if (AllowExtreme) metadata[AllowExtremeKey] = "true"; // only when given: checkpoints of ordinary data stay as they were
        return metadata;
    }

    /// <summary>
    /// Rebuilds the options from a checkpoint's data metadata; keys a checkpoint from before these options
    /// lacks mean the defaults. Bad values throw a one-line <see cref="FinGenException"/>.
    /// </summary>
    public static DataOptions FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var options = Default;
        if (metadata.TryGetValue(ColumnsKey, out var json))
        {
            string[]? columns = null;
            try { columns = JsonSerializer.Deserialize(json, DataOptionsJson.Default.StringArray); }
            catch (JsonException) { }
            if (columns is null || columns.Length == 0)
                Throw.User($"data metadata: {ColumnsKey} '{DataFiles.Show(json, 200)}' is not a JSON array of column names");
            options = options with { Columns = columns };
        }
        if (metadata.TryGetValue(MissingKey, out var na))
            options = options with { Missing = ParseMissing(na) };
        if (metadata.TryGetValue(StrideKey, out var stride))
        {
            if (!int.TryParse(stride, NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s < 1)
                Throw.User($"data metadata: {StrideKey} '{DataFiles.Show(stride)}' is not an integer of at least 1");
            options = options with { Stride = s };
        }
        if (metadata.TryGetValue(DateColumnKey, out var dateColumn))
            options = options with { DateColumn = dateColumn };
        if (metadata.TryGetValue(AllowExtremeKey, out var allow))
            options = options with { AllowExtreme = allow == "true" };
        if (metadata.TryGetValue(TransformKey, out var transform))
            options = options with { Transform = ParseTransform(transform) };
        if (metadata.TryGetValue(VolatilityFilter.KindKey, out var filter))
            options = options with { Filter = VolatilityFilter.ParseKind(filter) };
        if (metadata.TryGetValue(PathCalibrationKey, out var calibration))
            options = options with { PathCalibration = VolatilityFilter.ParseCalibration(calibration) };
        if (metadata.TryGetValue(TailsKey, out var tails))
            options = options with { Tails = ParseTails(tails) };
        if (metadata.TryGetValue(FilterStartKey, out var filterStart))
            options = options with { FilterStart = VolatilityFilter.ParseStart(filterStart) };
        if (metadata.TryGetValue(EncodingKey, out var encoding))
            options = options with { Encoding = encoding };
        if (metadata.TryGetValue(ConditionFeatures.KindKey, out var condition))
            options = options with { Condition = ConditionFeatures.ParseKind(condition) };
        if (metadata.TryGetValue(WindowKey, out var window))
        {
            if (!int.TryParse(window, NumberStyles.None, CultureInfo.InvariantCulture, out int w))
                Throw.User($"data metadata: {WindowKey} '{DataFiles.Show(window)}' is not an integer");
            options = options with { Window = w };
        }
        return options.Validate();
    }

    /// <summary>Columns compared case-insensitively, in order.</summary>
    public bool Equals(DataOptions? other) =>
        other is not null && Missing == other.Missing && Stride == other.Stride && Window == other.Window
        && DateColumn.Equals(other.DateColumn, StringComparison.OrdinalIgnoreCase)
        && Encoding == other.Encoding && Transform == other.Transform && Filter == other.Filter && FilterStart == other.FilterStart && PathCalibration == other.PathCalibration && Tails == other.Tails && Condition == other.Condition && AllowExtreme == other.AllowExtreme
        && Columns.SequenceEqual(other.Columns, StringComparer.OrdinalIgnoreCase);

    public override int GetHashCode() => HashCode.Combine(Missing, Stride, Window, Encoding, Transform, Filter, Columns.Count);

    /// <summary>e.g. <c>columns 'AA', 'T'; na ffill; stride 5; window 28; transform none; encoding gasf</c>.</summary>
    public override string ToString()
    {
        var columns = Columns.Count == 0 ? $"column '{DefaultColumn}'"
            : Columns.Count == 1 ? $"column '{Columns[0]}'"
            : $"columns {string.Join(", ", Columns.Select(c => $"'{c}'"))}";
        if (!DateColumn.Equals(DefaultDateColumn, StringComparison.OrdinalIgnoreCase)) columns += $"; date column '{DateColumn}'";
        return string.Create(CultureInfo.InvariantCulture, $"{columns}; na {Name(Missing)}; stride {Stride}; window {Window}; transform {Name(Transform)}; encoding {Encoding}{(AllowExtreme ? "; extreme returns allowed" : "")}")
            + (Filter == VolatilityFilterKind.None ? "" : $"; filter {VolatilityFilter.Name(Filter)}")
            + (FilterStart == FilterStart.Last ? "" : $"; filter start {VolatilityFilter.Name(FilterStart)}")
            + (PathCalibration == PathCalibration.None ? "" : $"; path calibration {VolatilityFilter.Name(PathCalibration)}")
            + (Tails == TailModel.Empirical ? "" : $"; tails {Name(Tails)}")
            + (Condition == ConditionKind.None ? "" : $"; condition {ConditionFeatures.Name(Condition)}");
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class DataOptionsJson : System.Text.Json.Serialization.JsonSerializerContext;
