using Zhizao.Rules.Alarms;
using static Zhizao.Rules.Tests.TestModel;

namespace Zhizao.Rules.Tests;

public class AlarmKpiTests
{
    private const long Minute = 60 * S;
    private readonly List<AlarmJournalEntry> _entries = [];
    private long _sequence;

    private void Activation(string equipment, string rule, long at, AlarmPriority priority = AlarmPriority.Low, AlarmStates extra = AlarmStates.None) =>
        _entries.Add(new AlarmJournalEntry(++_sequence, at, $"{equipment}:{rule}", rule, equipment, priority, AlarmEvent.Activated,
            AlarmStates.None, AlarmStates.Active | AlarmStates.Unacknowledged | extra));

    private void Clear(string equipment, string rule, long at) =>
        _entries.Add(new AlarmJournalEntry(++_sequence, at, $"{equipment}:{rule}", rule, equipment, AlarmPriority.Low, AlarmEvent.Cleared,
            AlarmStates.Active, AlarmStates.None));

    private static string Console(string equipment) => equipment.StartsWith("l1-", StringComparison.Ordinal) ? "line-1" : "line-2";

    [Fact]
    public void Flood_periods_are_found_per_console_and_merged_across_consecutive_windows()
    {
        // line-1: 12 alarms in minutes 10-19, 15 in minutes 20-29, 3 in 30-39: one flood 10..30 min with 27 activations.
        for (int i = 0; i < 12; i++)
        {
            Activation("l1-m" + i, "r", T0 + (10 * Minute) + (i * 30 * S));
        }

        for (int i = 0; i < 15; i++)
        {
            Activation("l1-m" + i, "r", T0 + (20 * Minute) + (i * 30 * S));
        }

        for (int i = 0; i < 3; i++)
        {
            Activation("l1-m" + i, "r", T0 + (30 * Minute) + (i * Minute));
        }

        // line-2: 10 alarms in one window is not a flood (more than 10 is).
        for (int i = 0; i < 10; i++)
        {
            Activation("l2-m" + i, "r", T0 + (i * S));
        }

        AlarmKpiReport report = AlarmKpis.Compute(_entries, T0, T0 + (60 * Minute), Console);
        FloodPeriod flood = Assert.Single(report.Floods);
        Assert.Equal(new FloodPeriod("line-1", T0 + (10 * Minute), T0 + (30 * Minute), 27), flood);
        ConsoleAlarmRate line1 = report.Consoles.Single(c => c.Console == "line-1");
        Assert.Equal(30, line1.Activations);
        Assert.Equal(5.0, line1.AveragePerWindow);
        Assert.Equal(15, line1.MaxPerWindow);
        Assert.Equal(100.0 * 2 / 6, line1.PercentTimeInFlood, 6);
        Assert.Equal([0, 12, 15, 3, 0, 0], line1.Windows.Select(w => w.Activations));
        ConsoleAlarmRate line2 = report.Consoles.Single(c => c.Console == "line-2");
        Assert.Empty(line2.Floods);
        Assert.Equal(10, line2.MaxPerWindow);
        Assert.Equal(40, report.Activations);
    }

    [Fact]
    public void Chattering_alarms_activate_three_times_within_a_minute()
    {
        Activation("l1-a", "r", T0);
        Clear("l1-a", "r", T0 + (10 * S));
        Activation("l1-a", "r", T0 + (20 * S));
        Clear("l1-a", "r", T0 + (30 * S));
        Activation("l1-a", "r", T0 + (59 * S));
        // three activations but spread over more than a minute
        Activation("l1-b", "r", T0);
        Activation("l1-b", "r", T0 + (40 * S));
        Activation("l1-b", "r", T0 + (80 * S));
        // shelved activations still count as chattering
        for (int i = 0; i < 5; i++)
        {
            Activation("l1-c", "r", T0 + (i * 5 * S), extra: AlarmStates.Shelved);
        }

        AlarmKpiReport report = AlarmKpis.Compute(_entries, T0, T0 + (10 * Minute), Console);
        Assert.Equal(
            [new ChatteringAlarm("l1-c:r", "l1-c", 5, 5), new ChatteringAlarm("l1-a:r", "l1-a", 3, 3)],
            report.Chattering);
        Assert.Equal(6, report.Activations);
    }

    [Fact]
    public void Stale_alarms_are_active_for_more_than_24_hours()
    {
        long day = 24 * 60 * Minute;
        Activation("l1-a", "old", T0);
        Activation("l1-a", "cleared", T0);
        Clear("l1-a", "cleared", T0 + Minute);
        Activation("l1-a", "recent", T0 + day);
        AlarmKpiReport report = AlarmKpis.Compute(_entries, T0 + day, T0 + day + (10 * Minute), Console);
        StaleAlarm stale = Assert.Single(report.Stale);
        Assert.Equal("l1-a:old", stale.AlarmId);
        Assert.Equal(TimeSpan.FromMinutes((24 * 60) + 10), stale.ActiveFor);
    }

    [Fact]
    public void Priority_distribution_counts_annunciated_activations_against_targets()
    {
        Activation("l1-a", "u", T0, AlarmPriority.Urgent);
        Activation("l1-a", "h", T0 + S, AlarmPriority.High);
        Activation("l1-a", "l1", T0 + (2 * S), AlarmPriority.Low);
        Activation("l1-a", "l2", T0 + (3 * S), AlarmPriority.Low);
        Activation("l1-a", "sup", T0 + (4 * S), AlarmPriority.Low, AlarmStates.SuppressedByDesign);
        AlarmKpiReport report = AlarmKpis.Compute(_entries, T0, T0 + (10 * Minute), Console);
        Assert.Equal([25.0, 25.0, 0.0, 50.0], report.Priorities.Select(p => p.Percent));
        Assert.Equal(AlarmPriority.Urgent, report.Priorities[0].Priority);
        Assert.Equal(79, report.Priorities[3].TargetPercent);
        Assert.Equal(2, report.Targets.ManageablePerWindow);
        Assert.Equal(4, report.Activations);
        Assert.Equal(4, report.MostFrequent.Count);
    }

    [Fact]
    public void Kpis_from_a_real_alarm_manager_journal()
    {
        var journal = new InMemoryAlarmJournal();
        var alarms = new AlarmManager(journal);
        for (int i = 0; i < 12; i++)
        {
            alarms.Apply(new ConditionChange(HighTemperature(), "l1-p" + i, 0, true, 90, T0 + (i * S)));
        }

        AlarmKpiReport report = AlarmKpis.Compute(journal.ReadAll(), T0, T0 + (10 * Minute), Console);
        Assert.Equal(12, report.Activations);
        Assert.Single(report.Floods);
        Assert.Equal(100, report.Priorities.Single(p => p.Priority == AlarmPriority.High).Percent);
    }

    [Fact]
    public void Empty_period_is_rejected()
    {
        Assert.Throws<Zhizao.Core.InvalidInputException>(() => AlarmKpis.Compute(_entries, T0, T0, Console));
    }
}
