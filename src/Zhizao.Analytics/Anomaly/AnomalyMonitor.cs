namespace Zhizao.Analytics.Anomaly;

public sealed record MonitorOptions
{
    /// <summary>Causal moving-average window over the detector's scores (1 = no smoothing).</summary>
    public int Window { get; init; } = 1;

    /// <summary>Quantile of the smoothed training scores that sets the threshold.</summary>
    public double Quantile { get; init; } = 1.0;

    /// <summary>Multiplier on that quantile.</summary>
    public double Margin { get; init; } = 1.0;

    /// <summary>Use the detector's own threshold (score 1) instead of calibrating on the training scores.</summary>
    public bool UseDetectorThreshold { get; init; }

    /// <summary>Average log scores (a geometric mean), so one spike does not hold the alarm for a whole window.</summary>
    public bool Geometric { get; init; }
}

public readonly record struct AnomalyVerdict(double Score, double Smoothed, bool IsAnomaly);

/// <summary>
/// Streaming wrapper: scores each new vector, smooths the scores with a causal moving average and compares the result
/// with a threshold taken from the (equally smoothed) training scores.
/// </summary>
public sealed class AnomalyMonitor
{
    private readonly MonitorOptions _options;
    private readonly double[] _ring;
    private int _count;
    private int _next;
    private double _sum;

    public IAnomalyDetector Detector { get; }

    public double Threshold { get; }

    private AnomalyMonitor(IAnomalyDetector detector, MonitorOptions options, double threshold)
    {
        Detector = detector;
        _options = options;
        _ring = new double[Math.Max(1, options.Window)];
        Threshold = threshold;
    }

    public static AnomalyMonitor Fit(IAnomalyDetector detector, IReadOnlyList<double[]> train, MonitorOptions? options = null)
    {
        options ??= new MonitorOptions();
        if (options.Window < 1) throw new ArgumentOutOfRangeException(nameof(options), "Window must be at least 1");
        var threshold = 1.0;
        if (!options.UseDetectorThreshold)
        {
            var probe = new AnomalyMonitor(detector, options, double.PositiveInfinity);
            var smoothed = train.Select(r => probe.Push(r).Smoothed).ToArray();
            threshold = Math.Max(Matrix.Quantile(smoothed, options.Quantile) * options.Margin, 1e-12);
        }
        return new AnomalyMonitor(detector, options, threshold);
    }

    public AnomalyVerdict Push(ReadOnlySpan<double> x)
    {
        var s = Detector.Score(x);
        if (!double.IsFinite(s)) s = double.MaxValue / _ring.Length;
        var v = _options.Geometric ? Math.Log(Math.Max(s, 1e-9)) : s;
        if (_count == _ring.Length) _sum -= _ring[_next];
        else _count++;
        _ring[_next] = v;
        _sum += v;
        _next = (_next + 1) % _ring.Length;
        if (_next == 0 && _count == _ring.Length)
        {
            // re-add from the ring once per cycle so rounding cannot accumulate over a long stream
            _sum = 0;
            foreach (var r in _ring) _sum += r;
        }
        var smoothed = _options.Geometric ? Math.Exp(_sum / _count) : _sum / _count;
        return new AnomalyVerdict(s, smoothed, smoothed > Threshold);
    }

    public void Reset()
    {
        _count = 0;
        _next = 0;
        _sum = 0;
    }

    /// <summary>Resets the stream and runs it over <paramref name="rows"/>.</summary>
    public AnomalyVerdict[] Run(IReadOnlyList<double[]> rows)
    {
        Reset();
        var result = new AnomalyVerdict[rows.Count];
        for (var i = 0; i < rows.Count; i++) result[i] = Push(rows[i]);
        return result;
    }
}
