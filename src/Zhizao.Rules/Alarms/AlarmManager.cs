using System.Globalization;
using System.Text.Json.Serialization;
using Zhizao.Core;

namespace Zhizao.Rules.Alarms;

public sealed record AlarmComment(long TimestampNs, string User, string Text);

/// <summary>A consistent copy of one alarm, safe to hand to other threads and serialise.</summary>
public sealed record AlarmSnapshot(
    string Id,
    string RuleId,
    string RuleName,
    string EquipmentId,
    AlarmPriority Priority,
    string Message,
    AlarmStates States,
    AlarmDisplayState State,
    ShelvingState Shelving,
    long? ShelvedUntilNs,
    string? ShelveReason,
    string? ShelvedBy,
    long? ActiveSinceNs,
    long LastChangeNs,
    double LastValue,
    int EscalationLevel,
    IReadOnlyList<AlarmComment> Comments)
{
    public bool Active => (States & AlarmStates.Active) != 0;
    public bool Acknowledged => (States & AlarmStates.Unacknowledged) == 0;
    public bool SuppressedByDesign => (States & AlarmStates.SuppressedByDesign) != 0;
    public bool OutOfService => (States & AlarmStates.OutOfService) != 0;
}

[JsonConverter(typeof(JsonStringEnumConverter<AlarmNotificationKind>))]
public enum AlarmNotificationKind
{
    Raised = 1,
    Cleared = 2,
    Acknowledged = 3,
    Escalated = 4,
}

/// <summary>What a webhook / UI push should send. Only annunciated alarms notify (not shelved, suppressed or out of service).</summary>
public sealed record AlarmNotification(AlarmNotificationKind Kind, AlarmSnapshot Alarm, long TimestampNs, int EscalationLevel);

public sealed record AlarmOptions
{
    /// <summary>Escalate an active alarm left unacknowledged this long, per priority; a missing priority never escalates.</summary>
    public IReadOnlyDictionary<AlarmPriority, TimeSpan> EscalateAfter { get; init; } = new Dictionary<AlarmPriority, TimeSpan>
    {
        [AlarmPriority.Urgent] = TimeSpan.FromMinutes(5),
        [AlarmPriority.High] = TimeSpan.FromMinutes(15),
        [AlarmPriority.Medium] = TimeSpan.FromMinutes(30),
        [AlarmPriority.Low] = TimeSpan.FromMinutes(60),
    };

    /// <summary>Escalate again at 2N, 3N, … while still unacknowledged.</summary>
    public bool RepeatEscalation { get; init; } = true;

    /// <summary>Longest timed shelve an operator may ask for (ISA-18.2 asks for a limit).</summary>
    public TimeSpan MaxShelveDuration { get; init; } = TimeSpan.FromHours(24);

    public int MaxTextLength { get; init; } = 2_000;
}

/// <summary>
/// The ISA-18.2 / IEC 62682 alarm state machine (states after OPC UA Part 9 AlarmConditionType), one alarm per
/// (rule, equipment). Fed with <see cref="ConditionChange"/>s from the <see cref="RuleEngine"/> and with operator actions;
/// every transition is appended to the <see cref="IAlarmJournal"/>. Time is always passed in. Thread-safe (one lock);
/// notifications are delivered after the lock is released, on the calling thread.
///
/// Operator actions and when they are allowed (anything else throws <see cref="ConflictException"/>;
/// unknown alarm ids <see cref="NotFoundException"/>; bad arguments <see cref="InvalidInputException"/>):
/// <code>
/// Acknowledge        unacknowledged             → acknowledged (inactive: → Normal)
/// Shelve (timed)     not shelved                → TimedShelved until expiry (≤ MaxShelveDuration), reason required
/// ShelveOneShot      not shelved and active     → OneShotShelved until the alarm next returns to normal
/// Unshelve           shelved                    → Unshelved
/// RemoveFromService  in service                 → OutOfService, reason required
/// ReturnToService    out of service             → in service
/// AddComment         always                     → comment on the alarm and in the journal
/// </code>
/// Process transitions: inactive → active makes the alarm unacknowledged (Raised if annunciated); active → inactive
/// keeps the acknowledgement state (unacknowledged → ReturnToNormalUnacknowledged) and ends a one-shot shelve.
/// Unshelving, unsuppressing or returning to service an active unacknowledged alarm raises it again (and restarts
/// the escalation clock: escalation counts time an operator could see the alarm).
/// </summary>
public sealed class AlarmManager
{
    public const string SystemUser = "system";

