using Zhizao.Core;
using Zhizao.Rules.Alarms;
using static Zhizao.Rules.Tests.TestModel;

namespace Zhizao.Rules.Tests;

public class AlarmManagerTests
{
    private const string Id = "p1:temp-high";
    private static readonly RuleDefinition Rule = HighTemperature();

    private readonly InMemoryAlarmJournal _journal = new();
    private readonly List<AlarmNotification> _notes = [];
    private readonly AlarmManager _alarms;

    public AlarmManagerTests()
    {
        _alarms = new AlarmManager(_journal, new AlarmOptions
        {
            EscalateAfter = new Dictionary<AlarmPriority, TimeSpan> { [AlarmPriority.High] = TimeSpan.FromMinutes(10) },
        }, _notes.Add);
    }

    private void Condition(bool active, double seconds, double value = 90, string equipment = "p1") =>
        _alarms.Apply(new ConditionChange(Rule, equipment, 0, active, value, At(seconds)));

    private AlarmSnapshot Alarm(string id = Id)
    {
        Assert.True(_alarms.TryGet(id, out AlarmSnapshot? alarm));
        return alarm!;
    }

    private AlarmJournalEntry LastEntry => _journal.ReadAll()[^1];

    [Fact]
    public void Raise_makes_an_active_unacknowledged_alarm_and_notifies()
    {
        Condition(true, 0, 91.5);
        AlarmSnapshot alarm = Alarm();
        Assert.Equal(AlarmDisplayState.Unacknowledged, alarm.State);
        Assert.Equal(AlarmStates.Active | AlarmStates.Unacknowledged, alarm.States);
        Assert.Equal(AlarmPriority.High, alarm.Priority);
        Assert.Equal("p1: temperature 91.5 above 80", alarm.Message);
        Assert.Equal(At(0), alarm.ActiveSinceNs);
        AlarmNotification note = Assert.Single(_notes);
        Assert.Equal(AlarmNotificationKind.Raised, note.Kind);
        AlarmJournalEntry entry = Assert.Single(_journal.ReadAll());
        Assert.Equal((AlarmEvent.Activated, AlarmStates.None, AlarmStates.Active | AlarmStates.Unacknowledged, 91.5), (entry.Event, entry.Previous, entry.Next, entry.Value));
        Assert.True(entry.IsAnnunciatedActivation);
        Assert.Equal(1, entry.Sequence);
    }

    [Fact]
    public void Repeated_active_condition_is_not_a_new_alarm()
    {
        Condition(true, 0);
        Condition(true, 1, 95);
        Assert.Single(_journal.ReadAll());
        Assert.Equal(95, Alarm().LastValue);
    }

    [Fact]
    public void Clear_while_unacknowledged_returns_to_normal_unacknowledged()
    {
        Condition(true, 0);
        Condition(false, 5, 70);
        AlarmSnapshot alarm = Alarm();
        Assert.Equal(AlarmDisplayState.ReturnToNormalUnacknowledged, alarm.State);
        Assert.Equal(AlarmStates.Unacknowledged, alarm.States);
        Assert.Single(_alarms.GetActiveAlarms());
        Assert.Equal((AlarmEvent.Cleared, AlarmStates.Unacknowledged), (LastEntry.Event, LastEntry.Next));
        Assert.Equal([AlarmNotificationKind.Raised, AlarmNotificationKind.Cleared], _notes.Select(n => n.Kind));
    }

    [Fact]
    public void Acknowledge_active_alarm_keeps_it_active_and_acknowledged()
    {
        Condition(true, 0);
        _alarms.Acknowledge(Id, "operator", At(10), "looking at it");
        AlarmSnapshot alarm = Alarm();
        Assert.Equal(AlarmDisplayState.Acknowledged, alarm.State);
        Assert.True(alarm.Acknowledged);
        Assert.Equal((AlarmEvent.Acknowledged, "operator", "looking at it"), (LastEntry.Event, LastEntry.User, LastEntry.Comment));
        Assert.Equal(AlarmNotificationKind.Acknowledged, _notes[^1].Kind);
        Condition(false, 20);
        Assert.Equal(AlarmDisplayState.Normal, Alarm().State);
        Assert.Empty(_alarms.GetActiveAlarms());
    }

    [Fact]
    public void Acknowledge_after_clear_returns_to_normal()
    {
        Condition(true, 0);
        Condition(false, 5);
        _alarms.Acknowledge(Id, "operator", At(10));
        Assert.Equal(AlarmDisplayState.Normal, Alarm().State);
        Assert.Equal((AlarmStates.Unacknowledged, AlarmStates.None), (LastEntry.Previous, LastEntry.Next));
        Assert.Empty(_alarms.GetActiveAlarms());
    }

