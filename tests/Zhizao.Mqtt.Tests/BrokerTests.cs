using System.Text;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

public class BrokerTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(MqttPublishPacket p) => Encoding.UTF8.GetString(p.Payload.Span);

    [Theory]
    [InlineData(MqttProtocolVersion.V311, MqttQoS.AtMostOnce)]
    [InlineData(MqttProtocolVersion.V311, MqttQoS.AtLeastOnce)]
    [InlineData(MqttProtocolVersion.V311, MqttQoS.ExactlyOnce)]
    [InlineData(MqttProtocolVersion.V500, MqttQoS.AtMostOnce)]
    [InlineData(MqttProtocolVersion.V500, MqttQoS.AtLeastOnce)]
    [InlineData(MqttProtocolVersion.V500, MqttQoS.ExactlyOnce)]
    public async Task Publish_reaches_subscriber_at_each_qos(MqttProtocolVersion version, MqttQoS qos)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var sub = await TestClient.ConnectAsync(broker.Port, "sub", version);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub", version);
        Assert.Equal([(MqttReasonCode)(byte)qos], await sub.Client.SubscribeAsync("plant/+/temp", qos));

        for (int i = 0; i < 20; i++)
            Assert.Equal(MqttReasonCode.Success, await pub.Client.PublishAsync($"plant/l{i}/temp", B($"v{i}"), qos));

        for (int i = 0; i < 20; i++)
        {
            var m = await sub.ReceiveAsync();
            Assert.Equal($"plant/l{i}/temp", m.Topic);
            Assert.Equal($"v{i}", S(m));
            Assert.Equal(qos, m.QoS);
        }
    }

    [Fact]
    public async Task Delivered_qos_is_the_lower_of_publish_and_subscription()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var sub = await TestClient.ConnectAsync(broker.Port, "sub");
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        await sub.Client.SubscribeAsync("a", MqttQoS.AtLeastOnce);
        await pub.Client.PublishAsync("a", B("x"), MqttQoS.ExactlyOnce);
        Assert.Equal(MqttQoS.AtLeastOnce, (await sub.ReceiveAsync()).QoS);
    }

    [Fact]
    public async Task Retained_message_goes_to_later_subscribers_and_empty_payload_clears_it()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        await pub.Client.PublishAsync("line/1/state", B("running"), MqttQoS.AtLeastOnce, retain: true);
        await pub.Client.PublishAsync("line/2/state", B("stopped"), MqttQoS.AtLeastOnce, retain: true);
        Assert.Equal(2, broker.RetainedCount);

        await using (var sub = await TestClient.ConnectAsync(broker.Port, "sub1"))
        {
            await sub.Client.SubscribeAsync("line/1/state");
            var m = await sub.ReceiveAsync();
            Assert.True(m.Retain);
            Assert.Equal("running", S(m));
        }

        await pub.Client.PublishAsync("line/1/state", ReadOnlyMemory<byte>.Empty, MqttQoS.AtLeastOnce, retain: true);
        Assert.Equal(1, broker.RetainedCount);
        await using var sub2 = await TestClient.ConnectAsync(broker.Port, "sub2");
        await sub2.Client.SubscribeAsync("line/+/state");
        var only = await sub2.ReceiveAsync();
        Assert.Equal("line/2/state", only.Topic);
    }

    [Fact]
    public async Task Retain_handling_2_sends_no_retained_and_retain_as_published_keeps_the_flag()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        await pub.Client.PublishAsync("r/old", B("old"), MqttQoS.AtLeastOnce, retain: true);
        await using var sub = await TestClient.ConnectAsync(broker.Port, "sub");
        await sub.Client.SubscribeAsync([
            new MqttSubscription { TopicFilter = "r/#", MaximumQoS = MqttQoS.AtLeastOnce, RetainHandling = MqttRetainHandling.DoNotSend, RetainAsPublished = true },
        ]);
        await pub.Client.PublishAsync("r/new", B("new"), MqttQoS.AtLeastOnce, retain: true);
        var m = await sub.ReceiveAsync();
        Assert.Equal("r/new", m.Topic);
        Assert.True(m.Retain);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task Will_is_published_when_the_connection_drops_but_not_after_DISCONNECT(MqttProtocolVersion version)
    {
        await using var broker = await TestBroker.StartAsync();
        await using var watcher = await TestClient.ConnectAsync(broker.Port, "watcher");
        await watcher.Client.SubscribeAsync("wills/#");

        var polite = await TestClient.ConnectAsync(broker.Port, "polite", version,
            o => o.Will = new MqttWill { Topic = "wills/polite", Payload = B("gone") });
        await polite.Client.DisconnectAsync();
        await polite.DisposeAsync();

        var rude = await TestClient.ConnectAsync(broker.Port, "rude", version, o =>
        {
            o.Will = new MqttWill { Topic = "wills/rude", Payload = B("lost"), QoS = MqttQoS.AtLeastOnce };
            o.AutoReconnect = false;
        });
        rude.Client.DropConnection();
        var will = await watcher.ReceiveAsync();
        Assert.Equal("wills/rude", will.Topic);
        Assert.Equal("lost", S(will));
        Assert.False(watcher.TryReceive(out _));
        await rude.DisposeAsync();
    }

    [Fact]
    public async Task V5_will_delay_is_capped_by_session_expiry_and_cancelled_by_reconnect()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var watcher = await TestClient.ConnectAsync(broker.Port, "watcher");
        await watcher.Client.SubscribeAsync("wills/#");
        var willProps = new MqttProperties { WillDelayInterval = 3600 };

        // reconnects within the delay: no will
        var back = await TestClient.ConnectAsync(broker.Port, "back", configure: o =>
        {
            o.Will = new MqttWill { Topic = "wills/back", Payload = B("x"), Properties = willProps };
            o.SessionExpiryInterval = 3600;
            o.CleanStart = false;
            o.AutoReconnect = false;
        });
        back.Client.DropConnection();
        await Wait.UntilAsync(() => broker.ConnectedClientCount == 1, "the dropped client to be gone");
        await using (var again = await TestClient.ConnectAsync(broker.Port, "back", configure: o => { o.CleanStart = false; o.SessionExpiryInterval = 3600; }))
            await again.Client.DisconnectAsync();

        // session expires after 1 s: the will (delay 3600 s) goes out then
        var brief = await TestClient.ConnectAsync(broker.Port, "brief", configure: o =>
        {
            o.Will = new MqttWill { Topic = "wills/brief", Payload = B("y"), Properties = willProps };
            o.SessionExpiryInterval = 1;
            o.AutoReconnect = false;
        });
        brief.Client.DropConnection();
        var will = await watcher.ReceiveAsync();
        Assert.Equal("wills/brief", will.Topic);
        await back.DisposeAsync();
        await brief.DisposeAsync();
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task Persistent_session_keeps_subscriptions_and_queues_qos1_while_offline(MqttProtocolVersion version)
    {
        await using var broker = await TestBroker.StartAsync();
        void Persistent(MqttClientOptions o)
        {
            o.CleanStart = false;
            o.SessionExpiryInterval = 300;
            o.AutoReconnect = false;
        }
        await using (var sub = await TestClient.ConnectAsync(broker.Port, "keeper", version, Persistent))
        {
            Assert.False(sub.ConnAck!.SessionPresent);
            await sub.Client.SubscribeAsync("q/#", MqttQoS.AtLeastOnce);
            await sub.Client.DisconnectAsync();
        }
        await using (var pub = await TestClient.ConnectAsync(broker.Port, "pub"))
        {
            for (int i = 0; i < 50; i++)
                await pub.Client.PublishAsync("q/x", B(i.ToString()), MqttQoS.AtLeastOnce);
            await pub.Client.PublishAsync("q/x", B("qos0 is not queued"), MqttQoS.AtMostOnce);
        }
        await using var back = await TestClient.ConnectAsync(broker.Port, "keeper", version, Persistent);
        Assert.True(back.ConnAck!.SessionPresent);
        for (int i = 0; i < 50; i++)
            Assert.Equal(i.ToString(), S(await back.ReceiveAsync()));
    }

    [Fact]
    public async Task Clean_start_discards_the_old_session()
    {
        await using var broker = await TestBroker.StartAsync();
        await using (var sub = await TestClient.ConnectAsync(broker.Port, "c", configure: o => { o.CleanStart = false; o.SessionExpiryInterval = 300; }))
        {
            await sub.Client.SubscribeAsync("t");
            await sub.Client.DisconnectAsync();
        }
        Assert.Equal(1, broker.SubscriptionCount);
        await using var fresh = await TestClient.ConnectAsync(broker.Port, "c");
        Assert.False(fresh.ConnAck!.SessionPresent);
        Assert.Equal(0, broker.SubscriptionCount);
    }

    [Fact]
    public async Task Unacknowledged_messages_are_redelivered_in_order_with_dup_on_reconnect()
    {
        await using var broker = await TestBroker.StartAsync();
        var connect = new MqttConnectPacket { ClientId = "raw", CleanStart = false, KeepAliveSeconds = 60, Properties = new MqttProperties { SessionExpiryInterval = 300 } };
        var (raw, _) = await RawClient.ConnectAsync(broker.Port, connect);
        await raw.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttSubscription { TopicFilter = "o", MaximumQoS = MqttQoS.ExactlyOnce }] });
        Assert.IsType<MqttSubAckPacket>(await raw.ReceiveAsync());
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        for (int i = 0; i < 5; i++)
            await pub.Client.PublishAsync("o", B(i.ToString()), i % 2 == 0 ? MqttQoS.AtLeastOnce : MqttQoS.ExactlyOnce);
        var first = new List<MqttPublishPacket>();
        for (int i = 0; i < 5; i++)
            first.Add(Assert.IsType<MqttPublishPacket>(await raw.ReceiveAsync()));
        // acknowledge message 0 only, PUBREC message 1, then drop the connection
        await raw.SendAsync(new MqttPubAckPacket { PacketId = first[0].PacketId });
        await raw.SendAsync(new MqttPubRecPacket { PacketId = first[1].PacketId });
        Assert.IsType<MqttPubRelPacket>(await raw.ReceiveAsync());
        await raw.DisposeAsync();
        await Wait.UntilAsync(() => broker.ConnectedClientCount == 1, "the raw client to be gone");

        var (again, ack) = await RawClient.ConnectAsync(broker.Port, connect);
        Assert.True(ack.SessionPresent);
        var rel = Assert.IsType<MqttPubRelPacket>(await again.ReceiveAsync());
        Assert.Equal(first[1].PacketId, rel.PacketId);
        for (int i = 2; i < 5; i++)
        {
            var p = Assert.IsType<MqttPublishPacket>(await again.ReceiveAsync());
            Assert.True(p.Dup);
            Assert.Equal(first[i].PacketId, p.PacketId);
            Assert.Equal(i.ToString(), S(p));
        }
        await again.DisposeAsync();
    }

    [Fact]
    public async Task Broker_restart_keeps_sessions_queued_messages_and_retained()
    {
        string dir = Directory.CreateTempSubdirectory("zhizao-broker-").FullName;
        try
        {
            void Persistent(MqttClientOptions o)
            {
                o.CleanStart = false;
                o.SessionExpiryInterval = 3600;
                o.AutoReconnect = false;
            }
            await using (var broker = await TestBroker.StartAsync(o => o.DataDirectory = dir))
            {
                await using (var sub = await TestClient.ConnectAsync(broker.Port, "durable", configure: Persistent))
                {
                    await sub.Client.SubscribeAsync("d/#", MqttQoS.ExactlyOnce);
                    await sub.Client.DisconnectAsync();
                }
                await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
                for (int i = 0; i < 100; i++)
                    Assert.Equal(MqttReasonCode.Success, await pub.Client.PublishAsync("d/x", B(i.ToString()), i % 2 == 0 ? MqttQoS.AtLeastOnce : MqttQoS.ExactlyOnce));
                await pub.Client.PublishAsync("cfg/a", B("retained"), MqttQoS.AtLeastOnce, retain: true);
            }
            await using var restarted = await TestBroker.StartAsync(o => o.DataDirectory = dir);
            Assert.Equal(1, restarted.RetainedCount);
            await using var back = await TestClient.ConnectAsync(restarted.Port, "durable", configure: Persistent);
            Assert.True(back.ConnAck!.SessionPresent);
            for (int i = 0; i < 100; i++)
                Assert.Equal(i.ToString(), S(await back.ReceiveAsync()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Keep_alive_timeout_disconnects_a_silent_client_with_reason_0x8D()
    {
        await using var broker = await TestBroker.StartAsync();
        var (raw, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "silent", CleanStart = true, KeepAliveSeconds = 1 });
        await using var _raw = raw;
        var d = Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync());
        Assert.Equal(MqttReasonCode.KeepAliveTimeout, d.ReasonCode);
        Assert.Null(await raw.ReceiveOrCloseAsync());
    }

    [Fact]
    public async Task Topic_alias_from_client_is_resolved_and_an_alias_above_the_maximum_is_refused()
    {
        await using var broker = await TestBroker.StartAsync(o => o.TopicAliasMaximum = 4);
        await using var sub = await TestClient.ConnectAsync(broker.Port, "sub");
        await sub.Client.SubscribeAsync("alias/#");
        var (raw, ack) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "aliaser", CleanStart = true });
        await using var _raw = raw;
        Assert.Equal((ushort)4, ack.Properties!.TopicAliasMaximum);
        await raw.SendAsync(new MqttPublishPacket { Topic = "alias/long/topic", Payload = B("1"), Properties = new MqttProperties { TopicAlias = 2 } });
        await raw.SendAsync(new MqttPublishPacket { Topic = "", Payload = B("2"), Properties = new MqttProperties { TopicAlias = 2 } });
        Assert.Equal("alias/long/topic", (await sub.ReceiveAsync()).Topic);
        var second = await sub.ReceiveAsync();
        Assert.Equal("alias/long/topic", second.Topic);
        Assert.Equal("2", S(second));
        Assert.Null(second.Properties?.TopicAlias);

        await raw.SendAsync(new MqttPublishPacket { Topic = "alias/x", Payload = B("3"), Properties = new MqttProperties { TopicAlias = 5 } });
        Assert.Equal(MqttReasonCode.TopicAliasInvalid, Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync()).ReasonCode);
    }

    [Fact]
    public async Task Message_expiry_is_forwarded_reduced_and_expired_queued_messages_are_dropped()
    {
        await using var broker = await TestBroker.StartAsync();
        void Persistent(MqttClientOptions o)
        {
            o.CleanStart = false;
            o.SessionExpiryInterval = 300;
            o.AutoReconnect = false;
        }
        await using (var s = await TestClient.ConnectAsync(broker.Port, "exp", configure: Persistent))
        {
            await s.Client.SubscribeAsync("e");
            await s.Client.DisconnectAsync();
        }
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        await pub.Client.PublishAsync("e", B("short"), MqttQoS.AtLeastOnce, properties: new MqttProperties { MessageExpiryInterval = 1 });
        await pub.Client.PublishAsync("e", B("long"), MqttQoS.AtLeastOnce, properties: new MqttProperties { MessageExpiryInterval = 600 });
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // lets the first message's 1 s lifetime pass; not synchronisation
        await using var back = await TestClient.ConnectAsync(broker.Port, "exp", configure: Persistent);
        var m = await back.ReceiveAsync();
        Assert.Equal("long", S(m));
        Assert.InRange(m.Properties!.MessageExpiryInterval!.Value, 1u, 600u);
    }

    [Fact]
    public async Task Exceeding_receive_maximum_disconnects_with_0x93()
    {
        await using var broker = await TestBroker.StartAsync(o => o.ReceiveMaximum = 3);
        var (raw, ack) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "greedy", CleanStart = true });
        await using var _raw = raw;
        Assert.Equal((ushort)3, ack.Properties!.ReceiveMaximum);
        // QoS 2 without PUBREL keeps each one counted against the quota
        for (ushort id = 1; id <= 4; id++)
            await raw.SendAsync(new MqttPublishPacket { Topic = "t", Payload = B("x"), QoS = MqttQoS.ExactlyOnce, PacketId = id });
        for (int i = 0; i < 3; i++)
            Assert.IsType<MqttPubRecPacket>(await raw.ReceiveAsync());
        Assert.Equal(MqttReasonCode.ReceiveMaximumExceeded, Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync()).ReasonCode);
    }

    [Fact]
    public async Task Qos2_resend_before_pubrel_is_not_delivered_twice()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var sub = await TestClient.ConnectAsync(broker.Port, "sub");
        await sub.Client.SubscribeAsync("x", MqttQoS.ExactlyOnce);
        var (raw, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "p", CleanStart = true });
        await using var _raw = raw;
        var publish = new MqttPublishPacket { Topic = "x", Payload = B("once"), QoS = MqttQoS.ExactlyOnce, PacketId = 9 };
        await raw.SendAsync(publish);
        Assert.IsType<MqttPubRecPacket>(await raw.ReceiveAsync());
        publish.Dup = true;
        await raw.SendAsync(publish);
        Assert.IsType<MqttPubRecPacket>(await raw.ReceiveAsync());
        await raw.SendAsync(new MqttPubRelPacket { PacketId = 9 });
        Assert.IsType<MqttPubCompPacket>(await raw.ReceiveAsync());
        await raw.SendAsync(new MqttPublishPacket { Topic = "x", Payload = B("next"), QoS = MqttQoS.ExactlyOnce, PacketId = 9 });
        Assert.Equal("once", S(await sub.ReceiveAsync()));
        Assert.Equal("next", S(await sub.ReceiveAsync()));
    }

    [Fact]
    public async Task Shared_subscription_splits_messages_round_robin()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var a = await TestClient.ConnectAsync(broker.Port, "a");
        await using var b = await TestClient.ConnectAsync(broker.Port, "b");
        await using var plain = await TestClient.ConnectAsync(broker.Port, "plain");
        await a.Client.SubscribeAsync("$share/g/jobs/#");
        await b.Client.SubscribeAsync("$share/g/jobs/#");
        await plain.Client.SubscribeAsync("jobs/#");
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        for (int i = 0; i < 10; i++)
            await pub.Client.PublishAsync("jobs/x", B(i.ToString()), MqttQoS.AtLeastOnce);
        for (int i = 0; i < 10; i++)
            await plain.ReceiveAsync();
        var got = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            got.Add(S(await a.ReceiveAsync()));
            got.Add(S(await b.ReceiveAsync()));
        }
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString()).Order(), got.Order());
    }

    [Fact]
    public async Task No_local_and_subscription_identifiers_and_overlapping_filters_deliver_once()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var c = await TestClient.ConnectAsync(broker.Port, "self");
        await c.Client.SubscribeAsync([new MqttSubscription { TopicFilter = "mine/#", MaximumQoS = MqttQoS.AtLeastOnce, NoLocal = true }]);
        await c.Client.SubscribeAsync([new MqttSubscription { TopicFilter = "ids/+", MaximumQoS = MqttQoS.AtLeastOnce }], subscriptionId: 7);
        await c.Client.SubscribeAsync([new MqttSubscription { TopicFilter = "ids/#", MaximumQoS = MqttQoS.AtMostOnce }], subscriptionId: 9);
        await c.Client.PublishAsync("mine/a", B("not to me"), MqttQoS.AtLeastOnce);
        await c.Client.PublishAsync("ids/a", B("to me"), MqttQoS.AtLeastOnce);
        var m = await c.ReceiveAsync();
        Assert.Equal("ids/a", m.Topic);
        Assert.Equal(MqttQoS.AtLeastOnce, m.QoS);
        Assert.Equal([7u, 9u], m.Properties!.SubscriptionIdentifiers!.Order());
        Assert.False(c.TryReceive(out _));
    }

    [Fact]
    public async Task Sys_topics_report_statistics()
    {
        await using var broker = await TestBroker.StartAsync(o => o.SysInterval = TimeSpan.FromMilliseconds(200));
        await using var c = await TestClient.ConnectAsync(broker.Port, "sys");
        await c.Client.SubscribeAsync("$SYS/broker/clients/connected", MqttQoS.AtMostOnce);
        MqttPublishPacket m;
        do
            m = await c.ReceiveAsync();
        while (S(m) != "1");
        Assert.Equal("$SYS/broker/clients/connected", m.Topic);
        // '#' does not match $SYS
        await using var d = await TestClient.ConnectAsync(broker.Port, "all");
        await d.Client.SubscribeAsync("#", MqttQoS.AtMostOnce);
        await c.Client.PublishAsync("plain", B("x"));
        Assert.Equal("plain", (await d.ReceiveAsync()).Topic);
        Assert.Equal(MqttReasonCode.NotAuthorized, await c.Client.PublishAsync("$SYS/broker/uptime", B("0"), MqttQoS.AtLeastOnce));
    }

    [Fact]
    public async Task Sink_receives_every_accepted_publish_in_order()
    {
        var sink = new CollectingSink();
        await using var broker = await TestBroker.StartAsync(o => o.MessageSink = sink);
        await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
        for (int i = 0; i < 500; i++)
            await pub.Client.PublishAsync("s/" + i, B(i.ToString()), i % 3 == 0 ? MqttQoS.AtMostOnce : MqttQoS.AtLeastOnce);
        await Wait.UntilAsync(() => sink.Count == 500, "500 messages at the sink");
        Assert.Equal(Enumerable.Range(0, 500).Select(i => "s/" + i), sink.Topics());
        Assert.Equal("pub", sink.First().SenderClientId);
    }

    private sealed class CollectingSink : IMqttMessageSink
    {
        private readonly List<MqttApplicationMessage> _all = [];

        public int Count
        {
            get
            {
                lock (_all)
                    return _all.Count;
            }
        }

        public List<string> Topics()
        {
            lock (_all)
                return _all.Select(m => m.Topic).ToList();
        }

        public MqttApplicationMessage First()
        {
            lock (_all)
                return _all[0];
        }

        public ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken)
        {
            lock (_all)
                _all.AddRange(batch);
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Session_takeover_disconnects_the_first_connection_with_0x8E()
    {
        await using var broker = await TestBroker.StartAsync();
        var (first, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "dup", CleanStart = true });
        await using var _first = first;
        await using var second = await TestClient.ConnectAsync(broker.Port, "dup");
        Assert.Equal(MqttReasonCode.SessionTakenOver, Assert.IsType<MqttDisconnectPacket>(await first.ReceiveAsync()).ReasonCode);
        await second.Client.SubscribeAsync("still/works");
    }
}

