using MathNet.Numerics.Distributions;
using MathNet.Numerics.LinearAlgebra;

namespace Zhizao.Analytics.Anomaly;

public enum ThresholdMethod
{
    /// <summary>T²: F distribution; Q: Jackson–Mudholkar approximation.</summary>
    Parametric,

    /// <summary>Quantile of the training statistics.</summary>
    Empirical,
}

public sealed record PcaOptions
{
    /// <summary>Keep the fewest components whose cumulative explained variance reaches this share.</summary>
    public double VarianceToKeep { get; init; } = 0.95;

    /// <summary>Confidence level of the control limits.</summary>
    public double Confidence { get; init; } = 0.99;

    public ThresholdMethod Threshold { get; init; } = ThresholdMethod.Parametric;

    /// <summary>Which statistics raise the score: T² and Q (the default), or one of them.</summary>
    public PcaStatistic Use { get; init; } = PcaStatistic.Both;
}

[Flags]
public enum PcaStatistic
{
    T2 = 1,
    Q = 2,
    Both = T2 | Q,
}

public readonly record struct PcaStatistics(double T2, double Q);

/// <summary>
/// PCA process monitoring: Hotelling's T² in the retained subspace and Q (squared prediction error, SPE) in the residual
/// subspace of standardised data. <see cref="Score"/> is max(T²/T²lim, Q/Qlim) over the statistics in use.
/// </summary>
public sealed class PcaDetector : IAnomalyDetector
{
    private readonly Standardizer _scaler;
    private readonly double[,] _p; // d x k loadings
    private readonly PcaOptions _options;

    public string Name => _options.Use switch
    {
        PcaStatistic.T2 => "PCA T²",
        PcaStatistic.Q => "PCA Q",
        _ => "PCA T²+Q",
    };

    public int FeatureCount => _scaler.FeatureCount;

    /// <summary>All eigenvalues of the correlation matrix, largest first.</summary>
    public double[] Eigenvalues { get; }

    public int Components { get; }

    public double T2Limit { get; }

    public double QLimit { get; }

    public Standardizer Scaler => _scaler;

    /// <summary>Loading of feature <paramref name="feature"/> on component <paramref name="component"/>.</summary>
    public double Loading(int feature, int component) => _p[feature, component];

    private PcaDetector(Standardizer scaler, double[,] p, double[] eigenvalues, int k, PcaOptions options,
        IReadOnlyList<double[]> train)
    {
        _scaler = scaler;
        _p = p;
        Eigenvalues = eigenvalues;
        Components = k;
        _options = options;
        var n = train.Count;
        var alpha = options.Confidence;
        // training statistics are only needed for empirical limits; computing them for millions of rows is not free
        var stats = options.Threshold == ThresholdMethod.Empirical || k >= n ? train.Select(Evaluate).ToArray() : null;
        if (options.Threshold == ThresholdMethod.Parametric && k < n)
        {
            T2Limit = k * (n - 1.0) * (n + 1.0) / (n * (double)(n - k)) * FisherSnedecor.InvCDF(k, n - k, alpha);
        }
        else
        {
            T2Limit = Matrix.Quantile(stats!.Select(s => s.T2), alpha);
        }

        var theta1 = 0.0;
        var theta2 = 0.0;
        var theta3 = 0.0;
        for (var i = k; i < eigenvalues.Length; i++)
        {
            var l = Math.Max(eigenvalues[i], 0);
            theta1 += l;
            theta2 += l * l;
            theta3 += l * l * l;
        }
        if (options.Threshold == ThresholdMethod.Parametric && theta1 > 1e-12 && theta2 > 0)
        {
            var h0 = 1 - 2 * theta1 * theta3 / (3 * theta2 * theta2);
            var c = Normal.InvCDF(0, 1, alpha);
            QLimit = theta1 * Math.Pow(
                c * Math.Sqrt(2 * theta2 * h0 * h0) / theta1 + 1 + theta2 * h0 * (h0 - 1) / (theta1 * theta1), 1 / h0);
        }
        else
        {
            stats ??= train.Select(Evaluate).ToArray();
            QLimit = Matrix.Quantile(stats.Select(s => s.Q), alpha);
        }
        T2Limit = Math.Max(T2Limit, 1e-12);
        QLimit = Math.Max(QLimit, 1e-12);
    }

