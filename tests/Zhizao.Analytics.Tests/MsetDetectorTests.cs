using Zhizao.Analytics.Anomaly;

namespace Zhizao.Analytics.Tests;

public class MsetDetectorTests
{
    [Fact]
    public void Estimates_normal_states_closely()
    {
        var mset = MsetDetector.Fit(Synthetic.Normal(400, seed: 11));
        var x = Synthetic.Normal(1, seed: 12)[0];

        var est = mset.Estimate(x);

        for (var j = 0; j < x.Length; j++) Assert.InRange(Math.Abs(est[j] - x[j]), 0, 1.5);
    }

    [Fact]
    public void Normal_data_raises_few_alarms()
    {
        var mset = MsetDetector.Fit(Synthetic.Normal(400, seed: 13));
        var fresh = Synthetic.Normal(1000, seed: 14);

        var alarms = fresh.Count(x => mset.Score(x) > 1);

        Assert.InRange(alarms / 1000.0, 0, 0.05);
    }

    [Fact]
    public void Sensor_offset_is_found_and_blamed_on_that_sensor()
    {
        var mset = MsetDetector.Fit(Synthetic.Normal(400, seed: 15));
        var faulty = Synthetic.Normal(200, seed: 16);
        foreach (var x in faulty) x[2] += 8; // about 2.7 σ of that sensor

        var found = faulty.Count(x => mset.Score(x) > 1);

        Assert.True(found > 180, $"{found}/200 found");
        var blamed = faulty.Count(x => mset.TopContributors(x, 1)[0] == 2);
        Assert.True(blamed > 150, $"{blamed}/200 blamed on sensor 2");
    }

    [Fact]
    public void Fit_is_deterministic()
    {
        var train = Synthetic.Normal(300, seed: 17);
        var test = Synthetic.Normal(50, seed: 18);

        var a = MsetDetector.Fit(train).ScoreAll(test);
        var b = MsetDetector.Fit(train).ScoreAll(test);

        Assert.Equal(a, b);
    }

    [Fact]
    public void Long_training_periods_calibrate_on_a_thinned_subset_with_a_similar_threshold()
    {
        var train = Synthetic.Normal(6000, seed: 21);
        var full = MsetDetector.Fit(train);
        var thinned = MsetDetector.Fit(train, new MsetOptions { MaxCalibrationRows = 600 });
        Assert.Equal(full.MemorySize, thinned.MemorySize);
        Assert.InRange(thinned.Threshold / full.Threshold, 0.7, 1.4);
        var fresh = Synthetic.Normal(1000, seed: 22);
        Assert.InRange(fresh.Count(x => thinned.Score(x) > 1) / 1000.0, 0, 0.05);
    }
}
