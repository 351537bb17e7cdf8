using System.Buffers;
using System.Text;
using Zhizao.Mqtt;
using static Zhizao.Mqtt.MqttReasonCode;

namespace Zhizao.Mqtt.Tests;

/// <summary>One test per protocol rule the reader enforces; each checks the reason code the peer would be sent.</summary>
public class MalformedPacketTests
{
    private const MqttProtocolVersion V5 = MqttProtocolVersion.V500;
    private const MqttProtocolVersion V3 = MqttProtocolVersion.V311;

    private static byte[] Pkt(byte first, params byte[][] parts)
    {
        var body = parts.SelectMany(p => p).ToArray();
        var w = new List<byte> { first };
        uint n = (uint)body.Length;
        do
        {
            byte b = (byte)(n & 0x7F);
            n >>= 7;
            w.Add(n > 0 ? (byte)(b | 0x80) : b);
        }
        while (n > 0);
        w.AddRange(body);
        return [.. w];
    }

    private static byte[] B(params byte[] b) => b;
    private static byte[] S(string s) => Bin(Encoding.UTF8.GetBytes(s));
    private static byte[] Bin(byte[] b) => [(byte)(b.Length >> 8), (byte)b.Length, .. b];
    private static byte[] Props(params byte[][] props) { var all = props.SelectMany(p => p).ToArray(); return [(byte)all.Length, .. all]; }
    private static byte[] NoProps => [0];
    private static byte[] Connect5(byte flags, byte[] props, params byte[][] payload) =>
        Pkt(0x10, [S("MQTT"), B(5, flags, 0, 60), props, .. payload]);
    private static byte[] Publish5(string topic, params byte[][] props) => Pkt(0x30, S(topic), Props(props), B(1, 2));

    private static MqttProtocolException Fails(byte[] bytes, MqttProtocolVersion v, MqttReasonCode expected, MqttLimits? limits = null)
    {
        var reader = new MqttPacketReader(v, limits);
        var seq = new ReadOnlySequence<byte>(bytes);
        var ex = Assert.Throws<MqttProtocolException>(() => reader.TryRead(ref seq, out _));
        Assert.Equal(expected, ex.ReasonCode);
        return ex;
    }

    private static MqttPacket Accepts(byte[] bytes, MqttProtocolVersion v) => PacketGenerator.Decode(bytes, v);

    [Fact]
    public void Remaining_length_of_five_bytes_is_malformed() => Fails(B(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), V5, MalformedPacket);

    [Fact]
    public void Remaining_length_not_in_minimum_bytes_is_malformed() => Fails(B(0xC0, 0x80, 0x00), V5, MalformedPacket);

    [Fact]
    public void Reserved_packet_type_0_is_malformed() => Fails(B(0x00, 0x00), V5, MalformedPacket);

    [Fact]
    public void Auth_in_mqtt_311_is_malformed() => Fails(B(0xF0, 0x00), V3, MalformedPacket);

    [Theory]
    [InlineData(0x11)]
    [InlineData(0x21)]
    [InlineData(0x41)]
    [InlineData(0x60)]
    [InlineData(0x80)]
    [InlineData(0xA3)]
    [InlineData(0xC1)]
    [InlineData(0xE8)]
    public void Wrong_fixed_header_flags_are_malformed(byte first) => Fails(B(first, 0x00), V5, MalformedPacket);

    [Fact]
    public void Publish_with_qos_3_is_malformed() => Fails(B(0x36, 0x00), V5, MalformedPacket);

    [Fact]
    public void Publish_with_dup_and_qos_0_is_malformed() => Fails(B(0x38, 0x00), V5, MalformedPacket);

    [Fact]
    public void Fixed_header_is_checked_before_the_body_arrives() => Fails(B(0x36), V5, MalformedPacket);

    [Fact]
    public void Packet_over_the_maximum_size_is_refused_before_its_body_arrives()
    {
        var ex = Fails(B(0x30, 0xE8, 0x07), V5, PacketTooLarge, new MqttLimits { MaximumPacketSize = 100 });
        Assert.Equal(nameof(MqttLimits.MaximumPacketSize), ex.Limit);
        Assert.Contains("MaximumPacketSize = 100", ex.Message);
    }

    [Fact]
    public void Packet_before_connect_is_a_protocol_error() => Fails(B(0xC0, 0x00), MqttProtocolVersion.Unknown, ProtocolError);

    [Fact]
    public void Connect_reserved_flag_is_malformed() => Fails(Connect5(0x03, NoProps, S("id")), V5, MalformedPacket);

    [Fact]
    public void Connect_will_qos_without_will_flag_is_malformed() => Fails(Connect5(0x08, NoProps, S("id")), V5, MalformedPacket);

    [Fact]
    public void Connect_will_retain_without_will_flag_is_malformed() => Fails(Connect5(0x20, NoProps, S("id")), V5, MalformedPacket);

