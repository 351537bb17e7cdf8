using Zhizao.Core;
using static Zhizao.Rules.Tests.TestModel;

namespace Zhizao.Rules.Tests;

public class LimitRuleTests
{
    [Fact]
    public void High_limit_activates_above_setpoint_and_clears_below_it()
    {
        RuleEngine engine = Engine(HighTemperature(80));
        List<ConditionChange> changes = Feed(engine, "p1/temperature", (0, 70), (1, 80), (2, 81), (3, 85), (4, 79));
        Assert.Equal(2, changes.Count);
        Assert.True(changes[0].Active);
        Assert.Equal(At(2), changes[0].TimestampNs);
        Assert.Equal(81, changes[0].Value);
        Assert.Equal("p1", changes[0].EquipmentId);
        Assert.Equal("temp-high", changes[0].Rule.Id);
        Assert.False(changes[1].Active);
        Assert.Equal(At(4), changes[1].TimestampNs);
    }

    [Fact]
    public void Deadband_suppresses_chatter_around_the_setpoint()
    {
        RuleEngine noDeadband = Engine(HighTemperature(80));
        (double, double)[] noisy = [(0, 79.5), (1, 80.5), (2, 79.8), (3, 80.3), (4, 79.6), (5, 80.4), (6, 77.9)];
        Assert.Equal(6, Feed(noDeadband, "p1/temperature", noisy).Count);

        RuleEngine withDeadband = Engine(HighTemperature(80, deadband: 2));
        List<ConditionChange> changes = Feed(withDeadband, "p1/temperature", noisy);
        Assert.Equal([true, false], changes.Select(c => c.Active));
        Assert.Equal(At(1), changes[0].TimestampNs);
        Assert.Equal(At(6), changes[1].TimestampNs);
    }

    [Fact]
    public void Low_limit_clears_only_above_setpoint_plus_deadband()
    {
        var rule = new RuleDefinition
        {
            Id = "pressure-low",
            Name = "Pressure low",
            EquipmentTypeId = "press",
            Kind = RuleKind.Limit,
            Limit = new LimitParameters { Tag = "pressure", Type = LimitType.LowLow, Setpoint = 2, Deadband = 0.5 },
        };
        List<ConditionChange> changes = Feed(Engine(rule), "p1/pressure", (0, 3), (1, 1.9), (2, 2.2), (3, 2.4), (4, 2.5));
        Assert.Equal([true, false], changes.Select(c => c.Active));
        Assert.Equal(At(4), changes[1].TimestampNs);
    }

    [Fact]
    public void On_delay_ignores_short_spikes()
    {
        RuleEngine engine = Engine(HighTemperature(80, onDelay: 5));
        List<ConditionChange> changes = Feed(engine, "p1/temperature", (0, 70), (1, 95), (2, 96), (3, 70), (4, 99), (6, 70));
        Assert.Empty(changes);
        Assert.Equal(0, engine.PendingCount);
    }

    [Fact]
    public void On_delay_activates_once_the_condition_has_held_for_the_delay()
    {
        RuleEngine engine = Engine(HighTemperature(80, onDelay: 5));
        List<ConditionChange> changes = Feed(engine, "p1/temperature", (0, 90), (2, 91), (4, 92), (6, 93));
        ConditionChange change = Assert.Single(changes);
        Assert.True(change.Active);
        Assert.Equal(At(5), change.TimestampNs);
    }

    [Fact]
    public void Off_delay_keeps_the_condition_active_through_short_dips()
    {
        RuleEngine engine = Engine(HighTemperature(80, offDelay: 10));
        List<ConditionChange> changes = Feed(engine, "p1/temperature", (0, 90), (1, 70), (5, 90), (6, 70), (12, 70), (17, 70));
        Assert.Equal([true, false], changes.Select(c => c.Active));
        Assert.Equal(At(16), changes[1].TimestampNs);
    }

