namespace Zhizao.Analytics.Metrics;

/// <summary>Remaining-useful-life and regression scores.</summary>
public static class RegressionMetrics
{
    public static double Rmse(IReadOnlyList<double> predicted, IReadOnlyList<double> actual)
    {
        CheckPair(predicted, actual);
        var s = 0.0;
        for (var i = 0; i < predicted.Count; i++)
        {
            var d = predicted[i] - actual[i];
            s += d * d;
        }
        return Math.Sqrt(s / predicted.Count);
    }

    /// <summary>
    /// The PHM08 challenge score (Saxena et al. 2008): Σ exp(−d/13) − 1 for d &lt; 0 and exp(d/10) − 1 for d ≥ 0, with
    /// d = predicted − true. Late predictions (d &gt; 0) cost more than early ones; lower is better, 0 is perfect.
    /// </summary>
    public static double Phm08Score(IReadOnlyList<double> predicted, IReadOnlyList<double> actual)
    {
        CheckPair(predicted, actual);
        var s = 0.0;
        for (var i = 0; i < predicted.Count; i++) s += Phm08Term(predicted[i] - actual[i]);
        return s;
    }

    public static double Phm08Term(double d) => d < 0 ? Math.Exp(-d / 13) - 1 : Math.Exp(d / 10) - 1;

    /// <summary>Share of actual values inside [lower, upper] (both ends included).</summary>
    public static double Coverage(IReadOnlyList<double> lower, IReadOnlyList<double> upper, IReadOnlyList<double> actual)
    {
        CheckPair(lower, actual);
        CheckPair(upper, actual);
        var inside = 0;
        for (var i = 0; i < actual.Count; i++)
            if (actual[i] >= lower[i] && actual[i] <= upper[i]) inside++;
        return (double)inside / actual.Count;
    }

    internal static void CheckPair<T>(IReadOnlyList<T> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"{a.Count} predictions but {b.Count} actual values");
        if (a.Count == 0) throw new ArgumentException("no values to score");
    }
}
