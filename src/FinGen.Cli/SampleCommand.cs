using System.CommandLine;
using System.Globalization;
using FinGen.Native;
using FinGen.Native.Data;
using nietras.SeparatedValues;

namespace FinGen.Cli;

internal static class SampleCommand
{
    public static Command Create(CliConsole console)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint.safetensors written by 'fingen train'", Required = true };
        var count = new Option<int>("--count") { Description = "number of samples", DefaultValueFactory = _ => 64 };
        var seed = Options.Seed(0);
        var output = new Option<string?>("--out") { Description = "FILE.csv (one sample a row; decoded log returns for price models) or FILE.png (a grid); default: CSV on stdout" };
        var command = new Command("sample", "Draw samples from a trained checkpoint") { checkpoint, count, seed, output };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(checkpoint)!;
            int n = Options.AtLeast(parse.GetValue(count), 1, "--count");
            string? outPath = parse.GetValue(output);
            string extension = outPath is null ? ".csv" : Path.GetExtension(outPath).ToLowerInvariant();
            if (extension is not (".csv" or ".png")) Options.Throw($"--out {outPath}: use a .csv or .png file name");
            if (outPath is not null) Options.MustNotExist(outPath, "--out");
            Options.MustExist(path, "--checkpoint");

            using var sampler = Sampler.Load(path);
            var samples = new float[(long)n * sampler.SampleSize];
            sampler.Sample(samples, n, parse.GetValue(seed));
            var encoding = DataSets.EncodingOf(sampler.DataMetadata);
            if (extension == ".png")
            {
                var (height, width) = encoding is not null ? (encoding.Height, encoding.Width) : (sampler.Config.ImageSide, sampler.Config.ImageSide);
                if (height == 0) Options.Throw($"--out {outPath}: this model's samples are not images; write a .csv");
                Pictures.SaveGrid(outPath!, samples, n, height, width, $"{n} samples of {Path.GetFileName(path)}");
            }
            else
            {
                using var writer = outPath is null
                    ? Sep.New(',').Writer().To(console.Out)
                    : Sep.New(',').Writer().ToFile(outPath);
                WriteCsv(writer, samples, n, sampler.SampleSize, encoding);
            }
            if (outPath is not null) console.Out.WriteLine($"wrote {n} samples to {outPath}");
            return Cli.Ok;
        });
        return command;
    }

    private static void WriteCsv(SepWriter writer, float[] samples, int count, int width, IImageEncoding? encoding)
    {
        int columns = encoding?.WindowLength ?? width;
        var names = Enumerable.Range(0, columns).Select(i => (encoding is null ? "p" : "r") + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var values = new float[columns];
        for (int s = 0; s < count; s++)
        {
            var sample = samples.AsSpan(s * width, width);
            if (encoding is null) sample.CopyTo(values);
            else encoding.Decode(sample, values);
            using var row = writer.NewRow();
            for (int i = 0; i < columns; i++) row[names[i]].Format(values[i]);
        }
    }
}
