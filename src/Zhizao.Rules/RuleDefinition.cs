using System.Text.Json.Serialization;

namespace Zhizao.Rules;

/// <summary>ISA-18.2 alarm priority, most urgent first.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AlarmPriority>))]
public enum AlarmPriority
{
    Urgent = 0,
    High = 1,
    Medium = 2,
    Low = 3,
}

[JsonConverter(typeof(JsonStringEnumConverter<RuleKind>))]
public enum RuleKind
{
    /// <summary>Value above (High, HighHigh) or below (Low, LowLow) a setpoint, with deadband. See <see cref="LimitParameters"/>.</summary>
    Limit = 1,
    /// <summary>Change per second over a window above a maximum. See <see cref="RateOfChangeParameters"/>.</summary>
    RateOfChange = 2,
    /// <summary>A tag in (or not in) a state for longer than a duration. See <see cref="StateDurationParameters"/>.</summary>
    StateDuration = 3,
    /// <summary>A Bool expression over tags of the equipment. See <see cref="RuleDefinition.Expression"/>.</summary>
    Expression = 4,
}

[JsonConverter(typeof(JsonStringEnumConverter<LimitType>))]
public enum LimitType
{
    HighHigh = 1,
    High = 2,
    Low = 3,
    LowLow = 4,
}

[JsonConverter(typeof(JsonStringEnumConverter<RateDirection>))]
public enum RateDirection
{
    Either = 0,
    Rising = 1,
    Falling = 2,
}

/// <summary>
/// A rule attached to an equipment type: every machine of the type gets its own instance (its own state and alarm).
/// Exactly one of the parameter blocks matching <see cref="Kind"/> is set. Serialisable with System.Text.Json
/// (enums as strings); validated by <see cref="RuleValidator"/> before it is saved or compiled.
/// </summary>
public sealed record RuleDefinition
{
    /// <summary>Slug (letters, digits, '-', '_', '.'), unique among rules.</summary>
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string EquipmentTypeId { get; init; }
    public required RuleKind Kind { get; init; }
    public AlarmPriority Priority { get; init; } = AlarmPriority.Medium;

    /// <summary>Alarm text; placeholders <c>{equipment}</c>, <c>{rule}</c>, <c>{value}</c>, <c>{setpoint}</c>, <c>{tag}</c>.</summary>
    public string? Message { get; init; }
    public bool Enabled { get; init; } = true;

    /// <summary>The condition must hold this long (by sample time or <see cref="RuleEngine.Advance"/>) before it activates.</summary>
    public double OnDelaySeconds { get; init; }

    /// <summary>The condition must be gone this long before it clears.</summary>
    public double OffDelaySeconds { get; init; }

    public LimitParameters? Limit { get; init; }
    public RateOfChangeParameters? RateOfChange { get; init; }
    public StateDurationParameters? StateDuration { get; init; }

    /// <summary>For <see cref="RuleKind.Expression"/>: a Bool expression, e.g. <c>pressure &gt; 8 and not running</c>.</summary>
    public string? Expression { get; init; }
}

/// <summary>
/// High: active when value &gt; setpoint, clears when value &lt;= setpoint − deadband.
/// Low: active when value &lt; setpoint, clears when value &gt;= setpoint + deadband.
/// </summary>
public sealed record LimitParameters
{
    public required string Tag { get; init; }
    public required LimitType Type { get; init; }
    public required double Setpoint { get; init; }
    public double Deadband { get; init; }
}

/// <summary>
/// Active when the change per second over <see cref="WindowSeconds"/> exceeds <see cref="MaxRatePerSecond"/>
/// (in the <see cref="Direction"/>); clears when it is back below by <see cref="Deadband"/>.
/// </summary>
public sealed record RateOfChangeParameters
{
    public required string Tag { get; init; }
    public required double MaxRatePerSecond { get; init; }
    public double WindowSeconds { get; init; } = 60;
    public RateDirection Direction { get; init; } = RateDirection.Either;
    public double Deadband { get; init; }
}

/// <summary>
/// Active when <see cref="Tag"/> equals <see cref="State"/> (or differs, with <see cref="Negate"/>) continuously for
/// <see cref="DurationSeconds"/>; e.g. "state == 'down' for more than 10 min". <see cref="State"/> is written as text and
/// parsed by the tag's data type ("0", "1.5", "true", "down").
/// </summary>
public sealed record StateDurationParameters
{
    public required string Tag { get; init; }
    public required string State { get; init; }
    public bool Negate { get; init; }
    public required double DurationSeconds { get; init; }
}
