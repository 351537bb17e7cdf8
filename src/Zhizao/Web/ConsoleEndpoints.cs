using System.Globalization;
using System.Text;
using Zhizao.Alarms;
using Zhizao.Api;
using Zhizao.Core;
using Zhizao.Rules;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Web;

/// <summary>Endpoints the web console needs beyond the plain API: the plant overview in one call, and CSV export.</summary>
internal static class ConsoleEndpoints
{
    /// <summary>Most rows a CSV export writes; more asks the user for a bucket or a shorter range.</summary>
    public const int MaxExportPoints = 2_000_000;

    public static void MapConsoleEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/overview", (MetadataStore meta, ITimeSeriesStore store, AlarmService alarms) => TypedResults.Ok(BuildOverview(meta, store, alarms)))
            .WithTags("Console")
            .WithSummary("The plant at a glance: assets, each equipment's state (its 'state' tag: 0 down, 1 idle, 2 running) and alarm counts");

        app.MapGet("/api/export/csv", ExportCsvAsync)
            .WithTags("Console")
            .WithSummary("Series as CSV, one column per series and one row per timestamp (raw points, or bucket averages with ?bucket=1m)")
            .Produces(StatusCodes.Status200OK, contentType: "text/csv");
    }

    internal static Overview BuildOverview(MetadataStore meta, ITimeSeriesStore store, AlarmService alarms)
    {
        var snapshot = meta.Snapshot;
        var byEquipment = new Dictionary<string, (int Active, int Unacked, AlarmPriority? Highest)>(StringComparer.Ordinal);
        var byPriority = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int active = 0, unacked = 0;
        foreach (var a in alarms.Alarms.GetActiveAlarms())
        {
            bool annunciated = a.Active && a.Shelving == Rules.Alarms.ShelvingState.Unshelved && !a.SuppressedByDesign && !a.OutOfService;
            var c = byEquipment.GetValueOrDefault(a.EquipmentId);
            if (annunciated)
            {
                active++;
                c.Active++;
                byPriority[a.Priority.ToString()] = byPriority.GetValueOrDefault(a.Priority.ToString()) + 1;
                if (c.Highest is null || a.Priority < c.Highest)
                {
                    c.Highest = a.Priority;
                }
            }

            if (!a.Acknowledged)
            {
                unacked++;
                c.Unacked++;
            }

            byEquipment[a.EquipmentId] = c;
        }

        var equipment = new List<OverviewEquipment>();
        foreach (var asset in snapshot.Assets)
        {
            if (asset.Level != AssetLevel.Equipment)
            {
                continue;
            }

            int? state = null;
            long? stateTime = null;
            if (store.TryGetSeries(SeriesKey.ForTag(asset.Id, "state"), out var s) && store.TryGetLatest(s.Id, out var p) && p.Value.Kind is ValueKind.Int64 or ValueKind.Float64 or ValueKind.Bool)
            {
                state = (int)p.Value.AsDouble;
                stateTime = p.TimestampNs;
            }

            var c = byEquipment.GetValueOrDefault(asset.Id);
            equipment.Add(new OverviewEquipment(asset.Id, asset.Name, asset.ParentId, asset.TypeId, state, stateTime, c.Active, c.Unacked, c.Highest));
        }

        var stats = store.GetStats();
        return new Overview(snapshot.Assets, equipment, active, unacked, byPriority, stats.SeriesCount, stats.PointsInHead + stats.PointsInBlocks, Time.NowNs());
    }

    private static async Task ExportCsvAsync(HttpContext ctx, ITimeSeriesStore store, string[]? series, string? from, string? to, string? bucket)
    {
        if (series is not { Length: > 0 })
        {
            throw new InvalidInputException("name the series to export: ?series=KEY (repeatable)", "series");
        }

        if (series.Length > 100)
        {
            throw new InvalidInputException($"{series.Length} series asked for; a CSV export takes at most 100", "series");
        }

        var infos = new List<SeriesInfo>();
        foreach (string key in series)
        {
            infos.Add(store.TryGetSeries(key, out var s) ? s : throw new NotFoundException($"series '{key}' does not exist"));
        }

        long now = Time.NowNs();
        long t = TimeParam.Parse(to, now, "to", now);
        long f = TimeParam.Parse(from, t - (3600 * Time.NanosPerSecond), "from", now);
        if (f >= t)
        {
            throw new InvalidInputException($"from ({Time.ToIso(f)}) must be before to ({Time.ToIso(t)})", "from");
        }

        // gather every column first so a too-large request fails with 400 before any byte of CSV is sent
        var columns = new List<(long[] T, string[] V)>();
        long total = 0;
        if (bucket is not null)
        {
            long b = TimeParam.ParseDuration(bucket, "bucket");
            if ((t - f) / b > QueryEndpoints.MaxBuckets)
            {
                throw new InvalidInputException($"{(t - f) / b} buckets asked for; at most {QueryEndpoints.MaxBuckets}: use a larger bucket or a shorter range", "bucket");
            }

            foreach (var s in infos)
            {
                if (s.Kind == ValueKind.String)
                {
                    throw new InvalidInputException($"series '{s.Key}' holds strings; bucket averages need numbers: export it without ?bucket", "bucket");
                }

                var buckets = store.Aggregate(s.Id, f, t, b).Where(x => x.Count > 0).ToList();
                columns.Add(([.. buckets.Select(x => x.StartNs)], [.. buckets.Select(x => x.Avg.ToString("R", CultureInfo.InvariantCulture))]));
                total += buckets.Count;
            }
        }
        else
        {
            foreach (var s in infos)
            {
                var pts = store.ReadRange(s.Id, f, t, MaxExportPoints + 1);
                total += pts.Count;
                if (total > MaxExportPoints)
                {
                    throw new InvalidInputException($"more than {MaxExportPoints} points in this range; export a shorter range or averages with ?bucket=1m", "to");
                }

                columns.Add(([.. pts.Select(p => p.TimestampNs)], [.. pts.Select(p => Cell(p.Value))]));
            }
        }

        ctx.Response.ContentType = "text/csv; charset=utf-8";
        string name = infos.Count == 1 ? infos[0].Key.Replace('/', '_') : "zhizao-export";
        ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"{name}-{Time.ToDateTime(f):yyyyMMddTHHmmss}.csv\"";
        await using var w = new StreamWriter(ctx.Response.Body, new UTF8Encoding(false), 64 * 1024);
        await w.WriteAsync("time");
        foreach (var s in infos)
        {
            await w.WriteAsync(',');
            await w.WriteAsync(Quote(s.Key));
        }

        await w.WriteAsync('\n');
        var pos = new int[columns.Count];
        var line = new StringBuilder();
        while (true)
        {
            long next = long.MaxValue;
            for (int c = 0; c < columns.Count; c++)
            {
                if (pos[c] < columns[c].T.Length)
                {
                    next = Math.Min(next, columns[c].T[pos[c]]);
                }
            }

            if (next == long.MaxValue)
            {
                break;
            }

            line.Clear().Append(Time.ToIso(next));
            for (int c = 0; c < columns.Count; c++)
            {
                line.Append(',');
                if (pos[c] < columns[c].T.Length && columns[c].T[pos[c]] == next)
                {
                    line.Append(columns[c].V[pos[c]]);
                    pos[c]++;
                }
            }

            line.Append('\n');
            await w.WriteAsync(line, ctx.RequestAborted);
        }

        await w.FlushAsync(ctx.RequestAborted);
    }

    private static string Cell(TagValue v) => v.Kind switch
    {
        ValueKind.Float64 => v.AsDouble.ToString("R", CultureInfo.InvariantCulture),
        ValueKind.String => Quote(v.ToObject()?.ToString() ?? string.Empty),
        _ => Convert.ToString(v.ToObject(), CultureInfo.InvariantCulture) ?? string.Empty,
    };

    /// <summary>RFC 4180 quoting, and a leading apostrophe against spreadsheet formula injection.</summary>
    private static string Quote(string s)
    {
        if (s.Length > 0 && s[0] is '=' or '+' or '-' or '@' && !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            s = "'" + s;
        }

        return s.AsSpan().IndexOfAny(",\"\n\r") >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
    }
}

public sealed record OverviewEquipment(
    string Id, string Name, string? ParentId, string? TypeId, int? State, long? StateTimeNs, int ActiveAlarms, int Unacknowledged, AlarmPriority? HighestPriority);

public sealed record Overview(
    IReadOnlyList<Asset> Assets, IReadOnlyList<OverviewEquipment> Equipment, int ActiveAlarms, int Unacknowledged,
    IReadOnlyDictionary<string, int> ByPriority, int Series, long Points, long ServerTimeNs);
