using System.Numerics;
using System.Numerics.Tensors;

namespace FinGen.Native.Backends.Cpu;

/// <summary>
/// BatchNorm2d for the SIMD backend: one task per channel, each walking that channel's N planes of H·W values.
/// </summary>
/// <remarks>
/// A plane is reduced with SIMD in float and the planes are added in double, in order, so a channel's statistics come
/// from one fixed sequence of operations whatever the thread count. Every value is centred before it is squared or
/// scaled (two passes, never E[x²] − μ²), so a large mean does not cost precision. The maths is the reference's.
/// </remarks>
internal static unsafe class CpuBatchNorm
{
    private struct Job
    {
        public float* X, Y, Dy, Dx;
        public float* Gamma, Beta, RunningMean, RunningVar, SaveMean, SaveInvStd, DGamma, DBeta;
        public int Batch, Channels, Area;
        public float Momentum, Epsilon;
    }

    public static void ForwardTraining(float* x, float* gamma, float* beta, int batch, int channels, int area, float momentum, float epsilon,
        float* runningMean, float* runningVar, float* y, float* saveMean, float* saveInvStd, int threads)
    {
        var job = new Job
        {
            X = x, Y = y, Gamma = gamma, Beta = beta, RunningMean = runningMean, RunningVar = runningVar, SaveMean = saveMean, SaveInvStd = saveInvStd,
            Batch = batch, Channels = channels, Area = area, Momentum = momentum, Epsilon = epsilon,
        };
        CpuWorkers.For(channels, &TrainingTask, &job, threads);
    }

    public static void ForwardInference(float* x, float* gamma, float* beta, int batch, int channels, int area, float epsilon,
        float* runningMean, float* runningVar, float* y, int threads)
    {
        var job = new Job
        {
            X = x, Y = y, Gamma = gamma, Beta = beta, RunningMean = runningMean, RunningVar = runningVar,
            Batch = batch, Channels = channels, Area = area, Epsilon = epsilon,
        };
        CpuWorkers.For(channels, &InferenceTask, &job, threads);
    }

    /// <summary>dx (null to skip) = γ·invstd/m · (m·dy − Σdy − x̂·Σ(dy·x̂)); dGamma += Σ dy·x̂ and dBeta += Σ dy (each null to skip).</summary>
    public static void Backward(float* x, float* gamma, float* dy, int batch, int channels, int area, float* saveMean, float* saveInvStd,
        float* dx, float* dGamma, float* dBeta, int threads)
    {
        var job = new Job
        {
            X = x, Dy = dy, Dx = dx, Gamma = gamma, SaveMean = saveMean, SaveInvStd = saveInvStd, DGamma = dGamma, DBeta = dBeta,
            Batch = batch, Channels = channels, Area = area,
        };
        CpuWorkers.For(channels, &BackwardTask, &job, threads);
    }

