using Zhizao.Analytics.Trees;

namespace Zhizao.Analytics.Rul;

public sealed record RulModelOptions
{
    /// <summary>Training targets are min(RUL, Cap): the piecewise-linear degradation model (constant early in life).</summary>
    public double Cap { get; init; } = 125;

    public RulFeatureOptions Features { get; init; } = new();

    /// <summary>
    /// The point model: squared-error boosting. Defaults chosen by 5-fold cross-validation over training units of
    /// C-MAPSS FD001 and FD003 (see docs/bench/MODELS.md); test data was not used.
    /// </summary>
    public GbmOptions Point { get; init; } = new()
    {
        Rounds = 1000, LearningRate = 0.02, MaxLeaves = 15, MaxDepth = 6, MinSamplesLeaf = 100, L2 = 1,
        RowSubsample = 0.7, FeatureSubsample = 0.5,
    };

    /// <summary>Point models with seeds Seed, Seed+1, … averaged (row/feature subsampling makes them differ).</summary>
    public int EnsembleSize { get; init; } = 3;

    public double LowerQuantile { get; init; } = 0.1;

    public double UpperQuantile { get; init; } = 0.9;

    /// <summary>The band models: pinball-loss boosting at the two quantiles, on the same features.</summary>
    public GbmOptions Band { get; init; } = new()
    {
        Loss = GbmLoss.Quantile, Rounds = 300, LearningRate = 0.05, MaxLeaves = 15, MaxDepth = 6, MinSamplesLeaf = 50,
        RowSubsample = 0.7, FeatureSubsample = 0.5,
    };

    /// <summary>Fit the band models (they cost about as much as two point models).</summary>
    public bool WithBand { get; init; } = true;

    /// <summary>
    /// Share of training units held out to calibrate the band (split conformalised quantile regression, Romano et al.
    /// 2019): the band models learn on the other units, and the band is widened (or narrowed) by the quantile of
    /// max(lower − y, y − upper) over the held-out units' degradation-phase cycles (capped RUL &lt; cap) that gives the
    /// nominal coverage there.
    /// 0 = no calibration (band models learn on all units).
    /// </summary>
    public double BandCalibrationShare { get; init; } = 0.2;

    public int Seed { get; init; } = 1;
}

/// <summary>RUL now, with the band [Lower, Upper] from the quantile models (Lower ≤ Rul ≤ Upper).</summary>
public readonly record struct RulEstimate(double Rul, double Lower, double Upper);

/// <summary>
/// Remaining useful life from run-to-failure histories: <see cref="RulFeatures"/> per cycle, an ensemble of
/// gradient-boosted trees on targets capped at <see cref="RulModelOptions.Cap"/>, and two quantile-loss boosted models
/// for the uncertainty band, calibrated on held-out training units (<see cref="RulModelOptions.BandCalibrationShare"/>).
/// </summary>
public sealed class RulModel
{
    private readonly GradientBoostedTrees[] _point;
    private readonly GradientBoostedTrees? _lower;
    private readonly GradientBoostedTrees? _upper;

    private RulModel(RulFeatures features, GradientBoostedTrees[] point, GradientBoostedTrees? lower, GradientBoostedTrees? upper,
        double cap, double bandMargin)
    {
        BandMargin = bandMargin;
        Features = features;
        _point = point;
        _lower = lower;
        _upper = upper;
        Cap = cap;
    }

    public RulFeatures Features { get; }

    public double Cap { get; }

    /// <summary>The conformal correction added to both sides of the quantile band (negative narrows it).</summary>
    public double BandMargin { get; }

    public IReadOnlyList<GradientBoostedTrees> PointModels => _point;

