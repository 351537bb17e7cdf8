using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Zhizao.Alarms;
using Zhizao.Core;
using Zhizao.Storage;

namespace Zhizao.Web;

/// <summary>
/// <c>GET /api/live</c>: server-sent events for the console. Events: <c>hello</c> (once), <c>values</c> (the tracked
/// series whose latest point changed, at most every <see cref="ValueInterval"/>), <c>alarms</c> (snapshots of alarms
/// that changed, as soon as the journal records the change), <c>resync</c> (this browser fell behind: re-read the
/// alarm list) and a comment line every 15 s to keep proxies from closing the stream.
/// </summary>
/// <remarks>
/// Back-pressure: values are sampled from the store's latest points when the connection is ready to send, so nothing
/// queues for them; alarm ids queue in a small bounded queue per connection (<see cref="LiveHub"/>). A browser that
/// stops reading blocks only its own loop.
/// </remarks>
internal static class LiveEndpoints
{
    public static readonly TimeSpan ValueInterval = TimeSpan.FromMilliseconds(500);
    public const int MaxTrackedSeries = 5_000;
    public const int MaxNames = 500;
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Reresolve = TimeSpan.FromSeconds(5);

    public static void MapLiveEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/live", HandleAsync)
            .WithTags("Live")
            .WithSummary("Server-sent events: changed latest values of the named series, equipment or tag names; alarm changes")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
    }

    private static async Task HandleAsync(
        HttpContext ctx, LiveHub hub, ITimeSeriesStore store, AlarmService alarms, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, IHostApplicationLifetime lifetime,
        string[]? series, string[]? equipment, string[]? tag)
    {
        int asked = (series?.Length ?? 0) + (equipment?.Length ?? 0) + (tag?.Length ?? 0);
        if (asked > MaxNames)
        {
            throw new InvalidInputException($"{asked} series, equipment and tag names asked for; at most {MaxNames} (each connection tracks at most {MaxTrackedSeries} series)", "series");
        }

        var options = json.Value.SerializerOptions;
        // ends when the browser goes away or the node shuts down (a stream left open would hold shutdown for 30 s)
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        var ct = linked.Token;
        ctx.Response.ContentType = "text/event-stream; charset=utf-8";
        ctx.Response.Headers.CacheControl = "no-cache, no-transform";
        ctx.Response.Headers["X-Accel-Buffering"] = "no";
        ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var sub = hub.Subscribe();
        var body = ctx.Response.Body;
        var tracked = new Dictionary<int, (string Key, long LastNs)>();
        var values = new List<LiveValue>();
        var changedAlarms = new List<object>();
        long nextResolve = 0, nextValues = 0, nextHeartbeat = Environment.TickCount64 + (long)Heartbeat.TotalMilliseconds;
        Task<bool>? alarmWait = null;

        try
        {
            await SendAsync(body, "hello", new { serverTimeNs = Time.NowNs(), intervalMs = (int)ValueInterval.TotalMilliseconds }, options, ct);
            while (!ct.IsCancellationRequested)
            {
                long now = Environment.TickCount64;
                bool sent = false;
                if (sub.TakeOverflow())
                {
                    await SendAsync(body, "resync", new { reason = "alarm changes arrived faster than this connection read them" }, options, ct);
                    sent = true;
                }

                changedAlarms.Clear();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (sub.Alarms.TryRead(out string? id))
                {
                    if (seen.Add(id))
                    {
                        changedAlarms.Add(alarms.Alarms.TryGet(id, out var a) ? a : new { id, retired = true });
                    }
                }

                if (changedAlarms.Count > 0)
                {
                    await SendAsync(body, "alarms", changedAlarms, options, ct);
                    sent = true;
                }

                if (now >= nextResolve)
                {
                    Resolve(store, series, equipment, tag, tracked);
                    nextResolve = now + (long)Reresolve.TotalMilliseconds;
                }

                if (now >= nextValues)
                {
                    values.Clear();
                    foreach (var (id, entry) in tracked)
                    {
                        if (store.TryGetLatest(id, out var p) && p.TimestampNs != entry.LastNs)
                        {
                            tracked[id] = (entry.Key, p.TimestampNs);
                            values.Add(new LiveValue(entry.Key, p.TimestampNs, p.Value.ToObject()));
                        }
                    }

                    if (values.Count > 0)
                    {
                        await SendAsync(body, "values", values, options, ct);
                        sent = true;
                    }

                    nextValues = now + (long)ValueInterval.TotalMilliseconds;
                }

                if (sent)
                {
                    nextHeartbeat = now + (long)Heartbeat.TotalMilliseconds;
                }
                else if (now >= nextHeartbeat)
                {
                    await body.WriteAsync(": ping\n\n"u8.ToArray(), ct);
                    await body.FlushAsync(ct);
                    nextHeartbeat = now + (long)Heartbeat.TotalMilliseconds;
                }

                alarmWait ??= sub.Alarms.WaitToReadAsync(ct).AsTask();
                long waitMs = Math.Max(1, nextValues - Environment.TickCount64);
                var winner = await Task.WhenAny(alarmWait, Task.Delay(TimeSpan.FromMilliseconds(waitMs), ct));
                if (winner == alarmWait)
                {
                    alarmWait = null;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // the browser went away
        }
        catch (IOException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static void Resolve(ITimeSeriesStore store, string[]? series, string[]? equipment, string[]? tag, Dictionary<int, (string Key, long LastNs)> tracked)
    {
        void Track(SeriesInfo s)
        {
            if (tracked.Count < MaxTrackedSeries)
            {
                tracked.TryAdd(s.Id, (s.Key, long.MinValue));
            }
        }

        foreach (string key in series ?? [])
        {
            if (store.TryGetSeries(key, out var s))
            {
                Track(s);
            }
        }

        foreach (string eq in equipment ?? [])
        {
            foreach (var s in store.ListSeries(eq + "/"))
            {
                Track(s);
            }
        }

        if (tag is { Length: > 0 })
        {
            var names = tag.ToHashSet(StringComparer.Ordinal);
            foreach (var s in store.ListSeries(null))
            {
                int slash = s.Key.LastIndexOf('/');
                if (slash >= 0 && names.Contains(s.Key[(slash + 1)..]))
                {
                    Track(s);
                }
            }
        }
    }

    private static async Task SendAsync<T>(Stream body, string name, T payload, JsonSerializerOptions options, CancellationToken ct)
    {
        byte[] data = JsonSerializer.SerializeToUtf8Bytes(payload, options);
        byte[] head = Encoding.UTF8.GetBytes($"event: {name}\ndata: ");
        await body.WriteAsync(head, ct);
        await body.WriteAsync(data, ct);
        await body.WriteAsync("\n\n"u8.ToArray(), ct);
        await body.FlushAsync(ct);
    }
}

public sealed record LiveValue(string Series, long T, object V);
