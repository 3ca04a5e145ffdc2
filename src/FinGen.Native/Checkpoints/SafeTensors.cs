using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace FinGen.Native.Checkpoints;

/// <summary>
/// One float32 tensor: a name, a row-major (C order) shape and its elements.
/// A shape of <c>[]</c> is a scalar holding one element; a shape with a zero dimension holds none.
/// </summary>
public sealed class SafeTensorsTensor
{
    /// <exception cref="ArgumentException">
    /// The name is empty, a dimension is negative, or <paramref name="data"/> does not hold exactly
    /// product(<paramref name="shape"/>) elements.
    /// </exception>
    public SafeTensorsTensor(string name, int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (name.Length == 0)
            Throw.Argument("A tensor name must not be empty.", nameof(name));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                Throw.Argument($"Tensor '{name}': shape {SafeTensors.FormatShape(shape)} has a negative dimension.", nameof(shape));
            count = d == 0 || count == 0 ? 0 : checked(count * d);
        }
        if (count != data.Length)
            Throw.Argument($"Tensor '{name}': shape {SafeTensors.FormatShape(shape)} needs {count} elements but data has {data.Length}.", nameof(data));
        Name = name;
        Shape = shape;
        Data = data;
    }

    public string Name { get; }

    /// <summary>Row-major dimensions, outermost first (the same convention as PyTorch and NumPy).</summary>
    public int[] Shape { get; }

    public float[] Data { get; }
}

/// <summary>
/// One tensor entry of a loaded safetensors file, of any dtype. Its bytes are a read-only view
/// of the file's data buffer (little-endian, row-major).
/// </summary>
public sealed class SafeTensorsEntry
{
    internal SafeTensorsEntry(string name, string dtype, int[] shape, long begin, long end, ReadOnlyMemory<byte> bytes)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        DataBegin = begin;
        DataEnd = end;
        Bytes = bytes;
    }

    public string Name { get; }

    /// <summary>The safetensors dtype name as written in the header, e.g. <c>"F32"</c>, <c>"BF16"</c>, <c>"I64"</c>.</summary>
    public string DType { get; }

    public int[] Shape { get; }

    /// <summary>Start of the tensor's bytes, relative to the data buffer after the header.</summary>
    public long DataBegin { get; }

    /// <summary>End (exclusive) of the tensor's bytes, relative to the data buffer after the header.</summary>
    public long DataEnd { get; }

    public ReadOnlyMemory<byte> Bytes { get; }

    public long ElementCount => SafeTensors.ElementCount(Shape);
}

/// <summary>
/// A loaded safetensors file. Entries of every dtype are parsed and validated; only F32 entries
/// can be read as floats (<see cref="Get"/>), other dtypes fail there with a message naming the
/// tensor and its dtype, and stay reachable as raw bytes through <see cref="Entries"/>.
/// </summary>
public sealed class SafeTensorsFile
{
    private readonly Dictionary<string, SafeTensorsEntry> _byName;

    internal SafeTensorsFile(string path, IReadOnlyDictionary<string, string> metadata, List<SafeTensorsEntry> entries)
    {
        Path = path;
        Metadata = metadata;
        Entries = entries.AsReadOnly();
        _byName = new Dictionary<string, SafeTensorsEntry>(entries.Count, StringComparer.Ordinal);
        foreach (SafeTensorsEntry e in entries)
            _byName.Add(e.Name, e);
    }

    /// <summary>The path the file was read from, as given to <see cref="SafeTensors.Read"/>.</summary>
    public string Path { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>All tensors, ordered by their position in the data buffer.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }

