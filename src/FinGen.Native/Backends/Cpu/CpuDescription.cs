using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// A microarchitecture as CPUID's family and model name it: "Zen 4" (<see cref="Codename"/> "Genoa"), and the width of
/// the units that execute its widest vector FMAs when that is known from the part (<see cref="VectorUnitBits"/>: Zen 4
/// runs a 512-bit FMA as two halves on 256-bit units, server and desktop Zen 5 on full 512-bit units, laptop Zen 5 on
/// 256-bit units again). Intel's parts within one model differ in FMA units (one or two per core on Skylake-SP), so
/// they say nothing there: the measured peak does.
/// </summary>
public sealed record Microarchitecture(string Name, string? Codename = null, int? VectorUnitBits = null)
{
    public static Microarchitecture Unknown { get; } = new("unknown");

    public bool IsKnown => !ReferenceEquals(this, Unknown) && Name != Unknown.Name;

    /// <summary>For a file name: "zen4", "zen5", "sapphire-rapids".</summary>
    public string Slug
    {
        get
        {
            var letters = Name.ToLowerInvariant().Replace("+", " plus", StringComparison.Ordinal).Select(c => char.IsAsciiLetterOrDigit(c) ? c : ' ');
            var words = new string(letters.ToArray()).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return string.Join('-', words).Replace("zen-", "zen", StringComparison.Ordinal).Replace("-plus", "plus", StringComparison.Ordinal);
        }
    }

    public override string ToString() => Codename is null ? Name : $"{Name} ({Codename})";
}

/// <summary>One cache level: "L1d 48 KiB", "L3 32 MiB shared by 2".</summary>
public sealed record CacheDescription(int Level, string Type, long Bytes, int SharedBy)
{
    public override string ToString()
    {
        string kind = Type switch { "Data" => "d", "Instruction" => "i", _ => "" };
        string size = Bytes >= 1 << 20 && Bytes % (1 << 20) == 0 ? $"{Bytes >> 20} MiB" : $"{Bytes >> 10} KiB";
        return $"L{Level}{kind} {size}{(SharedBy > 1 ? $" shared by {SharedBy}" : "")}";
    }
}

