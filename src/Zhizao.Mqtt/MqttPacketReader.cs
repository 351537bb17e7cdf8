using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;

namespace Zhizao.Mqtt;

/// <summary>
/// Incremental MQTT decoder. <see cref="TryRead(ref ReadOnlySequence{byte}, out MqttPacket?)"/> returns false ("need
/// more data") without consuming anything, or one packet and the buffer sliced past it, or throws
/// <see cref="MqttProtocolException"/> carrying the reason code to answer with. Every length and count from the wire is
/// checked against the packet bounds and <see cref="MqttLimits"/> before use. Not thread-safe: one per connection.
/// </summary>
public sealed class MqttPacketReader
{
    private static readonly byte[] ProtocolName = "MQTT"u8.ToArray();
    private readonly MqttLimits _limits;

    /// <param name="version">Level used for packets other than CONNECT (which carries its own); a server passes
    /// Unknown and the reader adopts the level of the CONNECT it decodes.</param>
    public MqttPacketReader(MqttProtocolVersion version = MqttProtocolVersion.Unknown, MqttLimits? limits = null)
    {
        ProtocolVersion = version;
        _limits = limits ?? MqttLimits.Default;
    }

    public MqttProtocolVersion ProtocolVersion { get; set; }

    public MqttLimits Limits => _limits;

    /// <summary>Decodes one packet from the start of <paramref name="buffer"/>; on success slices it past the packet.</summary>
    public bool TryRead(ref ReadOnlySequence<byte> buffer, [NotNullWhen(true)] out MqttPacket? packet)
    {
        if (buffer.IsSingleSegment)
        {
            if (!TryRead(buffer.FirstSpan, out packet, out int consumed))
                return false;
            buffer = buffer.Slice(consumed);
            return true;
        }
        return TryReadMultiSegment(ref buffer, out packet);
    }

    /// <summary>Decodes one packet from the start of <paramref name="buffer"/>; false when it is incomplete.</summary>
    public bool TryRead(ReadOnlySpan<byte> buffer, [NotNullWhen(true)] out MqttPacket? packet, out int consumed)
    {
        packet = null;
        consumed = 0;
        int headerLength = ParseFixedHeader(buffer, out int remaining);
        if (headerLength == 0 || buffer.Length - headerLength < remaining)
            return false;
        packet = DecodeBody(buffer[0], buffer.Slice(headerLength, remaining), headerLength);
        consumed = headerLength + remaining;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryReadMultiSegment(ref ReadOnlySequence<byte> buffer, out MqttPacket? packet)
    {
        packet = null;
        Span<byte> header = stackalloc byte[5];
        int n = (int)Math.Min(5, buffer.Length);
        buffer.Slice(0, n).CopyTo(header);
        int headerLength = ParseFixedHeader(header[..n], out int remaining);
        if (headerLength == 0 || buffer.Length - headerLength < remaining)
            return false;
        byte[] rented = ArrayPool<byte>.Shared.Rent(remaining);
        try
        {
            buffer.Slice(headerLength, remaining).CopyTo(rented);
            packet = DecodeBody(header[0], rented.AsSpan(0, remaining), headerLength);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
        buffer = buffer.Slice(headerLength + remaining);
        return true;
    }

    /// <summary>Validates the first byte and the remaining length; 0 when more bytes are needed.</summary>
    private int ParseFixedHeader(ReadOnlySpan<byte> h, out int remaining)
    {
        remaining = 0;
        if (h.IsEmpty)
            return 0;
        ValidateFirstByte(h[0]);
        int value = 0;
        for (int i = 1; i < 5; i++)
        {
            if (i >= h.Length)
                return 0;
            byte b = h[i];
            value |= (b & 0x7F) << (7 * (i - 1));
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 1)
                    MqttThrow.Malformed("remaining length is not encoded in the minimum number of bytes", i);
                remaining = value;
                long total = (long)i + 1 + value;
                if (total > _limits.MaximumPacketSize)
                    MqttThrow.Limit(MqttReasonCode.PacketTooLarge, nameof(MqttLimits.MaximumPacketSize), total,
                        _limits.MaximumPacketSize, "packet size", 1);
                return i + 1;
            }
        }
        MqttThrow.Malformed("remaining length has more than 4 bytes", 4);
        return 0;
    }

