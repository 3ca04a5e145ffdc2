using FinGen.Native.Backends.Cpu;

namespace FinGen.Native.Tests;

/// <summary>CPUID's family and model to a microarchitecture, the results file's name, and the parsers of Linux's cache folders.</summary>
[TestFixture]
public sealed class CpuDescriptionTests
{
    // The two machines this project has run on: lscpu calls both "AMD EPYC".
    [TestCase("AuthenticAMD", 25, 17, 1, "Zen 4", "Genoa", 256)]
    [TestCase("AuthenticAMD", 26, 2, 1, "Zen 5", "Turin", 512)]
    [TestCase("AuthenticAMD", 25, 1, 1, "Zen 3", "Milan", 256)]
    [TestCase("AuthenticAMD", 25, 0x21, 0, "Zen 3", "Vermeer", 256)]
    [TestCase("AuthenticAMD", 25, 0x44, 1, "Zen 3+", "Rembrandt", 256)]
    [TestCase("AuthenticAMD", 25, 0x61, 2, "Zen 4", "Raphael", 256)]
    [TestCase("AuthenticAMD", 25, 0x74, 1, "Zen 4", "Phoenix", 256)]
    [TestCase("AuthenticAMD", 25, 0xA0, 1, "Zen 4c", "Bergamo", 256)]
    [TestCase("AuthenticAMD", 26, 0x11, 0, "Zen 5c", "Turin Dense", 512)]
    [TestCase("AuthenticAMD", 26, 0x24, 0, "Zen 5", "Strix Point", 256)]
    [TestCase("AuthenticAMD", 26, 0x44, 0, "Zen 5", "Granite Ridge", 512)]
    [TestCase("AuthenticAMD", 23, 0x31, 0, "Zen 2", "Rome", 256)]
    [TestCase("AuthenticAMD", 23, 0x71, 0, "Zen 2", "Matisse", 256)]
    [TestCase("AuthenticAMD", 23, 0x01, 2, "Zen", "Naples", 128)]
    [TestCase("AuthenticAMD", 23, 0x08, 2, "Zen+", "Pinnacle Ridge", 128)]
    public void AmdFamiliesAndModelsNameTheirMicroarchitecture(string vendor, int family, int model, int stepping, string name, string codename, int units)
    {
        Assert.That(CpuDescription.Identify(vendor, family, model, stepping), Is.EqualTo(new Microarchitecture(name, codename, units)));
    }

    [TestCase(0x55, 4, "Skylake-SP")]
    [TestCase(0x55, 7, "Cascade Lake")]
    [TestCase(0x55, 11, "Cooper Lake")]
    [TestCase(0x6A, 6, "Ice Lake-SP")]
    [TestCase(0x8F, 8, "Sapphire Rapids")]
    [TestCase(0xCF, 2, "Emerald Rapids")]
    [TestCase(0xAD, 1, "Granite Rapids")]
    [TestCase(0x3F, 2, "Haswell")]
    [TestCase(0x97, 2, "Alder Lake")]
    [TestCase(0xB7, 1, "Raptor Lake")]
    public void IntelModelsNameTheirMicroarchitecture(int model, int stepping, string name)
    {
        var micro = CpuDescription.Identify("GenuineIntel", 6, model, stepping);
        Assert.That(micro.Name, Is.EqualTo(name));
        Assert.That(micro.VectorUnitBits, Is.Null, "Intel parts of one model differ in FMA units: the measured peak says");
    }

    [Test]
    public void UnknownPartsSayUnknownAndKeepTheirNumbersInTheFileName()
    {
        Assert.That(CpuDescription.Identify("AuthenticAMD", 0x30, 1, 0).IsKnown, Is.False);
        Assert.That(CpuDescription.Identify("GenuineIntel", 6, 0x01, 0).IsKnown, Is.False);
        Assert.That(CpuDescription.Identify("CentaurHauls", 6, 0x0F, 0).IsKnown, Is.False);
        Assert.That(CpuDescription.MachineNameFor("amd", 0x30, 99, Microarchitecture.Unknown, 2), Is.EqualTo("amd-family48-model99-2-cores"));
    }

    [TestCase("AuthenticAMD", 25, 17, 2, "amd-zen4-2-cores")]
    [TestCase("AuthenticAMD", 26, 2, 2, "amd-zen5-2-cores")]
    [TestCase("AuthenticAMD", 25, 0x44, 8, "amd-zen3plus-8-cores")]
    [TestCase("AuthenticAMD", 26, 0x11, 192, "amd-zen5c-192-cores")]
    [TestCase("GenuineIntel", 6, 0x8F, 16, "intel-sapphire-rapids-16-cores")]
    [TestCase("GenuineIntel", 6, 0x9E, 4, "intel-kaby-lake-coffee-lake-4-cores")]
    public void ResultsFilesAreNamedByMicroarchitectureAndCores(string vendor, int family, int model, int cores, string name)
    {
        var cpu = new CpuDescription(vendor, "x", family, model, 0, CpuDescription.Identify(vendor, family, model, 0), 512, true, [], cores);
        Assert.That(cpu.MachineName, Is.EqualTo(name));
    }

