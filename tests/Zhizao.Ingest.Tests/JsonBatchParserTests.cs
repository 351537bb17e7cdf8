using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

public class JsonBatchParserTests
{
    private readonly FakeStore _store = new();
    private readonly List<(int Id, long T, TagValue V)> _points = [];

    private IngestResult Ingest(string json, JsonBatchOptions? options = null)
    {
        var cache = new SeriesKeyCache(_store.ResolveKindAware);
        var writer = new ListWriter(_points);
        return new JsonBatchParser(options).Ingest(Encoding.UTF8.GetBytes(json), 99, cache, ref writer);
    }

    private (string Key, long T, TagValue V) Point(int i) => (_store.KeyOf(_points[i].Id), _points[i].T, _points[i].V);

    [Fact]
    public void Series_items_and_equipment_items_both_produce_points()
    {
        IngestResult r = Ingest("""
            {"points":[
              {"series":"l1-cnc-01/spindle_speed","t":"2026-01-01T00:00:00Z","v":1200.5},
              {"equipment":"l1-cnc-01","t":1767225600000000000,"values":{"spindle_speed":1200,"state":"RUN","alarm":false}}
            ]}
            """);
        Assert.Empty(r.Errors);
        Assert.Equal((2, 4), (r.Accepted, r.PointsAccepted));
        Assert.Equal(("l1-cnc-01/spindle_speed", 1767225600000000000L, TagValue.FromDouble(1200.5)), Point(0));
        Assert.Equal(("l1-cnc-01/spindle_speed", 1767225600000000000L, TagValue.FromDouble(1200)), Point(1));
        Assert.Equal(("l1-cnc-01/state", 1767225600000000000L, TagValue.FromString("RUN")), Point(2));
        Assert.Equal(("l1-cnc-01/alarm", 1767225600000000000L, TagValue.FromBool(false)), Point(3));
    }

    [Fact]
    public void Missing_timestamp_takes_now_and_offsets_are_converted_to_utc()
    {
        Ingest("""{"points":[{"series":"a/b","v":1},{"series":"a/b","t":"2026-01-01T08:00:00+08:00","v":2},{"series":"a/b","t":"2026-01-01T00:00:00","v":3}]}""");
        Assert.Equal([99L, 1767225600000000000L, 1767225600000000000L], _points.Select(p => p.T));
    }

    [Fact]
    public void Integral_numbers_land_in_existing_int64_series()
    {
        _store.Series["press-01/count"] = (1, ValueKind.Int64);
        IngestResult r = Ingest("""{"points":[{"series":"press-01/count","v":41},{"series":"press-01/count","v":41.5}]}""");
        Assert.Equal(TagValue.FromInt64(41), _points.Single().V);
        Assert.Equal("item 1 ($.points[1].v): type conflict: series 'press-01/count' holds Int64, got Float64", r.FirstError);
    }

