namespace FinGen.Native.Evaluation;

/// <summary>The minimum found by <see cref="NelderMead.Minimize"/>.</summary>
readonly record struct NelderMeadResult(double[] Point, double Value, int Evaluations, bool Converged);

/// <summary>
/// The Nelder–Mead downhill simplex minimizer (Nelder &amp; Mead, Computer Journal 7, 1965), with the
/// standard coefficients and acceptance rules of Lagarias, Reeds, Wright &amp; Wright, "Convergence properties
/// of the Nelder–Mead simplex method in low dimensions" (SIAM J. Optim. 9, 1998): reflection 1, expansion 2,
/// contraction ½ (outside and inside), shrink ½. A non-finite objective value counts as +∞, so the simplex
/// simply backs away from infeasible points.
/// </summary>
static class NelderMead
{
    /// <summary>
    /// Minimizes <paramref name="objective"/> from <paramref name="start"/>, the initial simplex being the start
    /// and the start moved by <paramref name="steps"/>[i] along axis i. Stops when the spread of the simplex'
    /// values is at most <paramref name="valueTolerance"/>·(1 + |best|) and every vertex lies within
    /// <paramref name="pointTolerance"/> of the best in every coordinate, or after
    /// <paramref name="maxEvaluations"/> evaluations (then <c>Converged</c> is false).
    /// </summary>
    public static NelderMeadResult Minimize(Func<double[], double> objective, double[] start, double[] steps,
        double valueTolerance = 1e-12, double pointTolerance = 1e-9, int maxEvaluations = 10_000)
    {
        int dimension = start.Length;
        int evaluations = 0;
        double Evaluate(double[] x)
        {
            evaluations++;
            double v = objective(x);
            return double.IsFinite(v) ? v : double.PositiveInfinity;
        }

        var vertices = new double[dimension + 1][];
        var values = new double[dimension + 1];
        for (int i = 0; i <= dimension; i++)
        {
            vertices[i] = (double[])start.Clone();
            if (i > 0) vertices[i][i - 1] += steps[i - 1];
            values[i] = Evaluate(vertices[i]);
        }

        var order = new int[dimension + 1];
        var centroid = new double[dimension];
        var reflected = new double[dimension];
        var trial = new double[dimension];
        bool converged = false;
        while (evaluations < maxEvaluations)
        {
            for (int i = 0; i <= dimension; i++) order[i] = i;
            Array.Sort(order, (p, q) => values[p].CompareTo(values[q]));
            int best = order[0], worst = order[dimension], secondWorst = order[dimension - 1];

            if (HasConverged(vertices, values, best, valueTolerance, pointTolerance)) { converged = true; break; }

            Array.Clear(centroid);
            for (int i = 0; i < dimension; i++)
            {
                double[] v = vertices[order[i]];
                for (int d = 0; d < dimension; d++) centroid[d] += v[d] / dimension;
            }

            Along(centroid, vertices[worst], -1.0, reflected); // c + (c − x_worst)
            double reflectedValue = Evaluate(reflected);
            if (reflectedValue < values[best])
            {
                Along(centroid, vertices[worst], -2.0, trial); // expansion c + 2(c − x_worst)
                double expandedValue = Evaluate(trial);
                if (expandedValue < reflectedValue) Replace(vertices, values, worst, trial, expandedValue);
                else Replace(vertices, values, worst, reflected, reflectedValue);
                continue;
            }
            if (reflectedValue < values[secondWorst])
            {
                Replace(vertices, values, worst, reflected, reflectedValue);
                continue;
            }
            if (reflectedValue < values[worst])
            {
                Along(centroid, vertices[worst], -0.5, trial); // outside contraction c + ½(c − x_worst)
                double value = Evaluate(trial);
                if (value <= reflectedValue) { Replace(vertices, values, worst, trial, value); continue; }
            }
            else
            {
                Along(centroid, vertices[worst], 0.5, trial); // inside contraction c − ½(c − x_worst)
                double value = Evaluate(trial);
                if (value < values[worst]) { Replace(vertices, values, worst, trial, value); continue; }
            }
            // Shrink every vertex halfway towards the best.
            for (int i = 0; i <= dimension; i++)
            {
                if (i == best) continue;
                for (int d = 0; d < dimension; d++) vertices[i][d] = vertices[best][d] + 0.5 * (vertices[i][d] - vertices[best][d]);
                values[i] = Evaluate(vertices[i]);
            }
        }

        int bestIndex = 0;
        for (int i = 1; i <= dimension; i++) if (values[i] < values[bestIndex]) bestIndex = i;
        return new NelderMeadResult((double[])vertices[bestIndex].Clone(), values[bestIndex], evaluations, converged);
    }

    // destination = centroid + factor·(point − centroid)
    static void Along(double[] centroid, double[] point, double factor, double[] destination)
    {
        for (int d = 0; d < centroid.Length; d++) destination[d] = centroid[d] + factor * (point[d] - centroid[d]);
    }

    static void Replace(double[][] vertices, double[] values, int index, double[] point, double value)
    {
        Array.Copy(point, vertices[index], point.Length);
        values[index] = value;
    }

    static bool HasConverged(double[][] vertices, double[] values, int best, double valueTolerance, double pointTolerance)
    {
        double spread = 0, distance = 0;
        for (int i = 0; i < values.Length; i++)
        {
            spread = Math.Max(spread, values[i] - values[best]);
            for (int d = 0; d < vertices[i].Length; d++) distance = Math.Max(distance, Math.Abs(vertices[i][d] - vertices[best][d]));
        }
        return spread <= valueTolerance * (1.0 + Math.Abs(values[best])) && distance <= pointTolerance;
    }
}