    private void ValidateFirstByte(byte first)
    {
        var type = (MqttPacketType)(first >> 4);
        int flags = first & 0x0F;
        switch (type)
        {
            case 0:
                MqttThrow.Malformed("packet type 0 is reserved", 0);
                break;
            case MqttPacketType.Publish:
                int qos = (flags >> 1) & 3;
                if (qos == 3)
                    MqttThrow.Malformed("PUBLISH QoS is 3", 0);
                if (qos == 0 && (flags & 0x08) != 0)
                    MqttThrow.Malformed("PUBLISH has DUP set with QoS 0", 0);
                break;
            case MqttPacketType.PubRel or MqttPacketType.Subscribe or MqttPacketType.Unsubscribe:
                if (flags != 0x02)
                    MqttThrow.Malformed($"{type} fixed-header flags are 0x{flags:X}, must be 0x2", 0);
                break;
            default:
                if (flags != 0)
                    MqttThrow.Malformed($"{type} fixed-header flags are 0x{flags:X}, must be 0", 0);
                break;
        }
        if (type == MqttPacketType.Connect)
            return;
        if (ProtocolVersion == MqttProtocolVersion.Unknown)
            MqttThrow.Protocol($"{type} before CONNECT: protocol version unknown", 0);
        if (type == MqttPacketType.Auth && ProtocolVersion != MqttProtocolVersion.V500)
            MqttThrow.Malformed("packet type 15 (AUTH) is reserved in MQTT 3.1.1", 0);
    }

    private MqttPacket DecodeBody(byte first, ReadOnlySpan<byte> body, int headerLength)
    {
        var c = new Cursor(body, headerLength);
        var type = (MqttPacketType)(first >> 4);
        MqttPacket packet = type switch
        {
            MqttPacketType.Connect => ReadConnect(ref c),
            MqttPacketType.ConnAck => ReadConnAck(ref c),
            MqttPacketType.Publish => ReadPublish(ref c, first),
            MqttPacketType.PubAck => ReadPublishAck(ref c, new MqttPubAckPacket()),
            MqttPacketType.PubRec => ReadPublishAck(ref c, new MqttPubRecPacket()),
            MqttPacketType.PubRel => ReadPublishAck(ref c, new MqttPubRelPacket()),
            MqttPacketType.PubComp => ReadPublishAck(ref c, new MqttPubCompPacket()),
            MqttPacketType.Subscribe => ReadSubscribe(ref c),
            MqttPacketType.SubAck => ReadSubAck(ref c),
            MqttPacketType.Unsubscribe => ReadUnsubscribe(ref c),
            MqttPacketType.UnsubAck => ReadUnsubAck(ref c),
            MqttPacketType.PingReq => ReadEmpty(ref c, new MqttPingReqPacket()),
            MqttPacketType.PingResp => ReadEmpty(ref c, new MqttPingRespPacket()),
            MqttPacketType.Disconnect => ReadDisconnect(ref c),
            _ => ReadAuth(ref c),
        };
        if (c.Remaining != 0)
            MqttThrow.Malformed($"{type} has {c.Remaining} unexpected trailing bytes", c.Offset);
        return packet;
    }

    private bool V5 => ProtocolVersion == MqttProtocolVersion.V500;

