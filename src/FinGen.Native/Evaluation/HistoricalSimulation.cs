using FinGen.Native.Randomness;

namespace FinGen.Native.Evaluation;

/// <summary>How <see cref="HistoricalSimulation"/> cuts the training returns into blocks.</summary>
public enum BlockBootstrap
{
    /// <summary>
    /// The stationary bootstrap (Politis &amp; Romano, JASA 89, 1994): blocks of geometric length with mean L,
    /// read circularly (after the last training return comes the first). The resampled series is stationary.
    /// </summary>
    Stationary,
    /// <summary>
    /// The moving-block bootstrap (Künsch, Annals of Statistics 17, 1989): blocks of exactly L consecutive
    /// returns starting uniformly in [0, n − L], concatenated and cut to length.
    /// </summary>
    FixedLength,
}

/// <summary>
/// The historical-simulation baseline: synthetic returns made by resampling blocks of the training returns,
/// so that the marginal distribution and, within a block, the dependence (volatility clusters) are kept.
/// The default block length of 20 trading days (about a month) is long enough to hold the short-range
/// volatility clustering of daily returns yet leaves many distinct blocks in a few years of data; for the
/// stationary bootstrap it is the mean block length. All draws come from Philox words of the seed.
/// </summary>
public static class HistoricalSimulation
{
    /// <summary>The default (mean) block length in days.</summary>
    public const int DefaultBlockLength = 20;

    /// <summary>
    /// <paramref name="n"/> synthetic returns: <c>training[SampleIndices(...)[i]]</c>. The same arguments
    /// always give the same series.
    /// </summary>
    public static double[] Sample(ReadOnlySpan<double> trainingReturns, int n, ulong seed,
        int blockLength = DefaultBlockLength, BlockBootstrap scheme = BlockBootstrap.Stationary)
    {
        Checks.Finite(trainingReturns, "training returns");
        int[] indices = SampleIndices(trainingReturns.Length, n, seed, blockLength, scheme);
        var sample = new double[n];
        for (int i = 0; i < n; i++) sample[i] = trainingReturns[indices[i]];
        return sample;
    }

    /// <summary>
    /// The training indices behind <see cref="Sample"/>. <see cref="BlockBootstrap.FixedLength"/>: block b
    /// covers output positions bL..bL + L − 1 and reads training indices s_b..s_b + L − 1 with
    /// s_b = Philox.NextInt(seed, stream, b, n_train − L + 1). <see cref="BlockBootstrap.Stationary"/>:
    /// position 0 starts a block; position i &gt; 0 starts a new block with probability 1/L (uniform from word 2i
    /// below 1/L), otherwise continues with the circular successor of index i − 1; a new block starts at
    /// Philox.NextInt(seed, stream, 2i + 1, n_train). Needs 1 ≤ L ≤ n_train.
    /// </summary>
    public static int[] SampleIndices(int trainingLength, int n, ulong seed,
        int blockLength = DefaultBlockLength, BlockBootstrap scheme = BlockBootstrap.Stationary)
    {
        Checks.AtLeast(n, 0, "number of sampled returns");
        Checks.AtLeast(blockLength, 1, "block length");
        if (trainingLength < blockLength) Throw.User($"{trainingLength} training returns is too few for blocks of {blockLength}");
        var indices = new int[n];
        switch (scheme)
        {
            case BlockBootstrap.FixedLength:
                for (int position = 0, block = 0; position < n; block++)
                {
                    int start = Philox.NextInt(seed, EvaluationStreams.FixedBlockBootstrap, (ulong)block, trainingLength - blockLength + 1);
                    for (int i = 0; i < blockLength && position < n; i++) indices[position++] = start + i;
                }
                break;
            case BlockBootstrap.Stationary:
                double restart = 1.0 / blockLength;
                for (int i = 0; i < n; i++)
                {
                    ulong word = 2UL * (ulong)i;
                    bool newBlock = i == 0 || Philox.ToOpenUnit(Philox.Word(seed, EvaluationStreams.StationaryBootstrap, word)) < restart;
                    indices[i] = newBlock
                        ? Philox.NextInt(seed, EvaluationStreams.StationaryBootstrap, word + 1, trainingLength)
                        : (indices[i - 1] + 1) % trainingLength;
                }
                break;
            default:
                Throw.User($"unknown block bootstrap scheme {scheme}");
                break;
        }
        return indices;
    }
}