    [Fact]
    public void Connect_will_qos_3_is_malformed() => Fails(Connect5(0x1C, NoProps, S("id"), NoProps, S("w"), S("p")), V5, MalformedPacket);

    [Fact]
    public void Connect_311_password_without_user_name_is_malformed() =>
        Fails(Pkt(0x10, S("MQTT"), B(4, 0x40, 0, 60), S("id"), S("pw")), V3, MalformedPacket);

    [Fact]
    public void Connect_311_empty_client_id_without_clean_session_is_refused() =>
        Fails(Pkt(0x10, S("MQTT"), B(4, 0x00, 0, 60), S("")), V3, ClientIdentifierNotValid);

    [Fact]
    public void Connect_authentication_data_without_method_is_a_protocol_error() =>
        Fails(Connect5(0x02, Props(B(0x16, 0, 1, 9)), S("id")), V5, ProtocolError);

    [Fact]
    public void Connect_5_password_without_user_name_is_allowed() =>
        Assert.NotNull(((MqttConnectPacket)Accepts(Connect5(0x40, NoProps, S("id"), S("pw")), V5)).Password);

    [Fact]
    public void Connect_protocol_level_3_is_unsupported() =>
        Fails(Pkt(0x10, S("MQTT"), B(3, 0x02, 0, 60), S("id")), MqttProtocolVersion.Unknown, UnsupportedProtocolVersion);

    [Fact]
    public void Connect_protocol_name_other_than_mqtt_is_unsupported() =>
        Fails(Pkt(0x10, S("MQIsdp"), B(3, 0x02, 0, 60), S("id")), MqttProtocolVersion.Unknown, UnsupportedProtocolVersion);

    [Fact]
    public void Connect_will_topic_with_wildcard_is_invalid() =>
        Fails(Connect5(0x04, NoProps, S("id"), NoProps, S("a/#"), S("p")), V5, TopicNameInvalid);

    [Fact]
    public void Trailing_bytes_after_connect_are_malformed() => Fails(Connect5(0x02, NoProps, S("id"), B(0)), V5, MalformedPacket);

    [Fact]
    public void String_with_u0000_is_malformed() => Fails(Pkt(0x30, Bin([0x61, 0x00]), NoProps), V5, MalformedPacket);

    [Fact]
    public void Overlong_utf8_is_malformed() => Fails(Pkt(0x30, Bin([0xC0, 0x80]), NoProps), V5, MalformedPacket);

    [Fact]
    public void Utf8_encoded_surrogate_is_malformed() => Fails(Pkt(0x30, Bin([0xED, 0xA0, 0x80]), NoProps), V5, MalformedPacket);

    [Fact]
    public void Truncated_utf8_sequence_is_malformed() => Fails(Pkt(0x30, Bin([0x61, 0xE6, 0xB8]), NoProps), V5, MalformedPacket);

    [Fact]
    public void String_longer_than_the_packet_is_malformed() => Fails(Pkt(0x30, B(0, 10, 0x61, 0x62)), V5, MalformedPacket);

    [Fact]
    public void Non_characters_are_accepted_as_the_spec_allows() => Assert.Equal("a\uFFFF", ((MqttPublishPacket)Accepts(Pkt(0x30, Bin([0x61, 0xEF, 0xBF, 0xBF]), NoProps), V5)).Topic);

    [Theory]
    [InlineData("a/+")]
    [InlineData("a/#")]
    [InlineData("+")]
    public void Publish_topic_with_wildcard_is_invalid(string topic)
    {
        var ex = Fails(Pkt(0x30, S(topic), NoProps), V5, TopicNameInvalid);
        Assert.Equal(2, ex.Offset);
        Assert.Contains("topic name", ex.Message);
        Assert.Contains("at byte 2", ex.Message);
    }

    [Fact]
    public void Publish_311_empty_topic_is_invalid() => Fails(Pkt(0x30, S("")), V3, TopicNameInvalid);

    [Fact]
    public void Publish_5_empty_topic_without_alias_is_a_protocol_error() => Fails(Pkt(0x30, S(""), NoProps), V5, ProtocolError);

    [Fact]
    public void Publish_5_empty_topic_with_alias_is_accepted() =>
        Assert.Equal((ushort)3, Accepts(Pkt(0x30, S(""), Props(B(0x23, 0, 3))), V5).Properties!.TopicAlias);

    [Fact]
    public void Publish_qos1_packet_identifier_0_is_a_protocol_error() => Fails(Pkt(0x32, S("t"), B(0, 0), NoProps), V5, ProtocolError);

    [Fact]
    public void Subscribe_packet_identifier_0_is_a_protocol_error() => Fails(Pkt(0x82, B(0, 0), NoProps, S("t"), B(0)), V5, ProtocolError);

