using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Zhizao.Connectors.Mqtt;
using Zhizao.Core;

namespace Zhizao.Server.Tests;

public sealed class MqttMappingTests
{
    private static async Task PublishAsync(int port, string topic, string payload)
    {
        var psi = new ProcessStartInfo("/usr/bin/mosquitto_pub") { RedirectStandardError = true };
        foreach (string a in new[] { "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-q", "1", "-t", topic, "-m", payload })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(p.ExitCode == 0, await p.StandardError.ReadToEndAsync());
    }

    private static async Task<JsonElement?> LatestAsync(HttpClient http, string series)
    {
        var list = await http.GetFromJsonAsync<JsonElement>($"api/latest?series={Uri.EscapeDataString(series)}");
        return list.GetArrayLength() == 1 ? list[0] : null;
    }

    private static readonly object Mapping = new
    {
        topic = "factory/+line/+eq/telemetry",
        timestamp = "$.ts",
        tags = new object[]
        {
            new { selector = "$.data.temp", equipment = "{eq}", tag = "temp", type = "number" },
            new { selector = "$['run state']", equipment = "{eq}", tag = "running" },
            new { selector = "$.axes[*].load", equipment = "{eq}", tag = "axis{i}_load" },
            new { selector = "$.meta.line", equipment = "{eq}", tag = "line_{line}" },
        },
    };

    [Fact]
    public async Task Mosquitto_pub_json_through_a_mapping_is_stored_with_captured_topic_levels_and_the_payload_time()
    {
        int port = SparkplugPeer.FreePort();
        string dir = Directory.CreateTempSubdirectory("zz-map-").FullName;
        await using (var node = await Node.StartAsync(o => o.MqttPort = port, dir))
        {
            var put = await node.Http.PutAsJsonAsync("api/mqtt/mappings/lines", Mapping);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

            await PublishAsync(port, "factory/L3/cnc-9/telemetry",
                """{"ts":"2026-01-02T03:04:05.5Z","data":{"temp":71.5},"run state":true,"axes":[{"load":0.5},{"load":0.75}],"meta":{"line":"north"}}""");
            var temp = await LatestAsync(node.Http, "cnc-9/temp");
            Assert.NotNull(temp);
            Assert.Equal(71.5, temp.Value.GetProperty("value").GetDouble());
            Assert.Equal(Time.FromDateTime(new DateTimeOffset(2026, 1, 2, 3, 4, 5, 500, TimeSpan.Zero)), temp.Value.GetProperty("timestampNs").GetInt64());
            Assert.True((await LatestAsync(node.Http, "cnc-9/running"))!.Value.GetProperty("value").GetBoolean());
            Assert.Equal(0.75, (await LatestAsync(node.Http, "cnc-9/axis1_load"))!.Value.GetProperty("value").GetDouble());
            Assert.Equal("north", (await LatestAsync(node.Http, "cnc-9/line_L3"))!.Value.GetProperty("value").GetString());
        }

        // the mapping is kept by the node: after a restart it still applies; epoch milliseconds work too
        await using (var node = await Node.StartAsync(o => o.MqttPort = port, dir))
        {
            var list = await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/mappings");
            Assert.Equal("lines", list[0].GetProperty("id").GetString());
            await PublishAsync(port, "factory/L3/cnc-9/telemetry", """{"ts":1767326400000,"data":{"temp":80},"run state":false,"axes":[],"meta":{"line":"n"}}""");
            var temp = await LatestAsync(node.Http, "cnc-9/temp");
            Assert.Equal(80, temp!.Value.GetProperty("value").GetDouble());
            Assert.Equal(1_767_326_400_000L * 1_000_000, temp.Value.GetProperty("timestampNs").GetInt64());
            Assert.Equal(HttpStatusCode.NoContent, (await node.Http.DeleteAsync("api/mqtt/mappings/lines")).StatusCode);
            Assert.Equal(0, (await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/mappings")).GetArrayLength());
        }
    }

    [Fact]
    public async Task Bad_payloads_are_counted_and_the_good_values_of_the_message_are_kept()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);
        Assert.Equal(HttpStatusCode.OK, (await node.Http.PutAsJsonAsync("api/mqtt/mappings/lines", Mapping)).StatusCode);

        await PublishAsync(port, "factory/L1/m-1/telemetry", "{not json");                                     // invalid JSON: 1
        await PublishAsync(port, "factory/L1/m-1/telemetry", """{"ts":"yesterday","data":{"temp":1}}""");     // bad timestamp: 1
        // temp is a string (wrong type), 'run state' and meta.line are missing (2 misses), axes is not an array (1 miss);
        // nothing else is wrong, and the stored value of 'running' is not touched
        await PublishAsync(port, "factory/L1/m-1/telemetry", """{"ts":1767326400,"data":{"temp":"hot"},"axes":{"x":{"load":0.25}}}""");
        var stats = await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/stats");
        Assert.Equal(5, stats.GetProperty("mappingErrors").GetInt64());
        Assert.Equal(0.25, (await LatestAsync(node.Http, "m-1/axis0_load"))!.Value.GetProperty("value").GetDouble());
        Assert.Null(await LatestAsync(node.Http, "m-1/temp"));
        Assert.Equal(1_767_326_400L * 1_000_000_000, (await LatestAsync(node.Http, "m-1/axis0_load"))!.Value.GetProperty("timestampNs").GetInt64());
    }

