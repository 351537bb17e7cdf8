using System.Runtime.CompilerServices;
using Zhizao.Core;
using Zhizao.Rules.Expressions;

namespace Zhizao.Rules;

/// <summary>
/// A rule instance's condition became active or inactive (after deadband and delays). Holds references the engine
/// already owns, so emitting one does not allocate.
/// </summary>
public readonly record struct ConditionChange(RuleDefinition Rule, string EquipmentId, int InstanceId, bool Active, double Value, long TimestampNs);

/// <summary>One rule on one machine.</summary>
public sealed record RuleInstance(int InstanceId, RuleDefinition Rule, string EquipmentId, IReadOnlyList<string> SeriesKeys);

/// <summary>A rule left out of the engine because it does not fit its equipment type (any more).</summary>
public sealed record RuleProblem(string RuleId, IReadOnlyList<RuleError> Errors)
{
    public override string ToString() => $"rule '{RuleId}': {string.Join("; ", Errors)}";
}

/// <summary>
/// Rules compiled against the asset list: each enabled rule of an equipment type becomes one instance per machine of
/// that type, with its own state. Samples are routed by series id (see <see cref="TryGetSeriesId(string, out int)"/>)
/// to the instances that read that series: O(rules on the series), no allocation in steady state.
/// Time comes only from sample timestamps and <see cref="Advance"/>. Not thread-safe: one feeding thread.
/// </summary>
public sealed class RuleEngine
{
    /// <summary>Samples remembered per rate-of-change instance (thinned to window / 48 apart).</summary>
    public const int RateRingCapacity = 64;

    private readonly CompiledRule[] _rules;
    private readonly string[] _equipmentIds;
    private readonly Instance[] _instances;
    private readonly RuleInstance[] _instanceInfo;
    private readonly TagValue[] _slots;
    private readonly Dictionary<string, int> _seriesByKey;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _seriesBySpan;
    private readonly string[] _seriesKeys;
    private readonly int[] _seriesSlot;
    private readonly int[] _seriesStart;
    private readonly int[] _seriesInstances;
    private readonly long[] _ringTime;
    private readonly double[] _ringValue;
    private readonly int[] _pending;
    private int _pendingCount;

    private RuleEngine(
        CompiledRule[] rules, string[] equipmentIds, Instance[] instances, RuleInstance[] instanceInfo, int slotCount,
        List<string> seriesKeys, List<int> seriesSlot, List<List<int>> seriesInstances, int ringSlots, IReadOnlyList<RuleProblem> problems)
    {
        _rules = rules;
        _equipmentIds = equipmentIds;
        _instances = instances;
        _instanceInfo = instanceInfo;
        _slots = new TagValue[slotCount];
        _seriesKeys = [.. seriesKeys];
        _seriesByKey = new Dictionary<string, int>(seriesKeys.Count, StringComparer.Ordinal);
        for (int i = 0; i < _seriesKeys.Length; i++)
        {
            _seriesByKey.Add(_seriesKeys[i], i);
        }

        _seriesBySpan = _seriesByKey.GetAlternateLookup<ReadOnlySpan<char>>();
        _seriesSlot = [.. seriesSlot];
        _seriesStart = new int[_seriesKeys.Length + 1];
        _seriesInstances = new int[seriesInstances.Sum(l => l.Count)];
        int offset = 0;
        for (int s = 0; s < _seriesKeys.Length; s++)
        {
            _seriesStart[s] = offset;
            foreach (int instance in seriesInstances[s])
            {
                _seriesInstances[offset++] = instance;
            }
        }

        _seriesStart[^1] = offset;
        _ringTime = new long[ringSlots];
        _ringValue = new double[ringSlots];
        _pending = new int[instances.Length];
        Problems = problems;
    }

    /// <summary>Enabled rules that were left out, with why (e.g. a tag the type no longer has).</summary>
    public IReadOnlyList<RuleProblem> Problems { get; }

