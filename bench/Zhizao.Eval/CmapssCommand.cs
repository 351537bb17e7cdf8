using System.Diagnostics;
using System.Globalization;
using System.Text;
using Zhizao.Analytics.Metrics;
using Zhizao.Analytics.Rul;
using Zhizao.Analytics.Trees;

namespace Zhizao.Eval;

/// <summary>C-MAPSS FD001/FD003: fit on the training runs, estimate RUL at each test unit's last cycle, score.</summary>
internal static class CmapssCommand
{
    private const string Usage =
        "usage: Zhizao.Eval cmapss [--data DIR] [--out DIR] [--subsets FD001,FD003] [--seed N] [--tune]\n" +
        "  --data     folder holding train_FD00x.txt, test_FD00x.txt, RUL_FD00x.txt; default ../shared/datasets/cmapss\n" +
        "  --out      where cmapss-<subset>.csv goes; default bench/Zhizao.Eval/out\n" +
        "  --tune     instead of the test evaluation, 5-fold cross-validation over training units of a small\n" +
        "             hyper-parameter grid (test files are not read)\n" +
        "  --tune-features  the same cross-validation over feature-window variants with the default trees";

    public static int Run(string[] args, string? root)
    {
        string? data = null, outDir = null;
        var subsets = new[] { "FD001", "FD003" };
        var seed = 1;
        var tune = false;
        var tuneFeatures = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--data" when i + 1 < args.Length: data = args[++i]; break;
                case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
                case "--subsets" when i + 1 < args.Length: subsets = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--seed" when i + 1 < args.Length && int.TryParse(args[i + 1], out seed): i++; break;
                case "--tune": tune = true; break;
                case "--tune-features": tune = tuneFeatures = true; break;
                case "-h" or "--help": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown or incomplete argument '{args[i]}'\n{Usage}"); return 2;
            }
        }
        data ??= EvalCommand.DefaultDataDir(root, "cmapss");
        if (data is null || !Directory.Exists(data))
        {
            Console.Error.WriteLine($"C-MAPSS data not found at '{data ?? "(no repository root found)"}'; pass --data DIR " +
                                    "(the folder holding train_FD001.txt, test_FD001.txt, RUL_FD001.txt, ...).");
            return 3;
        }
        outDir ??= Path.Combine(root ?? ".", "bench", "Zhizao.Eval", "out");
        Directory.CreateDirectory(outDir);

        var total = Stopwatch.StartNew();
        var results = new List<Result>();
        foreach (var name in subsets)
        {
            CmapssSubset subset;
            try
            {
                subset = CmapssData.Load(data, name);
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                Console.Error.WriteLine(e.Message);
                return 3;
            }
            if (tune)
            {
                Tune(subset, seed, tuneFeatures);
                continue;
            }
            results.Add(Evaluate(subset, new RulModelOptions { Seed = seed }, outDir));
        }
        if (!tune) Console.Write(Report(results));
        Console.WriteLine($"\n{(tune ? "" : $"predictions: {outDir}/cmapss-<subset>.csv; ")}total {total.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    internal sealed record Result(string Subset, int TrainUnits, int TestUnits, int Features, int Regimes, double Rmse,
        double Score, double Coverage, double CoverageBelowCap, int UnitsBelowCap, double MeanWidth, double BandMargin, double Seconds);

    public static Result Evaluate(CmapssSubset subset, RulModelOptions options, string? outDir)
    {
        var sw = Stopwatch.StartNew();
        var model = RulModel.Fit(subset.Train, options, CmapssData.SensorNames);
        var estimates = subset.Test.Select(model.Predict).ToArray();
        var predicted = estimates.Select(e => e.Rul).ToArray();
        var lower = estimates.Select(e => e.Lower).ToArray();
        var upper = estimates.Select(e => e.Upper).ToArray();
        var truth = subset.TrueRul;
        if (outDir is not null)
        {
            using var csv = new StreamWriter(Path.Combine(outDir, $"cmapss-{subset.Name}.csv"), false, new UTF8Encoding(false));
            csv.WriteLine($"unit,cycles,true_rul,predicted_rul,p{options.LowerQuantile * 100:F0},p{options.UpperQuantile * 100:F0},in_band,error,phm08");
            for (var i = 0; i < subset.Test.Count; i++)
            {
                var d = predicted[i] - truth[i];
                csv.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{subset.Test[i].Unit},{subset.Test[i].Cycles},{truth[i]},{predicted[i]:F3},{lower[i]:F3},{upper[i]:F3}," +
                    $"{(truth[i] >= lower[i] && truth[i] <= upper[i] ? 1 : 0)},{d:F3},{RegressionMetrics.Phm08Term(d):F4}"));
            }
        }
        // the band is learned on capped targets, so it cannot reach a true RUL above the cap: report both
        var below = Enumerable.Range(0, truth.Length).Where(i => truth[i] <= options.Cap).ToArray();
        var coverageBelow = below.Length == 0 ? double.NaN : RegressionMetrics.Coverage(
            below.Select(i => lower[i]).ToArray(), below.Select(i => upper[i]).ToArray(), below.Select(i => truth[i]).ToArray());
        return new Result(subset.Name, subset.Train.Count, subset.Test.Count, model.Features.Names.Length, model.Features.Regimes.Count,
            RegressionMetrics.Rmse(predicted, truth), RegressionMetrics.Phm08Score(predicted, truth),
            RegressionMetrics.Coverage(lower, upper, truth), coverageBelow, below.Length,
            upper.Zip(lower, (u, l) => u - l).Average(), model.BandMargin, sw.Elapsed.TotalSeconds);
    }

    private static string Report(List<Result> results)
    {
        var ic = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("C-MAPSS: RUL at each test unit's last cycle; training targets capped at 125; d = predicted − true");
        sb.AppendLine();
        sb.AppendLine("| Model | subset | RMSE | PHM08 score | P10–P90 coverage (all / true RUL ≤ 125) | mean band width | conformal margin | features | regimes | time s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            sb.AppendLine(ic, $"| **GBT ensemble + quantile band** (this run) | {r.Subset} | {r.Rmse:F2} | {r.Score:F0} | " +
                              $"{r.Coverage * 100:F0} % / {r.CoverageBelowCap * 100:F0} % of {r.UnitsBelowCap} | {r.MeanWidth:F1} | {r.BandMargin:+0.0;-0.0} | {r.Features} | {r.Regimes} | {r.Seconds:F1} |");
        }
        sb.AppendLine();
        sb.AppendLine("Published (RMSE / score, from ../shared/datasets/cmapss/SOURCE.md):");
        sb.AppendLine();
        sb.AppendLine("| Method | FD001 | FD003 |");
        sb.AppendLine("|---|---|---|");
        foreach (var (m, a, b) in Published.Cmapss) sb.AppendLine(ic, $"| {m} | {a} | {b} |");
        return sb.ToString();
    }

    /// <summary>
    /// Group 5-fold cross-validation over training units: each validation unit is scored at every cycle from 31 on
    /// whose true (uncapped) RUL is ≤ 150, which resembles where the test files cut their runs. For every grid point
    /// the number of trees is chosen from staged predictions.
    /// </summary>
    private static void Tune(CmapssSubset subset, int seed, bool featureVariants)
    {
        var grid = new List<(string Name, RulFeatureOptions F, GbmOptions O)>();
        var defaults = new RulFeatureOptions { Seed = seed };
        // the tree grid was run with the first feature set (the default before --tune-features chose longer windows)
        var treeGridFeatures = defaults with { MeanWindows = [5, 15, 30], SlopeWindows = [15, 30] };
        if (featureVariants)
        {
            var trees = new RulModelOptions().Point with { Seed = seed };
            grid.Add(("means 5/15/30, sd 15, slopes 15/30", defaults with { MeanWindows = [5, 15, 30], SlopeWindows = [15, 30] }, trees));
            grid.Add(("means 5/15/30/60, sd 15, slopes 15/30/60", defaults with { MeanWindows = [5, 15, 30, 60], SlopeWindows = [15, 30, 60] }, trees));
            grid.Add(("means 10/30, sd 10, slope 30", defaults with { MeanWindows = [10, 30], StdWindow = 10, SlopeWindows = [30] }, trees));
            grid.Add(("means 5/15/30/60/120, sd 15, slopes 15/30/60/120", defaults with { MeanWindows = [5, 15, 30, 60, 120], SlopeWindows = [15, 30, 60, 120] }, trees));
            grid.Add(("means 5/15/30/60, sd 15, slopes 15/30/60/120 (default)", defaults with { MeanWindows = [5, 15, 30, 60], SlopeWindows = [15, 30, 60, 120] }, trees));
        }
        else
        {
            foreach (var leaves in new[] { 7, 15, 31 })
                foreach (var minLeaf in new[] { 20, 100 })
                {
                    grid.Add(($"leaves {leaves}, min leaf {minLeaf}, features 0.5", treeGridFeatures, new GbmOptions
                    {
                        Rounds = 1000, LearningRate = 0.02, MaxLeaves = leaves, MaxDepth = 6, MinSamplesLeaf = minLeaf,
                        RowSubsample = 0.7, FeatureSubsample = 0.5, Seed = seed,
                    }));
                }
        }
        const int folds = 5;
        var units = subset.Train.Select(r => r.Unit).ToArray();
        var rng = new Random(seed);
        var shuffled = units.OrderBy(_ => rng.Next()).ToArray();
        var foldOf = shuffled.Select((u, i) => (u, i % folds)).ToDictionary(p => p.u, p => p.Item2);
        var sse = new double[grid.Count][];
        for (var g = 0; g < grid.Count; g++) sse[g] = new double[grid[g].O.Rounds];
        var count = 0;
        var sw = Stopwatch.StartNew();
        for (var k = 0; k < folds; k++)
        {
            var train = subset.Train.Where(r => foldOf[r.Unit] != k).ToList();
            var valid = subset.Train.Where(r => foldOf[r.Unit] == k).ToList();
            for (var g = 0; g < grid.Count; g++)
            {
                var features = RulFeatures.Fit(train, grid[g].F, CmapssData.SensorNames);
                var (x, y) = RulModel.TrainingRows(features, train, 125);
                var vx = new List<double[]>();
                var vy = new List<double>();
                foreach (var run in valid)
                {
                    var rows = features.Transform(run);
                    for (var t = 30; t < rows.Length; t++)
                    {
                        var rul = rows.Length - 1 - t;
                        if (rul > 150) continue;
                        vx.Add(rows[t]);
                        vy.Add(rul);
                    }
                }
                if (g == 0) count += vx.Count;
                var model = GradientBoostedTrees.Fit(x, y, grid[g].O);
                var staged = new double[grid[g].O.Rounds];
                for (var i = 0; i < vx.Count; i++)
                {
                    model.PredictStaged(vx[i], staged);
                    for (var t = 0; t < staged.Length; t++)
                    {
                        var d = staged[t] - vy[i];
                        sse[g][t] += d * d;
                    }
                }
            }
            Console.WriteLine($"{subset.Name} fold {k + 1}/{folds} done ({sw.Elapsed.TotalSeconds:F0} s)");
        }
        Console.WriteLine($"\n{subset.Name}: 5-fold CV over training units ({count} validation cycles), learning rate 0.02, row subsample 0.7");
        Console.WriteLine("| setting | best trees | CV RMSE | RMSE at 600 trees |");
        Console.WriteLine("|---|---|---|---|");
        for (var g = 0; g < grid.Count; g++)
        {
            var best = 0;
            for (var t = 1; t < sse[g].Length; t++)
                if (sse[g][t] < sse[g][best]) best = t;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {grid[g].Name} | {best + 1} | {Math.Sqrt(sse[g][best] / count):F3} | {Math.Sqrt(sse[g][599] / count):F3} |"));
        }
    }
}
