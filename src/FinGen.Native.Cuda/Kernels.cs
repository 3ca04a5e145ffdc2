using System.Runtime.InteropServices;
using System.Text;
using FinGen.Native.Cuda.Interop;

namespace FinGen.Native.Cuda;

/// <summary>
/// Where the kernels come from: <c>FINGEN_KERNELS=path</c> when set, else the fatbin embedded at build time
/// (<c>build/kernels/fingen_kernels.fatbin</c>, written by <c>scripts/build-kernels.sh</c>).
/// </summary>
internal sealed class KernelImage
{
    public const string EnvironmentVariable = "FINGEN_KERNELS";
    public const string ResourceName = "FinGen.Native.Cuda.kernels.fatbin";
    public const string NotBuilt = "kernels were not built (run scripts/build-kernels.sh)";

    private KernelImage(string description, string? path)
    {
        Description = description;
        Path = path;
    }

    /// <summary>For messages: "the embedded fatbin" or "FINGEN_KERNELS=/path".</summary>
    public string Description { get; }

    /// <summary>The file when <see cref="EnvironmentVariable"/> chose one; null for the embedded image.</summary>
    public string? Path { get; }

    /// <summary>The image to load, or why there is none (one line).</summary>
    public static KernelImage? Locate(out string problem)
    {
        string? path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(path))
        {
            problem = File.Exists(path) ? "" : $"{EnvironmentVariable}={path}: no such file";
            return File.Exists(path) ? new KernelImage($"{EnvironmentVariable}={path}", path) : null;
        }
        if (typeof(KernelImage).Assembly.GetManifestResourceInfo(ResourceName) is not null)
        {
            problem = "";
            return new KernelImage("the embedded fatbin", null);
        }
        problem = NotBuilt;
        return null;
    }

    public byte[] Read()
    {
        if (Path is not null) return File.ReadAllBytes(Path);
        using var stream = typeof(KernelImage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new FinGenException(NotBuilt);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>
    /// Copies the image into aligned native memory (the fatbin header is read in place by the driver) and loads it as a
    /// module on the current context. The copy is returned to the caller, who must keep it alive as long as the module:
    /// with lazy loading (the default since CUDA 12.2) the driver reads the image again when a function is first
    /// fetched or launched, not only in cuModuleLoadData.
    /// </summary>
    public unsafe (NativeImageHandle Image, SafeModuleHandle Module) Load(PrimaryContextHandle context)
    {
        byte[] bytes = Read();
        if (bytes.Length == 0) throw new FinGenException($"{Description} is empty: {NotBuilt}");
        var image = NativeImageHandle.Copy(bytes);
        try
        {
            return (image, SafeModuleHandle.Load(context, (void*)image.DangerousGetHandle()));
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }
}

/// <summary>A kernel image in 64-byte-aligned native memory, freed when the handle is released (after its module).</summary>
internal sealed unsafe class NativeImageHandle : SafeHandle
{
    private NativeImageHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    public static NativeImageHandle Copy(ReadOnlySpan<byte> bytes)
    {
        var safe = new NativeImageHandle();
        void* memory = NativeMemory.AlignedAlloc((nuint)bytes.Length, 64);
        bytes.CopyTo(new Span<byte>(memory, bytes.Length));
        safe.SetHandle((nint)memory);
        return safe;
    }

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}

/// <summary>
/// How kernels are launched: kernels/ABI.md's "Launch configuration" (constants of kernels/common.cuh), kept in
/// one place so both sides change together. All launches are 1-D with no dynamic shared memory. Every kernel but
/// the loss reductions is a grid-stride loop (over elements, or over (channel, slice) items or channels for the
/// per-channel reductions), so any grid ≥ 1 is correct and these sizes are the recommended ones; the reductions' block
/// sizes are fixed.
/// </summary>
internal static class LaunchConfiguration
{
    /// <summary>FG_BLOCK_SIZE: threads per block of every kernel but the loss forwards.</summary>
    public const uint Block = 256;

    /// <summary>FG_MAX_GRID_SIZE: beyond it each thread loops (grid-stride).</summary>
    public const uint MaxGrid = 4096;

    /// <summary>FG_REDUCE_THREADS: every block of a loss reduction has exactly this many threads; the count is part of
    /// their numerics (a fixed-order reduction in double), and any other launch writes NaN.</summary>
    public const uint ReductionBlock = 512;

    /// <summary>FG_LOSS_BLOCK_ITEMS: elements per stage-1 block of a loss forward (16 a thread).</summary>
    public const int LossBlockItems = 8192;

    /// <summary>FG_MAX_LOSS_BLOCKS: the most stage-1 blocks, and the doubles of the partial-sum scratch.</summary>
    public const int MaxLossBlocks = 256;

    /// <summary>fg_loss_blocks(n) = clamp(⌈n / 8192⌉, 1, 256): the one grid a loss forward's stage 1 accepts.</summary>
    public static uint LossGrid(int n) => (uint)Math.Clamp((n + (long)LossBlockItems - 1) / LossBlockItems, 1, MaxLossBlocks);

    /// <summary>FG_BIAS_GRAD_THREADS: fg_bias_grad_accumulate's exact block (8 row groups × 32 columns).</summary>
    public const uint BiasGradBlock = 256;

    /// <summary>A block per tile of 32 columns, clamp(⌈cols / 32⌉, 1, 4096); beyond the cap blocks stride over tiles.</summary>
    public static uint BiasGradGrid(int cols) => (uint)Math.Clamp((cols + 31L) / 32, 1, MaxGrid);

    /// <summary>FG_CHANNEL_THREADS: the per-channel reductions of kernels/batchnorm.cu run exactly this many threads a
    /// block (part of their numerics; any other block shape writes NaN), and a channel is cut into at most this many slices.</summary>
    public const uint ChannelBlock = 256;

    /// <summary>FG_CHANNEL_BLOCK_ITEMS: a channel's values per stage-1 slice (16 a thread), before the caps.</summary>
    public const int ChannelBlockItems = 4096;

    /// <summary>FG_CHANNEL_TARGET_BLOCKS: the stage-1 blocks over all channels beyond which channels are cut no further.</summary>
    public const int ChannelTargetBlocks = 1024;

    /// <summary>
    /// fg_channel_slices: the G slices each channel of <paramref name="m"/> = N·H·W values is cut into, one stage-1 block
    /// each: clamp(⌈m / 4096⌉, 1, min(256, max(1, 1024 / channels))). Part of the numerics; the kernels compute the same.
    /// </summary>
    public static int ChannelSlices(long m, int channels)
    {
        int cap = Math.Clamp(ChannelTargetBlocks / channels, 1, (int)ChannelBlock);
        return (int)Math.Clamp((m + ChannelBlockItems - 1) / ChannelBlockItems, 1, cap);
    }

    /// <summary>Stage 1: a block a (channel, slice) item, clamp(channels·slices, 1, 4096); beyond the cap blocks stride over items.</summary>
    public static uint ChannelItemGrid(int channels, int slices) => (uint)Math.Clamp((long)channels * slices, 1, MaxGrid);

    /// <summary>Stage 2: one block a channel, clamp(channels, 1, 4096); beyond the cap each block loops over channels.</summary>
    public static uint ChannelGrid(int channels) => (uint)Math.Clamp(channels, 1, (int)MaxGrid);

    /// <summary>FG_SPECTRAL_THREADS: fg_spectral_norm_power and fg_spectral_norm_dot run exactly one block of this many
    /// threads (part of their numerics; any other launch writes NaN).</summary>
    public const uint SpectralBlock = 256;

    /// <summary>
    /// The doubles of a per-channel reduction's workspace (kernels/batchnorm.cu): 2·channels·slices partial sums (the
    /// backward's two per item; the forward uses half), then 2·channels statistics.
    /// </summary>
    public static long ChannelWorkspaceDoubles(int channels, int slices) => 2L * channels * slices + 2L * channels;

    /// <summary>The channel count whose workspace the backend allocates at creation: enough for any slices (channels·slices
    /// is at most max(channels, 1024)), so a layer of up to this many channels never grows it.</summary>
    public const int PreallocatedChannels = 4096;

    /// <summary>ChannelWorkspaceDoubles for <see cref="PreallocatedChannels"/> at its largest (16,384 doubles, 128 KiB).</summary>
    public static long PreallocatedChannelWorkspaceDoubles => 2L * Math.Max(PreallocatedChannels, ChannelTargetBlocks) + 2L * PreallocatedChannels;

    /// <summary>The ABI's grid(items) = clamp(⌈items / 256⌉, 1, 4096): never 0, which cuLaunchKernel rejects.</summary>
    public static uint Grid(long items) => (uint)Math.Clamp((items + Block - 1) / Block, 1, MaxGrid);

    /// <summary>fg_philox_normal and fg_philox_normal_at: one thread a Philox block of 4 normals, plus 2 for a start and an end inside a block.</summary>
    public static uint PhiloxGrid(long n) => Grid(n / 4 + 2);
}

/// <summary>The kernels of kernels/ABI.md, looked up once when the module loads.</summary>
internal sealed class KernelTable
{
    public KernelTable(nint module, string source)
    {
        nint Get(string name) => Function(module, name, source);
        Fill = Get("fg_fill");
        Add = Get("fg_add");
        BiasAddRows = Get("fg_bias_add_rows");
        BiasGradAccumulate = Get("fg_bias_grad_accumulate");
        BiasActivationForward = Get("fg_bias_activation_forward");
        LeakyReluForward = Get("fg_leaky_relu_forward");
        LeakyReluBackward = Get("fg_leaky_relu_backward");
        SigmoidForward = Get("fg_sigmoid_forward");
        SigmoidBackward = Get("fg_sigmoid_backward");
        TanhForward = Get("fg_tanh_forward");
        TanhBackward = Get("fg_tanh_backward");
        BceLogitsForward = Get("fg_bce_logits_forward");
        BceLogitsBackward = Get("fg_bce_logits_backward");
        MseForward = Get("fg_mse_forward");
        MseBackward = Get("fg_mse_backward");
        GaussianKlForward = Get("fg_gaussian_kl_forward");
        GaussianKlBackward = Get("fg_gaussian_kl_backward");
        LossFinish = Get("fg_loss_finish");
        ReparameterizeForward = Get("fg_reparameterize_forward");
        ReparameterizeBackward = Get("fg_reparameterize_backward");
        PhiloxNormal = Get("fg_philox_normal");
        PhiloxNormalAt = Get("fg_philox_normal_at");
        PhiloxStudentT = Get("fg_philox_student_t");
        PhiloxStudentTAt = Get("fg_philox_student_t_at");
        SgdStep = Get("fg_sgd_step");
        AdamStep = Get("fg_adam_step");
        ChannelPartialSums = Get("fg_channel_partial_sums");
        ChannelSumFinish = Get("fg_channel_sum_finish");
        BatchNormMeanFinish = Get("fg_batchnorm_mean_finish");
        BatchNormVariancePartials = Get("fg_batchnorm_variance_partials");
        BatchNormVarianceFinish = Get("fg_batchnorm_variance_finish");
        BatchNormNormalize = Get("fg_batchnorm_normalize");
        BatchNormForwardInference = Get("fg_batchnorm_forward_inference");
        BatchNormBackwardPartials = Get("fg_batchnorm_backward_partials");
        BatchNormBackwardFinish = Get("fg_batchnorm_backward_finish");
        BatchNormBackwardData = Get("fg_batchnorm_backward_data");
        SpectralNormPower = Get("fg_spectral_norm_power");
        SpectralNormScale = Get("fg_spectral_norm_scale");
        SpectralNormDot = Get("fg_spectral_norm_dot");
        SpectralNormBackward = Get("fg_spectral_norm_backward");
    }

    public nint Fill { get; }
    public nint Add { get; }
    public nint BiasAddRows { get; }
    public nint BiasGradAccumulate { get; }
    /// <summary>A linear layer's bias add fused with its activation (LinearActivationForward).</summary>
    public nint BiasActivationForward { get; }
    public nint LeakyReluForward { get; }
    public nint LeakyReluBackward { get; }
    public nint SigmoidForward { get; }
    public nint SigmoidBackward { get; }
    public nint TanhForward { get; }
    public nint TanhBackward { get; }
    public nint BceLogitsForward { get; }
    public nint BceLogitsBackward { get; }
    public nint MseForward { get; }
    public nint MseBackward { get; }
    public nint GaussianKlForward { get; }
    public nint GaussianKlBackward { get; }
    /// <summary>Stage 2 of every loss forward: the partial sums of stage 1 into loss[0].</summary>
    public nint LossFinish { get; }
    public nint ReparameterizeForward { get; }
    public nint ReparameterizeBackward { get; }
    public nint PhiloxNormal { get; }
    /// <summary>fg_philox_normal at an offset read from device memory (a training step's, see StepScalars).</summary>
    public nint PhiloxNormalAt { get; }
    /// <summary>Unit-variance Student-t numbers (Philox.FillStudentT), by value and at a step-scalar offset.</summary>
    public nint PhiloxStudentT { get; }
    public nint PhiloxStudentTAt { get; }
    public nint SgdStep { get; }
    public nint AdamStep { get; }
    /// <summary>Stage 1 of Σ x per channel: the batch-norm mean's, and a convolution's bias gradient's.</summary>
    public nint ChannelPartialSums { get; }
    /// <summary>Stage 2 of a convolution's bias gradient: dbias[c] += Σ dy over (N, H, W).</summary>
    public nint ChannelSumFinish { get; }
    public nint BatchNormMeanFinish { get; }
    public nint BatchNormVariancePartials { get; }
    /// <summary>Stage 2 of the variance: the saved and running statistics.</summary>
    public nint BatchNormVarianceFinish { get; }
    public nint BatchNormNormalize { get; }
    public nint BatchNormForwardInference { get; }
    public nint BatchNormBackwardPartials { get; }
    /// <summary>Stage 2 of the backward: dGamma, dBeta, and the two means the data gradient reads.</summary>
    public nint BatchNormBackwardFinish { get; }
    public nint BatchNormBackwardData { get; }
    /// <summary>One power-iteration step (or none) and σ = uᵀWv: one block.</summary>
    public nint SpectralNormPower { get; }
    /// <summary>W/σ with σ read from device memory.</summary>
    public nint SpectralNormScale { get; }
    /// <summary>⟨G, W⟩ into one double: one block.</summary>
    public nint SpectralNormDot { get; }
    public nint SpectralNormBackward { get; }

    private static unsafe nint Function(nint module, string name, string source)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        nint function;
        CUresult status;
        fixed (byte* p = utf8) status = Driver.cuModuleGetFunction(&function, module, p);
        if (status == CUresult.ErrorNotFound)
            throw new FinGenException($"kernel {name} is missing from {source}: the kernels are older than this build (run scripts/build-kernels.sh)");
        Check.Cu(status, nameof(Driver.cuModuleGetFunction));
        return function;
    }
}
