using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

public class SeriesKeyCacheTests
{
    private static bool Resolve(SeriesKeyCache cache, string prefix, string field, ValueKind kind, out int id, out string? error)
    {
        long bits = kind == ValueKind.Float64 ? BitConverter.DoubleToInt64Bits(1.0) : 1;
        return cache.TryResolve(Encoding.UTF8.GetBytes(prefix), Encoding.UTF8.GetBytes(field), ref kind, ref bits, out id, out error);
    }

    [Fact]
    public void Hits_do_not_call_the_resolver()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.Resolve);
        Assert.True(Resolve(cache, "l1-cnc-01", "spindle_speed", ValueKind.Float64, out int first, out _));
        for (int i = 0; i < 100; i++)
        {
            Assert.True(Resolve(cache, "l1-cnc-01", "spindle_speed", ValueKind.Float64, out int again, out _));
            Assert.Equal(first, again);
        }

        Assert.Equal(1, store.Calls);
        Assert.Equal("l1-cnc-01/spindle_speed", store.KeyOf(first));
    }

    [Fact]
    public void A_whole_key_and_a_prefix_field_split_at_the_last_slash_find_the_same_entry()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.Resolve);
        Assert.True(Resolve(cache, "m,a=b", "f", ValueKind.Bool, out int id, out _));
        ValueKind kind = ValueKind.Bool;
        long bits = 1;
        Assert.True(cache.TryResolve("m,a=b/f"u8, ref kind, ref bits, out int whole, out _));
        Assert.Equal(id, whole);
        Assert.Equal(2, store.Calls); // whole keys hash differently from a split; the resolver still returns the same id
    }

    [Fact]
    public void Kind_mismatch_on_a_cached_series_is_rejected_without_asking_storage()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.Resolve);
        Assert.True(Resolve(cache, "m", "temp", ValueKind.Float64, out _, out _));
        Assert.False(Resolve(cache, "m", "temp", ValueKind.String, out _, out string? error));
        Assert.Equal("type conflict: series 'm/temp' holds Float64, got String", error);
        Assert.Equal(1, store.Calls);
    }

    [Fact]
    public void Resolver_conflict_becomes_a_reason_not_an_exception()
    {
        var store = new FakeStore();
        store.Series["m/x"] = (7, ValueKind.Bool);
        var cache = new SeriesKeyCache(store.Resolve);
        Assert.False(Resolve(cache, "m", "x", ValueKind.String, out _, out string? error));
        Assert.Contains("exists as Bool", error);
    }

    [Fact]
    public void Transient_resolver_failures_propagate()
    {
        var cache = new SeriesKeyCache(new Func<string, ValueKind, int>((_, _) => throw new TransientException("metadata store busy")));
        Assert.Throws<TransientException>(() => Resolve(cache, "m", "x", ValueKind.Float64, out _, out _));
    }

    [Fact]
    public void Integer_values_are_coerced_into_float_series()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.ResolveKindAware);
        Assert.True(Resolve(cache, "m", "x", ValueKind.Float64, out _, out _));
        ValueKind kind = ValueKind.Int64;
        long bits = 5;
        Assert.True(cache.TryResolve("m"u8, "x"u8, ref kind, ref bits, out _, out _));
        Assert.Equal(ValueKind.Float64, kind);
        Assert.Equal(5.0, BitConverter.Int64BitsToDouble(bits));
    }

    [Fact]
    public void Integral_floats_go_into_int_series_only_when_allowed()
    {
        var store = new FakeStore();
        store.Series["m/count"] = (1, ValueKind.Int64);
        var cache = new SeriesKeyCache(store.ResolveKindAware);
        ValueKind kind = ValueKind.Float64;
        long bits = BitConverter.DoubleToInt64Bits(12.0);
        Assert.False(cache.TryResolve("m"u8, "count"u8, ref kind, ref bits, out _, out _));
        Assert.True(cache.TryResolve("m"u8, "count"u8, ref kind, ref bits, out _, out _, allowFloatToInt: true));
        Assert.Equal((ValueKind.Int64, 12L), (kind, bits));
        kind = ValueKind.Float64;
        bits = BitConverter.DoubleToInt64Bits(12.5);
        Assert.False(cache.TryResolve("m"u8, "count"u8, ref kind, ref bits, out _, out string? error, allowFloatToInt: true));
        Assert.Contains("holds Int64, got Float64", error);
    }

    [Fact]
    public void Many_series_survive_growth_and_keep_their_ids()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.Resolve);
        var ids = new int[20_000];
        for (int i = 0; i < ids.Length; i++)
        {
            Assert.True(Resolve(cache, $"equipment-{i % 97},line=l{i % 7}", $"tag_{i}", ValueKind.Float64, out ids[i], out _));
        }

        for (int i = 0; i < ids.Length; i++)
        {
            Assert.True(Resolve(cache, $"equipment-{i % 97},line=l{i % 7}", $"tag_{i}", ValueKind.Float64, out int id, out _));
            Assert.Equal(ids[i], id);
        }

        Assert.Equal(ids.Length, store.Calls);
        Assert.Equal(ids.Length, cache.Count);
    }

    [Fact]
    public void Concurrent_readers_and_writers_agree_on_ids()
    {
        int next = 0;
        var cache = new SeriesKeyCache((key, _) => Interlocked.Increment(ref next));
        var results = new int[4][];
        Parallel.For(0, 4, t =>
        {
            results[t] = new int[5_000];
            for (int i = 0; i < 5_000; i++)
            {
                Assert.True(Resolve(cache, "m", "f" + i, ValueKind.Float64, out results[t][i], out _));
            }
        });
        Assert.Equal(5_000, next);
        for (int t = 1; t < 4; t++)
        {
            Assert.Equal(results[0], results[t]);
        }
    }

    [Fact]
    public void Line_protocol_ingest_writes_resolved_points_and_rejects_type_conflicts_per_line()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.Resolve);
        var points = new List<(int Id, long T, TagValue V)>();
        var writer = new ListWriter(points);
        byte[] body = Encoding.UTF8.GetBytes("l1-cnc-01 spindle_speed=1200,state=\"RUN\" 1\nl1-cnc-01 spindle_speed=\"fast\",state=\"RUN\" 2\nl1-cnc-01 spindle_speed=1300 3\nbad line");
        IngestResult result = new LineProtocolParser().Ingest(body, TimestampPrecision.Nanoseconds, 0, cache, ref writer);

        Assert.Equal(2, result.Accepted);
        Assert.Equal(3, result.PointsAccepted);
        Assert.Equal(2, result.Rejected);
        Assert.Equal("line 2: field 'spindle_speed': type conflict: series 'l1-cnc-01/spindle_speed' holds Float64, got String", result.Errors[0].Reason);
        Assert.Equal(4, result.Errors[1].Position);
        Assert.Equal([1L, 1L, 3L], points.Select(p => p.T));
        Assert.Equal("l1-cnc-01/spindle_speed", store.KeyOf(points[2].Id));
        Assert.Equal(1300.0, points[2].V.AsDouble);
    }

    [Fact]
    public void A_conflict_in_a_later_field_writes_none_of_the_line()
    {
        var store = new FakeStore();
        store.Series["m/b"] = (1, ValueKind.Bool);
        var cache = new SeriesKeyCache(store.Resolve);
        var points = new List<(int Id, long T, TagValue V)>();
        var writer = new ListWriter(points);
        IngestResult result = new LineProtocolParser().Ingest("m a=1,b=2,c=3 5"u8, TimestampPrecision.Nanoseconds, 0, cache, ref writer);
        Assert.Empty(points);
        Assert.Equal((0, 1), (result.Accepted, result.Rejected));
        Assert.StartsWith("line 1: field 'b': series 'm/b' exists as Bool", result.FirstError);
    }
}
