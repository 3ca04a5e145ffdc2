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
}
