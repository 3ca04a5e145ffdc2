using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Runtime.Intrinsics.X86;
using FinGen.Native.Randomness;

namespace FinGen.Native.Data;

/// <summary>
/// Return paths from a price model, drawn a chunk of paths at a time (<see cref="MoveNext"/>, then
/// <see cref="Returns"/>), so that memory is set by the chunk and not by the number of paths: 100,000 paths of 252 days
/// are 25 million returns, and holding them all (with their generated windows and the Parquet columns built from them)
/// took 2.2 GB. Each path chains generated windows decoded by the encoding; a volatility filter re-colours each path's
/// standardized residuals from the filter's start variance. How the days are strung together is <see cref="PathDays"/>:
/// <list type="bullet">
/// <item><see cref="PathDays.Windows"/>: path p takes windows p·W .. p·W + W − 1 (W windows a path) of one draw under the
/// seed, so any chunking gives the same paths.</item>
/// <item><see cref="PathDays.Independent"/>: the windows of <see cref="DataSets.DecodedWindows"/> (a seed per 4,096
/// windows), their days shuffled together within each block of <see cref="DefaultShufflePaths"/> paths (Fisher–Yates on
/// Philox words b·2⁴⁰ + i of the <see cref="Philox.Stream.PathDays"/> stream for block b), then dealt out in order. For
/// at most one block of paths that is exactly one shuffle of all the generated days; a shuffle across every path would
/// need every path's days in memory at once.</item>
/// </list>
/// A chunk's windows are generated and decoded in parallel work items of whole 64-sample draws (the sampler's batch),
/// so the numbers are those of one serial draw, bit for bit, whatever the chunk size and thread count.
/// </summary>
public sealed class ReturnPathStream
{
    /// <summary>Paths per chunk at most (4,096 paths of 252 days: a Parquet row group of about a million rows).</summary>
    public const int DefaultChunkPaths = 4096;
    /// <summary><see cref="PathDays.Independent"/>: the paths whose generated days are shuffled together.</summary>
    public const int DefaultShufflePaths = 16384;
    /// <summary>Returns one chunk may hold at most (64 MB of floats); longer paths get fewer paths a chunk.</summary>
    const int MaxChunkReturns = 1 << 24;
    /// <summary>The sampler's batch: a draw that starts on a multiple of it gives the numbers of one whole draw.</summary>
    const int SamplerBatch = 64;
    /// <summary>Windows per parallel work item of generation and decoding (a multiple of <see cref="SamplerBatch"/>).</summary>
    const int PieceWindows = 1024;
    /// <summary>Windows per noise seed of <see cref="DataSets.DecodedWindows"/>; window k uses seed + ⌊k/4096⌋·<see cref="SeedStep"/>.</summary>
    const int SeedChunkWindows = 4096;
    const ulong SeedStep = 0x9E3779B97F4A7C15UL;
    /// <summary>Philox words computed at once for the shuffle.</summary>
    const int ShuffleWords = 4096;

    private readonly Sampler _sampler;
    private readonly IImageEncoding _encoding;
    private readonly VolatilityFilter? _filter;
    private readonly ulong _seed;
    private readonly PathDays _days;
    private readonly int _window, _perPath, _chunkPaths, _shufflePaths;
    private readonly float[] _returns;  // [chunk, Length]
    private readonly float[] _decoded;  // Windows: the chunk's decoded windows [chunk·W, L]; Independent: the block's shuffled days
    private readonly uint[] _words;     // Independent: Philox words of the shuffle
    private readonly int[] _targets;    // Independent: the days they swap with
    private readonly Timings _timings = new();
    private int _next;
    private int _block = -1;            // Independent: the block whose days _decoded holds

    /// <summary>Draws <paramref name="paths"/> paths of <paramref name="length"/> days under <paramref name="seed"/>.</summary>
    public ReturnPathStream(Sampler sampler, IImageEncoding encoding, int paths, int length, ulong seed, VolatilityFilter? filter = null,
        PathDays days = PathDays.Windows)
        : this(sampler, encoding, paths, length, seed, filter, days, ChunkPathsFor(length), DefaultShufflePaths)
    {
    }

