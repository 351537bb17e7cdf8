using System.Text.Json;
using Zhizao.Api;
using Zhizao.Analytics.Rul;
using Zhizao.Core;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Health;

/// <summary>What a remaining-useful-life model of an equipment type was trained on (kept; refitted from it on start).</summary>
public sealed record RulRecipe(string TypeId, long FromNs, long ToNs, IReadOnlyList<string> Tags, double MinDownMinutes, long TrainedAtNs);

public sealed record RulTrainRequest(string? From, string? To, double? MinDownMinutes);

/// <summary>An equipment's remaining useful life now: estimate and P10–P90 band in hours; <c>AtCap</c> = no wear seen
/// (the estimate is the model's horizon, "at least this long").</summary>
public sealed record RulEstimateView(string EquipmentId, long AtNs, double Hours, double LowerHours, double UpperHours, bool AtCap, double HoursSinceRepair);

public sealed record RulModelStatus(string TypeId, RulRecipe? Recipe, int TrainingRuns, int TrainingCycles, double CapHours, string? Error, IReadOnlyList<RulEstimateView> Estimates);

public sealed record RulBacktestPoint(long AtNs, double Hours, double LowerHours, double UpperHours, double? TrueHours);

/// <summary>What the model would have said at every cycle of a past period, next to the truth from the state history.
/// MAE and band coverage are over cycles whose true RUL is below the model's horizon (the degradation phase).</summary>
public sealed record RulBacktest(string EquipmentId, long FromNs, long ToNs, IReadOnlyList<long> FailuresNs, IReadOnlyList<RulBacktestPoint> Points, int ScoredPoints, double? MaeHours, double? Coverage);

/// <summary>
/// Run-to-failure histories read from the store. A failure is the start of a down period (<c>state</c> = 0 for every
/// sample) lasting at least <c>minDownMinutes</c>; short jams and stops are not failures. A run goes from the end of
/// one failure's repair to the start of the next failure. Cycles are 10 wall-clock minutes: the average of the
/// equipment's running 10-second buckets in the cycle (a cycle in which it did not run carries the previous values).
/// </summary>
internal static class RulData
{
    public const long CycleNs = 600 * Time.NanosPerSecond;
    public const double CapCycles = 144; // 24 h horizon
    public const int MinRunningBuckets = 6;

    public sealed record Segment(long StartNs, long EndNs, bool EndsInFailure, List<long> Times, List<double[]> Cycles)
    {
        public RunHistory ToRun(int unit) => new(unit, [.. Cycles.Select(_ => Array.Empty<double>())], [.. Cycles]);
    }

    public static List<(long Start, long End)> DownPeriods(ITimeSeriesStore store, string equipmentId, long fromNs, long toNs, double minDownMinutes)
    {
        var result = new List<(long, long)>();
        if (!store.TryGetSeries(SeriesKey.ForTag(equipmentId, "state"), out var st))
        {
            return result;
        }

        const long minute = 60 * Time.NanosPerSecond;
        long start = -1, last = -1;
        long min = (long)(minDownMinutes * minute);
        foreach (var a in store.Aggregate(st.Id, fromNs - (((fromNs % minute) + minute) % minute), toNs, minute))
        {
            bool down = a.Count > 0 && a.Max == 0;
            bool contiguous = last >= 0 && a.StartNs == last + minute;
            if (down && (start < 0 || !contiguous))
            {
                Close();
                start = a.StartNs;
            }
            else if (!down)
            {
                Close();
            }

            if (a.Count > 0)
            {
                last = a.StartNs;
            }
        }

        Close();
        return result;

        void Close()
        {
            if (start >= 0 && last + minute - start >= min)
            {
                result.Add((start, last + minute));
            }

            start = -1;
        }
    }

