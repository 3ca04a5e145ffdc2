using MathNet.Numerics.Distributions;

namespace FinGen.Native.Evaluation;

/// <summary>
/// GJR-GARCH(1,1) parameters (Glosten, Jagannathan &amp; Runkle, J. Finance 48, 1993): rₜ = μ + εₜ, εₜ = σₜzₜ,
/// σ²ₜ = ω + (α + γ·1[εₜ₋₁ &lt; 0])·ε²ₜ₋₁ + β·σ²ₜ₋₁, zₜ i.i.d. Student-t with ν degrees of freedom scaled to unit
/// variance. Valid when ω &gt; 0, α, γ, β ≥ 0, α + γ/2 + β &lt; 1 (covariance stationarity for symmetric zₜ), ν &gt; 2.
/// With γ = 0 it is GARCH(1,1); <c>arch_model(r, vol="GARCH", p=1, o=1, q=1, dist="t")</c> in Python's arch.
/// </summary>
public readonly record struct GjrGarchParameters(double Mu, double Omega, double Alpha, double Gamma, double Beta, double Nu) : IVolatilityRecursion
{
    /// <summary>α + γ/2 + β: the decay rate of volatility shocks (P(zₜ &lt; 0) = ½).</summary>
    public double Persistence => Alpha + 0.5 * Gamma + Beta;

    /// <summary>The stationary variance of εₜ: ω/(1 − α − γ/2 − β).</summary>
    public double UnconditionalVariance => Omega / (1.0 - Persistence);

    /// <summary>GARCH(1,1) as the special case γ = 0.</summary>
    public static GjrGarchParameters FromGarch(Garch11Parameters p) => new(p.Mu, p.Omega, p.Alpha, 0, p.Beta, p.Nu);

    /// <summary>σ²ₜ₊₁ after the return <paramref name="r"/> on a day with variance <paramref name="variance"/>.</summary>
    public double NextVariance(double variance, double r)
    {
        double e = r - Mu;
        return Omega + (e < 0 ? Alpha + Gamma : Alpha) * e * e + Beta * variance;
    }

    /// <summary>The state of a first day with variance <paramref name="variance"/> (one component: no long-run part).</summary>
    public VolatilityState Start(double variance) => new(variance, 0);

    /// <summary>The state after the return <paramref name="r"/>: <see cref="NextVariance"/>.</summary>
    public VolatilityState Next(VolatilityState state, double r) => new(NextVariance(state.Variance, r), 0);

    /// <summary>Throws <see cref="FinGenException"/> unless the parameters are valid (see the type's summary).</summary>
    public void Validate()
    {
        if (!double.IsFinite(Mu)) Throw.User($"GJR-GARCH μ = {Mu} must be finite");
        if (!(Omega > 0) || !double.IsFinite(Omega)) Throw.User($"GJR-GARCH ω = {Omega} must be positive and finite");
        if (!(Alpha >= 0) || !(Gamma >= 0) || !(Beta >= 0)) Throw.User($"GJR-GARCH α = {Alpha}, γ = {Gamma} and β = {Beta} must not be negative");
        if (!(Persistence < 1)) Throw.User($"GJR-GARCH α + γ/2 + β = {Persistence} must be below 1 (covariance stationarity)");
        if (!(Nu > 2) || !double.IsFinite(Nu)) Throw.User($"Student-t degrees of freedom ν = {Nu} must be finite and exceed 2 (finite variance)");
    }
}

/// <summary>A maximum-likelihood GJR-GARCH(1,1)-t fit: the parameters, the maximized log-likelihood, the objective evaluations used, and whether the optimizer met its tolerance.</summary>
public sealed record GjrGarchFit(GjrGarchParameters Parameters, double LogLikelihood, int Evaluations, bool Converged);

/// <summary>
/// GJR-GARCH(1,1) with standardized Student-t innovations: fitted by maximum likelihood on the training returns,
/// filtered (conditional variances and standardized residuals, the first half of filtered historical simulation),
/// and simulated. The variance recursion starts from σ²₀ = the population sample variance of the returns it runs
/// over, as <see cref="Garch11"/> does.
/// </summary>
public static class GjrGarch
{
    /// <summary>
    /// Σₜ ℓₜ with the unit-variance Student-t density: ℓₜ = ln Γ((ν + 1)/2) − ln Γ(ν/2) − ½ ln(π(ν − 2)) − ½ ln σ²ₜ
    /// − ((ν + 1)/2)·ln(1 + ε²ₜ/((ν − 2)σ²ₜ)), σ²₀ = the population sample variance of <paramref name="returns"/>.
    /// </summary>
    public static double LogLikelihood(GjrGarchParameters parameters, ReadOnlySpan<double> returns)
    {
        parameters.Validate();
        Checks.Series(returns, 2, "returns", "a GJR-GARCH likelihood");
        return LogLikelihoodUnchecked(parameters, returns, Checks.PopulationVariance(returns, out _));
    }

