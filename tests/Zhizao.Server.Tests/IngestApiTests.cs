using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Zhizao.Server.Tests;

public sealed class IngestApiTests
{
    private const long T0 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

    private static StringContent Lines(string text) => new(text, Encoding.UTF8, "text/plain");

    private static async Task<JsonElement> RawAsync(HttpClient http, string series) =>
        await http.GetFromJsonAsync<JsonElement>($"api/query/raw?series={Uri.EscapeDataString(series)}&from=0&to={long.MaxValue}");

    [Fact]
    public async Task Line_protocol_is_stored_and_readable_raw_aggregated_and_latest()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        var body = new StringBuilder();
        for (int i = 0; i < 180; i++)
        {
            body.Append($"p-01 flow={10 + (i % 60)}.5,state=2i {T0 + (i * 1_000_000_000L)}\n");
        }

        using (var resp = await node.Http.PostAsync("api/v2/write?precision=ns&org=o&bucket=b", Lines(body.ToString())))
        {
            Assert.Equal(HttpStatusCode.NoContent, resp.StatusCode);
        }

        var raw = await RawAsync(node.Http, "p-01/flow");
        Assert.Equal(180, raw.GetProperty("timestamps").GetArrayLength());
        Assert.Equal(10.5, raw.GetProperty("values")[0].GetDouble());

        var agg = await node.Http.GetFromJsonAsync<JsonElement>($"api/query/aggregate?series=p-01/flow&from={T0}&to={T0 + 180_000_000_000L}&bucket=1m");
        var buckets = agg.GetProperty("buckets");
        Assert.Equal(3, buckets.GetArrayLength());
        Assert.Equal(60, buckets[0].GetProperty("count").GetInt64());
        Assert.Equal(10.5, buckets[0].GetProperty("min").GetDouble());
        Assert.Equal(69.5, buckets[0].GetProperty("max").GetDouble());
        Assert.Equal(40.0, buckets[0].GetProperty("avg").GetDouble(), 9);

