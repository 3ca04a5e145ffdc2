using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using FinGen.Native.Checkpoints;
using NUnit.Framework;

namespace FinGen.Native.Tests;

[TestFixture]
public sealed class SafeTensorsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "fingen-safetensors-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    // ------------------------------------------------------------------ helpers

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static float[] RandomData(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
            a[i] = (float)(rng.NextDouble() * 2 - 1) * 1000f;
        return a;
    }

    private static int[] Bits(float[] a) => MemoryMarshal.Cast<float, int>(a.AsSpan()).ToArray();

    private static byte[] F32Bytes(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), values[i]);
        return b;
    }

    /// <summary>Builds a file: 8-byte LE length, the header padded with spaces to a multiple of 8, then data.</summary>
    private static byte[] BuildFile(string headerJson, byte[] data)
    {
        byte[] json = Encoding.UTF8.GetBytes(headerJson);
        int padded = (json.Length + 7) / 8 * 8;
        return BuildRaw((ulong)padded, json, new byte[padded - json.Length].Select(_ => (byte)' ').ToArray(), data);
    }

    private static byte[] BuildRaw(ulong headerLength, params byte[][] parts)
    {
        using var ms = new MemoryStream();
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, headerLength);
        ms.Write(len);
        foreach (byte[] p in parts)
            ms.Write(p);
        return ms.ToArray();
    }

    private string WriteFile(string name, byte[] bytes)
    {
        string path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static FinGenException AssertInvalid(string path, string phrase)
    {
        FinGenException? ex = Assert.Throws<FinGenException>(() => SafeTensors.Read(path));
        Assert.That(ex, Is.Not.Null);
        Assert.That(ex!.Message, Does.Contain(Path.GetFileName(path)));
        Assert.That(ex.Message, Does.Contain(phrase));
        Assert.That(ex.Message, Does.Not.Contain('\n'));
        return ex;
    }

    private string[] TempLeftovers() =>
        Directory.GetFiles(_dir).Where(f => f.Contains(".tmp-", StringComparison.Ordinal)).ToArray();

    // ------------------------------------------------------------------ round trip

    [Test]
    public void RoundTrip_PreservesShapesDataOrderAndMetadata()
    {
        var rng = new Random(1234);
        var tensors = new List<SafeTensorsTensor>
        {
            new("fc1.weight", [128, 784], RandomData(rng, 128 * 784)),
            new("fc1.bias", [128], RandomData(rng, 128)),
            new("scalar", [], [3.25f]),
            new("empty", [0, 5], []),
            new("cube", [2, 3, 4], RandomData(rng, 24)),
            new("special", [5], [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon]),
            new("trailing_empty", [3, 0], []),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["epoch"] = "7", ["note"] = "ünïcødé \"quoted\"" };
        string path = PathOf("model.safetensors");

        SafeTensors.Write(path, tensors, metadata);
        SafeTensorsFile file = SafeTensors.Read(path);

        Assert.That(file.Path, Is.EqualTo(path));
        Assert.That(file.Metadata, Is.EquivalentTo(metadata));
        Assert.That(file.Names, Is.EqualTo(tensors.Select(t => t.Name)));
        Assert.That(file.Count, Is.EqualTo(tensors.Count));
        foreach (SafeTensorsTensor t in tensors)
        {
            SafeTensorsTensor loaded = file.Get(t.Name);
            Assert.That(loaded.Name, Is.EqualTo(t.Name));
            Assert.That(loaded.Shape, Is.EqualTo(t.Shape), t.Name);
            Assert.That(Bits(loaded.Data), Is.EqualTo(Bits(t.Data)), t.Name);
            Assert.That(file.GetEntry(t.Name).DType, Is.EqualTo("F32"));
        }
        Assert.That(TempLeftovers(), Is.Empty);
    }

    [Test]
    public void RoundTrip_WithoutMetadata_HasEmptyMetadata()
    {
        string path = PathOf("nometa.safetensors");
        SafeTensors.Write(path, [new SafeTensorsTensor("x", [2], [1f, 2f])], null);
        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.That(file.Metadata, Is.Empty);
        Assert.That(file.Get("x").Data, Is.EqualTo(new[] { 1f, 2f }));
    }

    [Test]
    public void Get_ReturnsFreshCopyEachCall()
    {
        string path = PathOf("copy.safetensors");
        SafeTensors.Write(path, [new SafeTensorsTensor("x", [2], [1f, 2f])], null);
        SafeTensorsFile file = SafeTensors.Read(path);
        SafeTensorsTensor a = file.Get("x");
        a.Data[0] = 99f;
        Assert.That(file.Get("x").Data[0], Is.EqualTo(1f));
    }

    [Test]
    public void Write_HeaderIsEightByteAlignedJsonWithContiguousOffsets()
    {
        string path = PathOf("aligned.safetensors");
        var tensors = new[]
        {
            new SafeTensorsTensor("a", [3], [1f, 2f, 3f]),      // odd-ish header sizes
            new SafeTensorsTensor("bb", [1, 2], [4f, 5f]),
            new SafeTensorsTensor("ccc", [], [6f]),
        };
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["k"] = "v" });

        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.That(n % 8, Is.Zero);
        Assert.That((8 + (long)n) % 8, Is.Zero);
        Assert.That(bytes.LongLength, Is.EqualTo(8 + (long)n + 6 * 4));

        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        string trimmed = header.TrimEnd(' ');
        Assert.That(trimmed, Does.EndWith("}"));
        Assert.That(header[trimmed.Length..], Is.EqualTo(new string(' ', header.Length - trimmed.Length)));

        using JsonDocument doc = JsonDocument.Parse(header);
        JsonElement root = doc.RootElement;
        Assert.That(root.ValueKind, Is.EqualTo(JsonValueKind.Object));
        Assert.That(root.GetProperty("__metadata__").GetProperty("k").GetString(), Is.EqualTo("v"));
        long expected = 0;
        foreach (SafeTensorsTensor t in tensors)
        {
            JsonElement e = root.GetProperty(t.Name);
            Assert.That(e.GetProperty("dtype").GetString(), Is.EqualTo("F32"));
            Assert.That(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()), Is.EqualTo(t.Shape));
            JsonElement offs = e.GetProperty("data_offsets");
            Assert.That(offs[0].GetInt64(), Is.EqualTo(expected));
            expected += t.Data.Length * 4;
            Assert.That(offs[1].GetInt64(), Is.EqualTo(expected));
        }
        // The data itself is raw little-endian float32 in order.
        Assert.That(bytes.AsSpan(8 + (int)n).ToArray(), Is.EqualTo(F32Bytes(1f, 2f, 3f, 4f, 5f, 6f)));
    }

    [Test]
    public void Write_OverwritesExistingFileAndLeavesNoTempFiles()
    {
        string path = PathOf("over.safetensors");
        SafeTensors.Write(path, [new SafeTensorsTensor("x", [1], [1f])], null);
        SafeTensors.Write(path, [new SafeTensorsTensor("y", [2], [2f, 3f])], null);
        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.That(file.Names, Is.EqualTo(new[] { "y" }));
        Assert.That(TempLeftovers(), Is.Empty);
    }

    // ------------------------------------------------------------------ Python-style files

    [Test]
    public void Read_PythonStyleFile_PaddedHeaderMetadataAndKeysOutOfOffsetOrder()
    {
        // As written by Python's safetensors: __metadata__ {"format":"pt"}, header padded with
        // spaces to 8-byte alignment; here the keys are also listed out of offset order.
        string json = "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}, " +
                      "\"__metadata__\":{\"format\":\"pt\"}," +
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}";
        byte[] header = Encoding.UTF8.GetBytes(json);
        int padded = (header.Length + 7) / 8 * 8;
        Assert.That(padded, Is.GreaterThan(header.Length), "test must exercise padding");

        var bytes = new List<byte>();
        ulong n = (ulong)padded;
        for (int i = 0; i < 8; i++)
            bytes.Add((byte)(n >> (8 * i)));
        bytes.AddRange(header);
        for (int i = header.Length; i < padded; i++)
            bytes.Add((byte)' ');
        foreach (float v in new[] { 1.5f, -2f, 3f, 4.25f, -5f })
        {
            uint bits = BitConverter.SingleToUInt32Bits(v);
            for (int i = 0; i < 4; i++)
                bytes.Add((byte)(bits >> (8 * i)));
        }
        string path = WriteFile("python.safetensors", bytes.ToArray());

        SafeTensorsFile file = SafeTensors.Read(path);

        Assert.That(file.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt" }));
        Assert.That(file.Names, Is.EqualTo(new[] { "a", "b" }), "entries ordered by offset");
        SafeTensorsTensor a = file.Get("a");
        SafeTensorsTensor b = file.Get("b");
        Assert.That(a.Shape, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(a.Data, Is.EqualTo(new[] { 1.5f, -2f }));
        Assert.That(b.Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(b.Data, Is.EqualTo(new[] { 3f, 4.25f, -5f }));
    }

    [Test]
    public void Read_OtherDtypesAreParsed_ButGetAsFloatFailsNamingDtype()
    {
        // I64 [2] = 16 bytes, F32 [1] = 4 bytes, F16 [2] = 4 bytes, BF16 scalar = 2 bytes, BOOL [2] = 2 bytes.
        string json = "{\"__metadata__\":{\"format\":\"pt\"}," +
                      "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}," +
                      "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}," +
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[20,24]}," +
                      "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[24,26]}," +
                      "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[26,28]}}";
        var data = new byte[28];
        BinaryPrimitives.WriteInt64LittleEndian(data, 42);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), -7);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(16), 0.5f);
        string path = WriteFile("mixed.safetensors", BuildFile(json, data));

        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.That(file.Names, Is.EqualTo(new[] { "ids", "w", "h", "s", "m" }));
        Assert.That(file.Get("w").Data, Is.EqualTo(new[] { 0.5f }));

        SafeTensorsEntry ids = file.GetEntry("ids");
        Assert.That(ids.DType, Is.EqualTo("I64"));
        Assert.That(ids.ElementCount, Is.EqualTo(2));
        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(ids.Bytes.Span[8..]), Is.EqualTo(-7));

        var ex = Assert.Throws<FinGenException>(() => file.Get("ids"));
        Assert.That(ex!.Message, Does.Contain("mixed.safetensors").And.Contain("'ids'").And.Contain("dtype I64"));
    }

    [Test]
    public void Get_MissingTensor_NamesFileAndTensor()
    {
        string path = PathOf("m.safetensors");
        SafeTensors.Write(path, [new SafeTensorsTensor("x", [1], [1f])], null);
        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.That(file.Contains("x"), Is.True);
        Assert.That(file.Contains("nope"), Is.False);
        var ex = Assert.Throws<FinGenException>(() => file.Get("nope"));
        Assert.That(ex!.Message, Does.Contain("m.safetensors").And.Contain("has no tensor 'nope'"));
        Assert.Throws<FinGenException>(() => file.GetEntry("nope"));
    }

    // ------------------------------------------------------------------ corrupt files: bytes

    [Test]
    public void Read_MissingFile()
    {
        AssertInvalid(PathOf("does-not-exist.safetensors"), "file not found");
    }

    [Test]
    public void Read_MissingDirectory()
    {
        AssertInvalid(Path.Combine(_dir, "no-such-dir", "x.safetensors"), "not found");
    }

    [Test]
    public void Read_PathIsDirectory()
    {
        string path = PathOf("dir.safetensors");
        Directory.CreateDirectory(path);
        AssertInvalid(path, "is a directory");
    }

    [TestCase(0)]
    [TestCase(5)]
    [TestCase(7)]
    public void Read_FileShorterThanEightBytes(int length)
    {
        string path = WriteFile("short.safetensors", new byte[length]);
        AssertInvalid(path, $"file is {length} bytes, shorter than the 8-byte");
    }

    [Test]
    public void Read_HeaderLengthLargerThanFile()
    {
        string path = WriteFile("trunc.safetensors", BuildRaw(100, Encoding.UTF8.GetBytes("{}        ")));
        AssertInvalid(path, "header length 100 bytes is larger than the file (10 bytes");
    }

    [Test]
    public void Read_HeaderLengthAbsurd()
    {
        string path = WriteFile("absurd.safetensors", BuildRaw(1UL << 40, Encoding.UTF8.GetBytes("{}      ")));
        AssertInvalid(path, "absurd");
    }

    [Test]
    public void Read_HeaderLengthHugeUnsigned()
    {
        string path = WriteFile("huge.safetensors", BuildRaw(ulong.MaxValue, Encoding.UTF8.GetBytes("{}      ")));
        AssertInvalid(path, "absurd");
    }

    [Test]
    public void Read_HeaderNotUtf8()
    {
        byte[] header = [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        string path = WriteFile("utf8.safetensors", BuildRaw((ulong)header.Length, header));
        AssertInvalid(path, "header is not valid UTF-8");
    }

    [Test]
    public void Read_EmptyHeaderIsNotJson()
    {
        string path = WriteFile("emptyheader.safetensors", BuildRaw(0));
        AssertInvalid(path, "header is not valid JSON");
    }

    // ------------------------------------------------------------------ corrupt files: header contents

    // Each row: header JSON, data buffer length, phrase the message must contain.
    [TestCase("{\"w\":", 0, "header is not valid JSON", TestName = "Read_HeaderInvalidJson")]
    [TestCase("{\"w\":{}}trailing", 0, "header is not valid JSON", TestName = "Read_HeaderJunkAfterJson")]
    [TestCase("[1,2]", 0, "header is a JSON array, expected an object", TestName = "Read_HeaderNotAnObject")]
    [TestCase("{\"w\":[1,2]}", 0, "tensor 'w' is a JSON array, expected an object", TestName = "Read_EntryNotAnObject")]
    [TestCase("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has no \"dtype\"", TestName = "Read_EntryMissingDtype")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor 'w' has no \"shape\"", TestName = "Read_EntryMissingShape")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'w' has no \"data_offsets\"", TestName = "Read_EntryMissingDataOffsets")]
    [TestCase("{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"dtype\" is a JSON number, expected a string", TestName = "Read_DtypeWrongKind")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "\"shape\" is a JSON string, expected an array", TestName = "Read_ShapeWrongKind")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "\"shape\" element 0 is 2.5, expected an integer", TestName = "Read_ShapeElementNotInteger")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "\"shape\" element 0 is \"2\", expected an integer", TestName = "Read_ShapeElementString")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"a\":0}}}", 8, "\"data_offsets\" is a JSON object, expected an array", TestName = "Read_DataOffsetsWrongKind")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "\"data_offsets\" has 1 elements, expected [begin, end]", TestName = "Read_DataOffsetsWrongLength")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,8]}}", 8, "data_offsets begin is -8, expected a non-negative integer", TestName = "Read_DataOffsetsNegative")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8, "data_offsets end is \"8\"", TestName = "Read_DataOffsetsNotNumber")]
    [TestCase("{\"w\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has unknown dtype \"F128\"", TestName = "Read_UnknownDtype")]
    [TestCase("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype \"f32\"", TestName = "Read_DtypeIsCaseSensitive")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,1],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has negative dimension -2", TestName = "Read_NegativeDimension")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,8]}}", 8, "larger than 2147483647", TestName = "Read_DimensionTooLarge")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8, "is too large", TestName = "Read_ShapeProductOverflows")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "data_offsets [8, 0] has begin > end", TestName = "Read_DataOffsetsBeginAfterEnd")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "data_offsets [0, 16] lie outside the 8-byte data buffer", TestName = "Read_DataOffsetsOutsideBuffer")]
    [TestCase("{\"w\":{\"dtype\":\"F32\",\"shape\":[128,784],\"data_offsets\":[0,400000]}}", 400000, "tensor 'w': header says shape [128,784] F32 = 401408 bytes but offsets span 400000", TestName = "Read_ByteSizeMismatch")]
    [TestCase("{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}", 1, "not a whole number of bytes", TestName = "Read_SubByteDtypeNotWholeBytes")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensors 'a' [0, 8) and 'b' [4, 12) overlap", TestName = "Read_OverlappingTensors")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlap", TestName = "Read_TwoTensorsSameBytes")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, "overlap", TestName = "Read_EmptyTensorInsideAnother")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, "bytes [8, 12) of the data buffer belong to no tensor", TestName = "Read_GapBetweenTensors")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "bytes [0, 4) of the data buffer belong to no tensor", TestName = "Read_GapAtStart")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "4 trailing bytes after the last tensor", TestName = "Read_TrailingUnreferencedBytes")]
    [TestCase("{}", 4, "4 trailing bytes", TestName = "Read_NoTensorsButData")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a' appears twice", TestName = "Read_DuplicateTensorName")]
    [TestCase("{\"__metadata__\":{\"epoch\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"__metadata__\" value for key 'epoch' is a JSON number, expected a string", TestName = "Read_MetadataValueNotString")]
    [TestCase("{\"__metadata__\":\"pt\",\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"__metadata__\" is a JSON string, expected an object", TestName = "Read_MetadataNotObject")]
    [TestCase("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "two \"__metadata__\"", TestName = "Read_MetadataTwice")]
    [TestCase("{\"w\\nx\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "tensor 'w\\u000ax' has unknown dtype", TestName = "Read_ControlCharsInNameAreEscaped")]
    public void Read_CorruptHeader(string json, int dataLength, string phrase)
    {
        string path = WriteFile("corrupt.safetensors", BuildFile(json, new byte[dataLength]));
        AssertInvalid(path, phrase);
    }

    [Test]
    public void Read_EmptyFileWithNoTensors_IsValid()
    {
        string path = WriteFile("none.safetensors", BuildFile("{}", []));
        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.That(file.Count, Is.Zero);
        Assert.That(file.Metadata, Is.Empty);
    }

    [Test]
    public void Read_NullMetadataAndExtraEntryKeysAreAccepted()
    {
        string json = "{\"__metadata__\":null,\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":true}}";
        string path = WriteFile("lenient.safetensors", BuildFile(json, F32Bytes(7f)));
        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.That(file.Metadata, Is.Empty);
        Assert.That(file.Get("w").Data, Is.EqualTo(new[] { 7f }));
    }

    // ------------------------------------------------------------------ write failures

    private string WriteExisting(string name, out byte[] original)
    {
        string path = PathOf(name);
        SafeTensors.Write(path, [new SafeTensorsTensor("keep", [2], [1f, 2f])], new Dictionary<string, string> { ["v"] = "1" });
        original = File.ReadAllBytes(path);
        return path;
    }

    [Test]
    public void Write_DuplicateNames_ThrowsAndLeavesExistingFileUntouched()
    {
        string path = WriteExisting("dup.safetensors", out byte[] original);
        var tensors = new[]
        {
            new SafeTensorsTensor("x", [1], [1f]),
            new SafeTensorsTensor("x", [1], [2f]),
        };
        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, tensors, null));
        Assert.That(ex!.Message, Does.Contain("Duplicate tensor name 'x'"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(original));
        Assert.That(TempLeftovers(), Is.Empty);
    }

    [Test]
    public void Write_ReservedMetadataName_Throws()
    {
        string path = WriteExisting("reserved.safetensors", out byte[] original);
        Assert.Throws<ArgumentException>(() =>
            SafeTensors.Write(path, [new SafeTensorsTensor("__metadata__", [1], [1f])], null));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(original));
        Assert.That(TempLeftovers(), Is.Empty);
    }

    [Test]
    public void Write_NullTensorOrEmptyMetadataKey_Throws()
    {
        string path = WriteExisting("nulls.safetensors", out byte[] original);
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [null!], null));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [new SafeTensorsTensor("x", [1], [1f])],
            new Dictionary<string, string> { [""] = "v" }));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(original));
        Assert.That(TempLeftovers(), Is.Empty);
    }

    [Test]
    public void Tensor_InvalidConstruction_Throws()
    {
        Assert.Throws<ArgumentException>(() => _ = new SafeTensorsTensor("", [1], [1f]));
        Assert.Throws<ArgumentException>(() => _ = new SafeTensorsTensor("x", [2, 2], [1f, 2f, 3f]));
        Assert.Throws<ArgumentException>(() => _ = new SafeTensorsTensor("x", [-1], []));
        Assert.Throws<ArgumentException>(() => _ = new SafeTensorsTensor("x", [], []));
    }

    [Test]
    public void Write_MissingDirectory_ThrowsFinGenExceptionAndCreatesNothing()
    {
        string path = Path.Combine(_dir, "no-such-dir", "x.safetensors");
        var ex = Assert.Throws<FinGenException>(() =>
            SafeTensors.Write(path, [new SafeTensorsTensor("x", [1], [1f])], null));
        Assert.That(ex!.Message, Does.Contain("x.safetensors").And.Contain("Cannot write checkpoint").And.Contain("does not exist"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "no-such-dir")), Is.False);
        Assert.That(Directory.GetFileSystemEntries(_dir), Is.Empty);
    }

    [Test]
    public void Write_FailureAfterTempFileCreated_DeletesTempFile()
    {
        // The final rename fails because a directory sits at the target path: the temp file was
        // already fully written, and must be cleaned up.
        string path = PathOf("target.safetensors");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "inside.txt"), "keep");
        var ex = Assert.Throws<FinGenException>(() =>
            SafeTensors.Write(path, [new SafeTensorsTensor("x", [1], [1f])], null));
        Assert.That(ex!.Message, Does.Contain("target.safetensors").And.Contain("a directory exists"));
        Assert.That(TempLeftovers(), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(path, "inside.txt")), Is.EqualTo("keep"));
    }
}
