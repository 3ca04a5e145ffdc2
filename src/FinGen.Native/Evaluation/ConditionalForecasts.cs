using FinGen.Native.Randomness;

namespace FinGen.Native.Evaluation;

/// <summary>Where the innovations of a conditional forecast come from.</summary>
public abstract class Innovations
{
    /// <summary>Fills <paramref name="z"/> with one scenario's consecutive innovations.</summary>
    internal abstract void Draw(ref PhiloxCursor cursor, Span<double> z);

    /// <summary>The distribution of one day's innovation as a sample: the whole pool where there is one, else many draws.</summary>
    internal virtual double[] OneDay(ulong seed)
    {
        var cursor = new PhiloxCursor(seed, EvaluationStreams.ConditionalScenarios);
        var sample = new double[OneDayDraws];
        Draw(ref cursor, sample);
        return sample;
    }

    /// <summary>Draws that stand for a parametric innovation's distribution in the exact 1-day forecasts.</summary>
    internal const int OneDayDraws = 400_000;

    /// <summary>Unit-variance Student-t innovations with ν degrees of freedom, i.i.d.</summary>
    public static Innovations StudentT(double nu) => new StudentTInnovations(nu);

    /// <summary>Innovations drawn uniformly with replacement from <paramref name="pool"/>, i.i.d. (filtered historical simulation).</summary>
    public static Innovations Bootstrap(double[] pool) => new BootstrapInnovations(pool);

    /// <summary>
    /// Consecutive days of one window drawn uniformly from <paramref name="windows"/> [count, <paramref name="windowLength"/>],
    /// from a uniform start inside it: a generator's scenarios keep the joint shape of its windows, and no one
    /// output position's quirks decide the forecast.
    /// </summary>
    public static Innovations Windows(float[] windows, int windowLength) => new WindowInnovations(windows, windowLength);

    sealed class StudentTInnovations(double nu) : Innovations
    {
        internal override void Draw(ref PhiloxCursor cursor, Span<double> z)
        {
            for (int i = 0; i < z.Length; i++) z[i] = cursor.NextStandardizedStudentT(nu);
        }
    }

    sealed class BootstrapInnovations(double[] pool) : Innovations
    {
        internal override double[] OneDay(ulong seed) => pool;

        internal override void Draw(ref PhiloxCursor cursor, Span<double> z)
        {
            for (int i = 0; i < z.Length; i++) z[i] = pool[(int)(cursor.NextUniform() * pool.Length)];
        }
    }

    sealed class WindowInnovations(float[] windows, int windowLength) : Innovations
    {
        readonly int _count = windows.Length / windowLength;

        internal override double[] OneDay(ulong seed) => Array.ConvertAll(windows, v => (double)v);

        internal override void Draw(ref PhiloxCursor cursor, Span<double> z)
        {
            if (z.Length > windowLength) Throw.User($"a {z.Length}-day scenario is longer than the model's {windowLength}-day windows");
            int start = (int)(cursor.NextUniform() * _count) * windowLength
                + (int)(cursor.NextUniform() * (windowLength - z.Length + 1));
            for (int i = 0; i < z.Length; i++) z[i] = windows[start + i];
        }
    }
}

/// <summary>
/// Innovations that depend on the real history before the forecast day: a conditional generator's windows, drawn given
/// the condition that history gives. Each day's scenarios are drawn at once.
/// </summary>
public abstract class ConditionedInnovations
{
    /// <summary>
    /// Fills <paramref name="z"/> [<paramref name="count"/>, <paramref name="horizon"/>] with the first
    /// <paramref name="horizon"/> innovations of <paramref name="count"/> scenarios of the days after
    /// <paramref name="history"/> (every real return before the forecast day), from the Philox position of
    /// <paramref name="seed"/>. <paramref name="state"/> is the source filter's state of the forecast day (zero without a
    /// filter), from which the forecast re-colours the innovations, so that a scenario longer than one generated window
    /// can condition its next window on the returns it has made. Called from many threads at once.
    /// </summary>
    public abstract void Draw(ReadOnlySpan<double> history, VolatilityState state, int count, int horizon, ulong seed, Span<double> z);
}

