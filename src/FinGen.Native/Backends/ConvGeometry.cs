namespace FinGen.Native.Backends;

/// <summary>
/// One 2-D convolution over NCHW images, square stride and zero padding on both sides, no dilation, no groups:
/// input [Batch, InChannels, InHeight, InWidth] → output [Batch, OutChannels, OutHeight, OutWidth] with
/// weight [OutChannels, InChannels, KernelHeight, KernelWidth] (PyTorch's Conv2d layout). Tensors hold one
/// image per row: x is [Batch, InChannels·InHeight·InWidth], y is [Batch, OutChannels·OutHeight·OutWidth],
/// weight is [OutChannels, InChannels·KernelHeight·KernelWidth].
/// A transposed convolution is described by the convolution whose data gradient it is (see
/// <see cref="IBackend.ConvTranspose2dForward"/>).
/// </summary>
public readonly record struct ConvGeometry(
    int Batch, int InChannels, int InHeight, int InWidth,
    int OutChannels, int KernelHeight, int KernelWidth, int Stride = 1, int Padding = 0)
{
    /// <summary>⌊(H + 2·padding − R) / stride⌋ + 1.</summary>
    public int OutHeight => (InHeight + 2 * Padding - KernelHeight) / Stride + 1;
    /// <summary>⌊(W + 2·padding − S) / stride⌋ + 1.</summary>
    public int OutWidth => (InWidth + 2 * Padding - KernelWidth) / Stride + 1;
    /// <summary>Values per input image: C·H·W.</summary>
    public int InSize => InChannels * InHeight * InWidth;
    /// <summary>Values per output image: K·P·Q.</summary>
    public int OutSize => OutChannels * OutHeight * OutWidth;
    /// <summary>Values per filter: C·R·S.</summary>
    public int FilterSize => InChannels * KernelHeight * KernelWidth;

    /// <summary>Throws <see cref="ArgumentException"/> unless every size is positive and the output is at least 1×1.</summary>
    public void Validate()
    {
        if (Batch < 1 || InChannels < 1 || InHeight < 1 || InWidth < 1 || OutChannels < 1 || KernelHeight < 1 || KernelWidth < 1 || Stride < 1 || Padding < 0)
            Throw.Argument($"invalid convolution {this}");
        if (InHeight + 2 * Padding < KernelHeight || InWidth + 2 * Padding < KernelWidth)
            Throw.Argument($"convolution {this}: the kernel is larger than the padded input");
    }
}
