using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace FinGen.Native;

/// <summary>
/// An error the user can act on: bad input, a missing file, a corrupt checkpoint.
/// The CLI prints its message as one line and exits non-zero, without a stack trace.
/// </summary>
public sealed class FinGenException : Exception
{
    public FinGenException(string message) : base(message) { }
    public FinGenException(string message, Exception inner) : base(message, inner) { }
}

internal static class Throw
{
    [DoesNotReturn, StackTraceHidden]
    public static void User(string message) => throw new FinGenException(message);

    [DoesNotReturn, StackTraceHidden]
    public static T User<T>(string message) => throw new FinGenException(message);

    [DoesNotReturn, StackTraceHidden]
    public static void Argument(string message, string? paramName = null) => throw new ArgumentException(message, paramName);

    [DoesNotReturn, StackTraceHidden]
    public static T Argument<T>(string message) => throw new ArgumentException(message);
}
