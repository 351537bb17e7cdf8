using System.Text.Json.Serialization;
using Zhizao.Analytics.Anomaly;
using Zhizao.Core;
using Zhizao.Storage;

namespace Zhizao.Health;

/// <summary>What a health model was trained on (kept in the metadata store; the model is refitted from it on start).</summary>
public sealed record HealthModelRecipe(string EquipmentId, long FromNs, long ToNs, IReadOnlyList<string> Tags, long TrainedAtNs);

/// <summary>A fitted model: PCA (T², Q) and MSET averaged, smoothed over a minute, threshold from its training data.</summary>
public sealed class HealthModel
{
    public const long BucketNs = 10 * Time.NanosPerSecond;
    public const int MinTrainingRows = 60;
    public const int SmoothingBuckets = 30; // five minutes: wear develops over hours, single odd minutes are not anomalies

    private HealthModel(HealthModelRecipe recipe, AnomalyMonitor monitor, int rows)
    {
        Recipe = recipe;
        Monitor = monitor;
        TrainingRows = rows;
    }

    public HealthModelRecipe Recipe { get; }
    public AnomalyMonitor Monitor { get; }
    public int TrainingRows { get; }

    /// <summary>Health index 0–100 from the smoothed score relative to the threshold: 100 up to half the threshold,
    /// 67 at the threshold, 0 at twice the threshold.</summary>
    public static double HealthIndex(double smoothed, double threshold)
    {
        double r = smoothed / threshold;
        return Math.Round(Math.Clamp(100 * (2 - r) / 1.5, 0, 100), 1);
    }

    /// <summary>Analog tags worth modelling: numbers, not the state, not ever-growing counters.</summary>
    public static IReadOnlyList<string> CandidateTags(EquipmentType type) =>
        [.. type.Tags.Where(t => t.DataType is ValueKind.Float64 or ValueKind.Int64 && t.Name != "state" && !IsCounter(t.Name)).Select(t => t.Name)];

    private static bool IsCounter(string name) =>
        name.Contains("energy", StringComparison.OrdinalIgnoreCase) || name.Contains("count", StringComparison.OrdinalIgnoreCase)
        || name.Contains("total", StringComparison.OrdinalIgnoreCase) || name.EndsWith("_hours", StringComparison.OrdinalIgnoreCase);

    /// <summary>Fits on the equipment's running periods (state 2 for a whole 10 s bucket when it has a state tag).</summary>
    public static HealthModel Train(ITimeSeriesStore store, EquipmentType type, string equipmentId, long fromNs, long toNs, long nowNs)
    {
        var candidates = CandidateTags(type);
        if (candidates.Count < 2)
        {
            throw new InvalidInputException($"equipment type '{type.Id}' has {candidates.Count} analog tags; a health model needs at least 2", "equipmentId");
        }

        var (_, rows) = Rows.Read(store, equipmentId, candidates, type.Tags.Any(t => t.Name == "state"), fromNs, toNs);
        if (rows.Count < MinTrainingRows)
        {
            throw new InvalidInputException(
                $"{equipmentId} has {rows.Count} running 10-second periods with every tag between {Time.ToIso(fromNs)} and {Time.ToIso(toNs)}; a model needs at least {MinTrainingRows} (10 minutes): choose a longer period in which it ran normally",
                "from");
        }

        // tags that never moved in training carry no information (and would divide by zero when standardised)
        var keep = Enumerable.Range(0, candidates.Count).Where(j => Spread(rows, j) > 1e-9).ToList();
        if (keep.Count < 2)
        {
            throw new InvalidInputException($"only {keep.Count} of {equipmentId}'s tags varied in that period; a model needs at least 2", "from");
        }

        var tags = keep.Select(j => candidates[j]).ToList();
        var train = rows.Select(r => keep.Select(j => r[j]).ToArray()).ToList();
        var detector = new EnsembleDetector("pca+mset",
            PcaDetector.Fit(train, new PcaOptions { Confidence = 0.999 }),
            MsetDetector.Fit(train, new MsetOptions { Confidence = 0.999 }));
        var monitor = AnomalyMonitor.Fit(detector, train, new MonitorOptions { Window = SmoothingBuckets, Quantile = 1.0, Margin = 1.25 });
        return new HealthModel(new HealthModelRecipe(equipmentId, fromNs, toNs, tags, nowNs), monitor, train.Count);
    }

