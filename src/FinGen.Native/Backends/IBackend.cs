using FinGen.Native.Memory;

namespace FinGen.Native.Backends;

/// <summary>
/// The one interface every backend implements: memory, then forward/backward op pairs, then optimizers.
/// Parameters are ordered inputs, hyper-parameters, outputs. Shapes are [rows, cols], row-major.
///
/// Gradient contract (as llm.c): a backward op <b>accumulates</b> (+=) into parameter gradients
/// (dWeight, dBias) and <b>overwrites</b> (=) activation gradients (dX, dLogits, ...). The one exception is
/// <see cref="GaussianKlBackward"/>, which accumulates into dMu and dLogVar because it is always the second
/// path into them, after <see cref="ReparameterizeBackward"/>. Elementwise backward ops allow dX to alias dY.
/// Losses are written to a one-element tensor rather than returned, so a GPU backend never has to
/// synchronize inside a step.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>"cpu-ref", "cpu" or "cuda".</summary>
    string Name { get; }

    // ---- memory
    /// <summary>A zeroed allocation of <paramref name="count"/> floats.</summary>
    DeviceMemory Allocate(long count);
    /// <summary>Copies host values into backend memory, ordered with the queued ops; <paramref name="source"/> may be
    /// reused as soon as it returns (on CUDA a small upload is staged in pinned memory and not waited for).</summary>
    void Upload(ReadOnlySpan<float> source, Tensor destination);
    /// <summary>Waits for the queued work, then copies backend memory to the host.</summary>
    void Download(Tensor source, Span<float> destination);
    void Fill(Tensor destination, float value);
    void Copy(Tensor source, Tensor destination);
    /// <summary>y = a + b elementwise (y may alias a or b): joins two gradient paths into one.</summary>
    void Add(Tensor a, Tensor b, Tensor y);
    /// <summary>Waits until all queued work is done (a no-op on CPU).</summary>
    void Synchronize();

    // ---- linear: y = x·Wᵀ + b
    /// <param name="x">[B, In]</param><param name="weight">[Out, In]</param><param name="bias">[1, Out]</param><param name="y">[B, Out]</param>
    void LinearForward(Tensor x, Tensor weight, Tensor bias, Tensor y);
    /// <summary>dX = dY·W (overwrite; skipped when dX is empty); dW += dYᵀ·X and dB += Σ_b dY (skipped when dWeight is empty).</summary>
    /// <param name="x">[B, In]</param><param name="weight">[Out, In]</param><param name="dy">[B, Out]</param>
    /// <param name="dx">[B, In] or empty</param><param name="dWeight">[Out, In] or empty</param><param name="dBias">[1, Out] or empty</param>
    void LinearBackward(Tensor x, Tensor weight, Tensor dy, Tensor dx, Tensor dWeight, Tensor dBias);
    /// <summary>
    /// A linear layer and its activation: pre = x·Wᵀ + b, post = f(pre) with f the <paramref name="activation"/> (leaky
    /// ReLU with <paramref name="slope"/>); the same values as <see cref="LinearForward"/> then the activation op, with the
    /// bias add and the activation in one pass on a GPU. Identity leaves <paramref name="post"/> untouched (it is pre).
    /// </summary>
    /// <param name="pre">[B, Out]: kept for the backward pass</param><param name="post">[B, Out], not aliasing pre unless the activation is Identity</param>
    void LinearActivationForward(Tensor x, Tensor weight, Tensor bias, Models.Activation activation, float slope, Tensor pre, Tensor post);

    // ---- activations (y may alias x; dx may alias dy)
    void LeakyReluForward(Tensor x, float slope, Tensor y);
    /// <param name="x">the forward input</param>
    void LeakyReluBackward(Tensor x, Tensor dy, float slope, Tensor dx);
    void ReluForward(Tensor x, Tensor y);
    void ReluBackward(Tensor x, Tensor dy, Tensor dx);
    void SigmoidForward(Tensor x, Tensor y);
    /// <param name="y">the forward output σ(x)</param>
    void SigmoidBackward(Tensor y, Tensor dy, Tensor dx);
    void TanhForward(Tensor x, Tensor y);
    /// <param name="y">the forward output tanh(x)</param>
    void TanhBackward(Tensor y, Tensor dy, Tensor dx);

    // ---- losses: loss[0] = scale · Σ elementwise loss
    /// <summary>Binary cross-entropy on logits: max(x,0) − x·t + log(1 + e^−|x|), never log(0).</summary>
    void BceWithLogitsForward(Tensor logits, Tensor targets, float scale, Tensor loss);
    /// <summary>dLogits = scale · (σ(x) − t).</summary>
    void BceWithLogitsBackward(Tensor logits, Tensor targets, float scale, Tensor dLogits);
    /// <summary>loss = scale · Σ (p − t)².</summary>
    void MseForward(Tensor prediction, Tensor target, float scale, Tensor loss);
    /// <summary>dP = 2 · scale · (p − t).</summary>
    void MseBackward(Tensor prediction, Tensor target, float scale, Tensor dPrediction);
    /// <summary>KL(N(μ, σ²) ‖ N(0, 1)) = scale · Σ −½ (1 + log σ² − μ² − σ²).</summary>
    void GaussianKlForward(Tensor mu, Tensor logVar, float scale, Tensor loss);
    /// <summary>dMu += scale · μ; dLogVar += scale · ½ (σ² − 1). Accumulates (see the class comment).</summary>
    void GaussianKlBackward(Tensor mu, Tensor logVar, float scale, Tensor dMu, Tensor dLogVar);

    // ---- reparameterization: z = μ + exp(½ log σ²) · ε
    void ReparameterizeForward(Tensor mu, Tensor logVar, Tensor epsilon, Tensor z);
    /// <summary>dMu = dZ; dLogVar = dZ · ½ σ ε (overwrite).</summary>
    void ReparameterizeBackward(Tensor logVar, Tensor epsilon, Tensor dz, Tensor dMu, Tensor dLogVar);

    // ---- convolutions over NCHW images, one image per row (see ConvGeometry)
    /// <summary>y = conv(x, W) + b: y[n,k,p,q] = b[k] + Σ_{c,r,s} W[k,c,r,s] · x[n, c, p·stride − pad + r, q·stride − pad + s] (zero outside).</summary>
    /// <param name="x">[N, C·H·W]</param><param name="weight">[K, C·R·S]</param><param name="bias">[1, K] or empty for none</param><param name="y">[N, K·P·Q]</param>
    void Conv2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y);
    /// <summary>dX = conv's data gradient of dY (overwrite; skipped when dX is empty); dW += conv's filter gradient and dB += Σ_{n,p,q} dY (each skipped when empty).</summary>
    /// <param name="x">[N, C·H·W]</param><param name="weight">[K, C·R·S]</param><param name="dy">[N, K·P·Q]</param>
    /// <param name="dx">[N, C·H·W] or empty</param><param name="dWeight">[K, C·R·S] or empty</param><param name="dBias">[1, K] or empty</param>
    void Conv2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias);
    /// <summary>
    /// Transposed convolution (PyTorch's ConvTranspose2d), defined as the data gradient of the
    /// convolution <paramref name="g"/>: it maps [N, g.OutChannels·g.OutHeight·g.OutWidth] to [N, g.InChannels·g.InHeight·g.InWidth],
    /// y = conv_dataGrad(x, W) + b with weight [g.OutChannels, g.InChannels·R·S] (PyTorch's [in, out, kH, kW]) and bias [1, g.InChannels].
    /// Example: 7×7 → 14×14 with kernel 4, stride 2, padding 1 is g = (N, Cout, 14, 14, Cin, 4, 4, 2, 1). The output is
    /// g.InHeight × g.InWidth; where (H + 2·padding − R) is not a multiple of the stride, the last rows and columns get
    /// only the bias (PyTorch's output_padding).
    /// </summary>
    void ConvTranspose2dForward(Tensor x, Tensor weight, Tensor bias, ConvGeometry g, Tensor y);
    /// <summary>dX = conv(dY, W) (overwrite; skipped when empty); dW += filter gradient; dB += Σ_{n,h,w} dY (each skipped when empty). Shapes as in <see cref="ConvTranspose2dForward"/>.</summary>
    void ConvTranspose2dBackward(Tensor x, Tensor weight, Tensor dy, ConvGeometry g, Tensor dx, Tensor dWeight, Tensor dBias);

    // ---- batch normalization over (N, H, W) per channel; x is [N, C·H·W] with spatial = H·W
    /// <summary>
    /// Training: μ_c and biased σ²_c over the batch; y = γ_c (x − μ_c)/√(σ²_c + ε) + β_c. Saves μ_c and 1/√(σ²_c + ε) for
    /// the backward pass, and updates the running statistics as PyTorch and cuDNN do:
    /// running = (1 − momentum)·running + momentum·batch, with the unbiased variance (· m/(m − 1), m = N·H·W) for runningVar.
    /// </summary>
    /// <param name="gamma">[1, C]</param><param name="beta">[1, C]</param><param name="runningMean">[1, C]</param><param name="runningVar">[1, C]</param>
    /// <param name="saveMean">[1, C]</param><param name="saveInvStd">[1, C]</param>
    void BatchNorm2dForwardTraining(Tensor x, Tensor gamma, Tensor beta, int channels, float momentum, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd);
    /// <summary>Inference: y = γ_c (x − runningMean_c)/√(runningVar_c + ε) + β_c.</summary>
    void BatchNorm2dForwardInference(Tensor x, Tensor gamma, Tensor beta, int channels, float epsilon,
        Tensor runningMean, Tensor runningVar, Tensor y);
    /// <summary>dX (overwrite) from the saved batch statistics; dGamma += Σ dY·x̂, dBeta += Σ dY (accumulate).</summary>
    void BatchNorm2dBackward(Tensor x, Tensor gamma, Tensor dy, int channels, Tensor saveMean, Tensor saveInvStd,
        Tensor dx, Tensor dGamma, Tensor dBeta);

    // ---- spectral normalization (Miyato et al. 2018) of a weight matrix W [Out, In] (a conv kernel as [K, C·R·S])
    /// <summary>
    /// When <paramref name="powerIteration"/>, one power-iteration step updates <paramref name="u"/> and <paramref name="v"/>
    /// in place: v = Wᵀu/‖Wᵀu‖, then u = Wv/‖Wv‖. Then σ = uᵀWv and normalized = W/σ. Without it, σ and W/σ come from
    /// the u and v as they are (the weights changed since the last iteration, the vectors did not). Rounding, which every
    /// backend follows: each component of Wᵀu, Wv, the norms and σ are sums in double, rounded to float once where stored
    /// (v_j, r_i = (Wv)_i, u_i = r_i/‖r‖, σ = Σ_i u_i·r_i); a norm below 1e-12 counts as 1e-12 (PyTorch's normalize); W/σ is
    /// a float division.
    /// </summary>
    /// <param name="weight">[Out, In]</param><param name="u">[1, Out]: persistent, unit length</param><param name="v">[1, In]: persistent, unit length</param>
    /// <param name="sigma">[1, 1]</param><param name="normalized">[Out, In], not aliasing weight</param>
    void SpectralNormForward(Tensor weight, Tensor u, Tensor v, bool powerIteration, Tensor sigma, Tensor normalized);
    /// <summary>
    /// dW += G/σ − (⟨G, W⟩/σ²)·u vᵀ (accumulate) with G = dNormalized, the gradient with respect to W/σ, and u, v, σ those
    /// of the forward: u and v are constants of the step (the power iteration has no gradient), so dσ/dW = u vᵀ.
    /// ⟨G, W⟩ is a sum in double; each element is computed in double (G/σ − (c·u_i)·v_j, c = ⟨G, W⟩/σ²) and rounded once.
    /// </summary>
    /// <param name="dNormalized">[Out, In]</param><param name="dWeight">[Out, In]</param>
    void SpectralNormBackward(Tensor weight, Tensor u, Tensor v, Tensor sigma, Tensor dNormalized, Tensor dWeight);

    // ---- random numbers (Philox4x32-10, see <see cref="Random.Philox"/>)
    void FillNormal(Tensor destination, ulong seed, ulong stream, ulong offset);
    /// <summary>
    /// <see cref="FillNormal(Tensor, ulong, ulong, ulong)"/> at offset = *<paramref name="offset"/> + <paramref name="delta"/>, the
    /// first read from backend memory when the op runs: a training step's noise position lives in its
    /// <see cref="Models.StepScalars"/>, so a captured step draws fresh noise on every replay.
    /// </summary>
    /// <param name="offset">[1, 2]: one little-endian 64-bit integer (the two floats' bits), 8-byte aligned</param>
    void FillNormal(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta);
    /// <summary>Student-t numbers of unit variance with <paramref name="degrees"/> degrees of freedom (see <see cref="Random.Philox.FillStudentT"/>).</summary>
    void FillStudentT(Tensor destination, ulong seed, ulong stream, ulong offset, int degrees);
    /// <summary><see cref="FillStudentT(Tensor, ulong, ulong, ulong, int)"/> at offset = *<paramref name="offset"/> + <paramref name="delta"/>, read when the op runs.</summary>
    void FillStudentT(Tensor destination, ulong seed, ulong stream, Tensor offset, ulong delta, int degrees);

    // ---- optimizers over one contiguous block
    /// <summary>velocity = momentum·velocity + grad; param −= lr·velocity (plain gradient descent when momentum is 0).</summary>
    void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, float learningRate, float momentum);
    /// <summary>Adam (Kingma &amp; Ba) with bias correction; <paramref name="step"/> counts from 1.</summary>
    void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, float learningRate, float beta1, float beta2, float epsilon, int step);

    // ---- the same optimizers with their hyper-parameters read from backend memory when the op runs (see
    // StepScalars): Adam's step and a learning rate change every step, and a captured step must see the new values.
    /// <param name="hyper">[1, ≥ 2]: [lr, momentum]</param>
    void SgdStep(Tensor parameters, Tensor gradients, Tensor velocity, Tensor hyper);
    /// <param name="hyper">[1, ≥ 5]: [lr, β1, β2, ε, t] with t ≥ 1 an int32 stored in the fifth float's bits</param>
    void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor hyper);

    /// <summary>
    /// Copies a few values (at most <see cref="Models.StepScalars.MaxFloats"/>) into backend memory, ordered after the work
    /// already queued and before the work queued next, without waiting for the device; <paramref name="source"/> may be
    /// reused as soon as this returns. How the host writes a step's <see cref="Models.StepScalars"/> before the step
    /// runs (or is replayed); never part of a captured step.
    /// </summary>
    void UploadScalars(ReadOnlySpan<float> source, Tensor destination);
}

/// <summary>
/// A backend that can capture the work queued between <see cref="IBackendGraph.BeginCapture"/> and
/// <see cref="IBackendGraph.EndCapture"/> and replay it (CUDA graphs): the models capture one training step after a
/// warm-up and replay it every step after. A replay re-runs every op with the arguments it had at capture (tensor
/// addresses and scalar values alike), so a captured step must take whatever changes per step from backend memory
/// (the batch tensor, <see cref="Models.StepScalars"/>), and must not upload, download, synchronize or allocate.
/// The CPU backends do not implement it: on a CPU a replay saves nothing.
/// </summary>
public interface IGraphBackend : IBackend
{
    IBackendGraph CreateGraph();
}

/// <summary>One captured sequence of ops (see <see cref="IGraphBackend"/>).</summary>
public interface IBackendGraph : IDisposable
{
    /// <summary>True once a capture has ended and can be launched.</summary>
    bool IsReady { get; }
    /// <summary>Starts recording: ops queued from now on are recorded, not run.</summary>
    void BeginCapture();
    /// <summary>Stops recording and makes the recording launchable.</summary>
    void EndCapture();
    /// <summary>Queues one replay of the recording, asynchronously like any op.</summary>
    void Launch();
}
