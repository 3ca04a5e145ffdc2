using System.Globalization;
using FinGen.Native;
using FinGen.Native.Models;

namespace FinGen.Cli;

/// <summary>
/// Sizes refused before anything is allocated: a rough estimate of the memory an option asks for against what this
/// machine (or its container) makes available, so an absurd --batch or --paths is one line naming it, not an
/// OutOfMemoryException minutes later.
/// </summary>
internal static class Sizes
{
    /// <summary>The share of available memory one run may plan to use.</summary>
    private const double Share = 0.8;

    public static long AvailableBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>Refuses <paramref name="bytes"/> of memory, or <paramref name="elements"/> in one array, beyond what fits.</summary>
    public static void Require(double bytes, double elements, string what, string option)
    {
        if (elements > Array.MaxLength)
            Options.Throw($"{option}: {what} need {elements.ToString("N0", CultureInfo.InvariantCulture)} values in one array, more than .NET allows ({Array.MaxLength.ToString("N0", CultureInfo.InvariantCulture)}); use a smaller {option}");
        double available = AvailableBytes * Share;
        if (bytes > available)
            Options.Throw($"{option}: {what} need about {Gib(bytes)} of memory, more than the {Gib(available)} this machine can give; use a smaller {option}");
    }

    /// <summary>Refuses a file of about <paramref name="bytes"/> in <paramref name="folder"/> beyond the space free there.</summary>
    public static void RequireDisk(double bytes, string folder, string what, string option)
    {
        double free;
        try { free = new DriveInfo(folder).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { return; } // no answer: let the write find out
        if (bytes > free)
            Options.Throw($"{option}: {what} make a file of about {Gib(bytes)}, more than the {Gib(free)} free in {folder}; use a smaller {option}");
    }

    /// <summary>A training step's batch: the host and device batches and every network's activations and their gradients.</summary>
    public static void CheckTraining(ModelConfig config, string option = "--batch")
    {
        double perSample = 8.0 * (config.DataWidth + config.LatentSize
            + config.GeneratorHidden.Sum() + config.DiscriminatorHidden.Sum() + config.EncoderHidden.Sum() + config.DecoderHidden.Sum());
        if (config.IsConvolutional)
        {
            double half = config.ImageSide / 2.0, quarter = config.ImageSide / 4.0;
            perSample += 8.0 * (half * half * config.ConvChannels[0] + quarter * quarter * config.ConvChannels[1]);
        }
        Require(perSample * sizeof(float) * config.BatchSize, (double)config.BatchSize * Math.Max(config.DataWidth, config.ImageSide * config.ImageSide),
            $"batches of {English.Plural(config.BatchSize, "sample")}", option);
    }

    private static string Gib(double bytes) => (bytes / (1L << 30)).ToString("F1", CultureInfo.InvariantCulture) + " GiB";
}