    [Fact]
    public void Subscribe_without_filters_is_a_protocol_error() => Fails(Pkt(0x82, B(0, 1), NoProps), V5, ProtocolError);

    [Fact]
    public void Unsubscribe_without_filters_is_a_protocol_error() => Fails(Pkt(0xA2, B(0, 1), NoProps), V5, ProtocolError);

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a+")]
    [InlineData("a/b+/c")]
    [InlineData("#a")]
    [InlineData("a#")]
    [InlineData("")]
    public void Subscribe_invalid_filter_is_refused(string filter) => Fails(Pkt(0x82, B(0, 1), NoProps, S(filter), B(0)), V5, TopicFilterInvalid);

    [Theory]
    [InlineData("$share//a")]
    [InlineData("$share/g+/a")]
    [InlineData("$share/g")]
    [InlineData("$share/g/")]
    [InlineData("$share/g/a/#/b")]
    public void Subscribe_invalid_shared_subscription_is_refused(string filter) => Fails(Pkt(0x82, B(0, 1), NoProps, S(filter), B(0)), V5, TopicFilterInvalid);

    [Fact]
    public void Shared_subscription_is_parsed()
    {
        var s = (MqttSubscribePacket)Accepts(Pkt(0x82, B(0, 1), NoProps, S("$share/grp/a/+/#"), B(1)), V5);
        Assert.True(TopicFilter.TryParseShared(s.Subscriptions[0].TopicFilter, out var group, out var inner));
        Assert.Equal(("grp", "a/+/#"), (group, inner));
    }

    [Fact]
    public void Shared_subscription_with_no_local_is_a_protocol_error() => Fails(Pkt(0x82, B(0, 1), NoProps, S("$share/g/a"), B(0x04)), V5, ProtocolError);

    [Fact]
    public void Subscription_options_reserved_bits_are_malformed() => Fails(Pkt(0x82, B(0, 1), NoProps, S("a"), B(0x40)), V5, MalformedPacket);

    [Fact]
    public void Subscription_311_requested_qos_reserved_bits_are_malformed() => Fails(Pkt(0x82, B(0, 1), S("a"), B(0x04)), V3, MalformedPacket);

    [Fact]
    public void Subscription_qos_3_is_malformed() => Fails(Pkt(0x82, B(0, 1), NoProps, S("a"), B(0x03)), V5, MalformedPacket);

    [Fact]
    public void Retain_handling_3_is_a_protocol_error() => Fails(Pkt(0x82, B(0, 1), NoProps, S("a"), B(0x30)), V5, ProtocolError);

    [Fact]
    public void Property_not_allowed_in_the_packet_is_malformed() => Fails(Connect5(0x02, Props(B(0x23, 0, 1)), S("id")), V5, MalformedPacket);

    [Fact]
    public void Unknown_property_identifier_is_malformed() => Fails(Publish5("t", B(0x04, 1)), V5, MalformedPacket);

    [Fact]
    public void Property_identifier_above_63_is_malformed() => Fails(Publish5("t", B(0x80, 0x01, 1)), V5, MalformedPacket);

    [Fact]
    public void Duplicate_property_is_a_protocol_error() => Fails(Publish5("t", S("x").Prepend((byte)0x03).ToArray(), S("y").Prepend((byte)0x03).ToArray()), V5, ProtocolError);

    [Fact]
    public void Repeated_user_properties_and_publish_subscription_identifiers_are_allowed()
    {
        var p = Accepts(Publish5("t", B(0x26, 0, 1, 0x6B, 0, 1, 0x76), B(0x26, 0, 1, 0x6B, 0, 0), B(0x0B, 1), B(0x0B, 2)), V5).Properties!;
        Assert.Equal(2, p.UserProperties!.Count);
        Assert.Equal([1u, 2u], p.SubscriptionIdentifiers!);
    }

    [Fact]
    public void Two_subscription_identifiers_in_subscribe_are_a_protocol_error() =>
        Fails(Pkt(0x82, B(0, 1), Props(B(0x0B, 1), B(0x0B, 2)), S("a"), B(0)), V5, ProtocolError);

    [Fact]
    public void Property_length_past_the_end_is_malformed() => Fails(Pkt(0x30, S("t"), B(9, 0x01, 0)), V5, MalformedPacket);

    [Fact]
    public void Property_value_past_the_property_length_is_malformed() => Fails(Pkt(0x30, S("t"), B(2, 0x02, 0, 0, 0, 0)), V5, MalformedPacket);

    [Fact]
    public void Property_identifier_not_minimally_encoded_is_malformed() => Fails(Publish5("t", B(0x81, 0x00, 1)), V5, MalformedPacket);

    [Fact]
    public void Flag_property_other_than_0_or_1_is_a_protocol_error() => Fails(Publish5("t", B(0x01, 2)), V5, ProtocolError);

