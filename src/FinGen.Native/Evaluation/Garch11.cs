using MathNet.Numerics;
using MathNet.Numerics.Distributions;

namespace FinGen.Native.Evaluation;

/// <summary>
/// GARCH(1,1) parameters: rₜ = μ + εₜ, εₜ = σₜzₜ, σ²ₜ = ω + α·ε²ₜ₋₁ + β·σ²ₜ₋₁, zₜ i.i.d. Student-t with
/// ν degrees of freedom scaled to unit variance. Valid when ω &gt; 0, α ≥ 0, β ≥ 0, α + β &lt; 1, ν &gt; 2.
/// </summary>
public readonly record struct Garch11Parameters(double Mu, double Omega, double Alpha, double Beta, double Nu)
{
    /// <summary>α + β, the decay rate of volatility shocks.</summary>
    public double Persistence => Alpha + Beta;

    /// <summary>The stationary variance of εₜ: ω/(1 − α − β).</summary>
    public double UnconditionalVariance => Omega / (1.0 - Alpha - Beta);

    /// <summary>Throws <see cref="FinGenException"/> unless the parameters are valid (see the type's summary).</summary>
    public void Validate()
    {
        if (!double.IsFinite(Mu)) Throw.User($"GARCH μ = {Mu} must be finite");
        if (!(Omega > 0) || !double.IsFinite(Omega)) Throw.User($"GARCH ω = {Omega} must be positive and finite");
        if (!(Alpha >= 0) || !(Beta >= 0)) Throw.User($"GARCH α = {Alpha} and β = {Beta} must not be negative");
        if (!(Alpha + Beta < 1)) Throw.User($"GARCH α + β = {Alpha + Beta} must be below 1 (covariance stationarity)");
        if (!(Nu > 2) || double.IsNaN(Nu)) Throw.User($"Student-t degrees of freedom ν = {Nu} must exceed 2 (finite variance)");
    }
}

/// <summary>A maximum-likelihood GARCH(1,1) fit: the parameters, the maximized log-likelihood, the objective evaluations used, and whether the optimizer met its tolerances.</summary>
public sealed record Garch11Fit(Garch11Parameters Parameters, double LogLikelihood, int Evaluations, bool Converged);

/// <summary>
/// GARCH(1,1) with standardized Student-t innovations (Bollerslev, J. Econometrics 31, 1986; Bollerslev,
/// Rev. Economics &amp; Statistics 69, 1987), the classical baseline for synthetic returns: fitted by maximum
/// likelihood on the training returns, then simulated or used for one-step-ahead VaR forecasts.
/// The variance recursion starts from σ²₀ = the population sample variance of the returns it runs over.
/// </summary>
public static class Garch11
{
    /// <summary>Default number of simulated days discarded before the returned ones, so the start value is forgotten.</summary>
    public const int DefaultBurnIn = 500;

    /// <summary>
    /// The log-likelihood Σₜ ℓₜ over all n returns, with zₜ = εₜ/σₜ and the unit-variance Student-t density:
    /// ℓₜ = ln Γ((ν + 1)/2) − ln Γ(ν/2) − ½ ln(π(ν − 2)) − ½ ln σ²ₜ − ((ν + 1)/2)·ln(1 + ε²ₜ/((ν − 2)σ²ₜ)),
    /// σ²₀ = the population sample variance of <paramref name="returns"/>.
    /// </summary>
    public static double LogLikelihood(Garch11Parameters parameters, ReadOnlySpan<double> returns)
    {
        parameters.Validate();
        Checks.Series(returns, 2, "returns", "a GARCH likelihood");
        return LogLikelihoodUnchecked(parameters, returns, Checks.PopulationVariance(returns, out _));
    }