/// <summary>
/// One source of conditional forecasts. With a <see cref="Filter"/>, each day's scenarios start from the filtered
/// state of that day (the filter run over every real return before it) and re-colour <see cref="Innovations"/>;
/// without one, the innovations are the returns themselves (an unconditional generator). With
/// <see cref="RollingWindow"/> the scenarios are the returns of the last that many real days (rolling historical
/// simulation).
/// </summary>
/// With <see cref="Conditioned"/>, the innovations of day t are drawn given the real history before t (a conditional
/// generator), and its 1-day forecasts are read from those scenarios.
public sealed record ConditionalSource(string Name, IVolatilityRecursion? Filter, Innovations? Innovations, int RollingWindow = 0)
{
    public ConditionedInnovations? Conditioned { get; init; }
}

/// <summary>The forecasts and backtests of one source at one level and horizon.</summary>
public sealed record ConditionalRiskResult(
    string Source,
    double Alpha,
    int Horizon,
    double[] ValueAtRisk,
    double[] ExpectedShortfall,
    double[] Realized,
    BacktestResult Backtest,
    double[] Fz0Losses,
    AcerbiSzekelyTest? ExpectedShortfallBacktest)
{
    /// <summary>For the model: the Diebold–Mariano test of its FZ0 losses against FHS's on the same days (set by <see cref="ScenarioEvaluation"/>).</summary>
    public DieboldMarianoTest? AgainstFhs { get; init; }

    /// <summary>The mean FZ0 loss over the forecast days (lower is better; see <see cref="ConditionalForecasts.Fz0"/>).</summary>
    public double MeanFz0 => Fz0Losses.Average();
}

/// <summary>
/// Conditional risk forecasts on the held-out days, the use a risk desk has for a generator: for every held-out day t,
/// each source conditions on the real history before t, draws N scenarios of the next <c>h</c> days, and forecasts VaR
/// and ES at each level; the forecasts are backtested against what happened (Kupiec, Christoffersen, the Basel
/// traffic light) and ranked with the FZ0 loss, strictly consistent for (VaR, ES) jointly.
/// </summary>
public static class ConditionalForecasts
{
    /// <summary>The confidence levels forecast: 97.5 % (the FRTB ES level) and 99 % (the Basel VaR level).</summary>
    public static readonly double[] Levels = [0.975, 0.99];
    /// <summary>The horizons forecast, in days.</summary>
    public static readonly int[] Horizons = [1, 10];