    private readonly Lock _gate = new();
    private readonly IAlarmJournal _journal;
    private readonly AlarmOptions _options;
    private readonly Action<AlarmNotification>? _notify;
    private readonly Dictionary<string, AlarmRecord> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<(string RuleId, string EquipmentId), AlarmRecord> _byKey = [];
    private readonly Dictionary<string, Func<RuleDefinition, bool>?> _suppressedEquipment = new(StringComparer.Ordinal);
    private long _sequence;

    public AlarmManager(IAlarmJournal journal, AlarmOptions? options = null, Action<AlarmNotification>? notify = null, long lastSequence = 0)
    {
        _journal = journal ?? throw new ArgumentNullException(nameof(journal));
        _options = options ?? new AlarmOptions();
        _notify = notify;
        _sequence = lastSequence;
    }

    /// <summary>Alarm id of a rule on a machine: <c>{equipmentId}:{ruleId}</c>.</summary>
    public static string AlarmId(string equipmentId, string ruleId) => string.Concat(equipmentId, ":", ruleId);

    /// <summary>Creates the alarm (Normal) so operators can act on it before it first fires; no journal entry.</summary>
    public void Register(RuleDefinition rule, string equipmentId)
    {
        lock (_gate)
        {
            GetOrCreate(rule, equipmentId);
        }
    }