public class BrokerStoreTests
{
    private static void Persistent(MqttClientOptions o)
    {
        o.CleanStart = false;
        o.SessionExpiryInterval = 3600;
        o.AutoReconnect = false;
    }

    [Fact]
    public async Task Acknowledged_messages_are_on_disk_when_puback_arrives()
    {
        string dir = Directory.CreateTempSubdirectory("zhizao-broker-").FullName;
        string crash = Directory.CreateTempSubdirectory("zhizao-broker-crash-").FullName;
        try
        {
            await using (var broker = await TestBroker.StartAsync(o => o.DataDirectory = dir))
            {
                await using (var sub = await TestClient.ConnectAsync(broker.Port, "durable", configure: Persistent))
                {
                    await sub.Client.SubscribeAsync("d/#", MqttQoS.AtLeastOnce);
                    await sub.Client.DisconnectAsync();
                }
                await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
                for (int i = 0; i < 20; i++)
                    await pub.Client.PublishAsync("d/x", Encoding.UTF8.GetBytes(i.ToString()), MqttQoS.AtLeastOnce);
                // the broker is still running: copy its log as a crash would leave it
                File.Copy(Path.Combine(dir, "broker.log"), Path.Combine(crash, "broker.log"));
            }
            await using var recovered = await TestBroker.StartAsync(o => o.DataDirectory = crash);
            await using var back = await TestClient.ConnectAsync(recovered.Port, "durable", configure: Persistent);
            Assert.True(back.ConnAck!.SessionPresent);
            for (int i = 0; i < 20; i++)
                Assert.Equal(i.ToString(), Encoding.UTF8.GetString((await back.ReceiveAsync()).Payload.Span));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
            Directory.Delete(crash, recursive: true);
        }
    }

