namespace Zhizao.Analytics.Anomaly;

/// <summary>
/// A multivariate detector fitted on an anomaly-free period. Scores are normalised so that the threshold learned
/// from the training data is 1: a score above 1 is an anomaly.
/// </summary>
public interface IAnomalyDetector
{
    string Name { get; }

    int FeatureCount { get; }

    double Score(ReadOnlySpan<double> x);

    /// <summary>Share of the anomaly attributed to each feature (non-negative, sums to 1 unless all are 0).</summary>
    void Contributions(ReadOnlySpan<double> x, Span<double> destination);
}

public static class AnomalyDetectorExtensions
{
    public static double[] ScoreAll(this IAnomalyDetector detector, IReadOnlyList<double[]> rows)
    {
        var scores = new double[rows.Count];
        for (var i = 0; i < rows.Count; i++) scores[i] = detector.Score(rows[i]);
        return scores;
    }

    public static double[] Contributions(this IAnomalyDetector detector, ReadOnlySpan<double> x)
    {
        var c = new double[detector.FeatureCount];
        detector.Contributions(x, c);
        return c;
    }

    /// <summary>Feature indices ordered by contribution, largest first.</summary>
    public static int[] TopContributors(this IAnomalyDetector detector, ReadOnlySpan<double> x, int count)
    {
        var c = detector.Contributions(x);
        return Enumerable.Range(0, c.Length).OrderByDescending(j => c[j]).ThenBy(j => j).Take(count).ToArray();
    }
}
