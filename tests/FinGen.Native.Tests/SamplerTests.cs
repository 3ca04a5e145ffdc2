using System.Runtime.InteropServices;
using FinGen.Native.Backends.Cpu;
using FinGen.Native.Checkpoints;
using FinGen.Native.Models;
using static FinGen.Native.Tests.TrainingRuns;

namespace FinGen.Native.Tests;

/// <summary>The embedding API with more than one thread per call: the same samples bit for bit, safely, with no allocation.</summary>
[TestFixture]
public sealed class SamplerThreadsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fingen-sampler-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A checkpoint after a few training steps, so the weights are not the initial ones.</summary>
    private string Trained(ModelConfig config)
    {
        string path = Path.Combine(_dir, $"{config.Model}-{config.Reconstruction}.safetensors");
        using var backend = new CpuSimdBackend();
        using var model = GenerativeModel.Create(backend, config with { BatchSize = 16, Seed = 99 });
        model.Initialize();
        Run(model, 3);
        Checkpoint.Save(path, model, MnistDigits.Metadata);
        return path;
    }

    private static IEnumerable<TestCaseData> Generators()
    {
        yield return new TestCaseData(ModelConfig.Default(ModelKind.Gan)).SetArgDisplayNames("gan");
        yield return new TestCaseData(ModelConfig.Default(ModelKind.Vae)).SetArgDisplayNames("vae-bce"); // sigmoid after the decoder
        yield return new TestCaseData(ModelConfig.Default(ModelKind.Vae) with { Reconstruction = ReconstructionLoss.Mse }).SetArgDisplayNames("vae-mse");
        // A width that is not a multiple of the 16-row slices, and layers narrower than the gang.
        yield return new TestCaseData(ModelConfig.Default(ModelKind.Gan) with { GeneratorHidden = [24, 40], LatentSize = 7 }).SetArgDisplayNames("gan-odd-widths");
        yield return new TestCaseData(ModelConfig.Default(ModelKind.Gan) with { NoiseDegrees = 4 }).SetArgDisplayNames("gan-student-t");
    }

    [TestCaseSource(nameof(Generators))]
    public void EveryThreadCountGivesTheSameSamplesBitForBit(ModelConfig config)
    {
        string path = Trained(config);
        using var single = Sampler.Load(path);
        foreach (int threads in new[] { 2, 3, 5 })
        {
            using var split = Sampler.Load(path, threads);
            Assert.That(split.Threads, Is.EqualTo(threads));
            foreach (ulong seed in new ulong[] { 1, 7, 123456789 })
            {
                var expected = new float[single.SampleSize];
                var actual = new float[single.SampleSize];
                single.Sample(expected, 1, seed);
                split.Sample(actual, 1, seed);
                Assert.That(actual, Is.EqualTo(expected), $"{threads} threads, seed {seed}, one sample");
                Assert.That(expected.Distinct().Count(), Is.GreaterThan(single.SampleSize / 2), "samples are not constant");
            }
            var many = new float[37 * single.SampleSize];
            var manySplit = new float[37 * single.SampleSize];
            single.Sample(many, 37, 5);
            split.Sample(manySplit, 37, 5);
            Assert.That(manySplit, Is.EqualTo(many), $"{threads} threads, 37 samples");
            var first = new float[single.SampleSize];
            split.Sample(first, 1, 5);
            // One sample goes through matrix-vector products, 37 through blocked GEMMs that sum in another order.
            Compare.Close(first, many.AsSpan(0, single.SampleSize).ToArray(), 1e-6, 1e-5, "sample 0 alone and among 37");
        }
    }

    [Test]
    public void ConcurrentCallersOnASplitSamplerGetTheirOwnSamplesAndNothingIsAllocated()
    {
        string path = Trained(ModelConfig.Default(ModelKind.Gan));
        using var reference = Sampler.Load(path);
        using var sampler = Sampler.Load(path, threads: 2);
        const int seeds = 16;
        var expected = new float[seeds][];
        for (int s = 0; s < seeds; s++)
        {
            expected[s] = new float[reference.SampleSize];
            reference.Sample(expected[s], 1, (ulong)s);
        }

        var buffer = new float[sampler.SampleSize];
        for (int i = 0; i < 2000; i++) sampler.Sample(buffer, 1, (ulong)(i % seeds)); // warm: JIT tier-up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) sampler.Sample(buffer, 1, 3);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes allocated by 100 warm one-sample calls");
        Assert.That(buffer, Is.EqualTo(expected[3]));

        // Callers that find the gang busy draw alone; every caller must still get exactly its own seed's sample.
        var mismatches = new int[6];
        Parallel.For(0, 6, new ParallelOptions { MaxDegreeOfParallelism = 6 }, t =>
        {
            var mine = new float[sampler.SampleSize];
            for (int i = 0; i < 300; i++)
            {
                int seed = (t * 31 + i) % seeds;
                sampler.Sample(mine, 1, (ulong)seed);
                if (!mine.AsSpan().SequenceEqual(expected[seed])) mismatches[t]++;
            }
        });
        Assert.That(mismatches, Has.All.Zero);
    }

    [Test]
    public void ConvolutionalGeneratorsTakeThreadsForTheirMatrixProductsAndGiveTheSameSamples()
    {
        string path = Trained(ModelConfig.Default(ModelKind.Dcgan) with { ConvChannels = [4, 8] });
        using var single = Sampler.Load(path);
        using var split = Sampler.Load(path, threads: 2);
        var expected = new float[9 * single.SampleSize];
        var actual = new float[9 * single.SampleSize];
        single.Sample(expected, 9, 11);
        split.Sample(actual, 9, 11);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [TestCase(0)]
    [TestCase(65)]
    public void AThreadCountOutOfRangeIsRefused(int threads)
    {
        string path = Trained(ModelConfig.Default(ModelKind.Gan));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Sampler.Load(path, threads));
        Assert.That(e!.ParamName, Is.EqualTo("threads"));
    }
}

