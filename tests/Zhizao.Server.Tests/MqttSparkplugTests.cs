using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Zhizao.Connectors.Mqtt;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Client;
using Zhizao.Mqtt.Sparkplug;

namespace Zhizao.Server.Tests;

/// <summary>Test peers nobody here wrote: Debian's protoc + python3-protobuf (payloads), mosquitto_pub/mosquitto_sub (MQTT).</summary>
internal static class SparkplugPeer
{
    private static readonly string Script = Find("peers/sparkplug_peer.py");

    private static string Find(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Zhizao.Server.Tests", relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        if (!File.Exists(file))
        {
            throw new InvalidOperationException($"{file} is not installed: apt-get install -y mosquitto-clients protobuf-compiler python3-protobuf");
        }

        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {await stderr}");
        return await stdout;
    }

    /// <summary>Encodes a payload with Google's protobuf runtime.</summary>
    public static async Task<byte[]> EncodeAsync(object spec)
    {
        string path = Path.GetTempFileName();
        try
        {
            await RunAsync("/usr/bin/python3", Script, "encode", JsonSerializer.Serialize(spec), path);
            return await File.ReadAllBytesAsync(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static async Task<JsonElement> DecodeAsync(byte[] payload)
    {
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, payload);
            return JsonSerializer.Deserialize<JsonElement>(await RunAsync("/usr/bin/python3", Script, "decode", path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>mosquitto_pub -q 1: exits after the PUBACK, which the node sends once the points are stored.</summary>
    public static async Task PublishAsync(int port, string topic, byte[] payload)
    {
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, payload);
            await RunAsync("/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-q", "1",
                "-V", "mqttv311", "-i", "edge-" + Guid.NewGuid().ToString("N")[..8], "-t", topic, "-f", path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>mosquitto_sub: the first message on <paramref name="topic"/> (retained ones included), payload as text.</summary>
    public static Task<string> ReceiveOneAsync(int port, string topic) =>
        RunAsync("/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-t", topic, "-C", "1", "-W", "30");

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static async Task<JsonElement> WaitAsync(Func<Task<JsonElement?>> probe, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{what} did not happen within 30 s");
    }
}

public sealed class MqttSparkplugTests
{
    private const string Group = "plant1";
    private const string Edge = "edge-7";

    private static object Metric(string? name, ulong? alias, SparkplugDataType type, string field, object value, ulong? ts = null)
    {
        var d = new Dictionary<string, object> { ["datatype"] = (uint)type, [field] = value };
        if (name is not null)
        {
            d["name"] = name;
        }

        if (alias is not null)
        {
            d["alias"] = alias;
        }

        if (ts is not null)
        {
            d["timestamp"] = ts;
        }

        return d;
    }

    private static async Task<JsonElement> LatestAsync(HttpClient http, string series)
    {
        var list = await http.GetFromJsonAsync<JsonElement>($"api/latest?series={Uri.EscapeDataString(series)}");
        Assert.True(list.GetArrayLength() == 1, $"no value for {series}: {list}");
        return list[0];
    }

    private static async Task<JsonElement> EndpointAsync(HttpClient http, string? device)
    {
        var state = await http.GetFromJsonAsync<JsonElement>("api/mqtt/sparkplug");
        return state.GetProperty("endpoints").EnumerateArray().Single(e =>
            e.GetProperty("edgeNode").GetString() == Edge && (e.TryGetProperty("device", out var d) ? d.GetString() : null) == device);
    }

    [Fact]
    public async Task Births_from_an_independent_encoder_register_equipment_and_aliased_data_is_stored_with_its_types()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);
        ulong t0 = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;

        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NBIRTH/{Edge}", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0,
            seq = 0,
            metrics = new[]
            {
                Metric("bdSeq", null, SparkplugDataType.Int64, "long_value", 3),
                Metric("Node Control/Rebirth", null, SparkplugDataType.Boolean, "boolean_value", false),
                Metric("Supply Voltage", 1, SparkplugDataType.Double, "double_value", 23.5),
            },
        }));
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DBIRTH/{Edge}/press-1", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0,
            seq = 1,
            metrics = new[]
            {
                Metric("Motor/Speed", 10, SparkplugDataType.Float, "float_value", 1500.5f),
                Metric("Count", 11, SparkplugDataType.Int32, "int_value", 7u),
                Metric("Running", 12, SparkplugDataType.Boolean, "boolean_value", true),
                Metric("Recipe", 13, SparkplugDataType.String, "string_value", "A-12"),
                Metric("Last Service", 14, SparkplugDataType.DateTime, "long_value", 1_767_225_600_000UL),
                Metric("Offset", 15, SparkplugDataType.Int8, "int_value", unchecked((uint)-5)),
                Metric("Energy", 16, SparkplugDataType.UInt64, "long_value", 123_456_789_012UL),
            },
        }));

        // the asset model now has the device, typed from the metric datatypes
        var asset = await node.Http.GetFromJsonAsync<JsonElement>("api/assets/press-1");
        Assert.Equal("spb.press-1", asset.GetProperty("typeId").GetString());
        Assert.Equal($"spb.{Group}.{Edge}", asset.GetProperty("parentId").GetString());
        var type = await node.Http.GetFromJsonAsync<JsonElement>("api/types/spb.press-1");
        var kinds = type.GetProperty("tags").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!, t => t.GetProperty("dataType").GetString());
        Assert.Equal("Float64", kinds["Motor.Speed"]);
        Assert.Equal("Int64", kinds["Count"]);
        Assert.Equal("Bool", kinds["Running"]);
        Assert.Equal("String", kinds["Recipe"]);
        Assert.Equal("Int64", kinds["Last_Service"]);
        Assert.Equal("Bool", kinds[SparkplugIngest.OnlineTag]);
        Assert.Equal("Float64", (await node.Http.GetFromJsonAsync<JsonElement>("api/types/spb.edge-7")).GetProperty("tags")[0].GetProperty("dataType").GetString());

        // birth values, then DDATA with aliases only and per-metric timestamps
        Assert.Equal(-5, (await LatestAsync(node.Http, "press-1/Offset")).GetProperty("value").GetInt64());
        Assert.Equal("A-12", (await LatestAsync(node.Http, "press-1/Recipe")).GetProperty("value").GetString());
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DDATA/{Edge}/press-1", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0 + 2000,
            seq = 2,
            metrics = new[]
            {
                Metric(null, 10, SparkplugDataType.Float, "float_value", 1499.25f, t0 + 1000),
                Metric(null, 11, SparkplugDataType.Int32, "int_value", 8u),
                Metric(null, 12, SparkplugDataType.Boolean, "boolean_value", false),
            },
        }));
        var speed = await LatestAsync(node.Http, "press-1/Motor.Speed");
        Assert.Equal(1499.25, speed.GetProperty("value").GetDouble());
        Assert.Equal(((long)t0 + 1000) * 1_000_000, speed.GetProperty("timestampNs").GetInt64());
        var count = await LatestAsync(node.Http, "press-1/Count");
        Assert.Equal(8, count.GetProperty("value").GetInt64());
        Assert.Equal(((long)t0 + 2000) * 1_000_000, count.GetProperty("timestampNs").GetInt64());
        Assert.False((await LatestAsync(node.Http, "press-1/Running")).GetProperty("value").GetBoolean());
        Assert.Equal(123_456_789_012, (await LatestAsync(node.Http, "press-1/Energy")).GetProperty("value").GetInt64());
        Assert.Equal(23.5, (await LatestAsync(node.Http, "edge-7/Supply_Voltage")).GetProperty("value").GetDouble());

        // a metric whose value does not fit its declared type is rejected, the rest of the message kept
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DDATA/{Edge}/press-1", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0 + 3000,
            seq = 3,
            metrics = new[]
            {
                Metric(null, 11, SparkplugDataType.Int32, "string_value", "nine"),
                Metric(null, 13, SparkplugDataType.String, "string_value", "B-7"),
            },
        }));
        Assert.Equal("B-7", (await LatestAsync(node.Http, "press-1/Recipe")).GetProperty("value").GetString());
        Assert.Equal(8, (await LatestAsync(node.Http, "press-1/Count")).GetProperty("value").GetInt64());
        var stats = (await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/sparkplug")).GetProperty("stats");
        Assert.True(stats.GetProperty("pointsRejected").GetInt64() >= 1, stats.ToString());
        Assert.Equal(0, stats.GetProperty("seqGaps").GetInt64());
    }

    [Fact]
    public async Task Seq_gap_sends_a_rebirth_request_and_deaths_mark_equipment_offline_and_host_state_is_retained()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);

        // STATE: retained, JSON, online (Sparkplug 3.0), read by a client nobody here wrote
        string state = await SparkplugPeer.ReceiveOneAsync(port, "spBv1.0/STATE/zhizao");
        var stateJson = JsonSerializer.Deserialize<JsonElement>(state);
        Assert.True(stateJson.GetProperty("online").GetBoolean());
        Assert.True(stateJson.GetProperty("timestamp").GetInt64() > 1_700_000_000_000);

        await using var edge = new MqttClient(new MqttClientOptions { Port = port, ClientId = "edge-listener" });
        var commands = new System.Collections.Concurrent.ConcurrentQueue<(string Topic, byte[] Payload)>();
        edge.MessageReceived = p => commands.Enqueue((p.Topic, p.Payload.ToArray()));
        await edge.ConnectAsync();
        await edge.SubscribeAsync($"spBv1.0/{Group}/NCMD/{Edge}", MqttQoS.AtMostOnce);

        ulong t0 = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NBIRTH/{Edge}", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0,
            seq = 254,
            metrics = new[] { Metric("bdSeq", null, SparkplugDataType.Int64, "long_value", 9), Metric("Load", 1, SparkplugDataType.Double, "double_value", 1.0) },
        }));
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DBIRTH/{Edge}/mixer-2", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0,
            seq = 255,
            metrics = new[] { Metric("Torque", 5, SparkplugDataType.Double, "double_value", 10.0) },
        }));
        // seq wraps 255 → 0: no gap
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DDATA/{Edge}/mixer-2", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0 + 1000,
            seq = 0,
            metrics = new[] { Metric(null, 5, SparkplugDataType.Double, "double_value", 11.0) },
        }));
        Assert.Equal(11.0, (await LatestAsync(node.Http, "mixer-2/Torque")).GetProperty("value").GetDouble());
        Assert.Empty(commands);
        Assert.True((await LatestAsync(node.Http, "mixer-2/spb.online")).GetProperty("value").GetBoolean());

        // seq 1 lost: 2 arrives → the host asks the edge node for a rebirth; the data itself is still stored
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DDATA/{Edge}/mixer-2", await SparkplugPeer.EncodeAsync(new
        {
            timestamp = t0 + 2000,
            seq = 2,
            metrics = new[] { Metric(null, 5, SparkplugDataType.Double, "double_value", 12.0) },
        }));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (commands.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(commands.TryDequeue(out var ncmd), "no NCMD within 30 s after a seq gap");
        Assert.Equal($"spBv1.0/{Group}/NCMD/{Edge}", ncmd.Topic);
        var decoded = await SparkplugPeer.DecodeAsync(ncmd.Payload); // our encoder, read by Google's protobuf
        var rebirth = decoded.GetProperty("metrics")[0];
        Assert.Equal("Node Control/Rebirth", rebirth.GetProperty("name").GetString());
        Assert.Equal((int)SparkplugDataType.Boolean, rebirth.GetProperty("datatype").GetInt32());
        Assert.True(rebirth.GetProperty("boolean_value").GetBoolean());
        Assert.Equal(12.0, (await LatestAsync(node.Http, "mixer-2/Torque")).GetProperty("value").GetDouble());

        // DDEATH: the device is offline, its online tag false at the death's time
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DDEATH/{Edge}/mixer-2", await SparkplugPeer.EncodeAsync(new { timestamp = t0 + 3000, seq = 3 }));
        Assert.False((await EndpointAsync(node.Http, "mixer-2")).GetProperty("online").GetBoolean());
        var online = await LatestAsync(node.Http, "mixer-2/spb.online");
        Assert.False(online.GetProperty("value").GetBoolean());
        Assert.Equal(((long)t0 + 3000) * 1_000_000, online.GetProperty("timestampNs").GetInt64());
        Assert.True((await EndpointAsync(node.Http, null)).GetProperty("online").GetBoolean());

        // an NDEATH of an older session (bdSeq 8) is stale; the one matching the NBIRTH (9) takes the node offline
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NDEATH/{Edge}", await SparkplugPeer.EncodeAsync(new { metrics = new[] { Metric("bdSeq", null, SparkplugDataType.Int64, "long_value", 8) } }));
        Assert.True((await EndpointAsync(node.Http, null)).GetProperty("online").GetBoolean());
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NDEATH/{Edge}", await SparkplugPeer.EncodeAsync(new { metrics = new[] { Metric("bdSeq", null, SparkplugDataType.Int64, "long_value", 9) } }));
        Assert.False((await EndpointAsync(node.Http, null)).GetProperty("online").GetBoolean());
        Assert.False((await LatestAsync(node.Http, "edge-7/spb.online")).GetProperty("value").GetBoolean());
        var stats = (await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/sparkplug")).GetProperty("stats");
        Assert.Equal(1, stats.GetProperty("seqGaps").GetInt64());
        Assert.Equal(1, stats.GetProperty("staleDeaths").GetInt64());
        Assert.Equal(1, stats.GetProperty("rebirthRequests").GetInt64());
    }

    [Fact]
    public async Task Malformed_payloads_and_data_before_birth_are_counted_and_the_node_keeps_ingesting()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NDATA/{Edge}", [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]); // length past the end
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NDATA/{Edge}", [0x0B]); // wire type 3 (group)
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/BOGUS/{Edge}", [0x08, 0x01]);
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NDATA/{Edge}", await SparkplugPeer.EncodeAsync(new { seq = 4, metrics = new[] { Metric(null, 1, SparkplugDataType.Double, "double_value", 1.0) } }));
        var stats = (await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/sparkplug")).GetProperty("stats");
        Assert.Equal(3, stats.GetProperty("badPayloads").GetInt64());
        Assert.Equal(1, stats.GetProperty("droppedBeforeBirth").GetInt64());
        Assert.Equal(1, stats.GetProperty("rebirthRequests").GetInt64());

        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NBIRTH/{Edge}", await SparkplugPeer.EncodeAsync(new { seq = 0, metrics = new[] { Metric("Load", 1, SparkplugDataType.Double, "double_value", 4.5) } }));
        Assert.Equal(4.5, (await LatestAsync(node.Http, "edge-7/Load")).GetProperty("value").GetDouble());
    }

    [Fact]
    public async Task Edge_nodes_and_devices_beyond_the_limits_are_refused_and_counted()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);
        var limits = node.Services.GetService(typeof(SparkplugOptions)) as SparkplugOptions;
        limits!.MaxEdgeNodes = 1;
        limits.MaxDevicesPerNode = 1;
        byte[] Birth(int seq) => SparkplugCodec.Encode(new SparkplugPayload { Seq = (ulong)seq, Metrics = { SparkplugMetric.Of("v", 1, SparkplugDataType.Double, 1.0) } });
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NBIRTH/{Edge}", Birth(0));
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DBIRTH/{Edge}/dev-a", Birth(1));
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/DBIRTH/{Edge}/dev-b", Birth(2));
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NBIRTH/other-edge", Birth(0));
        await SparkplugPeer.PublishAsync(port, $"spBv1.0/{Group}/NDATA/third-edge", Birth(1));
        var stats = (await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/sparkplug")).GetProperty("stats");
        Assert.Equal(3, stats.GetProperty("overLimit").GetInt64());
        Assert.Equal(0, stats.GetProperty("rebirthRequests").GetInt64());
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("api/assets/dev-a")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("api/assets/dev-b")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("api/assets/other-edge")).StatusCode);
    }

    [Fact]
    public async Task Our_encoder_and_googles_protobuf_agree_both_ways()
    {
        var ours = new SparkplugPayload { Timestamp = 1_767_225_600_123, Seq = 17 };
        ours.Metrics.Add(SparkplugMetric.Of("Motor/Speed", 10, SparkplugDataType.Float, 12.5f, 1_767_225_600_000));
        ours.Metrics.Add(SparkplugMetric.Of("Offset", 11, SparkplugDataType.Int16, -300));
        ours.Metrics.Add(SparkplugMetric.Of("Total", 12, SparkplugDataType.Int64, -9_000_000_000L));
        ours.Metrics.Add(SparkplugMetric.Of("Name", null, SparkplugDataType.String, "压机 1"));
        ours.Metrics.Add(SparkplugMetric.Of("Gone", 13, SparkplugDataType.Double, null));
        var theirs = await SparkplugPeer.DecodeAsync(SparkplugCodec.Encode(ours));
        Assert.Equal("1767225600123", theirs.GetProperty("timestamp").GetString());
        Assert.Equal("17", theirs.GetProperty("seq").GetString());
        var m = theirs.GetProperty("metrics");
        Assert.Equal(12.5, m[0].GetProperty("float_value").GetDouble());
        Assert.Equal("1767225600000", m[0].GetProperty("timestamp").GetString());
        Assert.Equal(unchecked((uint)-300), m[1].GetProperty("int_value").GetUInt32());
        Assert.Equal(unchecked((ulong)-9_000_000_000L).ToString(CultureInfo.InvariantCulture), m[2].GetProperty("long_value").GetString());
        Assert.Equal("压机 1", m[3].GetProperty("string_value").GetString());
        Assert.True(m[4].GetProperty("is_null").GetBoolean());

        byte[] bytes = await SparkplugPeer.EncodeAsync(new
        {
            timestamp = 42UL,
            seq = 255,
            metrics = new object[]
            {
                Metric("d", 1, SparkplugDataType.Double, "double_value", -0.125),
                Metric("b", 2, SparkplugDataType.Boolean, "boolean_value", true),
                Metric("u", 3, SparkplugDataType.UInt32, "int_value", 4_000_000_000u),
            },
        });
        var back = SparkplugCodec.Decode(bytes);
        Assert.Equal(42UL, back.Timestamp);
        Assert.Equal(255UL, back.Seq);
        Assert.True(SparkplugIngest.TryValue(SparkplugDataType.Double, back.Metrics[0], out var d, out _));
        Assert.Equal(-0.125, d.AsDouble);
        Assert.True(SparkplugIngest.TryValue(SparkplugDataType.Boolean, back.Metrics[1], out var b, out _));
        Assert.True(b.AsBool);
        Assert.True(SparkplugIngest.TryValue(SparkplugDataType.UInt32, back.Metrics[2], out var u, out _));
        Assert.Equal(4_000_000_000L, u.AsInt64);
        Assert.Equal(bytes, SparkplugCodec.Encode(back)); // field order as protobuf writes it: byte-identical
    }

    [Theory]
    [InlineData(new byte[] { 0x08 }, "truncated varint")]
    [InlineData(new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, "longer than 10 bytes")]
    [InlineData(new byte[] { 0x12, 0x05, 0x0A }, "exceeds")]
    [InlineData(new byte[] { 0x12, 0x02, 0x0A, 0x05 }, "metric: length 5 exceeds")]
    [InlineData(new byte[] { 0x12, 0x02, 0x0A, 0x01, 0xFF }, "metric: length 1 exceeds")]
    [InlineData(new byte[] { 0x12, 0x03, 0x0A, 0x01, 0xFF }, "not UTF-8")]
    [InlineData(new byte[] { 0x00 }, "invalid field number 0")]
    [InlineData(new byte[] { 0x0E }, "unsupported wire type 6")]
    public void Hostile_payloads_are_refused_with_the_reason_and_offset(byte[] payload, string reason)
    {
        var e = Assert.Throws<SparkplugFormatException>(() => SparkplugCodec.Decode(payload));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.InRange(e.Offset, 0, payload.Length);
    }

    [Theory]
    [InlineData("spBv1.0/g/NBIRTH/n", true)]
    [InlineData("spBv1.0/g/DDATA/n/d", true)]
    [InlineData("spBv1.0/STATE/host", true)]
    [InlineData("spBv1.0/g/DDATA/n", false)]
    [InlineData("spBv1.0/g/NDATA/n/d", false)]
    [InlineData("spBv1.0/g/XDATA/n", false)]
    [InlineData("spBv1.0//NDATA/n", false)]
    [InlineData("spAv1.0/g/NDATA/n", false)]
    public void Topics_are_parsed_by_the_namespace_rules(string topic, bool valid)
    {
        Assert.Equal(valid, SparkplugTopic.TryParse(topic, out var t, out string? error));
        Assert.Equal(valid, error is null);
        if (valid)
        {
            Assert.Equal(topic, t.ToString());
        }
    }
}