    [Fact]
    public async Task Torn_or_corrupt_log_tail_is_dropped_and_earlier_records_survive()
    {
        string dir = Directory.CreateTempSubdirectory("zhizao-broker-").FullName;
        try
        {
            await using (var broker = await TestBroker.StartAsync(o => o.DataDirectory = dir))
            {
                await using var pub = await TestClient.ConnectAsync(broker.Port, "pub");
                await pub.Client.PublishAsync("cfg/a", "A"u8.ToArray(), MqttQoS.AtLeastOnce, retain: true);
            }
            string log = Path.Combine(dir, "broker.log");
            long good = new FileInfo(log).Length;
            await using (var f = new FileStream(log, FileMode.Append))
                f.Write([0x40, 0, 0, 0, 8, 1, 2, 3]); // a record cut short by a crash
            await using (var broker = await TestBroker.StartAsync(o => o.DataDirectory = dir))
                Assert.Equal(1, broker.RetainedCount);
            Assert.True(new FileInfo(log).Length <= good + 64, "the log was rewritten without the torn tail");

            var bytes = await File.ReadAllBytesAsync(log);
            bytes[^2] ^= 0xFF; // corrupt the checksum of the last record (the retained message)
            await File.WriteAllBytesAsync(log, bytes);
            await using var again = await TestBroker.StartAsync(o => o.DataDirectory = dir);
            Assert.Equal(0, again.RetainedCount);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
