using FinGen.Native.Data;
using FinGen.Native.Evaluation;

namespace FinGen.Native.Tests;

/// <summary>
/// <c>--filter-start drawn</c>: a component filter's paths start their long-run level at one of the levels the filter went
/// through in training. The levels are those quantiles, a path's draw depends only on the seed and the path's index, the
/// option round-trips through the checkpoint metadata, and it is refused (one line) where there is no long-run level.
/// </summary>
[TestFixture]
public sealed class FilterStartTests
{
    static readonly ComponentGjrGarchParameters Known = new(Mu: 3e-4, Omega: 1e-6, Rho: 0.99, Phi: 0.03, Alpha: 0.03, Gamma: 0.10, Beta: 0.80, Nu: 7);

    /// <summary>A component filter fitted on a simulated series with --filter-start drawn, and the filtered states it saw.</summary>
    static (VolatilityFilter Filter, VolatilityState[] States) Drawn(int days = 3000)
    {
        var returns = ComponentGjrGarch.Simulate(Known, days, seed: 21);
        var floats = Array.ConvertAll(returns, r => (float)r);
        var (filter, _) = VolatilityFilter.Fit(VolatilityFilterKind.ComponentGjrGarch, floats, "simulated", FilterStart.Drawn);
        var asFitted = Array.ConvertAll(floats, r => (double)r);
        return (filter, VolatilityRecursion.States(filter.Recursion, asFitted));
    }

    [Test]
    public void TheLevelsAreTheQuantilesOfTheFilteredLongRunComponentAfterTheBurnIn()
    {
        var (filter, states) = Drawn();
        var levels = filter.LongRunLevels!;
        Assert.That(levels, Has.Length.EqualTo(VolatilityFilter.LevelCount));
        Assert.That(levels, Is.Ordered);
        // The filter's own q over the kept days (its last state is the day after training, which is kept too).
        var kept = states.Skip(VolatilityFilter.LevelBurnIn).Select(s => s.LongRunVariance).ToArray();
        Assert.That(levels[0], Is.GreaterThanOrEqualTo(kept.Min()));
        Assert.That(levels[^1], Is.LessThanOrEqualTo(kept.Max()));
        Assert.That(levels[^1], Is.GreaterThan(1.2 * levels[0]), "a simulated series of 3,000 days goes through distinct long-run levels");
        for (int i = 0; i < levels.Length; i++)
        {
            double below = kept.Count(q => q < levels[i]) / (double)kept.Length, atOrBelow = kept.Count(q => q <= levels[i]) / (double)kept.Length;
            double p = (i + 0.5) / levels.Length;
            Assert.That(p, Is.InRange(below - 1.0 / kept.Length, atOrBelow + 1.0 / kept.Length), $"level {i} is the {p:P1} quantile");
        }
        // A short series keeps all but its first quarter.
        var shortStates = states.Take(400).ToArray();
        Assert.That(VolatilityFilter.Levels(shortStates)[0], Is.GreaterThanOrEqualTo(shortStates.Skip(100).Min(s => s.LongRunVariance)));
    }

    [Test]
    public void EachPathDrawsALevelByItsIndexAloneAndKeepsTheLastDaysVariance()
    {
        var (filter, _) = Drawn();
        var levels = filter.LongRunLevels!;
        const int Paths = 20_000;
        var counts = new int[levels.Length];
        for (int p = 0; p < Paths; p++)
        {
            var start = filter.PathStart(seed: 5, p);
            Assert.That(start.Variance, Is.EqualTo(filter.Start.Variance));
            int index = Array.IndexOf(levels, start.LongRunVariance);
            Assert.That(index, Is.GreaterThanOrEqualTo(0), $"path {p} starts at one of the levels");
            counts[index]++;
            Assert.That(filter.PathStart(seed: 5, p), Is.EqualTo(start), "the same seed and path give the same start");
        }
        // Uniform over the levels: 200 expected each; a binomial's sd is 14, so 120..280 is beyond 5 sd.
        Assert.That(counts, Has.All.InRange(120, 280));
        int differ = Enumerable.Range(0, 1000).Count(p => filter.PathStart(5, p) != filter.PathStart(6, p));
        Assert.That(differ, Is.GreaterThan(900), "another seed draws other levels");
        // Without levels (--filter-start last) every path starts at the filter's last state.
        var last = filter with { LongRunLevels = null };
        Assert.That(Enumerable.Range(0, 100).Select(p => last.PathStart(5, p)), Has.All.EqualTo(filter.Start));
    }

    [Test]
    public void ThePathsLongRunLevelSetsItsVolatility()
    {
        // The same innovations re-coloured from the lowest and the highest level: over 1,000 days the long-run level
        // (ρ = 0.99, a half-life of 69 days) carries the path's variance with it.
        var (filter, _) = Drawn();
        var z = new float[1000];
        var cursor = new PhiloxCursor(3, 1);
        for (int i = 0; i < z.Length; i++) z[i] = (float)cursor.NextStandardizedStudentT(Known.Nu);
        double Variance(double level)
        {
            var r = new float[z.Length];
            filter.Recolour(filter.Start with { LongRunVariance = level }, z, r);
            return r.Take(200).Select(v => (double)v * v).Average();
        }
        double low = Variance(filter.LongRunLevels![0]), high = Variance(filter.LongRunLevels[^1]);
        Assert.That(high / low, Is.GreaterThan(1.1), $"first 200 days' mean square: {low:E3} from the lowest level, {high:E3} from the highest");
    }

