using Zhizao.Analytics.Anomaly;

namespace Zhizao.Analytics.Tests;

public class PcaDetectorTests
{
    // Four points with mean 0, variances 20/3 and covariance 4: correlation matrix [[1, .6], [.6, 1]],
    // eigenvalues 1.6 and 0.4 with eigenvectors (1, 1)/√2 and (1, −1)/√2.
    private static readonly double[][] Hand = [[3, 1], [1, 3], [-1, -3], [-3, -1]];
    private static readonly double S = Math.Sqrt(20.0 / 3);

    [Fact]
    public void Hand_computed_example_gives_eigenvalues_loadings_T2_and_Q()
    {
        var pca = PcaDetector.Fit(Hand, new PcaOptions { VarianceToKeep = 0.8 });

        Assert.Equal(1, pca.Components);
        Assert.Equal(1.6, pca.Eigenvalues[0], 10);
        Assert.Equal(0.4, pca.Eigenvalues[1], 10);
        Assert.Equal(1 / Math.Sqrt(2), pca.Loading(0, 0), 10);
        Assert.Equal(1 / Math.Sqrt(2), pca.Loading(1, 0), 10);

        // z = (1, −1): orthogonal to the model, t = 0, residual (1, −1), Q = 2.
        var off = pca.Evaluate([S, -S]);
        Assert.Equal(0, off.T2, 10);
        Assert.Equal(2, off.Q, 10);

        // z = (1, 1): t = √2, T² = 2 / 1.6, no residual.
        var on = pca.Evaluate([S, S]);
        Assert.Equal(1.25, on.T2, 10);
        Assert.Equal(0, on.Q, 10);
    }

    [Fact]
    public void Parametric_limits_follow_the_F_distribution_and_Jackson_Mudholkar()
    {
        var pca = PcaDetector.Fit(Hand, new PcaOptions { VarianceToKeep = 0.8, Confidence = 0.99 });

        // T²lim = k(n−1)(n+1)/(n(n−k)) · F(0.99; 1, 3) = 1.25 · 34.116
        Assert.Equal(1.25 * 34.116, pca.T2Limit, 1);
        // θ1 = .4, θ2 = .16, θ3 = .064 → h0 = 1/3, c = 2.3263: Qlim ≈ 2.634 (χ²₁ would give .4 · 6.635 = 2.654)
        Assert.Equal(2.634, pca.QLimit, 2);
    }

    [Fact]
    public void Normal_data_raises_few_alarms()
    {
        var pca = PcaDetector.Fit(Synthetic.Normal(2000, seed: 1));
        var fresh = Synthetic.Normal(2000, seed: 2);

        var alarms = fresh.Count(x => pca.Score(x) > 1);

        Assert.InRange(alarms / 2000.0, 0, 0.04); // two 1 % limits
    }

    [Fact]
    public void Broken_correlation_is_found_by_Q_and_blamed_on_the_right_sensor()
    {
        var pca = PcaDetector.Fit(Synthetic.Normal(500, seed: 3));
        var x = Synthetic.Normal(1, seed: 4)[0];
        x[3] += 4; // sensor 3 leaves its relation to the others (20 noise σ, about 1 σ of its own spread)

        var stats = pca.Evaluate(x);

        Assert.True(stats.Q > pca.QLimit, $"Q {stats.Q} under {pca.QLimit}");
        Assert.True(pca.Score(x) > 1);
        Assert.Equal(3, pca.TopContributors(x, 1)[0]);
        var c = pca.Contributions(x);
        Assert.Equal(1, c.Sum(), 9);
    }

    [Fact]
    public void Large_move_along_the_model_is_found_by_T2()
    {
        var pca = PcaDetector.Fit(Synthetic.Normal(500, seed: 5), new PcaOptions { Use = PcaStatistic.T2 });
        double[] x = [10 + 30, 50 + 24, -3, 0 + 15, 200 - 18]; // latent factor 1 at 10 σ

        Assert.True(pca.Evaluate(x).T2 > 10 * pca.T2Limit);
        Assert.True(pca.Score(x) > 1);
    }

    [Fact]
    public void Empirical_thresholds_are_training_quantiles()
    {
        var train = Synthetic.Normal(1000, seed: 6);
        var pca = PcaDetector.Fit(train, new PcaOptions { Threshold = ThresholdMethod.Empirical, Confidence = 0.95 });

        var over = train.Count(x => pca.Evaluate(x).Q > pca.QLimit);

        Assert.InRange(over, 45, 55);
    }

    [Fact]
    public void Wrong_width_and_non_finite_training_data_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => PcaDetector.Fit([[1, 2], [3], [4, 5]]));
        Assert.Throws<ArgumentException>(() => PcaDetector.Fit([[1, 2], [double.NaN, 3], [4, 5]]));
        var pca = PcaDetector.Fit(Hand);
        Assert.Throws<ArgumentException>(() => pca.Score(new double[3]));
    }

    [Fact]
    public void Blocked_covariance_matches_a_direct_computation_across_block_boundaries()
    {
        var rows = Synthetic.Normal(1037, seed: 31); // 4 blocks of 256 and a remainder of 13
        var pca = PcaDetector.Fit(rows, new PcaOptions { VarianceToKeep = 1.0 });
        var d = rows[0].Length;
        var mean = Enumerable.Range(0, d).Select(j => rows.Average(r => r[j])).ToArray();
        var sd = Enumerable.Range(0, d).Select(j => Math.Sqrt(rows.Sum(r => (r[j] - mean[j]) * (r[j] - mean[j])) / (rows.Length - 1))).ToArray();
        var corr = new double[d, d];
        for (var a = 0; a < d; a++)
            for (var b = 0; b < d; b++)
                corr[a, b] = rows.Sum(r => (r[a] - mean[a]) / sd[a] * ((r[b] - mean[b]) / sd[b])) / (rows.Length - 1);
        var expected = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(corr).Evd().EigenValues
            .Select(e => e.Real).OrderByDescending(e => e).ToArray();
        for (var c = 0; c < d; c++) Assert.Equal(expected[c], pca.Eigenvalues[c], 9);
    }
}