    public IReadOnlyList<RuleInstance> Instances => _instanceInfo;

    /// <summary>Series that at least one rule reads; ids are 0..SeriesCount-1.</summary>
    public IReadOnlyList<string> SeriesKeys => _seriesKeys;

    public int SeriesCount => _seriesKeys.Length;

    /// <summary>Instances whose condition is waiting out an on- or off-delay.</summary>
    public int PendingCount => _pendingCount;

    /// <summary>
    /// Compiles enabled rules for every equipment asset whose type they name. Invalid rules are skipped and listed in
    /// <see cref="Problems"/> (they were validated on save; a type may have changed since). <paramref name="initiallyActive"/>
    /// seeds condition state after a reload (e.g. from the alarm manager) so active conditions are not raised twice
    /// and still clear.
    /// </summary>
    public static RuleEngine Compile(
        IEnumerable<RuleDefinition> rules,
        IEnumerable<EquipmentType> types,
        IEnumerable<Asset> assets,
        Func<RuleDefinition, string, bool>? initiallyActive = null)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(types);
        ArgumentNullException.ThrowIfNull(assets);
        var typesById = new Dictionary<string, EquipmentType>(StringComparer.Ordinal);
        foreach (EquipmentType type in types)
        {
            typesById[type.Id] = type;
        }

        var problems = new List<RuleProblem>();
        var compiled = new List<CompiledRule>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (RuleDefinition rule in rules)
        {
            if (!rule.Enabled)
            {
                continue;
            }

            typesById.TryGetValue(rule.EquipmentTypeId ?? string.Empty, out EquipmentType? type);
            IReadOnlyList<RuleError> errors = RuleValidator.Validate(rule, type);
            if (errors.Count == 0 && !ids.Add(rule.Id!))
            {
                errors = [new RuleError("id", $"duplicate rule id '{rule.Id}'")];
            }

            if (errors.Count > 0)
            {
                problems.Add(new RuleProblem(rule.Id ?? "?", errors));
                continue;
            }

            compiled.Add(CompiledRule.Create(rule, type!));
        }

        var rulesByType = compiled.GroupBy(r => r.Definition.EquipmentTypeId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        var ruleIndex = new Dictionary<CompiledRule, int>();
        for (int i = 0; i < compiled.Count; i++)
        {
            ruleIndex[compiled[i]] = i;
        }

        var equipmentIds = new List<string>();
        var instances = new List<Instance>();
        var infos = new List<RuleInstance>();
        var seriesKeys = new List<string>();
        var seriesSlot = new List<int>();
        var seriesInstances = new List<List<int>>();
        var seriesIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        int slotCount = 0;
        int ringSlots = 0;
        var seenEquipment = new HashSet<string>(StringComparer.Ordinal);
        foreach (Asset asset in assets)
        {
            if (asset.Level != AssetLevel.Equipment || asset.TypeId is null || !rulesByType.TryGetValue(asset.TypeId, out CompiledRule[]? typeRules)
                || !seenEquipment.Add(asset.Id))
            {
                continue;
            }

            EquipmentType type = typesById[asset.TypeId];
            int equipment = equipmentIds.Count;
            equipmentIds.Add(asset.Id);
            int slotBase = slotCount;
            slotCount += type.Tags.Count;
            foreach (CompiledRule rule in typeRules)
            {
                int instanceId = instances.Count;
                var instance = new Instance
                {
                    Rule = ruleIndex[rule],
                    Equipment = equipment,
                    SlotBase = slotBase,
                    Active = initiallyActive?.Invoke(rule.Definition, asset.Id) ?? false,
                    PendingIndex = -1,
                };
                if (rule.Kind == RuleKind.RateOfChange)
                {
                    instance.RingStart = ringSlots;
                    ringSlots += RateRingCapacity;
                }

                instances.Add(instance);
                var keys = new List<string>();
                foreach (int tag in rule.TagIndices)
                {
                    string key = SeriesKey.ForTag(asset.Id, type.Tags[tag].Name);
                    if (!seriesIndex.TryGetValue(key, out int series))
                    {
                        series = seriesKeys.Count;
                        seriesIndex.Add(key, series);
                        seriesKeys.Add(key);
                        seriesSlot.Add(slotBase + tag);
                        seriesInstances.Add([]);
                    }

                    seriesInstances[series].Add(instanceId);
                    keys.Add(key);
                }

                infos.Add(new RuleInstance(instanceId, rule.Definition, asset.Id, keys));
            }
        }

        return new RuleEngine([.. compiled], [.. equipmentIds], [.. instances], [.. infos], slotCount, seriesKeys, seriesSlot, seriesInstances, ringSlots, problems);
    }