        var latest = await node.Http.GetFromJsonAsync<JsonElement>("api/latest?equipment=p-01");
        Assert.Equal(2, latest.GetArrayLength());
        var state = latest.EnumerateArray().Single(v => v.GetProperty("key").GetString() == "p-01/state");
        Assert.Equal(2, state.GetProperty("value").GetInt64());
        Assert.Equal(T0 + (179 * 1_000_000_000L), state.GetProperty("timestampNs").GetInt64());
    }

    [Fact]
    public async Task Partial_write_stores_good_lines_and_reports_each_bad_one_by_number()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        string body = string.Join('\n',
            $"p-01 flow=1.5 {T0}",
            $"p-01 flow=12.3.4 {T0 + 1}",                 // 2: bad number
            $"p-01 flow=2.5 {T0 + 2}",
            $"p-01 vibration=3 {T0 + 3}",                 // 4: unknown tag of registered equipment
            $"p-01 flow=\"high\" {T0 + 4}",               // 5: wrong type for a Float64 tag
            $"p-01 flow=3.5 99999999999999999999999",     // 6: timestamp out of range
            "p-01",                                       // 7: no fields
            $"p-01 flow=4.5 {T0 + 7}");
        using var resp = await node.Http.PostAsync("api/v2/write", Lines(body));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        var problem = await resp.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid", problem.GetProperty("code").GetString());
        Assert.StartsWith("partial write", problem.GetProperty("message").GetString());
        var errors = problem.GetProperty("errors").EnumerateArray().ToDictionary(e => e.GetProperty("line").GetInt32(), e => e.GetProperty("reason").GetString()!);
        Assert.Equal([2, 4, 5, 6, 7], errors.Keys.Order());
        Assert.Contains("unknown tag 'vibration'", errors[4]);
        Assert.Contains("line 5", errors[5]);

        var raw = await RawAsync(node.Http, "p-01/flow");
        Assert.Equal([1.5, 2.5, 4.5], raw.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()));
    }

    [Fact]
    public async Task Integer_into_float_tag_is_widened_and_float_into_int_tag_rejected()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        using var resp = await node.Http.PostAsync("api/v2/write", Lines($"p-01 flow=7i {T0}\np-01 state=1.5 {T0}\n"));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        var problem = await resp.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, problem.GetProperty("errors")[0].GetProperty("line").GetInt32());
        Assert.Equal(7.0, (await RawAsync(node.Http, "p-01/flow")).GetProperty("values")[0].GetDouble());
    }

    [Fact]
    public async Task Oversized_body_gets_413_and_the_node_keeps_serving()
    {
        await using var node = await Node.StartAsync(o => o.MaxBodyBytes = 64 * 1024);
        using (var ok = await node.Http.PostAsync("api/v2/write", Lines($"free flow=1 {T0}\n")))
        {
            Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
        }

        var big = new StringBuilder();
        while (big.Length < 200 * 1024)
        {
            big.Append($"free flow=2 {T0 + big.Length}\n");
        }

        using (var resp = await node.Http.PostAsync("api/v2/write", Lines(big.ToString())))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, resp.StatusCode);
            Assert.Contains("limit", (await resp.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message").GetString());
        }

        // gzip bomb-ish: small on the wire, large after decompression
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gz.Write(Encoding.UTF8.GetBytes(big.ToString()));
        }

        var zipped = new ByteArrayContent(ms.ToArray());
        zipped.Headers.ContentEncoding.Add("gzip");
        using (var resp = await node.Http.PostAsync("api/v2/write", zipped))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, resp.StatusCode);
        }

        Assert.Equal(1, (await RawAsync(node.Http, "free/flow")).GetProperty("values").GetArrayLength());
    }

    [Fact]
    public async Task Gzip_bodies_and_precision_are_honoured()
    {
        await using var node = await Node.StartAsync();
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(Encoding.UTF8.GetBytes("cpu,host=a usage=0.5 1767225600\n"));
        }

        var zipped = new ByteArrayContent(ms.ToArray());
        zipped.Headers.ContentEncoding.Add("gzip");
        using (var resp = await node.Http.PostAsync("api/v2/write?precision=s", zipped))
        {
            Assert.Equal(HttpStatusCode.NoContent, resp.StatusCode);
        }

        var raw = await RawAsync(node.Http, "cpu,host=a/usage");
        Assert.Equal(T0, raw.GetProperty("timestamps")[0].GetInt64());

        using (var bad = await node.Http.PostAsync("api/v2/write?precision=minutes", Lines("x v=1\n")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        var notGzip = new ByteArrayContent([1, 2, 3, 4, 5]);
        notGzip.Headers.ContentEncoding.Add("gzip");
        using (var bad = await node.Http.PostAsync("api/v2/write", notGzip))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
    }

    [Fact]
    public async Task Json_batch_stores_valid_items_and_lists_bad_ones_by_index()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        string body = $$$"""
            {"points":[
              {"series":"p-01/flow","t":{{{T0}}},"v":5.5},
              {"equipment":"p-01","t":"2026-01-01T00:00:01Z","values":{"flow":6.5,"state":2}},
              {"series":"p-01/flow","t":"yesterday","v":1},
              {"equipment":"p-01","t":{{{T0 + 3}}},"values":{"pressure":1}},
              {"series":"p-01/state","t":{{{T0 + 4}}},"v":"running"}
            ]}
            """;
        using var resp = await node.Http.PostAsync("api/ingest/json", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        var problem = await resp.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal([2, 3, 4], problem.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("line").GetInt32()));
        Assert.Contains("unknown tag 'pressure'", problem.GetProperty("errors")[1].GetProperty("reason").GetString());
        Assert.Equal([5.5, 6.5], (await RawAsync(node.Http, "p-01/flow")).GetProperty("values").EnumerateArray().Select(v => v.GetDouble()));

        using var malformed = await node.Http.PostAsync("api/ingest/json", new StringContent("{\"points\":[{\"series\":", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Contains("malformed JSON", (await malformed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        Assert.Equal(2, (await RawAsync(node.Http, "p-01/flow")).GetProperty("values").GetArrayLength());
    }

    [Fact]
    public async Task Line_protocol_is_accepted_whatever_the_content_type_as_curl_sends_it()
    {
        await using var node = await Node.StartAsync();
        foreach (string type in new[] { "application/x-www-form-urlencoded", "application/octet-stream" })
        {
            using var resp = await node.Http.PostAsync("api/v2/write", new StringContent($"free v=1 {T0}\n", Encoding.UTF8, type));
            Assert.Equal(HttpStatusCode.NoContent, resp.StatusCode);
        }
    }

    [Fact]
    public async Task Query_errors_name_the_parameter()
    {
        await using var node = await Node.StartAsync();
        using (var r = await node.Http.GetAsync("api/query/raw?series=nope/x"))
        {
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        }

        using (await node.Http.PostAsync("api/v2/write", Lines($"m v=1 {T0}\n")))
        {
        }

        using (var r = await node.Http.GetAsync("api/query/raw?series=m/v&from=yesterday"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains("from", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        }

        using (var r = await node.Http.GetAsync($"api/query/aggregate?series=m/v&from=0&to={T0}&bucket=1s"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }

        using (var r = await node.Http.GetAsync("api/latest"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }
    }
}
