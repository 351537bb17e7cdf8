using Zhizao.Analytics.Metrics;
using Zhizao.Analytics.Rul;
using Zhizao.Analytics.Trees;

namespace Zhizao.Analytics.Tests;

public class RulTests
{
    /// <summary>
    /// Units that degrade from a random life: sensor 0 rises as wear accumulates (quadratically near the end), sensor 1
    /// falls, sensor 2 is noise, sensor 3 is constant. Settings come from <paramref name="regimes"/> discrete conditions
    /// that shift every sensor.
    /// </summary>
    internal static List<RunHistory> Fleet(int units, int seed, int regimes = 1)
    {
        var rng = new Random(seed);
        var runs = new List<RunHistory>();
        for (var u = 0; u < units; u++)
        {
            var life = 120 + rng.Next(150);
            var settings = new double[life][];
            var sensors = new double[life][];
            for (var t = 0; t < life; t++)
            {
                var regime = regimes == 1 ? 0 : rng.Next(regimes);
                settings[t] = [10.0 * regime + 0.001 * Synthetic.Gauss(rng), 0.2 * regime + 0.0001 * Synthetic.Gauss(rng)];
                var wear = Math.Max(0, t - (life - 130)) / 130.0; // onset 130 cycles before failure
                sensors[t] =
                [
                    500 + 30 * regime + 5 * wear * wear + 0.3 * Synthetic.Gauss(rng),
                    40 - 4 * regime - 2 * wear + 0.2 * Synthetic.Gauss(rng),
                    7 + Synthetic.Gauss(rng),
                    100,
                ];
            }
            runs.Add(new RunHistory(u + 1, settings, sensors));
        }
        return runs;
    }

    [Fact]
    public void Regime_clustering_finds_discrete_conditions_and_keeps_noise_as_one()
    {
        var six = Fleet(10, 1, regimes: 6).SelectMany(r => r.Settings).ToList();
        var found = OperatingRegimes.Fit(six);
        Assert.Equal(6, found.Count);
        Assert.True(found.Silhouette > 0.9);
        // the same condition always maps to the same regime, different conditions to different ones
        var ids = Enumerable.Range(0, 6).Select(r => found.Assign([10.0 * r, 0.2 * r])).ToArray();
        Assert.Equal(6, ids.Distinct().Count());

        var one = OperatingRegimes.Fit(Fleet(10, 2).SelectMany(r => r.Settings).ToList());
        Assert.Equal(1, one.Count);
    }

    [Fact]
    public void Rolling_statistics_are_exact_on_hand_made_series()
    {
        double[] x = [1, 3, 5, 7, 9, 11];
        Assert.Equal(2.0, Rolling.Slope(x, 5, 4), 12);
        Assert.Equal(0.0, Rolling.Slope(x, 0, 4), 12);
        Assert.Equal(9.0, Rolling.Mean(x, 5, 3), 12);
        Assert.Equal(2.0, Rolling.Mean(x, 1, 30), 12); // window shrinks at the start
        Assert.Equal(Math.Sqrt(8.0 / 3), Rolling.Std(x, 2, 3), 12);
    }

    [Fact]
    public void Features_drop_constant_sensors_normalise_per_regime_and_use_no_future_cycles()
    {
        var fleet = Fleet(20, 3, regimes: 3);
        var features = RulFeatures.Fit(fleet);
        Assert.Equal(3, features.Regimes.Count);
        Assert.Equal([0, 1, 2], features.KeptSensors);
        Assert.Contains("s1_slope30", features.Names);
        Assert.DoesNotContain(features.Names, n => n.StartsWith("s4", StringComparison.Ordinal));

        var run = fleet[0];
        var full = features.Transform(run);
        var cut = features.Transform(new RunHistory(run.Unit, run.Settings[..40], run.Sensors[..40]));
        Assert.Equal(full[39], cut[39]); // appending cycles 41… does not change cycle 40's features
        Assert.Equal(40.0, cut[39][0]); // cycle count

        // after per-regime normalisation the healthy noise sensor has mean ≈ 0 and sd ≈ 1 across regimes
        var noise = features.Names.ToList().IndexOf("s3");
        var all = fleet.SelectMany(features.Transform).Select(r => r[noise]).ToArray();
        Assert.Equal(0, all.Average(), 0.05);
        Assert.Equal(1, Math.Sqrt(all.Average(v => v * v)), 0.05);
    }

