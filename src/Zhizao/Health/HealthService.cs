using System.Text.Json;
using Zhizao.Api;
using Zhizao.Core;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Health;

/// <summary>
/// Equipment health in the running node. A model is trained on a chosen period of an equipment's own data (the
/// recipe is saved; the model is refitted from it on start). Every 10 s the service scores each model's new complete
/// 10-second buckets, writes the health index (0–100) as the series <c>{equipment}/health_index</c>, and opens an
/// anomaly event — with the tags that contributed most and a recommended work order — when the smoothed score crosses
/// the threshold learned from the training data.
/// </summary>
public sealed partial class HealthService(MetadataStore meta, ITimeSeriesStore store, ILogger<HealthService> logger) : BackgroundService
{
    public const string ModelKind = "health-model";
    public const string AnomalyKind = "anomaly";
    public const string WorkOrderKind = "workorder";
    public const string HealthTag = "health_index";
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(10);
    private static readonly JsonSerializerOptions Json = ModelFormats.CreateJson();

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Live> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _errors = new(StringComparer.Ordinal);

    /// <summary>Trains (or retrains) an equipment's model; live scoring starts at <paramref name="scoreFromNs"/>
    /// (default: the end of the period or ten minutes ago, whichever is later).</summary>
    public HealthModel Train(string equipmentId, long fromNs, long toNs, long? scoreFromNs = null)
    {
        var type = TypeOf(equipmentId);
        var model = HealthModel.Train(store, type, equipmentId, fromNs, toNs, Time.NowNs());
        meta.SaveDocument(ModelKind, equipmentId, JsonSerializer.Serialize(model.Recipe, Json));
        lock (_gate)
        {
            _models[equipmentId] = new Live(model) { NextBucketNs = scoreFromNs ?? Math.Max(toNs, Time.NowNs() - (10 * 60 * Time.NanosPerSecond)) };
            _errors.Remove(equipmentId);
        }

        LogTrained(logger, equipmentId, model.TrainingRows, string.Join(", ", model.Recipe.Tags));
        return model;
    }

    public void DeleteModel(string equipmentId)
    {
        bool removed;
        lock (_gate)
        {
            removed = _models.Remove(equipmentId) | _errors.Remove(equipmentId);
        }

        if (!meta.DeleteDocument(ModelKind, equipmentId) && !removed)
        {
            throw new NotFoundException($"equipment '{equipmentId}' has no health model");
        }
    }

    public IReadOnlyList<HealthStatus> Status()
    {
        var anomalies = Anomalies(null).GroupBy(a => a.EquipmentId).ToDictionary(g => g.Key, g => g.MaxBy(a => a.StartNs)!);
        var result = new List<HealthStatus>();
        lock (_gate)
        {
            foreach (var asset in meta.Snapshot.Assets.Where(a => a.Level == AssetLevel.Equipment).OrderBy(a => a.Id, StringComparer.Ordinal))
            {
                _models.TryGetValue(asset.Id, out var live);
                result.Add(new HealthStatus(asset.Id, asset.Name, asset.TypeId, live?.Model.Recipe, live?.Model.TrainingRows ?? 0, live?.Model.Monitor.Threshold,
                    live?.HealthIndex, live?.LastScoredNs, live?.Open is not null, anomalies.GetValueOrDefault(asset.Id), _errors.GetValueOrDefault(asset.Id)));
            }
        }

        return result;
    }

    public IReadOnlyList<AnomalyEvent> Anomalies(string? equipmentId) =>
        [.. meta.ListDocuments(AnomalyKind).Select(d => JsonSerializer.Deserialize<AnomalyEvent>(d.Json, Json)!)
            .Where(a => equipmentId is null || a.EquipmentId == equipmentId).OrderByDescending(a => a.StartNs)];

    /// <summary>Scores a past period with the equipment's model without touching its live state (what would it have found?).</summary>
    public BacktestResult Backtest(string equipmentId, long fromNs, long toNs)
    {
        HealthModel model;
        lock (_gate)
        {
            model = _models.TryGetValue(equipmentId, out var live) ? live.Model : throw new NotFoundException($"equipment '{equipmentId}' has no health model: train one first");
        }

        var monitor = FreshMonitor(model);
        double threshold = model.Monitor.Threshold;
        var (times, rows) = Rows.Read(store, equipmentId, model.Recipe.Tags, HasState(equipmentId), fromNs, toNs);
        var events = new List<AnomalyEvent>();
        AnomalyEvent? open = null;
        double minHi = 100;
        for (int i = 0; i < rows.Count; i++)
        {
            double smoothed = monitor.Push(rows[i]).Smoothed;
            minHi = Math.Min(minHi, HealthModel.HealthIndex(smoothed, threshold));
            open = Step(model, equipmentId, times[i], rows[i], smoothed > threshold, smoothed / threshold, open, events, persist: false);
        }

        if (open is not null)
        {
            events.Add(open);
        }

        return new BacktestResult(equipmentId, fromNs, toNs, rows.Count, threshold, events, minHi);
    }

