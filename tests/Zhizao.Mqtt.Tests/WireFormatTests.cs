using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

/// <summary>Bytes written by hand from the spec, so the codec is checked against the wire format, not only itself.</summary>
public class WireFormatTests
{
    [Fact]
    public void Connect_311_matches_the_spec_layout()
    {
        var bytes = Convert.FromHexString("100D00044D5154540402003C000163");
        var p = new MqttConnectPacket { ProtocolVersion = MqttProtocolVersion.V311, ClientId = "c", CleanStart = true, KeepAliveSeconds = 60 };
        Assert.Equal(bytes, PacketGenerator.Encode(p, MqttProtocolVersion.V311));
        var d = (MqttConnectPacket)PacketGenerator.Decode(bytes, MqttProtocolVersion.Unknown);
        Assert.Equal(("c", true, (ushort)60), (d.ClientId, d.CleanStart, d.KeepAliveSeconds));
    }

    [Fact]
    public void Connect_5_with_properties_matches_the_spec_layout()
    {
        // flags: user name, clean start; properties: session expiry 10, receive maximum 20
        var bytes = Convert.FromHexString("101A00044D51545405820005" + "08" + "110000000A" + "210014" + "0001" + "63" + "0002" + "7575");
        var p = new MqttConnectPacket
        {
            ClientId = "c",
            CleanStart = true,
            KeepAliveSeconds = 5,
            UserName = "uu",
            Properties = new MqttProperties { SessionExpiryInterval = 10, ReceiveMaximum = 20 },
        };
        Assert.Equal(bytes, PacketGenerator.Encode(p, MqttProtocolVersion.V500));
    }

    [Fact]
    public void Publish_5_qos1_matches_the_spec_layout()
    {
        var bytes = Convert.FromHexString("320A0003612F62000A006869");
        var p = new MqttPublishPacket { Topic = "a/b", QoS = MqttQoS.AtLeastOnce, PacketId = 10, Payload = "hi"u8.ToArray() };
        Assert.Equal(bytes, PacketGenerator.Encode(p, MqttProtocolVersion.V500));
    }

    [Fact]
    public void Subscribe_5_options_bits_match_the_spec_layout()
    {
        // options: QoS 2 | No Local | Retain As Published | Retain Handling 2 = 0b0010_1110
        var bytes = Convert.FromHexString("82090001" + "00" + "0003612F23" + "2E");
        var p = new MqttSubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new MqttSubscription { TopicFilter = "a/#", MaximumQoS = MqttQoS.ExactlyOnce, NoLocal = true, RetainAsPublished = true, RetainHandling = MqttRetainHandling.DoNotSend }],
        };
        Assert.Equal(bytes, PacketGenerator.Encode(p, MqttProtocolVersion.V500));
    }

    [Theory]
    [InlineData(0, "00")]
    [InlineData(127, "7F")]
    [InlineData(128, "8001")]
    [InlineData(16_383, "FF7F")]
    [InlineData(16_384, "808001")]
    [InlineData(2_097_151, "FFFF7F")]
    [InlineData(2_097_152, "80808001")]
    public void Remaining_length_uses_the_spec_encoding(int remaining, string hex)
    {
        var p = new MqttPublishPacket { Topic = "t", Payload = new byte[Math.Max(0, remaining - 3)] };
        if (remaining < 3)
        {
            Assert.Equal([0xC0, 0x00], PacketGenerator.Encode(new MqttPingReqPacket(), MqttProtocolVersion.V311));
            return;
        }
        var bytes = PacketGenerator.Encode(p, MqttProtocolVersion.V311);
        Assert.Equal(hex, Convert.ToHexString(bytes, 1, hex.Length / 2));
        var limits = new MqttLimits { MaximumPacketSize = 268_435_460 };
        Assert.Equal(p.Payload.Length, ((MqttPublishPacket)PacketGenerator.Decode(bytes, MqttProtocolVersion.V311, limits)).Payload.Length);
    }

    [Fact]
    public void Largest_remaining_length_is_accepted_in_the_header_and_refused_by_the_default_limit()
    {
        var reader = new MqttPacketReader(MqttProtocolVersion.V500, new MqttLimits { MaximumPacketSize = 268_435_460 });
        Assert.False(reader.TryRead(Convert.FromHexString("30FFFFFF7F"), out _, out _));
        var ex = Assert.Throws<MqttProtocolException>(() =>
            new MqttPacketReader(MqttProtocolVersion.V500).TryRead(Convert.FromHexString("30FFFFFF7F"), out _, out _));
        Assert.Equal(MqttReasonCode.PacketTooLarge, ex.ReasonCode);
    }
}
