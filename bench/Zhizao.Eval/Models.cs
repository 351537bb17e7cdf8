using Zhizao.Analytics.Anomaly;

namespace Zhizao.Eval;

/// <summary>A model as the harness runs it: fit on the training rows, then a streaming monitor over train + test.</summary>
internal sealed record ModelSpec(string Key, string Title, string? Published,
    Func<IReadOnlyList<double[]>, string[], AnomalyMonitor> Fit);

internal static class Models
{
    /// <summary>
    /// Channels that follow the rig's slow warm-up rather than the process: a 400-s training window cannot cover
    /// their range, so judging their level flags most normal test points (see README).
    /// </summary>
    public static readonly string[] ThermalChannels = ["Temperature", "Thermocouple"];

    /// <summary>The ensemble's smoothing and threshold: causal geometric mean over 10 s, 3 × the training maximum.</summary>
    public static readonly MonitorOptions EnsembleMonitor = new() { Window = 10, Quantile = 1.0, Margin = 3.0, Geometric = true };

    private static readonly MonitorOptions DetectorThreshold = new() { UseDetectorThreshold = true };

    public static IReadOnlyList<ModelSpec> All { get; } =
    [
        new("t2", "T² (PCA)", "T-squared",
            (train, _) => AnomalyMonitor.Fit(PcaDetector.Fit(train, new PcaOptions { Use = PcaStatistic.T2 }), train, DetectorThreshold)),
        new("pca", "T²+Q (PCA)", "T-squared+Q (PCA)",
            (train, _) => AnomalyMonitor.Fit(PcaDetector.Fit(train), train, DetectorThreshold)),
        new("mset", "MSET", "MSET",
            (train, _) => AnomalyMonitor.Fit(MsetDetector.Fit(train), train, DetectorThreshold)),
        new("ensemble-all", "Ensemble, all 8 channels (ablation)", null,
            (train, _) => AnomalyMonitor.Fit(Ensemble(train), train, EnsembleMonitor)),
        new("ensemble", "Ensemble (PCA T²+Q + MSET, smoothed, thermal channels out)", null,
            (train, names) =>
            {
                var keep = Enumerable.Range(0, names.Length).Where(c => !ThermalChannels.Contains(names[c])).ToArray();
                return AnomalyMonitor.Fit(FeatureSubsetDetector.Fit(train, keep, Ensemble), train, EnsembleMonitor);
            }),
    ];

    private static EnsembleDetector Ensemble(IReadOnlyList<double[]> train) =>
        new("PCA T²+Q + MSET", PcaDetector.Fit(train), MsetDetector.Fit(train));
}
