namespace FinGen.Native.Memory;

/// <summary>
/// A view: pointer and shape, nothing else. It owns no memory and has no math methods; the backend does
/// the math. Row-major; a vector is a tensor with one row. Where the pointer lives (host or device) is
/// the backend's business.
/// </summary>
public readonly unsafe struct Tensor
{
    public Tensor(float* data, int rows, int cols, string name = "")
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        // Length is an int (spans, kernel sizes): a shape whose element count does not fit is refused, never wrapped.
        if ((long)rows * cols > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(cols), $"a {rows}x{cols} tensor has more than {int.MaxValue} elements");
        Data = data;
        Rows = rows;
        Cols = cols;
        Name = name;
    }

    public float* Data { get; }
    public int Rows { get; }
    public int Cols { get; }
    public string Name { get; }
    public int Length => Rows * Cols;
    public bool IsEmpty => Data == null;

    /// <summary>Host memory only: the CPU backends and tests read through this.</summary>
    public Span<float> Span => new(Data, Length);

    /// <summary>Rows [start, start + count) of this tensor.</summary>
    public Tensor SliceRows(int start, int count)
    {
        if ((uint)start > (uint)Rows || (uint)count > (uint)(Rows - start))
            Throw.Argument($"rows [{start}, {start + count}) outside [0, {Rows}) of '{Name}'");
        return new Tensor(Data + (long)start * Cols, count, Cols, Name);
    }

    /// <summary>The same memory seen with another shape of the same length.</summary>
    public Tensor Reshape(int rows, int cols)
    {
        if ((long)rows * cols != Length) Throw.Argument($"cannot view {Rows}x{Cols} '{Name}' as {rows}x{cols}");
        return new Tensor(Data, rows, cols, Name);
    }

    public override string ToString() => $"{Name}[{Rows}x{Cols}]";
}
