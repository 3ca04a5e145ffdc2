namespace FinGen.Native.Evaluation;

/// <summary>
/// Input checks shared by the evaluation classes. Every failure is a <see cref="FinGenException"/>:
/// the inputs (return series, levels, lags) come from the user's data and settings.
/// </summary>
static class Checks
{
    /// <summary>Throws unless every value of <paramref name="values"/> is finite.</summary>
    public static void Finite(ReadOnlySpan<double> values, string what)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i])) Throw.User($"{what}: value {i} is {values[i]}, not a finite number");
        }
    }

    /// <summary>Throws unless <paramref name="values"/> has at least <paramref name="count"/> finite values.</summary>
    public static void Series(ReadOnlySpan<double> values, int count, string what, string why)
    {
        if (values.Length < count) Throw.User($"{what}: {English.Plural(values.Length, "value")} is too few: {why} needs at least {count}");
        Finite(values, what);
    }

    /// <summary>Throws unless 0 &lt; <paramref name="alpha"/> &lt; 1.</summary>
    public static void Level(double alpha, string name = "confidence level")
    {
        if (!(alpha > 0 && alpha < 1)) Throw.User($"{name} {alpha} must be strictly between 0 and 1");
    }

    /// <summary>Throws unless <paramref name="value"/> is at least <paramref name="minimum"/>.</summary>
    public static void AtLeast(int value, int minimum, string name)
    {
        if (value < minimum) Throw.User($"{name} must be at least {minimum}, got {value}");
    }

    /// <summary>Population variance Σ(x − x̄)²/n (two passes, so that large means do not cancel).</summary>
    public static double PopulationVariance(ReadOnlySpan<double> x, out double mean)
    {
        double sum = 0;
        foreach (double v in x) sum += v;
        mean = sum / x.Length;
        double squares = 0;
        foreach (double v in x) squares += (v - mean) * (v - mean);
        return squares / x.Length;
    }
}
