// host_test.cu — checks the kernels' shared maths on the CPU, on a machine with or without a GPU.
// Built by nvcc as an ordinary host program (cmake target fingen_kernels_host_test; scripts/build-kernels.sh
// builds and runs it). It launches nothing: the functions under test are __host__ __device__, so the code
// run here is the code the kernels inline, compiled for the host.
//
// Checks:
//   1. fg_philox4x32_10 against the three Random123 known-answer vectors of Philox4x32-10
//      (kat_vectors in Random123: counter/key zero, all ones, and the digits of π).
//   2. fg_philox_normal's per-block writer (the kernel's exact indexing, emulated with one thread and with
//      several "threads") against normals produced by the C# implementation, Philox.FillNormal.
//   3. Small properties of fg_sigmoid, fg_open_unit and fg_grid_size.
// Float comparisons expect exact equality; up to 1 ulp is tolerated and reported (host glibc and .NET's
// libm calls should agree bit for bit; a 1-ulp difference would come from a different libm).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../philox.cu"

static int g_failures = 0;
static int g_ulp_warnings = 0;

static void check(bool ok, const char* what)
{
    std::printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++g_failures;
}

static unsigned int float_bits(float f)
{
    unsigned int u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// Distance in ulps between two finite floats (0 when bit-identical).
static long long ulp_distance(float a, float b)
{
    auto ordered = [](float f) {
        const long long u = float_bits(f);
        return (u & 0x80000000u) ? 0x80000000LL - u : u;  // maps the sign-magnitude order onto integers
    };
    const long long d = ordered(a) - ordered(b);
    return d < 0 ? -d : d;
}

static void check_kat(const char* name, uint4 counter, unsigned int k0, unsigned int k1, uint4 expected)
{
    const uint4 got = fg_philox4x32_10(counter, k0, k1);
    const bool ok = got.x == expected.x && got.y == expected.y && got.z == expected.z && got.w == expected.w;
    char what[256];
    std::snprintf(what, sizeof what, "philox4x32-10 KAT %-7s -> %08x %08x %08x %08x", name, got.x, got.y, got.z, got.w);
    check(ok, what);
    if (!ok) std::printf("      expected %08x %08x %08x %08x\n", expected.x, expected.y, expected.z, expected.w);
}

// fg_philox_normal(y, n, seed, stream, offset) run on the CPU with `threads` grid-stride threads.
static std::vector<float> philox_normal_on_host(int n, unsigned long long seed, unsigned long long stream,
                                                unsigned long long offset, int threads)
{
    std::vector<float> y(n, -12345.0f);
    const unsigned long long end = offset + (unsigned long long)n;
    const unsigned long long first = offset >> 2;
    const long long blocks = (long long)(((end - 1) >> 2) - first) + 1;
    for (int thread = 0; thread < threads; ++thread)
        for (long long j = thread; j < blocks; j += threads)
            fg_philox_normal_block(y.data(), seed, stream, first + (unsigned long long)j, offset, end);
    return y;
}

static void check_normals(const char* name, const std::vector<float>& got, const float* expected, int n)
{
    long long worst = 0;
    int worst_index = 0;
    for (int i = 0; i < n; ++i)
    {
        const long long d = ulp_distance(got[i], expected[i]);
        if (d > worst) { worst = d; worst_index = i; }
    }
    char what[256];
    std::snprintf(what, sizeof what, "%s: %d normals, worst difference %lld ulp", name, n, worst);
    check(worst <= 1, what);
    if (worst == 1) ++g_ulp_warnings;
    if (worst > 0)
        std::printf("      at %d: got %.9g (0x%08x), expected %.9g (0x%08x)\n", worst_index, got[worst_index],
                    float_bits(got[worst_index]), expected[worst_index], float_bits(expected[worst_index]));
}

int main()
{
    // 1. Random123 known-answer vectors for Philox4x32-10 (counter x0..x3, key k0 k1 → result).
    check_kat("zero", make_uint4(0, 0, 0, 0), 0, 0, make_uint4(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8));
    check_kat("ones", make_uint4(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), 0xffffffff, 0xffffffff,
              make_uint4(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd));
    check_kat("pi", make_uint4(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), 0xa4093822, 0x299f31d0,
              make_uint4(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1));

    // 2. Normals from the C# implementation: a throwaway console project (net10.0, .NET SDK 10.0.401) that
    //    compiles src/FinGen.Native/Randomness/Philox.cs as is and prints Philox.FillNormal's output with
    //    float.ToString("R") (bit patterns given alongside), for seed 42, stream 2 (Philox.Stream.Noise):
    //    12 normals at offset 0, and 8 at offset 1001 (not a multiple of 4: the range starts in lane 1 of
    //    block 250 and ends in lane 0 of block 252).
    static const float csharp_offset0[12] = {
        -1.3457069f,  // 0xbfac4020
        -0.17205083f, // 0xbe302e18
        -0.46948236f, // 0xbef05ffe
        -1.2275587f,  // 0xbf9d20a5
        0.79839927f,  // 0x3f4c63e5
        -0.7174223f,  // 0xbf37a8fd
        -0.37525502f, // 0xbec0216d
        -0.63095796f, // 0xbf218676
        -0.49029505f, // 0xbefb07f4
        0.6254805f,   // 0x3f201f7d
        1.1784743f,   // 0x3f96d83f
        0.4731229f,   // 0x3ef23d2a
    };
    static const float csharp_offset1001[8] = {
        0.62745845f,  // 0x3f20a11e
        1.4608282f,   // 0x3fbafc6b
        1.0181547f,   // 0x3f8252e5
        -0.57483363f, // 0xbf13284c
        -1.7310348f,  // 0xbfdd928c
        -0.38149384f, // 0xbec35329
        -0.36473763f, // 0xbebabee4
        0.6178452f,   // 0x3f1e2b1a
    };
    check_normals("seed 42 stream 2 offset 0, 1 thread", philox_normal_on_host(12, 42, 2, 0, 1), csharp_offset0, 12);
    check_normals("seed 42 stream 2 offset 0, 5 threads", philox_normal_on_host(12, 42, 2, 0, 5), csharp_offset0, 12);
    check_normals("seed 42 stream 2 offset 1001, 1 thread", philox_normal_on_host(8, 42, 2, 1001, 1), csharp_offset1001, 8);
    check_normals("seed 42 stream 2 offset 1001, 2 threads", philox_normal_on_host(8, 42, 2, 1001, 2), csharp_offset1001, 8);

    // A draw split into two calls with consecutive offsets gives the same numbers as one call.
    {
        std::vector<float> head = philox_normal_on_host(5, 42, 2, 0, 1);
        std::vector<float> tail = philox_normal_on_host(7, 42, 2, 5, 3);
        head.insert(head.end(), tail.begin(), tail.end());
        check_normals("offset 0 as calls of 5 + 7", head, csharp_offset0, 12);
    }
    // Lanes outside the range are never written (a one-element draw in the middle of a block).
    {
        std::vector<float> one = philox_normal_on_host(1, 42, 2, 1002, 1);
        check(one.size() == 1 && one[0] == csharp_offset1001[1], "single normal at offset 1002 (lane 2 of block 250)");
    }

    // 3. Small properties.
    check(fg_sigmoid(0.0f) == 0.5f, "sigmoid(0) = 0.5");
    check(fg_sigmoid(100.0f) == 1.0f && fg_sigmoid(-100.0f) > 0.0f && fg_sigmoid(-100.0f) < 1e-40f,
          "sigmoid(±100): 1 and a tiny positive number");
    check(fg_sigmoid(1e30f) == 1.0f && fg_sigmoid(-1e30f) == 0.0f, "sigmoid(±1e30) = 1, 0 without NaN");
    check(fg_open_unit(0u) > 0.0 && fg_open_unit(0xffffffffu) < 1.0, "open unit interval excludes 0 and 1");
    check(fg_grid_size(0, 256, 4096) == 1 && fg_grid_size(256, 256, 4096) == 1 && fg_grid_size(257, 256, 4096) == 2 &&
              fg_grid_size(1LL << 31, 256, 4096) == 4096,
          "fg_grid_size: ceil, at least 1, capped");

    if (g_ulp_warnings > 0) std::printf("note: %d comparison(s) differed by 1 ulp (tolerated)\n", g_ulp_warnings);
    if (g_failures > 0)
    {
        std::printf("%d check(s) FAILED\n", g_failures);
        return EXIT_FAILURE;
    }
    std::printf("all host checks passed\n");
    return EXIT_SUCCESS;
}
