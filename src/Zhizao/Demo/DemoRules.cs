using Zhizao.Core;
using Zhizao.Rules;

namespace Zhizao.Demo;

/// <summary>
/// Starter rules for the virtual factory's equipment types, saved on first start so a newcomer sees alarms from the
/// seeded wear and faults: vibration by ISO 10816 zones (alert 4.5 mm/s, trip 7.1 mm/s), hot bearings and windings,
/// machines down for more than 10 minutes, an oven zone far from its setpoint.
/// </summary>
internal static class DemoRules
{
    public static IEnumerable<RuleDefinition> For(IReadOnlyList<EquipmentType> types)
    {
        foreach (var type in types)
        {
            var tags = type.Tags.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            if (tags.Contains("state"))
            {
                yield return new RuleDefinition
                {
                    Id = $"{type.Id}-down-10min",
                    Name = "Down for more than 10 minutes",
                    EquipmentTypeId = type.Id,
                    Kind = RuleKind.StateDuration,
                    Priority = AlarmPriority.Medium,
                    Message = "{equipment} has been down for more than 10 minutes",
                    StateDuration = new StateDurationParameters { Tag = "state", State = "0", DurationSeconds = 600 },
                };
            }

            if (tags.Contains("vibration_rms"))
            {
                yield return Limit(type, "vibration-alert", "Vibration above ISO 10816 alert zone", "vibration_rms", LimitType.High, 4.5, 0.3, AlarmPriority.High, 10);
                yield return Limit(type, "vibration-trip", "Vibration above ISO 10816 trip zone", "vibration_rms", LimitType.HighHigh, 7.1, 0.3, AlarmPriority.Urgent, 5);
            }

            if (tags.Contains("bearing_temp"))
            {
                yield return Limit(type, "bearing-hot", "Bearing temperature high", "bearing_temp", LimitType.High, 65, 2, AlarmPriority.High, 30);
            }

            if (tags.Contains("winding_temp"))
            {
                yield return Limit(type, "winding-hot", "Winding temperature high", "winding_temp", LimitType.High, 120, 3, AlarmPriority.High, 30);
            }

            if (tags.Contains("zone1_temp") && tags.Contains("setpoint") && tags.Contains("state"))
            {
                yield return new RuleDefinition
                {
                    Id = $"{type.Id}-zone1-deviation",
                    Name = "Zone 1 far from setpoint while running",
                    EquipmentTypeId = type.Id,
                    Kind = RuleKind.Expression,
                    Priority = AlarmPriority.Medium,
                    OnDelaySeconds = 120,
                    Message = "{equipment}: zone 1 deviates from its setpoint",
                    Expression = "state == 2 and abs(zone1_temp - setpoint) > 40",
                };
            }
        }
    }

    private static RuleDefinition Limit(EquipmentType type, string id, string name, string tag, LimitType limit, double setpoint, double deadband, AlarmPriority priority, double onDelay) => new()
    {
        Id = $"{type.Id}-{id}",
        Name = name,
        EquipmentTypeId = type.Id,
        Kind = RuleKind.Limit,
        Priority = priority,
        OnDelaySeconds = onDelay,
        Message = "{equipment}: {tag} {value} above {setpoint}",
        Limit = new LimitParameters { Tag = tag, Type = limit, Setpoint = setpoint, Deadband = deadband },
    };
}