    [Fact]
    public void Reactivation_after_acknowledge_needs_a_new_acknowledge()
    {
        Condition(true, 0);
        _alarms.Acknowledge(Id, "operator", At(1));
        Condition(false, 2);
        Condition(true, 3);
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm().State);
        Assert.Equal(At(3), Alarm().ActiveSinceNs);
    }

    [Fact]
    public void Acknowledging_an_acknowledged_alarm_is_rejected()
    {
        Condition(true, 0);
        _alarms.Acknowledge(Id, "operator", At(1));
        var e = Assert.Throws<ConflictException>(() => _alarms.Acknowledge(Id, "operator", At(2)));
        Assert.Equal("alarm 'p1:temp-high' is already acknowledged", e.Message);
        _alarms.Register(Rule, "p2");
        Assert.Throws<ConflictException>(() => _alarms.Acknowledge("p2:temp-high", "operator", At(2)));
    }

    [Fact]
    public void Unknown_alarms_and_missing_users_or_reasons_are_rejected()
    {
        Condition(true, 0);
        Assert.Equal("no alarm 'nope'", Assert.Throws<NotFoundException>(() => _alarms.Acknowledge("nope", "operator", At(1))).Message);
        Assert.Throws<InvalidInputException>(() => _alarms.Acknowledge(Id, " ", At(1)));
        Assert.Throws<InvalidInputException>(() => _alarms.Shelve(Id, "operator", "", At(1), At(100)));
        Assert.Throws<InvalidInputException>(() => _alarms.RemoveFromService(Id, "operator", " ", At(1)));
        Assert.Throws<InvalidInputException>(() => _alarms.AddComment(Id, "operator", new string('x', 5000), At(1)));
        Assert.Single(_journal.ReadAll());
    }

    [Fact]
    public void Timed_shelve_hides_the_alarm_until_it_expires_then_it_is_raised_again()
    {
        Condition(true, 0);
        _alarms.Shelve(Id, "operator", "sensor being replaced", At(10), At(3600));
        AlarmSnapshot shelved = Alarm();
        Assert.Equal(AlarmDisplayState.Shelved, shelved.State);
        Assert.Equal(ShelvingState.TimedShelved, shelved.Shelving);
        Assert.Equal(("operator", "sensor being replaced", At(3600)), (shelved.ShelvedBy, shelved.ShelveReason, shelved.ShelvedUntilNs));
        Assert.Equal(AlarmEvent.Shelved, LastEntry.Event);

        _alarms.Tick(At(3599));
        Assert.Equal(AlarmDisplayState.Shelved, Alarm().State);
        _notes.Clear();
        _alarms.Tick(At(3600));
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm().State);
        Assert.Equal((AlarmEvent.ShelveExpired, AlarmManager.SystemUser), (LastEntry.Event, LastEntry.User));
        Assert.Contains(_notes, n => n.Kind == AlarmNotificationKind.Raised);
    }

    [Fact]
    public void Unshelve_restores_the_alarm_at_once()
    {
        Condition(true, 0);
        _alarms.Shelve(Id, "operator", "noisy", At(1), At(100));
        _notes.Clear();
        _alarms.Unshelve(Id, "supervisor", At(5), "not acceptable");
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm().State);
        Assert.Equal((AlarmEvent.Unshelved, "supervisor"), (LastEntry.Event, LastEntry.User));
        Assert.Equal(AlarmNotificationKind.Raised, Assert.Single(_notes).Kind);
    }

    [Fact]
    public void Shelve_limits_and_invalid_shelving_operations_are_rejected()
    {
        Condition(true, 0);
        Assert.Throws<InvalidInputException>(() => _alarms.Shelve(Id, "operator", "r", At(10), At(10)));
        Assert.Throws<InvalidInputException>(() => _alarms.Shelve(Id, "operator", "r", At(10), At(10 + (25 * 3600))));
        Assert.Equal("alarm 'p1:temp-high' is not shelved", Assert.Throws<ConflictException>(() => _alarms.Unshelve(Id, "operator", At(10))).Message);
        _alarms.Shelve(Id, "operator", "r", At(10), At(20));
        Assert.Throws<ConflictException>(() => _alarms.Shelve(Id, "operator", "again", At(11), At(30)));
        Assert.Throws<ConflictException>(() => _alarms.ShelveOneShot(Id, "operator", "again", At(11)));
    }

    [Fact]
    public void Re_alarm_while_shelved_is_journaled_but_not_annunciated()
    {
        Condition(true, 0);
        _alarms.Acknowledge(Id, "operator", At(1));
        _alarms.Shelve(Id, "operator", "known issue", At(2), At(3600));
        _notes.Clear();
        Condition(false, 10);
        Condition(true, 20);
        Assert.Empty(_notes);
        AlarmSnapshot alarm = Alarm();
        Assert.Equal(AlarmDisplayState.Shelved, alarm.State);
        Assert.Equal(AlarmStates.Active | AlarmStates.Unacknowledged | AlarmStates.Shelved, alarm.States);
        Assert.False(LastEntry.IsAnnunciatedActivation);
        _alarms.Tick(At(3600));
        Assert.Equal(AlarmNotificationKind.Raised, Assert.Single(_notes).Kind);
        _alarms.Tick(At(3600 + 599));
        Assert.Single(_notes);
        _alarms.Tick(At(3600 + 600));
        Assert.Equal(AlarmNotificationKind.Escalated, _notes[^1].Kind);
    }

    [Fact]
    public void One_shot_shelve_ends_when_the_alarm_returns_to_normal()
    {
        Condition(true, 0);
        _alarms.ShelveOneShot(Id, "operator", "startup transient", At(1));
        Assert.Equal(ShelvingState.OneShotShelved, Alarm().Shelving);
        _notes.Clear();
        Condition(false, 30);
        AlarmSnapshot alarm = Alarm();
        Assert.Equal(ShelvingState.Unshelved, alarm.Shelving);
        Assert.Equal(AlarmDisplayState.ReturnToNormalUnacknowledged, alarm.State);
        Assert.Equal(AlarmEvent.Unshelved, LastEntry.Event);
        Assert.Empty(_notes);
        Condition(true, 40);
        Assert.Equal(AlarmNotificationKind.Raised, Assert.Single(_notes).Kind);
    }

    [Fact]
    public void One_shot_shelve_of_an_inactive_alarm_is_rejected()
    {
        _alarms.Register(Rule, "p1");
        Assert.Equal(AlarmDisplayState.Normal, Alarm().State);
        Assert.Throws<ConflictException>(() => _alarms.ShelveOneShot(Id, "operator", "r", At(0)));
    }

    [Fact]
    public void Suppression_by_design_hides_alarms_of_the_equipment_and_restores_them()
    {
        Condition(true, 0);
        Condition(true, 0, equipment: "p2");
        _notes.Clear();
        Assert.Equal(1, _alarms.SetSuppressedByDesign("p1", true, At(5), "machine down"));
        Assert.Equal(AlarmDisplayState.SuppressedByDesign, Alarm().State);
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm("p2:temp-high").State);
        Assert.Equal((AlarmEvent.Suppressed, "machine down"), (LastEntry.Event, LastEntry.Comment));
        Condition(false, 6);
        Condition(true, 7);
        Assert.Empty(_notes);
        Assert.Equal(1, _alarms.SetSuppressedByDesign("p1", false, At(8), "machine running"));
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm().State);
        Assert.Equal(AlarmNotificationKind.Raised, Assert.Single(_notes).Kind);
        Assert.Equal(0, _alarms.SetSuppressedByDesign("p1", false, At(9), "still running"));
    }

    [Fact]
    public void Suppression_applies_to_alarms_that_first_fire_later()
    {
        _alarms.SetSuppressedByDesign("p3", true, At(0), "line stopped");
        _alarms.Apply(new ConditionChange(Rule, "p3", 0, true, 90, At(1)));
        Assert.Equal(AlarmDisplayState.SuppressedByDesign, Alarm("p3:temp-high").State);
        Assert.Empty(_notes);
    }

    [Fact]
    public void Suppression_with_a_filter_leaves_the_rules_it_does_not_apply_to_annunciated()
    {
        var down = Rule with { Id = "down-long", Name = "Down long" };
        Condition(true, 0);
        _alarms.SetSuppressedByDesign("p1", true, At(1), "machine down", r => r.Id != "down-long");
        Assert.Equal(AlarmDisplayState.SuppressedByDesign, Alarm().State);
        _alarms.Apply(new ConditionChange(down, "p1", 0, true, 0, At(2))); // first fires while suppressed: still shown
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm("p1:down-long").State);

        // re-applied with a filter that now excludes the first rule too (e.g. after a restart): it comes back
        _alarms.SetSuppressedByDesign("p1", true, At(3), "machine down", _ => false);
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm().State);
    }

    [Fact]
    public void Out_of_service_alarm_is_not_annunciated_and_returns_to_service_raised()
    {
        _alarms.Register(Rule, "p1");
        _alarms.RemoveFromService(Id, "maintenance", "sensor calibration", At(0));
        Assert.Equal(AlarmDisplayState.OutOfService, Alarm().State);
        Assert.Throws<ConflictException>(() => _alarms.RemoveFromService(Id, "maintenance", "again", At(1)));
        Condition(true, 10);
        Assert.Empty(_notes);
        Assert.Equal(AlarmStates.Active | AlarmStates.Unacknowledged | AlarmStates.OutOfService, Alarm().States);
        _alarms.ReturnToService(Id, "maintenance", At(20), "calibrated");
        Assert.Equal(AlarmDisplayState.Unacknowledged, Alarm().State);
        Assert.Equal(AlarmEvent.ReturnedToService, LastEntry.Event);
        Assert.Equal(AlarmNotificationKind.Raised, Assert.Single(_notes).Kind);
        Assert.Equal("alarm 'p1:temp-high' is not out of service",
            Assert.Throws<ConflictException>(() => _alarms.ReturnToService(Id, "maintenance", At(21))).Message);
    }

    [Fact]
    public void Comments_are_kept_on_the_alarm_and_in_the_journal()
    {
        Condition(true, 0);
        _alarms.AddComment(Id, "operator", "called maintenance", At(5));
        AlarmComment comment = Assert.Single(Alarm().Comments);
        Assert.Equal(new AlarmComment(At(5), "operator", "called maintenance"), comment);
        Assert.Equal((AlarmEvent.Commented, "called maintenance"), (LastEntry.Event, LastEntry.Comment));
        Assert.Equal(LastEntry.Previous, LastEntry.Next);
    }

    [Fact]
    public void Unacknowledged_alarm_escalates_after_n_minutes_and_again_at_multiples()
    {
        Condition(true, 0);
        _alarms.Tick(At(599));
        Assert.DoesNotContain(_notes, n => n.Kind == AlarmNotificationKind.Escalated);
        _alarms.Tick(At(600));
        _alarms.Tick(At(700));
        AlarmNotification escalated = Assert.Single(_notes, n => n.Kind == AlarmNotificationKind.Escalated);
        Assert.Equal(1, escalated.EscalationLevel);
        _alarms.Tick(At(1200));
        Assert.Equal([1, 2], _notes.Where(n => n.Kind == AlarmNotificationKind.Escalated).Select(n => n.EscalationLevel));
        Assert.Equal(2, _journal.ReadAll().Count(e => e.Event == AlarmEvent.Escalated));
    }

    [Fact]
    public void Acknowledged_or_low_priority_alarms_do_not_escalate()
    {
        Condition(true, 0);
        _alarms.Acknowledge(Id, "operator", At(60));
        _alarms.Tick(At(3600));
        var low = Rule with { Id = "low", Priority = AlarmPriority.Low };
        _alarms.Apply(new ConditionChange(low, "p1", 0, true, 1, At(0)));
        _alarms.Tick(At(7200));
        Assert.DoesNotContain(_notes, n => n.Kind == AlarmNotificationKind.Escalated);
    }

    [Fact]
    public void Escalation_happens_once_when_repeat_is_off()
    {
        var alarms = new AlarmManager(_journal, new AlarmOptions { RepeatEscalation = false }, _notes.Add);
        alarms.Apply(new ConditionChange(Rule, "p1", 0, true, 90, At(0)));
        alarms.Tick(At(15 * 60));
        alarms.Tick(At(60 * 60));
        Assert.Single(_notes, n => n.Kind == AlarmNotificationKind.Escalated);
    }

    [Fact]
    public void Active_alarms_are_listed_most_urgent_first()
    {
        var urgent = Rule with { Id = "urgent", Priority = AlarmPriority.Urgent };
        var low = Rule with { Id = "low", Priority = AlarmPriority.Low };
        _alarms.Apply(new ConditionChange(low, "p1", 0, true, 1, At(0)));
        _alarms.Apply(new ConditionChange(urgent, "p1", 0, true, 1, At(1)));
        Condition(true, 2);
        Assert.Equal(["p1:urgent", "p1:temp-high", "p1:low"], _alarms.GetActiveAlarms().Select(a => a.Id));
        Assert.True(_alarms.IsConditionActive("urgent", "p1"));
        Assert.False(_alarms.IsConditionActive("urgent", "p2"));
    }

    [Fact]
    public void Journal_is_append_only_in_sequence_with_previous_and_new_states()
    {
        Condition(true, 0);
        _alarms.Acknowledge(Id, "operator", At(1));
        _alarms.Shelve(Id, "operator", "r", At(2), At(100));
        Condition(false, 3);
        _alarms.Unshelve(Id, "operator", At(4));
        IReadOnlyList<AlarmJournalEntry> entries = _journal.ReadAll();
        Assert.Equal([1L, 2, 3, 4, 5], entries.Select(e => e.Sequence));
        for (int i = 1; i < entries.Count; i++)
        {
            Assert.Equal(entries[i - 1].Next, entries[i].Previous);
        }

        Assert.Equal(3, _journal.Read(At(1), At(4)).Count);
    }

    [Fact]
    public void Engine_and_alarm_manager_work_together()
    {
        RuleEngine engine = Engine(HighTemperature(80, deadband: 2));
        var changes = new List<ConditionChange>();
        engine.Process("p1/temperature", At(0), TagValue.FromDouble(85), changes);
        engine.Process("p2/temperature", At(0), TagValue.FromDouble(85), changes);
        _alarms.Apply(changes);
        Assert.Equal(2, _alarms.GetActiveAlarms().Count);
        changes.Clear();
        engine.Process("p1/temperature", At(5), TagValue.FromDouble(70), changes);
        _alarms.Apply(changes);
        Assert.Equal(AlarmDisplayState.ReturnToNormalUnacknowledged, Alarm().State);
    }

    [Fact]
    public void Restore_rebuilds_alarms_from_the_journal_after_a_restart()
    {
        Condition(true, 0, 91);
        _alarms.AddComment(Id, "operator", "on it", At(1));
        _alarms.Shelve(Id, "operator", "sensor swap", At(2), At(600));
        Condition(true, 3, equipment: "p2");
        _alarms.Acknowledge("p2:temp-high", "operator", At(4));
        _alarms.SetSuppressedByDesign("p3", true, At(5), "line stopped");
        var removed = Rule with { Id = "removed" };
        _alarms.Apply(new ConditionChange(removed, "p1", 0, true, 1, At(6)));

        var journal = new InMemoryAlarmJournal();
        var restored = new AlarmManager(journal);
        restored.Restore(_journal.ReadAll(), id => id == Rule.Id ? Rule : null);
        Assert.True(restored.TryGet(Id, out AlarmSnapshot? p1));
        Assert.Equal(AlarmDisplayState.Shelved, p1!.State);
        Assert.Equal((ShelvingState.TimedShelved, At(600), "sensor swap", "operator"), (p1.Shelving, p1.ShelvedUntilNs, p1.ShelveReason, p1.ShelvedBy));
        Assert.Equal(At(0), p1.ActiveSinceNs);
        Assert.Equal("on it", Assert.Single(p1.Comments).Text);
        Assert.Equal(Alarm().Message, p1.Message);
        Assert.True(restored.TryGet("p2:temp-high", out AlarmSnapshot? p2));
        Assert.Equal(AlarmDisplayState.Acknowledged, p2!.State);
        Assert.False(restored.TryGet("p1:removed", out _));
        Assert.True(restored.IsConditionActive("temp-high", "p1"));

        // Equipment-level suppression with no alarm to journal it is live caller state: re-apply after a restart.
        restored.Apply(new ConditionChange(Rule, "p3", 0, true, 90, At(7)));
        Assert.Equal(_journal.ReadAll()[^1].Sequence + 1, journal.ReadAll()[0].Sequence);
        restored.Tick(At(600));
        Assert.Equal(AlarmDisplayState.Unacknowledged, restored.GetAll().Single(a => a.Id == Id).State);
        Assert.Throws<ConflictException>(() => restored.Restore([], _ => Rule));
    }

    [Fact]
    public void Retire_clears_and_removes_alarms_of_deleted_rules()
    {
        Condition(true, 0);
        _alarms.Register(Rule, "p2");
        _notes.Clear();
        Assert.Equal(1, _alarms.Retire((rule, equipment) => equipment != "p1", At(10)));
        Assert.False(_alarms.TryGet(Id, out _));
        Assert.True(_alarms.TryGet("p2:temp-high", out _));
        Assert.Equal([AlarmEvent.Cleared, AlarmEvent.Retired], _journal.ReadAll().Skip(1).Select(e => e.Event));
        Assert.Equal(AlarmNotificationKind.Cleared, Assert.Single(_notes).Kind);

        var restored = new AlarmManager(new InMemoryAlarmJournal());
        restored.Restore(_journal.ReadAll(), _ => Rule);
        Assert.False(restored.TryGet(Id, out _));
    }
}
