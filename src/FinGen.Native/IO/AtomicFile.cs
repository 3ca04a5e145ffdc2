using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace FinGen.Native.IO;

/// <summary>
/// Files that appear whole or not at all. Each is written to a temporary file beside its target (so the final move
/// is a rename within one file system), flushed to disk, then moved into place: over the old file for a run's own
/// files (<see cref="Write"/> with <c>replace: true</c>), or with a no-replace move for anything a user names
/// (<c>replace: false</c>: of two runs writing one path, exactly one wins and the other changes nothing).
///
/// The temporary file is held under an exclusive lock (flock on Unix) from its creation until it has been moved,
/// so <see cref="CleanStray"/> can tell a live writer's file (locked) from one a killed run left behind (unlocked),
/// and removes only the latter.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>What every temporary name carries after the target's name: <c>.tmp-</c>, the writer's process id, 16 hex digits.</summary>
    public const string TempMarker = ".tmp-";

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; on any failure nothing is left behind.</summary>
    /// <param name="replace">True: replace an existing file (a run's own checkpoint). False: fail if the path exists.</param>
    /// <param name="option">The command-line option that named the path, for the message when it exists.</param>
    /// <exception cref="FinGenException">The path exists (and <paramref name="replace"/> is false), or its folder does not.</exception>
    public static void Write(string path, Action<Stream> write, bool replace, string? option = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string? folder = Path.GetDirectoryName(full);
        if (folder is not null && !Directory.Exists(folder))
            Throw.User($"{Named(path, option)}: the folder {(Path.GetDirectoryName(path) is { Length: > 0 } given ? given : folder)} does not exist");
        if (!replace) MustNotExist(path, full, option); // fail before the work where we can; the move checks again
        string temp = TempPathFor(full);
        FileStream? stream = null;
        try
        {
            stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 1 << 16);
            try
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            catch (IOException e)
            {
                // A full disk, a quota, a failing device: name the file the user asked for, not the temporary one.
                throw new FinGenException($"{Named(path, option)}: cannot write: {e.Message} (nothing was left behind)", e);
            }
            // On Unix the file is moved while still open (and locked), so a cleaner never sees it unlocked under its temporary name.
            if (OperatingSystem.IsWindows())
            {
                stream.Dispose();
                stream = null;
            }
            Move(temp, path, full, replace, option);
        }
        catch
        {
            stream?.Dispose();
            stream = null;
            TryDelete(temp);
            throw;
        }
        finally
        {
            stream?.Dispose();
        }
    }

    /// <summary>A fresh temporary name beside <paramref name="fullPath"/>.</summary>
    public static string TempPathFor(string fullPath) =>
        $"{fullPath}{TempMarker}{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";

    /// <summary>True for a name <see cref="TempPathFor"/> makes (or the older checkpoint writer made: no process id).</summary>
    public static bool IsTempName(string fileName) => TempName().IsMatch(fileName);

    /// <summary>
    /// Deletes the temporary files of ours in <paramref name="directory"/> that no live writer holds (left by a run that
    /// was killed while writing); returns how many. Files held by a running writer are left alone.
    /// </summary>
    public static int CleanStray(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        int removed = 0;
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            if (!IsTempName(Path.GetFileName(file))) continue;
            try
            {
                using var held = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                File.Delete(file); // while holding the lock: no writer can be mid-write on it
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // a live writer holds it, or it is already gone
            }
        }
        return removed;
    }

    private static void Move(string temp, string path, string full, bool replace, string? option)
    {
        try
        {
            // Without overwrite, .NET moves by link + unlink on Unix: link fails if the target exists, atomically.
            File.Move(temp, full, overwrite: replace);
        }
        catch (IOException) when (!replace && (File.Exists(full) || Directory.Exists(full)))
        {
            Throw.User($"{Named(path, option)} already exists (another run wrote it first); nothing was overwritten");
        }
    }

    private static void MustNotExist(string path, string full, string? option)
    {
        if (File.Exists(full) || Directory.Exists(full))
            Throw.User($"{Named(path, option)} already exists; choose another path (nothing was overwritten)");
    }

    private static string Named(string path, string? option) => option is null ? path : $"{option} {path}";

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort */ }
    }

    [GeneratedRegex(@"\.tmp-([0-9]+-)?[0-9a-f]{16}$", RegexOptions.CultureInvariant)]
    private static partial Regex TempName();
}