    public bool TryGetSeriesId(string seriesKey, out int seriesId) => _seriesByKey.TryGetValue(seriesKey, out seriesId);

    public bool TryGetSeriesId(ReadOnlySpan<char> seriesKey, out int seriesId) => _seriesBySpan.TryGetValue(seriesKey, out seriesId);

    /// <summary>Whether the instance's condition is active now (after deadband and delays).</summary>
    public bool IsActive(int instanceId) => _instances[instanceId].Active;

    /// <summary>Processes a sample addressed by series key (as ingest parsers produce); false when no rule reads it.</summary>
    public bool Process(Sample sample, List<ConditionChange> changes) =>
        Process(sample.SeriesKey.AsSpan(), sample.TimestampNs, sample.Value, changes);

    /// <summary>Looks the series up and processes the sample; false when no rule reads this series.</summary>
    public bool Process(ReadOnlySpan<char> seriesKey, long timestampNs, TagValue value, List<ConditionChange> changes)
    {
        if (!_seriesBySpan.TryGetValue(seriesKey, out int series))
        {
            return false;
        }

        Process(series, timestampNs, value, changes);
        return true;
    }

    /// <summary>
    /// Feeds one sample of series <paramref name="seriesId"/>; condition changes it causes are appended to
    /// <paramref name="changes"/>. Samples of a series should come in time order (rate-of-change ignores older ones).
    /// </summary>
    public void Process(int seriesId, long timestampNs, TagValue value, List<ConditionChange> changes)
    {
        if ((uint)seriesId >= (uint)_seriesKeys.Length)
        {
            ThrowUnknownSeries(seriesId);
        }

        _slots[_seriesSlot[seriesId]] = value;
        int end = _seriesStart[seriesId + 1];
        for (int k = _seriesStart[seriesId]; k < end; k++)
        {
            int id = _seriesInstances[k];
            ref Instance instance = ref _instances[id];
            CompiledRule rule = _rules[instance.Rule];
            bool want;
            switch (rule.Kind)
            {
                case RuleKind.Limit:
                    {
                        double v = value.AsDouble;
                        want = rule.IsHigh
                            ? (instance.Active ? v > rule.Setpoint - rule.Deadband : v > rule.Setpoint)
                            : (instance.Active ? v < rule.Setpoint + rule.Deadband : v < rule.Setpoint);
                        break;
                    }

                case RuleKind.StateDuration:
                    want = Matches(value, rule.State) != rule.Negate;
                    break;
                case RuleKind.RateOfChange:
                    if (!TryRate(ref instance, rule, timestampNs, value.AsDouble, out double rate))
                    {
                        continue;
                    }

                    double signed = rule.Direction switch
                    {
                        RateDirection.Rising => rate,
                        RateDirection.Falling => -rate,
                        _ => Math.Abs(rate),
                    };
                    want = instance.Active ? signed > rule.MaxRate - rule.Deadband : signed > rule.MaxRate;
                    break;
                default:
                    if (!rule.Expression!.TryEvaluate(_slots, instance.SlotBase, out want))
                    {
                        continue;
                    }

                    break;
            }

            Step(ref instance, id, rule, want, timestampNs, value.AsDouble, changes);
        }
    }

