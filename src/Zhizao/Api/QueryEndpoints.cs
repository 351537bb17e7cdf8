using Microsoft.AspNetCore.Http.HttpResults;
using Zhizao.Core;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Api;

/// <summary>Series listing, raw and aggregated reads, latest values.</summary>
internal static class QueryEndpoints
{
    public const int MaxRawPoints = 1_000_000;
    public const int MaxBuckets = 100_000;

    public static void MapQueryEndpoints(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api").WithTags("Query");

        g.MapGet("/series", (ITimeSeriesStore store, string? prefix) =>
            TypedResults.Ok(store.ListSeries(prefix).Select(s => new SeriesDto(s.Id, s.Key, s.Kind.ToString())).ToList()))
            .WithSummary("Series known to the store, optionally by key prefix (e.g. 'l1-cnc-01/')");

        g.MapGet("/query/raw", (ITimeSeriesStore store, string series, string? from, string? to, int? limit) =>
        {
            var s = Find(store, series);
            var (f, t) = Range(from, to);
            int n = limit ?? 10_000;
            if (n is <= 0 or > MaxRawPoints)
            {
                throw new InvalidInputException($"limit must be between 1 and {MaxRawPoints}", "limit");
            }

            var pts = store.ReadRange(s.Id, f, t, n);
            var ts = new long[pts.Count];
            var vs = new object[pts.Count];
            for (int i = 0; i < pts.Count; i++)
            {
                ts[i] = pts[i].TimestampNs;
                vs[i] = pts[i].Value.ToObject();
            }

            return TypedResults.Ok(new RawResult(s.Key, s.Kind.ToString(), f, t, ts, vs));
        }).WithSummary("Raw points of one series: columns of timestamps (Unix ns) and values");

        g.MapGet("/query/aggregate", (ITimeSeriesStore store, string series, string? from, string? to, string? bucket) =>
        {
            var s = Find(store, series);
            var (f, t) = Range(from, to);
            long b = TimeParam.ParseDuration(bucket ?? "1m", "bucket");
            if ((t - f) / b > MaxBuckets)
            {
                throw new InvalidInputException($"{(t - f) / b} buckets asked for; at most {MaxBuckets}: use a larger bucket or a shorter range", "bucket");
            }

            if (s.Kind == ValueKind.String)
            {
                throw new InvalidInputException($"series '{s.Key}' holds strings; aggregation needs numbers or booleans", "series");
            }

            return TypedResults.Ok(new AggregateResult(s.Key, f, t, b, store.Aggregate(s.Id, f, t, b)));
        }).WithSummary("Aggregates (min, max, avg, sum, count, first, last, stddev) per time bucket");

        g.MapGet("/latest", (ITimeSeriesStore store, MetadataStore meta, string[]? series, string? prefix, string? equipment) =>
        {
            var keys = new List<SeriesInfo>();
            if (series is { Length: > 0 })
            {
                foreach (string k in series)
                {
                    if (store.TryGetSeries(k, out var s))
                    {
                        keys.Add(s);
                    }
                }
            }

            if (equipment is not null)
            {
                if (meta.GetAsset(equipment) is null && store.ListSeries(equipment + "/").Count == 0)
                {
                    throw new NotFoundException($"equipment '{equipment}' is not registered and has no data");
                }

                keys.AddRange(store.ListSeries(equipment + "/"));
            }

            if (prefix is not null)
            {
                keys.AddRange(store.ListSeries(prefix));
            }

            if ((series is null || series.Length == 0) && equipment is null && prefix is null)
            {
                throw new InvalidInputException("name what to read: ?series=KEY (repeatable), ?equipment=ID or ?prefix=TEXT");
            }

            var result = new List<LatestValue>(keys.Count);
            foreach (var s in keys)
            {
                if (store.TryGetLatest(s.Id, out var p))
                {
                    result.Add(LatestValue.From(s.Key, p));
                }
            }

            return TypedResults.Ok(result);
        }).WithSummary("Latest value of each named series");

        g.MapGet("/stats", (ITimeSeriesStore store) => TypedResults.Ok(store.GetStats())).WithSummary("Storage engine counters");
    }

    private static SeriesInfo Find(ITimeSeriesStore store, string key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new InvalidInputException("series key is required", "series");
        }

        return store.TryGetSeries(key, out var s) ? s : throw new NotFoundException($"series '{key}' does not exist");
    }

    private static (long From, long To) Range(string? from, string? to)
    {
        long now = Time.NowNs();
        long t = TimeParam.Parse(to, now, "to", now);
        long f = TimeParam.Parse(from, t - (3600 * Time.NanosPerSecond), "from", now);
        if (f >= t)
        {
            throw new InvalidInputException($"from ({Time.ToIso(f)}) must be before to ({Time.ToIso(t)})", "from");
        }

        return (f, t);
    }
}

public sealed record SeriesDto(int Id, string Key, string Kind);

public sealed record RawResult(string Series, string Kind, long FromNs, long ToNs, long[] Timestamps, object[] Values);

public sealed record AggregateResult(string Series, long FromNs, long ToNs, long BucketNs, IReadOnlyList<AggregateBucket> Buckets);
