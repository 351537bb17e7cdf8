using System.Net;
using System.Net.Sockets;
using System.Text;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

/// <summary>Server → client topic aliases (v5): the broker assigns them, our client resolves them and refuses bad ones.</summary>
public class BrokerTopicAliasTests
{
    [Fact]
    public async Task The_first_topics_get_aliases_in_send_order_and_later_publishes_carry_only_the_alias()
    {
        await using var broker = await TestBroker.StartAsync(o => o.ServerTopicAliases = true);
        var (sub, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket
        {
            ClientId = "raw-alias", CleanStart = true, Properties = new MqttProperties { TopicAliasMaximum = 2 },
        });
        await using var _sub = sub;
        await sub.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = "al/#" }] });
        Assert.IsType<MqttSubAckPacket>(await sub.ReceiveAsync());
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        string[] sent = ["al/aaa", "al/aaa", "al/bbb", "al/ccc", "al/ccc", "al/aaa"];
        foreach (string t in sent)
            await pub.Client.PublishAsync(t, "x"u8.ToArray(), MqttQoS.AtLeastOnce);

        var got = new List<(string Topic, ushort? Alias)>();
        for (int i = 0; i < sent.Length; i++)
        {
            var p = Assert.IsType<MqttPublishPacket>(await sub.ReceiveAsync());
            got.Add((p.Topic, p.Properties?.TopicAlias));
        }
        // two aliases: aaa → 1, bbb → 2; ccc goes by name; aaa again by alias only
        Assert.Equal([("al/aaa", 1), ("", 1), ("al/bbb", 2), ("al/ccc", null), ("al/ccc", null), ("", 1)], got.Select(g => (g.Topic, (int?)g.Alias)).ToList());
    }

    [Fact]
    public async Task No_aliases_for_a_client_that_did_not_ask_or_when_the_broker_is_not_told_to()
    {
        foreach (bool serverAliases in new[] { true, false })
        {
            await using var broker = await TestBroker.StartAsync(o => o.ServerTopicAliases = serverAliases);
            var (sub, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket
            {
                ClientId = "raw-noalias", CleanStart = true, Properties = serverAliases ? null : new MqttProperties { TopicAliasMaximum = 5 },
            });
            await using var _sub = sub;
            await sub.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = "al/#" }] });
            Assert.IsType<MqttSubAckPacket>(await sub.ReceiveAsync());
            await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
            for (int i = 0; i < 3; i++)
                await pub.Client.PublishAsync("al/same", "x"u8.ToArray(), MqttQoS.AtLeastOnce);
            for (int i = 0; i < 3; i++)
            {
                var p = Assert.IsType<MqttPublishPacket>(await sub.ReceiveAsync());
                Assert.Equal("al/same", p.Topic);
                Assert.Null(p.Properties?.TopicAlias);
            }
        }
    }

    [Fact]
    public async Task Our_client_resolves_aliases_from_our_broker()
    {
        await using var broker = await TestBroker.StartAsync(o => o.ServerTopicAliases = true);
        await using var sub = await TestClient.ConnectAsync(broker.Port, "alias-sub", configure: o => o.TopicAliasMaximum = 3);
        await sub.Client.SubscribeAsync("al/#", MqttQoS.AtLeastOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        string[] topics = ["al/one", "al/two", "al/one", "al/three", "al/four", "al/two", "al/four"];
        for (int i = 0; i < topics.Length; i++)
            await pub.Client.PublishAsync(topics[i], Encoding.UTF8.GetBytes($"m{i}"), MqttQoS.AtLeastOnce);
        for (int i = 0; i < topics.Length; i++)
        {
            var p = await sub.ReceiveAsync();
            Assert.Equal((topics[i], $"m{i}"), (p.Topic, Encoding.UTF8.GetString(p.Payload.Span)));
        }
    }

    [Theory]
    [InlineData((ushort)5, "al/x", MqttReasonCode.TopicAliasInvalid)] // above the 2 the client announced
    [InlineData((ushort)2, "", MqttReasonCode.ProtocolError)] // an alias that was never set
    public async Task Our_client_refuses_a_bad_alias_from_a_server_with_the_reason(ushort alias, string topic, MqttReasonCode expected)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var client = new MqttClient(new MqttClientOptions { Port = port, ClientId = "c", TopicAliasMaximum = 2, AutoReconnect = false });
        var connecting = client.ConnectAsync();
        await using var server = RawClient.FromAccepted(await listener.AcceptTcpClientAsync(), MqttProtocolVersion.V500);
        var connect = Assert.IsType<MqttConnectPacket>(await server.ReceiveAsync());
        Assert.Equal((ushort)2, connect.Properties?.TopicAliasMaximum);
        await server.SendAsync(new MqttConnAckPacket());
        await connecting;

        await server.SendAsync(new MqttPublishPacket { Topic = topic, Payload = "x"u8.ToArray(), Properties = new MqttProperties { TopicAlias = alias } });
        var disconnect = Assert.IsType<MqttDisconnectPacket>(await server.ReceiveAsync());
        Assert.Equal(expected, disconnect.ReasonCode);
    }
}
