namespace FinGen.Native.Evaluation;

/// <summary>
/// What a volatility recursion carries from one day to the next: σ²ₜ, the conditional variance of day t, and for a
/// two-component model qₜ, its long-run component (0 for a one-component model such as GJR-GARCH, which has none).
/// </summary>
public readonly record struct VolatilityState(double Variance, double LongRunVariance);

/// <summary>
/// A fitted volatility model rₜ = μ + σₜzₜ with unit-variance Student-t zₜ (ν degrees of freedom), seen as its
/// recursion: the state of the first day, and the state of day t + 1 from day t's state and return. Filtering,
/// re-colouring, simulation and the likelihood (<see cref="VolatilityRecursion"/>) are written once against it.
/// </summary>
public interface IVolatilityRecursion
{
    /// <summary>The mean return μ.</summary>
    double Mu { get; }

    /// <summary>The innovations' Student-t degrees of freedom ν &gt; 2.</summary>
    double Nu { get; }

    /// <summary>The stationary variance of εₜ = rₜ − μ.</summary>
    double UnconditionalVariance { get; }

    /// <summary>The state of a first day whose variance is <paramref name="variance"/> (every component started there).</summary>
    VolatilityState Start(double variance);

    /// <summary>The state of the day after a day in <paramref name="state"/> whose return was <paramref name="r"/>.</summary>
    VolatilityState Next(VolatilityState state, double r);

    /// <summary>Throws <see cref="FinGenException"/> unless the parameters are valid.</summary>
    void Validate();
}

/// <summary>
/// The parts every <see cref="IVolatilityRecursion"/> shares: the Student-t log-likelihood, the filtered states, and
/// re-colouring standardized residuals into returns. Generic over the recursion, so a struct's calls are inlined.
/// </summary>
public static class VolatilityRecursion
{
    /// <summary>
    /// Σₜ ℓₜ with the unit-variance Student-t density: ℓₜ = ln Γ((ν + 1)/2) − ln Γ(ν/2) − ½ ln(π(ν − 2)) − ½ ln σ²ₜ
    /// − ((ν + 1)/2)·ln(1 + ε²ₜ/((ν − 2)σ²ₜ)), εₜ = rₜ − μ, from the state <paramref name="model"/>.Start(<paramref name="initialVariance"/>).
    /// Unchecked: the caller has validated the parameters and the returns.
    /// </summary>
    internal static double StudentTLogLikelihood<T>(in T model, ReadOnlySpan<double> returns, double initialVariance) where T : IVolatilityRecursion
    {
        double nu = model.Nu, mu = model.Mu;
        double constant = MathNet.Numerics.SpecialFunctions.GammaLn(0.5 * (nu + 1.0)) - MathNet.Numerics.SpecialFunctions.GammaLn(0.5 * nu) - 0.5 * Math.Log(Math.PI * (nu - 2.0));
        double halfNuPlusOne = 0.5 * (nu + 1.0), inverseNuMinusTwo = 1.0 / (nu - 2.0);
        var state = model.Start(initialVariance);
        double sum = 0;
        foreach (double r in returns)
        {
            double e = r - mu, variance = state.Variance;
            sum += -0.5 * Math.Log(variance) - halfNuPlusOne * Math.Log(1.0 + e * e * inverseNuMinusTwo / variance);
            state = model.Next(state, r);
        }
        return sum + returns.Length * constant;
    }

    /// <summary>
    /// The states of the days of <paramref name="returns"/> and of the day after (n + 1 values), from
    /// <paramref name="start"/> (default: every component at the population sample variance of the returns).
    /// </summary>
    public static VolatilityState[] States<T>(in T model, ReadOnlySpan<double> returns, VolatilityState? start = null) where T : IVolatilityRecursion
    {
        model.Validate();
        Checks.Series(returns, 2, "returns", "conditional variances");
        var states = new VolatilityState[returns.Length + 1];
        states[0] = start ?? model.Start(Checks.PopulationVariance(returns, out _));
        for (int t = 0; t < returns.Length; t++) states[t + 1] = model.Next(states[t], returns[t]);
        return states;
    }

    /// <summary>The standardized residuals zₜ = (rₜ − μ)/σₜ of <paramref name="returns"/> under the filter started as <see cref="States"/> starts it.</summary>
    public static double[] StandardizedResiduals<T>(in T model, ReadOnlySpan<double> returns) where T : IVolatilityRecursion
    {
        var states = States(model, returns);
        var z = new double[returns.Length];
        for (int t = 0; t < z.Length; t++) z[t] = (returns[t] - model.Mu) / Math.Sqrt(states[t].Variance);
        return z;
    }

    /// <summary>
    /// Runs the recursion forward over innovations <paramref name="z"/> from the state <paramref name="state"/> of the
    /// first day: rₜ = μ + σₜzₜ, the next state from rₜ. Writes <paramref name="returns"/> (may be the same span as
    /// <paramref name="z"/>) and returns the state of the day after the last, so a path can be continued.
    /// </summary>
    public static VolatilityState Recolour<T>(in T model, VolatilityState state, ReadOnlySpan<double> z, Span<double> returns) where T : IVolatilityRecursion
    {
        double mu = model.Mu;
        for (int t = 0; t < z.Length; t++)
        {
            double r = mu + Math.Sqrt(state.Variance) * z[t];
            returns[t] = r;
            state = model.Next(state, r);
        }
        return state;
    }

    /// <summary><see cref="Recolour{T}(in T, VolatilityState, ReadOnlySpan{double}, Span{double})"/> in single precision, the state in double.</summary>
    public static VolatilityState Recolour<T>(in T model, VolatilityState state, ReadOnlySpan<float> z, Span<float> returns) where T : IVolatilityRecursion
    {
        double mu = model.Mu;
        for (int t = 0; t < z.Length; t++)
        {
            double r = mu + Math.Sqrt(state.Variance) * z[t];
            returns[t] = (float)r;
            state = model.Next(state, r);
        }
        return state;
    }

    /// <summary>
    /// Simulates <paramref name="n"/> returns from <paramref name="start"/> (default: every component at the
    /// unconditional variance, after <paramref name="burnIn"/> discarded days), zₜ unit-variance Student-t read from
    /// <paramref name="cursor"/>.
    /// </summary>
    internal static double[] Simulate<T>(in T model, int n, ref PhiloxCursor cursor, VolatilityState? start, int burnIn) where T : IVolatilityRecursion
    {
        model.Validate();
        Checks.AtLeast(n, 0, "number of simulated returns");
        Checks.AtLeast(burnIn, 0, "burn-in days");
        var state = start ?? model.Start(model.UnconditionalVariance);
        int skip = start is null ? burnIn : 0;
        double mu = model.Mu, nu = model.Nu;
        var returns = new double[n];
        for (int t = -skip; t < n; t++)
        {
            double r = mu + Math.Sqrt(state.Variance) * cursor.NextStandardizedStudentT(nu);
            if (t >= 0) returns[t] = r;
            state = model.Next(state, r);
        }
        return returns;
    }
}
