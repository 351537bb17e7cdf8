using Microsoft.AspNetCore.Http.HttpResults;
using Zhizao.Api;
using Zhizao.Core;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Health;

/// <summary>Equipment health (models, health index, anomalies), work orders and ISO 22400 maintenance KPIs.</summary>
internal static class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/health").WithTags("Health and maintenance");
        g.MapGet("/", (HealthService h) => TypedResults.Ok(h.Status()))
            .WithSummary("Per equipment: its health model (what it was trained on), health index 0–100, the last anomaly");
        g.MapPost("/{equipmentId}/train", (HealthService h, string equipmentId, TrainRequest? body) =>
        {
            var (f, t) = Range(body?.From, body?.To, 3600);
            var m = h.Train(equipmentId, f, t);
            return TypedResults.Ok(new { m.Recipe, m.TrainingRows, threshold = m.Monitor.Threshold });
        }).WithSummary("Train the equipment's health model on a period in which it ran normally (default the last hour; {\"from\":\"now-24h\",\"to\":\"now\"})");
        g.MapDelete("/{equipmentId}/model", (HealthService h, string equipmentId) =>
        {
            h.DeleteModel(equipmentId);
            return TypedResults.NoContent();
        });
        g.MapGet("/{equipmentId}/backtest", (HealthService h, string equipmentId, string? from, string? to) =>
        {
            var (f, t) = Range(from, to, 86_400);
            return TypedResults.Ok(h.Backtest(equipmentId, f, t));
        }).WithSummary("Score a past period with the model without changing its live state: the anomalies it would have found");
        g.MapGet("/anomalies", (HealthService h, string? equipment) => TypedResults.Ok(h.Anomalies(equipment)))
            .WithSummary("Anomaly events, newest first, with the tags that contributed most");

        var r = app.MapGroup("/api/rul").WithTags("Health and maintenance");
        r.MapGet("/", (RulService rul) => TypedResults.Ok(rul.Status()))
            .WithSummary("Remaining-useful-life models per equipment type (what each was trained on) and each equipment's estimate with its P10–P90 band, in hours");
        r.MapPost("/{typeId}/train", (RulService rul, string typeId, RulTrainRequest? body) =>
        {
            var (f, t) = Range(body?.From, body?.To, 30 * 86_400);
            return TypedResults.Ok(rul.Train(typeId, f, t, body?.MinDownMinutes ?? 60));
        }).WithSummary("Train the remaining-useful-life model of an equipment type on the runs to failure of all its equipment in a period (default the last 30 days; a failure = down for at least minDownMinutes, default 60)");
        r.MapDelete("/{typeId}", (RulService rul, string typeId) =>
        {
            rul.DeleteModel(typeId);
            return TypedResults.NoContent();
        });
        r.MapGet("/{equipmentId}/backtest", (RulService rul, string equipmentId, string? from, string? to) =>
        {
            var (f, t) = Range(from, to, 7 * 86_400);
            return TypedResults.Ok(rul.Backtest(equipmentId, f, t));
        }).WithSummary("What the type's model would have estimated every 10 minutes of a past period, next to the true time to the next failure, with MAE and band coverage");

        var w = app.MapGroup("/api/workorders").WithTags("Health and maintenance");
        w.MapGet("/", (HealthService h, WorkOrderStatus? status) => TypedResults.Ok(h.WorkOrders().Where(x => status is null || x.Status == status).ToList()))
            .WithSummary("Work orders, newest first (?status=Open|Assigned|Done)");
        w.MapPost("/", Created<WorkOrder> (HealthService h, WorkOrderInput input) =>
        {
            long now = Time.NowNs();
            var order = h.SaveWorkOrder(new WorkOrder
            {
                Id = $"wo-{now / Time.NanosPerSecond}-{input.EquipmentId}",
                EquipmentId = input.EquipmentId ?? throw new InvalidInputException("equipmentId is required", "equipmentId"),
                Title = input.Title ?? "",
                Description = input.Description,
                Assignee = input.Assignee,
                Status = input.Status ?? (input.Assignee is null ? WorkOrderStatus.Open : WorkOrderStatus.Assigned),
                CreatedNs = now,
                UpdatedNs = now,
            });
            return TypedResults.Created($"/api/workorders/{order.Id}", order);
        }).WithSummary("Create a work order");
        w.MapPut("/{id}", (HealthService h, string id, WorkOrderInput input) =>
        {
            var old = h.GetWorkOrder(id);
            return TypedResults.Ok(h.SaveWorkOrder(old with
            {
                Title = input.Title ?? old.Title,
                Description = input.Description ?? old.Description,
                Assignee = input.Assignee ?? old.Assignee,
                Status = input.Status ?? old.Status,
                UpdatedNs = Time.NowNs(),
            }));
        }).WithSummary("Change a work order's status (Open, Assigned, Done), assignee, title or description");

        app.MapGet("/api/maintenance/kpis", (MetadataStore meta, ITimeSeriesStore store, string? equipment, string? from, string? to) =>
        {
            var (f, t) = Range(from, to, 7 * 86_400);
            var ids = equipment is not null
                ? [meta.GetAsset(equipment)?.Id ?? throw new NotFoundException($"equipment '{equipment}' does not exist")]
                : meta.Snapshot.Assets.Where(a => a.Level == AssetLevel.Equipment).Select(a => a.Id).Order(StringComparer.Ordinal).ToList();
            return TypedResults.Ok(ids.Select(id => MaintenanceKpis.Compute(store, id, f, t)).ToList());
        }).WithTags("Health and maintenance")
          .WithSummary("ISO 22400 maintenance KPIs from the state history: MTBF, MTTR, availability (default the last 7 days)");
    }

    private static (long From, long To) Range(string? from, string? to, long defaultSeconds)
    {
        long now = Time.NowNs();
        long t = TimeParam.Parse(to, now, "to", now);
        long f = TimeParam.Parse(from, t - (defaultSeconds * Time.NanosPerSecond), "from", now);
        if (f >= t)
        {
            throw new InvalidInputException($"from ({Time.ToIso(f)}) must be before to ({Time.ToIso(t)})", "from");
        }

        return (f, t);
    }
}

public sealed record WorkOrderInput(string? EquipmentId, string? Title, string? Description, string? Assignee, WorkOrderStatus? Status);
