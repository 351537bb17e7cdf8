using Zhizao.Core;
using static Zhizao.Rules.Tests.TestModel;

namespace Zhizao.Rules.Tests;

public class OtherRuleKindTests
{
    private static RuleDefinition Rate(double max, double window, RateDirection direction = RateDirection.Either, double deadband = 0) => new()
    {
        Id = "temp-rate",
        Name = "Temperature rising fast",
        EquipmentTypeId = "press",
        Kind = RuleKind.RateOfChange,
        RateOfChange = new RateOfChangeParameters { Tag = "temperature", MaxRatePerSecond = max, WindowSeconds = window, Direction = direction, Deadband = deadband },
    };

    private static RuleDefinition Down(double minutes) => new()
    {
        Id = "down-long",
        Name = "Down for more than 10 min",
        EquipmentTypeId = "press",
        Kind = RuleKind.StateDuration,
        StateDuration = new StateDurationParameters { Tag = "state", State = "0", DurationSeconds = minutes * 60 },
    };

    [Fact]
    public void Rate_of_change_activates_when_the_slope_over_the_window_exceeds_the_maximum()
    {
        RuleEngine engine = Engine(Rate(max: 1, window: 10));
        // 0.5 per second for 20 s, then 2 per second.
        var samples = Enumerable.Range(0, 21).Select(i => ((double)i, 20 + (0.5 * i)))
            .Concat(Enumerable.Range(1, 20).Select(i => (20.0 + i, 30 + (2.0 * i))))
            .ToArray();
        List<ConditionChange> changes = Feed(engine, "p1/temperature", samples);
        ConditionChange change = Assert.Single(changes);
        Assert.True(change.Active);
        // reference sample at t-10: rate = (30+2k - (20+0.5(10+k)... )) / 10 > 1 first at k = 4 (t = 24): (38 - 27) / 10 = 1.1
        Assert.Equal(At(24), change.TimestampNs);
    }

    [Fact]
    public void Rate_of_change_respects_direction_and_clears_when_the_slope_falls_back()
    {
        RuleEngine rising = Engine(Rate(max: 1, window: 4, RateDirection.Rising));
        (double, double)[] falling = [(0, 100), (1, 95), (2, 90), (3, 85), (4, 80), (5, 75), (6, 70)];
        Assert.Empty(Feed(rising, "p1/temperature", falling));

        RuleEngine either = Engine(Rate(max: 1, window: 4, RateDirection.Either, deadband: 0.5));
        List<ConditionChange> changes = Feed(either, "p1/temperature", [.. falling, (7, 70), (8, 70), (9, 70), (10, 70), (11, 70)]);
        Assert.Equal([true, false], changes.Select(c => c.Active));
        Assert.Equal(At(2), changes[0].TimestampNs);
        // At t=9 the reference is t=5 (75): |70-75|/4 = 1.25 > 0.5 still active; at t=10 the reference is 70: rate 0.
        Assert.Equal(At(10), changes[1].TimestampNs);
    }

    [Fact]
    public void Rate_of_change_ignores_out_of_order_samples()
    {
        RuleEngine engine = Engine(Rate(max: 1, window: 2));
        Assert.Empty(Feed(engine, "p1/temperature", (0, 0), (2, 1), (1, 100), (4, 2)));
    }

    [Fact]
    public void State_duration_fires_on_advance_after_ten_minutes_down_without_new_samples()
    {
        RuleEngine engine = Engine(Down(10));
        Assert.True(engine.TryGetSeriesId("p1/state", out int state));
        var changes = new List<ConditionChange>();
        engine.Process(state, At(0), TagValue.FromInt64(1), changes);
        engine.Process(state, At(60), TagValue.FromInt64(0), changes);
        engine.Advance(At(60 + 599), changes);
        Assert.Empty(changes);
        engine.Advance(At(60 + 600), changes);
        ConditionChange change = Assert.Single(changes);
        Assert.True(change.Active);
        Assert.Equal(At(660), change.TimestampNs);

        engine.Process(state, At(700), TagValue.FromInt64(0), changes);
        Assert.Single(changes);
        engine.Process(state, At(710), TagValue.FromInt64(2), changes);
        Assert.Equal([true, false], changes.Select(c => c.Active));
    }

