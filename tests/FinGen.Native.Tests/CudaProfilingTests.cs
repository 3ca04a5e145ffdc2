using System.Diagnostics;
using System.Runtime.InteropServices;
using FinGen.Native.Backends;
using FinGen.Native.Cuda;
using FinGen.Native.Cuda.Interop;
using FinGen.Native.Data;
using FinGen.Native.Models;
using FinGen.Native.Training;

namespace FinGen.Native.Tests;

/// <summary>
/// Profiling on CUDA: NVTX ranges through the project's library resolver (no GPU needed, only libnvToolsExt), and the
/// event-pair op timer (ignored with the probe's reason where no device answers). Linked into FinGen.Native.GpuCheck,
/// so scripts/gpu-check.sh runs them on the GPU machine.
/// </summary>
[TestFixture]
public sealed unsafe class CudaProfilingTests
{
    // ---- NVTX

    [Test]
    public void TheNvtxBindingsLoadThroughTheResolver()
    {
        var attempt = Nvtx.Attempt;
        if (!attempt.Loaded) Assert.Ignore($"no NVTX library here: {attempt.Error}");
        Assert.That(attempt.Trace[^1], Does.EndWith("(loaded)"), "the resolver recorded where it came from");
        Assert.That(Path.GetFileName(attempt.LoadedFrom), Is.AnyOf("libnvToolsExt.so.1", NativeLibraries.NvtxShim, "nvToolsExt64_1.dll"));
        TestContext.Out.WriteLine($"NVTX from {attempt.LoadedFrom}");
        fixed (byte* outer = "fingen-test-outer\0"u8, inner = "fingen-test-inner\0"u8, mark = "fingen-test-mark\0"u8)
        {
            int outerLevel = Nvtx.nvtxRangePushA(outer);
            int innerLevel = Nvtx.nvtxRangePushA(inner);
            Nvtx.nvtxMarkA(mark);
            int innerPopped = Nvtx.nvtxRangePop();
            AssertLevels(outerLevel, innerLevel, innerPopped, Nvtx.nvtxRangePop());
        }
    }

