using Zhizao.Analytics.Trees;

namespace Zhizao.Analytics.Tests;

public class GradientBoostedTreesTests
{
    private static (double[][] X, double[] Y) Friedman(int n, int seed, double noise)
    {
        // Friedman #1: y = 10 sin(π x0 x1) + 20 (x2 − 0.5)² + 10 x3 + 5 x4 + noise; x5..x9 are irrelevant.
        var rng = new Random(seed);
        var x = new double[n][];
        var y = new double[n];
        for (var i = 0; i < n; i++)
        {
            var r = new double[10];
            for (var j = 0; j < 10; j++) r[j] = rng.NextDouble();
            x[i] = r;
            y[i] = 10 * Math.Sin(Math.PI * r[0] * r[1]) + 20 * (r[2] - 0.5) * (r[2] - 0.5) + 10 * r[3] + 5 * r[4]
                   + noise * Synthetic.Gauss(rng);
        }
        return (x, y);
    }

    [Fact]
    public void A_single_split_recovers_a_step_function_exactly()
    {
        var x = Enumerable.Range(0, 100).Select(i => new double[] { i }).ToArray();
        var y = x.Select(r => r[0] < 37 ? 2.0 : 10.0).ToArray();
        var model = GradientBoostedTrees.Fit(x, y, new GbmOptions
        {
            Rounds = 1, LearningRate = 1, MaxLeaves = 2, MinSamplesLeaf = 1, L2 = 0,
        });
        var tree = model.Trees[0];
        Assert.Equal(2, tree.LeafCount);
        Assert.Equal(36.5, tree.Threshold[0]);
        Assert.Equal(2.0, model.Predict([10.0]), 9);
        Assert.Equal(10.0, model.Predict([80.0]), 9);
        Assert.Equal(2.0, model.Predict([36.4]), 9);
    }

    [Fact]
    public void Boosting_fits_Friedman_1_close_to_the_noise_floor()
    {
        var (x, y) = Friedman(3000, 1, noise: 1.0);
        var (tx, ty) = Friedman(1000, 2, noise: 0.0);
        var model = GradientBoostedTrees.Fit(x, y, new GbmOptions { Rounds = 400, LearningRate = 0.05, MaxLeaves = 15 });
        var rmse = Metrics.RegressionMetrics.Rmse(model.PredictAll(tx), ty);
        var sd = Math.Sqrt(ty.Select(v => (v - ty.Average()) * (v - ty.Average())).Average());
        Assert.True(rmse < 1.5, $"test RMSE {rmse:F3} against noise-free targets (sd {sd:F2})");
        // the five irrelevant features get almost no gain
        var relevant = model.GainImportance[..5].Sum();
        var irrelevant = model.GainImportance[5..].Sum();
        Assert.True(irrelevant < 0.05 * relevant, $"irrelevant gain {irrelevant:G3} vs relevant {relevant:G3}");
    }

    [Fact]
    public void Staged_predictions_end_at_the_full_prediction_and_training_error_falls()
    {
        var (x, y) = Friedman(500, 3, noise: 0.5);
        var model = GradientBoostedTrees.Fit(x, y, new GbmOptions { Rounds = 50 });
        var staged = new double[50];
        model.PredictStaged(x[0], staged);
        Assert.Equal(model.Predict(x[0]), staged[^1], 12);
        Assert.Equal(model.Predict(x[0], 10), staged[9], 12);
        var early = Metrics.RegressionMetrics.Rmse(x.Select(r => model.Predict(r, 5)).ToArray(), y);
        var late = Metrics.RegressionMetrics.Rmse(model.PredictAll(x), y);
        Assert.True(late < early);
    }

    [Fact]
    public void Same_seed_gives_identical_models_and_another_seed_differs_with_subsampling()
    {
        var (x, y) = Friedman(800, 4, noise: 1.0);
        var o = new GbmOptions { Rounds = 30, RowSubsample = 0.7, FeatureSubsample = 0.6, Seed = 7 };
        var a = GradientBoostedTrees.Fit(x, y, o);
        var b = GradientBoostedTrees.Fit(x, y, o);
        var c = GradientBoostedTrees.Fit(x, y, o with { Seed = 8 });
        Assert.Equal(a.PredictAll(x), b.PredictAll(x));
        Assert.NotEqual(a.PredictAll(x), c.PredictAll(x));
    }

