using Zhizao.Core;

namespace Zhizao.Rules.Tests;

/// <summary>A small plant: equipment type "press" with tags of every kind, two presses and one oven.</summary>
internal static class TestModel
{
    public const long S = Time.NanosPerSecond;
    public const long T0 = 1_767_225_600L * S;

    public static readonly EquipmentType Press = new()
    {
        Id = "press",
        Name = "Hydraulic press",
        Tags =
        [
            new TagDefinition { Name = "temperature", Unit = "degC" },
            new TagDefinition { Name = "pressure", Unit = "bar" },
            new TagDefinition { Name = "state", DataType = ValueKind.Int64 },
            new TagDefinition { Name = "mode", DataType = ValueKind.String },
            new TagDefinition { Name = "running", DataType = ValueKind.Bool },
            new TagDefinition { Name = "speed" },
        ],
    };

    public static readonly EquipmentType Oven = new()
    {
        Id = "oven",
        Name = "Oven",
        Tags = [new TagDefinition { Name = "temperature" }],
    };

    public static readonly Asset[] Assets =
    [
        new() { Id = "plant", Name = "Plant", Level = AssetLevel.Site },
        new() { Id = "p1", Name = "Press 1", Level = AssetLevel.Equipment, ParentId = "plant", TypeId = "press" },
        new() { Id = "p2", Name = "Press 2", Level = AssetLevel.Equipment, ParentId = "plant", TypeId = "press" },
        new() { Id = "o1", Name = "Oven 1", Level = AssetLevel.Equipment, ParentId = "plant", TypeId = "oven" },
    ];

    public static RuleDefinition HighTemperature(double setpoint = 80, double deadband = 0, double onDelay = 0, double offDelay = 0) => new()
    {
        Id = "temp-high",
        Name = "Temperature high",
        EquipmentTypeId = "press",
        Kind = RuleKind.Limit,
        Priority = AlarmPriority.High,
        Message = "{equipment}: {tag} {value} above {setpoint}",
        OnDelaySeconds = onDelay,
        OffDelaySeconds = offDelay,
        Limit = new LimitParameters { Tag = "temperature", Type = LimitType.High, Setpoint = setpoint, Deadband = deadband },
    };

    public static RuleEngine Engine(params RuleDefinition[] rules) => RuleEngine.Compile(rules, [Press, Oven], Assets);

    /// <summary>Feeds samples of one series at whole seconds after <see cref="T0"/>; returns the changes.</summary>
    public static List<ConditionChange> Feed(RuleEngine engine, string series, params (double Seconds, double Value)[] samples)
    {
        var changes = new List<ConditionChange>();
        Assert.True(engine.TryGetSeriesId(series, out int id), $"no rule reads {series}");
        foreach ((double seconds, double value) in samples)
        {
            engine.Process(id, T0 + (long)(seconds * S), TagValue.FromDouble(value), changes);
        }

        return changes;
    }

    public static long At(double seconds) => T0 + (long)(seconds * S);
}
