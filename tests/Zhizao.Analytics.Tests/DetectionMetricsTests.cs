using Zhizao.Analytics.Anomaly;

namespace Zhizao.Analytics.Tests;

public class DetectionMetricsTests
{
    private static readonly NabProfile Std = NabProfile.Standard;

    [Fact]
    public void Outlier_metrics_follow_SKAB_definitions()
    {
        bool[] actual = [true, true, true, true, false, false, false, false, false, false];
        bool[] predicted = [true, true, true, false, true, false, false, false, false, false];

        var c = DetectionMetrics.Confusion(predicted, actual);

        Assert.Equal(new ConfusionCounts(3, 1, 5, 1), c);
        Assert.Equal(3 / (3 + (1 + 1) / 2.0), c.F1, 12); // 0.75
        Assert.Equal(100.0 / 6, c.FarPercent, 12);
        Assert.Equal(25, c.MarPercent, 12);
        Assert.Equal(new ConfusionCounts(6, 2, 10, 2), c + c);
    }

    [Fact]
    public void Predicted_changepoints_are_value_changes_and_a_positive_start()
    {
        Assert.Equal([0, 2, 4], DetectionMetrics.PredictedChangepoints([true, true, false, false, true]));
        Assert.Equal([1, 3], DetectionMetrics.PredictedChangepoints([false, true, true, false]));
        Assert.Empty(DetectionMetrics.PredictedChangepoints([false, false]));
    }

    [Fact]
    public void Reward_curve_runs_from_A_tp_at_the_window_start_to_A_fp_at_its_end()
    {
        Assert.Equal(1, DetectionMetrics.WindowReward(0, Std), 12);
        Assert.Equal(-0.11, DetectionMetrics.WindowReward(1, Std), 12); // index capped at 999
        Assert.Equal(-0.11, DetectionMetrics.WindowReward(0.9999, Std), 12);
        var mid = DetectionMetrics.WindowReward(0.5, Std); // index 500 of 1000: just past the centre
        Assert.InRange(mid, 0.44, 0.445);
    }

    [Fact]
    public void Immediate_detection_is_perfect_and_no_detection_is_null()
    {
        double[] truth = [100, 500];

        var perfect = DetectionMetrics.Nab([100, 500], truth, 60, Std);
        var none = DetectionMetrics.Nab([], truth, 60, Std);

        Assert.Equal(2, perfect.Score, 12);
        Assert.Equal(100, perfect.Normalised(Std), 12);
        Assert.Equal(-2, none.Score, 12);
        Assert.Equal(0, none.Normalised(Std), 12);
        Assert.Equal(2, none.Missed);
    }

    [Fact]
    public void Only_the_first_detection_in_a_window_scores_and_detections_outside_cost_A_fp()
    {
        // window [100, 160]: detections at 130 (scores) and 150 (ignored); 300 and 10 are false positives.
        var s = DetectionMetrics.Nab([10, 130, 150, 300], [100], 60, Std);

        Assert.Equal(DetectionMetrics.WindowReward(0.5, Std) + 2 * -0.11, s.Score, 12);
        Assert.Equal(2, s.FalsePositives);
        Assert.Equal(0, s.Missed);
        // S = 0.4421 − 0.22; S_null = −1, S_perfect = 1 → NAB = 100·(S + 1)/2
        Assert.Equal(100 * (s.Score + 1) / 2, s.Normalised(Std), 12);
    }

    [Fact]
    public void Window_ends_are_included_and_an_overlapping_window_starts_where_the_earlier_ends()
    {
        // windows [0, 60] and [60, 100] (the second CP at 40 is shifted to 60)
        var late = DetectionMetrics.Nab([60], [0, 40], 60, Std);
        Assert.Equal(-0.11 + 1, late.Score, 12); // end of the first window, start of the second

        var inSecond = DetectionMetrics.Nab([80], [0, 40], 60, Std);
        Assert.Equal(-1 + DetectionMetrics.WindowReward(0.5, Std), inSecond.Score, 12);
        Assert.Equal(1, inSecond.Missed);
    }

    [Fact]
    public void Profiles_weigh_false_positives_and_misses_as_SKAB_defines()
    {
        var s = NabProfile.All.Select(p => DetectionMetrics.Nab([500], [100], 60, p)).ToArray();

        Assert.Equal(-1 - 0.11, s[0].Score, 12);
        Assert.Equal(-1 - 0.22, s[1].Score, 12);
        Assert.Equal(-2 - 0.11, s[2].Score, 12);
        Assert.Equal(100 * (-2.11 + 2) / 3, s[2].Normalised(NabProfile.LowFalseNegatives), 12);
    }
}
