namespace FinGen.Native.Evaluation;

/// <summary>
/// Component GJR-GARCH(1,1) parameters: the component GARCH of Engle &amp; Lee ("A Long-Run and Short-Run Component
/// Model of Stock Return Volatility", in Engle &amp; White (eds.), Cointegration, Causality, and Forecasting, Oxford
/// University Press, 1999), with their asymmetric short-run term. rₜ = μ + εₜ, εₜ = σₜzₜ, zₜ i.i.d. unit-variance
/// Student-t(ν), and
/// <code>
/// qₜ  = ω + ρ·qₜ₋₁ + φ·(ε²ₜ₋₁ − σ²ₜ₋₁)                                          (long-run component)
/// σ²ₜ = qₜ + α·(ε²ₜ₋₁ − qₜ₋₁) + γ·(1[εₜ₋₁ &lt; 0]·ε²ₜ₋₁ − ½qₜ₋₁) + β·(σ²ₜ₋₁ − qₜ₋₁)    (short-run part σ²ₜ − qₜ)
/// </code>
/// Without γ this is R rugarch's "csGARCH" (Ghalanos, Introduction to the rugarch package, §2.2.7), and EViews'
/// "Component ARCH". The leverage term is Engle &amp; Lee's γ(1[ε &lt; 0]ε² − ½q) rather than (α + γ·1[ε &lt; 0])(ε² − q)
/// (EViews' asymmetric form): both have the same expectation given the past for symmetric zₜ, but only the first is
/// exactly GJR-GARCH when the long-run component is constant: with φ = 0 and q₀ = ω/(1 − ρ), qₜ = q₀ for every t and
/// σ²ₜ = q₀(1 − α − γ/2 − β) + (α + γ·1[εₜ₋₁ &lt; 0])ε²ₜ₋₁ + βσ²ₜ₋₁, GJR-GARCH with ω_GJR = q₀(1 − α − γ/2 − β).
/// <para>
/// Valid (Engle &amp; Lee's conditions, with γ in the short-run persistence): ω &gt; 0, α, γ ≥ 0, β &gt; 0,
/// 0 ≤ φ &lt; β, 0 &lt; α + γ/2 + β &lt; ρ &lt; 1 (the long-run component is the more persistent, and stationary), ν &gt; 2.
/// Written without q, σ²ₜ = ω + (ρ − α − γ/2 − β)qₜ₋₁ + (α + γ·1[εₜ₋₁ &lt; 0] + φ)ε²ₜ₋₁ + (β − φ)σ²ₜ₋₁, so these keep
/// σ²ₜ ≥ ω while qₜ₋₁ &gt; 0. qₜ itself can turn negative after a variance far above it and a small return; the
/// recursion floors qₜ at ω (its value when every term of the past is zero), so σ² and q stay positive on any path.
/// </para>
/// E[ε²ₜ − σ²ₜ] = 0, so E qₜ = ω/(1 − ρ), and the short-run part decays at the rate α + γ/2 + β: the unconditional variance is ω/(1 − ρ).
/// </summary>
public readonly record struct ComponentGjrGarchParameters(double Mu, double Omega, double Rho, double Phi, double Alpha, double Gamma, double Beta, double Nu)
    : IVolatilityRecursion
{
    /// <summary>α + γ/2 + β: the decay rate of the short-run part σ²ₜ − qₜ.</summary>
    public double ShortRunPersistence => Alpha + 0.5 * Gamma + Beta;

    /// <summary>ω/(1 − ρ): the mean of the long-run component, and the stationary variance of εₜ.</summary>
    public double UnconditionalVariance => Omega / (1.0 - Rho);

    /// <summary>The state of a first day with variance <paramref name="variance"/>: σ²₀ = q₀ = <paramref name="variance"/>.</summary>
    public VolatilityState Start(double variance) => new(variance, variance);

    /// <summary>(σ²ₜ₊₁, qₜ₊₁) after the return <paramref name="r"/> on a day in <paramref name="state"/> (see the type's summary).</summary>
    public VolatilityState Next(VolatilityState state, double r)
    {
        double e = r - Mu, e2 = e * e, variance = state.Variance, longRun = state.LongRunVariance;
        double nextLongRun = Math.Max(Omega + Rho * longRun + Phi * (e2 - variance), Omega);
        double shortRun = Alpha * (e2 - longRun) + Gamma * ((e < 0 ? e2 : 0) - 0.5 * longRun) + Beta * (variance - longRun);
        return new VolatilityState(nextLongRun + shortRun, nextLongRun);
    }

    /// <summary>Throws <see cref="FinGenException"/> unless the parameters are valid (see the type's summary).</summary>
    public void Validate()
    {
        const string Model = "component GJR-GARCH";
        if (!double.IsFinite(Mu)) Throw.User($"{Model} μ = {Mu} must be finite");
        if (!(Omega > 0) || !double.IsFinite(Omega)) Throw.User($"{Model} ω = {Omega} must be positive and finite");
        if (!(Alpha >= 0) || !(Gamma >= 0) || !(Beta > 0)) Throw.User($"{Model} α = {Alpha} and γ = {Gamma} must not be negative and β = {Beta} must be positive");
        if (!(Phi >= 0) || !(Phi < Beta)) Throw.User($"{Model} φ = {Phi} must lie in [0, β = {Beta})");
        if (!(Rho < 1)) Throw.User($"{Model} ρ = {Rho} must be below 1 (a stationary long-run component)");
        if (!(ShortRunPersistence < Rho)) Throw.User($"{Model} α + γ/2 + β = {ShortRunPersistence} must be below ρ = {Rho} (the long-run component the more persistent)");
        if (!(Nu > 2) || !double.IsFinite(Nu)) Throw.User($"Student-t degrees of freedom ν = {Nu} must be finite and exceed 2 (finite variance)");
    }
}