    public static PcaDetector Fit(IReadOnlyList<double[]> train, PcaOptions? options = null)
    {
        options ??= new PcaOptions();
        Matrix.CheckRows(train, minRows: 3);
        var scaler = Standardizer.Fit(train);
        var n = train.Count;
        var d = scaler.FeatureCount;
        var cov = Covariance(train, scaler);

        var evd = Matrix<double>.Build.DenseOfArray(cov).Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, d).OrderByDescending(i => evd.EigenValues[i].Real).ThenBy(i => i).ToArray();
        var eig = order.Select(i => Math.Max(evd.EigenValues[i].Real, 0)).ToArray();
        var total = eig.Sum();
        var k = d;
        if (total > 0)
        {
            var cum = 0.0;
            for (var i = 0; i < d; i++)
            {
                cum += eig[i];
                if (cum / total >= options.VarianceToKeep - 1e-12)
                {
                    k = i + 1;
                    break;
                }
            }
        }
        while (k > 1 && eig[k - 1] <= 1e-12 * Math.Max(total, 1)) k--;
        var p = new double[d, k];
        for (var c = 0; c < k; c++)
        {
            var col = evd.EigenVectors.Column(order[c]);
            // deterministic sign: the largest-magnitude loading is positive
            var maxIdx = 0;
            for (var j = 1; j < d; j++) if (Math.Abs(col[j]) > Math.Abs(col[maxIdx]) + 1e-15) maxIdx = j;
            var sign = col[maxIdx] < 0 ? -1.0 : 1.0;
            for (var j = 0; j < d; j++) p[j, c] = sign * col[j];
        }
        return new PcaDetector(scaler, p, eig, k, options, train);
    }

    /// <summary>
    /// Correlation matrix of the standardised rows without materialising them: rows are standardised into a block of
    /// 256 at a time and the block's upper-triangular cross products accumulated (the inner loop runs over rows, so it is
    /// a dot product of two contiguous columns and vectorises).
    /// </summary>
    private static double[,] Covariance(IReadOnlyList<double[]> rows, Standardizer scaler)
    {
        const int Block = 256;
        var n = rows.Count;
        var d = scaler.FeatureCount;
        var acc = new double[d * d];
        var block = new double[d * Block]; // column-major: feature j's values at [j*Block .. j*Block + m)
        var z = new double[d];
        for (var start = 0; start < n; start += Block)
        {
            var m = Math.Min(Block, n - start);
            for (var i = 0; i < m; i++)
            {
                scaler.Transform(rows[start + i], z);
                for (var j = 0; j < d; j++) block[j * Block + i] = z[j];
            }
            for (var a = 0; a < d; a++)
            {
                var ca = block.AsSpan(a * Block, m);
                for (var b = a; b < d; b++)
                    acc[a * d + b] += Matrix.Dot(ca, block.AsSpan(b * Block, m));
            }
        }
        var cov = new double[d, d];
        for (var a = 0; a < d; a++)
            for (var b = a; b < d; b++) cov[a, b] = cov[b, a] = acc[a * d + b] / (n - 1);
        return cov;
    }

    public PcaStatistics Evaluate(double[] x) => Evaluate(x.AsSpan());

    public PcaStatistics Evaluate(ReadOnlySpan<double> x)
    {
        var d = FeatureCount;
        Span<double> z = stackalloc double[d];
        Span<double> r = stackalloc double[d];
        Span<double> t = stackalloc double[Components];
        Project(x, z, t, r);
        var t2 = 0.0;
        for (var c = 0; c < Components; c++) t2 += t[c] * t[c] / Math.Max(Eigenvalues[c], 1e-12);
        var q = 0.0;
        for (var j = 0; j < d; j++) q += r[j] * r[j];
        return new PcaStatistics(t2, q);
    }

    private void Project(ReadOnlySpan<double> x, Span<double> z, Span<double> t, Span<double> r)
    {
        var d = FeatureCount;
        _scaler.Transform(x, z);
        for (var c = 0; c < Components; c++)
        {
            var s = 0.0;
            for (var j = 0; j < d; j++) s += z[j] * _p[j, c];
            t[c] = s;
        }
        for (var j = 0; j < d; j++)
        {
            var xhat = 0.0;
            for (var c = 0; c < Components; c++) xhat += _p[j, c] * t[c];
            r[j] = z[j] - xhat;
        }
    }

    public double Score(ReadOnlySpan<double> x)
    {
        var s = Evaluate(x);
        var score = 0.0;
        if ((_options.Use & PcaStatistic.T2) != 0) score = Math.Max(score, s.T2 / T2Limit);
        if ((_options.Use & PcaStatistic.Q) != 0) score = Math.Max(score, s.Q / QLimit);
        return score;
    }

    /// <summary>
    /// Q contributions r_j²/Qlim plus T² contributions |z_j Σ_c p_jc t_c/λ_c|/T²lim, normalised to shares.
    /// </summary>
    public void Contributions(ReadOnlySpan<double> x, Span<double> destination)
    {
        var d = FeatureCount;
        Span<double> z = stackalloc double[d];
        Span<double> r = stackalloc double[d];
        Span<double> t = stackalloc double[Components];
        Project(x, z, t, r);
        for (var j = 0; j < d; j++)
        {
            var c = 0.0;
            if ((_options.Use & PcaStatistic.Q) != 0) c += r[j] * r[j] / QLimit;
            if ((_options.Use & PcaStatistic.T2) != 0)
            {
                var s = 0.0;
                for (var k = 0; k < Components; k++) s += _p[j, k] * t[k] / Math.Max(Eigenvalues[k], 1e-12);
                c += Math.Abs(z[j] * s) / T2Limit;
            }
            destination[j] = c;
        }
        Matrix.Normalise(destination[..d]);
    }
}
