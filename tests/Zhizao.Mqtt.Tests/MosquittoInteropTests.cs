using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// Interop against a real peer: a private mosquitto on a free loopback port, our writer on a raw socket, mosquitto_pub
/// publishing with v5 properties, our reader decoding what arrives. Needs the Debian packages mosquitto and
/// mosquitto-clients (apt-get install -y mosquitto mosquitto-clients).
/// </summary>
public class MosquittoInteropTests
{
    [MosquittoFact]
    public async Task Mqtt5_subscriber_decodes_a_publish_with_properties_from_mosquitto_pub()
    {
        await using var broker = await Mosquitto.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V500);

        await client.SendAsync(new MqttConnectPacket
        {
            ProtocolVersion = MqttProtocolVersion.V500,
            ClientId = "zhizao-v5",
            CleanStart = true,
            KeepAliveSeconds = 30,
            Properties = new MqttProperties { ReceiveMaximum = 10, MaximumPacketSize = 65536, UserProperties = [new("client", "zhizao")] },
        });
        var connack = Assert.IsType<MqttConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(MqttReasonCode.Success, connack.ReasonCode);

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 1,
            Properties = new MqttProperties { SubscriptionIdentifiers = [42] },
            Subscriptions = [new MqttSubscription { TopicFilter = "zhizao/interop/#", MaximumQoS = MqttQoS.AtLeastOnce }],
        });
        var suback = Assert.IsType<MqttSubAckPacket>(await client.ReceiveAsync());
        Assert.Equal(1, suback.PacketId);
        Assert.Equal([MqttReasonCode.GrantedQoS1], suback.ReasonCodes);

        await Mosquitto.PublishAsync(broker.Port, "-V", "mqttv5", "-q", "1", "-t", "zhizao/interop/温度", "-m", "21.5",
            "-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain",
            "-D", "publish", "message-expiry-interval", "60");

        var publish = Assert.IsType<MqttPublishPacket>(await client.ReceiveAsync());
        Assert.Equal("zhizao/interop/温度", publish.Topic);
        Assert.Equal("21.5", Encoding.UTF8.GetString(publish.Payload.Span));
        Assert.Equal(MqttQoS.AtLeastOnce, publish.QoS);
        Assert.Contains(new MqttUserProperty("k", "v"), publish.Properties!.UserProperties!);
        Assert.Equal("text/plain", publish.Properties.ContentType);
        Assert.Equal([42u], publish.Properties.SubscriptionIdentifiers!);
        Assert.InRange(publish.Properties.MessageExpiryInterval!.Value, 1u, 60u);
        await client.SendAsync(new MqttPubAckPacket { PacketId = publish.PacketId });

        await client.SendAsync(new MqttPingReqPacket());
        Assert.IsType<MqttPingRespPacket>(await client.ReceiveAsync());
        await client.SendAsync(new MqttDisconnectPacket());
    }

    [MosquittoFact]
    public async Task Mqtt311_subscriber_decodes_a_publish_from_mosquitto_pub()
    {
        await using var broker = await Mosquitto.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V311);

        await client.SendAsync(new MqttConnectPacket
        {
            ProtocolVersion = MqttProtocolVersion.V311,
            ClientId = "zhizao-v311",
            CleanStart = true,
            KeepAliveSeconds = 30,
            Will = new MqttWill { Topic = "zhizao/interop/will", Payload = "gone"u8.ToArray() },
        });
        Assert.Equal(MqttReasonCode.Success, Assert.IsType<MqttConnAckPacket>(await client.ReceiveAsync()).ReasonCode);

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 7,
            Subscriptions = [new MqttSubscription { TopicFilter = "zhizao/+/x", MaximumQoS = MqttQoS.ExactlyOnce }],
        });
        Assert.Equal([MqttReasonCode.GrantedQoS2], Assert.IsType<MqttSubAckPacket>(await client.ReceiveAsync()).ReasonCodes);

        await Mosquitto.PublishAsync(broker.Port, "-V", "mqttv311", "-q", "2", "-t", "zhizao/interop/x", "-m", "hello");

        var publish = Assert.IsType<MqttPublishPacket>(await client.ReceiveAsync());
        Assert.Equal("zhizao/interop/x", publish.Topic);
        Assert.Equal("hello", Encoding.UTF8.GetString(publish.Payload.Span));
        Assert.Equal(MqttQoS.ExactlyOnce, publish.QoS);
        Assert.Null(publish.Properties);
        await client.SendAsync(new MqttPubRecPacket { PacketId = publish.PacketId });
        Assert.Equal(publish.PacketId, Assert.IsType<MqttPubRelPacket>(await client.ReceiveAsync()).PacketId);
        await client.SendAsync(new MqttPubCompPacket { PacketId = publish.PacketId });

        await client.SendAsync(new MqttUnsubscribePacket { PacketId = 8, TopicFilters = ["zhizao/+/x"] });
        Assert.Equal(8, Assert.IsType<MqttUnsubAckPacket>(await client.ReceiveAsync()).PacketId);
        await client.SendAsync(new MqttDisconnectPacket());
    }
}