public sealed class MqttDemoSparkplugTests
{
    [Fact]
    public async Task Demo_over_mqtt_stores_line_1_from_json_and_line_2_from_sparkplug_b()
    {
        int port = SparkplugPeer.FreePort();
        await using var node = await Node.StartAsync(o =>
        {
            o.MqttPort = port;
            o.Demo = true;
            o.DemoRateHz = 5;
        });

        // line 1 conveyor: MQTT JSON; line 2 moulding machine: Sparkplug B (ovens and meters come over Modbus, CNCs over
        // OPC UA, and pumps and compressors already have values from the simulated history — none of them proves MQTT)
        foreach (string series in new[] { "l1-conv-01/state", "l2-imm-01/state" })
        {
            await SparkplugPeer.WaitAsync(async () =>
            {
                var list = await node.Http.GetFromJsonAsync<JsonElement>($"api/latest?series={series}");
                return list.GetArrayLength() == 1 ? list[0] : null;
            }, $"a value of {series}");
        }

        // l2-pump-02/state may already hold a value from the demo's simulated history, so wait for the device itself
        // to be born over Sparkplug B (not just for a value of its state)
        var spb = await SparkplugPeer.WaitAsync(async () =>
        {
            var s = await node.Http.GetFromJsonAsync<JsonElement>("api/mqtt/sparkplug");
            bool born = s.GetProperty("endpoints").EnumerateArray().Any(e =>
                e.TryGetProperty("device", out var d) && d.GetString() == "l2-pump-02" && e.GetProperty("online").GetBoolean());
            return born ? s : null;
        }, "the Sparkplug B birth of l2-pump-02");
        var devices = spb.GetProperty("endpoints").EnumerateArray().Where(e => e.TryGetProperty("device", out _)).ToList();
        Assert.All(devices, d => Assert.StartsWith("l2-", d.GetProperty("device").GetString(), StringComparison.Ordinal));
        Assert.Contains(devices, d => d.GetProperty("device").GetString() == "l2-pump-02" && d.GetProperty("online").GetBoolean());
        Assert.Equal(0, spb.GetProperty("stats").GetProperty("pointsRejected").GetInt64());
        // the demo's own asset model is kept: devices bind to the registered machines, no Sparkplug tree is added
        var asset = await node.Http.GetFromJsonAsync<JsonElement>("api/assets/l2-pump-02");
        Assert.False(asset.GetProperty("typeId").GetString()!.StartsWith("spb.", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("api/assets/spb")).StatusCode);
    }

