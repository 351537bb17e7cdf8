using System.Diagnostics;
using System.Text;
using Zhizao.Mqtt.Broker;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// The real mosquitto_pub and mosquitto_sub (3.1.1 and 5) against our broker. Skipped, saying so, when the tools are
/// not installed (apt-get install -y mosquitto-clients).
/// </summary>
public class BrokerToolsInteropTests
{
    private static string[] Host(MqttBroker broker) => ["-h", "127.0.0.1", "-p", broker.Port.ToString()];

    /// <summary>Starts mosquitto_sub and waits until the broker holds its subscriptions.</summary>
    private static async Task<Process> SubscribeAsync(MqttBroker broker, int expectedSubscriptions, params string[] args)
    {
        var p = Mosquitto.Start("mosquitto_sub", [.. Host(broker), .. args]);
        await Wait.UntilAsync(() => broker.SubscriptionCount >= expectedSubscriptions || p.HasExited, "mosquitto_sub to subscribe");
        if (p.HasExited)
            Assert.Fail($"mosquitto_sub exited early: {await p.StandardError.ReadToEndAsync()}");
        return p;
    }

    private static async Task<string[]> OutputAsync(Process p)
    {
        using var cts = new CancellationTokenSource(Wait.Timeout);
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill();
            throw new TimeoutException($"mosquitto_sub did not receive its messages within {Wait.Timeout}");
        }
        if (p.ExitCode != 0)
            Assert.Fail($"mosquitto_sub exited {p.ExitCode}: {await p.StandardError.ReadToEndAsync()}");
        return (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Server → client topic aliases are off by default because of this peer: libmosquitto 2.0.11 announces a
    /// Topic Alias Maximum when told to (-D connect topic-alias-maximum) but fails with a protocol error on the first
    /// PUBLISH that carries only an alias (seen with <see cref="MqttBrokerOptions.ServerTopicAliases"/> on). With the
    /// default, such a client gets every topic in full.</summary>
    [MosquittoFact]
    public async Task Mosquitto_sub_announcing_a_topic_alias_maximum_gets_every_topic_with_the_default_settings()
    {
        await using var broker = await TestBroker.StartAsync();
        using var sub = await SubscribeAsync(broker, 1, "-V", "mqttv5", "-q", "1", "-t", "alias/#", "-C", "6", "-F", "%t|%p",
            "-D", "connect", "topic-alias-maximum", "2");
        await using var pub = await TestClient.ConnectAsync(broker.Port, "alias-pub");
        string[] topics = ["alias/line-1/a", "alias/line-1/a", "alias/line-1/b", "alias/line-1/c", "alias/line-1/a", "alias/line-1/c"];
        for (int i = 0; i < topics.Length; i++)
            await pub.Client.PublishAsync(topics[i], Encoding.UTF8.GetBytes($"m{i}"), MqttQoS.AtLeastOnce);
        Assert.Equal(topics.Select((t, i) => $"{t}|m{i}"), await OutputAsync(sub));
    }

    [MosquittoTheory]
    [InlineData("mqttv311", 0)]
    [InlineData("mqttv311", 1)]
    [InlineData("mqttv311", 2)]
    [InlineData("mqttv5", 0)]
    [InlineData("mqttv5", 1)]
    [InlineData("mqttv5", 2)]
    public async Task Mosquitto_pub_to_mosquitto_sub_through_our_broker(string version, int qos)
    {
        await using var broker = await TestBroker.StartAsync();
        using var sub = await SubscribeAsync(broker, 1, "-V", version, "-q", qos.ToString(), "-t", "tools/#", "-C", "3", "-F", "%t|%q|%p");
        for (int i = 0; i < 3; i++)
            await Mosquitto.PublishAsync(broker.Port, "-V", version, "-q", qos.ToString(), "-t", "tools/a", "-m", $"m{i}");
        Assert.Equal([$"tools/a|{qos}|m0", $"tools/a|{qos}|m1", $"tools/a|{qos}|m2"], await OutputAsync(sub));
    }

    [MosquittoTheory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Retained_message_from_mosquitto_pub_reaches_a_later_mosquitto_sub(string version)
    {
        await using var broker = await TestBroker.StartAsync();
        await Mosquitto.PublishAsync(broker.Port, "-V", version, "-q", "1", "-r", "-t", "tools/retained", "-m", "keep");
        await Wait.UntilAsync(() => broker.RetainedCount == 1, "the retained message");
        var (code, output, err) = await Mosquitto.RunAsync("mosquitto_sub", [.. Host(broker), "-V", version, "-t", "tools/retained", "-C", "1", "-F", "%r|%p"]);
        Assert.True(code == 0, err);
        Assert.Equal("1|keep", output.Trim());
    }

    [MosquittoTheory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Will_of_a_killed_mosquitto_sub_is_published(string version)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var watcher = await TestClient.ConnectAsync(broker.Port, "watcher");
        await watcher.Client.SubscribeAsync("tools/will");
        using var victim = await SubscribeAsync(broker, 2, "-V", version, "-t", "tools/none", "--will-topic", "tools/will", "--will-payload", "bye", "--will-qos", "1");
        victim.Kill();
        var will = await watcher.ReceiveAsync();
        Assert.Equal("bye", Encoding.UTF8.GetString(will.Payload.Span));
    }

    [MosquittoFact]
    public async Task V5_properties_from_mosquitto_pub_arrive_intact()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var sub = await TestClient.ConnectAsync(broker.Port, "sub");
        await sub.Client.SubscribeAsync("tools/props");
        await Mosquitto.PublishAsync(broker.Port, "-V", "mqttv5", "-q", "1", "-t", "tools/props", "-m", "{\"t\":21.5}",
            "-D", "publish", "user-property", "line", "L1", "-D", "publish", "user-property", "shift", "night",
            "-D", "publish", "response-topic", "tools/reply", "-D", "publish", "correlation-data", "req-7",
            "-D", "publish", "content-type", "application/json", "-D", "publish", "message-expiry-interval", "60",
            "-D", "publish", "payload-format-indicator", "1");
        var m = await sub.ReceiveAsync();
        var p = m.Properties!;
        Assert.Equal([new MqttUserProperty("line", "L1"), new MqttUserProperty("shift", "night")], p.UserProperties!);
        Assert.Equal("tools/reply", p.ResponseTopic);
        Assert.Equal("req-7", Encoding.UTF8.GetString(p.CorrelationData!));
        Assert.Equal("application/json", p.ContentType);
        Assert.Equal((byte)1, p.PayloadFormatIndicator);
        Assert.InRange(p.MessageExpiryInterval!.Value, 1u, 60u);
    }

    [MosquittoFact]
    public async Task V5_properties_from_our_client_are_printed_by_mosquitto_sub()
    {
        await using var broker = await TestBroker.StartAsync();
        using var sub = await SubscribeAsync(broker, 1, "-V", "mqttv5", "-t", "tools/out", "-C", "1", "-F", "%P|%R|%C|%p");
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        await pub.Client.PublishAsync("tools/out", Encoding.UTF8.GetBytes("hello"), MqttQoS.AtLeastOnce, properties: new MqttProperties
        {
            UserProperties = [new("k", "v")],
            ResponseTopic = "tools/back",
            ContentType = "text/plain",
        });
        Assert.Equal(["k:v|tools/back|text/plain|hello"], await OutputAsync(sub));
    }

    [MosquittoFact]
    public async Task Shared_subscription_of_two_mosquitto_subs_splits_the_messages()
    {
        await using var broker = await TestBroker.StartAsync();
        using var a = await SubscribeAsync(broker, 1, "-V", "mqttv5", "-q", "1", "-t", "$share/workers/tools/jobs", "-C", "2");
        using var b = await SubscribeAsync(broker, 2, "-V", "mqttv5", "-q", "1", "-t", "$share/workers/tools/jobs", "-C", "2");
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        for (int i = 0; i < 4; i++)
            await pub.Client.PublishAsync("tools/jobs", Encoding.UTF8.GetBytes($"job{i}"), MqttQoS.AtLeastOnce);
        var got = (await OutputAsync(a)).Concat(await OutputAsync(b)).Order().ToArray();
        Assert.Equal(["job0", "job1", "job2", "job3"], got);
    }

    [MosquittoTheory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Mosquitto_pub_with_a_wrong_password_is_refused(string version)
    {
        await using var broker = await TestBroker.StartAsync(o => o.Authenticator = new MqttPasswordAuthenticator().Add("plc", "right"));
        var (bad, _, err) = await Mosquitto.RunAsync("mosquitto_pub", [.. Host(broker), "-V", version, "-u", "plc", "-P", "wrong", "-t", "t", "-m", "x"]);
        Assert.NotEqual(0, bad);
        Assert.Contains("bad user name or password", err, StringComparison.OrdinalIgnoreCase);
        var (good, _, err2) = await Mosquitto.RunAsync("mosquitto_pub", [.. Host(broker), "-V", version, "-u", "plc", "-P", "right", "-t", "t", "-m", "x"]);
        Assert.True(good == 0, err2);
    }
}