    public static List<Segment> Segments(ITimeSeriesStore store, string equipmentId, IReadOnlyList<string> tags, long fromNs, long toNs, double minDownMinutes)
    {
        var downs = DownPeriods(store, equipmentId, fromNs, toNs, minDownMinutes);
        var (times, rows) = Rows.Read(store, equipmentId, tags, hasState: true, fromNs, toNs);
        var segments = new List<Segment>();
        long segStart = fromNs;
        int r = 0;
        for (int d = 0; d <= downs.Count; d++)
        {
            bool failure = d < downs.Count;
            long segEnd = failure ? downs[d].Start : toNs;
            var seg = new Segment(segStart, segEnd, failure, [], []);
            double[]? previous = null;
            for (long c = segStart - (((segStart % CycleNs) + CycleNs) % CycleNs); c < segEnd; c += CycleNs)
            {
                while (r < times.Count && times[r] < Math.Max(c, segStart))
                {
                    r++;
                }

                var sum = new double[tags.Count];
                int n = 0;
                while (r < times.Count && times[r] < Math.Min(c + CycleNs, segEnd))
                {
                    for (int j = 0; j < sum.Length; j++)
                    {
                        sum[j] += rows[r][j];
                    }

                    n++;
                    r++;
                }

                if (n >= MinRunningBuckets)
                {
                    previous = [.. sum.Select(v => v / n)];
                }

                if (previous is not null)
                {
                    seg.Times.Add(c);
                    seg.Cycles.Add(previous);
                }
            }

            segments.Add(seg);
            if (failure)
            {
                segStart = downs[d].End;
            }
        }

        return segments;
    }
}

/// <summary>
/// Remaining useful life per equipment type, in the running node: a model (<see cref="RulModel"/>: regime-normalised
/// rolling features, boosted trees, conformal P10–P90 band) trained on the run-to-failure histories of all equipment
/// of a type in a chosen period of the node's own data; every minute each equipment of a type with a model gets an
/// estimate for its current run, also written as the series <c>{equipment}/rul_hours</c>.
/// </summary>
public sealed partial class RulService(MetadataStore meta, ITimeSeriesStore store, ILogger<RulService> logger) : BackgroundService
{
    public const string ModelKind = "rul-model";
    public const string RulTag = "rul_hours";
    public const int MinRuns = 3;
    private static readonly JsonSerializerOptions Json = ModelFormats.CreateJson();
    private static readonly long LookbackNs = 7 * 86_400 * Time.NanosPerSecond;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Live> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _errors = new(StringComparer.Ordinal);

    public static double CapHours => RulData.CapCycles * RulData.CycleNs / (double)(3600 * Time.NanosPerSecond);

    public RulModelStatus Train(string typeId, long fromNs, long toNs, double minDownMinutes = 60)
    {
        var type = meta.Snapshot.Types.FirstOrDefault(t => t.Id == typeId) ?? throw new NotFoundException($"equipment type '{typeId}' does not exist");
        if (minDownMinutes is < 1 or > 10_080)
        {
            throw new InvalidInputException($"minDownMinutes must be between 1 and 10080, not {minDownMinutes}", "minDownMinutes");
        }

        var tags = HealthModel.CandidateTags(type);
        if (tags.Count < 1)
        {
            throw new InvalidInputException($"equipment type '{typeId}' has no analog tags to learn wear from", "typeId");
        }

        var equipment = EquipmentOf(typeId);
        var runs = new List<RunHistory>();
        int failures = 0;
        foreach (string eq in equipment)
        {
            foreach (var seg in RulData.Segments(store, eq, tags, fromNs, toNs, minDownMinutes))
            {
                if (seg.EndsInFailure)
                {
                    failures++;
                    if (seg.Cycles.Count >= 12)
                    {
                        runs.Add(seg.ToRun(runs.Count + 1));
                    }
                }
            }
        }

        if (runs.Count < MinRuns)
        {
            throw new InvalidInputException(
                $"found {failures} failures (down for at least {minDownMinutes:0.#} min) of {equipment.Count} '{typeId}' equipment between {Time.ToIso(fromNs)} and {Time.ToIso(toNs)}, {runs.Count} of them after at least 2 h of running; a remaining-useful-life model needs at least {MinRuns} runs to failure: choose a longer period",
                "from");
        }

        var model = RulModel.Fit(runs, new RulModelOptions { Cap = RulData.CapCycles, Seed = 1 }, [.. tags]);
        var recipe = new RulRecipe(typeId, fromNs, toNs, tags, minDownMinutes, Time.NowNs());
        meta.SaveDocument(ModelKind, typeId, JsonSerializer.Serialize(recipe, Json));
        var live = new Live(recipe, model, runs.Count, runs.Sum(r => r.Cycles));
        lock (_gate)
        {
            _models[typeId] = live;
            _errors.Remove(typeId);
        }

        LogTrained(logger, typeId, runs.Count, live.TrainingCycles, string.Join(", ", model.Features.KeptSensors.Select(i => tags[i])));
        Estimate(live, Time.NowNs());
        return StatusOf(typeId, live);
    }

