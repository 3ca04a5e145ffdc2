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

/// <summary>
/// How a price file becomes training windows: which <see cref="Columns"/> (empty: the <c>close</c> column),
/// what to do with <see cref="Missing"/> prices, and the <see cref="Stride"/> between window starts.
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
    /// <summary>The price column used when none is chosen.</summary>
    public const string DefaultColumn = "close";

    /// <summary>Today's behaviour: the <c>close</c> column, missing values are an error, every window.</summary>
    public static DataOptions Default { get; } = new();

    /// <summary>The price columns, case-insensitive; empty means <see cref="DefaultColumn"/>.</summary>
    public IReadOnlyList<string> Columns { get; init; } = [];
    public MissingValues Missing { get; init; } = MissingValues.Error;
    /// <summary>Returns between the starts of consecutive windows; 1 takes every window.</summary>
    public int Stride { get; init; } = 1;

    /// <summary>True when nothing differs from <see cref="Default"/>.</summary>
    public bool IsDefault => Columns.Count == 0 && Missing == MissingValues.Error && Stride == 1;

    /// <summary>Throws a one-line <see cref="FinGenException"/> unless the options can be used.</summary>
    public DataOptions Validate()
    {
        if (Stride < 1) Throw.User($"--stride must be at least 1, got {Stride}");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var column in Columns)
        {
            if (string.IsNullOrWhiteSpace(column)) Throw.User("--columns: a column name is empty");
            if (column.Trim().Equals("date", StringComparison.OrdinalIgnoreCase))
                Throw.User("--columns: 'date' is the date column, not a price column");
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
    public IReadOnlyDictionary<string, string> ToMetadata(IReadOnlyList<string> resolvedColumns) => new Dictionary<string, string>
    {
        [ColumnsKey] = JsonSerializer.Serialize(resolvedColumns.ToArray(), DataOptionsJson.Default.StringArray),
        [MissingKey] = Name(Missing),
        [StrideKey] = Stride.ToString(CultureInfo.InvariantCulture),
    };

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
        return options.Validate();
    }

    /// <summary>Columns compared case-insensitively, in order.</summary>
    public bool Equals(DataOptions? other) =>
        other is not null && Missing == other.Missing && Stride == other.Stride
        && Columns.SequenceEqual(other.Columns, StringComparer.OrdinalIgnoreCase);

    public override int GetHashCode() => HashCode.Combine(Missing, Stride, Columns.Count);

    /// <summary>e.g. <c>columns 'AA', 'T'; na ffill; stride 5</c>.</summary>
    public override string ToString()
    {
        var columns = Columns.Count == 0 ? $"column '{DefaultColumn}'"
            : Columns.Count == 1 ? $"column '{Columns[0]}'"
            : $"columns {string.Join(", ", Columns.Select(c => $"'{c}'"))}";
        return string.Create(CultureInfo.InvariantCulture, $"{columns}; na {Name(Missing)}; stride {Stride}");
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class DataOptionsJson : System.Text.Json.Serialization.JsonSerializerContext;