    public IReadOnlyList<WorkOrder> WorkOrders() =>
        [.. meta.ListDocuments(WorkOrderKind).Select(d => JsonSerializer.Deserialize<WorkOrder>(d.Json, Json)!).OrderByDescending(w => w.CreatedNs)];

    public WorkOrder SaveWorkOrder(WorkOrder order)
    {
        if (meta.GetAsset(order.EquipmentId) is null)
        {
            throw new InvalidInputException($"equipment '{order.EquipmentId}' does not exist", "equipmentId");
        }

        if (string.IsNullOrWhiteSpace(order.Title) || order.Title.Length > 500)
        {
            throw new InvalidInputException("a work order needs a title of 1–500 characters", "title");
        }

        if (order.Status == WorkOrderStatus.Assigned && string.IsNullOrWhiteSpace(order.Assignee))
        {
            throw new InvalidInputException("an assigned work order needs an assignee", "assignee");
        }

        meta.SaveDocument(WorkOrderKind, order.Id, JsonSerializer.Serialize(order, Json));
        return order;
    }

    public WorkOrder GetWorkOrder(string id) =>
        WorkOrders().FirstOrDefault(w => w.Id == id) ?? throw new NotFoundException($"work order '{id}' does not exist");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        foreach (var (id, json) in meta.ListDocuments(ModelKind))
        {
            try
            {
                var recipe = JsonSerializer.Deserialize<HealthModelRecipe>(json, Json)!;
                Train(recipe.EquipmentId, recipe.FromNs, recipe.ToNs);
            }
            catch (Exception e) when (e is ZhizaoException or JsonException or ArgumentException)
            {
                lock (_gate)
                {
                    _errors[id] = e.Message;
                }

                LogModelFailed(logger, id, e.Message);
            }
        }

        using var timer = new PeriodicTimer(Tick);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await ScoreAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogScoringFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Scores every model's complete buckets since the last run (buckets end at least 2 s ago: data arrives late).</summary>
    internal async Task ScoreAsync(CancellationToken ct)
    {
        long until = Time.NowNs() - (2 * Time.NanosPerSecond);
        until -= until % HealthModel.BucketNs;
        List<KeyValuePair<string, Live>> models;
        lock (_gate)
        {
            models = [.. _models];
        }

        var batch = new PointBatch();
        foreach (var (equipmentId, live) in models)
        {
            if (live.NextBucketNs >= until)
            {
                continue;
            }

            var (times, rows) = Rows.Read(store, equipmentId, live.Model.Recipe.Tags, HasState(equipmentId), live.NextBucketNs, until);
            int healthSeries = store.GetOrCreateSeries(SeriesKey.ForTag(equipmentId, HealthTag), ValueKind.Float64).Id;
            for (int i = 0; i < rows.Count; i++)
            {
                var v = live.Monitor.Push(rows[i]);
                live.HealthIndex = HealthModel.HealthIndex(v.Smoothed, live.Monitor.Threshold);
                live.LastScoredNs = times[i];
                batch.Add(healthSeries, times[i], live.HealthIndex.Value);
                live.Open = Step(live.Model, equipmentId, times[i], rows[i], v.IsAnomaly, v.Smoothed / live.Monitor.Threshold, live.Open, null, persist: true);
            }

            live.NextBucketNs = until;
        }

        if (batch.Count > 0)
        {
            await store.WriteAsync(batch, ct);
        }
    }