    private static double Spread(List<double[]> rows, int j)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var r in rows)
        {
            min = Math.Min(min, r[j]);
            max = Math.Max(max, r[j]);
        }

        return max - min;
    }
}

/// <summary>10-second bucket averages of several tags of one equipment, joined on time.</summary>
internal static class Rows
{
    public static (List<long> Times, List<double[]> Rows) Read(ITimeSeriesStore store, string equipmentId, IReadOnlyList<string> tags, bool hasState, long fromNs, long toNs)
    {
        long b = HealthModel.BucketNs;
        fromNs -= ((fromNs % b) + b) % b;
        var columns = new List<Dictionary<long, double>>();
        foreach (string tag in tags)
        {
            var col = new Dictionary<long, double>();
            if (store.TryGetSeries(SeriesKey.ForTag(equipmentId, tag), out var s))
            {
                foreach (var a in store.Aggregate(s.Id, fromNs, toNs, b))
                {
                    if (a.Count > 0)
                    {
                        col[a.StartNs] = a.Avg;
                    }
                }
            }

            columns.Add(col);
        }

        HashSet<long>? running = null;
        if (hasState)
        {
            running = [];
            if (store.TryGetSeries(SeriesKey.ForTag(equipmentId, "state"), out var st))
            {
                foreach (var a in store.Aggregate(st.Id, fromNs, toNs, b))
                {
                    if (a.Count > 0 && a.Min == 2 && a.Max == 2)
                    {
                        running.Add(a.StartNs);
                    }
                }
            }
        }

        var times = new List<long>();
        var rows = new List<double[]>();
        foreach (long t in columns[0].Keys.Order())
        {
            if (running is not null && !running.Contains(t))
            {
                continue;
            }

            var row = new double[tags.Count];
            bool complete = true;
            for (int j = 0; j < tags.Count && complete; j++)
            {
                complete = columns[j].TryGetValue(t, out row[j]);
            }

            if (complete)
            {
                times.Add(t);
                rows.Add(row);
            }
        }

        return (times, rows);
    }
}

[JsonConverter(typeof(JsonStringEnumConverter<WorkOrderStatus>))]
public enum WorkOrderStatus
{
    Open = 0,
    Assigned = 1,
    Done = 2,
}

public sealed record WorkOrder
{
    public required string Id { get; init; }
    public required string EquipmentId { get; init; }
    public required string Title { get; init; }
    public string? Description { get; init; }
    public WorkOrderStatus Status { get; init; }
    public string? Assignee { get; init; }
    public long CreatedNs { get; init; }
    public long UpdatedNs { get; init; }

    /// <summary>The anomaly event that recommended it, if any.</summary>
    public string? AnomalyId { get; init; }
}

public sealed record TagShare(string Tag, double Share);

/// <summary>A period in which an equipment's health model found it abnormal, and the tags that contributed most.</summary>
public sealed record AnomalyEvent(string Id, string EquipmentId, long StartNs, long? EndNs, double PeakScore, IReadOnlyList<TagShare> Contributors, string? WorkOrderId);

public sealed record HealthStatus(
    string EquipmentId, string Name, string? TypeId, HealthModelRecipe? Model, int TrainingRows, double? Threshold,
    double? HealthIndex, long? LastScoredNs, bool AnomalyActive, AnomalyEvent? LastAnomaly, string? ModelError);

public sealed record TrainRequest(string? From, string? To);

public sealed record BacktestResult(string EquipmentId, long FromNs, long ToNs, int Rows, double Threshold, IReadOnlyList<AnomalyEvent> Anomalies, double MinHealthIndex);
