using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using Zhizao.Api;
using Zhizao.Core;
using Zhizao.Hosting;
using Zhizao.Rules;
using Zhizao.Rules.Alarms;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Alarms;

/// <summary>
/// Rules and alarms in the running node: rule definitions live in the metadata store (kind "rule"), every stored
/// point is handed to the rule engine on one evaluation thread, condition changes drive the ISA-18.2 alarm manager,
/// whose journal is persisted and whose notifications go to webhooks. The engine is recompiled whenever rules,
/// equipment types or assets change.
/// </summary>
/// <remarks>
/// Ingest hands over a copy of each stored batch through a bounded queue (<see cref="QueueBatches"/> batches). When
/// evaluation falls that far behind, ingest waits: alarms are never skipped silently. Evaluation runs at several
/// million samples per second, above the node's ingest rate (docs/BENCHMARKS.md).
/// </remarks>
public sealed partial class AlarmService : BackgroundService
{
    public const string RuleKind = "rule";
    public const int QueueBatches = 256;

    private static readonly JsonSerializerOptions Json = ModelFormats.CreateJson();

    private readonly MetadataStore _meta;
    private readonly ITimeSeriesStore _store;
    private readonly ILogger<AlarmService> _logger;
    private readonly Channel<Chunk> _queue = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(QueueBatches) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Lock _gate = new();
    private readonly List<ConditionChange> _changes = [];
    private RuleEngine _engine;
    private Dictionary<string, RuleDefinition> _rules = new(StringComparer.Ordinal);
    private int[] _map = [];          // store series id → engine series id; Unknown until looked up, -1 when no rule reads it
    private ValueKind[] _kinds = [];
    private string?[] _stateOf = [];  // store series id → equipment id when the series is that equipment's 'state' tag
    private readonly Dictionary<string, bool> _down = new(StringComparer.Ordinal);
    private HashSet<string> _readsState = new(StringComparer.Ordinal);
    private readonly bool _suppressWhileDown;

    private const int Unknown = int.MinValue;

    public AlarmService(MetadataStore meta, ITimeSeriesStore store, SqliteAlarmJournal journal, WebhookNotifier webhooks, PlatformOptions options, ILogger<AlarmService> logger)
    {
        _suppressWhileDown = options.SuppressAlarmsWhileDown;
        _meta = meta;
        _store = store;
        _logger = logger;
        Alarms = new AlarmManager(journal, new AlarmOptions(), webhooks.Enqueue, journal.LastSequence);
        var rules = LoadRules();
        Alarms.Restore(journal.Read(0, long.MaxValue), id => rules.GetValueOrDefault(id));
        _engine = Compile(out _); // after the restore, so conditions active before the restart stay active
        meta.Changed += _ => Rebuild();
        meta.DocumentsChanged += kind =>
        {
            if (kind == RuleKind)
            {
                Rebuild();
            }
        };
    }

    public AlarmManager Alarms { get; }

    public IReadOnlyList<RuleProblem> Problems { get; private set; } = [];

    public IReadOnlyList<RuleDefinition> Rules => [.. _rules.Values.OrderBy(r => r.Id, StringComparer.Ordinal)];

    public RuleDefinition? GetRule(string id) => _rules.GetValueOrDefault(id);

    /// <summary>Validates (type-checks expressions against the equipment type) and saves; the engine picks it up at once.</summary>
    public RuleDefinition SaveRule(RuleDefinition rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (!SeriesKey.IsValidId(rule.Id))
        {
            throw new InvalidInputException($"rule id '{rule.Id}' is invalid: use 1-128 letters, digits, '-', '_' or '.'", "id");
        }

        var type = _meta.GetType(rule.EquipmentTypeId) ?? throw new InvalidInputException($"equipment type '{rule.EquipmentTypeId}' does not exist", "equipmentTypeId");
        RuleValidator.ThrowIfInvalid(rule, type);
        _meta.SaveDocument(RuleKind, rule.Id, JsonSerializer.Serialize(rule, Json));
        return rule;
    }