/// <summary>
/// What this machine's CPU is, from CPUID and Linux's cache folders: vendor, brand, family/model/stepping and the
/// <see cref="Microarchitecture"/> they map to, the vector width .NET uses and how the part executes it, and the caches.
/// lscpu names a Zen 4 and a Zen 5 EPYC alike ("AMD EPYC"), so results measured on one were taken for the other's; a
/// results file names its microarchitecture from this. The measured FMA peak is <see cref="FmaPeak"/>.
/// </summary>
public sealed record CpuDescription(string Vendor, string Brand, int Family, int Model, int Stepping, Microarchitecture Microarchitecture,
    int VectorBits, bool Avx512, IReadOnlyList<CacheDescription> Caches, int LogicalCores)
{
    /// <summary>This machine's CPU.</summary>
    public static CpuDescription Detect()
    {
        string vendor = "unknown", brand = RuntimeInformation.ProcessArchitecture.ToString();
        int family = 0, model = 0, stepping = 0;
        if (X86Base.IsSupported)
        {
            var (maxLeaf, b, c, d) = X86Base.CpuId(0, 0);
            vendor = Ascii(b, d, c);
            if (maxLeaf >= 1) (family, model, stepping) = Signature(X86Base.CpuId(1, 0).Eax);
            var (maxExtended, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
            if ((uint)maxExtended >= 0x80000004)
            {
                var parts = new List<int>();
                for (uint leaf = 0x80000002; leaf <= 0x80000004; leaf++)
                {
                    var r = X86Base.CpuId(unchecked((int)leaf), 0);
                    parts.AddRange([r.Eax, r.Ebx, r.Ecx, r.Edx]);
                }
                brand = Ascii([.. parts]).Trim();
            }
        }
        int bits = Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;
        var caches = LinuxCaches() ?? CpuIdCaches(vendor);
        return new CpuDescription(vendor, brand, family, model, stepping, Identify(vendor, family, model, stepping), bits, Avx512F.IsSupported,
            caches, Environment.ProcessorCount);
    }

    /// <summary>Family, model and stepping from CPUID leaf 1's EAX, with the extended fields as the vendors define them.</summary>
    public static (int Family, int Model, int Stepping) Signature(int eax)
    {
        int stepping = eax & 0xF, model = (eax >> 4) & 0xF, family = (eax >> 8) & 0xF;
        int extendedModel = (eax >> 16) & 0xF, extendedFamily = (eax >> 20) & 0xFF;
        int fullFamily = family == 0xF ? family + extendedFamily : family;
        int fullModel = family is 0x6 or 0xF ? (extendedModel << 4) + model : model;
        return (fullFamily, fullModel, stepping);
    }

    /// <summary>The microarchitecture of a vendor's family and model (and stepping, where one model spans several).</summary>
    public static Microarchitecture Identify(string vendor, int family, int model, int stepping) => vendor switch
    {
        "AuthenticAMD" => Amd(family, model),
        "HygonGenuine" when family == 0x18 => new("Zen", "Dhyana", 128),
        "GenuineIntel" when family == 6 => Intel(model, stepping),
        _ => Microarchitecture.Unknown,
    };

    private static Microarchitecture Amd(int family, int model) => family switch
    {
        0x17 => model switch
        {
            0x08 or 0x18 => new("Zen+", model == 0x08 ? "Pinnacle Ridge" : "Picasso", 128),
            < 0x30 => new("Zen", model switch { 0x01 => "Naples", 0x11 => "Raven Ridge", 0x20 => "Dali", _ => null }, 128),
            _ => new("Zen 2", model switch { 0x31 => "Rome", 0x60 => "Renoir", 0x68 => "Lucienne", 0x71 => "Matisse", 0x90 => "Van Gogh", 0xA0 => "Mendocino", _ => null }, 256),
        },
        0x19 => model switch
        {
            <= 0x0F => new("Zen 3", model == 0x08 ? "Chagall" : "Milan", 256),
            <= 0x1F => new("Zen 4", model == 0x18 ? "Storm Peak" : "Genoa", 256),
            <= 0x2F => new("Zen 3", "Vermeer", 256),
            >= 0x40 and <= 0x4F => new("Zen 3+", "Rembrandt", 256),
            >= 0x50 and <= 0x5F => new("Zen 3", "Cezanne", 256),
            >= 0x60 and <= 0x6F => new("Zen 4", "Raphael", 256),
            >= 0x70 and <= 0x7F => new("Zen 4", "Phoenix", 256),
            >= 0xA0 and <= 0xAF => new("Zen 4c", "Bergamo", 256),
            _ => new("Zen 3 or 4", null, 256),
        },
        0x1A => model switch
        {
            <= 0x0F => new("Zen 5", "Turin", 512),
            <= 0x1F => new("Zen 5c", "Turin Dense", 512),
            >= 0x20 and <= 0x2F => new("Zen 5", "Strix Point", 256),
            >= 0x40 and <= 0x4F => new("Zen 5", "Granite Ridge", 512),
            >= 0x60 and <= 0x6F => new("Zen 5", "Krackan Point", 256),
            >= 0x70 and <= 0x7F => new("Zen 5", "Strix Halo", 512),
            _ => new("Zen 5"),
        },
        0x15 => new("Bulldozer family", model switch { < 0x10 => "Bulldozer/Piledriver", < 0x30 => "Piledriver", < 0x60 => "Steamroller", _ => "Excavator" }, 128),
        _ => Microarchitecture.Unknown,
    };

    private static Microarchitecture Intel(int model, int stepping) => model switch
    {
        0x2A or 0x2D => new("Sandy Bridge"),
        0x3A or 0x3E => new("Ivy Bridge"),
        0x3C or 0x3F or 0x45 or 0x46 => new("Haswell"),
        0x3D or 0x47 or 0x4F or 0x56 => new("Broadwell"),
        0x4E or 0x5E => new("Skylake"),
        0x55 => stepping switch { <= 4 => new("Skylake-SP"), <= 7 => new("Cascade Lake"), _ => new("Cooper Lake") },
        0x8E or 0x9E => new("Kaby Lake / Coffee Lake"),
        0xA5 or 0xA6 => new("Comet Lake"),
        0x66 => new("Cannon Lake"),
        0x6A or 0x6C => new("Ice Lake-SP"),
        0x7D or 0x7E => new("Ice Lake"),
        0x8C or 0x8D => new("Tiger Lake"),
        0xA7 => new("Rocket Lake"),
        0x8F => new("Sapphire Rapids"),
        0xCF => new("Emerald Rapids"),
        0xAD or 0xAE => new("Granite Rapids"),
        0xAF => new("Sierra Forest"),
        0xDD => new("Clearwater Forest"),
        0x97 or 0x9A => new("Alder Lake"),
        0xB7 or 0xBA or 0xBF => new("Raptor Lake"),
        0xAA or 0xAC => new("Meteor Lake"),
        0xB5 or 0xC5 or 0xC6 => new("Arrow Lake"),
        0xBD => new("Lunar Lake"),
        0x57 => new("Knights Landing"),
        0x85 => new("Knights Mill"),
        _ => Microarchitecture.Unknown,
    };

    /// <summary>"amd", "intel" or the vendor string in lower case.</summary>
    public string VendorSlug => Vendor switch { "AuthenticAMD" => "amd", "GenuineIntel" => "intel", "HygonGenuine" => "hygon", var v => v.ToLowerInvariant() };

    /// <summary>
    /// A results file's name: vendor, microarchitecture and core count, e.g. <c>amd-zen4-2-cores</c>; a part the table
    /// does not know keeps its family and model (<c>amd-family26-model99-2-cores</c>).
    /// </summary>
    public string MachineName => MachineNameFor(VendorSlug, Family, Model, Microarchitecture, LogicalCores);

    public static string MachineNameFor(string vendor, int family, int model, Microarchitecture microarchitecture, int cores) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{vendor}-{(microarchitecture.IsKnown ? microarchitecture.Slug : $"family{family}-model{model}")}-{cores}-cores");

    /// <summary>e.g. "AuthenticAMD family 25 model 17 stepping 1: Zen 4 (Genoa)".</summary>
    public string Identity => string.Create(CultureInfo.InvariantCulture,
        $"{Vendor} family {Family} (0x{Family:X}) model {Model} (0x{Model:X}) stepping {Stepping}: {Microarchitecture}");

    /// <summary>e.g. "512-bit (AVX-512), executed on 256-bit units (each 512-bit op in two halves)".</summary>
    public string SimdExecution
    {
        get
        {
            string width = VectorBits switch
            {
                512 => "512-bit (AVX-512)",
                256 => Avx512 ? "256-bit (AVX2; AVX-512 present, .NET does not accelerate Vector512 here)" : "256-bit (AVX2)",
                128 => "128-bit",
                _ => "none (scalar)",
            };
            return Microarchitecture.VectorUnitBits switch
            {
                int unit when unit < VectorBits => $"{width}, executed on {unit}-bit units (each {VectorBits}-bit op in {VectorBits / unit} halves)",
                int unit when VectorBits > 0 => $"{width}, executed on {unit}-bit units (full width)",
                _ => width,
            };
        }
    }

    /// <summary>"L1d 48 KiB, L1i 32 KiB, L2 1 MiB, L3 32 MiB shared by 2" (per core unless shared).</summary>
    public string CacheSummary => Caches.Count == 0 ? "unknown" : string.Join(", ", Caches);

    public override string ToString() => $"{Brand}; {Identity}; {LogicalCores} logical cores; SIMD {SimdExecution}; caches {CacheSummary}";

    /// <summary>The caches of CPU 0 from /sys/devices/system/cpu/cpu0/cache, or null where there is no such folder.</summary>
    public static IReadOnlyList<CacheDescription>? LinuxCaches(string folder = "/sys/devices/system/cpu/cpu0/cache")
    {
        if (!Directory.Exists(folder)) return null;
        var caches = new List<CacheDescription>();
        try
        {
            foreach (var index in Directory.GetDirectories(folder, "index*").Order(StringComparer.Ordinal))
            {
                string Read(string name) => File.ReadAllText(Path.Combine(index, name)).Trim();
                if (!int.TryParse(Read("level"), NumberStyles.None, CultureInfo.InvariantCulture, out int level)) continue;
                if (ParseSize(Read("size")) is not { } bytes) continue;
                caches.Add(new CacheDescription(level, Read("type"), bytes, CountCpus(Read("shared_cpu_list"))));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return caches.Count == 0 ? null : caches.OrderBy(c => c.Level).ThenBy(c => c.Type, StringComparer.Ordinal).ToArray();
    }

    /// <summary>"48K" → 49152, "32M" → 33554432, a plain number as bytes; null for anything else.</summary>
    public static long? ParseSize(string text)
    {
        long scale = text.EndsWith('K') ? 1 << 10 : text.EndsWith('M') ? 1 << 20 : text.EndsWith('G') ? 1 << 30 : 1;
        string digits = scale == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value * scale : null;
    }

    /// <summary>CPUs in a Linux CPU list: "0-1,4,6-7" → 5.</summary>
    public static int CountCpus(string list)
    {
        int count = 0;
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var ends = part.Split('-');
            if (ends.Length == 2 && int.TryParse(ends[0], CultureInfo.InvariantCulture, out int from) && int.TryParse(ends[1], CultureInfo.InvariantCulture, out int to))
                count += to - from + 1;
            else if (int.TryParse(part, CultureInfo.InvariantCulture, out _))
                count++;
        }
        return Math.Max(count, 1);
    }

    /// <summary>The caches CPUID's deterministic cache leaves describe (0x8000001D on AMD, 4 on Intel), where sysfs has none.</summary>
    private static IReadOnlyList<CacheDescription> CpuIdCaches(string vendor)
    {
        if (!X86Base.IsSupported) return [];
        uint leaf = vendor is "AuthenticAMD" or "HygonGenuine" ? 0x8000001D : 4;
        uint top = leaf == 4 ? (uint)X86Base.CpuId(0, 0).Eax : (uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax;
        if (top < leaf) return [];
        var caches = new List<CacheDescription>();
        for (int sub = 0; sub < 16; sub++)
        {
            var (eax, ebx, ecx, _) = X86Base.CpuId(unchecked((int)leaf), sub);
            int type = eax & 0x1F;
            if (type == 0) break;
            int level = (eax >> 5) & 0x7, sharing = ((eax >> 14) & 0xFFF) + 1;
            long bytes = (long)(((uint)ebx >> 22) + 1) * ((((uint)ebx >> 12) & 0x3FF) + 1) * (((uint)ebx & 0xFFF) + 1) * ((uint)ecx + 1);
            caches.Add(new CacheDescription(level, type switch { 1 => "Data", 2 => "Instruction", _ => "Unified" }, bytes, Math.Min(sharing, Environment.ProcessorCount)));
        }
        return caches;
    }

    private static string Ascii(params int[] registers)
    {
        var bytes = new byte[registers.Length * 4];
        for (int i = 0; i < registers.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), registers[i]);
        return System.Text.Encoding.ASCII.GetString(bytes).TrimEnd('\0');
    }
}
