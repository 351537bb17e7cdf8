namespace Zhizao.Analytics.Rul;

/// <summary>One unit's history, oldest cycle first: operating settings and sensor readings per cycle.</summary>
public sealed record RunHistory(int Unit, double[][] Settings, double[][] Sensors)
{
    public int Cycles => Sensors.Length;
}

public sealed record RulFeatureOptions
{
    /// <summary>
    /// Windows (in cycles) of the trailing means. Defaults (with <see cref="SlopeWindows"/>) chosen by unit-grouped
    /// 5-fold CV on the C-MAPSS FD001/FD003 training files (`Zhizao.Eval cmapss --tune-features`).
    /// </summary>
    public int[] MeanWindows { get; init; } = [5, 15, 30, 60];

    /// <summary>Windows of the trailing least-squares slopes.</summary>
    public int[] SlopeWindows { get; init; } = [15, 30, 60, 120];

    /// <summary>Window of the trailing standard deviation.</summary>
    public int StdWindow { get; init; } = 15;

    /// <summary>Cycles at the start of each unit's life that form its own baseline (drift = mean5 − baseline).</summary>
    public int BaselineCycles { get; init; } = 10;

    public int MaxRegimes { get; init; } = 8;

    public int Seed { get; init; } = 1;
}

/// <summary>
/// Feature engineering for remaining useful life from run histories: sensors normalised per operating regime
/// (<see cref="OperatingRegimes"/>, mean/std of each sensor within each regime on the training runs), sensors that are
/// constant in training (fewer than 3 distinct values in every regime) dropped, then per cycle and kept sensor the
/// current value, trailing means, a trailing standard deviation, trailing slopes and the drift from the unit's own first
/// cycles, plus the cycle count. Every feature at cycle t uses cycles ≤ t only (windows shrink at the start of a run).
/// </summary>
public sealed class RulFeatures
{
    private readonly RulFeatureOptions _o;
    private readonly double[][] _mean; // regime × sensor
    private readonly double[][] _std;

    private RulFeatures(RulFeatureOptions o, OperatingRegimes regimes, int[] kept, double[][] mean, double[][] std,
        string[] sensorNames)
    {
        _o = o;
        Regimes = regimes;
        KeptSensors = kept;
        _mean = mean;
        _std = std;
        var names = new List<string> { "cycle" };
        if (regimes.Count > 1) names.Add("regime");
        foreach (var s in kept)
        {
            var n = sensorNames[s];
            names.Add(n);
            names.AddRange(o.MeanWindows.Select(w => $"{n}_mean{w}"));
            names.Add($"{n}_std{o.StdWindow}");
            names.AddRange(o.SlopeWindows.Select(w => $"{n}_slope{w}"));
            names.Add($"{n}_drift");
        }
        Names = [.. names];
    }

    public OperatingRegimes Regimes { get; }

    /// <summary>Indices of the sensors used (the others are constant in training).</summary>
    public int[] KeptSensors { get; }

    public string[] Names { get; }

    public static RulFeatures Fit(IReadOnlyList<RunHistory> train, RulFeatureOptions? options = null, string[]? sensorNames = null)
    {
        options ??= new RulFeatureOptions();
        if (train.Count == 0 || train.All(h => h.Cycles == 0)) throw new ArgumentException("no training runs", nameof(train));
        foreach (var h in train)
        {
            if (h.Settings.Length != h.Sensors.Length)
                throw new ArgumentException($"unit {h.Unit}: {h.Settings.Length} settings rows but {h.Sensors.Length} sensor rows", nameof(train));
        }
        var sensors = train.First(h => h.Cycles > 0).Sensors[0].Length;
        sensorNames ??= Enumerable.Range(1, sensors).Select(i => $"s{i}").ToArray();
        var settings = train.SelectMany(h => h.Settings).ToList();
        var regimes = OperatingRegimes.Fit(settings, options.MaxRegimes, options.Seed);

        var k = regimes.Count;
        var byRegime = Enumerable.Range(0, k).Select(_ => new List<double[]>()).ToArray();
        foreach (var h in train)
            for (var t = 0; t < h.Cycles; t++) byRegime[regimes.Assign(h.Settings[t])].Add(h.Sensors[t]);
        var mean = new double[k][];
        var std = new double[k][];
        var informative = new bool[sensors];
        for (var r = 0; r < k; r++)
        {
            mean[r] = new double[sensors];
            std[r] = new double[sensors];
            var rows = byRegime[r];
            for (var s = 0; s < sensors; s++)
            {
                if (rows.Count == 0)
                {
                    std[r][s] = 1;
                    continue;
                }
                var m = rows.Average(x => x[s]);
                var sd = Math.Sqrt(rows.Average(x => (x[s] - m) * (x[s] - m)));
                mean[r][s] = m;
                std[r][s] = sd > 1e-12 ? sd : 1;
                if (rows.Select(x => x[s]).Distinct().Take(3).Count() >= 3) informative[s] = true;
            }
        }
        var kept = Enumerable.Range(0, sensors).Where(s => informative[s]).ToArray();
        return new RulFeatures(options, regimes, kept, mean, std, sensorNames);
    }