    [Theory]
    [InlineData("""{"series":"a/b"}""", "item 0 ($.points[0]): missing field \"v\"")]
    [InlineData("""{"v":1}""", "item 0 ($.points[0]): missing field \"series\" or \"equipment\"")]
    [InlineData("""{"equipment":"e1"}""", "item 0 ($.points[0]): missing field \"values\"")]
    [InlineData("""{"series":"ab","v":1}""", "item 0 ($.points[0].series): 'ab' is not a series key")]
    [InlineData("""{"series":5,"v":1}""", "item 0 ($.points[0].series): must be a string, got a number")]
    [InlineData("""{"series":"a/b","v":[1]}""", "item 0 ($.points[0].v): value must be a number, boolean or string, got an array")]
    [InlineData("""{"series":"a/b","v":null}""", "got null")]
    [InlineData("""{"series":"a/b","v":1e999}""", "number out of range")]
    [InlineData("""{"series":"a/b","v":1,"quality":192}""", "item 0 ($.points[0].quality): unknown field")]
    [InlineData("""{"series":"a/b","t":"yesterday","v":1}""", "item 0 ($.points[0].t): bad timestamp 'yesterday'")]
    [InlineData("""{"series":"a/b","t":1.5,"v":1}""", "integer count of Unix nanoseconds")]
    [InlineData("""{"series":"a/b","t":-5,"v":1}""", "timestamp out of range")]
    [InlineData("""{"series":"a/b","t":"1969-12-31T23:59:59Z","v":1}""", "timestamp out of range")]
    [InlineData("""{"series":"a/b","t":"2263-01-01T00:00:00Z","v":1}""", "timestamp out of range")]
    [InlineData("""{"equipment":"bad id!","values":{"x":1}}""", "not a valid equipment id")]
    [InlineData("""{"equipment":"e1","values":{"x":1,"y":{"z":2}}}""", "item 0 ($.points[0].values.y): value must be")]
    [InlineData("""{"equipment":"e1","values":{"x/y":1}}""", "contain no '/'")]
    [InlineData("""{"equipment":"e1","values":{"x":1,"x":2}}""", "duplicate tag name")]
    [InlineData("""{"equipment":"e1","v":1,"values":{"x":1}}""", "takes \"values\", not \"v\"")]
    [InlineData("""[1,2]""", "item must be an object, got an array")]
    public void Bad_items_are_rejected_with_index_path_and_reason(string item, string expected)
    {
        IngestResult r = Ingest($$"""{"points":[{{item}},{"series":"ok/ok","v":1}]}""");
        Assert.Equal(1, r.Rejected);
        Assert.Contains(expected, r.FirstError);
        Assert.Equal(0, r.Errors[0].Position);
        Assert.Single(_points);
        Assert.Equal("ok/ok", Point(0).Key);
    }

    [Fact]
    public void An_item_is_all_or_nothing()
    {
        _store.Series["e1/y"] = (1, ValueKind.Bool);
        IngestResult r = Ingest("""{"points":[{"equipment":"e1","values":{"x":1,"y":"text"}}]}""");
        Assert.Empty(_points);
        Assert.Contains("$.points[0].values.y", r.FirstError);
    }

    [Theory]
    [InlineData("""{"points":[{"series":"a/b","v":1},""", "malformed JSON at line 1")]
    [InlineData("{\"points\":[\n{\"series\":\"a/b\" \"v\":1}]}", "malformed JSON at line 2, byte 17")]
    [InlineData("""{"points":{}}""", "\"points\" must be an array")]
    [InlineData("""{"pts":[]}""", "unknown property 'pts'")]
    [InlineData("""[]""", "must be a JSON object")]
    [InlineData("", "malformed JSON")]
    public void Malformed_bodies_are_refused_whole_before_anything_is_written(string json, string expected)
    {
        var e = Assert.Throws<InvalidInputException>(() => Ingest(json));
        Assert.Contains(expected, e.Message);
        Assert.Empty(_points);
    }

    [Fact]
    public void Invalid_utf8_is_refused_whole_with_its_byte_position()
    {
        byte[] body = [.. """{"points":[{"series":"a/"""u8.ToArray(), 0xFF, .. "\",\"v\":1}]}"u8.ToArray()];
        var cache = new SeriesKeyCache(_store.Resolve);
        var writer = new ListWriter(_points);
        var e = Assert.Throws<InvalidInputException>(() => new JsonBatchParser().Ingest(body, 0, cache, ref writer));
        Assert.Equal("body: not valid UTF-8 at byte 25", e.Message);
    }

    [Fact]
    public void Depth_and_item_limits_are_named()
    {
        var options = new JsonBatchOptions { MaxItems = 2, MaxDepth = 4 };
        Assert.Contains("MaxItems", Assert.Throws<InvalidInputException>(() => Ingest("""{"points":[{"series":"a/b","v":1},{"series":"a/b","v":1},{"series":"a/b","v":1}]}""", options)).Message);
        Assert.Contains("MaxDepth", Assert.Throws<InvalidInputException>(() => Ingest("""{"points":[{"series":"a/b","v":{"a":{"b":1}}}]}""", options)).Message);
    }
}