    [Test]
    public void SimdExecutionSaysWhereWideOpsAreSplit()
    {
        var zen4 = new CpuDescription("AuthenticAMD", "AMD EPYC", 25, 17, 1, CpuDescription.Identify("AuthenticAMD", 25, 17, 1), 512, true, [], 2);
        Assert.That(zen4.SimdExecution, Is.EqualTo("512-bit (AVX-512), executed on 256-bit units (each 512-bit op in 2 halves)"));
        var zen5 = zen4 with { Family = 26, Model = 2, Microarchitecture = CpuDescription.Identify("AuthenticAMD", 26, 2, 1) };
        Assert.That(zen5.SimdExecution, Is.EqualTo("512-bit (AVX-512), executed on 512-bit units (full width)"));
        Assert.That(zen5.Identity, Is.EqualTo("AuthenticAMD family 26 (0x1A) model 2 (0x2) stepping 1: Zen 5 (Turin)"));
    }

    [Test]
    public void TheSignatureAddsTheExtendedFields()
    {
        // CPUID(1).EAX of a Zen 4 Genoa (family 0xF + 0xA, model 0x1 << 4 | 0x1, stepping 1) and a Zen 5 Turin.
        Assert.That(CpuDescription.Signature(0x00A10F11), Is.EqualTo((25, 17, 1)));
        Assert.That(CpuDescription.Signature(0x00B00F21), Is.EqualTo((26, 2, 1)));
        // An Intel Sapphire Rapids: family 6, extended model 8.
        Assert.That(CpuDescription.Signature(0x000806F8), Is.EqualTo((6, 0x8F, 8)));
    }

    [Test]
    public void LinuxCacheFoldersParse()
    {
        Assert.That(CpuDescription.ParseSize("48K"), Is.EqualTo(48 * 1024));
        Assert.That(CpuDescription.ParseSize("32768K"), Is.EqualTo(32L << 20));
        Assert.That(CpuDescription.ParseSize("2M"), Is.EqualTo(2L << 20));
        Assert.That(CpuDescription.ParseSize("big"), Is.Null);
        Assert.That(CpuDescription.CountCpus("0-1"), Is.EqualTo(2));
        Assert.That(CpuDescription.CountCpus("0-3,8,10-11"), Is.EqualTo(7));
        Assert.That(new CacheDescription(3, "Unified", 32L << 20, 2).ToString(), Is.EqualTo("L3 32 MiB shared by 2"));
        Assert.That(new CacheDescription(1, "Data", 48 << 10, 1).ToString(), Is.EqualTo("L1d 48 KiB"));

        string folder = Directory.CreateTempSubdirectory("fingen-cache-").FullName;
        try
        {
            void Index(int i, string level, string type, string size, string shared)
            {
                var dir = Directory.CreateDirectory(Path.Combine(folder, $"index{i}")).FullName;
                File.WriteAllText(Path.Combine(dir, "level"), level + "\n");
                File.WriteAllText(Path.Combine(dir, "type"), type + "\n");
                File.WriteAllText(Path.Combine(dir, "size"), size + "\n");
                File.WriteAllText(Path.Combine(dir, "shared_cpu_list"), shared + "\n");
            }
            Index(0, "1", "Data", "32K", "0");
            Index(1, "1", "Instruction", "32K", "0");
            Index(2, "2", "Unified", "1024K", "0");
            Index(3, "3", "Unified", "32768K", "0-7");
            Assert.That(string.Join(", ", CpuDescription.LinuxCaches(folder)!), Is.EqualTo("L1d 32 KiB, L1i 32 KiB, L2 1 MiB, L3 32 MiB shared by 8"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        Assert.That(CpuDescription.LinuxCaches(Path.Combine(folder, "gone")), Is.Null);
    }

    [Test]
    public void ThisMachineIsDescribed()
    {
        var cpu = CpuDescription.Detect();
        Assert.That(cpu.LogicalCores, Is.EqualTo(Environment.ProcessorCount));
        Assert.That(cpu.MachineName, Does.EndWith($"-{Environment.ProcessorCount}-cores"));
        TestContext.Out.WriteLine(cpu);
    }
}
