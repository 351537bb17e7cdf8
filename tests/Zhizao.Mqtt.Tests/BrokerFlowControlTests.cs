using System.Buffers.Binary;
using Zhizao.Mqtt.Broker;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// Publisher flow control (<see cref="MqttBrokerOptions.FlowControlQueue"/>): a publisher faster than a subscriber that
/// is draining is held to the subscriber's rate instead of building a backlog in the broker; a subscriber that stops
/// draining holds nobody back for longer than <see cref="MqttBrokerOptions.FlowControlMaxPause"/>.
/// </summary>
public class BrokerFlowControlTests
{
    private const int High = 200;

    private static byte[] Numbered(int i)
    {
        var b = new byte[32];
        BinaryPrimitives.WriteInt32LittleEndian(b, i);
        return b;
    }

    /// <summary>A subscriber that reads and acknowledges in its own loop, waiting 1 ms after every 10th message
    /// (about 10,000 messages/s at most, slower than the publishers); it blocks no thread while it waits.</summary>
    private sealed class SlowSubscriber : IAsyncDisposable
    {
        private readonly RawClient _client;
        private readonly Task _loop;
        private int _received, _outOfOrder;

        private readonly int _every, _delayMs;

        private SlowSubscriber(RawClient client, int every, int delayMs)
        {
            _client = client;
            _every = every;
            _delayMs = delayMs;
            _loop = Task.Run(LoopAsync);
        }

        public int Received => Volatile.Read(ref _received);

        public int OutOfOrder => Volatile.Read(ref _outOfOrder);

