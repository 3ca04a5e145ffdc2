using System.Globalization;
using System.Text;
using FinGen.Native.Checkpoints;
using FinGen.Native.IO;
using FinGen.Native.Models;

namespace FinGen.Native.Training;

/// <summary>
/// A training run's folder: <c>checkpoint.safetensors</c> and <c>metrics.csv</c>, kept consistent so that a run killed
/// at any moment can be finished by resuming in place.
/// <list type="bullet">
/// <item>A new folder is claimed, not checked: the first checkpoint (step 0) is moved in with a no-replace move, so of
/// two runs started on one folder exactly one gets it and the other changes nothing.</item>
/// <item>metrics.csv is held open under an exclusive lock for the whole run (a second run resuming the folder is
/// refused), and flushed to disk before every checkpoint, so it always holds every row up to the checkpoint's step.</item>
/// <item>Each checkpoint replaces the last by an atomic rename (<see cref="AtomicFile"/>); the folder never holds a
/// half-written one. Resuming truncates metrics.csv after the checkpoint's step (and any torn last row), so the
/// resumed run appends exactly the rows an uninterrupted run would have written.</item>
/// <item>Temporary files a killed run left are removed when the next run opens the folder.</item>
/// </list>
/// </summary>
public sealed class RunDirectory : IDisposable
{
    public const string MetricsFile = "metrics.csv";

    private readonly FileStream _metrics;
    private readonly StreamWriter _writer;
    private int _columns;

    private RunDirectory(string path, FileStream metrics, int columns)
    {
        Path = path;
        _metrics = metrics;
        _columns = columns;
        _writer = new StreamWriter(metrics, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 1 << 16) { NewLine = "\n" };
    }

    /// <summary>The folder, as given.</summary>
    public string Path { get; }

    public string CheckpointPath => System.IO.Path.Combine(Path, Checkpoint.FileName);

    public string MetricsPath => System.IO.Path.Combine(Path, MetricsFile);

    /// <summary>Temporary files of a killed earlier run that opening the folder removed.</summary>
    public int StrayFilesRemoved { get; private set; }