    /// <summary>Tensor names, ordered by their position in the data buffer.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    public int Count => Entries.Count;

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The entry called <paramref name="name"/>, of any dtype.</summary>
    /// <exception cref="FinGenException">The file has no such tensor.</exception>
    public SafeTensorsEntry GetEntry(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out SafeTensorsEntry? e))
            return e;
        return Throw.User<SafeTensorsEntry>(
            $"Checkpoint '{Path}' has no tensor '{SafeTensors.Printable(name)}' ({Count} tensors in the file).");
    }

    /// <summary>
    /// The F32 tensor called <paramref name="name"/>, decoded into a new float array the caller owns
    /// (each call returns a fresh copy).
    /// </summary>
    /// <exception cref="FinGenException">The file has no such tensor, or it is not F32.</exception>
    public SafeTensorsTensor Get(string name)
    {
        SafeTensorsEntry e = GetEntry(name);
        if (e.DType != "F32")
        {
            Throw.User($"Checkpoint '{Path}': tensor '{SafeTensors.Printable(name)}' has dtype {e.DType}, " +
                       "but only F32 tensors can be loaded as float32.");
        }
        var data = new float[checked((int)e.ElementCount)];
        // Plain byte copy into the float array: no alignment requirement on the source.
        e.Bytes.Span.CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
        return new SafeTensorsTensor(e.Name, (int[])e.Shape.Clone(), data);
    }
}

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors):
/// an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping tensor names to
/// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data buffer that
/// follows the header) plus an optional "__metadata__" string→string object, then the raw
/// little-endian tensor bytes.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted on read (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    // Bits per element of every dtype the format defines. Sub-byte dtypes (F4, F6_*) are allowed
    // as long as the tensor's total bit count is a whole number of bytes.
    private static readonly Dictionary<string, int> DTypeBits = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 8,
        ["U8"] = 8,
        ["I8"] = 8,
        ["F8_E5M2"] = 8,
        ["F8_E4M3"] = 8,
        ["F8_E8M0"] = 8,
        ["F4"] = 4,
        ["F6_E2M3"] = 6,
        ["F6_E3M2"] = 6,
        ["I16"] = 16,
        ["U16"] = 16,
        ["F16"] = 16,
        ["BF16"] = 16,
        ["I32"] = 32,
        ["U32"] = 32,
        ["F32"] = 32,
        ["I64"] = 64,
        ["U64"] = 64,
        ["F64"] = 64,
        ["C64"] = 64,
    };

    // ------------------------------------------------------------------ writing

    /// <summary>
    /// Writes <paramref name="tensors"/> (as F32, contiguously, in the given order) and
    /// <paramref name="metadata"/> to <paramref name="path"/>. The file is written to a temporary
    /// file in the same directory, flushed to disk and then renamed over <paramref name="path"/>,
    /// so a crash or error never leaves a half-written checkpoint; on failure the temporary file is
    /// deleted and an existing file at <paramref name="path"/> is left as it was. With <paramref name="replace"/>
    /// false the move refuses to replace an existing file (the claim of a new run folder: of two runs, one wins).
    /// The JSON header is padded with spaces so the data buffer starts 8-byte aligned.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor is null, a name is empty, duplicated or "__metadata__", or a metadata key is empty.</exception>
    /// <exception cref="FinGenException">The file could not be written (missing directory, no permission, disk full...).</exception>
    public static void Write(string path, IEnumerable<SafeTensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata, bool replace = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        RequireLittleEndian(path);

        // Validate everything before touching the file system.
        List<SafeTensorsTensor> list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (SafeTensorsTensor? t in list)
        {
            if (t is null)
                Throw.Argument("The tensor list contains null.", nameof(tensors));
            if (t.Name.Length == 0)
                Throw.Argument("A tensor name must not be empty.", nameof(tensors));
            if (t.Name == MetadataKey)
                Throw.Argument($"'{MetadataKey}' is reserved and cannot be a tensor name.", nameof(tensors));
            if (!names.Add(t.Name))
                Throw.Argument($"Duplicate tensor name '{t.Name}'.", nameof(tensors));
            if (ElementCount(t.Shape) != t.Data.Length) // arrays are mutable; re-check
                Throw.Argument($"Tensor '{t.Name}': shape {FormatShape(t.Shape)} does not match its {t.Data.Length} elements.", nameof(tensors));
        }
        if (metadata is not null)
        {
            foreach (KeyValuePair<string, string> kv in metadata)
            {
                if (string.IsNullOrEmpty(kv.Key))
                    Throw.Argument("A metadata key must not be empty.", nameof(metadata));
                if (kv.Value is null)
                    Throw.Argument($"Metadata value for '{kv.Key}' is null.", nameof(metadata));
            }
        }

        byte[] header = BuildHeader(list, metadata);

        string fullPath = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(System.IO.Path.GetDirectoryName(fullPath)))
            Throw.User($"Cannot write checkpoint '{path}': directory '{System.IO.Path.GetDirectoryName(fullPath)}' does not exist.");
        try
        {
            IO.AtomicFile.Write(fullPath, fs =>
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (SafeTensorsTensor t in list)
                    fs.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
            }, replace);
        }
        catch (FinGenException ex) when (!replace && File.Exists(fullPath))
        {
            throw new FinGenException($"Cannot write checkpoint '{path}': it already exists (another run wrote it first); nothing was overwritten.", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            string why = Directory.Exists(fullPath) ? "a directory exists at that path" : OneLine(ex.Message);
            throw new FinGenException($"Cannot write checkpoint '{path}': {why}.", ex);
        }
    }

    private static byte[] BuildHeader(List<SafeTensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + tensors.Count * 96);
        // Relaxed escaping keeps names like "fc1+bias" readable; the output is still valid JSON.
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };
        using (var w = new Utf8JsonWriter(buffer, options))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (KeyValuePair<string, string> kv in metadata)
                    w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (SafeTensorsTensor t in tensors)
            {
                long size = (long)t.Data.Length * sizeof(float);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (int d in t.Shape)
                    w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + size);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += size;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so 8 + N is a multiple of 8, i.e. the data buffer starts 8-byte aligned.
        int n = buffer.WrittenCount;
        int padded = (n + 7) & ~7;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(n).Fill((byte)' ');
        return header;
    }

    // ------------------------------------------------------------------ reading

    /// <summary>
    /// Reads and validates a safetensors file (one read of the whole file). Every entry is checked:
    /// known dtype, non-negative dimensions, offsets inside the data buffer, byte size matching
    /// shape × dtype size, no overlaps, and — as the format requires — a data buffer fully covered by
    /// the tensors (no gaps or trailing bytes).
    /// </summary>
    /// <exception cref="FinGenException">The file is missing, unreadable or not a valid safetensors file; the message names the file and the problem.</exception>
    public static SafeTensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireLittleEndian(path);
        byte[] bytes = ReadAll(path);

        if (bytes.Length < 8)
            Fail(path, $"file is {bytes.Length} bytes, shorter than the 8-byte header length prefix");

        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        long available = bytes.Length - 8L;
        if (headerLen > MaxHeaderBytes)
            Fail(path, $"header length {headerLen} bytes is absurd (limit {MaxHeaderBytes}); not a safetensors file or corrupt");
        if ((long)headerLen > available)
            Fail(path, $"header length {headerLen} bytes is larger than the file ({available} bytes after the length prefix); truncated or not a safetensors file");

        int hLen = (int)headerLen;
        ReadOnlySpan<byte> headerBytes = bytes.AsSpan(8, hLen);
        if (!Utf8.IsValid(headerBytes))
            Fail(path, "header is not valid UTF-8");

        ReadOnlyMemory<byte> data = bytes.AsMemory(8 + hLen);
        JsonDocument doc;
        try
        {
            // Trailing whitespace padding (what Python's writer emits) is accepted by the JSON parser.
            doc = JsonDocument.Parse(bytes.AsMemory(8, hLen), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            return Fail<SafeTensorsFile>(path, $"header is not valid JSON: {OneLine(ex.Message)}");
        }

        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                Fail(path, $"header is a JSON {Kind(root.ValueKind)}, expected an object");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<SafeTensorsEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool sawMetadata = false;

            foreach (JsonProperty prop in root.EnumerateObject())
            {
                if (prop.Name == MetadataKey)
                {
                    if (sawMetadata)
                        Fail(path, $"header has two \"{MetadataKey}\" objects");
                    sawMetadata = true;
                    ParseMetadata(path, prop.Value, metadata);
                    continue;
                }
                if (!seen.Add(prop.Name))
                    Fail(path, $"tensor '{Printable(prop.Name)}' appears twice in the header");
                entries.Add(ParseEntry(path, prop.Name, prop.Value, data));
            }

            CheckLayout(path, entries, data.Length);
            return new SafeTensorsFile(path, metadata.AsReadOnly(), entries);
        }
    }

    private static byte[] ReadAll(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            long length = fs.Length;
            if (length > Array.MaxLength)
                Fail(path, $"file is {length} bytes; files over {Array.MaxLength} bytes are not supported");
            var bytes = new byte[length];
            fs.ReadExactly(bytes);
            return bytes;
        }
        catch (FileNotFoundException ex)
        {
            throw new FinGenException($"Cannot read checkpoint '{path}': file not found.", ex);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FinGenException($"Cannot read checkpoint '{path}': directory not found.", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            string why = Directory.Exists(path) ? "it is a directory, not a file" : OneLine(ex.Message);
            throw new FinGenException($"Cannot read checkpoint '{path}': {why}.", ex);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            Fail(path, $"\"{MetadataKey}\" is a JSON {Kind(value.ValueKind)}, expected an object of strings");
        foreach (JsonProperty kv in value.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                Fail(path, $"\"{MetadataKey}\" value for key '{Printable(kv.Name)}' is a JSON {Kind(kv.Value.ValueKind)}, expected a string");
            if (!metadata.TryAdd(kv.Name, kv.Value.GetString()!))
                Fail(path, $"\"{MetadataKey}\" has key '{Printable(kv.Name)}' twice");
        }
    }

    private static SafeTensorsEntry ParseEntry(string path, string name, JsonElement value, ReadOnlyMemory<byte> data)
    {
        string t = $"tensor '{Printable(name)}'";
        if (value.ValueKind != JsonValueKind.Object)
            Fail(path, $"{t} is a JSON {Kind(value.ValueKind)}, expected an object with dtype, shape and data_offsets");

        // Unknown extra keys in an entry are ignored.
        JsonElement dtypeEl = Required(path, t, value, "dtype", JsonValueKind.String, "a string");
        JsonElement shapeEl = Required(path, t, value, "shape", JsonValueKind.Array, "an array of integers");
        JsonElement offsEl = Required(path, t, value, "data_offsets", JsonValueKind.Array, "an array [begin, end]");

        string dtype = dtypeEl.GetString()!;
        if (!DTypeBits.TryGetValue(dtype, out int bits))
            Fail(path, $"{t} has unknown dtype \"{Printable(dtype)}\"");

        var shape = new int[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (JsonElement d in shapeEl.EnumerateArray())
        {
            long dim = d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v)
                ? v
                : Fail<long>(path, $"{t}: \"shape\" element {i} is {Raw(d)}, expected an integer");
            if (dim < 0)
                Fail(path, $"{t} has negative dimension {dim} in shape {shapeEl.GetRawText()}");
            if (dim > int.MaxValue)
                Fail(path, $"{t} has dimension {dim} in shape {shapeEl.GetRawText()}, larger than {int.MaxValue}");
            shape[i++] = (int)dim;
        }

        if (offsEl.GetArrayLength() != 2)
            Fail(path, $"{t}: \"data_offsets\" has {offsEl.GetArrayLength()} elements, expected [begin, end]");
        long begin = Offset(path, t, offsEl[0], "begin");
        long end = Offset(path, t, offsEl[1], "end");
        if (begin > end)
            Fail(path, $"{t}: data_offsets [{begin}, {end}] has begin > end");
        if (end > data.Length)
            Fail(path, $"{t}: data_offsets [{begin}, {end}] lie outside the {data.Length}-byte data buffer");

        long count;
        long bytes;
        try
        {
            count = ElementCount(shape);
            long totalBits = checked(count * bits);
            if (totalBits % 8 != 0)
                Fail(path, $"{t}: shape {FormatShape(shape)} {dtype} is {totalBits} bits, not a whole number of bytes");
            bytes = totalBits / 8;
        }
        catch (OverflowException)
        {
            return Fail<SafeTensorsEntry>(path, $"{t}: shape {FormatShape(shape)} is too large");
        }
        if (bytes != end - begin)
            Fail(path, $"{t}: header says shape {FormatShape(shape)} {dtype} = {bytes} bytes but offsets span {end - begin}");

        return new SafeTensorsEntry(name, dtype, shape, begin, end, data.Slice((int)begin, (int)(end - begin)));
    }

    private static JsonElement Required(string path, string t, JsonElement obj, string key, JsonValueKind kind, string expected)
    {
        if (!obj.TryGetProperty(key, out JsonElement el))
            Fail(path, $"{t} has no \"{key}\"");
        if (el.ValueKind != kind)
            Fail(path, $"{t}: \"{key}\" is a JSON {Kind(el.ValueKind)}, expected {expected}");
        return el;
    }

    private static long Offset(string path, string t, JsonElement el, string which)
    {
        if (el.ValueKind != JsonValueKind.Number || !el.TryGetInt64(out long v) || v < 0)
            return Fail<long>(path, $"{t}: data_offsets {which} is {Raw(el)}, expected a non-negative integer");
        return v;
    }

    /// <summary>
    /// The format requires the data buffer to be fully indexed: sorted by offset, each tensor must
    /// start exactly where the previous one ended, and the last must end at the end of the file.
    /// Overlaps, holes and trailing unreferenced bytes are all rejected.
    /// </summary>
    private static void CheckLayout(string path, List<SafeTensorsEntry> entries, long dataLength)
    {
        entries.Sort(static (a, b) =>
        {
            int c = a.DataBegin.CompareTo(b.DataBegin);
            return c != 0 ? c : a.DataEnd.CompareTo(b.DataEnd);
        });
        long expected = 0;
        SafeTensorsEntry? previous = null;
        foreach (SafeTensorsEntry e in entries)
        {
            if (e.DataBegin < expected)
            {
                Fail(path, $"tensors '{Printable(previous!.Name)}' [{previous.DataBegin}, {previous.DataEnd}) and " +
                           $"'{Printable(e.Name)}' [{e.DataBegin}, {e.DataEnd}) overlap");
            }
            if (e.DataBegin > expected)
                Fail(path, $"bytes [{expected}, {e.DataBegin}) of the data buffer belong to no tensor (gap before '{Printable(e.Name)}')");
            expected = e.DataEnd;
            if (e.DataEnd > e.DataBegin || previous is null)
                previous = e;
        }
        if (expected != dataLength)
            Fail(path, $"{dataLength - expected} trailing bytes after the last tensor belong to no tensor (data buffer is {dataLength} bytes, tensors end at {expected})");
    }

    // ------------------------------------------------------------------ helpers

    internal static long ElementCount(int[] shape)
    {
        long count = 1;
        foreach (int d in shape)
        {
            if (d == 0)
                return 0;
            count = checked(count * d);
        }
        return count;
    }

    internal static string FormatShape(int[] shape) =>
        "[" + string.Join(",", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>Escapes control characters so a name cannot break a one-line message.</summary>
    internal static string Printable(string s)
    {
        if (!s.Any(char.IsControl))
            return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            if (char.IsControl(c))
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else
                sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>An exception message flattened to one line, without a trailing period.</summary>
    private static string OneLine(string message) =>
        message.ReplaceLineEndings(" ").Trim().TrimEnd('.').TrimEnd();

    private static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    private static string Raw(JsonElement el)
    {
        string raw = el.GetRawText();
        return raw.Length <= 40 ? Printable(raw) : Printable(raw[..40]) + "...";
    }

    private static void RequireLittleEndian(string path)
    {
        if (!BitConverter.IsLittleEndian)
            Throw.User($"Checkpoint '{path}': safetensors I/O requires a little-endian machine; this one is big-endian.");
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string path, string problem) =>
        throw new FinGenException($"Invalid safetensors file '{path}': {problem}.");

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static T Fail<T>(string path, string problem) =>
        throw new FinGenException($"Invalid safetensors file '{path}': {problem}.");
}
