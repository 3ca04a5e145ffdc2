using FinGen.Native.Memory;

namespace FinGen.Native.Tests;

[TestFixture]
public sealed unsafe class TensorTests
{
    /// <summary>Length is rows·cols as an int: a shape whose count does not fit is refused instead of wrapping silently.</summary>
    [Test]
    public void AShapeWhoseLengthOverflowsIsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Tensor(null, 65536, 65536));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Tensor(null, int.MaxValue, 2));
        var largest = new Tensor(null, 1, int.MaxValue);
        Assert.That(largest.Length, Is.EqualTo(int.MaxValue));
        Assert.That(new Tensor(null, 46340, 46340).Length, Is.EqualTo(46340 * 46340));
    }
}