    /// <summary>Opens, extends or closes the anomaly event; on opening, records it and recommends a work order.</summary>
    private AnomalyEvent? Step(HealthModel model, string equipmentId, long t, double[] row, bool anomalous, double ratio, AnomalyEvent? open, List<AnomalyEvent>? closed, bool persist)
    {
        if (anomalous && open is null)
        {
            var shares = Analytics.Anomaly.AnomalyDetectorExtensions.Contributions(model.Monitor.Detector, row);
            var top = Enumerable.Range(0, shares.Length).OrderByDescending(j => shares[j]).Take(3)
                .Select(j => new TagShare(model.Recipe.Tags[j], Math.Round(shares[j], 3))).ToList();
            string id = $"{equipmentId}:{t / Time.NanosPerSecond}";
            string? workOrder = null;
            if (persist)
            {
                workOrder = Recommend(equipmentId, id, top, t);
            }

            open = new AnomalyEvent(id, equipmentId, t, null, Math.Round(ratio, 3), top, workOrder);
            if (persist)
            {
                meta.SaveDocument(AnomalyKind, id, JsonSerializer.Serialize(open, Json));
                LogAnomaly(logger, equipmentId, string.Join(", ", top.Select(s => $"{s.Tag} {s.Share:P0}")));
            }

            return open;
        }

        if (open is not null && anomalous && ratio > open.PeakScore)
        {
            open = open with { PeakScore = Math.Round(ratio, 3) };
        }

        if (open is not null && !anomalous)
        {
            var ended = open with { EndNs = t };
            closed?.Add(ended);
            if (persist)
            {
                meta.SaveDocument(AnomalyKind, ended.Id, JsonSerializer.Serialize(ended, Json));
            }

            return null;
        }

        return open;
    }

    /// <summary>One open recommendation per equipment: a new anomaly while one is open adds nothing.</summary>
    private string? Recommend(string equipmentId, string anomalyId, List<TagShare> top, long t)
    {
        if (WorkOrders().Any(w => w.EquipmentId == equipmentId && w.Status != WorkOrderStatus.Done && w.AnomalyId is not null))
        {
            return null;
        }

        var order = new WorkOrder
        {
            Id = $"wo-{t / Time.NanosPerSecond}-{equipmentId}",
            EquipmentId = equipmentId,
            Title = $"Inspect {equipmentId}: {top[0].Tag} deviates from normal operation",
            Description = $"The health model found {equipmentId} abnormal from {Time.ToIso(t)}. Contributing tags: "
                + string.Join(", ", top.Select(s => $"{s.Tag} ({s.Share:P0})")) + ". Check the equipment page's trend before the next shift.",
            Status = WorkOrderStatus.Open,
            CreatedNs = t,
            UpdatedNs = t,
            AnomalyId = anomalyId,
        };
        meta.SaveDocument(WorkOrderKind, order.Id, JsonSerializer.Serialize(order, Json));
        return order.Id;
    }

    /// <summary>A fresh monitor with the model's detector and smoothing; its verdicts are compared with the model's threshold by the caller.</summary>
    private static Analytics.Anomaly.AnomalyMonitor FreshMonitor(HealthModel model) =>
        Analytics.Anomaly.AnomalyMonitor.Fit(model.Monitor.Detector, [], new Analytics.Anomaly.MonitorOptions { Window = HealthModel.SmoothingBuckets, UseDetectorThreshold = true });

    private EquipmentType TypeOf(string equipmentId)
    {
        var asset = meta.GetAsset(equipmentId) ?? throw new NotFoundException($"equipment '{equipmentId}' does not exist");
        return asset.TypeId is { } t && meta.GetType(t) is { } type
            ? type
            : throw new InvalidInputException($"'{equipmentId}' is not equipment with a type", "equipmentId");
    }

    private bool HasState(string equipmentId) =>
        meta.GetAsset(equipmentId)?.TypeId is { } t && meta.GetType(t) is { } type && type.Tags.Any(x => x.Name == "state");

    private sealed class Live(HealthModel model)
    {
        public HealthModel Model { get; } = model;
        public Analytics.Anomaly.AnomalyMonitor Monitor { get; } = model.Monitor;
        public long NextBucketNs { get; set; }
        public double? HealthIndex { get; set; }
        public long? LastScoredNs { get; set; }
        public AnomalyEvent? Open { get; set; }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Health model for {Equipment} trained on {Rows} running 10-second periods of {Tags}")]
    private static partial void LogTrained(ILogger logger, string equipment, int rows, string tags);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Health model for {Equipment} could not be refitted: {Reason}")]
    private static partial void LogModelFailed(ILogger logger, string equipment, string reason);

    [LoggerMessage(EventId = 402, Level = LogLevel.Error, Message = "Health scoring failed")]
    private static partial void LogScoringFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "Anomaly on {Equipment}; contributing tags: {Tags}")]
    private static partial void LogAnomaly(ILogger logger, string equipment, string tags);
}
