using Zhizao.Analytics.Classification;
using Zhizao.Analytics.Metrics;

namespace Zhizao.Analytics.Tests;

public class ClassificationTests
{
    [Fact]
    public void Stratified_folds_split_every_class_evenly_and_are_seeded()
    {
        var labels = Enumerable.Range(0, 103).Select(i => i < 13 ? 1.0 : 0.0).ToArray();
        var folds = StratifiedKFold.Assign(labels, 5, seed: 1);
        for (var k = 0; k < 5; k++)
        {
            var pos = Enumerable.Range(0, 103).Count(i => folds[i] == k && labels[i] == 1);
            var all = folds.Count(f => f == k);
            Assert.InRange(pos, 2, 3);
            Assert.InRange(all, 20, 21);
        }
        Assert.Equal(folds, StratifiedKFold.Assign(labels, 5, seed: 1));
        Assert.NotEqual(folds, StratifiedKFold.Assign(labels, 5, seed: 2));
    }

    [Fact]
    public void Boosted_classifier_finds_a_rare_failure_region_and_a_useful_threshold()
    {
        // failures (≈3 %) when x0 > 0.9 and x1 < 0.35, with 10 % label noise inside; x2 is irrelevant
        static (double[][], double[]) Make(int n, int seed)
        {
            var rng = new Random(seed);
            var x = new double[n][];
            var y = new double[n];
            for (var i = 0; i < n; i++)
            {
                x[i] = [rng.NextDouble(), rng.NextDouble(), rng.NextDouble()];
                y[i] = x[i][0] > 0.9 && x[i][1] < 0.35 && rng.NextDouble() < 0.9 ? 1 : 0;
            }
            return (x, y);
        }
        var (x, y) = Make(4000, 1);
        var (tx, ty) = Make(4000, 2);
        var model = BoostedClassifier.Fit(x, y, new BoostedClassifierOptions { WeightExponents = [0, 1], MinSamplesLeaf = [10] });
        var scores = tx.Select(r => model.Probability(r)).ToArray();
        var f1 = ClassificationMetrics.F1(tx.Select(r => model.Predict(r)).ToArray(), ty);
        Assert.True(f1 > 0.85, $"F1 {f1:F3}");
        Assert.True(ClassificationMetrics.AveragePrecision(scores, ty) > 0.85);
        Assert.InRange(model.Threshold, 0.0, 1.0);
        Assert.Throws<ArgumentException>(() => BoostedClassifier.Fit(x, new double[x.Length]));
    }
}
