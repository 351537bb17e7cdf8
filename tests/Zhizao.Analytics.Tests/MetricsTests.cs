using Zhizao.Analytics.Metrics;

namespace Zhizao.Analytics.Tests;

public class MetricsTests
{
    [Fact]
    public void Rmse_of_a_hand_computed_case()
    {
        // errors 3, −4, 0 → sqrt((9 + 16 + 0) / 3)
        Assert.Equal(Math.Sqrt(25.0 / 3), RegressionMetrics.Rmse([13.0, 6, 5], [10.0, 10, 5]), 12);
    }

    [Fact]
    public void Phm08_score_penalises_late_predictions_more_than_early_ones()
    {
        // d = +10 → e − 1; d = −13 → e − 1; d = 0 → 0
        Assert.Equal(Math.E - 1, RegressionMetrics.Phm08Score([20.0], [10.0]), 12);
        Assert.Equal(Math.E - 1, RegressionMetrics.Phm08Score([10.0], [23.0]), 12);
        Assert.Equal(0, RegressionMetrics.Phm08Score([7.0], [7.0]), 12);
        Assert.Equal(2 * (Math.E - 1), RegressionMetrics.Phm08Score([20.0, 10, 7], [10.0, 23, 7]), 12);
        Assert.True(RegressionMetrics.Phm08Term(5) > RegressionMetrics.Phm08Term(-5));
    }

    [Fact]
    public void Coverage_counts_actual_values_inside_closed_bands()
    {
        Assert.Equal(0.5, RegressionMetrics.Coverage([0.0, 0, 0, 0], [10.0, 10, 10, 10], [0.0, 10, -1, 11]));
    }

    [Fact]
    public void F1_of_a_hand_computed_case()
    {
        // TP 2, FP 1, FN 1 → 4 / 6
        Assert.Equal(4.0 / 6, ClassificationMetrics.F1([true, true, true, false, false], [1.0, 1, 0, 1, 0]), 12);
        Assert.Equal(0, ClassificationMetrics.F1([false, false], [0.0, 0]));
    }

    [Fact]
    public void Average_precision_matches_scikit_learn_on_its_documented_example()
    {
        // sklearn docs: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333…
        Assert.Equal(5.0 / 6, ClassificationMetrics.AveragePrecision([0.1, 0.4, 0.35, 0.8], [0.0, 0, 1, 1]), 12);
        Assert.Equal(1.0, ClassificationMetrics.AveragePrecision([0.9, 0.8, 0.1], [1.0, 1, 0]), 12);
        // ties form one threshold: all tied → AP = prevalence
        Assert.Equal(0.25, ClassificationMetrics.AveragePrecision([0.5, 0.5, 0.5, 0.5], [1.0, 0, 0, 0]), 12);
    }

    [Fact]
    public void Best_F1_threshold_separates_the_scores_that_maximise_F1()
    {
        // taking the top two (0.9, 0.8) gives TP 2, FP 0, FN 1 → 0.8; the top four gives 6/7 ≈ 0.857
        var (threshold, f1) = ClassificationMetrics.BestF1Threshold([0.9, 0.8, 0.7, 0.6, 0.1], [1.0, 1, 0, 1, 0]);
        Assert.Equal(6.0 / 7, f1, 12);
        Assert.Equal(0.35, threshold, 12);
        Assert.Equal(f1, ClassificationMetrics.F1([0.9, 0.8, 0.7, 0.6, 0.1], [1.0, 1, 0, 1, 0], threshold), 12);
    }
}