    private static void TrainingTask(int c, void* state)
    {
        ref Job job = ref *(Job*)state;
        int area = job.Area;
        long m = (long)job.Batch * area;
        double sum = 0;
        for (int n = 0; n < job.Batch; n++) sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(Plane(ref job, job.X, n, c), area));
        double mean = sum / m;
        double squares = 0;
        for (int n = 0; n < job.Batch; n++) squares += SquaredDeviations(Plane(ref job, job.X, n, c), area, (float)mean);
        double variance = squares / m;
        double invStd = 1 / Math.Sqrt(variance + job.Epsilon);
        float scale = (float)(job.Gamma[c] * invStd);
        for (int n = 0; n < job.Batch; n++)
            Affine(Plane(ref job, job.X, n, c), (float)mean, scale, job.Beta[c], Plane(ref job, job.Y, n, c), area);
        job.SaveMean[c] = (float)mean;
        job.SaveInvStd[c] = (float)invStd;
        job.RunningMean[c] = (float)((1 - job.Momentum) * job.RunningMean[c] + job.Momentum * mean);
        job.RunningVar[c] = (float)((1 - job.Momentum) * job.RunningVar[c] + job.Momentum * variance * m / (m - 1));
    }

    private static void InferenceTask(int c, void* state)
    {
        ref Job job = ref *(Job*)state;
        float scale = (float)(job.Gamma[c] / Math.Sqrt((double)job.RunningVar[c] + job.Epsilon));
        for (int n = 0; n < job.Batch; n++)
            Affine(Plane(ref job, job.X, n, c), job.RunningMean[c], scale, job.Beta[c], Plane(ref job, job.Y, n, c), job.Area);
    }

    private static void BackwardTask(int c, void* state)
    {
        ref Job job = ref *(Job*)state;
        int area = job.Area;
        long m = (long)job.Batch * area;
        float mean = job.SaveMean[c];
        double invStd = job.SaveInvStd[c];
        double sumDy = 0, sumDyCentred = 0;
        for (int n = 0; n < job.Batch; n++)
        {
            float* dy = Plane(ref job, job.Dy, n, c);
            sumDy += TensorPrimitives.Sum(new ReadOnlySpan<float>(dy, area));
            sumDyCentred += CentredDot(dy, Plane(ref job, job.X, n, c), mean, area);
        }
        double sumDyXHat = sumDyCentred * invStd;
        if (job.DGamma != null) job.DGamma[c] += (float)sumDyXHat;
        if (job.DBeta != null) job.DBeta[c] += (float)sumDy;
        if (job.Dx == null) return;
        // dx = a·dy + slope·(x − μ) + shift, the formula above multiplied out.
        double a = job.Gamma[c] * invStd;
        float dyScale = (float)a, slope = (float)(-a * invStd * sumDyXHat / m), shift = (float)(-a * sumDy / m);
        for (int n = 0; n < job.Batch; n++)
            DataGradient(Plane(ref job, job.Dy, n, c), Plane(ref job, job.X, n, c), mean, dyScale, slope, shift, Plane(ref job, job.Dx, n, c), area);
    }

    private static float* Plane(ref Job job, float* t, int n, int c) => t + ((long)n * job.Channels + c) * job.Area;

    /// <summary>Σ (x − mean)².</summary>
    private static float SquaredDeviations(float* x, int count, float mean)
    {
        int i = 0, w = Vector<float>.Count;
        var m = new Vector<float>(mean);
        var acc = Vector<float>.Zero;
        for (; i <= count - w; i += w)
        {
            var d = Vector.Load(x + i) - m;
            acc += d * d;
        }
        float sum = Vector.Sum(acc);
        for (; i < count; i++) sum += (x[i] - mean) * (x[i] - mean);
        return sum;
    }

    /// <summary>Σ dy·(x − mean).</summary>
    private static float CentredDot(float* dy, float* x, float mean, int count)
    {
        int i = 0, w = Vector<float>.Count;
        var m = new Vector<float>(mean);
        var acc = Vector<float>.Zero;
        for (; i <= count - w; i += w) acc += Vector.Load(dy + i) * (Vector.Load(x + i) - m);
        float sum = Vector.Sum(acc);
        for (; i < count; i++) sum += dy[i] * (x[i] - mean);
        return sum;
    }

    /// <summary>y = (x − mean)·scale + shift.</summary>
    private static void Affine(float* x, float mean, float scale, float shift, float* y, int count)
    {
        int i = 0, w = Vector<float>.Count;
        Vector<float> m = new(mean), s = new(scale), b = new(shift);
        for (; i <= count - w; i += w) Vector.Store((Vector.Load(x + i) - m) * s + b, y + i);
        for (; i < count; i++) y[i] = (x[i] - mean) * scale + shift;
    }

    /// <summary>dx = dyScale·dy + slope·(x − mean) + shift (dx may alias dy).</summary>
    private static void DataGradient(float* dy, float* x, float mean, float dyScale, float slope, float shift, float* dx, int count)
    {
        int i = 0, w = Vector<float>.Count;
        Vector<float> m = new(mean), a = new(dyScale), k = new(slope), b = new(shift);
        for (; i <= count - w; i += w) Vector.Store(a * Vector.Load(dy + i) + k * (Vector.Load(x + i) - m) + b, dx + i);
        for (; i < count; i++) dx[i] = dyScale * dy[i] + slope * (x[i] - mean) + shift;
    }
}
