using System.CommandLine;
using FinGen.Native;
using FinGen.Native.Data;

namespace FinGen.Cli;

/// <summary>Option constructors and checks shared by the commands, so every command words errors alike.</summary>
internal static class Options
{
    public static Option<string> Device() => new Option<string>("--device")
    {
        Description = "cpu, cuda or auto (auto: CUDA when a device answers, else CPU)",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "cpu", "cuda");

    public static Option<ulong> Seed(ulong fallback) => new("--seed")
    {
        Description = "seed of every random draw (same seed, same result)",
        DefaultValueFactory = _ => fallback,
    };

    public static int AtLeast(int value, int minimum, string option)
    {
        if (value < minimum) Throw($"{option} must be at least {minimum}, got {value}");
        return value;
    }

    /// <summary>Refuses to replace a file the user already has.</summary>
    public static void MustNotExist(string path, string option)
    {
        if (File.Exists(path) || Directory.Exists(path))
            Throw($"{option} {path} already exists; choose another path (nothing was overwritten)");
    }

    /// <summary>A file to create: it must not exist, and its folder must.</summary>
    public static void MustBeNewFile(string path, string option)
    {
        MustNotExist(path, option);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
            Throw($"{option} {path}: the folder {(Path.GetDirectoryName(path) is { Length: > 0 } given ? given : folder)} does not exist; create it first");
    }

    public static void MustExist(string path, string option)
    {
        if (!File.Exists(path)) Throw($"{option} {path}: no such file");
    }

    /// <summary><c>--path-days</c> of sample and eval: how generated days are strung into paths (<see cref="PathDays"/>).</summary>
    public static Option<string> PathDays() => new Option<string>("--path-days")
    {
        Description = "how a price model's long paths string generated days together: independent (the default: each day from another generated window, the volatility filter carries all dependence between days) or windows (whole generated windows one after another)",
        DefaultValueFactory = _ => "independent",
    }.AcceptOnlyFromAmong("independent", "windows");

    public static PathDays ParsePathDays(string value) => value == "windows" ? FinGen.Native.Data.PathDays.Windows : FinGen.Native.Data.PathDays.Independent;

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Throw(string message) => throw new FinGenException(message);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static T Throw<T>(string message) => throw new FinGenException(message);
}

/// <summary>
/// <c>--column</c>, <c>--columns</c>, <c>--na</c> and <c>--stride</c>: how a price file becomes windows. Each
/// given option replaces the matching field of a baseline (the defaults, or what a checkpoint recorded).
/// </summary>
internal sealed class DataOptionFlags
{
    public Option<string?> Column { get; } = new("--column")
    {
        Description = "the price column (case-insensitive; default close, e.g. --column adjclose)",
        HelpName = "NAME",
    };

    public Option<string?> Columns { get; } = new("--columns")
    {
        Description = "several price columns of a panel, e.g. AA,KO,MSFT: each is its own series over the shared dates, all split at the same date, their windows pooled",
        HelpName = "A,B,C",
    };

    public Option<string?> Missing { get; } = new Option<string?>("--na")
    {
        Description = "missing prices (empty, NA, N/A, #N/A, null): error (stop, count them and name the first; the default), drop (drop rows where any chosen column is missing) or ffill (carry the last price forward)",
    }.AcceptOnlyFromAmong("error", "drop", "ffill");

    public Option<int?> Stride { get; } = new("--stride")
    {
        Description = "days between the starts of consecutive training windows (default 1: every window)",
        HelpName = "N",
    };

    public Option<string?> DateColumn { get; } = new("--date-column")
    {
        Description = "the date column (case-insensitive; default date, e.g. --date-column approx_date)",
        HelpName = "NAME",
    };

    public Option<int?> Window { get; } = new("--window")
    {
        Description = "returns per training window (default 28: L×L images, or with --encoding raw a 1×L strip, √L×√L when L is a square such as 784)",
        HelpName = "L",
    };

    public Option<string?> Encoding { get; } = new Option<string?>("--encoding")
    {
        Description = "how a window becomes an image: raw (the default for gan and vae on price data; decodes exactly), gasf (the default for dcgan and conv-vae, which need square images; decodes by a least-squares fit), gadf, mtf, recurrence (these three do not decode, so no paths can be drawn from them)",
    }.AcceptOnlyFromAmong([.. ImageEncodings.Names]);

    public Option<string?> Transform { get; } = new Option<string?>("--transform")
    {
        Description = "returns (or filtered residuals) before encoding: lambert-w (the default for price data: robust standardization, then inverse Lambert W Gaussianization fitted by maximum likelihood, as QuantGAN), robust (median and MAD standardization) or none; inverted exactly when decoding",
    }.AcceptOnlyFromAmong("none", "robust", "lambert-w");

    public Option<string?> Filter { get; } = new Option<string?>("--filter")
    {
        Description = "volatility filter: gjr-garch (the default for price data: a GJR-GARCH(1,1)-t fitted on the training returns standardizes them, the model learns the residuals, and generated residuals are re-coloured along each path, so volatility memory and leverage carry across windows), component-gjr-garch (the same with a component GJR-GARCH(1,1)-t, Engle & Lee 1999: the variance reverts to a slowly moving long-run level, a longer volatility memory) or none (windows of returns, each on its own)",
    }.AcceptOnlyFromAmong("none", VolatilityFilter.GjrGarchName, VolatilityFilter.ComponentGjrGarchName);