    [Theory]
    [InlineData("mqtt", 1883, 3)]
    [InlineData("http", 1883, 1)]
    [InlineData("mqtt", null, 1)]
    public void Plan_sends_line_1_as_json_line_2_as_sparkplug_and_the_rest_over_http(string transport, int? port, int feeds)
    {
        string[] ids = ["l1-a", "l1-b", "l2-a", "util-1"];
        var plan = Zhizao.Demo.DemoService.PlanFeeds(ids, transport, port);
        Assert.Equal(feeds, plan.Count);
        Assert.Equal(ids.Length, plan.Sum(p => p.MachineIds.Count));
        if (feeds == 3)
        {
            Assert.Equal(["l1-a", "l1-b"], plan.Single(p => p.Kind == Zhizao.Demo.DemoFeedKind.MqttJson).MachineIds.Order());
            Assert.Equal(["l2-a"], plan.Single(p => p.Kind == Zhizao.Demo.DemoFeedKind.SparkplugB).MachineIds);
            Assert.Equal(["util-1"], plan.Single(p => p.Kind == Zhizao.Demo.DemoFeedKind.HttpLineProtocol).MachineIds);
        }
        else
        {
            Assert.Equal(Zhizao.Demo.DemoFeedKind.HttpLineProtocol, plan[0].Kind);
        }
    }
}