    [Fact]
    public void Receive_maximum_0_is_a_protocol_error() => Fails(Connect5(0x02, Props(B(0x21, 0, 0)), S("id")), V5, ProtocolError);

    [Fact]
    public void Maximum_packet_size_0_is_a_protocol_error() => Fails(Connect5(0x02, Props(B(0x27, 0, 0, 0, 0)), S("id")), V5, ProtocolError);

    [Fact]
    public void Subscription_identifier_0_is_a_protocol_error() => Fails(Publish5("t", B(0x0B, 0)), V5, ProtocolError);

    [Fact]
    public void Topic_alias_0_is_invalid() => Fails(Publish5("t", B(0x23, 0, 0)), V5, TopicAliasInvalid);

    [Fact]
    public void Response_topic_with_wildcard_is_invalid() => Fails(Publish5("t", S("a/+").Prepend((byte)0x08).ToArray()), V5, TopicNameInvalid);

    [Fact]
    public void Reason_code_not_defined_for_the_packet_is_malformed() => Fails(Pkt(0x40, B(0, 1, 0x81)), V5, MalformedPacket);

    [Fact]
    public void Pubrel_reason_code_of_puback_is_malformed() => Fails(Pkt(0x62, B(0, 1, 0x10)), V5, MalformedPacket);

    [Fact]
    public void Suback_311_return_code_3_is_malformed() => Fails(Pkt(0x90, B(0, 1, 3)), V3, MalformedPacket);

    [Fact]
    public void Suback_without_reason_codes_is_malformed() => Fails(Pkt(0x90, B(0, 1), NoProps), V5, MalformedPacket);

    [Fact]
    public void Connack_311_return_code_6_is_malformed() => Fails(Pkt(0x20, B(0, 6)), V3, MalformedPacket);

    [Fact]
    public void Connack_reserved_flags_are_malformed() => Fails(Pkt(0x20, B(2, 0), NoProps), V5, MalformedPacket);

    [Fact]
    public void Connack_session_present_with_failure_is_a_protocol_error() => Fails(Pkt(0x20, B(1, 0x87), NoProps), V5, ProtocolError);

    [Fact]
    public void Pingreq_with_a_body_is_malformed() => Fails(Pkt(0xC0, B(0)), V5, MalformedPacket);

    [Fact]
    public void Disconnect_311_with_a_body_is_malformed() => Fails(Pkt(0xE0, B(0)), V3, MalformedPacket);

    [Fact]
    public void Puback_311_with_a_reason_code_is_malformed() => Fails(Pkt(0x40, B(0, 1, 0)), V3, MalformedPacket);

    [Fact]
    public void Topic_above_max_topic_length_names_the_limit()
    {
        var ex = Fails(Pkt(0x30, S("abcdef"), NoProps), V5, TopicNameInvalid, new MqttLimits { MaxTopicLength = 5 });
        Assert.Equal(nameof(MqttLimits.MaxTopicLength), ex.Limit);
    }

    [Fact]
    public void Filter_above_max_topic_length_names_the_limit() =>
        Assert.Equal(nameof(MqttLimits.MaxTopicLength),
            Fails(Pkt(0x82, B(0, 1), NoProps, S("abcdef"), B(0)), V5, TopicFilterInvalid, new MqttLimits { MaxTopicLength = 5 }).Limit);

    [Fact]
    public void Too_many_properties_names_the_limit()
    {
        var up = B(0x26, 0, 1, 0x6B, 0, 0);
        var ex = Fails(Publish5("t", up, up, up), V5, QuotaExceeded, new MqttLimits { MaxPropertyCount = 2 });
        Assert.Equal(nameof(MqttLimits.MaxPropertyCount), ex.Limit);
    }

    [Fact]
    public void Too_many_user_properties_names_the_limit()
    {
        var up = B(0x26, 0, 1, 0x6B, 0, 0);
        Assert.Equal(nameof(MqttLimits.MaxUserProperties), Fails(Publish5("t", up, up), V5, QuotaExceeded, new MqttLimits { MaxUserProperties = 1 }).Limit);
    }

    [Fact]
    public void Too_many_subscriptions_names_the_limit() =>
        Assert.Equal(nameof(MqttLimits.MaxSubscriptionsPerPacket),
            Fails(Pkt(0x82, B(0, 1), NoProps, S("a"), B(0), S("b"), B(0), S("c"), B(0)), V5, QuotaExceeded,
                new MqttLimits { MaxSubscriptionsPerPacket = 2 }).Limit);

    [Fact]
    public void Payload_not_utf8_with_format_indicator_1_is_refused_when_checked() =>
        Fails(Pkt(0x30, S("t"), Props(B(0x01, 1)), B(0xFF)), V5, PayloadFormatInvalid, new MqttLimits { ValidateUtf8Payloads = true });
}