    private MqttConnectPacket ReadConnect(ref Cursor c)
    {
        long at = c.Offset;
        var name = c.Binary("protocol name");
        if (!name.SequenceEqual(ProtocolName))
            MqttThrow.Code(MqttReasonCode.UnsupportedProtocolVersion, "protocol name is not \"MQTT\"", at);
        at = c.Offset;
        byte level = c.Byte("protocol level");
        if (level is not ((byte)MqttProtocolVersion.V311 or (byte)MqttProtocolVersion.V500))
            MqttThrow.Code(MqttReasonCode.UnsupportedProtocolVersion, $"protocol level {level} is not 4 or 5", at);
        var version = (MqttProtocolVersion)level;
        bool v5 = version == MqttProtocolVersion.V500;
        at = c.Offset;
        byte flags = c.Byte("connect flags");
        if ((flags & 0x01) != 0)
            MqttThrow.Malformed("connect flags reserved bit is set", at);
        bool will = (flags & 0x04) != 0;
        int willQos = (flags >> 3) & 3;
        bool willRetain = (flags & 0x20) != 0;
        bool hasPassword = (flags & 0x40) != 0;
        bool hasUser = (flags & 0x80) != 0;
        if (willQos == 3)
            MqttThrow.Malformed("will QoS is 3", at);
        if (!will && (willQos != 0 || willRetain))
            MqttThrow.Malformed("will QoS or will retain set without the will flag", at);
        if (!v5 && hasPassword && !hasUser)
            MqttThrow.Malformed("password flag set without the user name flag", at);
        var packet = new MqttConnectPacket
        {
            ProtocolVersion = version,
            CleanStart = (flags & 0x02) != 0,
            KeepAliveSeconds = c.UInt16("keep alive"),
        };
        if (v5)
        {
            at = c.Offset;
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.Connect);
            if (packet.Properties is { AuthenticationData: not null, AuthenticationMethod: null })
                MqttThrow.Protocol("authentication data without an authentication method", at);
        }
        at = c.Offset;
        packet.ClientId = c.String("client identifier");
        if (!v5 && packet.ClientId.Length == 0 && !packet.CleanStart)
            MqttThrow.Code(MqttReasonCode.ClientIdentifierNotValid, "empty client identifier needs clean session (MQTT-3.1.3-8)", at);
        if (will)
        {
            var w = new MqttWill { QoS = (MqttQoS)willQos, Retain = willRetain };
            if (v5)
                w.Properties = ReadProperties(ref c, MqttPropertyContext.Will);
            w.Topic = ReadTopicName(ref c, "will topic", allowEmpty: false);
            at = c.Offset;
            var payload = c.Binary("will payload");
            CheckPayloadFormat(w.Properties, payload, at);
            w.Payload = payload.ToArray();
            packet.Will = w;
        }
        if (hasUser)
            packet.UserName = c.String("user name");
        if (hasPassword)
            packet.Password = c.Binary("password").ToArray();
        ProtocolVersion = version;
        return packet;
    }

    private MqttConnAckPacket ReadConnAck(ref Cursor c)
    {
        long at = c.Offset;
        byte flags = c.Byte("connect acknowledge flags");
        if ((flags & 0xFE) != 0)
            MqttThrow.Malformed("CONNACK reserved flag bits are set", at);
        at = c.Offset;
        byte code = c.Byte("reason code");
        MqttReasonCode rc;
        if (V5)
        {
            rc = (MqttReasonCode)code;
            if (!MqttReasonCodes.IsValidFor(MqttPacketType.ConnAck, rc))
                MqttThrow.Malformed($"0x{code:X2} is not a CONNACK reason code", at);
        }
        else if (!MqttReasonCodes.TryFromV311ConnectReturnCode(code, out rc))
        {
            MqttThrow.Malformed($"{code} is not a CONNACK return code", at);
        }
        if (rc != MqttReasonCode.Success && (flags & 1) != 0)
            MqttThrow.Protocol("session present is set with a non-zero reason code", at - 1);
        var packet = new MqttConnAckPacket { SessionPresent = (flags & 1) != 0, ReasonCode = rc };
        if (V5)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.ConnAck);
        return packet;
    }

    private MqttPublishPacket ReadPublish(ref Cursor c, byte first)
    {
        var packet = new MqttPublishPacket
        {
            QoS = (MqttQoS)((first >> 1) & 3),
            Dup = (first & 0x08) != 0,
            Retain = (first & 0x01) != 0,
        };
        long topicAt = c.Offset;
        packet.Topic = ReadTopicName(ref c, "topic name", allowEmpty: V5);
        if (packet.QoS != MqttQoS.AtMostOnce)
            packet.PacketId = ReadPacketId(ref c);
        if (V5)
        {
            var props = ReadProperties(ref c, MqttPropertyContext.Publish);
            packet.Properties = props;
            if (packet.Topic.Length == 0 && props?.TopicAlias is null)
                MqttThrow.Protocol("topic name is empty and there is no topic alias", topicAt);
        }
        var payload = c.Rest();
        CheckPayloadFormat(packet.Properties, payload, c.Offset);
        packet.Payload = payload.ToArray();
        c.Skip(payload.Length);
        return packet;
    }

    private T ReadPublishAck<T>(ref Cursor c, T packet) where T : MqttPublishAckPacket
    {
        packet.PacketId = ReadPacketId(ref c);
        if (!V5 || c.Remaining == 0)
            return packet;
        packet.ReasonCode = ReadReasonCode(ref c, packet.Type);
        if (c.Remaining > 0)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.PublishAck);
        return packet;
    }

    private MqttSubscribePacket ReadSubscribe(ref Cursor c)
    {
        var packet = new MqttSubscribePacket { PacketId = ReadPacketId(ref c) };
        if (V5)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.Subscribe);
        if (c.Remaining == 0)
            MqttThrow.Protocol("SUBSCRIBE has no topic filter", c.Offset);
        while (c.Remaining > 0)
        {
            if (packet.Subscriptions.Count == _limits.MaxSubscriptionsPerPacket)
                MqttThrow.Limit(MqttReasonCode.QuotaExceeded, nameof(MqttLimits.MaxSubscriptionsPerPacket),
                    packet.Subscriptions.Count + 1, _limits.MaxSubscriptionsPerPacket, "topic filter count", c.Offset);
            long at = c.Offset;
            string filter = ReadTopicFilter(ref c, out bool shared);
            long optionsAt = c.Offset;
            byte options = c.Byte("subscription options");
            int qos = options & 3;
            if (qos == 3)
                MqttThrow.Malformed("subscription maximum QoS is 3", optionsAt);
            var s = new MqttSubscription { TopicFilter = filter, MaximumQoS = (MqttQoS)qos };
            if (V5)
            {
                if ((options & 0xC0) != 0)
                    MqttThrow.Malformed("subscription options reserved bits are set", optionsAt);
                int retainHandling = (options >> 4) & 3;
                if (retainHandling == 3)
                    MqttThrow.Protocol("retain handling is 3", optionsAt);
                s.NoLocal = (options & 0x04) != 0;
                s.RetainAsPublished = (options & 0x08) != 0;
                s.RetainHandling = (MqttRetainHandling)retainHandling;
                if (s.NoLocal && shared)
                    MqttThrow.Protocol($"no local is set on shared subscription \"{filter}\"", at);
            }
            else if ((options & 0xFC) != 0)
            {
                MqttThrow.Malformed("requested QoS byte reserved bits are set", optionsAt);
            }
            packet.Subscriptions.Add(s);
        }
        return packet;
    }

    private MqttSubAckPacket ReadSubAck(ref Cursor c)
    {
        var packet = new MqttSubAckPacket { PacketId = ReadPacketId(ref c) };
        if (V5)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.SubAck);
        if (c.Remaining == 0)
            MqttThrow.Malformed("SUBACK has no reason code", c.Offset);
        while (c.Remaining > 0)
        {
            if (V5)
            {
                packet.ReasonCodes.Add(ReadReasonCode(ref c, MqttPacketType.SubAck));
                continue;
            }
            long at = c.Offset;
            var code = (MqttReasonCode)c.Byte("return code");
            if (!MqttReasonCodes.IsValidV311SubAck(code))
                MqttThrow.Malformed($"0x{(byte)code:X2} is not a SUBACK return code", at);
            packet.ReasonCodes.Add(code);
        }
        return packet;
    }

    private MqttUnsubscribePacket ReadUnsubscribe(ref Cursor c)
    {
        var packet = new MqttUnsubscribePacket { PacketId = ReadPacketId(ref c) };
        if (V5)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.Unsubscribe);
        if (c.Remaining == 0)
            MqttThrow.Protocol("UNSUBSCRIBE has no topic filter", c.Offset);
        while (c.Remaining > 0)
        {
            if (packet.TopicFilters.Count == _limits.MaxSubscriptionsPerPacket)
                MqttThrow.Limit(MqttReasonCode.QuotaExceeded, nameof(MqttLimits.MaxSubscriptionsPerPacket),
                    packet.TopicFilters.Count + 1, _limits.MaxSubscriptionsPerPacket, "topic filter count", c.Offset);
            packet.TopicFilters.Add(ReadTopicFilter(ref c, out _));
        }
        return packet;
    }

    private MqttUnsubAckPacket ReadUnsubAck(ref Cursor c)
    {
        var packet = new MqttUnsubAckPacket { PacketId = ReadPacketId(ref c) };
        if (!V5)
            return packet;
        packet.Properties = ReadProperties(ref c, MqttPropertyContext.UnsubAck);
        if (c.Remaining == 0)
            MqttThrow.Malformed("UNSUBACK has no reason code", c.Offset);
        while (c.Remaining > 0)
            packet.ReasonCodes.Add(ReadReasonCode(ref c, MqttPacketType.UnsubAck));
        return packet;
    }

    private static T ReadEmpty<T>(ref Cursor c, T packet) where T : MqttPacket
    {
        if (c.Remaining != 0)
            MqttThrow.Malformed($"{packet.Type} must have remaining length 0, has {c.Remaining}", 1);
        return packet;
    }

    private MqttDisconnectPacket ReadDisconnect(ref Cursor c)
    {
        var packet = new MqttDisconnectPacket();
        if (!V5 || c.Remaining == 0)
            return packet;
        packet.ReasonCode = ReadReasonCode(ref c, MqttPacketType.Disconnect);
        if (c.Remaining > 0)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.Disconnect);
        return packet;
    }

    private MqttAuthPacket ReadAuth(ref Cursor c)
    {
        var packet = new MqttAuthPacket();
        if (c.Remaining == 0)
            return packet;
        packet.ReasonCode = ReadReasonCode(ref c, MqttPacketType.Auth);
        if (c.Remaining > 0)
            packet.Properties = ReadProperties(ref c, MqttPropertyContext.Auth);
        return packet;
    }

    private static ushort ReadPacketId(ref Cursor c)
    {
        long at = c.Offset;
        ushort id = c.UInt16("packet identifier");
        if (id == 0)
            MqttThrow.Protocol("packet identifier is 0", at);
        return id;
    }

    private static MqttReasonCode ReadReasonCode(ref Cursor c, MqttPacketType type)
    {
        long at = c.Offset;
        var code = (MqttReasonCode)c.Byte("reason code");
        if (!MqttReasonCodes.IsValidFor(type, code))
            MqttThrow.Malformed($"0x{(byte)code:X2} is not a {type} reason code", at);
        return code;
    }

    private string ReadTopicName(ref Cursor c, string field, bool allowEmpty)
    {
        long at = c.Offset;
        var bytes = c.Utf8(field);
        if (bytes.Length > _limits.MaxTopicLength)
            MqttThrow.Limit(MqttReasonCode.TopicNameInvalid, nameof(MqttLimits.MaxTopicLength), bytes.Length,
                _limits.MaxTopicLength, $"{field} length", at);
        if (bytes.Length == 0)
        {
            if (!allowEmpty)
                MqttThrow.Code(MqttReasonCode.TopicNameInvalid, $"{field} is empty", at);
            return "";
        }
        if (bytes.IndexOfAny((byte)'+', (byte)'#') >= 0)
            MqttThrow.Code(MqttReasonCode.TopicNameInvalid, $"{field} contains a wildcard", at);
        return Encoding.UTF8.GetString(bytes);
    }

    private string ReadTopicFilter(ref Cursor c, out bool shared)
    {
        long at = c.Offset;
        var bytes = c.Utf8("topic filter");
        if (bytes.Length > _limits.MaxTopicLength)
            MqttThrow.Limit(MqttReasonCode.TopicFilterInvalid, nameof(MqttLimits.MaxTopicLength), bytes.Length,
                _limits.MaxTopicLength, "topic filter length", at);
        string filter = Encoding.UTF8.GetString(bytes);
        shared = V5 && TopicFilter.IsShared(filter);
        bool valid = shared ? TopicFilter.TryParseShared(filter, out _, out _) : TopicFilter.IsValidFilter(filter);
        if (!valid)
            MqttThrow.Code(MqttReasonCode.TopicFilterInvalid, $"topic filter \"{filter}\" is invalid", at);
        return filter;
    }

    private void CheckPayloadFormat(MqttProperties? props, ReadOnlySpan<byte> payload, long at)
    {
        if (_limits.ValidateUtf8Payloads && props?.PayloadFormatIndicator == 1 && !System.Text.Unicode.Utf8.IsValid(payload))
            MqttThrow.Code(MqttReasonCode.PayloadFormatInvalid, "payload format indicator is 1 but the payload is not UTF-8", at);
    }

    private MqttProperties? ReadProperties(ref Cursor outer, MqttPropertyContext context)
    {
        long lengthAt = outer.Offset;
        int length = outer.Vbi("property length");
        if (length > outer.Remaining)
            MqttThrow.Malformed($"property length {length} exceeds the {outer.Remaining} bytes left", lengthAt);
        if (length == 0)
            return null;
        var c = outer.Sub(length);
        outer.Skip(length);
        var p = new MqttProperties();
        ulong allowed = MqttPropertyRules.AllowedMask(context);
        ulong seen = 0;
        int count = 0, users = 0;
        while (c.Remaining > 0)
        {
            long at = c.Offset;
            int id = c.Vbi("property identifier");
            if (++count > _limits.MaxPropertyCount)
                MqttThrow.Limit(MqttReasonCode.QuotaExceeded, nameof(MqttLimits.MaxPropertyCount), count,
                    _limits.MaxPropertyCount, "property count", at);
            if (id >= 64 || (allowed & (1UL << id)) == 0)
                MqttThrow.Malformed($"property 0x{id:X2} is not allowed in {context}", at);
            var pid = (MqttPropertyId)id;
            ulong bit = 1UL << id;
            bool repeatable = pid == MqttPropertyId.UserProperty
                || (pid == MqttPropertyId.SubscriptionIdentifier && context == MqttPropertyContext.Publish);
            if ((seen & bit) != 0 && !repeatable)
                MqttThrow.Protocol($"property {pid} appears more than once", at);
            seen |= bit;
            switch (pid)
            {
                case MqttPropertyId.PayloadFormatIndicator: p.PayloadFormatIndicator = Flag(ref c, pid); break;
                case MqttPropertyId.MessageExpiryInterval: p.MessageExpiryInterval = c.UInt32("message expiry interval"); break;
                case MqttPropertyId.ContentType: p.ContentType = c.String("content type"); break;
                case MqttPropertyId.ResponseTopic:
                    p.ResponseTopic = ReadTopicName(ref c, "response topic", allowEmpty: false);
                    break;
                case MqttPropertyId.CorrelationData: p.CorrelationData = c.Binary("correlation data").ToArray(); break;
                case MqttPropertyId.SubscriptionIdentifier:
                    int sid = c.Vbi("subscription identifier");
                    if (sid == 0)
                        MqttThrow.Protocol("subscription identifier is 0", at);
                    (p.SubscriptionIdentifiers ??= []).Add((uint)sid);
                    break;
                case MqttPropertyId.SessionExpiryInterval: p.SessionExpiryInterval = c.UInt32("session expiry interval"); break;
                case MqttPropertyId.AssignedClientIdentifier: p.AssignedClientIdentifier = c.String("assigned client identifier"); break;
                case MqttPropertyId.ServerKeepAlive: p.ServerKeepAlive = c.UInt16("server keep alive"); break;
                case MqttPropertyId.AuthenticationMethod: p.AuthenticationMethod = c.String("authentication method"); break;
                case MqttPropertyId.AuthenticationData: p.AuthenticationData = c.Binary("authentication data").ToArray(); break;
                case MqttPropertyId.RequestProblemInformation: p.RequestProblemInformation = Flag(ref c, pid); break;
                case MqttPropertyId.WillDelayInterval: p.WillDelayInterval = c.UInt32("will delay interval"); break;
                case MqttPropertyId.RequestResponseInformation: p.RequestResponseInformation = Flag(ref c, pid); break;
                case MqttPropertyId.ResponseInformation: p.ResponseInformation = c.String("response information"); break;
                case MqttPropertyId.ServerReference: p.ServerReference = c.String("server reference"); break;
                case MqttPropertyId.ReasonString: p.ReasonString = c.String("reason string"); break;
                case MqttPropertyId.ReceiveMaximum: p.ReceiveMaximum = NonZero16(ref c, pid); break;
                case MqttPropertyId.TopicAliasMaximum: p.TopicAliasMaximum = c.UInt16("topic alias maximum"); break;
                case MqttPropertyId.TopicAlias:
                    ushort alias = c.UInt16("topic alias");
                    if (alias == 0)
                        MqttThrow.Code(MqttReasonCode.TopicAliasInvalid, "topic alias is 0", at);
                    p.TopicAlias = alias;
                    break;
                case MqttPropertyId.MaximumQoS: p.MaximumQoS = Flag(ref c, pid); break;
                case MqttPropertyId.RetainAvailable: p.RetainAvailable = Flag(ref c, pid); break;
                case MqttPropertyId.UserProperty:
                    if (++users > _limits.MaxUserProperties)
                        MqttThrow.Limit(MqttReasonCode.QuotaExceeded, nameof(MqttLimits.MaxUserProperties), users,
                            _limits.MaxUserProperties, "user property count", at);
                    string key = c.String("user property name");
                    (p.UserProperties ??= []).Add(new MqttUserProperty(key, c.String("user property value")));
                    break;
                case MqttPropertyId.MaximumPacketSize:
                    uint max = c.UInt32("maximum packet size");
                    if (max == 0)
                        MqttThrow.Protocol("maximum packet size is 0", at);
                    p.MaximumPacketSize = max;
                    break;
                case MqttPropertyId.WildcardSubscriptionAvailable: p.WildcardSubscriptionAvailable = Flag(ref c, pid); break;
                case MqttPropertyId.SubscriptionIdentifierAvailable: p.SubscriptionIdentifierAvailable = Flag(ref c, pid); break;
                case MqttPropertyId.SharedSubscriptionAvailable: p.SharedSubscriptionAvailable = Flag(ref c, pid); break;
                default:
                    MqttThrow.Malformed($"property 0x{id:X2} is unknown", at);
                    break;
            }
        }
        return p;

        static byte Flag(ref Cursor c, MqttPropertyId pid)
        {
            long at = c.Offset;
            byte b = c.Byte(pid.ToString());
            if (b > 1)
                MqttThrow.Protocol($"{pid} is {b}, must be 0 or 1", at);
            return b;
        }

        static ushort NonZero16(ref Cursor c, MqttPropertyId pid)
        {
            long at = c.Offset;
            ushort v = c.UInt16(pid.ToString());
            if (v == 0)
                MqttThrow.Protocol($"{pid} is 0", at);
            return v;
        }
    }

    /// <summary>Bounds-checked reads over one packet body; offsets are reported from the packet's first byte.</summary>
    private ref struct Cursor
    {
        private readonly ReadOnlySpan<byte> _span;
        private readonly int _base;
        private int _pos;

        public Cursor(ReadOnlySpan<byte> span, int baseOffset)
        {
            _span = span;
            _base = baseOffset;
        }

        public readonly int Remaining => _span.Length - _pos;

        public readonly long Offset => _base + _pos;

        public readonly Cursor Sub(int length) => new(_span.Slice(_pos, length), _base + _pos);

        public readonly ReadOnlySpan<byte> Rest() => _span[_pos..];

        public void Skip(int n) => _pos += n;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public byte Byte(string field)
        {
            if (_pos >= _span.Length)
                Truncated(field, 1);
            return _span[_pos++];
        }

        public ushort UInt16(string field)
        {
            if (Remaining < 2)
                Truncated(field, 2);
            ushort v = BinaryPrimitives.ReadUInt16BigEndian(_span[_pos..]);
            _pos += 2;
            return v;
        }

        public uint UInt32(string field)
        {
            if (Remaining < 4)
                Truncated(field, 4);
            uint v = BinaryPrimitives.ReadUInt32BigEndian(_span[_pos..]);
            _pos += 4;
            return v;
        }

        public int Vbi(string field)
        {
            long at = Offset;
            int value = 0;
            for (int i = 0; i < 4; i++)
            {
                byte b = Byte(field);
                value |= (b & 0x7F) << (7 * i);
                if ((b & 0x80) == 0)
                {
                    if (b == 0 && i > 0)
                        MqttThrow.Malformed($"{field} is not encoded in the minimum number of bytes", at);
                    return value;
                }
            }
            MqttThrow.Malformed($"{field} has more than 4 bytes", at);
            return 0;
        }

        public ReadOnlySpan<byte> Binary(string field)
        {
            int length = UInt16(field);
            if (length > Remaining)
                MqttThrow.Malformed($"{field} length {length} exceeds the {Remaining} bytes left", Offset - 2);
            var s = _span.Slice(_pos, length);
            _pos += length;
            return s;
        }

        /// <summary>A UTF-8 string: well-formed, no surrogates (IsValid rejects them), no U+0000.</summary>
        public ReadOnlySpan<byte> Utf8(string field)
        {
            long at = Offset;
            var s = Binary(field);
            if (!System.Text.Unicode.Utf8.IsValid(s))
                MqttThrow.Malformed($"{field} is not well-formed UTF-8", at);
            if (s.IndexOf((byte)0) >= 0)
                MqttThrow.Malformed($"{field} contains U+0000", at);
            return s;
        }

        public string String(string field) => Encoding.UTF8.GetString(Utf8(field));

        [DoesNotReturn]
        [MethodImpl(MethodImplOptions.NoInlining)]
        private readonly void Truncated(string field, int needed) =>
            MqttThrow.Malformed($"{field} needs {needed} bytes, {Remaining} left in the packet", Offset);
    }
}