    /// <summary>
    /// Fits μ, ω, α, β, ν by maximum likelihood (<see cref="LogLikelihood"/>). The optimizer is MathNet's Nelder–Mead
    /// simplex (<see cref="Minimizer.NelderMead"/>) on an unconstrained vector θ that maps onto the valid region: μ = s·θ₀, ω = s²·e^θ₁, α + β = λ(θ₂),
    /// α = λ(θ₂)·λ(θ₃), β = λ(θ₂)·(1 − λ(θ₃)), ν = 2 + e^θ₄, with λ the logistic function and s² the sample
    /// variance (so θ is of order one for any return scale). It starts at μ = r̄, α = 0.05, β = 0.90,
    /// ω = 0.05·s², ν = 8, and restarts from its best point with a fresh simplex until a restart no longer
    /// improves the likelihood by 1e-9 (relative), within <paramref name="maxEvaluations"/> evaluations.
    /// Needs at least 10 returns with a positive variance.
    /// </summary>
    public static Garch11Fit Fit(ReadOnlySpan<double> returns, int maxEvaluations = 20_000)
    {
        Checks.Series(returns, 10, "returns", "a GARCH(1,1) fit");
        Checks.AtLeast(maxEvaluations, 100, "GARCH maximum evaluations");
        double variance = Checks.PopulationVariance(returns, out double mean);
        if (variance == 0) Throw.User("returns are constant (zero variance): a GARCH model cannot be fitted");
        double scale = Math.Sqrt(variance);
        double[] data = returns.ToArray();

        Garch11Parameters FromVector(double[] theta)
        {
            double persistence = Logistic(theta[2]), share = Logistic(theta[3]);
            return new Garch11Parameters(scale * theta[0], variance * Math.Exp(theta[1]), persistence * share,
                persistence * (1.0 - share), 2.0 + Math.Exp(theta[4]));
        }
        double Objective(double[] theta)
        {
            var p = FromVector(theta);
            // Rounding can push β to 0 or α + β to 1 at extreme θ; treat such points as infeasible.
            if (!(p.Omega > 0) || !(p.Persistence < 1) || !(p.Nu > 2)) return double.PositiveInfinity;
            return -LogLikelihoodUnchecked(p, data, variance);
        }

        double[] start = [mean / scale, Math.Log(0.05), Logit(0.95), Logit(0.05 / 0.95), Math.Log(6.0)];
        double[] steps = [0.05, 0.5, 0.5, 0.5, 0.5];
        // Relative tolerance 1e-13 on the simplex' values: at 1e-10 the log-likelihood stopped up to 1e-9 short of the maximum.
        var found = Minimizer.NelderMead(Objective, start, steps, tolerance: 1e-13, maxEvaluations);
        if (!double.IsFinite(found.Value)) Throw.User("GARCH(1,1) fit failed: the likelihood is not finite anywhere the optimizer searched");
        return new Garch11Fit(FromVector(found.Point), -found.Value, found.Evaluations, found.Converged);
    }

    /// <summary>
    /// The conditional variances σ²₀..σ²ₙ of <paramref name="returns"/> (n + 1 values): σ²₀ = the population
    /// sample variance, σ²ₜ₊₁ = ω + α(rₜ − μ)² + βσ²ₜ; the last one is the forecast for the day after the series.
    /// </summary>
    public static double[] ConditionalVariances(Garch11Parameters parameters, ReadOnlySpan<double> returns)
    {
        parameters.Validate();
        Checks.Series(returns, 2, "returns", "GARCH conditional variances");
        var variances = new double[returns.Length + 1];
        variances[0] = Checks.PopulationVariance(returns, out _);
        for (int t = 0; t < returns.Length; t++)
        {
            double e = returns[t] - parameters.Mu;
            variances[t + 1] = parameters.Omega + parameters.Alpha * e * e + parameters.Beta * variances[t];
        }
        return variances;
    }

    /// <summary>The one-step-ahead conditional variance σ²ₙ after the last return (see <see cref="ConditionalVariances"/>).</summary>
    public static double ForecastVariance(Garch11Parameters parameters, ReadOnlySpan<double> returns) =>
        ConditionalVariances(parameters, returns)[returns.Length];

    /// <summary>
    /// The one-step-ahead conditional VaR at level α (a loss, positive when losses are expected):
    /// VaR = −(μ + σₙ·q), q = t_ν⁻¹(1 − α)·√((ν − 2)/ν), the (1 − α)-quantile of the unit-variance Student-t.
    /// </summary>
    public static double ForecastValueAtRisk(Garch11Parameters parameters, ReadOnlySpan<double> returns, double alpha)
    {
        Checks.Level(alpha);
        double variance = ForecastVariance(parameters, returns);
        return -(parameters.Mu + Math.Sqrt(variance) * StandardizedQuantile(1.0 - alpha, parameters.Nu));
    }

    /// <summary>
    /// One-step-ahead VaR forecasts for every day of <paramref name="test"/>, each using only earlier returns:
    /// the recursion starts at σ²₀ = the population variance of <paramref name="history"/> (at least 2 returns),
    /// runs through the history, then through the test days; element t is −(μ + σ·q) for test day t, with σ²
    /// the conditional variance formed from the returns before it (q as in <see cref="ForecastValueAtRisk"/>).
    /// </summary>
    public static double[] ValueAtRiskForecasts(Garch11Parameters parameters, ReadOnlySpan<double> history, ReadOnlySpan<double> test, double alpha)
    {
        parameters.Validate();
        Checks.Level(alpha);
        Checks.Series(history, 2, "history returns", "GARCH VaR forecasts");
        Checks.Finite(test, "test returns");
        double q = StandardizedQuantile(1.0 - alpha, parameters.Nu);
        double variance = Checks.PopulationVariance(history, out _);
        foreach (double r in history) variance = Step(parameters, variance, r);
        var forecasts = new double[test.Length];
        for (int t = 0; t < test.Length; t++)
        {
            forecasts[t] = -(parameters.Mu + Math.Sqrt(variance) * q);
            variance = Step(parameters, variance, test[t]);
        }
        return forecasts;
    }