    public void DeleteRule(string id)
    {
        if (!_meta.DeleteDocument(RuleKind, id))
        {
            throw new NotFoundException($"rule '{id}' does not exist");
        }
    }

    /// <summary>Hands a stored batch to rule evaluation (copied: the caller reuses its batch).</summary>
    public ValueTask ObserveAsync(PointBatch batch, CancellationToken ct)
    {
        if (batch.Count == 0 || _rules.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        var chunk = Chunk.CopyOf(batch);
        return _queue.Writer.TryWrite(chunk) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(chunk, ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ticker = TickAsync(stoppingToken);
        try
        {
            await foreach (var chunk in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    Evaluate(chunk);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogEvaluationFailed(_logger, e);
                }
                finally
                {
                    chunk.Return();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await ticker;
    }

    private async Task TickAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                long now = Time.NowNs();
                lock (_gate)
                {
                    _engine.Advance(now, _changes);
                    Alarms.Apply(_changes);
                    _changes.Clear();
                }

                Alarms.Tick(now);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void Evaluate(Chunk c)
    {
        lock (_gate)
        {
            for (int i = 0; i < c.Count; i++)
            {
                int storeId = c.Series[i];
                if (storeId >= _map.Length)
                {
                    Grow(storeId);
                }

                int engineId = _map[storeId];
                if (engineId == Unknown)
                {
                    var info = _store.GetSeries(storeId);
                    engineId = _engine.TryGetSeriesId(info.Key, out int e) ? e : -1;
                    _map[storeId] = engineId;
                    _kinds[storeId] = info.Kind;
                    _stateOf[storeId] = info.Key.EndsWith(StateSuffix, StringComparison.Ordinal) ? info.Key[..^StateSuffix.Length] : null;
                }

                if (_suppressWhileDown && _stateOf[storeId] is { } equipment && _kinds[storeId] != ValueKind.String)
                {
                    ObserveState(equipment, c.Timestamps[i], _kinds[storeId] == ValueKind.Float64 ? BitConverter.Int64BitsToDouble(c.Values[i]) : c.Values[i]);
                }

                if (engineId < 0)
                {
                    continue;
                }

                var value = _kinds[storeId] switch
                {
                    ValueKind.Float64 => TagValue.FromDouble(BitConverter.Int64BitsToDouble(c.Values[i])),
                    ValueKind.Int64 => TagValue.FromInt64(c.Values[i]),
                    ValueKind.Bool => TagValue.FromBool(c.Values[i] != 0),
                    _ => TagValue.FromString(c.Texts?[i] ?? string.Empty),
                };
                _engine.Process(engineId, c.Timestamps[i], value, _changes);
            }

            if (_changes.Count > 0)
            {
                Alarms.Apply(_changes);
                _changes.Clear();
            }
        }
    }

    private const string StateSuffix = "/state";

    /// <summary>
    /// State-based suppression by design (ISA-18.2): while an equipment's 'state' tag reads 0 (down), its alarms are
    /// suppressed, except those of rules that read the state tag themselves (e.g. "down for more than 10 minutes"),
    /// which are about the stop. They come back (raised again if still active and unacknowledged) when it restarts.
    /// </summary>
    private void ObserveState(string equipment, long timestampNs, double state)
    {
        bool down = state == 0;
        bool known = _down.TryGetValue(equipment, out bool wasDown);
        if (known && wasDown == down)
        {
            return;
        }

        _down[equipment] = down;
        if (down || known || Alarms.GetAll().Any(a => a.EquipmentId == equipment && a.SuppressedByDesign))
        {
            Alarms.SetSuppressedByDesign(equipment, down, timestampNs, down ? "equipment down (state 0)" : "equipment running again", r => !_readsState.Contains(r.Id));
        }
    }

    private void Grow(int storeId)
    {
        int n = Math.Max(storeId + 1, Math.Max(1024, _map.Length * 2));
        int old = _map.Length;
        Array.Resize(ref _map, n);
        Array.Resize(ref _kinds, n);
        Array.Resize(ref _stateOf, n);
        Array.Fill(_map, Unknown, old, n - old);
    }

    private void Rebuild()
    {
        try
        {
            var engine = Compile(out var problems);
            lock (_gate)
            {
                _engine = engine;
                Array.Fill(_map, Unknown);
            }

            var rules = _rules;
            var assets = _meta.Snapshot.AssetsById;
            Alarms.Retire((ruleId, equipmentId) => rules.ContainsKey(ruleId) && assets.ContainsKey(equipmentId), Time.NowNs());
            foreach (var p in problems)
            {
                LogRuleProblem(_logger, p.RuleId, string.Join("; ", p.Errors.Select(e => e.ToString())));
            }
        }
        catch (Exception e)
        {
            LogEvaluationFailed(_logger, e);
        }
    }

    private RuleEngine Compile(out IReadOnlyList<RuleProblem> problems)
    {
        var rules = LoadRules();
        _rules = rules;
        var snapshot = _meta.Snapshot;
        var engine = RuleEngine.Compile(rules.Values, snapshot.Types, snapshot.Assets, (rule, eq) => Alarms.IsConditionActive(rule.Id, eq));
        _readsState = [.. rules.Values.Where(r => ReadsState(r, snapshot.TypesById.GetValueOrDefault(r.EquipmentTypeId))).Select(r => r.Id)];
        Problems = problems = engine.Problems;
        return engine;
    }

    private static bool ReadsState(RuleDefinition rule, EquipmentType? type)
    {
        const string State = "state";
        if (rule.Limit?.Tag == State || rule.RateOfChange?.Tag == State || rule.StateDuration?.Tag == State)
        {
            return true;
        }

        if (rule.Expression is null || type is null)
        {
            return false;
        }

        try
        {
            return Zhizao.Rules.Expressions.CompiledExpression.Compile(rule.Expression, type.Tags).TagNames.Contains(State, StringComparer.Ordinal);
        }
        catch (InvalidInputException)
        {
            return false; // not compiled by the engine either (listed in Problems)
        }
    }

    private Dictionary<string, RuleDefinition> LoadRules()
    {
        var rules = new Dictionary<string, RuleDefinition>(StringComparer.Ordinal);
        foreach (var (id, json) in _meta.ListDocuments(RuleKind))
        {
            try
            {
                if (JsonSerializer.Deserialize<RuleDefinition>(json, Json) is { } r)
                {
                    rules[id] = r;
                }
            }
            catch (JsonException e)
            {
                LogRuleProblem(_logger, id, "stored definition is unreadable: " + e.Message);
            }
        }

        return rules;
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "Rule evaluation failed")]
    private static partial void LogEvaluationFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Rule {RuleId} is not evaluated: {Problem}")]
    private static partial void LogRuleProblem(ILogger logger, string ruleId, string problem);

    /// <summary>A pooled copy of a stored batch.</summary>
    private sealed class Chunk
    {
        public int Count;
        public int[] Series = [];
        public long[] Timestamps = [];
        public long[] Values = [];
        public string?[]? Texts;

        public static Chunk CopyOf(PointBatch b)
        {
            int n = b.Count;
            var c = new Chunk
            {
                Count = n,
                Series = ArrayPool<int>.Shared.Rent(n),
                Timestamps = ArrayPool<long>.Shared.Rent(n),
                Values = ArrayPool<long>.Shared.Rent(n),
            };
            b.SeriesIds.CopyTo(c.Series);
            b.Timestamps.CopyTo(c.Timestamps);
            b.Values.CopyTo(c.Values);
            if (b.HasText)
            {
                c.Texts = new string?[n];
                for (int i = 0; i < n; i++)
                {
                    c.Texts[i] = b.TextAt(i);
                }
            }

            return c;
        }

        public void Return()
        {
            ArrayPool<int>.Shared.Return(Series);
            ArrayPool<long>.Shared.Return(Timestamps);
            ArrayPool<long>.Shared.Return(Values);
        }
    }
}
