using FinGen.Native.Backends;
using FinGen.Native.Data;
using FinGen.Native.Models;
using FinGen.Native.Randomness;

namespace FinGen.Native.Tests;

/// <summary>
/// Return paths drawn a chunk at a time: the same numbers as the one-piece implementation they replaced (kept below
/// as the reference), whatever the chunk size, with buffers that do not grow with the number of paths.
/// </summary>
[TestFixture]
public sealed class ReturnPathStreamTests
{
    Sampler _sampler = null!;
    IImageEncoding _encoding = null!;
    VolatilityFilter _filter = null!;
    string _dir = null!;

    /// <summary>An untrained GAN on the recommended data (GJR-GARCH filter, Lambert W, raw windows) with its calibration, as `fingen train` writes it.</summary>
    [OneTimeSetUp]
    public void CreateSampler()
    {
        var options = DataOptions.Recommended;
        var data = DataSets.FromPanel(EmbeddedData.Sp500(options), options);
        _dir = Directory.CreateTempSubdirectory("fingen-stream-").FullName;
        string path = Path.Combine(_dir, "checkpoint.safetensors");
        using (var backend = Backend.CreateCpu("cpu"))
        using (var model = GenerativeModel.Create(backend, ModelConfig.Default(ModelKind.Gan) with { DataWidth = data.Width, ImageSide = 0 }))
        {
            model.Initialize();
            Checkpoints.Checkpoint.Save(path, model, DataSets.CalibratedMetadata(model, data, seed: 3));
        }
        _sampler = Sampler.Load(path);
        _encoding = DataSets.EncodingOf(_sampler.DataMetadata)!;
        _filter = VolatilityFilter.FromMetadata(_sampler.DataMetadata)!;
        Assert.That(_encoding, Is.InstanceOf<CalibratedEncoding>(), "the default pipeline's encoding");
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _sampler.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    static IEnumerable<TestCaseData> Cases()
    {
        foreach (var days in new[] { PathDays.Independent, PathDays.Windows })
            foreach (bool filtered in new[] { true, false })
                foreach (int chunk in new[] { 64, 128, ReturnPathStream.DefaultChunkPaths })
                    yield return new TestCaseData(days, filtered, chunk).SetArgDisplayNames($"{days}", filtered ? "filtered" : "plain", $"chunk {chunk}");
    }

    [TestCaseSource(nameof(Cases))]
    public void ChunksGiveTheNumbersOfTheOnePieceDraw(PathDays days, bool filtered, int chunk)
    {
        const int Paths = 300, Length = 61; // 3 windows a path, the last one cut; 300 paths are 5 chunks of 64
        var filter = filtered ? _filter : null;
        var expected = Reference.ReturnPaths(_sampler, _encoding, Paths, Length, seed: 9, filter, days);
        var stream = new ReturnPathStream(_sampler, _encoding, Paths, Length, seed: 9, filter, days, chunk, shufflePaths: Math.Max(chunk, 1024));
        var actual = new double[Paths][];
        int chunks = 0;
        while (stream.MoveNext())
        {
            Assert.That(stream.FirstPath, Is.EqualTo(chunks * chunk));
            for (int p = 0; p < stream.Count; p++)
                actual[stream.FirstPath + p] = stream.Returns.Slice(p * Length, Length).ToArray().Select(v => (double)v).ToArray();
            chunks++;
        }
        Assert.That(chunks, Is.EqualTo((Paths + chunk - 1) / chunk));
        for (int p = 0; p < Paths; p++) Assert.That(actual[p], Is.EqualTo(expected[p]), $"path {p}");
        Assert.That(DataSets.ReturnPaths(_sampler, _encoding, Paths, Length, seed: 9, filter, days), Is.EqualTo(expected), "the library's default chunks");
    }

    [TestCase(PathDays.Independent)]
    [TestCase(PathDays.Windows)]
    public void ADrawnStartGivesEachPathItsOwnLevelWhateverTheChunk(PathDays days)
    {
        const int Paths = 300, Length = 61;
        var component = new FinGen.Native.Evaluation.ComponentGjrGarchParameters(Mu: 3e-4, Omega: 1e-6, Rho: 0.99, Phi: 0.03, Alpha: 0.03, Gamma: 0.10, Beta: 0.80, Nu: 7);
        var filter = new VolatilityFilter(component, new FinGen.Native.Evaluation.VolatilityState(2e-4, 1e-4)) { LongRunLevels = [5e-5, 1e-4, 4e-4] };
        var expected = Reference.ReturnPaths(_sampler, _encoding, Paths, Length, seed: 9, filter, days);
        var stream = new ReturnPathStream(_sampler, _encoding, Paths, Length, seed: 9, filter, days, chunkPaths: 64, shufflePaths: 1024);
        var actual = new List<double[]>();
        while (stream.MoveNext())
            for (int p = 0; p < stream.Count; p++) actual.Add(stream.Returns.Slice(p * Length, Length).ToArray().Select(v => (double)v).ToArray());
        Assert.That(actual, Is.EqualTo(expected));
        // The same paths started at the last state differ wherever a path drew another level than the last one's.
        var fromLast = Reference.ReturnPaths(_sampler, _encoding, Paths, Length, seed: 9, filter with { LongRunLevels = null }, days);
        int same = Enumerable.Range(0, Paths).Count(p => fromLast[p].SequenceEqual(expected[p]));
        int atLast = Enumerable.Range(0, Paths).Count(p => filter.PathStart(9, p) == filter.Start);
        Assert.That(same, Is.EqualTo(atLast), "a path equals its last-start twin exactly when it drew the last state's level");
        Assert.That(atLast, Is.InRange(60, 140), "a third of the paths draw the level 1e-4, the last state's");
    }

    [Test]
    public void DecodedWindowsAreTheOnePieceDraws()
    {
        // 4,100 windows: two noise seeds, the second holding 4 windows.
        Assert.That(DataSets.DecodedWindows(_sampler, _encoding, 4100, seed: 5), Is.EqualTo(Reference.DecodedWindows(_sampler, _encoding, 4100, seed: 5)));
    }

    [Test]
    public void ShuffleBlocksDealOutTheirOwnDaysWhateverTheChunk()
    {
        const int Paths = 320, Length = 28, Block = 128; // blocks of 128, 128 and 64 paths
        float[] Draw(int chunk)
        {
            var stream = new ReturnPathStream(_sampler, _encoding, Paths, Length, seed: 2, filter: null, PathDays.Independent, chunk, Block);
            var all = new List<float>();
            while (stream.MoveNext()) all.AddRange(stream.Returns.ToArray());
            return all.ToArray();
        }
        var byOne = Draw(64);
        Assert.That(Draw(128), Is.EqualTo(byOne));
        var generated = DataSets.DecodedWindows(_sampler, _encoding, Paths, seed: 2);
        for (int first = 0; first < Paths; first += Block)
        {
            int count = Math.Min(Block, Paths - first) * Length;
            Assert.That(byOne.AsSpan(first * Length, count).ToArray().Order(), Is.EqualTo(generated.AsSpan(first * Length, count).ToArray().Order()),
                $"the block from path {first} holds exactly its own generated days");
            Assert.That(byOne.AsSpan(first * Length, count).ToArray(), Is.Not.EqualTo(generated.AsSpan(first * Length, count).ToArray()), "shuffled");
        }
    }

    [TestCase(PathDays.Independent)]
    [TestCase(PathDays.Windows)]
    public void BuffersDoNotGrowWithThePaths(PathDays days)
    {
        long Bytes(int paths)
        {
            var stream = new ReturnPathStream(_sampler, _encoding, paths, 61, seed: 1, _filter, days, chunkPaths: 64, shufflePaths: 128);
            int chunks = 0;
            while (stream.MoveNext()) chunks++;
            Assert.That(chunks, Is.EqualTo((paths + 63) / 64));
            return stream.BufferBytes;
        }
        Assert.That(Bytes(1024), Is.EqualTo(Bytes(256)));
        Assert.That(ReturnPathStream.BufferBytesFor(1_000_000, 252, 28, 28, days), Is.EqualTo(ReturnPathStream.BufferBytesFor(100_000, 252, 28, 28, days)));
        Assert.That(ReturnPathStream.BufferBytesFor(100_000, 252, 28, 28, days), Is.LessThan(64L << 20), "100,000 paths of 252 days in under 64 MB of buffers");
    }

    [Test]
    public void ChunksShrinkForLongPaths()
    {
        Assert.That(ReturnPathStream.ChunkPathsFor(252), Is.EqualTo(4096));
        Assert.That(ReturnPathStream.ChunkPathsFor(10_000), Is.EqualTo(1024));
        Assert.That(ReturnPathStream.ChunkPathsFor(int.MaxValue), Is.EqualTo(64));
    }

    [Test]
    public void TheKnotGuideFindsTheBinarySearchSegmentOfRealKnots()
    {
        var calibrated = (CalibratedEncoding)_encoding;
        var guide = new CalibratedEncoding.KnotGuide(calibrated.From!);
        var random = new Random(4);
        foreach (double v in calibrated.From!.Concat(Enumerable.Range(0, 20_000).Select(_ => -6 + 12 * random.NextDouble())))
            Assert.That(guide.Interpolate(calibrated.From!, calibrated.To!, v),
                Is.EqualTo(FilteredScenarioTests.BinarySearchInterpolate(calibrated.From!, calibrated.To!, v)), $"v = {v:R}");
    }

    /// <summary>
    /// DataSets.ReturnPaths and DecodedWindows as they were before paths were streamed (commit 8b60a9b): every window
    /// drawn at once, decoded on one thread, the days of all the paths shuffled together.
    /// </summary>
    static class Reference
    {
        public static double[][] ReturnPaths(Sampler sampler, IImageEncoding encoding, int paths, int length, ulong seed, VolatilityFilter? filter, PathDays days)
        {
            filter = filter?.ForPaths(); // the calibrated path recursion where the filter has one (added after 8b60a9b)
            int window = encoding.WindowLength, size = sampler.SampleSize;
            int perPath = (length + window - 1) / window;
            if (days == PathDays.Independent) return IndependentDayPaths(sampler, encoding, paths, length, seed, filter);
            var samples = new float[(long)paths * perPath * size];
            sampler.Sample(samples, paths * perPath, seed);
            var decoded = new float[window];
            var result = new double[paths][];
            for (int p = 0; p < paths; p++)
            {
                result[p] = new double[length];
                var state = filter?.PathStart(seed, p) ?? default; // the filter's last state unless it draws levels
                for (int w = 0; w < perPath; w++)
                {
                    encoding.Decode(samples.AsSpan((p * perPath + w) * size, size), decoded);
                    if (filter is not null) state = filter.Recolour(state, decoded, decoded);
                    for (int i = 0; i < window && w * window + i < length; i++) result[p][w * window + i] = decoded[i];
                }
            }
            return result;
        }

        static double[][] IndependentDayPaths(Sampler sampler, IImageEncoding encoding, int paths, int length, ulong seed, VolatilityFilter? filter)
        {
            int window = encoding.WindowLength, perPath = (length + window - 1) / window;
            var pool = DecodedWindows(sampler, encoding, paths * perPath, seed);
            for (int i = pool.Length - 1; i > 0; i--)
            {
                int j = Philox.NextInt(seed, (ulong)Philox.Stream.PathDays, (ulong)i, i + 1);
                (pool[i], pool[j]) = (pool[j], pool[i]);
            }
            var result = new double[paths][];
            var day = new float[length];
            for (int p = 0; p < paths; p++)
            {
                var z = pool.AsSpan(p * perPath * window, length);
                if (filter is not null) filter.Recolour(filter.PathStart(seed, p), z, day);
                else z.CopyTo(day);
                result[p] = Array.ConvertAll(day, v => (double)v);
            }
            return result;
        }

        public static float[] DecodedWindows(Sampler sampler, IImageEncoding encoding, int count, ulong seed)
        {
            int window = encoding.WindowLength, size = sampler.SampleSize;
            const int Chunk = 4096;
            var result = new float[(long)count * window];
            var samples = new float[(long)Math.Min(count, Chunk) * size];
            for (int start = 0, chunk = 0; start < count; start += Chunk, chunk++)
            {
                int n = Math.Min(Chunk, count - start);
                sampler.Sample(samples.AsSpan(0, n * size), n, seed + (ulong)chunk * 0x9E3779B97F4A7C15UL);
                for (int k = 0; k < n; k++)
                    encoding.Decode(samples.AsSpan(k * size, size), result.AsSpan((start + k) * window, window));
            }
            return result;
        }
    }
}