    /// <summary>
    /// Fits μ, ω, α, γ, β, ν by maximum likelihood with MathNet's Nelder–Mead simplex (<see cref="Minimizer.NelderMead"/>,
    /// restarted from its best point until a restart gains less than 1e-9 relative) on an unconstrained θ that
    /// maps onto the valid region: μ = s·θ₀, ω = s²·e^θ₁, P = α + γ/2 + β = λ(θ₂) (λ the logistic), (α, γ/2, β) =
    /// P·softmax(θ₃, θ₄, 0), ν = 2 + e^θ₅, with s² the sample variance so that θ is of order one for any return scale.
    /// Nelder–Mead rather than a gradient method for the reason <see cref="Minimizer"/> gives (BFGS with
    /// finite-difference gradients failed its line search on most GARCH series; α ≈ 0, common on equity indices, is
    /// an edge of this model too).
    /// <paramref name="symmetric"/> fixes γ = 0: plain GARCH(1,1)-t.
    /// </summary>
    public static GjrGarchFit Fit(ReadOnlySpan<double> returns, bool symmetric = false, int maxEvaluations = 30_000)
    {
        Checks.Series(returns, 10, "returns", "a GJR-GARCH(1,1) fit");
        Checks.AtLeast(maxEvaluations, 100, "GJR-GARCH maximum evaluations");
        double variance = Checks.PopulationVariance(returns, out double mean);
        if (variance == 0) Throw.User("returns are constant (zero variance): a GJR-GARCH model cannot be fitted");
        double scale = Math.Sqrt(variance);
        double[] data = returns.ToArray();

        GjrGarchParameters FromVector(double[] theta)
        {
            double persistence = Logistic(theta[2]);
            double a = Math.Exp(theta[3]), g = symmetric ? 0 : Math.Exp(theta[4]), total = a + g + 1.0;
            return new GjrGarchParameters(scale * theta[0], variance * Math.Exp(theta[1]), persistence * a / total,
                2.0 * persistence * g / total, persistence / total, 2.0 + Math.Exp(theta[5]));
        }
        double Objective(double[] theta)
        {
            var p = FromVector(theta);
            // Rounding can push a share to 0 or the persistence to 1 at extreme θ; such points are infeasible.
            if (!(p.Omega > 0) || !(p.Persistence < 1) || !(p.Nu > 2) || !double.IsFinite(p.Nu)) return double.PositiveInfinity;
            return -LogLikelihoodUnchecked(p, data, variance);
        }

        // Start: α = 0.03, γ = 0.08 (0 when symmetric), β = 0.9, ω = s²(1 − P), ν = 8.
        double alpha0 = 0.03, halfGamma0 = symmetric ? 0 : 0.04, beta0 = 0.9, persistence0 = alpha0 + halfGamma0 + beta0;
        double[] start = [mean / scale, Math.Log(1 - persistence0), Logit(persistence0),
            Math.Log(alpha0 / beta0), symmetric ? 0 : Math.Log(halfGamma0 / beta0), Math.Log(6.0)];
        double[] steps = [0.05, 0.5, 0.5, 0.5, 0.5, 0.5];
        var found = Minimizer.NelderMead(Objective, start, steps, tolerance: 1e-13, maxEvaluations);
        if (!double.IsFinite(found.Value)) Throw.User("GJR-GARCH(1,1) fit failed: the likelihood is not finite anywhere the optimizer searched");
        return new GjrGarchFit(FromVector(found.Point), -found.Value, found.Evaluations, found.Converged);
    }

    /// <summary>
    /// The conditional variances σ²₀..σ²ₙ of <paramref name="returns"/> (n + 1 values): σ²₀ = the population sample
    /// variance (or <paramref name="initialVariance"/>), σ²ₜ₊₁ = <see cref="GjrGarchParameters.NextVariance"/>; the last
    /// one is the forecast for the day after the series.
    /// </summary>
    public static double[] ConditionalVariances(GjrGarchParameters parameters, ReadOnlySpan<double> returns, double? initialVariance = null) =>
        Array.ConvertAll(VolatilityRecursion.States(parameters, returns, initialVariance is { } v ? parameters.Start(v) : null), s => s.Variance);

    /// <summary>The standardized residuals zₜ = (rₜ − μ)/σₜ of <paramref name="returns"/> under the filter.</summary>
    public static double[] StandardizedResiduals(GjrGarchParameters parameters, ReadOnlySpan<double> returns) =>
        VolatilityRecursion.StandardizedResiduals(parameters, returns);

    /// <summary>
    /// Runs the recursion forward over innovations <paramref name="z"/> from the variance <paramref name="variance"/>
    /// of the first day: rₜ = μ + σₜzₜ, σ²ₜ₊₁ from rₜ. Writes <paramref name="returns"/> (may be the same span as
    /// <paramref name="z"/>) and returns σ² of the day after the last, so a path can be continued.
    /// </summary>
    public static double Recolour(GjrGarchParameters parameters, double variance, ReadOnlySpan<double> z, Span<double> returns) =>
        VolatilityRecursion.Recolour(parameters, parameters.Start(variance), z, returns).Variance;

    /// <summary>
    /// Simulates <paramref name="n"/> returns from the day with variance <paramref name="startVariance"/> (default:
    /// the unconditional variance after <paramref name="burnIn"/> discarded days), zₜ unit-variance Student-t from
    /// the Philox stream of <paramref name="seed"/>: the same arguments always give the same series.
    /// </summary>
    public static double[] Simulate(GjrGarchParameters parameters, int n, ulong seed, double? startVariance = null, int burnIn = Garch11.DefaultBurnIn)
    {
        var cursor = new PhiloxCursor(seed, EvaluationStreams.GjrInnovations);
        return VolatilityRecursion.Simulate(parameters, n, ref cursor, startVariance is { } v ? parameters.Start(v) : null, burnIn);
    }

    /// <summary>The p-quantile of the unit-variance Student-t with ν &gt; 2: t_ν⁻¹(p)·√((ν − 2)/ν).</summary>
    public static double StandardizedQuantile(double p, double nu) => StudentT.InvCDF(0, 1, nu, p) * Math.Sqrt((nu - 2.0) / nu);

    internal static double LogLikelihoodUnchecked(GjrGarchParameters p, ReadOnlySpan<double> returns, double initialVariance) =>
        VolatilityRecursion.StudentTLogLikelihood(p, returns, initialVariance);

    internal static double Logistic(double x) => 1.0 / (1.0 + Math.Exp(-x));

    internal static double Logit(double p) => Math.Log(p / (1.0 - p));
}