    [Fact]
    public void Rul_model_learns_synthetic_degradation_and_its_band_covers_most_units()
    {
        var train = Fleet(60, 4);
        var test = Fleet(40, 5);
        var rng = new Random(6);
        var cut = test.Select(r =>
        {
            var keep = 40 + rng.Next(r.Cycles - 45);
            return (Run: new RunHistory(r.Unit, r.Settings[..keep], r.Sensors[..keep]), Rul: (double)(r.Cycles - keep));
        }).ToArray();
        var model = RulModel.Fit(train, new RulModelOptions
        {
            EnsembleSize = 1,
            Point = new GbmOptions { Rounds = 150, LearningRate = 0.05, MaxLeaves = 15, MinSamplesLeaf = 20 },
            Band = new GbmOptions { Loss = GbmLoss.Quantile, Rounds = 100, LearningRate = 0.1, MaxLeaves = 15, MinSamplesLeaf = 20 },
        });
        var est = cut.Select(c => model.Predict(c.Run)).ToArray();
        var truth = cut.Select(c => Math.Min(c.Rul, 125)).ToArray();
        var rmse = RegressionMetrics.Rmse(est.Select(e => e.Rul).ToArray(), truth);
        Assert.True(rmse < 20, $"RMSE {rmse:F1} on capped truth");
        Assert.All(est, e => Assert.True(e.Lower <= e.Rul && e.Rul <= e.Upper && e.Lower >= 0 && e.Upper <= 125));
        var coverage = RegressionMetrics.Coverage(est.Select(e => e.Lower).ToArray(), est.Select(e => e.Upper).ToArray(), truth);
        Assert.True(coverage >= 0.6, $"P10–P90 coverage {coverage:P0}");
    }

    [Fact]
    public void Conformal_calibration_brings_degradation_phase_coverage_of_new_units_near_nominal()
    {
        var train = Fleet(50, 7);
        var test = Fleet(40, 8);
        var opts = new RulModelOptions
        {
            EnsembleSize = 1,
            Point = new GbmOptions { Rounds = 60, LearningRate = 0.1, MaxLeaves = 7, MinSamplesLeaf = 20 },
            Band = new GbmOptions { Loss = GbmLoss.Quantile, Rounds = 60, LearningRate = 0.1, MaxLeaves = 7, MinSamplesLeaf = 20 },
            LowerQuantile = 0.1,
            UpperQuantile = 0.9,
        };
        double Coverage(RulModel m)
        {
            var inside = 0;
            var total = 0;
            foreach (var run in test)
            {
                var rows = m.Features.Transform(run);
                for (var t = 0; t < rows.Length; t += 5)
                {
                    var e = m.PredictFeatures(rows[t]);
                    var y = rows.Length - 1 - t;
                    if (y >= 125) continue; // calibration targets the degradation phase
                    if (y >= e.Lower && y <= e.Upper) inside++;
                    total++;
                }
            }
            return (double)inside / total;
        }
        var uncalibrated = RulModel.Fit(train, opts with { BandCalibrationShare = 0 });
        var calibrated = RulModel.Fit(train, opts);
        Assert.Equal(0, uncalibrated.BandMargin);
        var c = Coverage(calibrated);
        Assert.True(c is >= 0.7 and <= 0.9, $"calibrated {c:P1}, uncalibrated {Coverage(uncalibrated):P1}, margin {calibrated.BandMargin:F2}");
    }
}