    /// <summary>With a chosen chunk and shuffle block (multiples of 64, the block a multiple of the chunk): for tests of what they do not change.</summary>
    internal ReturnPathStream(Sampler sampler, IImageEncoding encoding, int paths, int length, ulong seed, VolatilityFilter? filter, PathDays days,
        int chunkPaths, int shufflePaths)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(encoding);
        ArgumentOutOfRangeException.ThrowIfNegative(paths);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if (chunkPaths <= 0 || chunkPaths % SamplerBatch != 0 || shufflePaths % chunkPaths != 0)
            Throw.Argument($"chunks of {chunkPaths} paths in shuffle blocks of {shufflePaths}: both multiples of {SamplerBatch}, the block a multiple of the chunk");
        if (sampler.Condition is not null && days == PathDays.Independent)
            Throw.User("--path-days independent does not apply to a conditional model: each window is drawn given the path before it");
        _sampler = sampler;
        _encoding = encoding;
        _filter = filter?.ForPaths();
        _seed = seed;
        _days = days;
        Paths = paths;
        Length = length;
        _window = encoding.WindowLength;
        _perPath = (length + _window - 1) / _window;
        _chunkPaths = chunkPaths;
        _shufflePaths = shufflePaths;
        int held = Math.Min(paths, days == PathDays.Independent ? shufflePaths : chunkPaths);
        if ((long)held * _perPath * _window > Array.MaxLength)
            Throw.User($"{held} paths of {length} days do not fit in one array; use a shorter --length");
        _returns = new float[(long)Math.Min(paths, chunkPaths) * length];
        _decoded = new float[(long)held * _perPath * _window];
        _words = days == PathDays.Independent ? new uint[ShuffleWords] : [];
        _targets = new int[_words.Length];
    }

    /// <summary>Paths in all.</summary>
    public int Paths { get; }
    /// <summary>Days a path.</summary>
    public int Length { get; }
    /// <summary>The first path of the current chunk.</summary>
    public int FirstPath { get; private set; }
    /// <summary>Paths in the current chunk.</summary>
    public int Count { get; private set; }
    /// <summary>The current chunk's log returns [Count, Length], path-major; valid until the next <see cref="MoveNext"/>.</summary>
    public ReadOnlySpan<float> Returns => _returns.AsSpan(0, Count * Length);

    /// <summary>CPU time spent drawing windows from the model (latent noise and the generator), summed over threads (<see cref="ThreadCpuClock"/>).</summary>
    public TimeSpan GenerationTime => new(_timings.Generation);
    /// <summary>CPU time spent decoding generated images to windows of returns (or residuals), summed over threads.</summary>
    public TimeSpan DecodingTime => new(_timings.Decoding);
    /// <summary>CPU time spent stringing windows into paths: the day shuffle and the filter's re-colouring, summed over threads.</summary>
    public TimeSpan ChainingTime => new(_timings.Chaining);

    /// <summary>Bytes this stream holds for its chunks, whatever <see cref="Paths"/> is beyond one chunk (one shuffle block when independent).</summary>
    public long BufferBytes => sizeof(float) * ((long)_returns.Length + _decoded.Length) + (sizeof(uint) + sizeof(int)) * (long)_words.Length
        + PieceBytes(_sampler.SampleSize);

    /// <summary>
    /// About the bytes a stream of these sizes holds (its buffers and one generation work item per core), for refusing
    /// sizes beyond the machine before anything is allocated.
    /// </summary>
    public static long BufferBytesFor(int paths, int length, int windowLength, int sampleSize, PathDays days)
    {
        int chunk = ChunkPathsFor(length), perPath = (length + windowLength - 1) / windowLength;
        int held = Math.Min(paths, days == PathDays.Independent ? DefaultShufflePaths : chunk);
        return sizeof(float) * ((long)Math.Min(paths, chunk) * length + (long)held * perPath * windowLength) + PieceBytes(sampleSize);
    }

    /// <summary>Paths a chunk for paths of <paramref name="length"/> days: 4,096, halved until the chunk's returns fit 64 MB (at least 64).</summary>
    public static int ChunkPathsFor(int length)
    {
        int chunk = DefaultChunkPaths;
        while (chunk > SamplerBatch && (long)chunk * length > MaxChunkReturns) chunk /= 2;
        return chunk;
    }

    static long PieceBytes(int sampleSize) => (long)Environment.ProcessorCount * PieceWindows * sampleSize * sizeof(float);

    /// <summary>Draws the next chunk; false when every path has been drawn.</summary>
    public bool MoveNext()
    {
        if (_next >= Paths)
        {
            Count = 0;
            return false;
        }
        int first = _next, count = Math.Min(_chunkPaths, Paths - first);
        if (_sampler.Condition is not null) ConditionalChunk(first, count);
        else if (_days == PathDays.Independent) IndependentChunk(first, count);
        else WindowsChunk(first, count);
        FirstPath = first;
        Count = count;
        _next = first + count;
        return true;
    }

    /// <summary>
    /// A conditional model's chunk: <see cref="DataSets.ConditionalReturnPaths"/> rolled out from the real history, under
    /// the seed itself for the first chunk (so up to one chunk of paths equals the in-memory draw) and a seed of its own
    /// for each later one.
    /// </summary>
    private void ConditionalChunk(int first, int count)
    {
        var condition = _sampler.Condition!;
        ulong seed = first == 0 ? _seed : _seed + (ulong)(first / _chunkPaths) * 0xD1B54A32D192ED03UL;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var paths = DataSets.ConditionalReturnPaths(_sampler, _encoding, condition, condition.History, count, Length, seed, _filter);
        _timings.Generation += System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks;
        for (int p = 0; p < count; p++)
            for (int d = 0; d < Length; d++) _returns[p * Length + d] = (float)paths[p][d];
    }

    private void WindowsChunk(int first, int count)
    {
        GenerateDecoded(_sampler, _encoding, (long)first * _perPath, count * _perPath, _seed, seedPerChunk: false, _decoded, _timings);
        ParallelFor(count, _timings, p =>
        {
            var row = _returns.AsSpan(p * Length, Length);
            var state = _filter?.PathStart(_seed, first + p) ?? default;
            for (int w = 0; w < _perPath; w++)
            {
                var window = _decoded.AsSpan((p * _perPath + w) * _window, _window);
                if (_filter is not null) state = _filter.Recolour(state, window, window);
                int days = Math.Min(_window, Length - w * _window);
                window[..days].CopyTo(row.Slice(w * _window, days));
            }
        });
    }

    private void IndependentChunk(int first, int count)
    {
        int block = first / _shufflePaths, blockFirst = block * _shufflePaths;
        if (block != _block) ShuffledBlock(block);
        ParallelFor(count, _timings, p =>
        {
            var z = _decoded.AsSpan((first - blockFirst + p) * _perPath * _window, Length);
            var row = _returns.AsSpan(p * Length, Length);
            if (_filter is not null) _filter.Recolour(_filter.PathStart(_seed, first + p), z, row);
            else z.CopyTo(row);
        });
    }

    /// <summary>The generated days of block <paramref name="block"/>'s paths, decoded and shuffled together, into <see cref="_decoded"/>.</summary>
    private void ShuffledBlock(int block)
    {
        int blockFirst = block * _shufflePaths, blockPaths = Math.Min(_shufflePaths, Paths - blockFirst);
        int days = blockPaths * _perPath * _window;
        GenerateDecoded(_sampler, _encoding, (long)blockFirst * _perPath, blockPaths * _perPath, _seed, seedPerChunk: true, _decoded, _timings);
        long start = ThreadCpuClock.Now();
        Shuffle(_decoded.AsSpan(0, days), _words, _targets, _seed, (ulong)block << 40);
        Interlocked.Add(ref _timings.Chaining, ThreadCpuClock.Now() - start);
        _block = block;
    }

    /// <summary>
    /// Fisher–Yates from the end: day i swaps with day j = ⌊word(counterBase + i)·(i + 1)/2³²⌋ of the <see cref="Philox.Stream.PathDays"/>
    /// stream. The js of a batch of words are known before its swaps, so the day a swap a few steps ahead will touch is
    /// prefetched: a block's days (16 MB) live in the last-level cache at best, and a swap waits for two misses.
    /// </summary>
    private static unsafe void Shuffle(Span<float> pool, uint[] words, int[] targets, ulong seed, ulong counterBase)
    {
        const int Ahead = 16;
        fixed (float* days = pool)
        {
            for (int high = pool.Length - 1; high > 0; high -= words.Length)
            {
                int low = Math.Max(1, high - words.Length + 1), count = high - low + 1;
                Philox.FillWords(words.AsSpan(0, count), seed, (ulong)Philox.Stream.PathDays, counterBase + (ulong)low);
                for (int k = 0; k < count; k++) targets[k] = Philox.Bounded(words[k], low + k + 1);
                for (int i = high; i >= low; i--)
                {
                    if (Sse.IsSupported && i - Ahead >= low) Sse.Prefetch0(days + targets[i - Ahead - low]);
                    int j = targets[i - low];
                    (days[i], days[j]) = (days[j], days[i]);
                }
            }
        }
    }

    /// <summary>
    /// Generated samples <paramref name="first"/> .. first + count − 1, decoded into <paramref name="destination"/>
    /// [count, L], in parallel work items of <see cref="PieceWindows"/>. With <paramref name="seedPerChunk"/> sample k is
    /// sample k mod 4096 of the draw under seed + ⌊k/4096⌋·step (<see cref="DataSets.DecodedWindows"/>), else sample k of
    /// one draw under <paramref name="seed"/>. <paramref name="first"/> is a multiple of 64, so every work item starts a
    /// whole batch of the draw it belongs to and computes exactly the numbers of that draw.
    /// </summary>
    internal static void GenerateDecoded(Sampler sampler, IImageEncoding encoding, long first, int count, ulong seed, bool seedPerChunk,
        float[] destination, Timings? timings)
    {
        if (count == 0) return;
        if (first % SamplerBatch != 0) Throw.Argument($"generated windows from {first}: a draw in parts starts on a multiple of {SamplerBatch}", nameof(first));
        int size = sampler.SampleSize, window = encoding.WindowLength;
        long end = first + count, firstPiece = first / PieceWindows, pieces = (end - 1) / PieceWindows - firstPiece + 1;
        ParallelFor(pieces, () => ArrayPool<float>.Shared.Rent(PieceWindows * size), (k, samples) =>
        {
            long from = Math.Max(first, (firstPiece + k) * PieceWindows), to = Math.Min(end, (firstPiece + k + 1) * PieceWindows);
            int n = (int)(to - from);
            long start = ThreadCpuClock.Now();
            if (seedPerChunk)
            {
                long chunk = from / SeedChunkWindows;
                sampler.Sample(samples.AsSpan(0, n * size), n, seed + (ulong)chunk * SeedStep, from - chunk * SeedChunkWindows);
            }
            else
            {
                sampler.Sample(samples.AsSpan(0, n * size), n, seed, from);
            }
            long generated = ThreadCpuClock.Now();
            int offset = (int)(from - first);
            for (int i = 0; i < n; i++)
                encoding.Decode(samples.AsSpan(i * size, size), destination.AsSpan((offset + i) * window, window));
            if (timings is not null)
            {
                Interlocked.Add(ref timings.Generation, generated - start);
                Interlocked.Add(ref timings.Decoding, ThreadCpuClock.Now() - generated);
            }
        }, samples => ArrayPool<float>.Shared.Return(samples));
    }

    /// <summary>CPU time by phase (<see cref="TimeSpan"/> ticks of <see cref="ThreadCpuClock"/>), added to from worker threads.</summary>
    internal sealed class Timings
    {
        public long Generation, Decoding, Chaining;
    }

    /// <summary>Paths a parallel work item of chaining: enough to make two clock reads per item negligible.</summary>
    const int PathsPerItem = 64;

    /// <summary><paramref name="body"/> for every path of a chunk, in parallel items of <see cref="PathsPerItem"/>, its CPU time added to the chaining time.</summary>
    private static void ParallelFor(int count, Timings timings, Action<int> body)
    {
        try
        {
            Parallel.For(0, (count + PathsPerItem - 1) / PathsPerItem, item =>
            {
                long start = ThreadCpuClock.Now();
                for (int p = item * PathsPerItem, end = Math.Min(count, p + PathsPerItem); p < end; p++) body(p);
                Interlocked.Add(ref timings.Chaining, ThreadCpuClock.Now() - start);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    private static void ParallelFor(long count, Func<float[]> rent, Action<long, float[]> body, Action<float[]> giveBack)
    {
        try
        {
            Parallel.For(0, count, rent, (k, _, buffer) =>
            {
                body(k, buffer);
                return buffer;
            }, giveBack);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }
}