    /// <summary>
    /// Claims <paramref name="path"/> for a new run of <paramref name="model"/> (created if missing; else it must be
    /// empty but for stray temporary files of ours) and writes its step-0 checkpoint and metrics.csv's header.
    /// </summary>
    /// <param name="option">The option that named the folder, for messages.</param>
    public static RunDirectory Create(string path, GenerativeModel model, IReadOnlyDictionary<string, string> dataMetadata, RunRecord record, string option = "--out")
    {
        ArgumentNullException.ThrowIfNull(model);
        if (string.IsNullOrWhiteSpace(path)) Throw.User($"{option} is empty; name a directory");
        if (File.Exists(path)) Throw.User($"{option} {path} is a file; choose a directory");
        bool created = !Directory.Exists(path);
        Directory.CreateDirectory(path);
        int removed = AtomicFile.CleanStray(path);
        string checkpoint = System.IO.Path.Combine(path, Checkpoint.FileName);
        FileStream? metrics = null;
        try
        {
            if (Directory.EnumerateFileSystemEntries(path).Any())
                Throw.User($"{option} {path} is not empty; choose a new directory, or continue the run there with --resume {path} (nothing was overwritten)");
            try
            {
                Checkpoint.Save(checkpoint, model, dataMetadata, record, replace: false);
            }
            catch (FinGenException) when (File.Exists(checkpoint))
            {
                Throw.User($"{option} {path} was claimed by another run at the same time; choose a new directory (nothing was overwritten)");
            }
            metrics = new FileStream(System.IO.Path.Combine(path, MetricsFile), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            var run = new RunDirectory(path, metrics, model.MetricNames.Count + 1) { StrayFilesRemoved = removed };
            run._writer.WriteLine(string.Join(',', model.MetricNames.Prepend("step")));
            run.Flush();
            return run;
        }
        catch
        {
            metrics?.Dispose();
            if (created) TryRemoveEmpty(path);
            throw;
        }
    }

    /// <summary>
    /// Opens a run folder to continue it in place: locks metrics.csv (refusing a folder another run is using),
    /// removes stray temporary files and reads the checkpoint. Call <see cref="ContinueMetrics"/> with the model loaded from it.
    /// </summary>
    public static (RunDirectory Run, Checkpoint.CheckpointFile Checkpoint) Resume(string path, string option = "--resume")
    {
        string checkpointPath = System.IO.Path.Combine(path, Checkpoint.FileName);
        string metricsPath = System.IO.Path.Combine(path, MetricsFile);
        if (!File.Exists(checkpointPath))
            Throw.User($"{option} {path}: no {Checkpoint.FileName} in that directory (a run killed before its first checkpoint has nothing to resume; start it again)");
        FileStream metrics;
        try
        {
            metrics = new FileStream(metricsPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            return Throw.User<(RunDirectory, Checkpoint.CheckpointFile)>($"{option} {path}: another fingen run is using that directory ({MetricsFile} is locked)");
        }
        try
        {
            int removed = AtomicFile.CleanStray(path);
            var checkpoint = Checkpoint.Read(checkpointPath);
            return (new RunDirectory(path, metrics, columns: 0) { StrayFilesRemoved = removed }, checkpoint);
        }
        catch
        {
            metrics.Dispose();
            throw;
        }
    }

    /// <summary>Appends one metrics row (buffered; <see cref="Flush"/> puts it on disk).</summary>
    public void Record(long step, ReadOnlySpan<float> values)
    {
        if (values.Length != _columns - 1) Throw.Argument($"{_columns - 1} metrics expected, got {values.Length}");
        _writer.Write(step.ToString(CultureInfo.InvariantCulture));
        foreach (float v in values)
        {
            _writer.Write(',');
            _writer.Write(v.ToString(CultureInfo.InvariantCulture));
        }
        _writer.WriteLine();
    }

    /// <summary>metrics.csv onto the disk, then the model's checkpoint over the last one: the rows never fall behind it.</summary>
    /// <exception cref="NonFiniteCheckpointException">The model holds NaN or ±∞; the last checkpoint is kept.</exception>
    public void SaveCheckpoint(GenerativeModel model, IReadOnlyDictionary<string, string> dataMetadata, RunRecord record)
    {
        Flush();
        Checkpoint.Save(CheckpointPath, model, dataMetadata, record, replace: true);
    }

    /// <summary>Writes one more file of the run (config.json, pictures) atomically, replacing an earlier one.</summary>
    public string WriteFile(string name, Action<Stream> write)
    {
        string path = System.IO.Path.Combine(Path, name);
        AtomicFile.Write(path, write, replace: true);
        return path;
    }

    public void Flush()
    {
        _writer.Flush();
        _metrics.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Cuts metrics.csv back to the header and the complete rows up to <paramref name="model"/>'s step (the resumed
    /// checkpoint's), so the rows appended next are exactly an uninterrupted run's; a missing or empty file gets the header.
    /// </summary>
    public void ContinueMetrics(GenerativeModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _columns = model.MetricNames.Count + 1;
        long step = model.State.Step;
        string header = string.Join(',', model.MetricNames.Prepend("step"));
        _metrics.Position = 0;
        var bytes = new byte[_metrics.Length];
        _metrics.ReadExactly(bytes);
        long keep = 0;
        int lineStart = 0;
        bool first = true;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)'\n') continue;
            string line = Encoding.UTF8.GetString(bytes, lineStart, i - lineStart);
            if (first)
            {
                if (line != header) Throw.User($"{MetricsPath}: the header is '{line}', expected '{header}'; the file is not this run's");
                first = false;
            }
            else
            {
                var fields = line.Split(',');
                if (fields.Length != _columns || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out long rowStep) || rowStep > step)
                    break;
            }
            keep = i + 1;
            lineStart = i + 1;
        }
        _metrics.SetLength(keep);
        _metrics.Position = keep;
        if (keep == 0) _writer.WriteLine(header);
        Flush();
    }

    private static void TryRemoveEmpty(string path)
    {
        try { Directory.Delete(path, recursive: false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* another run's files are in it */ }
    }

    public void Dispose()
    {
        try { _writer.Flush(); }
        finally { _metrics.Dispose(); }
    }
}
