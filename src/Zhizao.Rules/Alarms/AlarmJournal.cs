using System.Text.Json.Serialization;

namespace Zhizao.Rules.Alarms;

/// <summary>
/// The independent state bits of an alarm (OPC UA Part 9 AlarmConditionType: ActiveState, AckedState (inverted),
/// ShelvingState, SuppressedState, OutOfServiceState).
/// </summary>
[Flags]
[JsonConverter(typeof(JsonStringEnumConverter<AlarmStates>))]
public enum AlarmStates
{
    None = 0,
    Active = 1,
    Unacknowledged = 2,
    Shelved = 4,
    SuppressedByDesign = 8,
    OutOfService = 16,
}

/// <summary>The ISA-18.2 state an operator sees (the state-transition diagram's boxes A–G).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AlarmDisplayState>))]
public enum AlarmDisplayState
{
    /// <summary>A: inactive and acknowledged.</summary>
    Normal = 0,
    /// <summary>B: active, not acknowledged.</summary>
    Unacknowledged = 1,
    /// <summary>C: active, acknowledged.</summary>
    Acknowledged = 2,
    /// <summary>D: returned to normal before it was acknowledged.</summary>
    ReturnToNormalUnacknowledged = 3,
    /// <summary>E: shelved by an operator (timed or one-shot).</summary>
    Shelved = 4,
    /// <summary>F: suppressed by design (e.g. the equipment is down).</summary>
    SuppressedByDesign = 5,
    /// <summary>G: removed from service (maintenance).</summary>
    OutOfService = 6,
}

[JsonConverter(typeof(JsonStringEnumConverter<ShelvingState>))]
public enum ShelvingState
{
    Unshelved = 0,
    TimedShelved = 1,
    OneShotShelved = 2,
}

[JsonConverter(typeof(JsonStringEnumConverter<AlarmEvent>))]
public enum AlarmEvent
{
    Activated = 1,
    Cleared = 2,
    Acknowledged = 3,
    Shelved = 4,
    Unshelved = 5,
    ShelveExpired = 6,
    Suppressed = 7,
    Unsuppressed = 8,
    RemovedFromService = 9,
    ReturnedToService = 10,
    Commented = 11,
    Escalated = 12,
    /// <summary>The alarm's rule or equipment was removed; the alarm is gone from the manager.</summary>
    Retired = 13,
}

/// <summary>
/// One line of the append-only alarm journal: every transition and every operator action, with the state bits before
/// and after. <see cref="Shelving"/> and <see cref="ShelvedUntilNs"/> are the shelving state after the entry, so the
/// journal alone can rebuild the alarms (<see cref="AlarmManager.Restore"/>).
/// </summary>
public sealed record AlarmJournalEntry(
    long Sequence,
    long TimestampNs,
    string AlarmId,
    string RuleId,
    string EquipmentId,
    AlarmPriority Priority,
    AlarmEvent Event,
    AlarmStates Previous,
    AlarmStates Next,
    string? User = null,
    string? Comment = null,
    double? Value = null,
    ShelvingState Shelving = ShelvingState.Unshelved,
    long? ShelvedUntilNs = null)
{
    /// <summary>An activation an operator was shown (not shelved, suppressed or out of service).</summary>
    public bool IsAnnunciatedActivation =>
        Event == AlarmEvent.Activated && (Next & (AlarmStates.Shelved | AlarmStates.SuppressedByDesign | AlarmStates.OutOfService)) == 0;
}

/// <summary>Where the alarm manager appends its journal. The server persists it; <see cref="InMemoryAlarmJournal"/> is for tests and the embedded default.</summary>
public interface IAlarmJournal
{
    /// <summary>Appends; called under the alarm manager's lock, in sequence order. Must not throw for valid entries.</summary>
    void Append(AlarmJournalEntry entry);

    /// <summary>Entries with <c>fromNs &lt;= TimestampNs &lt; toNs</c>, in sequence order.</summary>
    IReadOnlyList<AlarmJournalEntry> Read(long fromNs, long toNs);
}

public sealed class InMemoryAlarmJournal : IAlarmJournal
{
    private readonly Lock _gate = new();
    private readonly List<AlarmJournalEntry> _entries = [];

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    public void Append(AlarmJournalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        lock (_gate)
        {
            _entries.Add(entry);
        }
    }

    public IReadOnlyList<AlarmJournalEntry> Read(long fromNs, long toNs)
    {
        lock (_gate)
        {
            return _entries.Where(e => e.TimestampNs >= fromNs && e.TimestampNs < toNs).ToList();
        }
    }

    public IReadOnlyList<AlarmJournalEntry> ReadAll()
    {
        lock (_gate)
        {
            return [.. _entries];
        }
    }
}
