using System.Text;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

/// <summary>Our client against our broker and against a real mosquitto 2 started by the test.</summary>
public class ClientTests
{
    /// <summary>A broker the test can restart on the same port.</summary>
    private interface IPeer : IAsyncDisposable
    {
        int Port { get; }
        Task RestartAsync();
    }

    private sealed class OurPeer : IPeer
    {
        private MqttBroker _broker = null!;

        public int Port { get; private set; }

        public static async Task<OurPeer> StartAsync()
        {
            var p = new OurPeer();
            p._broker = await TestBroker.StartAsync();
            p.Port = p._broker.Port;
            return p;
        }

        public async Task RestartAsync()
        {
            await _broker.DisposeAsync();
            _broker = await TestBroker.StartAsync(o => o.Port = Port);
        }

        public ValueTask DisposeAsync() => _broker.DisposeAsync();
    }

    private sealed class MosquittoPeer : IPeer
    {
        private Mosquitto _m = null!;

        public int Port => _m.Port;

        public static async Task<MosquittoPeer> StartAsync() => new() { _m = await Mosquitto.StartAsync() };

        public async Task RestartAsync()
        {
            int port = _m.Port;
            await _m.DisposeAsync();
            _m = await Mosquitto.StartAsync(port: port);
        }

        public ValueTask DisposeAsync() => _m.DisposeAsync();
    }

    private static async Task<IPeer> StartAsync(string peer) =>
        peer == "mosquitto" ? await MosquittoPeer.StartAsync() : await OurPeer.StartAsync();

    public static TheoryData<string, MqttProtocolVersion> Peers()
    {
        var data = new TheoryData<string, MqttProtocolVersion>();
        foreach (var peer in Mosquitto.MissingReason is null ? new[] { "zhizao", "mosquitto" } : ["zhizao"])
            foreach (var v in new[] { MqttProtocolVersion.V311, MqttProtocolVersion.V500 })
                data.Add(peer, v);
        return data;
    }

    [Theory]
    [MemberData(nameof(Peers))]
    public async Task Client_publishes_and_receives_at_every_qos(string peer, MqttProtocolVersion version)
    {
        await using var broker = await StartAsync(peer);
        await using var sub = await TestClient.ConnectAsync(broker.Port, "c-sub", version);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "c-pub", version);
        Assert.Equal([MqttReasonCode.GrantedQoS2], await sub.Client.SubscribeAsync("c/+", MqttQoS.ExactlyOnce));
        foreach (var qos in new[] { MqttQoS.AtMostOnce, MqttQoS.AtLeastOnce, MqttQoS.ExactlyOnce })
        {
            for (int i = 0; i < 100; i++)
                await pub.Client.PublishAsync("c/" + qos, Encoding.UTF8.GetBytes(i.ToString()), qos);
            for (int i = 0; i < 100; i++)
            {
                var m = await sub.ReceiveAsync();
                Assert.Equal("c/" + qos, m.Topic);
                Assert.Equal(qos, m.QoS);
                Assert.Equal(i.ToString(), Encoding.UTF8.GetString(m.Payload.Span));
            }
        }
        var unsub = await sub.Client.UnsubscribeAsync(["c/+"]);
        Assert.Equal(version == MqttProtocolVersion.V500 ? [MqttReasonCode.Success] : [], unsub);
    }

    [Theory]
    [MemberData(nameof(Peers))]
    public async Task Client_reconnects_and_resubscribes_after_a_broker_restart(string peer, MqttProtocolVersion version)
    {
        await using var broker = await StartAsync(peer);
        int connects = 0;
        await using var sub = await TestClient.ConnectAsync(broker.Port, "r-sub", version, o => o.ReconnectDelay = TimeSpan.FromMilliseconds(50));
        sub.Client.Connected = _ => Interlocked.Increment(ref connects);
        await sub.Client.SubscribeAsync("r/#", MqttQoS.AtLeastOnce);

        await broker.RestartAsync();
        await Wait.UntilAsync(() => Volatile.Read(ref connects) >= 1 && sub.Client.IsConnected, "the client to reconnect");
        Assert.True(sub.Client.ReconnectCount >= 1);

        await using var pub = await TestClient.ConnectAsync(broker.Port, "r-pub", version);
        // the resubscription races the first publish: publish until one arrives
        var deadline = DateTime.UtcNow + Wait.Timeout;
        MqttPublishPacket? got = null;
        while (got is null && DateTime.UtcNow < deadline)
        {
            await pub.Client.PublishAsync("r/x", "after"u8.ToArray(), MqttQoS.AtLeastOnce);
            await Task.Delay(50);
            sub.TryReceive(out got);
        }
        Assert.NotNull(got);
        Assert.Equal("r/x", got.Topic);
    }

    [Fact]
    public async Task Qos1_publish_made_while_disconnected_completes_after_reconnect()
    {
        await using var broker = await OurPeer.StartAsync();
        await using var watcher = await TestClient.ConnectAsync(broker.Port, "w");
        await using var pub = await TestClient.ConnectAsync(broker.Port, "p", configure: o => o.ReconnectDelay = TimeSpan.FromMilliseconds(100));
        await broker.RestartAsync();
        await Wait.UntilAsync(() => !pub.Client.IsConnected || pub.Client.ReconnectCount > 0, "the publisher to notice");
        var sending = pub.Client.PublishAsync("late", "x"u8.ToArray(), MqttQoS.AtLeastOnce);
        Assert.Equal(MqttReasonCode.NoMatchingSubscribers, await sending.WaitAsync(Wait.Timeout));
        Assert.True(pub.Client.ReconnectCount >= 1);
    }
}