    /// <summary>
    /// Rebuilds alarm state from journal history (after a restart), before the manager is used: flags, shelving,
    /// comments, activation times and the sequence number continue from the entries. Alarms whose rule
    /// <paramref name="ruleById"/> no longer knows are skipped. Appends nothing; notifies nothing.
    /// </summary>
    public void Restore(IEnumerable<AlarmJournalEntry> history, Func<string, RuleDefinition?> ruleById)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(ruleById);
        lock (_gate)
        {
            if (_byId.Count > 0)
            {
                throw new ConflictException("restore the alarm manager before it is used");
            }

            foreach (AlarmJournalEntry entry in history.OrderBy(e => e.Sequence))
            {
                _sequence = Math.Max(_sequence, entry.Sequence);
                if (entry.Event is AlarmEvent.Suppressed)
                {
                    _suppressedEquipment[entry.EquipmentId] = null; // the caller's logic re-applies its filter after a restart
                }
                else if (entry.Event is AlarmEvent.Unsuppressed)
                {
                    _suppressedEquipment.Remove(entry.EquipmentId);
                }

                if (ruleById(entry.RuleId) is not { } rule)
                {
                    continue;
                }

                if (entry.Event == AlarmEvent.Retired)
                {
                    if (_byKey.Remove((rule.Id, entry.EquipmentId), out AlarmRecord? retired))
                    {
                        _byId.Remove(retired.Id);
                    }

                    continue;
                }

                AlarmRecord alarm = GetOrCreate(rule, entry.EquipmentId);
                AlarmStates next = entry.Next;
                alarm.Active = (next & AlarmStates.Active) != 0;
                alarm.Unacked = (next & AlarmStates.Unacknowledged) != 0;
                alarm.Suppressed = (next & AlarmStates.SuppressedByDesign) != 0;
                alarm.OutOfService = (next & AlarmStates.OutOfService) != 0;
                alarm.Shelving = (next & AlarmStates.Shelved) != 0 ? entry.Shelving : ShelvingState.Unshelved;
                alarm.ShelvedUntilNs = alarm.Shelving == ShelvingState.TimedShelved ? entry.ShelvedUntilNs : null;
                alarm.LastChangeNs = entry.TimestampNs;
                switch (entry.Event)
                {
                    case AlarmEvent.Activated:
                        alarm.ActiveSinceNs = alarm.RaisedAtNs = entry.TimestampNs;
                        alarm.EscalationLevel = 0;
                        alarm.LastValue = entry.Value ?? double.NaN;
                        alarm.Message = Render(rule, entry.EquipmentId, alarm.LastValue);
                        break;
                    case AlarmEvent.Shelved:
                        alarm.ShelvedBy = entry.User;
                        alarm.ShelveReason = entry.Comment;
                        break;
                    case AlarmEvent.Commented when entry.User is not null && entry.Comment is not null:
                        alarm.Comments.Add(new AlarmComment(entry.TimestampNs, entry.User, entry.Comment));
                        break;
                    case AlarmEvent.Escalated:
                        alarm.EscalationLevel++;
                        break;
                    case AlarmEvent.Acknowledged:
                        alarm.EscalationLevel = 0;
                        break;
                    default:
                        break;
                }

                if (alarm.Shelving == ShelvingState.Unshelved)
                {
                    alarm.ShelvedBy = alarm.ShelveReason = null;
                }
            }
        }
    }

    /// <summary>Whether the alarm's condition is active (use to seed <see cref="RuleEngine.Compile"/> after a reload).</summary>
    public bool IsConditionActive(string ruleId, string equipmentId)
    {
        lock (_gate)
        {
            return _byKey.TryGetValue((ruleId, equipmentId), out AlarmRecord? alarm) && alarm.Active;
        }
    }

    /// <summary>Applies condition changes from the rule engine, in order.</summary>
    public void Apply(IReadOnlyList<ConditionChange> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.Count == 0)
        {
            return;
        }

        List<AlarmNotification>? notes = null;
        lock (_gate)
        {
            for (int i = 0; i < changes.Count; i++)
            {
                ApplyLocked(changes[i], ref notes);
            }
        }

        Deliver(notes);
    }

    public void Apply(in ConditionChange change)
    {
        List<AlarmNotification>? notes = null;
        lock (_gate)
        {
            ApplyLocked(change, ref notes);
        }

        Deliver(notes);
    }

    public void Acknowledge(string alarmId, string user, long nowNs, string? comment = null)
    {
        List<AlarmNotification>? notes = null;
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(comment, "comment", required: false);
            if (!alarm.Unacked)
            {
                throw new ConflictException($"alarm '{alarmId}' is already acknowledged");
            }

            AlarmStates previous = alarm.States;
            alarm.Unacked = false;
            alarm.EscalationLevel = 0;
            Record(alarm, nowNs, AlarmEvent.Acknowledged, previous, user, comment);
            if (alarm.Annunciated)
            {
                Notify(ref notes, AlarmNotificationKind.Acknowledged, alarm, nowNs);
            }
        }

        Deliver(notes);
    }

    /// <summary>Timed shelve until <paramref name="untilNs"/>; <see cref="Tick"/> unshelves when it expires.</summary>
    public void Shelve(string alarmId, string user, string reason, long nowNs, long untilNs)
    {
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(reason, "reason", required: true);
            CheckNotShelved(alarm);
            if (untilNs <= nowNs)
            {
                throw new InvalidInputException("shelve expiry must be in the future", "untilNs");
            }

            if (untilNs - nowNs > _options.MaxShelveDuration.Ticks * 100)
            {
                throw new InvalidInputException($"alarms may be shelved for at most {_options.MaxShelveDuration}", "untilNs");
            }

            ShelveLocked(alarm, ShelvingState.TimedShelved, untilNs, user, reason, nowNs);
        }
    }

    /// <summary>One-shot shelve: the alarm stays shelved until it next returns to normal.</summary>
    public void ShelveOneShot(string alarmId, string user, string reason, long nowNs)
    {
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(reason, "reason", required: true);
            CheckNotShelved(alarm);
            if (!alarm.Active)
            {
                throw new ConflictException($"alarm '{alarmId}' is not active; a one-shot shelve lasts until the alarm clears, so it needs an active alarm");
            }

            ShelveLocked(alarm, ShelvingState.OneShotShelved, null, user, reason, nowNs);
        }
    }

    public void Unshelve(string alarmId, string user, long nowNs, string? comment = null)
    {
        List<AlarmNotification>? notes = null;
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(comment, "comment", required: false);
            if (alarm.Shelving == ShelvingState.Unshelved)
            {
                throw new ConflictException($"alarm '{alarmId}' is not shelved");
            }

            UnshelveLocked(alarm, AlarmEvent.Unshelved, user, comment, nowNs, ref notes);
        }

        Deliver(notes);
    }

    public void RemoveFromService(string alarmId, string user, string reason, long nowNs)
    {
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(reason, "reason", required: true);
            if (alarm.OutOfService)
            {
                throw new ConflictException($"alarm '{alarmId}' is already out of service");
            }

            AlarmStates previous = alarm.States;
            alarm.OutOfService = true;
            Record(alarm, nowNs, AlarmEvent.RemovedFromService, previous, user, reason);
        }
    }

    public void ReturnToService(string alarmId, string user, long nowNs, string? comment = null)
    {
        List<AlarmNotification>? notes = null;
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(comment, "comment", required: false);
            if (!alarm.OutOfService)
            {
                throw new ConflictException($"alarm '{alarmId}' is not out of service");
            }

            AlarmStates previous = alarm.States;
            alarm.OutOfService = false;
            Record(alarm, nowNs, AlarmEvent.ReturnedToService, previous, user, comment);
            ReannunciateIfDue(alarm, nowNs, ref notes);
        }

        Deliver(notes);
    }

    /// <summary>
    /// Suppression by design, set by the caller's logic (e.g. the machine is down or in changeover): the alarms of the
    /// equipment whose rule <paramref name="appliesTo"/> accepts (all when null), including ones that first fire later,
    /// are suppressed until it is lifted; alarms it does not accept are left annunciated. Returns how many alarms changed.
    /// </summary>
    public int SetSuppressedByDesign(string equipmentId, bool suppressed, long nowNs, string reason, Func<RuleDefinition, bool>? appliesTo = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(equipmentId);
        CheckText(reason, "reason", required: true);
        List<AlarmNotification>? notes = null;
        int changed = 0;
        lock (_gate)
        {
            if (suppressed)
            {
                _suppressedEquipment[equipmentId] = appliesTo;
            }
            else
            {
                _suppressedEquipment.Remove(equipmentId);
            }

            foreach (AlarmRecord alarm in _byId.Values)
            {
                bool wanted = suppressed && (appliesTo?.Invoke(alarm.Rule) ?? true);
                if (!string.Equals(alarm.EquipmentId, equipmentId, StringComparison.Ordinal) || alarm.Suppressed == wanted)
                {
                    continue;
                }

                AlarmStates previous = alarm.States;
                alarm.Suppressed = wanted;
                Record(alarm, nowNs, wanted ? AlarmEvent.Suppressed : AlarmEvent.Unsuppressed, previous, SystemUser, reason);
                if (!wanted)
                {
                    ReannunciateIfDue(alarm, nowNs, ref notes);
                }

                changed++;
            }
        }

        Deliver(notes);
        return changed;
    }

    public void AddComment(string alarmId, string user, string text, long nowNs)
    {
        lock (_gate)
        {
            AlarmRecord alarm = Find(alarmId);
            CheckUser(user);
            CheckText(text, "comment", required: true);
            alarm.Comments.Add(new AlarmComment(nowNs, user, text));
            Record(alarm, nowNs, AlarmEvent.Commented, alarm.States, user, text);
        }
    }

    /// <summary>
    /// After rules or assets changed: removes every alarm for which <paramref name="keep"/>(ruleId, equipmentId) is false.
    /// An active alarm is cleared first (journaled, Cleared notification if annunciated); then Retired is journaled.
    /// Returns how many alarms were removed.
    /// </summary>
    public int Retire(Func<string, string, bool> keep, long nowNs)
    {
        ArgumentNullException.ThrowIfNull(keep);
        List<AlarmNotification>? notes = null;
        int removed = 0;
        lock (_gate)
        {
            foreach (AlarmRecord alarm in _byId.Values.Where(a => !keep(a.Rule.Id, a.EquipmentId)).ToList())
            {
                if (alarm.Active)
                {
                    AlarmStates before = alarm.States;
                    alarm.Active = false;
                    Record(alarm, nowNs, AlarmEvent.Cleared, before, SystemUser, "rule or equipment removed");
                    if (alarm.Annunciated)
                    {
                        Notify(ref notes, AlarmNotificationKind.Cleared, alarm, nowNs);
                    }
                }

                AlarmStates previous = alarm.States;
                alarm.Unacked = false;
                alarm.Shelving = ShelvingState.Unshelved;
                alarm.ShelvedUntilNs = null;
                Record(alarm, nowNs, AlarmEvent.Retired, previous, SystemUser, "rule or equipment removed");
                _byId.Remove(alarm.Id);
                _byKey.Remove((alarm.Rule.Id, alarm.EquipmentId));
                removed++;
            }
        }

        Deliver(notes);
        return removed;
    }

    /// <summary>Time passes: timed shelves expire, unacknowledged active alarms escalate. Call every few seconds.</summary>
    public void Tick(long nowNs)
    {
        List<AlarmNotification>? notes = null;
        lock (_gate)
        {
            foreach (AlarmRecord alarm in _byId.Values)
            {
                if (alarm.Shelving == ShelvingState.TimedShelved && nowNs >= alarm.ShelvedUntilNs)
                {
                    UnshelveLocked(alarm, AlarmEvent.ShelveExpired, SystemUser, null, nowNs, ref notes);
                }

                if (alarm.Active && alarm.Unacked && alarm.Annunciated
                    && _options.EscalateAfter.TryGetValue(alarm.Priority, out TimeSpan after) && after > TimeSpan.Zero)
                {
                    long afterNs = after.Ticks * 100;
                    int due = (int)Math.Min(int.MaxValue, (nowNs - alarm.RaisedAtNs) / afterNs);
                    if (!_options.RepeatEscalation)
                    {
                        due = Math.Min(due, 1);
                    }

                    if (due > alarm.EscalationLevel)
                    {
                        alarm.EscalationLevel = due;
                        Record(alarm, nowNs, AlarmEvent.Escalated, alarm.States, SystemUser,
                            $"unacknowledged for {TimeSpan.FromTicks((nowNs - alarm.RaisedAtNs) / 100)} (level {due})");
                        Notify(ref notes, AlarmNotificationKind.Escalated, alarm, nowNs);
                    }
                }
            }
        }

        Deliver(notes);
    }

    public bool TryGet(string alarmId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out AlarmSnapshot? alarm)
    {
        lock (_gate)
        {
            alarm = _byId.TryGetValue(alarmId, out AlarmRecord? record) ? record.Snapshot() : null;
            return alarm is not null;
        }
    }

    /// <summary>Every alarm that is not Normal (active or unacknowledged), most urgent and newest first; includes shelved/suppressed ones, flagged.</summary>
    public IReadOnlyList<AlarmSnapshot> GetActiveAlarms()
    {
        lock (_gate)
        {
            return _byId.Values.Where(a => a.Active || a.Unacked)
                .OrderBy(a => a.Priority).ThenByDescending(a => a.LastChangeNs)
                .Select(a => a.Snapshot()).ToList();
        }
    }

    public IReadOnlyList<AlarmSnapshot> GetAll()
    {
        lock (_gate)
        {
            return _byId.Values.OrderBy(a => a.Id, StringComparer.Ordinal).Select(a => a.Snapshot()).ToList();
        }
    }

    private void ApplyLocked(in ConditionChange change, ref List<AlarmNotification>? notes)
    {
        AlarmRecord alarm = GetOrCreate(change.Rule, change.EquipmentId);
        alarm.LastValue = change.Value;
        if (change.Active == alarm.Active)
        {
            return;
        }

        AlarmStates previous = alarm.States;
        if (change.Active)
        {
            alarm.Active = true;
            alarm.Unacked = true;
            alarm.ActiveSinceNs = change.TimestampNs;
            alarm.EscalationLevel = 0;
            alarm.Message = Render(change.Rule, change.EquipmentId, change.Value);
            Record(alarm, change.TimestampNs, AlarmEvent.Activated, previous, null, null, change.Value);
            alarm.RaisedAtNs = change.TimestampNs;
            if (alarm.Annunciated)
            {
                Notify(ref notes, AlarmNotificationKind.Raised, alarm, change.TimestampNs);
            }

            return;
        }

        alarm.Active = false;
        Record(alarm, change.TimestampNs, AlarmEvent.Cleared, previous, null, null, change.Value);
        if (alarm.Annunciated)
        {
            Notify(ref notes, AlarmNotificationKind.Cleared, alarm, change.TimestampNs);
        }

        if (alarm.Shelving == ShelvingState.OneShotShelved)
        {
            UnshelveLocked(alarm, AlarmEvent.Unshelved, SystemUser, "one-shot shelve ends: alarm returned to normal", change.TimestampNs, ref notes);
        }
    }

    private AlarmRecord GetOrCreate(RuleDefinition rule, string equipmentId)
    {
        if (_byKey.TryGetValue((rule.Id, equipmentId), out AlarmRecord? alarm))
        {
            if (!ReferenceEquals(alarm.Rule, rule))
            {
                alarm.Rule = rule;
                alarm.Priority = rule.Priority;
            }

            return alarm;
        }

        alarm = new AlarmRecord(AlarmId(equipmentId, rule.Id), rule, equipmentId)
        {
            Suppressed = _suppressedEquipment.TryGetValue(equipmentId, out var applies) && (applies?.Invoke(rule) ?? true),
            Message = rule.Name,
        };
        _byKey.Add((rule.Id, equipmentId), alarm);
        _byId.Add(alarm.Id, alarm);
        return alarm;
    }

    private AlarmRecord Find(string alarmId) =>
        alarmId is not null && _byId.TryGetValue(alarmId, out AlarmRecord? alarm) ? alarm : throw new NotFoundException($"no alarm '{alarmId}'");

    private void ShelveLocked(AlarmRecord alarm, ShelvingState shelving, long? untilNs, string user, string reason, long nowNs)
    {
        AlarmStates previous = alarm.States;
        alarm.Shelving = shelving;
        alarm.ShelvedUntilNs = untilNs;
        alarm.ShelveReason = reason;
        alarm.ShelvedBy = user;
        Record(alarm, nowNs, AlarmEvent.Shelved, previous, user, reason);
    }

    private void UnshelveLocked(AlarmRecord alarm, AlarmEvent why, string user, string? comment, long nowNs, ref List<AlarmNotification>? notes)
    {
        AlarmStates previous = alarm.States;
        alarm.Shelving = ShelvingState.Unshelved;
        alarm.ShelvedUntilNs = null;
        alarm.ShelveReason = null;
        alarm.ShelvedBy = null;
        Record(alarm, nowNs, why, previous, user, comment);
        ReannunciateIfDue(alarm, nowNs, ref notes);
    }

    private static void ReannunciateIfDue(AlarmRecord alarm, long nowNs, ref List<AlarmNotification>? notes)
    {
        if (alarm.Annunciated && alarm.Active && alarm.Unacked)
        {
            alarm.RaisedAtNs = nowNs;
            alarm.EscalationLevel = 0;
            Notify(ref notes, AlarmNotificationKind.Raised, alarm, nowNs);
        }
    }

    private void Record(AlarmRecord alarm, long nowNs, AlarmEvent what, AlarmStates previous, string? user, string? comment, double? value = null)
    {
        alarm.LastChangeNs = nowNs;
        _journal.Append(new AlarmJournalEntry(++_sequence, nowNs, alarm.Id, alarm.Rule.Id, alarm.EquipmentId, alarm.Priority, what, previous, alarm.States, user, comment, value,
            alarm.Shelving, alarm.ShelvedUntilNs));
    }

    private static void Notify(ref List<AlarmNotification>? notes, AlarmNotificationKind kind, AlarmRecord alarm, long nowNs)
    {
        (notes ??= []).Add(new AlarmNotification(kind, alarm.Snapshot(), nowNs, alarm.EscalationLevel));
    }

    private void Deliver(List<AlarmNotification>? notes)
    {
        if (notes is null || _notify is null)
        {
            return;
        }

        foreach (AlarmNotification note in notes)
        {
            _notify(note);
        }
    }

    private void CheckNotShelved(AlarmRecord alarm)
    {
        if (alarm.Shelving != ShelvingState.Unshelved)
        {
            throw new ConflictException($"alarm '{alarm.Id}' is already shelved ({alarm.Shelving} by {alarm.ShelvedBy}: {alarm.ShelveReason})");
        }
    }

    private static void CheckUser(string user)
    {
        if (string.IsNullOrWhiteSpace(user) || user.Length > 200)
        {
            throw new InvalidInputException("a user (1-200 characters) is required for operator actions", "user");
        }
    }

    private void CheckText(string? text, string field, bool required)
    {
        if (required && string.IsNullOrWhiteSpace(text))
        {
            throw new InvalidInputException($"a {field} is required", field);
        }

        if (text is not null && text.Length > _options.MaxTextLength)
        {
            throw new InvalidInputException($"is longer than {_options.MaxTextLength} characters", field);
        }
    }

    internal static string Render(RuleDefinition rule, string equipmentId, double value)
    {
        string template = rule.Message ?? "{rule} on {equipment}";
        if (!template.Contains('{', StringComparison.Ordinal))
        {
            return template;
        }

        (string? tag, double? setpoint) = rule.Kind switch
        {
            RuleKind.Limit => (rule.Limit?.Tag, rule.Limit?.Setpoint),
            RuleKind.RateOfChange => (rule.RateOfChange?.Tag, rule.RateOfChange?.MaxRatePerSecond),
            RuleKind.StateDuration => (rule.StateDuration?.Tag, (double?)null),
            _ => ((string?)null, (double?)null),
        };
        return template
            .Replace("{equipment}", equipmentId, StringComparison.Ordinal)
            .Replace("{rule}", rule.Name, StringComparison.Ordinal)
            .Replace("{value}", value.ToString("G6", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{setpoint}", setpoint?.ToString("G6", CultureInfo.InvariantCulture) ?? string.Empty, StringComparison.Ordinal)
            .Replace("{tag}", tag ?? string.Empty, StringComparison.Ordinal);
    }

    private sealed class AlarmRecord(string id, RuleDefinition rule, string equipmentId)
    {
        public string Id { get; } = id;
        public RuleDefinition Rule { get; set; } = rule;
        public string EquipmentId { get; } = equipmentId;
        public AlarmPriority Priority { get; set; } = rule.Priority;
        public string Message { get; set; } = string.Empty;
        public bool Active { get; set; }
        public bool Unacked { get; set; }
        public ShelvingState Shelving { get; set; }
        public long? ShelvedUntilNs { get; set; }
        public string? ShelveReason { get; set; }
        public string? ShelvedBy { get; set; }
        public bool Suppressed { get; set; }
        public bool OutOfService { get; set; }
        public long ActiveSinceNs { get; set; }

        /// <summary>When the operator was last shown it (activation, or unshelve / unsuppress / return to service); escalation counts from here.</summary>
        public long RaisedAtNs { get; set; }
        public long LastChangeNs { get; set; }
        public double LastValue { get; set; } = double.NaN;
        public int EscalationLevel { get; set; }
        public List<AlarmComment> Comments { get; } = [];

        public bool Annunciated => Shelving == ShelvingState.Unshelved && !Suppressed && !OutOfService;

        public AlarmStates States =>
            (Active ? AlarmStates.Active : 0) | (Unacked ? AlarmStates.Unacknowledged : 0)
            | (Shelving != ShelvingState.Unshelved ? AlarmStates.Shelved : 0) | (Suppressed ? AlarmStates.SuppressedByDesign : 0)
            | (OutOfService ? AlarmStates.OutOfService : 0);

        public AlarmDisplayState DisplayState =>
            OutOfService ? AlarmDisplayState.OutOfService
            : Suppressed ? AlarmDisplayState.SuppressedByDesign
            : Shelving != ShelvingState.Unshelved ? AlarmDisplayState.Shelved
            : Active ? (Unacked ? AlarmDisplayState.Unacknowledged : AlarmDisplayState.Acknowledged)
            : Unacked ? AlarmDisplayState.ReturnToNormalUnacknowledged
            : AlarmDisplayState.Normal;

        public AlarmSnapshot Snapshot() => new(
            Id, Rule.Id, Rule.Name, EquipmentId, Priority, Message, States, DisplayState, Shelving, ShelvedUntilNs, ShelveReason, ShelvedBy,
            Active || Unacked ? ActiveSinceNs : null, LastChangeNs, LastValue, EscalationLevel, [.. Comments]);
    }
}
