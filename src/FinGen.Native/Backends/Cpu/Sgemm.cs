using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// Single-precision GEMM on row-major matrices: C = alpha·op(A)·op(B) + beta·C, with op(A) [m, k], op(B) [k, n].
/// </summary>
/// <remarks>
/// The GotoBLAS/BLIS scheme, sized for the MLP shapes of this project:
/// <list type="bullet">
/// <item>The micro-kernel reads Nr consecutive columns of op(B) per k. Row-major B already has them, so it is
/// read in place; transposed B is packed once per call into Nr-wide column strips, [strip][k][Nr], shared by
/// all threads (the packing itself is spread over the workers). A last, partial strip is always packed,
/// zero-padded on the right.</item>
/// <item>The output is cut into tasks (rectangles of Mr×Nr tiles) that threads claim through <see cref="CpuWorkers"/>.</item>
/// <item>Inside a task, K is walked in blocks of at most <see cref="MaxKc"/>: the A micro-panel (Mr×kc) stays in L1
/// while a slice of B streams from L2, and each Mr×Nr tile of C is accumulated in registers.</item>
/// <item>A is read in place (Mr rows at a row stride, or Mr adjacent columns when transposed); only the last,
/// partial row strip is copied into a small zero-padded [kc][Mr] panel.</item>
/// </list>
/// Reproducibility: K is never split across threads, and the K blocking and the tiling depend on the shape alone,
/// so every element of C is produced by the same sequence of FMAs (acc = fma(a, b, acc) in k order, then
/// c = alpha·acc + beta·c as one fma) whatever maxDegree is and whichever thread computes it; partial tiles end
/// with the very same arithmetic. Results are therefore bit-identical for any thread count.
/// m == 1 or n == 1 take a matrix-vector path (dot products or row updates), equally thread-count independent.
/// Steady-state calls allocate nothing managed: buffers are per-thread native memory, reused.
/// </remarks>
internal static unsafe class Sgemm
{
    /// <summary>Rows of the register tile.</summary>
    private const int Mr = 6;

    /// <summary>Columns of the register tile: 4 × Vector512 (6×4 = 24 accumulators of 32 zmm), else 2 × Vector256 (12 of 16 ymm).</summary>
    private static int Nr => Vector512.IsHardwareAccelerated ? 64 : 16;

    /// <summary>Nr on the widest path: sizes the per-thread C tile.</summary>
    private const int MaxNr = 64;

    /// <summary>Largest K block: keeps the A micro-panel (Mr×kc) in L1 and a useful B slice in L2.</summary>
    private const int MaxKc = 256;

    /// <summary>Floats of B (kc × columns) a task sweeps per row strip before moving on (384 KB, under half a Zen L2).</summary>
    private const int L2SliceFloats = 96 * 1024;

    /// <summary>Cap on one packed B column block (16 MB); wider B is done in several column blocks.</summary>
    private const int MaxPackedBFloats = 4 << 20;

    /// <summary>
    /// Less work than this (multiply-adds, ~2.5 µs of kernel time) per thread is not worth splitting: measured on
    /// 2 cores, ~800K-FMA products (64×128×100) ran no faster on two threads than on one.
    /// </summary>
    internal const long MinFmasPerThread = 512 * 1024;

    /// <summary>Tasks per thread, so uneven tiles (edges, a slow core) still balance.</summary>
    private const int TasksPerThread = 4;

    private const int AxpyChunk = 256;  // outputs per task on the matrix-vector path (fits Scratch.Tile)
    private const int DotChunk = 32;