    [Fact]
    public void State_duration_resets_when_the_state_leaves_before_the_duration()
    {
        RuleEngine engine = Engine(Down(10));
        Assert.True(engine.TryGetSeriesId("p1/state", out int state));
        var changes = new List<ConditionChange>();
        engine.Process(state, At(0), TagValue.FromInt64(0), changes);
        engine.Process(state, At(300), TagValue.FromInt64(1), changes);
        engine.Process(state, At(400), TagValue.FromInt64(0), changes);
        engine.Advance(At(900), changes);
        Assert.Empty(changes);
        engine.Advance(At(1000), changes);
        Assert.Equal(At(1000), Assert.Single(changes).TimestampNs);
    }

    [Fact]
    public void State_duration_matches_string_states_and_negation()
    {
        var notAuto = new RuleDefinition
        {
            Id = "manual-long",
            Name = "Not in auto for 1 min",
            EquipmentTypeId = "press",
            Kind = RuleKind.StateDuration,
            StateDuration = new StateDurationParameters { Tag = "mode", State = "auto", Negate = true, DurationSeconds = 60 },
        };
        RuleEngine engine = Engine(notAuto);
        Assert.True(engine.TryGetSeriesId("p2/mode", out int mode));
        var changes = new List<ConditionChange>();
        engine.Process(mode, At(0), TagValue.FromString("auto"), changes);
        engine.Process(mode, At(10), TagValue.FromString("manual"), changes);
        engine.Process(mode, At(80), TagValue.FromString("manual"), changes);
        ConditionChange change = Assert.Single(changes);
        Assert.Equal(At(70), change.TimestampNs);
        Assert.Equal("p2", change.EquipmentId);
    }

    [Fact]
    public void Expression_rule_evaluates_over_several_tags_once_all_have_values()
    {
        var rule = new RuleDefinition
        {
            Id = "overload",
            Name = "Overload",
            EquipmentTypeId = "press",
            Kind = RuleKind.Expression,
            Expression = "running and pressure > 200 and mode == \"auto\"",
        };
        RuleEngine engine = Engine(rule);
        Assert.Equal(3, engine.Instances[0].SeriesKeys.Count);
        var changes = new List<ConditionChange>();
        Assert.True(engine.Process("p1/pressure", At(0), TagValue.FromDouble(250), changes));
        Assert.True(engine.Process("p1/running", At(1), TagValue.FromBool(true), changes));
        Assert.Empty(changes); // mode not seen yet: not evaluated
        engine.Process("p1/mode", At(2), TagValue.FromString("auto"), changes);
        Assert.True(Assert.Single(changes).Active);
        engine.Process("p2/pressure", At(3), TagValue.FromDouble(250), changes);
        engine.Process("p1/running", At(4), TagValue.FromBool(false), changes);
        Assert.Equal([true, false], changes.Select(c => c.Active));
        Assert.All(changes, c => Assert.Equal("p1", c.EquipmentId));
    }

    [Fact]
    public void Expression_rule_with_on_delay_fires_on_advance()
    {
        var rule = new RuleDefinition
        {
            Id = "hot-and-fast",
            Name = "Hot and fast",
            EquipmentTypeId = "press",
            Kind = RuleKind.Expression,
            Expression = "temperature > 80 and speed > 1000",
            OnDelaySeconds = 5,
        };
        RuleEngine engine = Engine(rule);
        var changes = new List<ConditionChange>();
        engine.Process("p1/temperature", At(0), TagValue.FromDouble(90), changes);
        engine.Process("p1/speed", At(1), TagValue.FromDouble(1500), changes);
        engine.Advance(At(5), changes);
        Assert.Empty(changes);
        engine.Advance(At(6), changes);
        Assert.Equal(At(6), Assert.Single(changes).TimestampNs);
    }
}
