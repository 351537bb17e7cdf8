using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Zhizao.Core;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;
using Zhizao.Mqtt.Sparkplug;
using Zhizao.Simulator.Feeds;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public sealed class MqttFeedTests
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private sealed class Sink : IMqttMessageSink
    {
        public ConcurrentQueue<MqttApplicationMessage> Messages { get; } = new();

        public ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken)
        {
            foreach (var m in batch)
            {
                Messages.Enqueue(m);
            }

            return ValueTask.CompletedTask;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} within 30 s");
            await Task.Delay(20);
        }
    }

    private static List<Sample> Step(VirtualFactory f, long ns, string prefix)
    {
        var all = new List<Sample>();
        f.Step(ns, all);
        return all.Where(s => s.SeriesKey.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public async Task Json_feed_keeps_steps_while_the_broker_is_down_and_delivers_them_in_order_once_it_is_up()
    {
        int port = FreePort();
        var f = VirtualFactory.CreateDefault(1, Monday);
        var log = new ConcurrentQueue<string>();
        await using var feed = new MqttJsonFeed(new MqttFeedOptions { Port = port, ClientId = "json-feed", InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200) }, log.Enqueue);
        await feed.StartAsync(CancellationToken.None);
        var steps = new List<List<Sample>>();
        for (int i = 1; i <= 3; i++)
        {
            var s = Step(f, Monday + (i * 1_000_000_000L), "l1-");
            steps.Add(s);
            feed.OnStep(Monday + (i * 1_000_000_000L), s);
        }

        await WaitUntilAsync(() => feed.FailedAttempts >= 1, "a failed connect");
        Assert.Equal(0, feed.SentSteps);
        Assert.Contains(log, l => l.Contains("steps are kept", StringComparison.Ordinal));

        var sink = new Sink();
        await using var broker = new MqttBroker(new MqttBrokerOptions { Port = port, MessageSink = sink });
        await broker.StartAsync();
        await WaitUntilAsync(() => feed.SentSteps == 3, "three steps acknowledged");
        var received = sink.Messages.ToList();
        Assert.Equal(3, received.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("zhizao/json", received[i].Topic);
            Assert.Equal(MqttQoS.AtLeastOnce, received[i].QoS);
            using var doc = JsonDocument.Parse(received[i].Payload);
            var points = doc.RootElement.GetProperty("points");
            var first = steps[i][0];
            string machine = first.SeriesKey[..first.SeriesKey.IndexOf('/')];
            var p0 = points[0];
            Assert.Equal(machine, p0.GetProperty("equipment").GetString());
            Assert.Equal(first.TimestampNs, p0.GetProperty("t").GetInt64());
            Assert.Equal(steps[i].Count, points.EnumerateArray().Sum(p => p.GetProperty("values").EnumerateObject().Count()));
            string tag = first.SeriesKey[(first.SeriesKey.IndexOf('/') + 1)..];
            Assert.Equal(first.Value.ToString(), p0.GetProperty("values").GetProperty(tag).ToString() is var v && first.Value.Kind == ValueKind.Bool ? v.ToLowerInvariant() : JsonValueText(p0.GetProperty("values").GetProperty(tag), first.Value));
        }
    }

    [Fact]
    public async Task Sparkplug_feed_survives_a_broker_restart_rebirths_and_forwards_the_steps_taken_meanwhile()
    {
        int port = FreePort();
        var f = VirtualFactory.CreateDefault(1, Monday);
        var sink1 = new Sink();
        var broker = new MqttBroker(new MqttBrokerOptions { Port = port, MessageSink = sink1 });
        await broker.StartAsync();
        await using var feed = new MqttSparkplugFeed(new MqttFeedOptions { Port = port, ClientId = "spb-restart", InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200) }, "g1", "edge-r");
        await feed.StartAsync(CancellationToken.None);
        feed.OnStep(Monday + 1_000_000_000, Step(f, Monday + 1_000_000_000, "l2-pump-01"));
        await WaitUntilAsync(() => feed.SentSteps == 1, "the first step acknowledged");
        await broker.DisposeAsync();
        await WaitUntilAsync(() => !feed.IsConnected, "the feed noticing the outage");

        feed.OnStep(Monday + 2_000_000_000, Step(f, Monday + 2_000_000_000, "l2-pump-01"));
        feed.OnStep(Monday + 3_000_000_000, Step(f, Monday + 3_000_000_000, "l2-pump-01"));
        var sink2 = new Sink();
        await using var again = new MqttBroker(new MqttBrokerOptions { Port = port, MessageSink = sink2 });
        await again.StartAsync();
        await WaitUntilAsync(() => feed.SentSteps == 3, "the steps taken during the outage acknowledged");
        var topics = sink2.Messages.Select(m => m.Topic[(m.Topic.IndexOf('/', 8) + 1)..]).ToList();
        Assert.Equal(["NBIRTH/edge-r", "DBIRTH/edge-r/l2-pump-01", "DDATA/edge-r/l2-pump-01"], topics);
        var birth = SparkplugCodec.Decode(sink2.Messages.First().Payload.Span);
        Assert.Contains(birth.Metrics, m => m.Name == "bdSeq" && m.IntegerBits == 1); // a new session
        var dbirth = SparkplugCodec.Decode(sink2.Messages.ElementAt(1).Payload.Span);
        Assert.All(dbirth.Metrics, m => Assert.Equal((ulong)((Monday + 2_000_000_000) / 1_000_000), m.Timestamp)); // step 2, kept while down
    }

    private static string JsonValueText(JsonElement e, TagValue expected) => expected.Kind switch
    {
        ValueKind.Float64 => e.GetDouble().ToString("R", CultureInfo.InvariantCulture),
        ValueKind.Int64 => e.GetInt64().ToString(CultureInfo.InvariantCulture),
        _ => e.GetString()!,
    };

    [Fact]
    public async Task Sparkplug_feed_through_mosquitto_births_with_aliases_then_data_with_aliases_only_and_rebirths_on_request()
    {
        if (!File.Exists("/usr/sbin/mosquitto"))
        {
            throw new InvalidOperationException("mosquitto is not installed: apt-get install -y mosquitto");
        }

        int port = FreePort();
        using var mosquitto = Process.Start(new ProcessStartInfo("/usr/sbin/mosquitto", ["-p", port.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            var got = new ConcurrentQueue<(string Topic, SparkplugPayload Payload)>();
            await using var host = new MqttClient(new MqttClientOptions { Port = port, ClientId = "test-host" });
            host.MessageReceived = p => got.Enqueue((p.Topic, SparkplugCodec.Decode(p.Payload.Span)));
            await WaitUntilAsync(() =>
            {
                try
                {
                    host.ConnectAsync().GetAwaiter().GetResult();
                    return true;
                }
                catch (MqttClientException)
                {
                    return false;
                }
            }, "mosquitto accepting connections");
            await host.SubscribeAsync("spBv1.0/#", MqttQoS.AtLeastOnce);

            var f = VirtualFactory.CreateDefault(1, Monday);
            await using var feed = new MqttSparkplugFeed(new MqttFeedOptions { Port = port, ClientId = "spb-feed" }, "g1", "edge-1");
            await feed.StartAsync(CancellationToken.None);
            var step1 = Step(f, Monday + 1_000_000_000, "l2-");
            feed.OnStep(Monday + 1_000_000_000, step1);
            feed.OnStep(Monday + 2_000_000_000, Step(f, Monday + 2_000_000_000, "l2-"));
            int machines = step1.Select(s => s.SeriesKey[..s.SeriesKey.IndexOf('/')]).Distinct().Count();
            await WaitUntilAsync(() => got.Count >= 1 + (2 * machines), "NBIRTH, DBIRTHs and DDATAs");

            var list = got.ToList();
            Assert.Equal("spBv1.0/g1/NBIRTH/edge-1", list[0].Topic);
            Assert.Equal(0UL, list[0].Payload.Seq);
            Assert.Contains(list[0].Payload.Metrics, m => m.Name == "bdSeq" && m.IntegerBits == 0);
            Assert.Contains(list[0].Payload.Metrics, m => m.Name == "Node Control/Rebirth" && m.DataType == SparkplugDataType.Boolean);
            for (int i = 1; i < list.Count; i++)
            {
                Assert.Equal((ulong)(i & 255), list[i].Payload.Seq); // one counter over all messages of the node
            }

            var births = list.Skip(1).Take(machines).ToList();
            Assert.All(births, b => Assert.Matches("^spBv1.0/g1/DBIRTH/edge-1/l2-", b.Topic));
            Assert.All(births.SelectMany(b => b.Payload.Metrics), m =>
            {
                Assert.NotNull(m.Name);
                Assert.NotNull(m.Alias);
                Assert.NotNull(m.DataType);
            });
            var firstBirth = births[0];
            string device = firstBirth.Topic[(firstBirth.Topic.LastIndexOf('/') + 1)..];
            var expected = step1.Where(s => s.SeriesKey.StartsWith(device + "/", StringComparison.Ordinal)).ToList();
            Assert.Equal(expected.Select(s => s.SeriesKey[(device.Length + 1)..]), firstBirth.Payload.Metrics.Select(m => m.Name));
            var data = list.Skip(1 + machines).Take(machines).ToList();
            Assert.All(data, d => Assert.Matches("^spBv1.0/g1/DDATA/edge-1/l2-", d.Topic));
            Assert.All(data.SelectMany(d => d.Payload.Metrics), m =>
            {
                Assert.Null(m.Name);
                Assert.NotNull(m.Alias);
            });
            var aliases = births.SelectMany(b => b.Payload.Metrics.Select(m => m.Alias!.Value)).ToList();
            Assert.Equal(aliases.Count, aliases.Distinct().Count()); // unique across the edge node

            // the host asks for a rebirth: the next step starts with NBIRTH (seq 0) and DBIRTHs again
            got.Clear();
            var cmd = new SparkplugPayload { Timestamp = 1 };
            cmd.Metrics.Add(SparkplugMetric.Of("Node Control/Rebirth", null, SparkplugDataType.Boolean, true));
            await host.PublishAsync("spBv1.0/g1/NCMD/edge-1", SparkplugCodec.Encode(cmd), MqttQoS.AtMostOnce);
            await WaitUntilAsync(() => feed.RebirthRequests == 1, "the rebirth request seen by the feed");
            feed.OnStep(Monday + 3_000_000_000, Step(f, Monday + 3_000_000_000, "l2-"));
            await WaitUntilAsync(() => got.Count(g => !g.Topic.Contains("/NCMD/", StringComparison.Ordinal)) >= 1 + machines, "NBIRTH and DBIRTHs after the rebirth request");
            list = got.Where(g => !g.Topic.Contains("/NCMD/", StringComparison.Ordinal)).ToList();
            Assert.Equal("spBv1.0/g1/NBIRTH/edge-1", list[0].Topic);
            Assert.Equal(0UL, list[0].Payload.Seq);
            Assert.All(list.Skip(1).Take(machines), b => Assert.Contains("/DBIRTH/", b.Topic, StringComparison.Ordinal));

            // an orderly stop says NDEATH with the session's bdSeq
            got.Clear();
            await feed.DisposeAsync();
            await WaitUntilAsync(() => got.Any(g => g.Topic == "spBv1.0/g1/NDEATH/edge-1"), "NDEATH");
            Assert.Contains(got.First(g => g.Topic.EndsWith("NDEATH/edge-1", StringComparison.Ordinal)).Payload.Metrics, m => m.Name == "bdSeq" && m.IntegerBits == 0);
        }
        finally
        {
            mosquitto.Kill();
            await mosquitto.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Line_protocol_publisher_as_a_plant_feed_posts_the_steps_it_is_handed()
    {
        var requests = new ConcurrentQueue<string>();
        var handler = new RecordingHandler(requests);
        await using var feed = new LineProtocolPublisher(new HttpClient(handler), new LineProtocolPublisherOptions { BaseUrl = new Uri("http://zhizao.test:5080") });
        Assert.Equal("http-lp", feed.Name);
        await feed.StartAsync(CancellationToken.None);
        feed.OnStep(5_000_000_000, [new Sample("m-1/v", 5_000_000_000, TagValue.FromDouble(1.5)), new Sample("m-1/s", 5_000_000_000, TagValue.FromInt64(2))]);
        await WaitUntilAsync(() => feed.PublishedSteps == 1, "one step posted");
        Assert.Equal("m-1 v=1.5,s=2i 5000000000\n", Assert.Single(requests));
        await Assert.ThrowsAsync<InvalidOperationException>(() => feed.RunAsync(CancellationToken.None));
    }

    private sealed class RecordingHandler(ConcurrentQueue<string> requests) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            requests.Enqueue(Encoding.UTF8.GetString(await request.Content!.ReadAsByteArrayAsync(cancellationToken)));
            return new HttpResponseMessage(HttpStatusCode.NoContent);
        }
    }
}