    /// <summary>
    /// Runs every source over the held-out days. An h-day forecast is made on days 0, h, 2h, … for the sum of the
    /// next h returns, so its backtested periods do not overlap. Scenario k of day t and source s draws from its own
    /// Philox position, so the result does not depend on the number of threads.
    /// </summary>
    public static List<ConditionalRiskResult> Run(double[] train, double[] heldOut, IReadOnlyList<ConditionalSource> sources, int scenarios, ulong seed)
    {
        Checks.Series(train, 2, "training returns", "conditional forecasts");
        Checks.Finite(heldOut, "held-out returns");
        Checks.AtLeast(scenarios, 10, "scenarios per day");
        int days = heldOut.Length, maxHorizon = Horizons.Max();
        var history = new double[train.Length + days];
        train.CopyTo(history, 0);
        heldOut.CopyTo(history, train.Length);
        double initialVariance = Checks.PopulationVariance(train, out _);

        var results = new List<ConditionalRiskResult>();
        for (int s = 0; s < sources.Count; s++)
        {
            var source = sources[s];
            // var[level][horizon][day], es likewise
            var valueAtRisk = new double[Levels.Length, Horizons.Length, days];
            var shortfall = new double[Levels.Length, Horizons.Length, days];
            var oneDayScenarios = new double[days][];
            VolatilityState[]? states = source.Filter is { } filter ? FilteredStates(filter, history, initialVariance, train.Length, days) : null;
            // A 1-day forecast is μ + σₜ·z, increasing in z, so its VaR and ES are exactly those of the innovations'
            // distribution scaled by σₜ: no sampling noise (which with 1,000 scenarios moves the FZ0 loss by more than
            // the differences between good sources). The h-day forecasts and the ES backtest's replications still draw.
            var oneDay = source.Conditioned is null ? source.Innovations?.OneDay(seed + 0x51ED270B27D2A7C7UL * (ulong)(s + 1)) : null;
            var innovationVaR = Levels.Select(a => oneDay is null ? 0 : -Risk.ValueAtRisk(oneDay, a)).ToArray();
            var innovationEs = Levels.Select(a => oneDay is null ? 0 : -Risk.ExpectedShortfall(oneDay, a)).ToArray();
            int sourceIndex = s;
            Parallel.For(0, days, t =>
            {
                var sums = new double[Horizons.Length][];
                if (source.RollingWindow > 0)
                {
                    int window = source.RollingWindow, end = train.Length + t;
                    var past = history.AsSpan(Math.Max(0, end - window), Math.Min(window, end));
                    for (int h = 0; h < Horizons.Length; h++) sums[h] = OverlappingSums(past, Horizons[h]);
                }
                else if (source.Conditioned is { } conditioned)
                {
                    // Each scenario re-coloured from day t's filtered variance, as below, with innovations drawn given the past.
                    var block = new double[scenarios * maxHorizon];
                    conditioned.Draw(history.AsSpan(0, train.Length + t), states?[t] ?? default, scenarios, maxHorizon,
                        seed + (ulong)sourceIndex * 0x9E3779B97F4A7C15UL + (ulong)t * 0xD1B54A32D192ED03UL, block);
                    for (int h = 0; h < Horizons.Length; h++) sums[h] = new double[scenarios];
                    for (int k = 0; k < scenarios; k++)
                    {
                        var state = states?[t] ?? default;
                        double sum = 0;
                        int next = 0;
                        for (int d = 0; d < maxHorizon; d++)
                        {
                            double r = block[k * maxHorizon + d];
                            if (source.Filter is { } p)
                            {
                                r = p.Mu + Math.Sqrt(state.Variance) * r;
                                state = p.Next(state, r);
                            }
                            sum += r;
                            if (next < Horizons.Length && d + 1 == Horizons[next]) sums[next++][k] = sum;
                        }
                    }
                }
                else
                {
                    var innovations = source.Innovations ?? Throw.User<Innovations>($"conditional source '{source.Name}' has neither innovations nor a rolling window");
                    for (int h = 0; h < Horizons.Length; h++) sums[h] = new double[scenarios];
                    var cursor = new PhiloxCursor(seed + (ulong)sourceIndex * 0x9E3779B97F4A7C15UL + (ulong)t * 0xD1B54A32D192ED03UL, EvaluationStreams.ConditionalScenarios);
                    Span<double> z = stackalloc double[maxHorizon];
                    for (int k = 0; k < scenarios; k++)
                    {
                        innovations.Draw(ref cursor, z);
                        var state = states?[t] ?? default;
                        double sum = 0;
                        int next = 0;
                        for (int d = 0; d < maxHorizon; d++)
                        {
                            double r = z[d];
                            if (source.Filter is { } p)
                            {
                                r = p.Mu + Math.Sqrt(state.Variance) * z[d];
                                state = p.Next(state, r);
                            }
                            sum += r;
                            if (next < Horizons.Length && d + 1 == Horizons[next]) sums[next++][k] = sum;
                        }
                    }
                }
                oneDayScenarios[t] = sums[Array.IndexOf(Horizons, 1)];
                for (int l = 0; l < Levels.Length; l++)
                {
                    for (int h = 0; h < Horizons.Length; h++)
                    {
                        if (Horizons[h] == 1 && oneDay is not null)
                        {
                            double mu = source.Filter?.Mu ?? 0, sigma = source.Filter is null ? 1 : Math.Sqrt(states![t].Variance);
                            valueAtRisk[l, h, t] = -(mu + sigma * innovationVaR[l]);
                            shortfall[l, h, t] = -(mu + sigma * innovationEs[l]);
                            continue;
                        }
                        valueAtRisk[l, h, t] = Risk.ValueAtRisk(sums[h], Levels[l]);
                        shortfall[l, h, t] = Risk.ExpectedShortfall(sums[h], Levels[l]);
                    }
                }
            });

            for (int l = 0; l < Levels.Length; l++)
            {
                for (int h = 0; h < Horizons.Length; h++)
                {
                    // An h-day forecast is made every h days, so the backtested periods do not overlap and the
                    // independence test keeps its meaning.
                    int horizon = Horizons[h], count = days / horizon;
                    if (count < 1) continue;
                    var realized = StylizedFacts.AggregateReturns(heldOut, horizon);
                    var v = new double[count];
                    var e = new double[count];
                    var losses = new double[count];
                    for (int j = 0; j < count; j++)
                    {
                        v[j] = valueAtRisk[l, h, j * horizon];
                        e[j] = shortfall[l, h, j * horizon];
                        losses[j] = Fz0(realized[j], v[j], e[j], 1.0 - Levels[l]);
                    }
                    // The ES backtest simulates the test period under each day's own scenarios, so it needs them all: 1-day only.
                    // It is defined for ES forecasts that are losses; a source whose scenarios of some day are all but gains
                    // (a conditional generator can do that) gets no ES backtest rather than stopping the evaluation.
                    bool esAreLosses = Enumerable.Range(0, count).All(j => e[j] > 0);
                    var esBacktest = horizon == 1 && esAreLosses ? ForecastScores.AcerbiSzekely(realized, oneDayScenarios, 1.0 - Levels[l], seed) : (AcerbiSzekelyTest?)null;
                    results.Add(new ConditionalRiskResult(source.Name, Levels[l], horizon, v, e, realized, Risk.Backtest(realized, v, Levels[l]), losses, esBacktest));
                }
            }
        }
        return results;
    }

