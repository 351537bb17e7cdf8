using System.Diagnostics;
using System.Globalization;
using System.Text;
using Zhizao.Analytics.Anomaly;

namespace Zhizao.Eval;

internal sealed record ModelResult(ModelSpec Model, ConfusionCounts Confusion, NabFileScore[] Nab, double Seconds);

/// <summary>SKAB's protocol: per file fit on the first 400 rows, score the rest; pool outlier counts; NAB on changepoints.</summary>
internal static class Evaluator
{
    public const double NabWindowSeconds = 60;

    public static ModelResult Run(ModelSpec model, IReadOnlyList<SkabFile> files, string? outDir)
    {
        var sw = Stopwatch.StartNew();
        var confusion = default(ConfusionCounts);
        var nab = new NabFileScore[NabProfile.All.Count];
        StreamWriter? csv = null;
        if (outDir is not null)
        {
            csv = new StreamWriter(Path.Combine(outDir, $"skab-{model.Key}.csv"), false, new UTF8Encoding(false));
            csv.WriteLine("file,timestamp,score,smoothed,threshold,predicted,anomaly,changepoint,top_contributors");
        }
        try
        {
            foreach (var f in files)
            {
                var train = f.Features.Take(SkabData.TrainRows).ToArray();
                var monitor = model.Fit(train, f.FeatureNames);
                var verdicts = monitor.Run(f.Features);
                var n = f.Features.Length - SkabData.TrainRows;
                var predicted = new bool[n];
                for (var i = 0; i < n; i++) predicted[i] = verdicts[SkabData.TrainRows + i].IsAnomaly;
                confusion += DetectionMetrics.Confusion(predicted, f.Anomaly.AsSpan(SkabData.TrainRows));

                var seconds = f.Times.Skip(SkabData.TrainRows).Select(t => (t - f.Times[0]).TotalSeconds).ToArray();
                var predictedCps = DetectionMetrics.PredictedChangepoints(predicted).Select(i => seconds[i]).ToArray();
                var trueCps = Enumerable.Range(0, n).Where(i => f.Changepoint[SkabData.TrainRows + i]).Select(i => seconds[i]).ToArray();
                for (var p = 0; p < NabProfile.All.Count; p++)
                    nab[p] += DetectionMetrics.Nab(predictedCps, trueCps, NabWindowSeconds, NabProfile.All[p]);

                if (csv is not null)
                {
                    for (var i = 0; i < n; i++)
                    {
                        var r = SkabData.TrainRows + i;
                        var v = verdicts[r];
                        var top = predicted[i]
                            ? string.Join('+', monitor.Detector.TopContributors(f.Features[r], 2).Select(j => f.FeatureNames[j]))
                            : "";
                        csv.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{f.Name},{f.Times[r]:yyyy-MM-dd HH:mm:ss},{v.Score:G6},{v.Smoothed:G6},{monitor.Threshold:G6},{(predicted[i] ? 1 : 0)},{(f.Anomaly[r] ? 1 : 0)},{(f.Changepoint[r] ? 1 : 0)},{top}"));
                    }
                }
            }
        }
        finally
        {
            csv?.Dispose();
        }
        return new ModelResult(model, confusion, nab, sw.Elapsed.TotalSeconds);
    }
}
