using System.Text;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

/// <summary>MqttClientOptions.ManualAcknowledgement: QoS 1/2 messages are acknowledged when the application says so, and
/// what it did not acknowledge is resent after a reconnect to the persistent session.</summary>
public class ClientManualAckTests
{
    private static string S(MqttPublishPacket p) => Encoding.UTF8.GetString(p.Payload.Span);

    [Theory]
    [InlineData(MqttProtocolVersion.V311, MqttQoS.AtLeastOnce)]
    [InlineData(MqttProtocolVersion.V500, MqttQoS.AtLeastOnce)]
    [InlineData(MqttProtocolVersion.V500, MqttQoS.ExactlyOnce)]
    public async Task Unacknowledged_message_is_resent_after_reconnect_and_acknowledged_one_is_not(MqttProtocolVersion version, MqttQoS qos)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var sub = await TestClient.ConnectAsync(broker.Port, "manual", version, o =>
        {
            o.ManualAcknowledgement = true;
            o.CleanStart = false;
            o.SessionExpiryInterval = 600;
            o.ReconnectDelay = TimeSpan.FromMilliseconds(50);
        });
        await sub.Client.SubscribeAsync("store/#", qos);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub", version);
        await pub.Client.PublishAsync("store/a", Encoding.UTF8.GetBytes("a"), qos);
        await pub.Client.PublishAsync("store/b", Encoding.UTF8.GetBytes("b"), qos);
        var a = await sub.ReceiveAsync();
        var b = await sub.ReceiveAsync();
        Assert.Equal(("a", "b"), (S(a), S(b)));
        long received = broker.Stats.PacketsReceived;
        sub.Client.Acknowledge(a); // "stored"; b is not
        await Wait.UntilAsync(() => broker.Stats.PacketsReceived > received, "the broker to read the acknowledgement");

        int reconnects = sub.Client.ReconnectCount;
        sub.Client.DropConnection();
        await Wait.UntilAsync(() => sub.Client.ReconnectCount > reconnects && sub.Client.IsConnected, "the reconnect");
        var again = await sub.ReceiveAsync();
        Assert.Equal("b", S(again));
        Assert.True(again.Dup);
        sub.Client.Acknowledge(b); // from the old connection: ignored, the server resent it
        received = broker.Stats.PacketsReceived;
        sub.Client.Acknowledge(again);
        sub.Client.Acknowledge(again); // twice: ignored
        await Wait.UntilAsync(() => broker.Stats.PacketsReceived > received, "the broker to read the acknowledgement");

        reconnects = sub.Client.ReconnectCount;
        sub.Client.DropConnection();
        await Wait.UntilAsync(() => sub.Client.ReconnectCount > reconnects && sub.Client.IsConnected, "the second reconnect");
        await pub.Client.PublishAsync("store/c", Encoding.UTF8.GetBytes("c"), qos);
        Assert.Equal("c", S(await sub.ReceiveAsync())); // neither a nor b came back
    }
}
