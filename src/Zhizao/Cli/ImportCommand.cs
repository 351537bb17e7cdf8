using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Spectre.Console;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Cli;

/// <summary>`zhizao import FILE.csv`: streams a CSV file into a running node as JSON batches, with a progress bar.</summary>
internal static class ImportCommand
{
    public static Command Create(ClientOptions c)
    {
        var file = new Argument<FileInfo>("file") { Description = "CSV file: wide (timestamp,<tag>,<tag>...) or long (series,timestamp,value); see docs/INGEST.md" };
        var equipment = new Option<string?>("--equipment") { Description = "Prefix wide-format column names with this equipment id (columns are then its tags)" };
        var batch = new Option<int>("--batch") { Description = "Points per request", DefaultValueFactory = _ => 10_000 };
        var cmd = new Command("import", "Import a CSV file into the running node") { file, equipment, batch };
        cmd.SetAction(async (pr, ct) =>
        {
            var f = pr.GetValue(file)!;
            if (!f.Exists)
            {
                throw new CliException($"file '{f.FullName}' does not exist");
            }

            using var api = c.Connect(pr);
            var options = new CsvImportOptions { Equipment = pr.GetValue(equipment), BatchSize = Math.Clamp(pr.GetValue(batch), 1, 100_000) };
            var totals = new Totals();
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask($"importing {f.Name}", maxValue: Math.Max(1, f.Length));
                    await using var stream = f.OpenRead();
                    foreach (var b in CsvPointReader.ReadBatches(stream, options, (read, _) => task.Value = read))
                    {
                        totals.RowsRejected += b.RowsRejected;
                        foreach (var e in b.Errors)
                        {
                            totals.Report(e.Reason);
                        }

                        if (b.Samples.Count > 0)
                        {
                            await SendAsync(api, b.Samples, totals, ct);
                        }
                    }

                    task.Value = task.MaxValue;
                });

            AnsiConsole.MarkupLineInterpolated($"stored [green]{totals.Stored}[/] points; rejected [yellow]{totals.RowsRejected}[/] CSV rows and [yellow]{totals.PointsRejected}[/] points");
            foreach (string e in totals.FirstErrors)
            {
                AnsiConsole.MarkupLineInterpolated($"  [yellow]{e}[/]");
            }

            return totals.RowsRejected + totals.PointsRejected == 0 ? 0 : 3;
        });
        return cmd;
    }

    private static async Task SendAsync(ApiClient api, IReadOnlyList<Sample> samples, Totals totals, CancellationToken ct)
    {
        using var body = new MemoryStream();
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteStartArray("points");
            foreach (var s in samples)
            {
                w.WriteStartObject();
                w.WriteString("series", s.SeriesKey);
                w.WriteNumber("t", s.TimestampNs);
                switch (s.Value.Kind)
                {
                    case ValueKind.Float64:
                        w.WriteNumber("v", s.Value.AsDouble);
                        break;
                    case ValueKind.Int64:
                        w.WriteNumber("v", s.Value.AsInt64);
                        break;
                    case ValueKind.Bool:
                        w.WriteBoolean("v", s.Value.AsBool);
                        break;
                    default:
                        w.WriteString("v", s.Value.AsString);
                        break;
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var resp = await api.SendAsync(new HttpRequestMessage(HttpMethod.Post, "api/ingest/json") { Content = content }, ct, throwOnError: false);
        if (resp.StatusCode == HttpStatusCode.NoContent)
        {
            totals.Stored += samples.Count;
            return;
        }

        string text = await resp.Content.ReadAsStringAsync(ct);
        if (resp.StatusCode != HttpStatusCode.BadRequest)
        {
            throw new CliException($"{(int)resp.StatusCode} {resp.ReasonPhrase}: {text}");
        }

        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        int refused = root.TryGetProperty("linesRejected", out var r) ? r.GetInt32() : samples.Count;
        int storeRefused = root.TryGetProperty("pointsRefused", out var sr) ? sr.GetInt32() : 0;
        totals.Stored += samples.Count - refused - storeRefused;
        totals.PointsRejected += refused + storeRefused;
        bool listed = false;
        if (root.TryGetProperty("errors", out var errors))
        {
            foreach (var e in errors.EnumerateArray())
            {
                totals.Report(e.GetProperty("reason").GetString() ?? "rejected");
                listed = true;
            }
        }

        if (!listed && (root.TryGetProperty("message", out var m) || root.TryGetProperty("detail", out m)) && m.ValueKind == JsonValueKind.String)
        {
            totals.Report(m.GetString()!);
        }
    }

    private sealed class Totals
    {
        public long Stored;
        public long RowsRejected;
        public long PointsRejected;
        public List<string> FirstErrors { get; } = [];

        public void Report(string reason)
        {
            if (FirstErrors.Count < 20)
            {
                FirstErrors.Add(reason);
            }
        }
    }
}