/// <summary>The thread gang behind the split sampler: every member runs its part, the join, exclusivity, failures.</summary>
[TestFixture]
public sealed unsafe class CpuGangTests
{
    private struct Parts
    {
        public long* Cells;  // [Size]: member m adds m + 1 to its cell per job
        public int* Threads; // [Size]: the managed thread id that ran member m's part
    }

    private static void AddToOwnCell(int member, void* state)
    {
        var p = (Parts*)state;
        for (int i = 0; i < 1000; i++) Volatile.Write(ref p->Cells[member], Volatile.Read(ref p->Cells[member]) + member + 1);
        p->Threads[member] = Environment.CurrentManagedThreadId;
    }

    [TestCase(2)]
    [TestCase(3)]
    public void EveryMemberRunsItsPartOnItsOwnThreadAndTheJoinSeesAllWrites(int size)
    {
        using var gang = new CpuGang(size, TimeSpan.FromMilliseconds(1));
        var cells = new long[size];
        var threads = new int[size];
        const int jobs = 2000;
        fixed (long* c = cells)
        fixed (int* t = threads)
        {
            var state = new Parts { Cells = c, Threads = t };
            for (int job = 1; job <= jobs; job++)
            {
                Assert.That(gang.TryRun(&AddToOwnCell, &state), Is.True);
                // Read right after the join, without any other synchronization.
                for (int m = 0; m < size; m++)
                    if (cells[m] != (long)job * 1000 * (m + 1)) Assert.Fail($"job {job}: member {m}'s cell is {cells[m]}");
            }
        }
        Assert.That(threads[0], Is.EqualTo(Environment.CurrentManagedThreadId), "member 0 is the caller");
        Assert.That(threads.Distinct().Count(), Is.EqualTo(size), "each member on its own thread");
    }

    private static void Nested(int member, void* state)
    {
        if (member == 0) *(int*)state = ((CpuGang)GCHandle.FromIntPtr(*(nint*)((int*)state + 2)).Target!).TryRun(&Nested, state) ? 1 : 2;
    }

    [Test]
    public void ASecondJobWhileOneRunsIsRefusedNotQueued()
    {
        using var gang = new CpuGang(2, TimeSpan.FromMilliseconds(1));
        var handle = GCHandle.Alloc(gang);
        try
        {
            var state = stackalloc nint[2]; // int result in the first 4 bytes, the gang's handle in the second word
            state[0] = 0;
            state[1] = GCHandle.ToIntPtr(handle);
            Assert.That(gang.TryRun(&Nested, state), Is.True);
            Assert.That(*(int*)state, Is.EqualTo(2), "the nested TryRun should have returned false");
        }
        finally
        {
            handle.Free();
        }
    }