    [Fact]
    public void Quantile_loss_gives_bands_with_their_nominal_coverage()
    {
        // y = x + N(0, 1): the 10 % and 90 % quantiles are x ∓ 1.2816.
        var rng = new Random(5);
        var x = Enumerable.Range(0, 4000).Select(_ => new[] { rng.NextDouble() * 10 }).ToArray();
        var y = x.Select(r => r[0] + Synthetic.Gauss(rng)).ToArray();
        var o = new GbmOptions { Loss = GbmLoss.Quantile, Rounds = 200, LearningRate = 0.1, MaxLeaves = 8, MinSamplesLeaf = 50 };
        var p10 = GradientBoostedTrees.Fit(x, y, o with { Alpha = 0.1 });
        var p90 = GradientBoostedTrees.Fit(x, y, o with { Alpha = 0.9 });
        Assert.Equal(5 - 1.2816, p10.Predict([5.0]), 0.35);
        Assert.Equal(5 + 1.2816, p90.Predict([5.0]), 0.35);

        var tx = Enumerable.Range(0, 2000).Select(_ => new[] { rng.NextDouble() * 10 }).ToArray();
        var ty = tx.Select(r => r[0] + Synthetic.Gauss(rng)).ToArray();
        var coverage = Metrics.RegressionMetrics.Coverage(p10.PredictAll(tx), p90.PredictAll(tx), ty);
        Assert.InRange(coverage, 0.74, 0.86);
    }

    [Fact]
    public void Logistic_loss_learns_probabilities_and_weights_shift_them()
    {
        // P(y = 1 | x) = 0.2 for x < 0.5 and 0.8 above.
        var rng = new Random(6);
        var x = Enumerable.Range(0, 4000).Select(_ => new[] { rng.NextDouble() }).ToArray();
        var y = x.Select(r => rng.NextDouble() < (r[0] < 0.5 ? 0.2 : 0.8) ? 1.0 : 0.0).ToArray();
        var o = new GbmOptions { Loss = GbmLoss.Logistic, Rounds = 100, LearningRate = 0.1, MaxLeaves = 4, MinSamplesLeaf = 100 };
        var model = GradientBoostedTrees.Fit(x, y, o);
        Assert.Equal(0.2, model.Predict([0.25]), 0.05);
        Assert.Equal(0.8, model.Predict([0.75]), 0.05);

        // weighting positives 4× turns odds 0.25 into 1: p = 0.5 on the left
        var weighted = GradientBoostedTrees.Fit(x, y, o, y.Select(v => v == 1 ? 4.0 : 1.0).ToArray());
        Assert.Equal(0.5, weighted.Predict([0.25]), 0.06);
    }

    [Fact]
    public void Binning_uses_one_bin_per_distinct_value_when_few_and_quantiles_when_many()
    {
        var few = new[] { 1.0, 1, 2, 3, 3, 3 }.Select(v => new[] { v }).ToArray();
        var bins = FeatureBins.Fit(few);
        Assert.Equal(3, bins.BinCount(0));
        Assert.Equal(1.5, bins.Edge(0, 0));
        Assert.Equal(0, bins.Bin(0, 1.0));
        Assert.Equal(2, bins.Bin(0, 99));

        var many = Enumerable.Range(0, 10_000).Select(i => new[] { (double)i }).ToArray();
        var q = FeatureBins.Fit(many, maxBins: 10);
        Assert.Equal(10, q.BinCount(0));
        var perBin = many.GroupBy(r => q.Bin(0, r[0])).Select(g => g.Count()).ToArray();
        Assert.All(perBin, c => Assert.Equal(1000, c));
    }

    [Fact]
    public void Constant_features_never_split_and_bad_input_is_refused()
    {
        var x = Enumerable.Range(0, 50).Select(i => new double[] { 3, i }).ToArray();
        var y = x.Select(r => r[1]).ToArray();
        var model = GradientBoostedTrees.Fit(x, y, new GbmOptions { Rounds = 5, MinSamplesLeaf = 2 });
        Assert.Equal(0, model.GainImportance[0]);
        Assert.True(model.GainImportance[1] > 0);

        Assert.Throws<ArgumentException>(() => GradientBoostedTrees.Fit([[1.0], [double.NaN]], [1.0, 2.0]));
        Assert.Throws<ArgumentException>(() => GradientBoostedTrees.Fit([[1.0], [2.0, 3.0]], [1.0, 2.0]));
        Assert.Throws<ArgumentException>(() => GradientBoostedTrees.Fit([[1.0], [2.0]], [1.0, 2.0], new GbmOptions { Loss = GbmLoss.Logistic }));
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientBoostedTrees.Fit([[1.0], [2.0]], [1.0, 2.0], new GbmOptions { LearningRate = 0 }));
        Assert.Throws<ArgumentException>(() => model.Predict([1.0]));
    }
}
