namespace FinGen.Native.Models;

/// <summary>
/// Where training stands: the step and the positions in the Philox streams. Counter-based noise means
/// these few integers are the whole RNG state, so a resumed run draws exactly what an uninterrupted one would.
/// </summary>
public sealed class TrainingState
{
    public long Step { get; set; }
    /// <summary>Next value of the noise stream (latent z for GANs, ε for VAEs).</summary>
    public ulong NoiseOffset { get; set; }
    /// <summary>Next word of the batch-index stream.</summary>
    public ulong BatchOffset { get; set; }
}