    public void DeleteModel(string typeId)
    {
        bool removed;
        lock (_gate)
        {
            removed = _models.Remove(typeId) | _errors.Remove(typeId);
        }

        if (!meta.DeleteDocument(ModelKind, typeId) && !removed)
        {
            throw new NotFoundException($"equipment type '{typeId}' has no remaining-useful-life model");
        }
    }

    public IReadOnlyList<RulModelStatus> Status()
    {
        lock (_gate)
        {
            var ids = _models.Keys.Concat(_errors.Keys).Distinct().Order(StringComparer.Ordinal);
            return [.. ids.Select(id => _models.TryGetValue(id, out var live)
                ? StatusOf(id, live)
                : new RulModelStatus(id, null, 0, 0, CapHours, _errors[id], []))];
        }
    }

    /// <summary>The latest estimate of an equipment, if its type has a model.</summary>
    public RulEstimateView? EstimateOf(string equipmentId)
    {
        lock (_gate)
        {
            foreach (var live in _models.Values)
            {
                if (live.Estimates.TryGetValue(equipmentId, out var e))
                {
                    return e;
                }
            }
        }

        return null;
    }

    public RulBacktest Backtest(string equipmentId, long fromNs, long toNs)
    {
        var asset = meta.GetAsset(equipmentId) ?? throw new NotFoundException($"equipment '{equipmentId}' does not exist");
        Live live;
        lock (_gate)
        {
            live = asset.TypeId is not null && _models.TryGetValue(asset.TypeId, out var l)
                ? l
                : throw new NotFoundException($"equipment type '{asset.TypeId}' of '{equipmentId}' has no remaining-useful-life model: train one first");
        }

        var points = new List<RulBacktestPoint>();
        var failures = new List<long>();
        double absErr = 0;
        int scored = 0, covered = 0;
        // start a week earlier so the first run in the period has its age and rolling windows
        foreach (var seg in RulData.Segments(store, equipmentId, live.Recipe.Tags, fromNs - LookbackNs, toNs, live.Recipe.MinDownMinutes))
        {
            if (seg.Cycles.Count == 0)
            {
                continue;
            }

            if (seg.EndsInFailure && seg.EndNs >= fromNs)
            {
                failures.Add(seg.EndNs);
            }

            var rows = live.Model.Features.Transform(seg.ToRun(0));
            for (int i = 0; i < rows.Length; i++)
            {
                long at = seg.Times[i] + RulData.CycleNs;
                if (at < fromNs || at > toNs)
                {
                    continue;
                }

                var e = live.Model.PredictFeatures(rows[i]);
                double? truth = seg.EndsInFailure ? (seg.EndNs - at) / 3600e9 : null;
                points.Add(new RulBacktestPoint(at, Hours(e.Rul), Hours(e.Lower), Hours(e.Upper), truth is null ? null : Math.Round(truth.Value, 2)));
                if (truth is { } h && h < CapHours)
                {
                    scored++;
                    absErr += Math.Abs(Hours(e.Rul) - h);
                    covered += h >= Hours(e.Lower) - 0.17 && h <= Hours(e.Upper) + 0.17 ? 1 : 0; // within a cycle of the band
                }
            }
        }

        return new RulBacktest(equipmentId, fromNs, toNs, failures, points, scored,
            scored > 0 ? Math.Round(absErr / scored, 2) : null, scored > 0 ? Math.Round((double)covered / scored, 3) : null);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        foreach (var (id, json) in meta.ListDocuments(ModelKind))
        {
            try
            {
                var recipe = JsonSerializer.Deserialize<RulRecipe>(json, Json)!;
                Train(recipe.TypeId, recipe.FromNs, recipe.ToNs, recipe.MinDownMinutes);
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

        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await EstimateAllAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogEstimateFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    internal async Task EstimateAllAsync(CancellationToken ct)
    {
        List<Live> models;
        lock (_gate)
        {
            models = [.. _models.Values];
        }

        var batch = new PointBatch();
        long now = Time.NowNs();
        foreach (var live in models)
        {
            foreach (var e in Estimate(live, now))
            {
                batch.Add(store.GetOrCreateSeries(SeriesKey.ForTag(e.EquipmentId, RulTag), ValueKind.Float64).Id, e.AtNs, e.Hours);
            }
        }

        if (batch.Count > 0)
        {
            await store.WriteAsync(batch, ct);
        }
    }

    private List<RulEstimateView> Estimate(Live live, long now)
    {
        var result = new List<RulEstimateView>();
        foreach (string eq in EquipmentOf(live.Recipe.TypeId))
        {
            var segments = RulData.Segments(store, eq, live.Recipe.Tags, now - LookbackNs, now, live.Recipe.MinDownMinutes);
            var current = segments[^1];
            if (current.Cycles.Count == 0)
            {
                lock (_gate)
                {
                    live.Estimates.Remove(eq); // down now, or no running data in the last week
                }

                continue;
            }

            var e = live.Model.Predict(current.ToRun(0));
            var view = new RulEstimateView(eq, current.Times[^1] + RulData.CycleNs, Hours(e.Rul), Hours(e.Lower), Hours(e.Upper),
                e.Rul >= RulData.CapCycles - 0.5, Math.Round((now - current.StartNs) / 3600e9, 1));
            lock (_gate)
            {
                live.Estimates[eq] = view;
            }

            result.Add(view);
        }

        return result;
    }

    private List<string> EquipmentOf(string typeId) =>
        [.. meta.Snapshot.Assets.Where(a => a.Level == AssetLevel.Equipment && a.TypeId == typeId).Select(a => a.Id).Order(StringComparer.Ordinal)];

    private RulModelStatus StatusOf(string typeId, Live live)
    {
        lock (_gate)
        {
            return new RulModelStatus(typeId, live.Recipe, live.TrainingRuns, live.TrainingCycles, CapHours, _errors.GetValueOrDefault(typeId),
                [.. live.Estimates.Values.OrderBy(e => e.EquipmentId, StringComparer.Ordinal)]);
        }
    }

    private static double Hours(double cycles) => Math.Round(cycles * RulData.CycleNs / 3600e9, 2);

    private sealed class Live(RulRecipe recipe, RulModel model, int runs, int cycles)
    {
        public RulRecipe Recipe { get; } = recipe;
        public RulModel Model { get; } = model;
        public int TrainingRuns { get; } = runs;
        public int TrainingCycles { get; } = cycles;
        public Dictionary<string, RulEstimateView> Estimates { get; } = new(StringComparer.Ordinal);
    }

    [LoggerMessage(EventId = 6100, Level = LogLevel.Information, Message = "RUL model for {Type}: trained on {Runs} runs to failure ({Cycles} ten-minute cycles), tags {Tags}")]
    private static partial void LogTrained(ILogger logger, string type, int runs, int cycles, string tags);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Warning, Message = "RUL model for {Type} could not be refitted: {Reason}")]
    private static partial void LogModelFailed(ILogger logger, string type, string reason);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Error, Message = "RUL estimation failed")]
    private static partial void LogEstimateFailed(ILogger logger, Exception e);
}
