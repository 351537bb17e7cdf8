using Zhizao.Mqtt.Broker;

namespace Zhizao.Mqtt.Tests;

/// <summary>A subscriber that stops reading must not slow anyone else; see the drop policy in MqttBrokerOptions.</summary>
public class BrokerSlowConsumerTests
{
    [Fact]
    public async Task Subscriber_that_never_reads_does_not_slow_another_subscriber_qos0()
    {
        await using var broker = await TestBroker.StartAsync(o => o.MaxOutboundPackets = 500);
        var (slow, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "slow", CleanStart = true }, receiveBufferSize: 4096);
        await using var _slow = slow;
        await slow.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = "load/#" }] });
        Assert.IsType<MqttSubAckPacket>(await slow.ReceiveAsync());

        await using var fast = await TestClient.ConnectAsync(broker.Port, "fast");
        int received = 0;
        fast.Client.MessageReceived = _ => Interlocked.Increment(ref received);
        await fast.Client.SubscribeAsync("load/#", MqttQoS.AtMostOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");

        var payload = new byte[1024];
        const int Batch = 400, Batches = 50;
        for (int b = 0; b < Batches; b++)
        {
            for (int i = 0; i < Batch; i++)
                await pub.Client.PublishAsync("load/x", payload, MqttQoS.AtMostOnce);
            int expected = (b + 1) * Batch;
            await Wait.UntilAsync(() => Volatile.Read(ref received) == expected, $"the fast subscriber to get {expected} messages");
        }
        Assert.True(broker.Stats.MessagesDropped > 0, "QoS 0 messages to the stalled subscriber were dropped");
        Assert.Equal(3, broker.ConnectedClientCount); // QoS 0 overflow drops, it does not disconnect
    }

    [Fact]
    public async Task Subscriber_that_never_acknowledges_qos1_is_disconnected_when_its_queue_is_full()
    {
        await using var broker = await TestBroker.StartAsync(o =>
        {
            o.MaxInflightMessages = 10;
            o.MaxQueuedMessages = 300;
        });
        var (slow, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "stuck", CleanStart = true }, receiveBufferSize: 4096);
        await using var _slow = slow;
        await slow.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = "q1/#", MaximumQoS = MqttQoS.AtLeastOnce }] });
        Assert.IsType<MqttSubAckPacket>(await slow.ReceiveAsync());

        await using var fast = await TestClient.ConnectAsync(broker.Port, "fast");
        int received = 0;
        fast.Client.MessageReceived = _ => Interlocked.Increment(ref received);
        await fast.Client.SubscribeAsync("q1/#", MqttQoS.AtLeastOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        // batches of 100: the fast subscriber keeps up (its queue stays under 300), the stuck one's queue overflows
        for (int b = 0; b < 10; b++)
        {
            await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => pub.Client.PublishAsync("q1/x", new byte[100], MqttQoS.AtLeastOnce)));
            int expected = (b + 1) * 100;
            await Wait.UntilAsync(() => Volatile.Read(ref received) == expected, $"the fast subscriber to get {expected}");
        }
        await Wait.UntilAsync(() => broker.Stats.SlowConsumerDisconnects == 1, "the stuck subscriber to be disconnected");

        MqttPacket? last = null;
        while (await slow.ReceiveOrCloseAsync() is { } p)
            last = p;
        Assert.Equal(MqttReasonCode.QuotaExceeded, Assert.IsType<MqttDisconnectPacket>(last).ReasonCode);
    }
}
