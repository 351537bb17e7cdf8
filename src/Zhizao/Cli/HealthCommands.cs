using System.CommandLine;
using System.Net.Http.Json;
using Spectre.Console;
using Zhizao.Api;
using Zhizao.Core;
using Zhizao.Health;

namespace Zhizao.Cli;

/// <summary>`zhizao health ...`: health models, remaining useful life and work orders of a running node.</summary>
internal static class HealthCommands
{
    public static Command Create(ClientOptions c)
    {
        var cmd = new Command("health", "Equipment health: health index, remaining useful life, model training, work orders");

        var status = new Command("status", "Health index, last anomaly and remaining useful life of every equipment");
        status.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var health = await api.GetAsync<List<HealthStatus>>("api/health", ct);
            var rul = (await api.GetAsync<List<RulModelStatus>>("api/rul", ct)).SelectMany(m => m.Estimates).ToDictionary(e => e.EquipmentId);
            var table = new Table().AddColumns("equipment", "health index", "remaining useful life", "last anomaly", "model");
            foreach (var h in health)
            {
                string life = rul.TryGetValue(h.EquipmentId, out var e)
                    ? e.AtCap ? $">= {e.Hours:0} h" : $"{e.Hours:0.0} h ({e.LowerHours:0.0}-{e.UpperHours:0.0})"
                    : "-";
                string anomaly = h.LastAnomaly is { } a ? $"{Time.ToIso(a.StartNs)} {string.Join(", ", a.Contributors.Select(x => x.Tag))}" : "";
                table.AddRow(Markup.Escape(h.EquipmentId), h.HealthIndex is { } hi ? hi.ToString("0") : "-", life, Markup.Escape(anomaly),
                    Markup.Escape(h.Model is { } m ? $"{m.Tags.Count} tags, {h.TrainingRows} rows" : h.ModelError ?? "none"));
            }

            AnsiConsole.Write(table);
            return 0;
        });

        var equipment = new Argument<string>("equipment") { Description = "Equipment id" };
        var from = new Option<string>("--from") { Description = "Start of the training period: ISO 8601, Unix ns or now-24h", DefaultValueFactory = _ => "now-24h" };
        var to = new Option<string>("--to") { Description = "End of the training period", DefaultValueFactory = _ => "now" };
        var train = new Command("train", "Train an equipment's health model on a period in which it ran normally") { equipment, from, to };
        train.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            string body = await api.SendAsync(HttpMethod.Post, $"api/health/{Uri.EscapeDataString(pr.GetValue(equipment)!)}/train",
                JsonContent.Create(new TrainRequest(pr.GetValue(from), pr.GetValue(to)), options: ModelFormats.Json), ct);
            AnsiConsole.MarkupLineInterpolated($"[green]trained[/] {pr.GetValue(equipment)}: {body}");
            return 0;
        });

        var type = new Argument<string>("type") { Description = "Equipment type id (e.g. pump)" };
        var rulFrom = new Option<string>("--from") { Description = "Start of the period holding the runs to failure", DefaultValueFactory = _ => "now-30d" };
        var rulTo = new Option<string>("--to") { Description = "End of the period", DefaultValueFactory = _ => "now" };
        var minDown = new Option<double>("--min-down") { Description = "A stop counts as a failure when it lasts at least this many minutes", DefaultValueFactory = _ => 60 };
        var rulTrain = new Command("rul-train", "Train the remaining-useful-life model of an equipment type on the runs to failure of all its equipment") { type, rulFrom, rulTo, minDown };
        rulTrain.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var resp = await api.SendAsync(HttpMethod.Post, $"api/rul/{Uri.EscapeDataString(pr.GetValue(type)!)}/train",
                JsonContent.Create(new RulTrainRequest(pr.GetValue(rulFrom), pr.GetValue(rulTo), pr.GetValue(minDown)), options: ModelFormats.Json), ct);
            var s = System.Text.Json.JsonSerializer.Deserialize<RulModelStatus>(resp, ModelFormats.Json)!;
            AnsiConsole.MarkupLineInterpolated($"[green]trained[/] {s.TypeId}: {s.TrainingRuns} runs to failure, {s.TrainingCycles} ten-minute cycles, tags {string.Join(", ", s.Recipe?.Tags ?? [])}");
            foreach (var e in s.Estimates)
            {
                AnsiConsole.MarkupLineInterpolated($"  {e.EquipmentId}: {e.Hours:0.0} h ({e.LowerHours:0.0}-{e.UpperHours:0.0}){(e.AtCap ? " no wear seen" : "")}");
            }

            return 0;
        });

        var workorders = new Command("workorders", "List work orders, newest first");
        workorders.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var table = new Table().AddColumns("id", "status", "equipment", "title", "assignee", "created (UTC)");
            foreach (var w in await api.GetAsync<List<WorkOrder>>("api/workorders", ct))
            {
                table.AddRow(Markup.Escape(w.Id), w.Status.ToString(), Markup.Escape(w.EquipmentId), Markup.Escape(w.Title), Markup.Escape(w.Assignee ?? ""), Time.ToIso(w.CreatedNs));
            }

            AnsiConsole.Write(table);
            return 0;
        });

        cmd.Subcommands.Add(status);
        cmd.Subcommands.Add(train);
        cmd.Subcommands.Add(rulTrain);
        cmd.Subcommands.Add(workorders);
        return cmd;
    }
}
