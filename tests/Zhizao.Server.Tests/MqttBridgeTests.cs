using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Zhizao.Connectors.Mqtt;
using Zhizao.Mqtt.Broker;

namespace Zhizao.Server.Tests;

/// <summary>The node's bridge to an external broker, tested against a private Debian mosquitto.</summary>
public sealed class MqttBridgeTests
{
    private sealed class CollectingSink : IMqttMessageSink
    {
        public ConcurrentQueue<string> Payloads { get; } = new();

        public ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken)
        {
            foreach (var m in batch)
            {
                Payloads.Enqueue(Encoding.UTF8.GetString(m.Payload.Span));
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Fails its first batch (as a full disk would), then collects.</summary>
    private sealed class FailingOnceSink : IMqttMessageSink
    {
        private int _calls;

        public ConcurrentQueue<string> Payloads { get; } = new();

        public ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _calls) == 1)
            {
                throw new IOException("disk full (test)");
            }

            foreach (var m in batch)
            {
                Payloads.Enqueue(Encoding.UTF8.GetString(m.Payload.Span));
            }

            return ValueTask.CompletedTask;
        }
    }

    internal sealed class ListLogger<T> : ILogger<T>
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue($"{eventId.Id} {formatter(state, exception)}");
    }

    private static async Task UntilAsync(Func<bool> condition, Func<string> what, double seconds = 30)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed.TotalSeconds > seconds)
            {
                Assert.Fail($"timed out after {seconds} s waiting for {what()}");
            }

            await Task.Delay(20);
        }
    }

    [Fact]
    public void Url_is_parsed_and_only_the_redacted_form_shows_the_user()
    {
        var o = MqttBridgeOptions.Parse("mqtts://plant%20a:s3cr%40t@broker.example:9883");
        Assert.Equal(("broker.example", 9883, true, "plant a", "s3cr@t"), (o.Host, o.Port, o.Tls, o.UserName, o.Password));
        Assert.Equal([MqttBridgeOptions.DefaultTopic], o.Topics);
        Assert.Equal("mqtts://plant%20a:***@broker.example:9883", o.RedactedUrl);
        Assert.Equal(1883, MqttBridgeOptions.Parse("mqtt://h").Port);
        Assert.Equal(8883, MqttBridgeOptions.Parse("mqtts://h").Port);
        Assert.Null(MqttBridgeOptions.Parse("mqtt://h").UserName);
        Assert.Equal(["a/+", "b/#"], MqttBridgeOptions.Parse("mqtt://h", ["a/+", "b/#"]).Topics);
    }

    [Theory]
    [InlineData("http://u:hunter2@h:1883", "not an mqtt:// or mqtts:// URL")]
    [InlineData("mqtt://u:hunter2@h:1883/plant", "path")]
    [InlineData("broker:1883", "not an mqtt:// or mqtts:// URL")]
    public void Bad_url_is_refused_naming_the_problem_never_the_password(string url, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => MqttBridgeOptions.Parse(url));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_topic_filter_and_certificates_on_plain_mqtt_are_refused()
    {
        Assert.Contains("a/#/b", Assert.Throws<ArgumentException>(() => MqttBridgeOptions.Parse("mqtt://h", ["a/#/b"])).Message, StringComparison.Ordinal);
        Assert.Contains("mqtts://", Assert.Throws<ArgumentException>(() => MqttBridgeOptions.Parse("mqtt://h", caFile: "/ca.pem")).Message, StringComparison.Ordinal);
        Assert.Contains("go together", Assert.Throws<ArgumentException>(() => MqttBridgeOptions.Parse("mqtts://h", certFile: "/c.pem")).Message, StringComparison.Ordinal);
    }

    [MosquittoBridgeFact]
    public async Task Two_bridges_in_one_share_group_split_the_messages_and_survive_a_broker_restart()
    {
        await using var mosquitto = await MosquittoPeer.StartAsync();
        string url = $"mqtt://bridge:hunter2@127.0.0.1:{mosquitto.Port}";
        var sinks = new[] { new CollectingSink(), new CollectingSink() };
        var logs = new[] { new ListLogger<MqttBridgeService>(), new ListLogger<MqttBridgeService>() };
        var bridges = Enumerable.Range(0, 2).Select(i =>
        {
            var o = MqttBridgeOptions.Parse(url);
            o = new MqttBridgeOptions { Host = o.Host, Port = o.Port, UserName = o.UserName, Password = o.Password, Topics = o.Topics, ClientId = $"node-{i}" };
            return new MqttBridgeService(o, sinks[i], logs[i]);
        }).ToArray();
        foreach (var b in bridges)
        {
            await b.StartAsync(CancellationToken.None);
        }

        try
        {
            await UntilAsync(() => bridges.All(b => b.IsSubscribed), () => "both bridges to subscribe");
            const int n = 1000;
            await mosquitto.PublishLinesAsync("zhizao/v/p-01/flow", Enumerable.Range(0, n).Select(i => $"m{i}"));
            await UntilAsync(() => sinks.Sum(s => s.Payloads.Count) >= n, () => $"{n} messages, got {sinks[0].Payloads.Count} + {sinks[1].Payloads.Count}");
            await Task.Delay(200); // a duplicate would land right behind
            var all = sinks.SelectMany(s => s.Payloads).ToList();
            Assert.Equal(n, all.Count);
            Assert.Equal(n, all.Distinct().Count());
            Assert.All(sinks, s => Assert.True(s.Payloads.Count > n / 10, $"the group did not split the messages: {sinks[0].Payloads.Count} / {sinks[1].Payloads.Count}"));

            // broker restart: both reconnect and renew their shared subscription, values flow again
            await mosquitto.StopAsync();
            await UntilAsync(() => bridges.All(b => !b.IsConnected), () => "the bridges to see the broker go");
            await mosquitto.StartAsync();
            await UntilAsync(() => bridges.All(b => b.IsConnected), () => "the bridges to reconnect", 60);
            int probes = 0;
            var before = sinks.Select(s => s.Payloads.Count).ToArray();
            await UntilAsync(() =>
            {
                if (sinks[0].Payloads.Count > before[0] && sinks[1].Payloads.Count > before[1])
                {
                    return true;
                }

                mosquitto.PublishLinesAsync("zhizao/v/p-01/flow", [$"probe{probes++}", $"probe{probes++}"]).GetAwaiter().GetResult();
                return false;
            }, () => "both bridges to receive again after the restart", 60);

            await mosquitto.PublishLinesAsync("zhizao/v/p-01/flow", Enumerable.Range(0, 500).Select(i => $"after{i}"));
            await UntilAsync(() => sinks.Sum(s => s.Payloads.Count(p => p.StartsWith("after", StringComparison.Ordinal))) >= 500, () => "the 500 messages after the restart");
            await Task.Delay(200);
            var after = sinks.SelectMany(s => s.Payloads).Where(p => p.StartsWith("after", StringComparison.Ordinal)).ToList();
            Assert.Equal(500, after.Count);
            Assert.Equal(500, after.Distinct().Count());
            Assert.All(logs, l => Assert.Contains(l.Lines, line => line.StartsWith("5232 ", StringComparison.Ordinal)));
            Assert.All(logs, l => Assert.DoesNotContain(l.Lines, line => line.Contains("hunter2", StringComparison.Ordinal)));
            Assert.All(logs, l => Assert.Contains(l.Lines, line => line.Contains("bridge:***@127.0.0.1", StringComparison.Ordinal)));
        }
        finally
        {
            foreach (var b in bridges)
            {
                await b.StopAsync(CancellationToken.None);
                b.Dispose();
            }
        }
    }

    [MosquittoBridgeFact]
    public async Task Bridge_started_before_the_broker_connects_when_it_comes_up()
    {
        int port = MosquittoPeer.FreePort();
        var sink = new CollectingSink();
        var log = new ListLogger<MqttBridgeService>();
        var o = MqttBridgeOptions.Parse($"mqtt://127.0.0.1:{port}", ["plant/#"]);
        using var bridge = new MqttBridgeService(o, sink, log);
        await bridge.StartAsync(CancellationToken.None);
        try
        {
            await UntilAsync(() => log.Lines.Any(l => l.StartsWith("5231 ", StringComparison.Ordinal)), () => "the failed connect to be logged");
            await using var mosquitto = await MosquittoPeerAt(port);
            await UntilAsync(() => bridge.IsSubscribed, () => "the bridge to subscribe", 60);
            await mosquitto.PublishLinesAsync("plant/x", ["late"]);
            await UntilAsync(() => sink.Payloads.Contains("late"), () => "the message");
        }
        finally
        {
            await bridge.StopAsync(CancellationToken.None);
        }
    }

    [MosquittoBridgeFact]
    public async Task Mqtts_bridge_with_a_client_certificate_receives_from_mosquitto_over_tls()
    {
        using var pki = new BridgeTestPki();
        var (cert, key) = pki.Issue("bridge", "CN=zhizao-bridge");
        pki.MakeReadableByAll();
        await using var mosquitto = await MosquittoPeer.StartAsync(
            $"cafile {pki.CaFile}\ncertfile {pki.ServerCert}\nkeyfile {pki.ServerKey}\nrequire_certificate true\nuse_identity_as_username true\n" +
            $"listener {MosquittoPeer.FreePort()} 127.0.0.1\n"); // a second, plain listener for mosquitto_pub
        var sink = new CollectingSink();
        var o = MqttBridgeOptions.Parse($"mqtts://127.0.0.1:{mosquitto.Port}", ["plant/#"], pki.CaFile, cert, key);
        using var bridge = new MqttBridgeService(o, sink, new ListLogger<MqttBridgeService>());
        await bridge.StartAsync(CancellationToken.None);
        try
        {
            await UntilAsync(() => bridge.IsSubscribed, () => "the mqtts bridge to subscribe");
            await MosquittoPeer.RunAsync("/usr/bin/mosquitto_pub", ["-h", "localhost", "-p", mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--cafile", pki.CaFile, "--cert", cert, "--key", key, "-q", "1", "-t", "plant/line-1", "-m", "over-tls"]);
            await UntilAsync(() => sink.Payloads.Contains("over-tls"), () => "the message over TLS");
        }
        finally
        {
            await bridge.StopAsync(CancellationToken.None);
        }
    }

    [MosquittoBridgeFact]
    public async Task Messages_whose_ingest_failed_are_resent_by_the_external_broker()
    {
        await using var mosquitto = await MosquittoPeer.StartAsync();
        var sink = new FailingOnceSink();
        var log = new ListLogger<MqttBridgeService>();
        var o = MqttBridgeOptions.Parse($"mqtt://127.0.0.1:{mosquitto.Port}", ["plant/#"]);
        using var bridge = new MqttBridgeService(o, sink, log);
        await bridge.StartAsync(CancellationToken.None);
        try
        {
            await UntilAsync(() => bridge.IsSubscribed, () => "the bridge to subscribe");
            await mosquitto.PublishLinesAsync("plant/x", Enumerable.Range(0, 20).Select(i => $"v{i}"));
            await UntilAsync(() => Enumerable.Range(0, 20).All(i => sink.Payloads.Contains($"v{i}")), () => $"all 20 messages after the failed batch; got {string.Join(",", sink.Payloads)}");
            Assert.Contains(log.Lines, l => l.StartsWith("5236 ", StringComparison.Ordinal) && l.Contains("resends", StringComparison.Ordinal));
        }
        finally
        {
            await bridge.StopAsync(CancellationToken.None);
        }
    }

    private static Task<MosquittoPeer> MosquittoPeerAt(int port) => MosquittoPeer.StartAsync(port);

    [MosquittoBridgeFact]
    public async Task Node_with_a_bridge_stores_what_the_external_broker_delivers()
    {
        await using var mosquitto = await MosquittoPeer.StartAsync();
        await using var node = await Node.StartAsync(o =>
        {
            o.MqttPort = 0;
            o.MqttBridge.Url = $"mqtt://node:pw@127.0.0.1:{mosquitto.Port}";
        });
        var bridge = node.Services.GetRequiredService<MqttBridgeService>();
        await UntilAsync(() => bridge.IsSubscribed, () => "the node's bridge to subscribe");
        await mosquitto.PublishLinesAsync("zhizao/v/bridge-01/flow", ["42.5"]);
        var sw = Stopwatch.StartNew();
        string last = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            var latest = await node.Http.GetFromJsonAsync<JsonElement>("api/latest?series=bridge-01/flow");
            last = latest.ToString();
            if (latest.GetArrayLength() > 0 && latest[0].GetProperty("value").GetDouble() == 42.5)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"bridge-01/flow did not arrive through the bridge; latest: {last}");
    }
}