    private static void ThrowOnMember(int member, void* state)
    {
        if (member == *(int*)state) throw new InvalidDataException($"member {member} failed");
        Thread.Sleep(5); // still running when the thrower has thrown: the join must wait for it
        Interlocked.Increment(ref *((int*)state + 1));
    }

    private static void RunThrowing(CpuGang gang, int* state) => gang.TryRun(&ThrowOnMember, state);

    private static void Count(int member, void* state) => Interlocked.Increment(ref *(int*)state);

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    public void AFailingPartIsRethrownAfterTheOthersFinishAndTheGangKeepsWorking(int thrower)
    {
        using var gang = new CpuGang(3, TimeSpan.FromMilliseconds(1));
        var state = stackalloc int[2];
        for (int attempt = 0; attempt < 3; attempt++)
        {
            state[0] = thrower;
            state[1] = 0;
            var e = Assert.Throws<InvalidDataException>(() => RunThrowing(gang, state));
            Assert.That(e!.Message, Is.EqualTo($"member {thrower} failed"));
            Assert.That(state[1], Is.EqualTo(2), "the two other parts ran to their end before TryRun returned");
            int count = 0;
            Assert.That(gang.TryRun(&Count, &count), Is.True);
            Assert.That(count, Is.EqualTo(3), "every member ran the next job");
        }
    }

    [Test]
    public void APartnerThatFellAsleepWakesForTheNextJob()
    {
        using var gang = new CpuGang(2, TimeSpan.FromMilliseconds(1));
        int count = 0;
        Assert.That(gang.TryRun(&Count, &count), Is.True);
        Thread.Sleep(50); // well past the polling time: the partner blocks on its event
        Assert.That(gang.TryRun(&Count, &count), Is.True);
        Assert.That(count, Is.EqualTo(4));
    }
}

/// <summary>Dispose while other threads are inside Sample: they finish or get ObjectDisposedException, never freed memory.</summary>
[TestFixture]
public sealed class SamplerDisposeTests
{
    private string _path = "";

    [OneTimeSetUp]
    public void SaveCheckpoint()
    {
        _path = Path.Combine(Directory.CreateTempSubdirectory("fingen-dispose-").FullName, "gan.safetensors");
        using var backend = new CpuSimdBackend();
        using var model = GenerativeModel.Create(backend, ModelConfig.Default(ModelKind.Gan) with { BatchSize = 8 });
        model.Initialize();
        Checkpoint.Save(_path, model, MnistDigits.Metadata);
    }

    [OneTimeTearDown]
    public void Remove() => Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);

    [TestCase(1, 100)] // 16 racing calls a round: 1,600 races
    [TestCase(2, 100)] // one-sample draws split across a gang of spinning partners
    public void DisposeRacingSixteenSamplingThreadsNeverCorruptsMemory(int threads, int rounds)
    {
        const int Callers = 16;
        Sampler? sampler = null;
        using var start = new Barrier(Callers + 1);
        using var end = new Barrier(Callers + 1);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var stop = false;
        var workers = Enumerable.Range(0, Callers).Select(id => new Thread(() =>
        {
            var buffer = new float[4 * 784];
            while (true)
            {
                start.SignalAndWait();
                if (Volatile.Read(ref stop)) return;
                var current = Volatile.Read(ref sampler)!;
                try
                {
                    for (ulong seed = 0; ; seed++) current.Sample(buffer, id % 2 == 0 ? 1 : 4, seed);
                }
                catch (ObjectDisposedException)
                {
                    // expected: Dispose came
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
                end.SignalAndWait();
            }
        })).ToList();
        foreach (var w in workers) w.Start();
        var random = new Random(5);
        for (int round = 0; round < rounds; round++)
        {
            Volatile.Write(ref sampler, Sampler.Load(_path, threads));
            start.SignalAndWait();
            Thread.SpinWait(random.Next(0, 20_000));
            sampler!.Dispose();
            end.SignalAndWait();
        }
        Volatile.Write(ref stop, true);
        start.SignalAndWait();
        foreach (var w in workers) w.Join();
        Assert.That(failures, Is.Empty, string.Join("; ", failures.Take(3)));
        Assert.Throws<ObjectDisposedException>(() => sampler!.Sample(new float[784], 1, 0));
    }
}