    /// <summary>Fits on complete runs: each run ends at failure, so cycle t of a run of T cycles has RUL T − t.</summary>
    public static RulModel Fit(IReadOnlyList<RunHistory> runsToFailure, RulModelOptions? options = null, string[]? sensorNames = null)
    {
        options ??= new RulModelOptions();
        var features = RulFeatures.Fit(runsToFailure, options.Features with { Seed = options.Seed }, sensorNames);
        var (x, y) = TrainingRows(features, runsToFailure, options.Cap);
        var point = new GradientBoostedTrees[Math.Max(1, options.EnsembleSize)];
        for (var e = 0; e < point.Length; e++)
            point[e] = GradientBoostedTrees.Fit(x, y, options.Point with { Seed = options.Seed + e });
        GradientBoostedTrees? lower = null, upper = null;
        var margin = 0.0;
        if (options.WithBand)
        {
            var calibrationUnits = options.BandCalibrationShare > 0 && runsToFailure.Count >= 5
                ? Math.Clamp((int)Math.Round(runsToFailure.Count * options.BandCalibrationShare), 1, runsToFailure.Count - 1)
                : 0;
            var order = Enumerable.Range(0, runsToFailure.Count).ToArray();
            new Random(options.Seed + 103).Shuffle(order);
            var calibration = order.Take(calibrationUnits).Select(i => runsToFailure[i]).ToList();
            var proper = calibrationUnits == 0 ? runsToFailure : order.Skip(calibrationUnits).Select(i => runsToFailure[i]).ToList();
            var (bx, by) = calibrationUnits == 0 ? (x, y) : TrainingRows(features, proper, options.Cap);
            lower = GradientBoostedTrees.Fit(bx, by, options.Band with { Alpha = options.LowerQuantile, Seed = options.Seed + 101 });
            upper = GradientBoostedTrees.Fit(bx, by, options.Band with { Alpha = options.UpperQuantile, Seed = options.Seed + 102 });
            if (calibrationUnits > 0)
            {
                // Only degradation-phase cycles (capped RUL below the cap) calibrate: on the plateau both quantile
                // models predict the cap exactly, so those cycles would add scores of 0 and pull the quantile to 0.
                var (cx, cy) = TrainingRows(features, calibration, options.Cap);
                var list = new List<double>(cx.Length);
                for (var i = 0; i < cx.Length; i++)
                    if (cy[i] < options.Cap) list.Add(Math.Max(lower.Predict(cx[i]) - cy[i], cy[i] - upper.Predict(cx[i])));
                if (list.Count == 0) list.Add(0);
                var scores = list.ToArray();
                Array.Sort(scores);
                var level = options.UpperQuantile - options.LowerQuantile;
                var rank = Math.Min(scores.Length - 1, (int)Math.Ceiling((scores.Length + 1) * level) - 1);
                margin = scores[Math.Max(rank, 0)];
            }
        }
        return new RulModel(features, point, lower, upper, options.Cap, margin);
    }

    /// <summary>Feature rows of every cycle of every run with its capped RUL target.</summary>
    public static (double[][] X, double[] Y) TrainingRows(RulFeatures features, IReadOnlyList<RunHistory> runsToFailure, double cap)
    {
        var x = new List<double[]>();
        var y = new List<double>();
        foreach (var run in runsToFailure)
        {
            var rows = features.Transform(run);
            for (var t = 0; t < rows.Length; t++)
            {
                x.Add(rows[t]);
                y.Add(Math.Min(cap, rows.Length - 1 - t));
            }
        }
        return ([.. x], [.. y]);
    }

    /// <summary>The estimate at the run's last cycle.</summary>
    public RulEstimate Predict(RunHistory run) => PredictFeatures(Features.TransformLast(run));

    public RulEstimate PredictFeatures(ReadOnlySpan<double> row)
    {
        var rul = 0.0;
        foreach (var m in _point) rul += m.Predict(row);
        rul = Math.Clamp(rul / _point.Length, 0, Cap);
        if (_lower is null || _upper is null) return new RulEstimate(rul, rul, rul);
        var lo = Math.Clamp(_lower.Predict(row) - BandMargin, 0, Cap);
        var hi = Math.Clamp(_upper.Predict(row) + BandMargin, 0, Cap);
        return new RulEstimate(rul, Math.Min(lo, rul), Math.Max(hi, rul));
    }
}