    /// <summary>Each NVTX library the resolver can find, on its own: the toolkit's and ours built from NVTX 3's headers.</summary>
    [TestCase("libnvToolsExt.so.1")]
    [TestCase(NativeLibraries.NvtxShim)]
    public void EachNvtxLibraryNestsRanges(string fileName)
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("Linux file names");
        var attempt = NativeLibraries.Probe("NVTX", [fileName]);
        if (!attempt.Loaded)
            Assert.Ignore(fileName == NativeLibraries.NvtxShim ? $"not built here (scripts/build-kernels.sh builds it): {attempt.Error}" : attempt.Error);
        TestContext.Out.WriteLine($"{fileName} from {attempt.LoadedFrom}");
        var push = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(attempt.Handle, "nvtxRangePushA");
        var pop = (delegate* unmanaged<int>)NativeLibrary.GetExport(attempt.Handle, "nvtxRangePop");
        var mark = (delegate* unmanaged<byte*, void>)NativeLibrary.GetExport(attempt.Handle, "nvtxMarkA");
        fixed (byte* outer = "fingen-test-outer\0"u8, inner = "fingen-test-inner\0"u8, name = "fingen-test-mark\0"u8)
        {
            int outerLevel = push(outer);
            int innerLevel = push(inner);
            mark(name);
            int innerPopped = pop();
            AssertLevels(outerLevel, innerLevel, innerPopped, pop());
        }
    }

    /// <summary>
    /// nvToolsExt.h: a push returns the zero-based nesting level of the range it opens, a pop the level of the one it
    /// closes, negative on error. With no tool attached (Nsight sets NVTX_INJECTION64_PATH) the library only dispatches
    /// and both return NVTX_NO_PUSH_POP_TRACKING (-2), which is what this machine without a profiler must see.
    /// </summary>
    private static void AssertLevels(int outer, int inner, int innerPopped, int outerPopped)
    {
        TestContext.Out.WriteLine($"push {outer}, {inner}; pop {innerPopped}, {outerPopped}");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NVTX_INJECTION64_PATH")))
        {
            Assert.That(new[] { outer, inner, innerPopped, outerPopped }, Has.All.EqualTo(Nvtx.NoPushPopTracking));
            return;
        }
        Assert.That(outer, Is.GreaterThanOrEqualTo(0));
        Assert.That(inner, Is.EqualTo(outer + 1), "the inner range is one level deeper");
        Assert.That(innerPopped, Is.GreaterThanOrEqualTo(0));
        Assert.That(outerPopped, Is.GreaterThanOrEqualTo(0));
    }

    // ---- the event timer

    /// <summary>128 MB of normals: tens of microseconds of device work an op, so the host keeps ahead of the device.</summary>
    private const int Floats = 1 << 25;

    [Test]
    public void EventTimesOfBackToBackOpsAddUpToOneTimerAroundThem()
    {
        CudaFixture.RequireCuda();
        using var cuda = CudaBackend.Create();
        using var memory = cuda.Allocate(Floats);
        var opTimer = new CudaOpTimer(cuda, ProfilingBackend.OpNames);
        using var profiler = new ProfilingBackend(cuda, opTimer);
        Assert.That(opTimer.NvtxRanges, Is.EqualTo(Nvtx.IsAvailable));
        profiler.FillNormal(memory.All(), 1, 1, 0); // first launch out of the way
        profiler.Reset();

        using var whole = cuda.CreateTimer();
        whole.Start();
        for (int i = 0; i < 10; i++) profiler.FillNormal(memory.All(), 1, 1, (ulong)i * Floats);
        whole.Stop();
        Assert.That(opTimer.Pending, Is.EqualTo(10), "nothing is read while ops are queued");
        double wholeMicroseconds = whole.ElapsedMilliseconds() * 1000.0;
        profiler.EndStep(wholeMicroseconds);

        var profile = profiler.Report();
        Assert.That(opTimer.Pending, Is.Zero);
        var row = profile.Ops.Single();
        TestContext.Out.WriteLine($"{row.Op}: {row.MicrosecondsPerStep:F1} µs of {wholeMicroseconds:F1} µs, {row.GigabytesPerSecond:F0} GB/s ({profile.Clock})");
        Assert.That(row.Op, Is.EqualTo("philox_normal"));
        Assert.That(row.Calls, Is.EqualTo(10));
        // The pairs cover the ops, the whole timer also the gaps between them (event resolution about 0.5 µs).
        Assert.That(row.MicrosecondsPerStep, Is.LessThanOrEqualTo(wholeMicroseconds + 10));
        Assert.That(row.MicrosecondsPerStep, Is.GreaterThan(0.5 * wholeMicroseconds), "back-to-back ops leave the device little idle time");
        Assert.That(row.GigabytesPerSecond, Is.EqualTo(10.0 * Floats * sizeof(float) / row.MicrosecondsPerStep / 1e3).Within(1e-9).Percent);
    }

    [Test]
    public void AFullPoolIsReadAndReusedWithoutLosingAnOp()
    {
        CudaFixture.RequireCuda();
        using var cuda = CudaBackend.Create();
        using var memory = cuda.Allocate(1 << 20);
        var opTimer = new CudaOpTimer(cuda, ProfilingBackend.OpNames, capacity: 4, nvtxRanges: false);
        using var profiler = new ProfilingBackend(cuda, opTimer);
        Assert.That(opTimer.Clock, Is.EqualTo("device time between CUDA events around each op"));
        var host = new float[1 << 20];
        for (int i = 0; i < 5; i++)
        {
            profiler.FillNormal(memory.All(), 7, 1, 0);
            profiler.Fill(memory.All(), i);
        }
        // Pairs 1-4 were read when the fifth op started, 5-8 at the ninth: two left.
        Assert.That(opTimer.Pending, Is.EqualTo(2));
        profiler.Download(memory.All(), host);
        Assert.That(host, Has.All.EqualTo(4f), "the ops ran in order");
        profiler.EndStep(1);

        var ops = profiler.Report().Ops.ToDictionary(o => o.Op);
        Assert.That(ops.Keys, Is.EquivalentTo(new[] { "philox_normal", "fill", "download" }));
        Assert.That((ops["philox_normal"].Calls, ops["fill"].Calls, ops["download"].Calls), Is.EqualTo((5L, 5L, 1L)));
        Assert.That(ops.Values.Select(o => o.MicrosecondsPerStep), Has.All.GreaterThan(0));
    }

    [Test]
    public void TimingAndRangesAllocateNothingPerOp()
    {
        CudaFixture.RequireCuda();
        using var cuda = CudaBackend.Create();
        using var memory = cuda.Allocate(1 << 16);
        var opTimer = new CudaOpTimer(cuda, ProfilingBackend.OpNames, capacity: 64); // filled and read once in the loop
        using var profiler = new ProfilingBackend(cuda, opTimer);
        profiler.FillNormal(memory.All(), 3, 1, 0);
        profiler.Fill(memory.All(), 1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++)
        {
            profiler.FillNormal(memory.All(), 3, 1, (ulong)i << 16);
            profiler.Fill(memory.All(), 1);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, $"bytes allocated by 100 profiled ops (NVTX ranges {(opTimer.NvtxRanges ? "on" : "off")})");
        Assert.That(profiler.Report().Ops.Select(o => o.Calls), Has.All.EqualTo(51));
    }

    [Test]
    public void AProfiledTrainingStepOnCudaRunsTheCpusOps()
    {
        CudaFixture.RequireCuda();
        var data = DataSets.FromImages(EmbeddedData.Mnist(256));
        var config = ModelConfig.Default(ModelKind.Gan) with { BatchSize = 16 };
        Profile Run(ProfilingBackend profiler)
        {
            using var model = GenerativeModel.Create(profiler, config);
            model.Initialize();
            var trainer = new Trainer(model, data);
            for (int i = 0; i < 3; i++)
            {
                var clock = Stopwatch.StartNew();
                trainer.Run(model.State.Step + 1);
                profiler.Synchronize();
                profiler.EndStep(clock.Elapsed.TotalMicroseconds);
            }
            return profiler.Report();
        }

        using var cpu = new ProfilingBackend(new CpuReferenceBackend());
        var onCpu = Run(cpu);
        var cuda = CudaBackend.Create();
        using var onDevice = new ProfilingBackend(cuda, new CudaOpTimer(cuda, ProfilingBackend.OpNames));
        var onGpu = Run(onDevice);

        Assert.That(onGpu.Ops.ToDictionary(o => o.Op, o => o.Calls), Is.EquivalentTo(onCpu.Ops.ToDictionary(o => o.Op, o => o.Calls)));
        Assert.That(onGpu.Ops.Select(o => o.MicrosecondsPerStep), Has.All.GreaterThanOrEqualTo(0));
        // On CUDA the models' linear layers run fused with their activation (linear_forward_fused), so either name may hold the GEMMs.
        Assert.That(onGpu.Ops.Where(o => o.Op is "linear_forward" or "linear_forward_fused").Sum(o => o.MicrosecondsPerStep), Is.GreaterThan(0));
        // Device time inside ops cannot exceed the host's wall time around the step.
        Assert.That(onGpu.OpsMicroseconds, Is.LessThanOrEqualTo(onGpu.StepMicroseconds * 1.001 + 10));
        Assert.That(onGpu.Ops.Sum(o => o.PercentOfStep), Is.LessThanOrEqualTo(100.5));
    }
}
