using System.Globalization;

namespace FinGen.Native;

/// <summary>Counted nouns for messages: "1 sample", "2 samples", so no message reads "1 samples".</summary>
internal static class English
{
    /// <summary>"1 step", "2 steps"; <paramref name="plural"/> for a noun that does not take an s ("loss" → "losses").</summary>
    public static string Plural(long count, string noun, string? plural = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{count} {(count == 1 ? noun : plural ?? noun + "s")}");

    /// <summary>"every step", "every 10 steps".</summary>
    public static string Every(long count, string noun) => count == 1 ? $"every {noun}" : $"every {Plural(count, noun)}";
}
