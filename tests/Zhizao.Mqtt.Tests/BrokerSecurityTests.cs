using System.Text;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

public class BrokerSecurityTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static MqttPasswordAuthenticator Users() => new MqttPasswordAuthenticator().Add("alice", "s3cret").Add("bob", "hunter2");

    [Fact]
    public async Task Wrong_password_is_refused_with_0x86_in_v5_and_return_code_4_in_v311()
    {
        await using var broker = await TestBroker.StartAsync(o => o.Authenticator = Users());
        var (v5, ack5) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "x", CleanStart = true, UserName = "alice", Password = B("wrong") });
        await using var _v5 = v5;
        Assert.Equal(MqttReasonCode.BadUserNameOrPassword, ack5.ReasonCode);
        Assert.Null(await v5.ReceiveOrCloseAsync());

        var (v3, ack3) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket
        {
            ProtocolVersion = MqttProtocolVersion.V311, ClientId = "y", CleanStart = true, UserName = "nobody", Password = B("x"),
        });
        await using var _v3 = v3;
        Assert.Equal(4, MqttReasonCodes.ToV311ConnectReturnCode(ack3.ReasonCode));

        var (anon, ackAnon) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "z", CleanStart = true });
        await using var _anon = anon;
        Assert.Equal(MqttReasonCode.NotAuthorized, ackAnon.ReasonCode);
        Assert.Equal(3, broker.Stats.AuthenticationFailures);

        await using var ok = await TestClient.ConnectAsync(broker.Port, "ok", configure: o => { o.UserName = "alice"; o.Password = "s3cret"; });
        Assert.Equal(MqttReasonCode.Success, ok.ConnAck!.ReasonCode);
    }

    [Fact]
    public async Task Client_rejects_refused_connect_with_the_reason()
    {
        await using var broker = await TestBroker.StartAsync(o => o.Authenticator = Users());
        var ex = await Assert.ThrowsAsync<MqttClientException>(() =>
            TestClient.ConnectAsync(broker.Port, "c", configure: o => { o.UserName = "bob"; o.Password = "nope"; }));
        Assert.Equal(MqttReasonCode.BadUserNameOrPassword, ex.ReasonCode);
        Assert.DoesNotContain("nope", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Acl_limits_publish_and_subscribe_with_user_and_client_substitution()
    {
        var acl = new MqttAcl()
            .Allow(MqttAclAccess.All, "devices/%u/#")
            .Allow(MqttAclAccess.Subscribe, "status/#")
            .Allow(MqttAclAccess.Publish, "status/%c")
            .Allow(MqttAclAccess.All, "#", userName: "bob");
        await using var broker = await TestBroker.StartAsync(o => { o.Authenticator = Users(); o.Acl = acl; });
        await using var alice = await TestClient.ConnectAsync(broker.Port, "press-1", configure: o => { o.UserName = "alice"; o.Password = "s3cret"; });
        await using var bob = await TestClient.ConnectAsync(broker.Port, "admin", configure: o => { o.UserName = "bob"; o.Password = "hunter2"; });
        await bob.Client.SubscribeAsync("#");

        Assert.Equal([MqttReasonCode.GrantedQoS1], await alice.Client.SubscribeAsync("devices/alice/+/cmd"));
        Assert.Equal([MqttReasonCode.NotAuthorized], await alice.Client.SubscribeAsync("devices/#"));
        Assert.Equal([MqttReasonCode.GrantedQoS1], await alice.Client.SubscribeAsync("status/#"));

        Assert.Equal(MqttReasonCode.NotAuthorized, await alice.Client.PublishAsync("devices/bob/x", B("no"), MqttQoS.AtLeastOnce));
        Assert.Equal(MqttReasonCode.NotAuthorized, await alice.Client.PublishAsync("status/other", B("no"), MqttQoS.AtLeastOnce));
        Assert.Equal(MqttReasonCode.Success, await alice.Client.PublishAsync("status/press-1", B("yes"), MqttQoS.AtLeastOnce));
        Assert.Equal("status/press-1", (await bob.ReceiveAsync()).Topic);
        Assert.Equal(3, broker.Stats.Denied); // one SUBSCRIBE, two PUBLISHes
    }

    [Fact]
    public void Acl_covers_checks_every_topic_a_filter_can_match()
    {
        Assert.True(MqttAcl.Covers("a/#", "a/+/b"));
        Assert.True(MqttAcl.Covers("a/#", "a"));
        Assert.True(MqttAcl.Covers("a/+", "a/b"));
        Assert.False(MqttAcl.Covers("a/+", "a/#"));
        Assert.False(MqttAcl.Covers("a/b", "a/+"));
        Assert.False(MqttAcl.Covers("#", "$SYS/x"));
        Assert.Throws<ArgumentException>(() => new MqttAcl().Allow(MqttAclAccess.All, "a/#/b"));
    }

    [Fact]
    public async Task Second_connect_is_a_protocol_error_0x82()
    {
        await using var broker = await TestBroker.StartAsync();
        var connect = new MqttConnectPacket { ClientId = "twice", CleanStart = true };
        var (raw, _) = await RawClient.ConnectAsync(broker.Port, connect);
        await using var _raw = raw;
        await raw.SendAsync(connect);
        Assert.Equal(MqttReasonCode.ProtocolError, Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync()).ReasonCode);
        Assert.Null(await raw.ReceiveOrCloseAsync());
    }

    [Fact]
    public async Task Malformed_packet_after_connect_gets_disconnect_0x81_and_close()
    {
        await using var broker = await TestBroker.StartAsync();
        var (raw, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "bad", CleanStart = true });
        await using var _raw = raw;
        await raw.SendRawAsync([0x30, 0x03, 0x00, 0x05, 0x61]); // PUBLISH whose topic length runs past the packet
        Assert.Equal(MqttReasonCode.MalformedPacket, Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync()).ReasonCode);
        Assert.Null(await raw.ReceiveOrCloseAsync());
        Assert.Equal(1, broker.Stats.ProtocolErrors);
    }

    [Fact]
    public async Task Oversized_packet_gets_disconnect_0x95()
    {
        await using var broker = await TestBroker.StartAsync(o => o.Limits = new MqttLimits { MaximumPacketSize = 1024 });
        var (raw, ack) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "big", CleanStart = true });
        await using var _raw = raw;
        Assert.Equal(1024u, ack.Properties!.MaximumPacketSize);
        await raw.SendAsync(new MqttPublishPacket { Topic = "t", Payload = new byte[2000] });
        Assert.Equal(MqttReasonCode.PacketTooLarge, Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync()).ReasonCode);
    }

    [Fact]
    public async Task Unsupported_protocol_level_gets_connack_return_code_1_and_close()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var raw = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V311);
        await raw.SendRawAsync([0x10, 0x0C, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x00]);
        var ack = Assert.IsType<MqttConnAckPacket>(await raw.ReceiveAsync());
        Assert.Equal(1, MqttReasonCodes.ToV311ConnectReturnCode(ack.ReasonCode));
        Assert.Null(await raw.ReceiveOrCloseAsync());
    }

    [Fact]
    public async Task First_packet_other_than_connect_closes_the_connection()
    {
        await using var broker = await TestBroker.StartAsync();
        await using var raw = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V500);
        await raw.SendRawAsync([0xC0, 0x00]); // PINGREQ
        Assert.Null(await raw.ReceiveOrCloseAsync());
        await Wait.UntilAsync(() => broker.ConnectionCount == 0, "the connection to be dropped");
    }

    [Fact]
    public async Task Client_publish_with_subscription_identifier_is_a_protocol_error()
    {
        await using var broker = await TestBroker.StartAsync();
        var (raw, _) = await RawClient.ConnectAsync(broker.Port, new MqttConnectPacket { ClientId = "sid", CleanStart = true });
        await using var _raw = raw;
        await raw.SendAsync(new MqttPublishPacket { Topic = "t", Properties = new MqttProperties { SubscriptionIdentifiers = [1] } });
        Assert.Equal(MqttReasonCode.ProtocolError, Assert.IsType<MqttDisconnectPacket>(await raw.ReceiveAsync()).ReasonCode);
    }

    [Fact]
    public async Task Connect_timeout_closes_a_connection_that_never_sends_connect()
    {
        await using var broker = await TestBroker.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300));
        await using var raw = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V500);
        Assert.Null(await raw.ReceiveOrCloseAsync());
    }
}