    // ------------------------------------------------------------------------------------------------ public API

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C, row-major, on up to <paramref name="maxDegree"/> threads (the caller included).
    /// beta == 0 ignores C's old contents (NaN included); k == 0 or alpha == 0 gives C = beta·C without reading A or B.
    /// The bits of the result do not depend on <paramref name="maxDegree"/>.
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda,   // transA ? [k, lda ≥ m] : [m, lda ≥ k]
        float* b, int ldb,   // transB ? [n, ldb ≥ k] : [k, ldb ≥ n]
        float beta,
        float* c, int ldc,   // [m, ldc ≥ n]
        int maxDegree)
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, default, maxDegree);
    }

    /// <summary>
    /// A linear layer's forward in one pass: C = op(A)·op(B) + bias, the bias row [n] added to every row of C, and,
    /// when <paramref name="post"/> is not null, post = f(C) with f(x) = x &gt; 0 ? x : slope·x (ReLU at slope 0, leaky
    /// ReLU otherwise), both applied as each register tile is stored. Bit for bit what copying the bias into C, then
    /// <see cref="Multiply"/> with alpha = beta = 1, then the activation over C would give (each element is
    /// fma(1, Σ, bias) either way, and f reads the stored value), without the single-threaded bias broadcast, the
    /// re-read of C and the activation's own pass over memory. post may not alias C.
    /// </summary>
    public static void MultiplyBias(bool transA, bool transB, int m, int n, int k,
        float* a, int lda,   // transA ? [k, lda ≥ m] : [m, lda ≥ k]
        float* b, int ldb,   // transB ? [n, ldb ≥ k] : [k, ldb ≥ n]
        float* bias,         // [n]
        float* c, int ldc,   // [m, ldc ≥ n]
        float* post, int ldpost, float slope,  // [m, ldpost ≥ n] or null
        int maxDegree)
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m > 0 && n > 0 && bias == null) throw new ArgumentNullException(nameof(bias));
        if (post != null) ArgumentOutOfRangeException.ThrowIfLessThan(ldpost, Math.Max(1, n));
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
            {
                float* row = c + (nint)i * ldc;
                new ReadOnlySpan<float>(bias, n).CopyTo(new Span<float>(row, n));
                if (post != null)
                    for (int j = 0; j < n; j++) post[(nint)i * ldpost + j] = Activate(row[j], slope);
            }
            return;
        }
        Run(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc, new Epilogue(bias, post, ldpost, slope), maxDegree);
    }

    private static void Run(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc, Epilogue epilogue, int maxDegree)
    {
        int degree = Math.Max(1, Math.Min(maxDegree, CpuWorkers.Count));
        degree = (int)Math.Min(degree, Math.Max(1, (long)m * n * k / MinFmasPerThread));
        if (m == 1 || n == 1)
        {
            MatrixVector(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue, degree);
            return;
        }

        int nr = Nr;
        int kBlocks = (k + MaxKc - 1) / MaxKc;
        var job = new Job
        {
            A = a, Lda = lda, TransA = transA,
            B = b, Ldb = ldb, TransB = transB,
            C = c, Ldc = ldc,
            M = m, K = k, Kc = (k + kBlocks - 1) / kBlocks,
            Alpha = alpha, Beta = beta,
            Epilogue = epilogue,
        };
        int maxBlock = transB ? Math.Max(nr, MaxPackedBFloats / k / nr * nr) : n; // row-major B is not packed
        var scratch = Scratch.Current;
        for (int j0 = 0; j0 < n; j0 += maxBlock)
        {
            job.J0 = j0;
            job.Nc = Math.Min(maxBlock, n - j0);
            int strips = (job.Nc + nr - 1) / nr;
            job.MStrips = (m + Mr - 1) / Mr;
            job.NStrips = strips;
            job.PackInTask = false;
            int want = degree == 1 ? 1 : degree * TasksPerThread;
            if (transB && strips >= degree)
            {
                // Enough column strips for every thread: each task packs its own strips of Bᵀ, then multiplies
                // them by all of A. One dispatch, and the packed panel is used by the core that wrote it.
                job.PackedB = scratch.Packed((nuint)strips * (nuint)nr * (nuint)k);
                job.PackInTask = true;
                job.MTasks = 1;
                job.NTasks = Math.Min(strips, want);
            }
            else
            {
                if (transB)
                {
                    job.PackedB = scratch.Packed((nuint)strips * (nuint)nr * (nuint)k);
                    CpuWorkers.For(strips, &PackBTask, &job, degree);
                }
                else if (!ReadsInPlace(job.Nc % nr))
                {
                    job.PackedB = scratch.Packed((nuint)nr * (nuint)k);
                    PackBTask(strips - 1, &job);
                }
                // Split the row strips first (a task then walks each A panel across its whole width), then the
                // column strips if there are too few rows. Strips are dealt out evenly.
                job.MTasks = Math.Min(job.MStrips, want);
                job.NTasks = Math.Min(strips, DivUp(want, job.MTasks));
            }
            CpuWorkers.For(job.MTasks * job.NTasks, &ComputeTask, &job, degree);
        }
    }

    /// <summary>
    /// The plain definition, for the scalar backend and as a test oracle: a naive triple loop, float accumulation
    /// in index order, single-threaded (<paramref name="maxDegree"/> is accepted for signature parity and ignored).
    /// </summary>
    public static void Reference(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda,   // transA ? [k, lda ≥ m] : [m, lda ≥ k]
        float* b, int ldb,   // transB ? [n, ldb ≥ k] : [k, ldb ≥ n]
        float beta,
        float* c, int ldc,   // [m, ldc ≥ n]
        int maxDegree)
    {
        _ = maxDegree;
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++)
                {
                    float x = transA ? a[(nint)p * lda + i] : a[(nint)i * lda + p];
                    float y = transB ? b[(nint)j * ldb + p] : b[(nint)p * ldb + j];
                    sum += x * y;
                }
                float* cij = c + (nint)i * ldc + j;
                *cij = beta == 0f ? alpha * sum : alpha * sum + beta * *cij;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ general path

    /// <summary>Everything a task needs; lives on the caller's stack for the duration of the call.</summary>
    private struct Job
    {
        public float* A, B, C;
        public nint Lda, Ldb, Ldc;
        public bool TransA, TransB;
        public int M, K, Kc;
        public float Alpha, Beta;
        public float* PackedB;             // transB: [strips, K, Nr] for columns [J0, J0 + Nc); else [K, Nr] for the partial last strip
        public int J0, Nc;
        public int MStrips, NStrips;       // Mr-row and Nr-column strips of the output block
        public int MTasks, NTasks;         // the task grid: task t takes share t % MTasks of the row strips, t / MTasks of the columns
        public bool PackInTask;            // each task packs its own column strips of Bᵀ first (then MTasks == 1)
        public Epilogue Epilogue;          // bias and activation of MultiplyBias, or none
    }

    /// <summary>
    /// What <see cref="MultiplyBias"/> adds to the store of a finished tile: the bias row in place of beta·C (first K
    /// block only; later blocks add onto what it stored) and f(C) into Post (last K block only). Pointers are at the
    /// origin of the matrix, or of one tile once <see cref="At"/> moved them; null when absent.
    /// </summary>
    private readonly struct Epilogue(float* bias, float* post, nint ldp, float slope)
    {
        public readonly float* Bias = bias;   // [n]: C = fma(alpha, acc, bias[col]) instead of beta·C
        public readonly float* Post = post;   // [m, Ldp]: f(C)
        public readonly nint Ldp = ldp;
        public readonly float Slope = slope;

        /// <summary>The parts that apply to K block [pc, pc + kc) of [0, k).</summary>
        public Epilogue Block(bool first, bool last) => new(first ? Bias : null, last ? Post : null, Ldp, Slope);

        /// <summary>Moved to the tile whose top-left element is C(row, col).</summary>
        public Epilogue At(nint row, int col) =>
            new(Bias == null ? null : Bias + col, Post == null ? null : Post + row * Ldp + col, Ldp, Slope);
    }

    /// <summary>Packs column strip <paramref name="strip"/> of op(B) (all of K) into [K][Nr], zero-padded (see <see cref="Job.PackedB"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBTask(int strip, void* state)
    {
        ref Job job = ref *(Job*)state;
        int nr = Nr, k = job.K;
        int col = job.J0 + strip * nr;
        int width = Math.Min(nr, job.J0 + job.Nc - col);
        float* dst = job.TransB ? job.PackedB + (nint)strip * k * nr : job.PackedB; // [k, Nr]
        nint ldb = job.Ldb;

        if (!job.TransB)
        {
            // op(B)(p, col + x) = B[p, col + x]. Only the partial last strip gets here (full ones are read in place).
            for (int p = 0; p < k; p++)
            {
                float* src = job.B + p * ldb + col;
                float* row = dst + (nint)p * nr;
                int x = 0;
                for (; x < width; x++) row[x] = src[x];
                for (; x < nr; x++) row[x] = 0f;
            }
            return;
        }

        // op(B)(p, col + x) = B[col + x, p]: a transpose, in 8×8 blocks where AVX allows, k-blocks outermost so
        // each packed row is completed while its cache lines are hot; scalar for the leftover rows and columns.
        // (A 16×16 AVX-512 version measured no faster: this is bound by memory traffic, not shuffles.)
        int full = 0, p0 = 0;
        if (Avx.IsSupported)
        {
            full = width / 8 * 8;
            for (; p0 + 8 <= k; p0 += 8)
                for (int x = 0; x < full; x += 8)
                    Transpose8x8(job.B + (col + x) * ldb + p0, ldb, dst + (nint)p0 * nr + x, nr);
        }
        for (int x = 0; x < nr; x++)
        {
            float* src = job.B + (col + x) * ldb;
            int p = x < full ? p0 : 0; // columns past `full` had no vector blocks
            if (x < width)
                for (; p < k; p++) dst[(nint)p * nr + x] = src[p];
            else
                for (; p < k; p++) dst[(nint)p * nr + x] = 0f;
        }
    }

    /// <summary>
    /// Whether a column strip of row-major B this wide is read in place rather than packed: full strips, and on the
    /// 64-wide path strips exactly 16 or 32 wide, which <see cref="EdgeTile"/>'s 6×16 and 6×32 kernels read whole (a
    /// conv's filter gradient has N = 16 for one input channel; packing its [K, 16] B into 64-wide zero-padded rows wrote
    /// four times the matrix and was a fifth of that gradient's time). 0 (no partial strip) counts as in place.
    /// </summary>
    private static bool ReadsInPlace(int width) => width == 0 || width == Nr || (Nr == 64 && (width == 16 || width == 32));

    /// <summary>One rectangle of the output: all of K, in blocks, for its row strips × column strips.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeTask(int task, void* state)
    {
        ref Job job = ref *(Job*)state;
        int nr = Nr, m = job.M, k = job.K;
        int mt = task % job.MTasks, nt = task / job.MTasks;
        int i0 = Share(job.MStrips, job.MTasks, mt) * Mr;
        int i1 = Math.Min(m, Share(job.MStrips, job.MTasks, mt + 1) * Mr);
        int s0 = Share(job.NStrips, job.NTasks, nt);
        int s1 = Share(job.NStrips, job.NTasks, nt + 1);
        var scratch = Scratch.Current;
        nint lda = job.Lda, ldc = job.Ldc;
        if (job.PackInTask)
            for (int s = s0; s < s1; s++) PackBTask(s, state);

        for (int pc = 0; pc < k; pc += job.Kc)
        {
            int kc = Math.Min(job.Kc, k - pc);
            float beta = pc == 0 ? job.Beta : 1f; // later K blocks add onto what the first one stored
            var epilogue = job.Epilogue.Block(pc == 0, pc + kc >= k);
            int slice = Math.Max(1, L2SliceFloats / (kc * nr));
            for (int sb = s0; sb < s1; sb += slice)
            {
                int se = Math.Min(s1, sb + slice);
                for (int i = i0; i < i1; i += Mr)
                {
                    int mr = Math.Min(Mr, m - i);
                    float* ap;      // op(A)(i + r, pc + p) = ap[r·rs + p·cs]
                    nint rs, cs;
                    if (mr == Mr)
                    {
                        // Read A in place: Mr rows of A, or Mr adjacent columns of stored A when transposed.
                        ap = job.TransA ? job.A + pc * lda + i : job.A + i * lda + pc;
                        rs = job.TransA ? 1 : lda;
                        cs = job.TransA ? lda : 1;
                    }
                    else
                    {
                        ap = scratch.APanel;
                        PackA(ref job, i, mr, pc, kc, ap);
                        rs = 1;
                        cs = Mr;
                    }
                    for (int s = sb; s < se; s++)
                    {
                        int j = s * nr;
                        int width = Math.Min(nr, job.Nc - j);
                        // op(B)(pc + p, J0 + j + x) = bp[p·bs + x]: packed, or B itself when row-major and full width.
                        bool inPlace = !job.TransB && ReadsInPlace(width);
                        nint bs = inPlace ? job.Ldb : nr;
                        float* bp = inPlace ? job.B + pc * job.Ldb + job.J0 + j
                            : job.TransB ? job.PackedB + ((nint)s * k + pc) * nr
                            : job.PackedB + (nint)pc * nr;
                        float* cp = job.C + i * ldc + job.J0 + j;  // [mr, ldc]
                        var e = epilogue.At(i, job.J0 + j);
                        if (mr == Mr && width == nr)
                            Kernel(kc, ap, rs, cs, bp, bs, cp, ldc, job.Alpha, beta, e);
                        else if (mr == Mr && width == 32 && nr == 64)
                            Kernel6x32(kc, ap, rs, cs, bp, bs, cp, ldc, job.Alpha, beta, e); // N = 32 (a conv's channels): no scratch tile
                        else
                            EdgeTile(kc, ap, rs, cs, bp, bs, cp, ldc, mr, width, job.Alpha, beta, e, scratch.Tile);
                    }
                }
            }
        }
    }

    /// <summary>Copies op(A)[i.., pc..] (mr rows, kc columns) into dst [kc][Mr], zero-padding rows mr..Mr.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(ref Job job, int i, int mr, int pc, int kc, float* dst)
    {
        nint lda = job.Lda;
        if (job.TransA)
        {
            // op(A)(i + r, pc + p) = A[pc + p, i + r]: each packed row is a short contiguous copy.
            for (int p = 0; p < kc; p++)
            {
                float* src = job.A + (pc + p) * lda + i;
                float* row = dst + p * Mr;
                int r = 0;
                for (; r < mr; r++) row[r] = src[r];
                for (; r < Mr; r++) row[r] = 0f;
            }
        }
        else
        {
            for (int r = 0; r < Mr; r++)
            {
                float* src = job.A + (i + r) * lda + pc;
                if (r < mr)
                    for (int p = 0; p < kc; p++) dst[p * Mr + r] = src[p];
                else
                    for (int p = 0; p < kc; p++) dst[p * Mr + r] = 0f;
            }
        }
    }

    /// <summary>
    /// A partial tile: the kernel leaves its raw sums in a scratch tile (alpha 1, beta 0 is exact), then the valid
    /// part is folded into C with the same formula as <see cref="Update(float*, Vector512{float}, Vector512{float}, Vector512{float}, bool, in Epilogue, nint, int)"/>,
    /// so edge elements get exactly the bits they would get inside a full tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeTile(int kc, float* a, nint rs, nint cs, float* b, nint bs, float* c, nint ldc, int mr, int width,
        float alpha, float beta, in Epilogue e, float* tile)
    {
        int nr = Nr;
        if (Vector512.IsHardwareAccelerated && width <= 16)
            Kernel6x16(kc, a, rs, cs, b, bs, tile, nr, 1f, 0f, default); // a quarter of the work of the 64-wide kernel, same bits
        else if (Vector512.IsHardwareAccelerated && width <= 32)
            Kernel6x32(kc, a, rs, cs, b, bs, tile, nr, 1f, 0f, default); // half of it (a conv with 32 output channels), same bits
        else
            Kernel(kc, a, rs, cs, b, bs, tile, nr, 1f, 0f, default);
        bool overwrite = beta == 0f;
        for (int r = 0; r < mr; r++)
        {
            float* acc = tile + r * nr, row = c + r * ldc;
            int x = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var va = Vector512.Create(alpha);
                var vb = Vector512.Create(beta);
                for (; x + 16 <= width; x += 16) Update(row + x, Vector512.Load(acc + x), va, vb, overwrite, e, r, x);
            }
            var va8 = Vector256.Create(alpha);
            var vb8 = Vector256.Create(beta);
            for (; x + 8 <= width; x += 8) Update(row + x, Vector256.Load(acc + x), va8, vb8, overwrite, e, r, x);
            for (; x < width; x++)
            {
                float v = e.Bias != null ? MathF.FusedMultiplyAdd(alpha, acc[x], e.Bias[x]) : Update(row[x], acc[x], alpha, beta);
                row[x] = v;
                if (e.Post != null) e.Post[r * e.Ldp + x] = Activate(v, e.Slope);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int kc, float* a, nint rs, nint cs, float* b, nint bs, float* c, nint ldc, float alpha, float beta, in Epilogue e)
    {
        if (Vector512.IsHardwareAccelerated) Kernel6x64(kc, a, rs, cs, b, bs, c, ldc, alpha, beta, e);
        else Kernel6x16(kc, a, rs, cs, b, bs, c, ldc, alpha, beta, e);
    }

    // ------------------------------------------------------------------------------------------------ micro-kernels

    /// <summary>
    /// C[6, 64] = alpha·(A·B) + beta·C with 24 zmm accumulators: per k, 4 vector loads of B, 6 broadcasts of A,
    /// 24 FMAs. beta == 0 never reads C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x64(int kc,
        float* a, nint rs, nint cs, // op(A) micro-panel: element (r, p) at a[r·rs + p·cs], r < 6, p < kc
        float* b, nint bs,          // [kc, bs ≥ 64]
        float* c, nint ldc,         // [6, ldc]
        float alpha, float beta, in Epilogue e)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        float* a0 = a, a3 = a + 3 * rs; // rows 0-2 and 3-5, each reached with offsets 0, rs, 2·rs
        nint rs2 = rs + rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            var x = Vector512.Create(a0[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a0[rs]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a0[rs2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[0]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            x = Vector512.Create(a3[rs]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(x, b2, c42); c43 = Vector512.FusedMultiplyAdd(x, b3, c43);
            x = Vector512.Create(a3[rs2]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(x, b2, c52); c53 = Vector512.FusedMultiplyAdd(x, b3, c53);
            a0 += cs;
            a3 += cs;
            b += bs;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool overwrite = beta == 0f;
        Store(c, ldc, 0, c00, c01, c02, c03, va, vb, overwrite, e);
        Store(c, ldc, 1, c10, c11, c12, c13, va, vb, overwrite, e);
        Store(c, ldc, 2, c20, c21, c22, c23, va, vb, overwrite, e);
        Store(c, ldc, 3, c30, c31, c32, c33, va, vb, overwrite, e);
        Store(c, ldc, 4, c40, c41, c42, c43, va, vb, overwrite, e);
        Store(c, ldc, 5, c50, c51, c52, c53, va, vb, overwrite, e);
    }

    /// <summary>
    /// <see cref="Kernel6x64"/>'s first 32 columns: C[6, 32] with 12 zmm accumulators, for tiles at most 32 wide (a GEMM
    /// whose N is 32, as the DCGAN's first conv layers have, ran every tile through the 64-wide kernel on zero padding).
    /// Each output is the same chain of FMAs over p as in the wide kernel, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x32(int kc,
        float* a, nint rs, nint cs, // op(A) micro-panel: element (r, p) at a[r·rs + p·cs], r < 6, p < kc
        float* b, nint bs,          // [kc, bs ≥ 32]
        float* c, nint ldc,         // [6, ldc]
        float alpha, float beta, in Epilogue e)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a0 = a, a3 = a + 3 * rs;
        nint rs2 = rs + rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a0[rs]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a0[rs2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[0]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a3[rs]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a3[rs2]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            a0 += cs;
            a3 += cs;
            b += bs;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool overwrite = beta == 0f;
        Store(c, ldc, 0, c00, c01, va, vb, overwrite, e);
        Store(c, ldc, 1, c10, c11, va, vb, overwrite, e);
        Store(c, ldc, 2, c20, c21, va, vb, overwrite, e);
        Store(c, ldc, 3, c30, c31, va, vb, overwrite, e);
        Store(c, ldc, 4, c40, c41, va, vb, overwrite, e);
        Store(c, ldc, 5, c50, c51, va, vb, overwrite, e);
    }

    /// <summary>The AVX2 shape of <see cref="Kernel6x64"/>: C[6, 16] with 12 ymm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc,
        float* a, nint rs, nint cs, // op(A) micro-panel: element (r, p) at a[r·rs + p·cs], r < 6, p < kc
        float* b, nint bs,          // [kc, bs ≥ 16]
        float* c, nint ldc,         // [6, ldc]
        float alpha, float beta, in Epilogue e)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a0 = a, a3 = a + 3 * rs;
        nint rs2 = rs + rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a0[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a0[rs]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a0[rs2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[0]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a3[rs]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a3[rs2]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a0 += cs;
            a3 += cs;
            b += bs;
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool overwrite = beta == 0f;
        Store(c, ldc, 0, c00, c01, va, vb, overwrite, e);
        Store(c, ldc, 1, c10, c11, va, vb, overwrite, e);
        Store(c, ldc, 2, c20, c21, va, vb, overwrite, e);
        Store(c, ldc, 3, c30, c31, va, vb, overwrite, e);
        Store(c, ldc, 4, c40, c41, va, vb, overwrite, e);
        Store(c, ldc, 5, c50, c51, va, vb, overwrite, e);
    }

    // c = alpha·acc (beta == 0), fma(alpha, acc, beta·c), or fma(alpha, acc, bias) with an epilogue's bias; then post =
    // f(c) where the epilogue has one. The scalar paths below use exactly the same formulas.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, nint ldc, int r, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        Vector512<float> alpha, Vector512<float> beta, bool overwrite, in Epilogue e)
    {
        float* row = c + r * ldc;
        Update(row, x0, alpha, beta, overwrite, e, r, 0); Update(row + 16, x1, alpha, beta, overwrite, e, r, 16);
        Update(row + 32, x2, alpha, beta, overwrite, e, r, 32); Update(row + 48, x3, alpha, beta, overwrite, e, r, 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, nint ldc, int r, Vector512<float> x0, Vector512<float> x1,
        Vector512<float> alpha, Vector512<float> beta, bool overwrite, in Epilogue e)
    {
        float* row = c + r * ldc;
        Update(row, x0, alpha, beta, overwrite, e, r, 0); Update(row + 16, x1, alpha, beta, overwrite, e, r, 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, nint ldc, int r, Vector256<float> x0, Vector256<float> x1,
        Vector256<float> alpha, Vector256<float> beta, bool overwrite, in Epilogue e)
    {
        float* row = c + r * ldc;
        Update(row, x0, alpha, beta, overwrite, e, r, 0); Update(row + 8, x1, alpha, beta, overwrite, e, r, 8);
    }

    /// <summary>Stores element (r, col..col + 15) of a tile whose top-left element is at c − col − r·ldc (see <see cref="Epilogue.At"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, bool overwrite,
        in Epilogue e, nint r, int col)
    {
        var v = e.Bias != null ? Vector512.FusedMultiplyAdd(alpha, acc, Vector512.Load(e.Bias + col))
            : overwrite ? alpha * acc : Vector512.FusedMultiplyAdd(alpha, acc, beta * Vector512.Load(c));
        Vector512.Store(v, c);
        if (e.Post != null)
            Vector512.Store(Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, v * e.Slope), e.Post + r * e.Ldp + col);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(float* c, Vector256<float> acc, Vector256<float> alpha, Vector256<float> beta, bool overwrite,
        in Epilogue e, nint r, int col)
    {
        var v = e.Bias != null ? Vector256.FusedMultiplyAdd(alpha, acc, Vector256.Load(e.Bias + col))
            : overwrite ? alpha * acc : Vector256.FusedMultiplyAdd(alpha, acc, beta * Vector256.Load(c));
        Vector256.Store(v, c);
        if (e.Post != null)
            Vector256.Store(Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<float>.Zero), v, v * e.Slope), e.Post + r * e.Ldp + col);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Update(float c, float acc, float alpha, float beta) =>
        beta == 0f ? alpha * acc : MathF.FusedMultiplyAdd(alpha, acc, beta * c);

    /// <summary>The activation of an epilogue, as the backends' leaky ReLU computes it (ReLU is slope 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Activate(float x, float slope) => x > 0 ? x : slope * x;

    // ------------------------------------------------------------------------------------------------ packing helpers

    /// <summary>dst[q, r] = src[r, q] for an 8×8 block (AVX unpack/shuffle/permute network; callers check Avx.IsSupported).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(float* src, nint lds, // [8, lds]
        float* dst, nint ldd)                              // [8, ldd]
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds);
        var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds);
        var r5 = Avx.LoadVector256(src + 5 * lds);
        var r6 = Avx.LoadVector256(src + 6 * lds);
        var r7 = Avx.LoadVector256(src + 7 * lds);
        // Interleave pairs of rows: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ...
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        // Gather four rows per column within each 128-bit lane: u0 = r0..3[0] | r0..3[4], ...
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Join the lanes of rows 0-3 and 4-7.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    // ------------------------------------------------------------------------------------------------ m == 1 or n == 1

    /// <summary>
    /// A matrix-vector product, y(t) = alpha·Σp X(t, p)·v[p] + beta·y(t): packing B into 64-wide strips would waste
    /// 63/64 of the work when n == 1, and would cost as much as the product itself when m == 1.
    /// </summary>
    private struct VectorJob
    {
        public float* X;           // X(t, p) = X[t·Ts + p·Ps], t < T, p < K
        public nint Ts, Ps;
        public float* V;           // [K], contiguous
        public float* Y;           // y(t) = Y[t·Ys]
        public nint Ys;
        public int T, K, Chunk;
        public float Alpha, Beta;
        public float* Bias;        // an epilogue's bias of output t at Bias[t·BiasStride], or null
        public nint BiasStride;
        public float* Post;        // an epilogue's f(y(t)) at Post[t·PostStride], or null
        public nint PostStride;
        public float Slope;

        /// <summary>Stores output t: alpha·sum, fma(alpha, sum, beta·y), or fma(alpha, sum, bias), then f into Post.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Finish(int t, float sum)
        {
            float* y = Y + t * Ys;
            float v = Bias != null ? MathF.FusedMultiplyAdd(Alpha, sum, Bias[t * BiasStride]) : Update(*y, sum, Alpha, Beta);
            *y = v;
            if (Post != null) Post[t * PostStride] = Activate(v, Slope);
        }
    }

    private static void MatrixVector(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, nint lda, float* b, nint ldb, float beta, float* c, nint ldc, in Epilogue epilogue, int degree)
    {
        var job = new VectorJob { K = k, Alpha = alpha, Beta = beta, Y = c, Bias = epilogue.Bias, Post = epilogue.Post, Slope = epilogue.Slope };
        float* v;
        nint vs;
        if (n == 1)
        {
            // Outputs run down column 0 of C; the matrix is op(A), the vector op(B)(·, 0).
            job.T = m;
            job.Ys = ldc;
            job.BiasStride = 0;             // every output is column 0
            job.PostStride = epilogue.Ldp;
            job.X = a;
            job.Ts = transA ? 1 : lda;
            job.Ps = transA ? lda : 1;
            v = b;
            vs = transB ? 1 : ldb;
        }
        else
        {
            // m == 1: outputs run along row 0 of C; the matrix is op(B)ᵀ, the vector op(A)(0, ·).
            job.T = n;
            job.Ys = 1;
            job.BiasStride = 1;
            job.PostStride = 1;
            job.X = b;
            job.Ts = transB ? ldb : 1;
            job.Ps = transB ? 1 : ldb;
            v = a;
            vs = transA ? lda : 1;
        }
        if (vs != 1)
        {
            float* packed = Scratch.Current.Packed((nuint)k);
            for (int p = 0; p < k; p++) packed[p] = v[p * vs];
            v = packed;
        }
        job.V = v;
        if (job.Ps == 1)
        {
            job.Chunk = DotChunk;
            CpuWorkers.For(DivUp(job.T, job.Chunk), &DotTask, &job, degree);
        }
        else
        {
            job.Chunk = AxpyChunk;
            CpuWorkers.For(DivUp(job.T, job.Chunk), &AxpyTask, &job, degree);
        }
    }

    /// <summary>Outputs whose matrix row is contiguous in p: one dot product each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTask(int task, void* state)
    {
        ref VectorJob job = ref *(VectorJob*)state;
        int t0 = task * job.Chunk, t1 = Math.Min(job.T, t0 + job.Chunk);
        int t = t0;
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported)
        {
            // Eight rows at a time share each load of the vector and reduce together (a batch-1 generator layer is
            // ~800 such rows; one horizontal sum per row cost more than its 8 FMAs). Blocks start at t0, a multiple
            // of DotChunk, so how the chunks are dealt to threads never changes which rows share a block.
            for (; t + 8 <= t1; t += 8)
            {
                var sums = Dot8(job.X + t * job.Ts, job.Ts, job.V, job.K);
                for (int j = 0; j < 8; j++) job.Finish(t + j, sums.GetElement(j));
            }
        }
        for (; t < t1; t++) job.Finish(t, Dot(job.X + t * job.Ts, job.V, job.K));
    }

    /// <summary>Σ_p x[r·ld + p]·v[p] for rows r = 0..7: 16-wide FMAs, 4-wide ones for the remainder, one transpose-and-add reduction, then a scalar tail of at most 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Dot8(float* x, nint ld, float* v, int n)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        int n16 = n & ~15;
        for (int i = 0; i < n16; i += 16)
        {
            var vv = Vector512.Load(v + i);
            float* p = x + i;
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(p), vv, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(p + ld), vv, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(p + 2 * ld), vv, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(p + 3 * ld), vv, a3);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Load(p + 4 * ld), vv, a4);
            a5 = Vector512.FusedMultiplyAdd(Vector512.Load(p + 5 * ld), vv, a5);
            a6 = Vector512.FusedMultiplyAdd(Vector512.Load(p + 6 * ld), vv, a6);
            a7 = Vector512.FusedMultiplyAdd(Vector512.Load(p + 7 * ld), vv, a7);
        }
        // Four-wide steps of the remainder (K = 100 leaves 4), kept per row in 128 bits.
        Vector128<float> t0 = default, t1 = default, t2 = default, t3 = default, t4 = default, t5 = default, t6 = default, t7 = default;
        int n4 = n & ~3;
        for (int i = n16; i < n4; i += 4)
        {
            var vv = Vector128.Load(v + i);
            float* p = x + i;
            t0 = Vector128.FusedMultiplyAdd(Vector128.Load(p), vv, t0);
            t1 = Vector128.FusedMultiplyAdd(Vector128.Load(p + ld), vv, t1);
            t2 = Vector128.FusedMultiplyAdd(Vector128.Load(p + 2 * ld), vv, t2);
            t3 = Vector128.FusedMultiplyAdd(Vector128.Load(p + 3 * ld), vv, t3);
            t4 = Vector128.FusedMultiplyAdd(Vector128.Load(p + 4 * ld), vv, t4);
            t5 = Vector128.FusedMultiplyAdd(Vector128.Load(p + 5 * ld), vv, t5);
            t6 = Vector128.FusedMultiplyAdd(Vector128.Load(p + 6 * ld), vv, t6);
            t7 = Vector128.FusedMultiplyAdd(Vector128.Load(p + 7 * ld), vv, t7);
        }
        // 512 → 256 bits per row, then rows r and r + 4 share a register (one per 128-bit lane, where the
        // four-wide remainder joins them), then three horizontal adds leave row r's sum in element r.
        var b0 = a0.GetLower() + a0.GetUpper(); var b1 = a1.GetLower() + a1.GetUpper();
        var b2 = a2.GetLower() + a2.GetUpper(); var b3 = a3.GetLower() + a3.GetUpper();
        var b4 = a4.GetLower() + a4.GetUpper(); var b5 = a5.GetLower() + a5.GetUpper();
        var b6 = a6.GetLower() + a6.GetUpper(); var b7 = a7.GetLower() + a7.GetUpper();
        var c0 = Vector256.Create(b0.GetLower(), b4.GetLower()) + Vector256.Create(b0.GetUpper(), b4.GetUpper()) + Vector256.Create(t0, t4);
        var c1 = Vector256.Create(b1.GetLower(), b5.GetLower()) + Vector256.Create(b1.GetUpper(), b5.GetUpper()) + Vector256.Create(t1, t5);
        var c2 = Vector256.Create(b2.GetLower(), b6.GetLower()) + Vector256.Create(b2.GetUpper(), b6.GetUpper()) + Vector256.Create(t2, t6);
        var c3 = Vector256.Create(b3.GetLower(), b7.GetLower()) + Vector256.Create(b3.GetUpper(), b7.GetUpper()) + Vector256.Create(t3, t7);
        var sums = Avx.HorizontalAdd(Avx.HorizontalAdd(c0, c1), Avx.HorizontalAdd(c2, c3));
        if (n4 == n) return sums;
        for (int r = 0; r < 8; r++)
        {
            float acc = sums.GetElement(r);
            float* row = x + r * ld;
            for (int i = n4; i < n; i++) acc = MathF.FusedMultiplyAdd(row[i], v[i], acc);
            sums = sums.WithElement(r, acc);
        }
        return sums;
    }

    /// <summary>Outputs contiguous in the matrix (Ts == 1): accumulate v[p]·row p over a chunk of outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyTask(int task, void* state)
    {
        ref VectorJob job = ref *(VectorJob*)state;
        int t0 = task * job.Chunk, count = Math.Min(job.T - t0, job.Chunk);
        float* acc = Scratch.Current.Tile; // [count]
        new Span<float>(acc, count).Clear();
        for (int p = 0; p < job.K; p++)
        {
            float* row = job.X + p * job.Ps + t0; // [count]
            float vp = job.V[p];
            int x = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vv = Vector512.Create(vp);
                for (; x + 16 <= count; x += 16)
                    Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(row + x), vv, Vector512.Load(acc + x)), acc + x);
            }
            else
            {
                var vv = Vector256.Create(vp);
                for (; x + 8 <= count; x += 8)
                    Vector256.Store(Vector256.FusedMultiplyAdd(Vector256.Load(row + x), vv, Vector256.Load(acc + x)), acc + x);
            }
            for (; x < count; x++) acc[x] = MathF.FusedMultiplyAdd(row[x], vp, acc[x]); // same fused rounding as the vector lanes
        }
        for (int x = 0; x < count; x++) job.Finish(t0 + x, acc[x]);
    }

    /// <summary>Σ x[i]·y[i] with four vector accumulators; a fixed order for a given n, so deterministic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* x, float* y, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 16), Vector512.Load(y + i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 32), Vector512.Load(y + i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 48), Vector512.Load(y + i + 48), s3);
            }
            for (; i + 16 <= n; i += 16) s0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 16), Vector256.Load(y + i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 24), Vector256.Load(y + i + 24), s3);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    // ------------------------------------------------------------------------------------------------ misc

    private static void ScaleC(int m, int n, float beta, float* c, nint ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f)
                for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    private static void Validate(bool transA, bool transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, Math.Max(1, transA ? m : k));
        ArgumentOutOfRangeException.ThrowIfLessThan(ldb, Math.Max(1, transB ? k : n));
        ArgumentOutOfRangeException.ThrowIfLessThan(ldc, Math.Max(1, n));
        if (m > 0 && n > 0)
        {
            if (c == null) throw new ArgumentNullException(nameof(c));
            if (k > 0 && (a == null || b == null)) throw new ArgumentNullException(a == null ? nameof(a) : nameof(b));
        }
    }

    private static int DivUp(int x, int y) => (x + y - 1) / y;

    /// <summary>Where part <paramref name="part"/> of <paramref name="total"/> items dealt evenly into <paramref name="parts"/> begins.</summary>
    private static int Share(int total, int parts, int part) => (int)((long)total * part / parts);

    /// <summary>
    /// Per-thread native buffers (64-byte aligned), created on a thread's first GEMM and reused, so steady-state
    /// calls allocate nothing. The calling thread's <see cref="Packed"/> buffer holds the shared packed B (the
    /// caller outlives the parallel loop). Freed by the finalizer once the thread has died.
    /// </summary>
    private sealed class Scratch
    {
        [ThreadStatic] private static Scratch? t_current;

        public static Scratch Current => t_current ??= new Scratch();

        /// <summary>[MaxKc, Mr]: a packed A micro-panel.</summary>
        public readonly float* APanel = Alloc(MaxKc * Mr);

        /// <summary>[Mr, MaxNr]: a padded C tile, or matrix-vector accumulators.</summary>
        public readonly float* Tile = Alloc(Math.Max(Mr * MaxNr, AxpyChunk));

        private float* _packed;
        private nuint _packedCount;

        /// <summary>A buffer of at least <paramref name="count"/> floats; contents are not kept across growth.</summary>
        public float* Packed(nuint count)
        {
            if (count > _packedCount)
            {
                NativeMemory.AlignedFree(_packed);
                _packed = null;
                _packedCount = 0;
                _packed = Alloc(count);
                _packedCount = count;
            }
            return _packed;
        }

        ~Scratch()
        {
            NativeMemory.AlignedFree(APanel);
            NativeMemory.AlignedFree(Tile);
            NativeMemory.AlignedFree(_packed);
        }

        private static float* Alloc(nuint count) => (float*)NativeMemory.AlignedAlloc(Math.Max(count, 1) * sizeof(float), 64);

        private static float* Alloc(int count) => Alloc((nuint)count);
    }
}