    /// <summary>
    /// <see cref="ForecastScores.Fz0Loss"/> of a scenario forecast: a forecast whose VaR is no loss (≤ 0, possible for
    /// an h-day sum of a strongly drifting source) is floored at a loss of 1e-12 and its ES at the VaR, so that one odd
    /// day scores badly instead of stopping the evaluation.
    /// </summary>
    public static double Fz0(double realized, double valueAtRisk, double expectedShortfall, double tail)
    {
        double v = Math.Max(valueAtRisk, 1e-12);
        return ForecastScores.Fz0Loss(realized, v, Math.Max(expectedShortfall, v), tail);
    }

    /// <summary>Every h-day sum of consecutive returns, overlapping: n − h + 1 values.</summary>
    static double[] OverlappingSums(ReadOnlySpan<double> returns, int h)
    {
        var sums = new double[Math.Max(0, returns.Length - h + 1)];
        for (int t = 0; t < sums.Length; t++)
        {
            double sum = 0;
            for (int i = 0; i < h; i++) sum += returns[t + i];
            sums[t] = sum;
        }
        return sums;
    }

    /// <summary>The filter's state of every held-out day from the returns before it, the filter started at σ²₀ on the first training day.</summary>
    static VolatilityState[] FilteredStates(IVolatilityRecursion filter, double[] history, double initialVariance, int trainLength, int days)
    {
        var result = new VolatilityState[days];
        var state = filter.Start(initialVariance);
        for (int t = 0; t < trainLength + days; t++)
        {
            if (t >= trainLength) result[t - trainLength] = state;
            state = filter.Next(state, history[t]);
        }
        return result;
    }
}
