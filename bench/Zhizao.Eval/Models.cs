using Zhizao.Analytics.Anomaly;

namespace Zhizao.Eval;

/// <summary>A model as the harness runs it: fit on the training rows, then a streaming monitor over train + test.</summary>
internal sealed record ModelSpec(string Key, string Title, string? Published, Func<IReadOnlyList<double[]>, AnomalyMonitor> Fit);

internal static class Models
{
    public static IReadOnlyList<ModelSpec> All { get; } =
    [
        new("t2", "T² (PCA)", "T-squared",
            train => AnomalyMonitor.Fit(PcaDetector.Fit(train, new PcaOptions { Use = PcaStatistic.T2 }), train,
                new MonitorOptions { UseDetectorThreshold = true })),
        new("pca", "T²+Q (PCA)", "T-squared+Q (PCA)",
            train => AnomalyMonitor.Fit(PcaDetector.Fit(train), train, new MonitorOptions { UseDetectorThreshold = true })),
        new("mset", "MSET", "MSET",
            train => AnomalyMonitor.Fit(MsetDetector.Fit(train), train, new MonitorOptions { UseDetectorThreshold = true })),
        new("ensemble", "Ensemble (PCA+MSET, smoothed)", null,
            train =>
            {
                var pca = PcaDetector.Fit(train);
                var mset = MsetDetector.Fit(train);
                return AnomalyMonitor.Fit(new EnsembleDetector("ensemble", pca, mset), train,
                    new MonitorOptions { Window = Env("ZW", 10), Quantile = Env("ZQ", 0.99), Margin = Env("ZM", 1.0) });
            }),
    ];

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;

    private static double Env(string name, double fallback) =>
        double.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : fallback;
}
