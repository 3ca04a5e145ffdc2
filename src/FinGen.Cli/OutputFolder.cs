using FinGen.Native.IO;

namespace FinGen.Cli;

/// <summary>
/// A folder a command fills with several files (eval's report and plots). It must be new or empty (stray temporary
/// files of ours aside, which are removed); its first file is written with a no-replace move, which is the claim: of
/// two runs, the one that loses that move fails having written nothing. A run that fails after winning removes every
/// file it wrote (and the folder, if it created it), so a failure leaves nothing behind.
/// </summary>
internal sealed class OutputFolder : IDisposable
{
    private readonly bool _created;
    private bool _claimed, _done;

    private OutputFolder(string path, bool created)
    {
        Path = path;
        _created = created;
    }

    public string Path { get; }

    public static OutputFolder Open(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) Options.Throw($"{option} is empty; name a directory");
        if (File.Exists(path)) Options.Throw($"{option} {path} is a file; choose a directory");
        string? parent = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (parent is not null && !Directory.Exists(parent))
            Options.Throw($"{option} {path}: the folder {parent} does not exist; create it first");
        bool created = !Directory.Exists(path);
        Directory.CreateDirectory(path);
        AtomicFile.CleanStray(path);
        if (Directory.EnumerateFileSystemEntries(path).Any())
            Options.Throw($"{option} {path} is not empty; choose a new directory (nothing was overwritten)");
        return new OutputFolder(path, created);
    }

    /// <summary>Writes the first file (no replace): after it, the folder is this run's.</summary>
    public string Claim(Func<string, string> write)
    {
        string written = write(Path);
        _claimed = true;
        return written;
    }

    /// <summary>Keeps what was written.</summary>
    public void Complete() => _done = true;

    public void Dispose()
    {
        if (_done) return;
        if (_claimed)
        {
            foreach (var file in Directory.EnumerateFiles(Path))
            {
                try { File.Delete(file); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort */ }
            }
        }
        if (_created)
        {
            try { Directory.Delete(Path, recursive: false); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* another run's files are in it */ }
        }
    }
}
