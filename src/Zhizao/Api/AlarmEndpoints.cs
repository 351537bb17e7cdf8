using Microsoft.AspNetCore.Http.HttpResults;
using Zhizao.Alarms;
using Zhizao.Core;
using Zhizao.Rules;
using Zhizao.Rules.Alarms;
using Zhizao.Storage.Metadata;

namespace Zhizao.Api;

/// <summary>Rules (attached to equipment types) and ISA-18.2 alarms: the operator actions, the journal and the KPIs.</summary>
internal static class AlarmEndpoints
{
    public static void MapAlarmEndpoints(this IEndpointRouteBuilder app)
    {
        var rules = app.MapGroup("/api/rules").WithTags("Rules");
        rules.MapGet("/", (AlarmService s) => TypedResults.Ok(s.Rules)).WithSummary("All rules");
        rules.MapGet("/problems", (AlarmService s) => TypedResults.Ok(s.Problems)).WithSummary("Saved rules that no longer fit their equipment type");
        rules.MapGet("/{id}", Results<Ok<RuleDefinition>, NotFound> (AlarmService s, string id) =>
            s.GetRule(id) is { } r ? TypedResults.Ok(r) : TypedResults.NotFound());
        rules.MapPost("/", Created<RuleDefinition> (AlarmService s, RuleDefinition rule) =>
        {
            if (s.GetRule(rule.Id) is not null)
            {
                throw new ConflictException($"rule '{rule.Id}' already exists; use PUT /api/rules/{rule.Id} to change it");
            }

            return TypedResults.Created($"/api/rules/{rule.Id}", s.SaveRule(rule));
        }).WithSummary("Create a rule; it is parsed and type-checked against its equipment type (400 names field and position)");
        rules.MapPut("/{id}", Ok<RuleDefinition> (AlarmService s, string id, RuleDefinition rule) =>
        {
            if (rule.Id != id)
            {
                throw new InvalidInputException($"body id '{rule.Id}' differs from the URL's '{id}'", "id");
            }

            return TypedResults.Ok(s.SaveRule(rule));
        });
        rules.MapDelete("/{id}", NoContent (AlarmService s, string id) =>
        {
            s.DeleteRule(id);
            return TypedResults.NoContent();
        });
        rules.MapPost("/validate", Ok<IReadOnlyList<RuleError>> (MetadataStore meta, RuleDefinition rule) =>
            TypedResults.Ok(RuleValidator.Validate(rule, meta.GetType(rule.EquipmentTypeId))))
            .WithSummary("Check a rule without saving it: the list of problems (empty when valid)");

        var alarms = app.MapGroup("/api/alarms").WithTags("Alarms");
        alarms.MapGet("/", (AlarmService s, bool? all) => TypedResults.Ok(all == true ? s.Alarms.GetAll() : s.Alarms.GetActiveAlarms()))
            .WithSummary("Alarms that are active or unacknowledged, most urgent first (?all=true: every known alarm)");
        alarms.MapGet("/{id}", Results<Ok<AlarmSnapshot>, NotFound> (AlarmService s, string id) =>
            s.Alarms.TryGet(id, out var a) ? TypedResults.Ok(a) : TypedResults.NotFound());
        alarms.MapPost("/{id}/ack", (AlarmService s, string id, AlarmAction a) => Act(s, id, () => s.Alarms.Acknowledge(id, User(a), Time.NowNs(), a.Comment)))
            .WithSummary("Acknowledge");
        alarms.MapPost("/{id}/shelve", (AlarmService s, string id, ShelveAction a) => Act(s, id, () =>
        {
            long now = Time.NowNs();
            string reason = a.Reason ?? throw new InvalidInputException("a reason is required to shelve an alarm", "reason");
            if (a.Minutes is double m)
            {
                s.Alarms.Shelve(id, User(a.User), reason, now, now + (long)(m * 60e9));
            }
            else
            {
                s.Alarms.ShelveOneShot(id, User(a.User), reason, now);
            }
        })).WithSummary("Shelve for N minutes ({\"minutes\":30,\"reason\":...}) or one-shot until it clears (no minutes)");
        alarms.MapPost("/{id}/unshelve", (AlarmService s, string id, AlarmAction a) => Act(s, id, () => s.Alarms.Unshelve(id, User(a), Time.NowNs(), a.Comment)));
        alarms.MapPost("/{id}/comment", (AlarmService s, string id, AlarmAction a) =>
            Act(s, id, () => s.Alarms.AddComment(id, User(a), a.Comment ?? throw new InvalidInputException("comment is required", "comment"), Time.NowNs())));
        alarms.MapPost("/{id}/out-of-service", (AlarmService s, string id, AlarmAction a) =>
            Act(s, id, () => s.Alarms.RemoveFromService(id, User(a), a.Comment ?? throw new InvalidInputException("a reason (comment) is required", "comment"), Time.NowNs())));
        alarms.MapPost("/{id}/return-to-service", (AlarmService s, string id, AlarmAction a) => Act(s, id, () => s.Alarms.ReturnToService(id, User(a), Time.NowNs(), a.Comment)));

        alarms.MapGet("/journal", (SqliteAlarmJournal journal, string? from, string? to, int? limit) =>
        {
            long now = Time.NowNs();
            long t = TimeParam.Parse(to, now + 1, "to", now);
            long f = TimeParam.Parse(from, t - (86_400 * Time.NanosPerSecond), "from", now);
            var entries = journal.Read(f, t);
            int n = Math.Clamp(limit ?? 1000, 1, 100_000);
            return TypedResults.Ok(entries.Count > n ? entries.Skip(entries.Count - n).ToList() : entries);
        }).WithSummary("The append-only alarm journal (newest last; default the last 24 h, at most ?limit entries)");

        alarms.MapGet("/kpis", (SqliteAlarmJournal journal, MetadataStore meta, string? from, string? to) =>
        {
            long now = Time.NowNs();
            long t = TimeParam.Parse(to, now, "to", now);
            long f = TimeParam.Parse(from, t - (86_400 * Time.NanosPerSecond), "from", now);
            var assets = meta.Snapshot.AssetsById;
            return TypedResults.Ok(AlarmKpis.Compute(journal.Read(f - (86_400 * Time.NanosPerSecond), t), f, t, eq => ConsoleOf(eq, assets)));
        }).WithSummary("Alarm-health KPIs per console (= line): rate per 10 min, floods, chattering, stale, priority distribution");
    }

    /// <summary>An operator console watches a line: the nearest Line (or Area) above the equipment.</summary>
    private static string ConsoleOf(string equipmentId, System.Collections.Frozen.FrozenDictionary<string, Asset> assets)
    {
        string? id = equipmentId;
        while (id is not null && assets.TryGetValue(id, out var a))
        {
            if (a.Level is AssetLevel.Line or AssetLevel.Area)
            {
                return a.Id;
            }

            id = a.ParentId;
        }

        return "unassigned";
    }

    private static string User(AlarmAction a) => User(a.User);

    private static string User(string? user) => string.IsNullOrWhiteSpace(user) ? "operator" : user;

    private static Ok<AlarmSnapshot> Act(AlarmService s, string id, Action action)
    {
        action();
        return s.Alarms.TryGet(id, out var a) ? TypedResults.Ok(a) : throw new NotFoundException($"alarm '{id}' does not exist");
    }
}

public sealed record AlarmAction(string? User, string? Comment);

public sealed record ShelveAction(string? User, string? Reason, double? Minutes);