    /// <summary>
    /// Simulates <paramref name="n"/> returns of the model. The recursion starts at the unconditional variance
    /// ω/(1 − α − β), runs <paramref name="burnIn"/> discarded days first, and draws zₜ as unit-variance
    /// Student-t variates x/√(χ²_ν/ν)·√((ν − 2)/ν) (x normal, χ²_ν = 2·Gamma(ν/2), Marsaglia–Tsang) from the
    /// Philox stream of <paramref name="seed"/>: the same arguments always give the same series.
    /// </summary>
    public static double[] Simulate(Garch11Parameters parameters, int n, ulong seed, int burnIn = DefaultBurnIn)
    {
        parameters.Validate();
        Checks.AtLeast(n, 0, "number of simulated returns");
        Checks.AtLeast(burnIn, 0, "burn-in days");
        var cursor = new PhiloxCursor(seed, EvaluationStreams.GarchInnovations);
        var returns = new double[n];
        double variance = parameters.UnconditionalVariance;
        for (int t = -burnIn; t < n; t++)
        {
            double r = parameters.Mu + Math.Sqrt(variance) * cursor.NextStandardizedStudentT(parameters.Nu);
            if (t >= 0) returns[t] = r;
            variance = Step(parameters, variance, r);
        }
        return returns;
    }

    /// <summary>The p-quantile of the unit-variance Student-t with ν &gt; 2: t_ν⁻¹(p)·√((ν − 2)/ν).</summary>
    public static double StandardizedQuantile(double p, double nu)
    {
        if (!(nu > 2)) Throw.User($"Student-t degrees of freedom ν = {nu} must exceed 2 (finite variance)");
        return StudentTQuantile(p, nu) * Math.Sqrt((nu - 2.0) / nu);
    }

    /// <summary>
    /// The p-quantile of the standard Student-t(ν), ν &gt; 0, for quantiles within ±800: MathNet's
    /// <see cref="StudentT.InvCDF"/> on the lower tail min(p, 1 − p), then one Newton step on MathNet's CDF and
    /// density, signed by the symmetry t_p = −t_(1−p). The Newton step is kept for a measured reason: InvCDF finds the
    /// root by Brent's method to an absolute accuracy of 1e-8 (MathNet 5.0.0: t₁(0.975) off by 3.7e-12, t₂(0.01) by
    /// 3.6e-11, t₂(10⁻⁶) by 5.6e-5, CDF(t) − p up to 4e-9 relative at ν = 30, p = 10⁻⁴), and the Newton step squares
    /// that error. The lower tail is used because there the CDF is ½I_x(ν/2, ½) itself, free of the cancellation in 1 − ½I.
    /// </summary>
    internal static double StudentTQuantile(double p, double nu)
    {
        if (!(nu > 0)) Throw.User($"Student-t degrees of freedom must be positive, got {nu}");
        Checks.Level(p, "probability");
        if (p == 0.5) return 0;
        double tail = Math.Min(p, 1.0 - p);
        double t;
        try { t = StudentT.InvCDF(0, 1, nu, tail); }
        catch (NonConvergenceException e)
        {
            throw new FinGenException($"the Student-t({nu}) quantile at p = {p} lies beyond ±800, outside the range MathNet's quantile searches", e);
        }
        t -= (StudentT.CDF(0, 1, nu, t) - tail) / StudentT.PDF(0, 1, nu, t);
        return p < 0.5 ? t : -t;
    }

    static double Step(Garch11Parameters p, double variance, double r)
    {
        double e = r - p.Mu;
        return p.Omega + p.Alpha * e * e + p.Beta * variance;
    }

    // GARCH(1,1) is GJR-GARCH(1,1) with γ = 0, and with γ = 0 the GJR recursion does exactly this arithmetic.
    static double LogLikelihoodUnchecked(Garch11Parameters p, ReadOnlySpan<double> returns, double initialVariance) =>
        GjrGarch.LogLikelihoodUnchecked(GjrGarchParameters.FromGarch(p), returns, initialVariance);

    static double Logistic(double x) => 1.0 / (1.0 + Math.Exp(-x));

    static double Logit(double p) => Math.Log(p / (1.0 - p));
}
