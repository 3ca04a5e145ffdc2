using System.Diagnostics;
using System.Runtime.CompilerServices;
using FinGen.Native.Memory;

namespace FinGen.Native.Backends;

/// <summary>Shape checks shared by every backend, done once at the op's entry (as tiny-cuda-nn's forward()).</summary>
internal static class Shapes
{
    [StackTraceHidden]
    public static void Same(Tensor a, Tensor b, [CallerArgumentExpression(nameof(b))] string what = "")
    {
        if (a.Rows != b.Rows || a.Cols != b.Cols)
            Throw.Argument($"shape mismatch: {a} vs {b} ({what})");
    }

    [StackTraceHidden]
    public static void Is(Tensor t, int rows, int cols, [CallerArgumentExpression(nameof(t))] string what = "")
    {
        if (t.Rows != rows || t.Cols != cols)
            Throw.Argument($"{what} is {t.Rows}x{t.Cols}, expected {rows}x{cols}");
    }

    [StackTraceHidden]
    public static void Scalar(Tensor loss) => Is(loss, 1, 1, "loss");

    public static void Linear(Tensor x, Tensor weight, Tensor bias, Tensor y)
    {
        Is(weight, y.Cols, x.Cols);
        Is(bias, 1, y.Cols);
        Is(y, x.Rows, weight.Rows);
    }

    public static void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        Is(weight, dy.Cols, x.Cols);
        Is(dy, x.Rows, weight.Rows);
        if (!dx.IsEmpty) Same(x, dx);
        if (!dWeight.IsEmpty)
        {
            Same(weight, dWeight);
            Is(dBias, 1, weight.Rows);
        }
    }

    /// <summary>Spectral normalization: weight [Out, In], u [1, Out], v [1, In], σ [1, 1], normalized (or its gradient) like weight.</summary>
    public static void SpectralNorm(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor normalized)
    {
        Is(u, 1, weight.Rows);
        Is(v, 1, weight.Cols);
        Is(sigma, 1, 1);
        Same(weight, normalized);
    }

    // ---- convolutions (see ConvGeometry): every check a backend needs before touching memory

    /// <summary>Conv2d forward: x [N, C·H·W] → y [N, K·P·Q], weight [K, C·R·S], bias [1, K] or empty.</summary>
    public static void Conv(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        g.Validate();
        Is(x, g.Batch, g.InSize);
        Is(weight, g.OutChannels, g.FilterSize);
        if (!bias.IsEmpty) Is(bias, 1, g.OutChannels);
        Is(y, g.Batch, g.OutSize);
    }

    /// <summary>Conv2d backward: dx like x, dWeight like weight, dBias [1, K]; each may be empty.</summary>
    public static void ConvBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        g.Validate();
        Is(x, g.Batch, g.InSize);
        Is(weight, g.OutChannels, g.FilterSize);
        Is(dy, g.Batch, g.OutSize);
        if (!dx.IsEmpty) Is(dx, g.Batch, g.InSize);
        if (!dWeight.IsEmpty) Is(dWeight, g.OutChannels, g.FilterSize);
        if (!dBias.IsEmpty) Is(dBias, 1, g.OutChannels);
    }

    /// <summary>ConvTranspose2d forward, the data gradient of g: x [N, K·P·Q] → y [N, C·H·W], weight [K, C·R·S], bias [1, C] or empty.</summary>
    public static void ConvTranspose(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y)
    {
        g.Validate();
        Is(x, g.Batch, g.OutSize);
        Is(weight, g.OutChannels, g.FilterSize);
        if (!bias.IsEmpty) Is(bias, 1, g.InChannels);
        Is(y, g.Batch, g.InSize);
    }

    /// <summary>ConvTranspose2d backward: dy [N, C·H·W]; dx like x, dWeight like weight, dBias [1, C]; each may be empty.</summary>
    public static void ConvTransposeBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias)
    {
        g.Validate();
        Is(x, g.Batch, g.OutSize);
        Is(weight, g.OutChannels, g.FilterSize);
        Is(dy, g.Batch, g.InSize);
        if (!dx.IsEmpty) Is(dx, g.Batch, g.OutSize);
        if (!dWeight.IsEmpty) Is(dWeight, g.OutChannels, g.FilterSize);
        if (!dBias.IsEmpty) Is(dBias, 1, g.InChannels);
    }

    // ---- batch normalization: x [N, C·spatial]

    /// <summary>Checks x, y, γ and β; returns the spatial size H·W of one channel.</summary>
    public static int BatchNorm(Tensor x, Tensor gamma, Tensor beta, int channels, Tensor y)
    {
        if (channels < 1 || x.Cols % channels != 0)
            Throw.Argument($"batch norm over {channels} channels: {x} does not split into equal channels");
        if (x.Rows < 1 || x.Cols < 1) Throw.Argument($"batch norm of the empty {x}");
        Same(x, y);
        Is(gamma, 1, channels);
        Is(beta, 1, channels);
        return x.Cols / channels;
    }

    /// <summary>Training also needs m = N·spatial ≥ 2, or the unbiased running variance divides by zero (PyTorch refuses it too).</summary>
    public static int BatchNormTraining(Tensor x, Tensor gamma, Tensor beta, int channels, Tensor runningMean, Tensor runningVar,
        Tensor y, Tensor saveMean, Tensor saveInvStd)
    {
        int spatial = BatchNorm(x, gamma, beta, channels, y);
        if ((long)x.Rows * spatial < 2) Throw.Argument($"batch norm training needs more than one value per channel, {x} has {x.Rows * spatial}");
        Is(runningMean, 1, channels);
        Is(runningVar, 1, channels);
        Is(saveMean, 1, channels);
        Is(saveInvStd, 1, channels);
        return spatial;
    }

    public static int BatchNormInference(Tensor x, Tensor gamma, Tensor beta, int channels, Tensor runningMean, Tensor runningVar, Tensor y)
    {
        int spatial = BatchNorm(x, gamma, beta, channels, y);
        Is(runningMean, 1, channels);
        Is(runningVar, 1, channels);
        return spatial;
    }

    /// <summary>dx like x, dGamma and dBeta [1, C]; each may be empty.</summary>
    public static int BatchNormBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd,
        Tensor dx, Tensor dGamma, Tensor dBeta)
    {
        if (channels < 1 || x.Cols % channels != 0)
            Throw.Argument($"batch norm over {channels} channels: {x} does not split into equal channels");
        Same(x, dy);
        Is(gamma, 1, channels);
        Is(saveMean, 1, channels);
        Is(saveInvStd, 1, channels);
        if (!dx.IsEmpty) Same(x, dx);
        if (!dGamma.IsEmpty) Is(dGamma, 1, channels);
        if (!dBeta.IsEmpty) Is(dBeta, 1, channels);
        return x.Cols / channels;
    }
}
