using System.Buffers;
using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

public class RoundTripTests
{
    public static TheoryData<MqttProtocolVersion, MqttPacketType> AllTypes()
    {
        var data = new TheoryData<MqttProtocolVersion, MqttPacketType>();
        foreach (var v in new[] { MqttProtocolVersion.V311, MqttProtocolVersion.V500 })
            foreach (var t in Enum.GetValues<MqttPacketType>())
                if (v == MqttProtocolVersion.V500 || t != MqttPacketType.Auth)
                    data.Add(v, t);
        return data;
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Every_packet_type_round_trips_with_all_its_properties(MqttProtocolVersion v, MqttPacketType type)
    {
        var gen = new PacketGenerator((int)type * 10 + (int)v);
        int seen = 0;
        for (int i = 0; i < 5000 && seen < 20; i++)
        {
            var packet = gen.Next(v);
            if (packet.Type != type)
                continue;
            seen++;
            if (v == MqttProtocolVersion.V500)
                FillAllProperties(gen, packet);
            var bytes = PacketGenerator.Encode(packet, v);
            var decoded = PacketGenerator.Decode(bytes, v);
            Assert.Equal(type, decoded.Type);
            Assert.Equal(bytes, PacketGenerator.Encode(decoded, v));
        }
        Assert.True(seen > 0);
    }

    private static void FillAllProperties(PacketGenerator gen, MqttPacket packet)
    {
        var ctx = packet.Type switch
        {
            MqttPacketType.Connect => MqttPropertyContext.Connect,
            MqttPacketType.ConnAck => MqttPropertyContext.ConnAck,
            MqttPacketType.Publish => MqttPropertyContext.Publish,
            MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp => MqttPropertyContext.PublishAck,
            MqttPacketType.Subscribe => MqttPropertyContext.Subscribe,
            MqttPacketType.SubAck => MqttPropertyContext.SubAck,
            MqttPacketType.Unsubscribe => MqttPropertyContext.Unsubscribe,
            MqttPacketType.UnsubAck => MqttPropertyContext.UnsubAck,
            MqttPacketType.Disconnect => MqttPropertyContext.Disconnect,
            MqttPacketType.Auth => MqttPropertyContext.Auth,
            _ => (MqttPropertyContext?)null,
        };
        if (ctx is { } c)
            packet.Properties = gen.Props(c, all: true);
        if (packet is MqttConnectPacket { Will: { } will })
            will.Properties = gen.Props(MqttPropertyContext.Will, all: true);
    }

    [Fact]
    public void A_publish_keeps_every_field()
    {
        var p = new MqttPublishPacket
        {
            Topic = "factory/line1/温度",
            QoS = MqttQoS.ExactlyOnce,
            Dup = true,
            Retain = true,
            PacketId = 4242,
            Payload = "21.5"u8.ToArray(),
            Properties = new MqttProperties
            {
                ContentType = "text/plain",
                SubscriptionIdentifiers = [7, 268_435_455],
                UserProperties = [new("k", "v"), new("k", "v2")],
                MessageExpiryInterval = 60,
            },
        };
        var d = (MqttPublishPacket)PacketGenerator.Decode(PacketGenerator.Encode(p, MqttProtocolVersion.V500), MqttProtocolVersion.V500);
        Assert.Equal(p.Topic, d.Topic);
        Assert.Equal(MqttQoS.ExactlyOnce, d.QoS);
        Assert.True(d.Dup && d.Retain);
        Assert.Equal(4242, d.PacketId);
        Assert.Equal("21.5"u8.ToArray(), d.Payload.ToArray());
        Assert.Equal("text/plain", d.Properties!.ContentType);
        Assert.Equal(new uint[] { 7, 268_435_455 }, d.Properties.SubscriptionIdentifiers);
        Assert.Equal(p.Properties.UserProperties, d.Properties.UserProperties);
        Assert.Equal(60u, d.Properties.MessageExpiryInterval);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public void Seeded_random_packets_round_trip(MqttProtocolVersion v)
    {
        var gen = new PacketGenerator(12345 + (int)v);
        for (int i = 0; i < 20_000; i++)
        {
            var packet = gen.Next(v);
            var bytes = PacketGenerator.Encode(packet, v);
            var decoded = PacketGenerator.Decode(bytes, v);
            Assert.Equal(bytes, PacketGenerator.Encode(decoded, v));
        }
    }

    [Fact]
    public void Reader_asks_for_more_without_consuming_until_the_packet_is_whole()
    {
        var gen = new PacketGenerator(7);
        for (int i = 0; i < 200; i++)
        {
            var bytes = PacketGenerator.Encode(gen.Publish(v5: true), MqttProtocolVersion.V500);
            var reader = new MqttPacketReader(MqttProtocolVersion.V500);
            for (int n = 0; n < bytes.Length; n++)
            {
                var partial = new ReadOnlySequence<byte>(bytes, 0, n);
                Assert.False(reader.TryRead(ref partial, out _));
                Assert.Equal(n, partial.Length);
            }
            var whole = Segment.Split(bytes, 1, 2, bytes.Length / 2);
            Assert.True(reader.TryRead(ref whole, out var packet));
            Assert.True(whole.IsEmpty);
            Assert.Equal(bytes, PacketGenerator.Encode(packet, MqttProtocolVersion.V500));
        }
    }

    [Fact]
    public void Several_packets_in_one_buffer_are_read_one_by_one()
    {
        var w = new ArrayBufferWriter<byte>();
        var writer = new MqttPacketWriter(MqttProtocolVersion.V500);
        writer.Write(new MqttPingReqPacket(), w);
        writer.Write(new MqttPubAckPacket { PacketId = 3 }, w);
        writer.Write(new MqttDisconnectPacket { ReasonCode = MqttReasonCode.ServerShuttingDown }, w);
        var seq = Segment.Split(w.WrittenSpan.ToArray(), 3);
        var reader = new MqttPacketReader(MqttProtocolVersion.V500);
        var types = new List<MqttPacketType>();
        while (reader.TryRead(ref seq, out var p))
            types.Add(p.Type);
        Assert.Equal([MqttPacketType.PingReq, MqttPacketType.PubAck, MqttPacketType.Disconnect], types);
    }

    [Fact]
    public void Reader_adopts_the_protocol_level_of_connect()
    {
        var reader = new MqttPacketReader();
        var bytes = PacketGenerator.Encode(new MqttConnectPacket { ProtocolVersion = MqttProtocolVersion.V311, ClientId = "c" }, MqttProtocolVersion.V311);
        Assert.True(reader.TryRead(bytes, out _, out _));
        Assert.Equal(MqttProtocolVersion.V311, reader.ProtocolVersion);
    }

    [Fact]
    public void Acks_with_success_and_no_properties_are_written_short()
    {
        Assert.Equal([0x40, 0x02, 0x00, 0x05], PacketGenerator.Encode(new MqttPubAckPacket { PacketId = 5 }, MqttProtocolVersion.V500));
        Assert.Equal([0xE0, 0x00], PacketGenerator.Encode(new MqttDisconnectPacket(), MqttProtocolVersion.V500));
        Assert.Equal([0xF0, 0x00], PacketGenerator.Encode(new MqttAuthPacket(), MqttProtocolVersion.V500));
    }

    [Fact]
    public void Writer_drops_reason_string_then_user_properties_to_fit_the_peer_maximum()
    {
        var ack = new MqttPubAckPacket
        {
            PacketId = 1,
            ReasonCode = MqttReasonCode.QuotaExceeded,
            Properties = new MqttProperties { ReasonString = new string('r', 100), UserProperties = [new("k", new string('v', 100))] },
        };
        var writer = new MqttPacketWriter(MqttProtocolVersion.V500) { MaximumPacketSize = 150 };
        var d = (MqttPubAckPacket)PacketGenerator.Decode(writer.ToArray(ack), MqttProtocolVersion.V500);
        Assert.Null(d.Properties!.ReasonString);
        Assert.Single(d.Properties.UserProperties!);
        writer.MaximumPacketSize = 20;
        d = (MqttPubAckPacket)PacketGenerator.Decode(writer.ToArray(ack), MqttProtocolVersion.V500);
        Assert.Null(d.Properties);
        Assert.Equal(MqttReasonCode.QuotaExceeded, d.ReasonCode);
    }

    [Fact]
    public void Writer_refuses_a_publish_above_the_peer_maximum()
    {
        var writer = new MqttPacketWriter(MqttProtocolVersion.V500) { MaximumPacketSize = 50 };
        var ex = Assert.Throws<MqttProtocolException>(() => writer.ToArray(new MqttPublishPacket { Topic = "t", Payload = new byte[100] }));
        Assert.Equal(MqttReasonCode.PacketTooLarge, ex.ReasonCode);
    }

    [Fact]
    public void Writer_refuses_a_property_the_packet_may_not_carry()
    {
        var p = new MqttPublishPacket { Topic = "t", Properties = new MqttProperties { SessionExpiryInterval = 1 } };
        var ex = Assert.Throws<ArgumentException>(() => PacketGenerator.Encode(p, MqttProtocolVersion.V500));
        Assert.Contains("SessionExpiryInterval", ex.Message);
        Assert.Throws<ArgumentException>(() => PacketGenerator.Encode(new MqttPublishPacket { Topic = "t", Properties = new MqttProperties { ContentType = "x" } }, MqttProtocolVersion.V311));
    }

    [Fact]
    public void V311_connack_return_codes_map_to_reason_codes()
    {
        var bytes = new byte[] { 0x20, 0x02, 0x00, 0x05 };
        var p = (MqttConnAckPacket)PacketGenerator.Decode(bytes, MqttProtocolVersion.V311);
        Assert.Equal(MqttReasonCode.NotAuthorized, p.ReasonCode);
        Assert.Equal(bytes, PacketGenerator.Encode(p, MqttProtocolVersion.V311));
    }
}
