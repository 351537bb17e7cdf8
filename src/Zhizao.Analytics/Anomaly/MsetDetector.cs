using MathNet.Numerics.LinearAlgebra;

namespace Zhizao.Analytics.Anomaly;

public sealed record MsetOptions
{
    /// <summary>Largest number of training vectors kept in the memory matrix D.</summary>
    public int MemorySize { get; init; } = 100;

    /// <summary>Kernel bandwidth as a multiple of the median distance between memory vectors.</summary>
    public double Bandwidth { get; init; } = 1.0;

    /// <summary>Ridge added to the diagonal of D⊗D before inversion.</summary>
    public double Ridge { get; init; } = 1e-6;

    /// <summary>Quantile of the held-out training scores used as the threshold.</summary>
    public double Confidence { get; init; } = 0.99;

    /// <summary>
    /// Most held-out training rows used to calibrate residual scales and the threshold; longer training periods are
    /// thinned to this many evenly spaced rows (each costs a kernel evaluation against the whole memory).
    /// </summary>
    public int MaxCalibrationRows { get; init; } = 50_000;
}

/// <summary>
/// MSET-style similarity model: the memory matrix D holds representative normal states (standardised); the estimate of
/// x is x̂ = D (Dᵀ⊗D)⁻¹ (Dᵀ⊗x) with the nonlinear operator a⊗b = exp(−‖a−b‖²/2h²). The score is the mean squared
/// residual, each feature scaled by its residual spread on held-out training rows, over its training quantile.
/// </summary>
public sealed class MsetDetector : IAnomalyDetector
{
    private readonly Standardizer _scaler;
    private readonly double[][] _memory; // m x d, standardised
    private readonly Matrix<double> _gInv;
    private readonly double _gamma;
    private readonly double[] _residualScale;

    public string Name => "MSET";

    public int FeatureCount => _scaler.FeatureCount;

    public int MemorySize => _memory.Length;

    public double Threshold { get; }

    private MsetDetector(Standardizer scaler, double[][] memory, double gamma, double ridge)
    {
        _scaler = scaler;
        _memory = memory;
        _gamma = gamma;
        var m = memory.Length;
        var g = Matrix<double>.Build.Dense(m, m, (a, b) => Kernel(memory[a], memory[b]));
        _gInv = (g + Matrix<double>.Build.DenseIdentity(m) * ridge).Inverse();
        _residualScale = Enumerable.Repeat(1.0, scaler.FeatureCount).ToArray();
    }

    private MsetDetector(MsetDetector raw, double[] residualScale, double threshold)
    {
        _scaler = raw._scaler;
        _memory = raw._memory;
        _gInv = raw._gInv;
        _gamma = raw._gamma;
        _residualScale = residualScale;
        Threshold = threshold;
    }

    public static MsetDetector Fit(IReadOnlyList<double[]> train, MsetOptions? options = null)
    {
        options ??= new MsetOptions();
        Matrix.CheckRows(train, minRows: 4);
        var scaler = Standardizer.Fit(train);
        var chosen = SelectMemory(train, scaler, options.MemorySize);
        var memory = chosen.Select(i => scaler.Transform(train[i])).ToArray();

        var dists = new List<double>();
        for (var a = 0; a < memory.Length; a++)
            for (var b = a + 1; b < memory.Length; b++) dists.Add(Math.Sqrt(SquaredDistance(memory[a], memory[b])));
        var h = options.Bandwidth * (dists.Count > 0 ? Math.Max(Matrix.Quantile(dists, 0.5), 1e-6) : 1);
        var raw = new MsetDetector(scaler, memory, 1 / (2 * h * h), options.Ridge);

        // Residuals of training rows outside the memory calibrate the per-feature scale and the threshold.
        var inMemory = chosen.ToHashSet();
        var held = Enumerable.Range(0, train.Count).Where(i => !inMemory.Contains(i)).ToArray();
        if (held.Length < 2) held = Enumerable.Range(0, train.Count).ToArray();
        if (held.Length > options.MaxCalibrationRows)
        {
            var step = (double)held.Length / options.MaxCalibrationRows;
            held = Enumerable.Range(0, options.MaxCalibrationRows).Select(i => held[(int)(i * step)]).ToArray();
        }
        var d = scaler.FeatureCount;
        var residuals = held.Select(i => raw.ResidualStandardised(scaler.Transform(train[i]))).ToArray();
        var scale = new double[d];
        for (var j = 0; j < d; j++)
        {
            var ss = residuals.Sum(r => r[j] * r[j]);
            scale[j] = Math.Max(Math.Sqrt(ss / residuals.Length), 1e-3);
        }
        var scaled = new MsetDetector(raw, scale, 1);
        var threshold = Math.Max(Matrix.Quantile(residuals.Select(scaled.RawScore), options.Confidence), 1e-12);
        return new MsetDetector(raw, scale, threshold);
    }