/// <summary>A maximum-likelihood component GJR-GARCH(1,1)-t fit: the parameters, the maximized log-likelihood, the objective evaluations used, and whether the optimizer met its tolerance.</summary>
public sealed record ComponentGjrGarchFit(ComponentGjrGarchParameters Parameters, double LogLikelihood, int Evaluations, bool Converged);

/// <summary>
/// Component GJR-GARCH(1,1) with standardized Student-t innovations (<see cref="ComponentGjrGarchParameters"/>), a
/// volatility filter with a slowly mean-reverting long-run level under the GJR short-run dynamics: fitted by maximum
/// likelihood and simulated. The recursion starts from σ²₀ = q₀ = the population sample variance of the returns it runs
/// over, as <see cref="GjrGarch"/> starts σ²₀.
/// </summary>
public static class ComponentGjrGarch
{
    /// <summary>The log-likelihood (<see cref="GjrGarch.LogLikelihood"/>'s density) from σ²₀ = q₀ = the population sample variance of <paramref name="returns"/>.</summary>
    public static double LogLikelihood(ComponentGjrGarchParameters parameters, ReadOnlySpan<double> returns)
    {
        parameters.Validate();
        Checks.Series(returns, 2, "returns", "a component GJR-GARCH likelihood");
        return VolatilityRecursion.StudentTLogLikelihood(parameters, returns, Checks.PopulationVariance(returns, out _));
    }

