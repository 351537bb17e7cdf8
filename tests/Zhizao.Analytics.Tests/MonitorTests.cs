using Zhizao.Analytics.Anomaly;

namespace Zhizao.Analytics.Tests;

public class MonitorTests
{
    private static readonly MonitorOptions Smoothed = new() { Window = 10, Quantile = 1.0, Margin = 3.0, Geometric = true };

    [Fact]
    public void Smoothing_ignores_a_single_spike_but_catches_a_sustained_shift()
    {
        var train = Synthetic.Normal(400, seed: 21);
        var detector = new EnsembleDetector("e", PcaDetector.Fit(train), MsetDetector.Fit(train));
        var monitor = AnomalyMonitor.Fit(detector, train, Smoothed);
        var stream = Synthetic.Normal(300, seed: 22);
        stream[50][3] += 8; // one glitch
        for (var i = 150; i < 250; i++) stream[i][3] += 3; // a stuck offset lasting 100 samples

        var verdicts = monitor.Run(stream);

        Assert.DoesNotContain(verdicts[..150], v => v.IsAnomaly);
        Assert.True(verdicts[160..250].All(v => v.IsAnomaly));
        Assert.DoesNotContain(verdicts[265..], v => v.IsAnomaly);
    }

    [Fact]
    public void Threshold_comes_from_the_training_scores_only()
    {
        var train = Synthetic.Normal(400, seed: 23);
        var monitor = AnomalyMonitor.Fit(PcaDetector.Fit(train), train, Smoothed);

        var max = monitor.Run(train).Max(v => v.Smoothed);

        Assert.Equal(3 * max, monitor.Threshold, 9);
    }

    [Fact]
    public void Excluded_features_neither_score_nor_contribute()
    {
        var train = Synthetic.Normal(400, seed: 24);
        var subset = FeatureSubsetDetector.Fit(train, [0, 1, 2, 4], t => PcaDetector.Fit(t));
        var x = Synthetic.Normal(1, seed: 25)[0];
        var y = (double[])x.Clone();
        y[3] += 100;

        Assert.Equal(subset.Score(x), subset.Score(y), 12);
        Assert.Equal(0, subset.Contributions(y)[3]);
        Assert.Equal(5, subset.FeatureCount);
    }

    [Fact]
    public void Ensemble_score_is_the_mean_of_its_members()
    {
        var train = Synthetic.Normal(300, seed: 26);
        var pca = PcaDetector.Fit(train);
        var mset = MsetDetector.Fit(train);
        var x = Synthetic.Normal(1, seed: 27)[0];

        Assert.Equal((pca.Score(x) + mset.Score(x)) / 2, new EnsembleDetector("e", pca, mset).Score(x), 12);
    }
}
