using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Zhizao.Web;

namespace Zhizao.Server.Tests;

/// <summary>The endpoints behind the web console: overview, CSV export and the live event stream.</summary>
public sealed class ConsoleApiTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static async Task WriteAsync(HttpClient http, string lines)
    {
        using var resp = await http.PostAsync("api/v2/write", new StringContent(lines, Encoding.UTF8, "text/plain"));
        Assert.True(resp.StatusCode == HttpStatusCode.NoContent, await resp.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Overview_counts_alarms_per_equipment_and_reads_the_state_tag()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        using (var r = await node.Http.PostAsJsonAsync("api/rules", new { id = "flow-high", name = "Flow high", equipmentTypeId = "pump", kind = "Limit", priority = "High", limit = new { tag = "flow", type = "High", setpoint = 150 } }))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        }

        long t = Core.Time.NowNs() - 5_000_000_000;
        await WriteAsync(node.Http, $"p-01 flow=180 {t}\n");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement o;
        do
        {
            o = await node.Http.GetFromJsonAsync<JsonElement>("api/overview");
            await Task.Delay(50);
        }
        while (o.GetProperty("activeAlarms").GetInt32() == 0 && DateTime.UtcNow < deadline);

        Assert.Equal(1, o.GetProperty("activeAlarms").GetInt32());
        Assert.Equal(1, o.GetProperty("unacknowledged").GetInt32());
        Assert.Equal(1, o.GetProperty("byPriority").GetProperty("High").GetInt32());
        var p01 = o.GetProperty("equipment").EnumerateArray().Single(e => e.GetProperty("id").GetString() == "p-01");
        Assert.Equal(1, p01.GetProperty("activeAlarms").GetInt32());
        Assert.Equal("High", p01.GetProperty("highestPriority").GetString());
        Assert.False(p01.TryGetProperty("state", out _)); // no state written yet: no state shown, not a made-up one
    }

    [Fact]
    public async Task Csv_export_joins_series_on_time_and_refuses_bad_requests_with_reasons()
    {
        await using var node = await Node.StartAsync();
        long t0 = Core.Time.NowNs() - 120_000_000_000;
        t0 -= t0 % 60_000_000_000; // on a minute boundary, so the 1-minute average below holds both points of m/a
        await WriteAsync(node.Http, $"m a=1.5,b=2i {t0}\nm a=2.5 {t0 + 1_000_000_000}\nm b=4i,note=\"x, \\\"y\\\"\" {t0 + 2_000_000_000}\n");
        string Q(string s) => Uri.EscapeDataString(s);
        string csv = await node.Http.GetStringAsync($"api/export/csv?series={Q("m/a")}&series={Q("m/b")}&series={Q("m/note")}&from={t0}&to={t0 + 10_000_000_000}");
        string[] lines = csv.TrimEnd('\n').Split('\n');
        Assert.Equal("time,m/a,m/b,m/note", lines[0]);
        Assert.Equal(4, lines.Length);
        Assert.EndsWith(",1.5,2,", lines[1]);
        Assert.EndsWith(",2.5,,", lines[2]);
        Assert.EndsWith(",,4,\"x, \"\"y\"\"\"", lines[3]);

        string avg = await node.Http.GetStringAsync($"api/export/csv?series={Q("m/a")}&from={t0 - (t0 % 60_000_000_000)}&to={t0 + 10_000_000_000}&bucket=1m");
        Assert.Contains(",2\n", avg); // (1.5 + 2.5) / 2 in one minute bucket

        async Task BadAsync(string query, string expected)
        {
            using var r = await node.Http.GetAsync("api/export/csv" + query);
            string body = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, body);
            Assert.Contains(expected, body);
        }

        await BadAsync("", "name the series");
        await BadAsync($"?series={Q("m/zzz")}", "'m/zzz' does not exist");
        await BadAsync($"?series={Q("m/note")}&from={t0}&to={t0 + 10_000_000_000}&bucket=1m", "holds strings");
        await BadAsync($"?series={Q("m/a")}&from=yesterday", "not a time");
        await BadAsync($"?series={Q("m/a")}&from={t0}&to={t0 - 1}", "must be before");
    }

    [Fact]
    public async Task Live_stream_sends_hello_then_values_then_alarm_changes()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        using (var r = await node.Http.PostAsJsonAsync("api/rules", new { id = "flow-high", name = "Flow high", equipmentTypeId = "pump", kind = "Limit", priority = "Urgent", limit = new { tag = "flow", type = "High", setpoint = 150 } }))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        }

        long t = Core.Time.NowNs() - 5_000_000_000;
        await WriteAsync(node.Http, $"p-01 flow=100 {t}\n");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var stream = await node.Http.GetStreamAsync("api/live?equipment=p-01", cts.Token);
        using var reader = new StreamReader(stream);
        var events = new List<(string Name, JsonElement Data)>();

        async Task<JsonElement> NextAsync(string name)
        {
            while (true)
            {
                string? line = await reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("the live stream ended");
                if (!line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    continue;
                }

                string ev = line[7..];
                string data = (await reader.ReadLineAsync(cts.Token))![6..];
                var json = JsonDocument.Parse(data).RootElement.Clone();
                events.Add((ev, json));
                if (ev == name)
                {
                    return json;
                }
            }
        }

        await NextAsync("hello");
        var values = await NextAsync("values");
        Assert.Contains(values.EnumerateArray(), v => v.GetProperty("series").GetString() == "p-01/flow" && v.GetProperty("v").GetDouble() == 100);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await WriteAsync(node.Http, $"p-01 flow=190 {t + 1_000_000_000}\n");
        var alarms = await NextAsync("alarms");
        output.WriteLine($"write acknowledged → alarm event on the live stream: {watch.Elapsed.TotalMilliseconds:F1} ms");
        var a = alarms.EnumerateArray().Single();
        Assert.Equal("p-01:flow-high", a.GetProperty("id").GetString());
        Assert.Equal("Unacknowledged", a.GetProperty("state").GetString());
        values = await NextAsync("values");
        Assert.Contains(values.EnumerateArray(), v => v.GetProperty("v").GetDouble() == 190);

        using (var r = await node.Http.GetAsync($"api/live?{string.Join('&', Enumerable.Range(0, LiveEndpoints.MaxNames + 1).Select(i => $"series=s{i}"))}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }
    }

    [Fact]
    public async Task A_browser_that_stops_reading_slows_neither_ingest_nor_other_browsers_and_is_told_to_resync()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        using (var r = await node.Http.PostAsJsonAsync("api/rules", new { id = "flow-high", name = "Flow high", equipmentTypeId = "pump", kind = "Limit", priority = "Low", limit = new { tag = "flow", type = "High", setpoint = 150 } }))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        }

        var hub = node.Services.GetRequiredService<LiveHub>();
        var uri = new Uri(node.Url);

        // the stuck browser: a tiny receive buffer, then it never reads
        using var stuck = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 2048 };
        await stuck.ConnectAsync(uri.Host, uri.Port);
        await stuck.SendAsync(Encoding.ASCII.GetBytes($"GET /api/live?equipment=p-01 HTTP/1.1\r\nHost: {uri.Authority}\r\nAccept: text/event-stream\r\n\r\n"));

        // a healthy browser beside it
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await using var healthy = await node.Http.GetStreamAsync("api/live", cts.Token);
        using var reader = new StreamReader(healthy);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (hub.Subscribers < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(2, hub.Subscribers);

        // 6,000 alarm transitions (the flow crosses its limit every second), far more than the stuck queue holds
        long t0 = Core.Time.NowNs() - 7_000_000_000_000;
        const int Toggles = 6_000;
        var sb = new StringBuilder();
        for (int i = 0; i < Toggles; i++)
        {
            sb.Append("p-01 flow=").Append(i % 2 == 0 ? 180 : 100).Append(' ').Append(t0 + (i * 1_000_000_000L)).Append('\n');
        }

        using var http = new HttpClient { BaseAddress = node.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        await WriteAsync(http, sb.ToString());

        // the healthy browser sees the last transition (the alarm cleared: the last value is 100), either as an event
        // or, if it too fell behind on this loaded machine, by re-reading the alarm after its resync event (as the console does)
        var journalStore = node.Services.GetRequiredService<Alarms.SqliteAlarmJournal>();
        bool Final(JsonElement alarm) => !alarm.GetProperty("active").GetBoolean() && alarm.GetProperty("lastValue").GetDouble() == 100 && journalStore.LastSequence >= Toggles;
        bool sawFinal = false;
        while (!sawFinal)
        {
            string? line = await reader.ReadLineAsync(cts.Token);
            Assert.NotNull(line);
            if (line == "event: resync")
            {
                while (!Final(await http.GetFromJsonAsync<JsonElement>("api/alarms/p-01:flow-high", cts.Token)))
                {
                    await Task.Delay(100, cts.Token);
                }

                sawFinal = true;
            }
            else if (line.StartsWith("data: [", StringComparison.Ordinal) && line.Contains("\"id\":\"p-01:flow-high\"", StringComparison.Ordinal))
            {
                sawFinal = Final(JsonDocument.Parse(line[6..]).RootElement.EnumerateArray().Last());
            }
        }

        Assert.True(hub.Overflows >= 1, "the stuck browser's queue should have overflowed");

        // ingest is not held up by the stuck connection: another batch is accepted at once
        await WriteAsync(http, $"p-01 flow=120 {t0 + (Toggles * 1_000_000_000L)}\n");

        // when the stuck browser finally reads, it is told to re-read the alarm list
        var received = new StringBuilder();
        var buffer = new byte[64 * 1024];
        stuck.ReceiveTimeout = 20_000;
        var readUntil = DateTime.UtcNow.AddSeconds(30);
        while (!received.ToString().Contains("event: resync", StringComparison.Ordinal) && DateTime.UtcNow < readUntil)
        {
            int n = await stuck.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            Assert.True(n > 0, "the server closed the stuck browser's stream instead of resyncing it");
            received.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        Assert.Contains("event: resync", received.ToString());
    }
}