    /// <summary>
    /// Moves time forward without samples: conditions that have held for their on/off delay (and state-duration
    /// rules) fire at <c>start + delay</c>. Values are assumed to hold since their last sample.
    /// </summary>
    public void Advance(long nowNs, List<ConditionChange> changes)
    {
        for (int i = _pendingCount - 1; i >= 0; i--)
        {
            int id = _pending[i];
            ref Instance instance = ref _instances[id];
            CompiledRule rule = _rules[instance.Rule];
            long delay = instance.Active ? rule.OffDelayNs : rule.OnDelayNs;
            if (nowNs - instance.PendingSince >= delay)
            {
                long at = instance.PendingSince + delay;
                RemovePending(ref instance);
                Fire(ref instance, id, rule, at, changes);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Step(ref Instance instance, int id, CompiledRule rule, bool want, long t, double value, List<ConditionChange> changes)
    {
        instance.LastValue = value;
        if (want == instance.Active)
        {
            if (instance.PendingIndex >= 0)
            {
                RemovePending(ref instance);
            }

            return;
        }

        StepSlow(ref instance, id, rule, t, changes);
    }

    private void StepSlow(ref Instance instance, int id, CompiledRule rule, long t, List<ConditionChange> changes)
    {
        long delay = instance.Active ? rule.OffDelayNs : rule.OnDelayNs;
        if (instance.PendingIndex < 0)
        {
            if (delay == 0)
            {
                Fire(ref instance, id, rule, t, changes);
                return;
            }

            instance.PendingSince = t;
            instance.PendingIndex = _pendingCount;
            _pending[_pendingCount++] = id;
            return;
        }

        if (t - instance.PendingSince >= delay)
        {
            long at = instance.PendingSince + delay;
            RemovePending(ref instance);
            Fire(ref instance, id, rule, at, changes);
        }
    }

    private void Fire(ref Instance instance, int id, CompiledRule rule, long at, List<ConditionChange> changes)
    {
        instance.Active = !instance.Active;
        changes.Add(new ConditionChange(rule.Definition, _equipmentIds[instance.Equipment], id, instance.Active, instance.LastValue, at));
    }

    private void RemovePending(ref Instance instance)
    {
        int index = instance.PendingIndex;
        int last = _pending[--_pendingCount];
        _pending[index] = last;
        _instances[last].PendingIndex = index;
        instance.PendingIndex = -1;
    }

    private static bool Matches(TagValue value, TagValue state) => state.Kind switch
    {
        ValueKind.String => string.Equals(value.AsString, state.AsString, StringComparison.Ordinal),
        ValueKind.Bool => value.AsBool == state.AsBool,
        _ => value.AsDouble == state.AsDouble,
    };

    /// <summary>
    /// Rate per second between this sample and the reference sample: the newest one at or before
    /// <c>t − window</c> (or the oldest remembered, if it is at least half a window old).
    /// </summary>
    private bool TryRate(ref Instance instance, CompiledRule rule, long t, double v, out double rate)
    {
        rate = 0;
        long[] times = _ringTime;
        double[] values = _ringValue;
        int start = instance.RingStart;
        int count = instance.RingCount;
        int tail = instance.RingTail;
        if (count > 0 && t <= times[start + ((tail + count - 1) % RateRingCapacity)])
        {
            return false;
        }

        long windowStart = t - rule.WindowNs;
        while (count >= 2 && times[start + ((tail + 1) % RateRingCapacity)] <= windowStart)
        {
            tail = (tail + 1) % RateRingCapacity;
            count--;
        }

        bool ok = false;
        if (count > 0)
        {
            long span = t - times[start + tail];
            if (span * 2 >= rule.WindowNs)
            {
                rate = (v - values[start + tail]) * Time.NanosPerSecond / span;
                ok = true;
            }
        }

        if (count == 0 || t - times[start + ((tail + count - 1) % RateRingCapacity)] >= rule.RateGranularityNs)
        {
            if (count == RateRingCapacity)
            {
                tail = (tail + 1) % RateRingCapacity;
                count--;
            }

            int slot = start + ((tail + count) % RateRingCapacity);
            times[slot] = t;
            values[slot] = v;
            count++;
        }

        instance.RingTail = tail;
        instance.RingCount = count;
        return ok;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowUnknownSeries(int seriesId) =>
        throw new ArgumentOutOfRangeException(nameof(seriesId), seriesId, $"series id must be 0..{_seriesKeys.Length - 1}");

    private struct Instance
    {
        public int Rule;
        public int Equipment;
        public int SlotBase;
        public bool Active;
        public int PendingIndex;
        public long PendingSince;
        public double LastValue;
        public int RingStart;
        public int RingTail;
        public int RingCount;
    }

    private sealed class CompiledRule
    {
        public required RuleDefinition Definition { get; init; }
        public RuleKind Kind;
        public int[] TagIndices = [];
        public bool IsHigh;
        public double Setpoint;
        public double Deadband;
        public long OnDelayNs;
        public long OffDelayNs;
        public double MaxRate;
        public long WindowNs;
        public long RateGranularityNs;
        public RateDirection Direction;
        public TagValue State;
        public bool Negate;
        public CompiledExpression? Expression;

        public static CompiledRule Create(RuleDefinition rule, EquipmentType type)
        {
            var compiled = new CompiledRule
            {
                Definition = rule,
                Kind = rule.Kind,
                OnDelayNs = Nanos(rule.OnDelaySeconds),
                OffDelayNs = Nanos(rule.OffDelaySeconds),
            };
            switch (rule.Kind)
            {
                case RuleKind.Limit:
                    LimitParameters limit = rule.Limit!;
                    compiled.TagIndices = [TagIndex(type, limit.Tag)];
                    compiled.IsHigh = limit.Type is LimitType.High or LimitType.HighHigh;
                    compiled.Setpoint = limit.Setpoint;
                    compiled.Deadband = limit.Deadband;
                    break;
                case RuleKind.RateOfChange:
                    RateOfChangeParameters rate = rule.RateOfChange!;
                    compiled.TagIndices = [TagIndex(type, rate.Tag)];
                    compiled.MaxRate = rate.MaxRatePerSecond;
                    compiled.Deadband = rate.Deadband;
                    compiled.Direction = rate.Direction;
                    compiled.WindowNs = Math.Max(1, Nanos(rate.WindowSeconds));
                    compiled.RateGranularityNs = compiled.WindowNs / 48;
                    break;
                case RuleKind.StateDuration:
                    StateDurationParameters state = rule.StateDuration!;
                    int tag = TagIndex(type, state.Tag);
                    compiled.TagIndices = [tag];
                    RuleValidator.TryParseState(state.State, type.Tags[tag].DataType, out compiled.State);
                    compiled.Negate = state.Negate;
                    compiled.OnDelayNs = Nanos(state.DurationSeconds);
                    break;
                default:
                    compiled.Expression = CompiledExpression.Compile(rule.Expression!, type.Tags);
                    compiled.TagIndices = compiled.Expression.TagIndices.ToArray();
                    break;
            }

            return compiled;
        }

        private static int TagIndex(EquipmentType type, string name)
        {
            for (int i = 0; i < type.Tags.Count; i++)
            {
                if (string.Equals(type.Tags[i].Name, name, StringComparison.Ordinal))
                {
                    return i;
                }
            }

            throw new InvalidInputException($"type '{type.Id}' has no tag '{name}'");
        }

        private static long Nanos(double seconds) => (long)Math.Round(seconds * Time.NanosPerSecond);
    }
}