    /// <summary>
    /// Fits μ, ω, ρ, φ, α, γ, β, ν by maximum likelihood with <see cref="Minimizer.NelderMead"/> (as <see cref="GjrGarch.Fit"/>)
    /// on an unconstrained θ that maps onto the valid region: μ = s·θ₀, ρ = λ(θ₂), ω = s²(1 − ρ)·e^θ₁ (so θ₁ is the log
    /// of the long-run level over s²), P = α + γ/2 + β = ρ·λ(θ₃), (α, γ/2, β) = P·softmax(θ₄, θ₅, 0), φ = β·λ(θ₆),
    /// ν = 2 + e^θ₇, with λ the logistic and s² the sample variance. It starts at ρ = 0.99, α = 0.03, γ = 0.08, β = 0.8,
    /// φ = 0.02, ω = s²(1 − ρ), ν = 8.
    /// </summary>
    public static ComponentGjrGarchFit Fit(ReadOnlySpan<double> returns, int maxEvaluations = 40_000)
    {
        Checks.Series(returns, 10, "returns", "a component GJR-GARCH(1,1) fit");
        Checks.AtLeast(maxEvaluations, 100, "component GJR-GARCH maximum evaluations");
        double variance = Checks.PopulationVariance(returns, out double mean);
        if (variance == 0) Throw.User("returns are constant (zero variance): a component GJR-GARCH model cannot be fitted");
        double scale = Math.Sqrt(variance);
        double[] data = returns.ToArray();

        ComponentGjrGarchParameters FromVector(double[] theta)
        {
            double rho = GjrGarch.Logistic(theta[2]), persistence = rho * GjrGarch.Logistic(theta[3]);
            double a = Math.Exp(theta[4]), g = Math.Exp(theta[5]), total = a + g + 1.0, beta = persistence / total;
            return new ComponentGjrGarchParameters(scale * theta[0], variance * (1.0 - rho) * Math.Exp(theta[1]), rho,
                beta * GjrGarch.Logistic(theta[6]), persistence * a / total, 2.0 * persistence * g / total, beta, 2.0 + Math.Exp(theta[7]));
        }
        double Objective(double[] theta)
        {
            var p = FromVector(theta);
            // Rounding can push a share to 0 or ρ to 1 at extreme θ; such points are infeasible.
            if (!(p.Omega > 0) || !(p.Rho < 1) || !(p.Beta > 0) || !(p.Phi < p.Beta) || !(p.ShortRunPersistence < p.Rho)
                || !(p.Nu > 2) || !double.IsFinite(p.Nu)) return double.PositiveInfinity;
            return -VolatilityRecursion.StudentTLogLikelihood(p, data, variance);
        }

        double rho0 = 0.99, alpha0 = 0.03, halfGamma0 = 0.04, beta0 = 0.8, phi0 = 0.02, persistence0 = alpha0 + halfGamma0 + beta0;
        double[] start = [mean / scale, 0, GjrGarch.Logit(rho0), GjrGarch.Logit(persistence0 / rho0),
            Math.Log(alpha0 / beta0), Math.Log(halfGamma0 / beta0), GjrGarch.Logit(phi0 / beta0), Math.Log(6.0)];
        double[] steps = [0.05, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
        var found = Minimizer.NelderMead(Objective, start, steps, tolerance: 1e-13, maxEvaluations);
        if (!double.IsFinite(found.Value)) Throw.User("component GJR-GARCH(1,1) fit failed: the likelihood is not finite anywhere the optimizer searched");
        return new ComponentGjrGarchFit(FromVector(found.Point), -found.Value, found.Evaluations, found.Converged);
    }

    /// <summary>
    /// Simulates <paramref name="n"/> returns from <paramref name="start"/> (default: σ² = q = the unconditional
    /// variance, after <paramref name="burnIn"/> discarded days), zₜ unit-variance Student-t from the Philox stream of
    /// <paramref name="seed"/>: the same arguments always give the same series.
    /// </summary>
    public static double[] Simulate(ComponentGjrGarchParameters parameters, int n, ulong seed, VolatilityState? start = null, int burnIn = Garch11.DefaultBurnIn)
    {
        var cursor = new PhiloxCursor(seed, EvaluationStreams.ComponentGjrInnovations);
        return VolatilityRecursion.Simulate(parameters, n, ref cursor, start, burnIn);
    }
}