        public static async Task<SlowSubscriber> StartAsync(int port, string topic, MqttQoS qos, int every = 10, int delayMs = 1)
        {
            var (c, _) = await RawClient.ConnectAsync(port, new MqttConnectPacket { ClientId = $"slow-sub-{every}-{delayMs}", CleanStart = true, ProtocolVersion = MqttProtocolVersion.V500 });
            await c.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = topic, MaximumQoS = qos }] });
            Assert.IsType<MqttSubAckPacket>(await c.ReceiveAsync());
            return new SlowSubscriber(c, every, delayMs);
        }

        private async Task LoopAsync()
        {
            int last = -1;
            while (await _client.ReceiveOrCloseAsync() is { } packet)
            {
                if (packet is not MqttPublishPacket p)
                    continue;
                int n = BinaryPrimitives.ReadInt32LittleEndian(p.Payload.Span);
                if (n != last + 1)
                    Interlocked.Increment(ref _outOfOrder);
                last = n;
                if (Interlocked.Increment(ref _received) % _every == 0)
                    await Task.Delay(_delayMs);
                if (p.QoS == MqttQoS.AtLeastOnce)
                    await _client.SendAsync(new MqttPubAckPacket { PacketId = p.PacketId });
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _client.DisposeAsync();
            await _loop.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_fast_qos1_publisher_is_held_to_the_rate_of_a_draining_subscriber_and_nothing_is_lost(bool flowControl)
    {
        await using var broker = await TestBroker.StartAsync(o =>
        {
            o.MaxInflightMessages = 10;
            o.MaxQueuedMessages = 1_000_000;
            o.FlowControlQueue = flowControl ? High : 0;
            o.FlowControlMaxPause = TimeSpan.FromSeconds(5); // a loaded test machine must not make it look slow
        });
        await using var sub = await SlowSubscriber.StartAsync(broker.Port, "fc/#", MqttQoS.AtLeastOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "fast-pub", configure: o => o.MaxInflight = 64);

        const int Count = 3000;
        int acked = 0, maxAhead = 0;
        var window = new List<Task>();
        for (int i = 0; i < Count; i++)
        {
            window.Add(pub.Client.PublishAsync("fc/x", Numbered(i), MqttQoS.AtLeastOnce));
            if (window.Count >= 64)
            {
                await Task.WhenAny(window);
                acked += window.RemoveAll(t => t.IsCompletedSuccessfully);
                // what the broker has acknowledged to the publisher but the subscriber has not seen yet is the backlog
                maxAhead = Math.Max(maxAhead, acked - sub.Received);
            }
        }
        await Task.WhenAll(window);
        await Wait.UntilAsync(() => sub.Received == Count, $"the subscriber to get all {Count} messages");
        Assert.Equal(0, sub.OutOfOrder);
        if (flowControl)
        {
            // the backlog stays near the high-water mark: queue (200) + in flight (10) + what one read of the publisher
            // brings before the pause (its window, 64)
            Assert.True(maxAhead <= High + 10 + 64 + 50, $"the publisher ran {maxAhead} messages ahead of the subscriber (pauses {broker.Stats.FlowControlPauses}, timed out {broker.Stats.FlowControlTimeouts})");
            Assert.True(broker.Stats.FlowControlPauses > 0, "the publisher was never paused");
            Assert.Equal(0, broker.Stats.FlowControlTimeouts);
        }
        else
        {
            // the reference: without flow control the broker takes everything the publisher sends and queues it
            Assert.True(maxAhead > 2 * (High + 10 + 64 + 50), $"without flow control the publisher ran only {maxAhead} ahead");
            Assert.Equal(0, broker.Stats.FlowControlPauses);
        }
    }

    [Fact]
    public async Task A_fast_qos0_publisher_is_held_back_instead_of_losing_messages_to_a_draining_subscriber()
    {
        // the outbound queue drops QoS 0 beyond 1,000 packets; flow control pauses the publisher at 200
        await using var broker = await TestBroker.StartAsync(o =>
        {
            o.MaxOutboundPackets = 1_000;
            o.FlowControlQueue = High;
            o.FlowControlMaxPause = TimeSpan.FromSeconds(5);
        });
        await using var sub = await SlowSubscriber.StartAsync(broker.Port, "fc0/#", MqttQoS.AtMostOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "fast-pub0");

        const int Count = 5000;
        for (int i = 0; i < Count; i++)
            await pub.Client.PublishAsync("fc0/x", Numbered(i), MqttQoS.AtMostOnce);
        await Wait.UntilAsync(() => sub.Received == Count, $"the subscriber to get all {Count} messages (got {sub.Received}, dropped {broker.Stats.MessagesDropped})");
        Assert.Equal(0, sub.OutOfOrder);
        Assert.Equal(0, broker.Stats.MessagesDropped);
        Assert.True(broker.Stats.FlowControlPauses > 0, "the publisher was never paused");
    }

    [Fact]
    public async Task A_subscriber_that_stops_reading_holds_publishers_back_once_for_the_pause_and_then_is_treated_as_slow()
    {
        await using var broker = await TestBroker.StartAsync(o =>
        {
            o.MaxInflightMessages = 10;
            o.MaxQueuedMessages = 100_000;
            o.FlowControlQueue = 100;
            o.FlowControlMaxPause = TimeSpan.FromMilliseconds(200);
        });
        var (stuck, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "stuck", CleanStart = true }, receiveBufferSize: 4096);
        await using var _stuck = stuck;
        await stuck.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = "st/#", MaximumQoS = MqttQoS.AtLeastOnce }] });
        Assert.IsType<MqttSubAckPacket>(await stuck.ReceiveAsync());

        await using var other = await TestClient.ConnectAsync(broker.Port, "other");
        int received = 0;
        other.Client.MessageReceived = _ => Interlocked.Increment(ref received);
        await other.Client.SubscribeAsync("st/#", MqttQoS.AtLeastOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");

        const int Count = 2000;
        for (int b = 0; b < Count / 100; b++)
            await Task.WhenAll(Enumerable.Range(0, 100).Select(i => pub.Client.PublishAsync("st/x", Numbered((b * 100) + i), MqttQoS.AtLeastOnce)));
        await Wait.UntilAsync(() => Volatile.Read(ref received) == Count, $"the other subscriber to get all {Count}");

        // the stuck subscriber was judged stuck after one interval; after that it held nobody back although its queue
        // kept growing (at least once: on a loaded test machine the healthy one may also look stuck for an interval,
        // which only lets the publisher go on)
        Assert.True(broker.Stats.FlowControlTimeouts >= 1, "the stuck subscriber was never judged stuck");
        Assert.Equal(0, broker.Stats.SlowConsumerDisconnects); // its queue (100,000) is not full: still connected
        Assert.Equal(3, broker.ConnectedClientCount);
    }

    [Fact]
    public async Task A_subscriber_that_drains_too_slowly_holds_publishers_back_only_until_its_rate_is_judged()
    {
        // 50 messages per 100 ms needed on average over 1 s; this one takes about 20 per 100 ms
        await using var broker = await TestBroker.StartAsync(o =>
        {
            o.MaxInflightMessages = 10;
            o.MaxQueuedMessages = 100_000;
            o.FlowControlQueue = 100;
            o.FlowControlMaxPause = TimeSpan.FromMilliseconds(100);
        });
        await using var crawler = await SlowSubscriber.StartAsync(broker.Port, "cr/#", MqttQoS.AtLeastOnce, every: 1, delayMs: 5);
        await using var other = await TestClient.ConnectAsync(broker.Port, "other");
        int received = 0;
        other.Client.MessageReceived = _ => Interlocked.Increment(ref received);
        await other.Client.SubscribeAsync("cr/#", MqttQoS.AtLeastOnce);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");

        const int Count = 3000;
        for (int b = 0; b < Count / 100; b++)
            await Task.WhenAll(Enumerable.Range(0, 100).Select(i => pub.Client.PublishAsync("cr/x", Numbered((b * 100) + i), MqttQoS.AtLeastOnce)));
        await Wait.UntilAsync(() => Volatile.Read(ref received) == Count, $"the other subscriber to get all {Count}");

        // judged slow (not stuck: it kept taking messages); from then on the publisher ran at its own pace
        Assert.True(broker.Stats.FlowControlTimeouts >= 1, "the slow subscriber was never judged slow");
        Assert.True(crawler.Received < Count / 2, $"the slow subscriber took {crawler.Received} of {Count}: the publisher was throttled to its rate");
        Assert.Equal(0, crawler.OutOfOrder);
    }

    [Fact]
    public async Task A_client_is_never_held_back_by_its_own_queue()
    {
        await using var broker = await TestBroker.StartAsync(o =>
        {
            o.MaxInflightMessages = 5;
            o.FlowControlQueue = 20;
        });
        await using var self = await TestClient.ConnectAsync(broker.Port, "self", configure: o => o.MaxInflight = 200);
        int received = 0;
        self.Client.MessageReceived = _ => Interlocked.Increment(ref received);
        await self.Client.SubscribeAsync("self/#", MqttQoS.AtLeastOnce);

        // its own PUBACKs arrive on the loop that reads its PUBLISHes: pausing that loop would only wait for the timeout
        await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => self.Client.PublishAsync("self/x", Numbered(i), MqttQoS.AtLeastOnce)));
        await Wait.UntilAsync(() => Volatile.Read(ref received) == 1000, "the client to get its own 1,000 messages");
        Assert.Equal(0, broker.Stats.FlowControlPauses);
        Assert.Equal(0, broker.Stats.FlowControlTimeouts);
    }
}