    [Fact]
    public void Advance_fires_a_pending_on_delay_without_new_samples()
    {
        RuleEngine engine = Engine(HighTemperature(80, onDelay: 30));
        Assert.Empty(Feed(engine, "p1/temperature", (0, 90)));
        var changes = new List<ConditionChange>();
        engine.Advance(At(29), changes);
        Assert.Empty(changes);
        engine.Advance(At(31), changes);
        ConditionChange change = Assert.Single(changes);
        Assert.Equal(At(30), change.TimestampNs);
        Assert.Equal(90, change.Value);
        engine.Advance(At(60), changes);
        Assert.Single(changes);
    }

    [Fact]
    public void Two_machines_of_a_type_get_independent_state()
    {
        RuleEngine engine = Engine(HighTemperature(80));
        Assert.Equal(2, engine.Instances.Count);
        Assert.Equal(["p1", "p2"], engine.Instances.Select(i => i.EquipmentId));
        Assert.False(engine.TryGetSeriesId("o1/temperature", out _));

        List<ConditionChange> p1 = Feed(engine, "p1/temperature", (0, 90));
        List<ConditionChange> p2 = Feed(engine, "p2/temperature", (0, 70), (1, 75));
        Assert.Single(p1);
        Assert.Empty(p2);
        Assert.True(engine.IsActive(p1[0].InstanceId));
        Assert.False(engine.IsActive(engine.Instances.Single(i => i.EquipmentId == "p2").InstanceId));
        ConditionChange second = Assert.Single(Feed(engine, "p2/temperature", (2, 95)));
        Assert.Equal("p2", second.EquipmentId);
    }

    [Fact]
    public void Disabled_rules_are_left_out_and_invalid_ones_are_reported()
    {
        RuleDefinition disabled = HighTemperature() with { Id = "off", Enabled = false };
        RuleDefinition broken = HighTemperature() with { Id = "broken", Limit = new LimitParameters { Tag = "temprature", Type = LimitType.High, Setpoint = 1 } };
        RuleEngine engine = Engine(HighTemperature(), disabled, broken);
        Assert.All(engine.Instances, i => Assert.Equal("temp-high", i.Rule.Id));
        RuleProblem problem = Assert.Single(engine.Problems);
        Assert.Equal("broken", problem.RuleId);
        Assert.Contains("did you mean 'temperature'", problem.ToString());
    }

    [Fact]
    public void Series_can_be_looked_up_by_span_and_unknown_series_are_ignored()
    {
        RuleEngine engine = Engine(HighTemperature());
        var changes = new List<ConditionChange>();
        Assert.True(engine.Process("p1/temperature".AsSpan(), At(0), TagValue.FromDouble(99), changes));
        Assert.False(engine.Process("p1/unknown".AsSpan(), At(0), TagValue.FromDouble(99), changes));
        Assert.Single(changes);
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.Process(engine.SeriesCount, At(1), TagValue.FromDouble(1), changes));
    }

    [Fact]
    public void Initially_active_state_lets_a_reloaded_engine_clear_an_active_condition()
    {
        RuleEngine engine = RuleEngine.Compile([HighTemperature()], [Press], Assets, (rule, equipment) => equipment == "p1");
        Assert.Empty(Feed(engine, "p1/temperature", (0, 90)));
        ConditionChange change = Assert.Single(Feed(engine, "p1/temperature", (1, 50)));
        Assert.False(change.Active);
    }

    [Fact]
    public void Steady_state_processing_does_not_allocate()
    {
        RuleEngine engine = Engine(HighTemperature(80, deadband: 1, onDelay: 2));
        Assert.True(engine.TryGetSeriesId("p1/temperature", out int id));
        var changes = new List<ConditionChange>(1024);
        for (int i = 0; i < 1000; i++)
        {
            engine.Process(id, At(i), TagValue.FromDouble(i % 10 < 5 ? 70 : 90), changes);
        }

        changes.Clear();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1000; i < 1200; i++)
        {
            engine.Process(id, At(i), TagValue.FromDouble(i % 10 < 5 ? 70 : 90), changes);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEmpty(changes);
    }
}