    /// <summary>One feature row per cycle of the run.</summary>
    public double[][] Transform(RunHistory run)
    {
        var n = run.Cycles;
        var z = new double[KeptSensors.Length][];
        for (var s = 0; s < KeptSensors.Length; s++) z[s] = new double[n];
        var regime = new int[n];
        for (var t = 0; t < n; t++)
        {
            if (run.Sensors[t].Length <= KeptSensors.LastOrDefault())
                throw new ArgumentException($"unit {run.Unit} cycle {t + 1}: too few sensors", nameof(run));
            var r = regime[t] = Regimes.Assign(run.Settings[t]);
            for (var s = 0; s < KeptSensors.Length; s++)
            {
                var c = KeptSensors[s];
                z[s][t] = (run.Sensors[t][c] - _mean[r][c]) / _std[r][c];
            }
        }
        var rows = new double[n][];
        for (var t = 0; t < n; t++)
        {
            var row = new double[Names.Length];
            var p = 0;
            row[p++] = t + 1;
            if (Regimes.Count > 1) row[p++] = regime[t];
            foreach (var series in z)
            {
                row[p++] = series[t];
                foreach (var w in _o.MeanWindows) row[p++] = Rolling.Mean(series, t, w);
                row[p++] = Rolling.Std(series, t, _o.StdWindow);
                foreach (var w in _o.SlopeWindows) row[p++] = Rolling.Slope(series, t, w);
                row[p++] = Rolling.Mean(series, t, 5) - Rolling.Mean(series, Math.Min(t, _o.BaselineCycles - 1), _o.BaselineCycles);
            }
            rows[t] = row;
        }
        return rows;
    }

    /// <summary>The features of the run's last cycle (what an RUL estimate "now" uses).</summary>
    public double[] TransformLast(RunHistory run) =>
        run.Cycles == 0 ? throw new ArgumentException($"unit {run.Unit} has no cycles", nameof(run)) : Transform(run)[^1];
}

/// <summary>Trailing-window statistics at index t over x[max(0, t−w+1)..t] (the window shrinks at the start).</summary>
public static class Rolling
{
    public static double Mean(double[] x, int t, int w)
    {
        var from = Math.Max(0, t - w + 1);
        var s = 0.0;
        for (var i = from; i <= t; i++) s += x[i];
        return s / (t - from + 1);
    }

    public static double Std(double[] x, int t, int w)
    {
        var from = Math.Max(0, t - w + 1);
        var m = Mean(x, t, w);
        var s = 0.0;
        for (var i = from; i <= t; i++) s += (x[i] - m) * (x[i] - m);
        return Math.Sqrt(s / (t - from + 1));
    }

    /// <summary>Least-squares slope per cycle over the trailing window (0 with a single point).</summary>
    public static double Slope(double[] x, int t, int w)
    {
        var from = Math.Max(0, t - w + 1);
        var n = t - from + 1;
        if (n < 2) return 0;
        var mx = (n - 1) / 2.0;
        var my = Mean(x, t, w);
        double sxy = 0, sxx = 0;
        for (var i = 0; i < n; i++)
        {
            sxy += (i - mx) * (x[from + i] - my);
            sxx += (i - mx) * (i - mx);
        }
        return sxy / sxx;
    }
}