    [Test]
    public void TheLevelsRoundTripThroughMetadataAndBadOnesAreRefusedByName()
    {
        var (filter, _) = Drawn();
        var metadata = new Dictionary<string, string>
        {
            [VolatilityFilter.KindKey] = VolatilityFilter.ComponentGjrGarchName,
            [VolatilityFilter.ParametersKey] = VolatilityFilter.ToMetadata([filter, filter]),
            [VolatilityFilter.LongRunLevelsKey] = VolatilityFilter.LevelsToMetadata([filter, filter with { LongRunLevels = [1e-4, 2e-4] }]),
        };
        Assert.That(VolatilityFilter.FromMetadata(metadata)!.LongRunLevels, Is.EqualTo(filter.LongRunLevels));
        Assert.That(VolatilityFilter.FromMetadata(metadata, column: 1)!.LongRunLevels, Is.EqualTo(new[] { 1e-4, 2e-4 }));

        var bad = new Dictionary<string, string>(metadata) { [VolatilityFilter.LongRunLevelsKey] = "1e-4 -2e-4" };
        Assert.That(() => VolatilityFilter.FromMetadata(bad), Throws.TypeOf<FinGenException>().With.Message.Contains("'-2e-4' is not a positive finite number"));
        bad[VolatilityFilter.LongRunLevelsKey] = "1e-4";
        Assert.That(() => VolatilityFilter.FromMetadata(bad, column: 1), Throws.TypeOf<FinGenException>().With.Message.Contains("none for column 1"));
        var gjr = new Dictionary<string, string>
        {
            [VolatilityFilter.KindKey] = VolatilityFilter.GjrGarchName,
            [VolatilityFilter.ParametersKey] = "0.0004 2E-06 0.02 0.12 0.88 7 0.00015",
            [VolatilityFilter.LongRunLevelsKey] = "1e-4",
        };
        Assert.That(() => VolatilityFilter.FromMetadata(gjr), Throws.TypeOf<FinGenException>().With.Message.Contains("needs filter 'component-gjr-garch'"));
    }

    [Test]
    public void TheOptionRoundTripsAndIsRefusedWithoutALongRunLevel()
    {
        var options = DataOptions.Recommended with { Filter = VolatilityFilterKind.ComponentGjrGarch, PathCalibration = PathCalibration.None, FilterStart = FilterStart.Drawn };
        var back = DataOptions.FromMetadata(options.ToMetadata(["Close"]));
        Assert.That(back.FilterStart, Is.EqualTo(FilterStart.Drawn));
        Assert.That(back with { Encoding = options.Encoding }, Is.EqualTo(options with { Columns = ["Close"] }), "every option but the encoding, which the encoding writes itself");
        Assert.That(options.ToString(), Does.Contain("filter start drawn"));
        Assert.That(DataOptions.Recommended.ToMetadata(["Close"]).ContainsKey(DataOptions.FilterStartKey), Is.False, "the default writes no new key");
        Assert.That(back, Is.Not.EqualTo(back with { FilterStart = FilterStart.Last }));

        Assert.That(() => (DataOptions.Recommended with { FilterStart = FilterStart.Drawn }).Validate(),
            Throws.TypeOf<FinGenException>().With.Message.EqualTo("--filter-start drawn needs --filter component-gjr-garch: only its long-run level can be drawn"));
        Assert.That(() => VolatilityFilter.Fit(VolatilityFilterKind.GjrGarch, Array.ConvertAll(ComponentGjrGarch.Simulate(Known, 500, seed: 2), r => (float)r), "x.csv", FilterStart.Drawn),
            Throws.TypeOf<FinGenException>().With.Message.Contains("x.csv: --filter-start drawn needs --filter component-gjr-garch"));
        Assert.That(() => VolatilityFilter.ParseStart("first"), Throws.TypeOf<FinGenException>().With.Message.EqualTo("--filter-start 'first' is not one of last, drawn"));
    }

    [Test]
    public void TheTrainingPipelineStoresTheLevelsOfItsOwnFilter()
    {
        var options = DataOptions.Recommended with { Filter = VolatilityFilterKind.ComponentGjrGarch, PathCalibration = PathCalibration.None, FilterStart = FilterStart.Drawn };
        var panel = EmbeddedData.Sp500(options);
        var data = DataSets.FromPanel(panel, options);
        var filter = VolatilityFilter.FromMetadata(data.Metadata)!;
        Assert.That(filter.LongRunLevels, Has.Length.EqualTo(VolatilityFilter.LevelCount));
        var (train, _) = DataSets.SplitReturns(panel.Series(0));
        var floats = Array.ConvertAll(train, r => (double)(float)r);
        var expected = VolatilityFilter.Levels(VolatilityRecursion.States(filter.Recursion, floats));
        Assert.That(filter.LongRunLevels, Is.EqualTo(expected).Within(0.01).Percent);
        Assert.That(DataOptions.FromMetadata(data.Metadata).FilterStart, Is.EqualTo(FilterStart.Drawn));
    }
}