    /// <summary>Min and max of every feature, then vectors evenly spaced in order of their norm.</summary>
    private static List<int> SelectMemory(IReadOnlyList<double[]> train, Standardizer scaler, int size)
    {
        var n = train.Count;
        var d = scaler.FeatureCount;
        size = Math.Clamp(size, 1, n);
        var chosen = new List<int>();
        var seen = new HashSet<int>();
        void Add(int i)
        {
            if (chosen.Count < size && seen.Add(i)) chosen.Add(i);
        }
        // one pass: standardised norms, and the rows holding each feature's min and max (first occurrence wins)
        var norms = new double[n];
        var lo = new int[d];
        var hi = new int[d];
        var loV = new double[d];
        var hiV = new double[d];
        var z = new double[d];
        for (var i = 0; i < n; i++)
        {
            scaler.Transform(train[i], z);
            var s = 0.0;
            for (var j = 0; j < d; j++)
            {
                s += z[j] * z[j];
                if (i == 0 || z[j] < loV[j])
                {
                    loV[j] = z[j];
                    lo[j] = i;
                }
                if (i == 0 || z[j] > hiV[j])
                {
                    hiV[j] = z[j];
                    hi[j] = i;
                }
            }
            norms[i] = s;
        }
        for (var j = 0; j < d; j++)
        {
            Add(lo[j]);
            Add(hi[j]);
        }
        var byNorm = Enumerable.Range(0, n).ToArray();
        Array.Sort(byNorm, (a, b) => norms[a] != norms[b] ? norms[a].CompareTo(norms[b]) : a.CompareTo(b));
        var remaining = size - chosen.Count;
        for (var s = 0; s < remaining && chosen.Count < size; s++)
        {
            var pos = remaining == 1 ? 0 : (int)Math.Round(s * (n - 1.0) / (remaining - 1));
            Add(byNorm[pos]);
        }
        for (var i = 0; chosen.Count < size && i < n; i++) Add(byNorm[i]);
        return chosen;
    }

    private static double SquaredDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var s = 0.0;
        for (var j = 0; j < a.Length; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
        return s;
    }

    private double Kernel(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => Math.Exp(-_gamma * SquaredDistance(a, b));

    private double[] ResidualStandardised(ReadOnlySpan<double> z)
    {
        var m = _memory.Length;
        var d = z.Length;
        var k = Vector<double>.Build.Dense(m);
        for (var i = 0; i < m; i++) k[i] = Kernel(_memory[i], z);
        var w = _gInv * k;
        var r = z.ToArray();
        for (var i = 0; i < m; i++)
        {
            var wi = w[i];
            var row = _memory[i];
            for (var j = 0; j < d; j++) r[j] -= wi * row[j];
        }
        return r;
    }

    private double RawScore(double[] residual)
    {
        var s = 0.0;
        for (var j = 0; j < residual.Length; j++)
        {
            var e = residual[j] / _residualScale[j];
            s += e * e;
        }
        return s / residual.Length;
    }

    /// <summary>The estimate x̂ of <paramref name="x"/> in original units.</summary>
    public double[] Estimate(ReadOnlySpan<double> x)
    {
        var z = _scaler.Transform(x);
        var r = ResidualStandardised(z);
        var est = new double[z.Length];
        for (var j = 0; j < z.Length; j++) est[j] = (z[j] - r[j]) * _scaler.Scale[j] + _scaler.Mean[j];
        return est;
    }

    public double Score(ReadOnlySpan<double> x) => RawScore(ResidualStandardised(_scaler.Transform(x))) / Threshold;

    /// <summary>Squared residuals in standard deviations of each feature's training spread, as shares.</summary>
    public void Contributions(ReadOnlySpan<double> x, Span<double> destination)
    {
        var r = ResidualStandardised(_scaler.Transform(x));
        for (var j = 0; j < r.Length; j++) destination[j] = r[j] * r[j];
        Matrix.Normalise(destination[..r.Length]);
    }
}