    public Option<string?> FilterStart { get; } = new Option<string?>("--filter-start")
    {
        Description = "where a filtered model's paths start: last (the default: every path from the filter's state on the day after training, as filtered historical simulation) or drawn (--filter component-gjr-garch: each path's long-run volatility level drawn from the levels the filter went through in training, the variance from the last day's)",
    }.AcceptOnlyFromAmong("last", VolatilityFilter.DrawnStartName);

    public Option<string?> PathCalibration { get; } = new Option<string?>("--path-calibration")
    {
        Description = "how a GJR-filtered model's long paths are re-coloured: variance-persistence (the default for price data: a recursion whose persistence under the training residuals' own skew is the fitted one and whose stationary variance is the training returns'; the fitted recursion assumes symmetric residuals, and the S&P 500's skewed ones would make long paths near-integrated) or none (the fitted recursion); conditional forecasts always use the fitted recursion",
    }.AcceptOnlyFromAmong("none", VolatilityFilter.VariancePersistenceName);

    public Option<string?> Tails { get; } = new Option<string?>("--tails")
    {
        Description = "the tails of a filtered model's generated residuals: empirical (the default: they end at the training residuals' extremes) or gpd (generalized Pareto tails fitted by maximum likelihood beyond the training residuals' 10 % and 90 % quantiles, McNeil & Frey 2000, so a generated residual can exceed every training one)",
    }.AcceptOnlyFromAmong("empirical", FinGen.Native.Data.DataOptions.GeneralizedParetoName);

    public Option<string?> Condition { get; } = new Option<string?>("--condition")
    {
        Description = "conditional generation (--model gan or vae): the generator and discriminator (the VAE's encoder and decoder) also see a condition computed from the returns before each window, realized-vol (log realized volatility of the previous 5, 20 and 60 days, standardized on the training windows) or realized-vol-window (and the previous window's returns); paths are rolled out window after window from the last training days, and eval's forecasts condition on the real history before each day; none (the default): windows are drawn on their own",
    }.AcceptOnlyFromAmong("none", FinGen.Native.Data.ConditionFeatures.RealizedVolName, FinGen.Native.Data.ConditionFeatures.RealizedVolWindowName);

    public Option<bool> AllowExtreme { get; } = new("--allow-extreme")
    {
        Description = $"accept daily log returns beyond ±{FinGen.Native.Data.DataOptions.MaxAbsLogReturn:F0} (a 170 % rise or 63 % fall in a day); without it such a price is an error naming its line",
    };

    public IEnumerable<Option> All => [Column, Columns, DateColumn, Missing, Stride, Window, Encoding, Transform, Filter, FilterStart, PathCalibration, Tails, Condition, AllowExtreme];

    /// <summary>True when the user typed any of the options.</summary>
    public bool AnyGiven(ParseResult parse) => All.Any(o => parse.GetResult(o) is { Implicit: false });

    public DataOptions Resolve(ParseResult parse, DataOptions baseline)
    {
        string? column = parse.GetValue(Column), columns = parse.GetValue(Columns);
        if (column is not null && columns is not null)
            Options.Throw("--column and --columns cannot be used together; list every column in --columns A,B,C");
        var options = baseline;
        if (column is not null)
        {
            if (string.IsNullOrWhiteSpace(column)) Options.Throw("--column: the column name is empty");
            options = options with { Columns = [column.Trim()] };
        }
        if (columns is not null) options = options with { Columns = DataOptions.ParseColumns(columns) };
        if (parse.GetValue(Missing) is { } na) options = options with { Missing = DataOptions.ParseMissing(na) };
        if (parse.GetValue(Stride) is { } stride) options = options with { Stride = stride };
        if (parse.GetValue(DateColumn) is { } dateColumn) options = options with { DateColumn = dateColumn.Trim() };
        if (parse.GetValue(Window) is { } window) options = options with { Window = window };
        if (parse.GetValue(Encoding) is { } encoding) options = options with { Encoding = encoding };
        if (parse.GetValue(Transform) is { } transform) options = options with { Transform = DataOptions.ParseTransform(transform) };
        if (parse.GetValue(Filter) is { } filter) options = options with { Filter = VolatilityFilter.ParseKind(filter) };
        if (parse.GetValue(PathCalibration) is { } calibration) options = options with { PathCalibration = VolatilityFilter.ParseCalibration(calibration) };
        // The recommended calibration belongs to the recommended GJR filter: another filter chosen without it goes without.
        else if (options.Filter != VolatilityFilterKind.GjrGarch) options = options with { PathCalibration = FinGen.Native.Data.PathCalibration.None };
        if (parse.GetValue(FilterStart) is { } filterStart) options = options with { FilterStart = VolatilityFilter.ParseStart(filterStart) };
        if (parse.GetValue(Tails) is { } tails) options = options with { Tails = DataOptions.ParseTails(tails) };
        if (parse.GetValue(Condition) is { } condition) options = options with { Condition = FinGen.Native.Data.ConditionFeatures.ParseKind(condition) };
        if (parse.GetValue(AllowExtreme)) options = options with { AllowExtreme = true };
        return options.Validate();
    }
}