    [Fact]
    public async Task A_catch_all_mapping_leaves_sparkplug_and_convention_topics_alone()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);
        var all = new { topic = "#", tags = new[] { new { selector = "$.v", equipment = "any", tag = "v" } } };
        Assert.Equal(HttpStatusCode.OK, (await node.Http.PutAsJsonAsync("api/mqtt/mappings/all", all)).StatusCode);
        await PublishAsync(port, "spBv1.0/g/NDATA/n", "not protobuf, not JSON");
        await PublishAsync(port, "zhizao/v/any/w", "5");
        await PublishAsync(port, "site/any/thing", """{"v":2.5}""");
        Assert.Equal(2.5, (await LatestAsync(node.Http, "any/v"))!.Value.GetProperty("value").GetDouble());
        var stats = await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/stats");
        Assert.Equal(1, stats.GetProperty("mappedMessages").GetInt64());
        Assert.Equal(0, stats.GetProperty("mappingErrors").GetInt64());
    }

    [Theory]
    [InlineData("""{"topic":"a/#/b","tags":[{"selector":"$.x","equipment":"e","tag":"t"}]}""", "topic")]
    [InlineData("""{"topic":"a/+x y","tags":[{"selector":"$.x","equipment":"e","tag":"t"}]}""", "topic")]
    [InlineData("""{"topic":"zhizao/x","tags":[{"selector":"$.x","equipment":"e","tag":"t"}]}""", "reserved")]
    [InlineData("""{"topic":"a/b","tags":[]}""", "tags")]
    [InlineData("""{"topic":"a/b","tags":[{"selector":"x","equipment":"e","tag":"t"}]}""", "tags[0].selector")]
    [InlineData("""{"topic":"a/b","tags":[{"selector":"$.a[","equipment":"e","tag":"t"}]}""", "not closed")]
    [InlineData("""{"topic":"a/b","tags":[{"selector":"$[*].a[*]","equipment":"e","tag":"t"}]}""", "at most one")]
    [InlineData("""{"topic":"a/b","tags":[{"selector":"$.a","equipment":"e","tag":"t","type":"int"}]}""", "tags[0].type")]
    [InlineData("""{"topic":"a/b","timestamp":"$.t[*]","tags":[{"selector":"$.a","equipment":"e","tag":"t"}]}""", "timestamp")]
    [InlineData("""{"topic":"a/b","timestampFormat":"days","tags":[{"selector":"$.a","equipment":"e","tag":"t"}]}""", "timestampFormat")]
    public async Task Invalid_mappings_are_refused_with_the_field_named(string body, string field)
    {
        await using var node = await Node.StartAsync();
        var r = await node.Http.PutAsync("api/mqtt/mappings/m1", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains(field, await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("$.a.b", """{"a":{"b":1}}""", "1")]
    [InlineData("$.arr[0]", """{"arr":[5,6]}""", "5")]
    [InlineData("$.arr[-1]", """{"arr":[5,6]}""", "6")]
    [InlineData("$.items[*].value", """{"items":[{"value":1},{"value":2},{"x":3}]}""", "1,2")]
    [InlineData("$['a.b']", """{"a.b":7}""", "7")]
    [InlineData("$.a.b", """{"a":[1]}""", "")]
    [InlineData("$", """3""", "3")]
    public void Selectors_pick_what_jsonpath_would(string selector, string json, string expected)
    {
        var found = new List<(JsonElement, int)>();
        using var doc = JsonDocument.Parse(json);
        JsonSelector.Parse(selector, "s").Select(doc.RootElement, found);
        Assert.Equal(expected, string.Join(',', found.Select(f => f.Item1.GetRawText())));
    }

    [Theory]
    [InlineData("\"2026-01-01T00:00:00Z\"", "auto", 1_767_225_600_000_000_000)]
    [InlineData("\"2026-01-01T08:00:00+08:00\"", "iso8601", 1_767_225_600_000_000_000)]
    [InlineData("1767225600", "auto", 1_767_225_600_000_000_000)]
    [InlineData("1767225600000", "auto", 1_767_225_600_000_000_000)]
    [InlineData("1767225600000000000", "auto", 1_767_225_600_000_000_000)]
    [InlineData("1767225600.25", "s", 1_767_225_600_250_000_000)]
    [InlineData("1767225600123", "ms", 1_767_225_600_123_000_000)]
    [InlineData("1767225600123456789", "ns", 1_767_225_600_123_456_789)]
    public void Timestamps_in_iso_8601_and_epoch_units(string json, string format, long expectedNs)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.True(CompiledMqttMapping.TryTimestamp(doc.RootElement, format, out long ns, out string? error), error);
        Assert.Equal(expectedNs, ns);
    }

    [Theory]
    [InlineData("\"soon\"", "auto")]
    [InlineData("-5", "s")]
    [InlineData("1767225600", "iso8601")]
    [InlineData("true", "auto")]
    public void Bad_timestamps_say_why(string json, string format)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.False(CompiledMqttMapping.TryTimestamp(doc.RootElement, format, out _, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
