using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Zhizao.Mqtt;

/// <summary>
/// Encodes packets into an <see cref="IBufferWriter{T}"/>: measures the body, writes the fixed header and the body in
/// one span. Invalid packets from the caller (a property not allowed in the packet, a string over 65,535 bytes,
/// a zero packet identifier) raise <see cref="ArgumentException"/>; a packet over <see cref="MaximumPacketSize"/>
/// first loses its Reason String and then its User Properties where the spec allows (acknowledgements, DISCONNECT,
/// AUTH), otherwise raises <see cref="MqttProtocolException"/> with PacketTooLarge.
/// </summary>
public sealed class MqttPacketWriter
{
    private const int MaxRemainingLength = 268_435_455;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public MqttPacketWriter(MqttProtocolVersion version = MqttProtocolVersion.V500) => ProtocolVersion = version;

    /// <summary>Level used for every packet but CONNECT, which carries its own.</summary>
    public MqttProtocolVersion ProtocolVersion { get; set; }

    /// <summary>The largest packet the peer accepts (its Maximum Packet Size property); protocol maximum by default.</summary>
    public long MaximumPacketSize { get; set; } = MaxRemainingLength + 5;

    public int Write(MqttPacket packet, IBufferWriter<byte> output)
    {
        var version = packet is MqttConnectPacket connect ? connect.ProtocolVersion : ProtocolVersion;
        if (version is not (MqttProtocolVersion.V311 or MqttProtocolVersion.V500))
            throw new ArgumentException($"protocol version {version} cannot be written", nameof(packet));
        var omit = Omit.None;
        int remaining = Measure(packet, version, omit);
        int total = 1 + VbiSize((uint)remaining) + remaining;
        if (total > MaximumPacketSize)
            (omit, remaining, total) = Shrink(packet, version, total);
        Span<byte> dest = output.GetSpan(total);
        dest[0] = FirstByte(packet);
        var e = new Emitter(dest[1..total], write: true);
        e.Vbi((uint)remaining);
        Body(ref e, packet, version, omit);
        output.Advance(total);
        return total;
    }

    public byte[] ToArray(MqttPacket packet)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Write(packet, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static int Measure(MqttPacket packet, MqttProtocolVersion version, Omit omit)
    {
        var m = new Emitter(default, write: false);
        Body(ref m, packet, version, omit);
        if (m.Length > MaxRemainingLength)
            throw new ArgumentException($"{packet.Type} body is {m.Length} bytes, above the protocol maximum", nameof(packet));
        return m.Length;
    }

    private (Omit, int, int) Shrink(MqttPacket packet, MqttProtocolVersion version, int total)
    {
        bool droppable = version == MqttProtocolVersion.V500 && packet.Type is not (MqttPacketType.Connect
            or MqttPacketType.Publish or MqttPacketType.Subscribe or MqttPacketType.Unsubscribe);
        if (droppable)
        {
            foreach (var omit in (ReadOnlySpan<Omit>)[Omit.ReasonString, Omit.ReasonString | Omit.UserProperties])
            {
                int remaining = Measure(packet, version, omit);
                int t = 1 + VbiSize((uint)remaining) + remaining;
                if (t <= MaximumPacketSize)
                    return (omit, remaining, t);
            }
        }
        throw new MqttProtocolException(MqttReasonCode.PacketTooLarge,
            $"{packet.Type} is {total} bytes, above the peer's maximum packet size {MaximumPacketSize}", -1, nameof(MaximumPacketSize));
    }

    private static byte FirstByte(MqttPacket packet)
    {
        int flags = packet switch
        {
            MqttPublishPacket p => (p.Dup ? 0x08 : 0) | ((int)p.QoS << 1) | (p.Retain ? 1 : 0),
            MqttPubRelPacket or MqttSubscribePacket or MqttUnsubscribePacket => 0x02,
            _ => 0,
        };
        return (byte)(((int)packet.Type << 4) | flags);
    }

    private static void Body(ref Emitter e, MqttPacket packet, MqttProtocolVersion version, Omit omit)
    {
        bool v5 = version == MqttProtocolVersion.V500;
        if (!v5 && packet.Properties is not null && packet.Properties.PresentMask() != 0)
            throw new ArgumentException($"{packet.Type} has properties, which MQTT 3.1.1 does not have", nameof(packet));
        switch (packet)
        {
            case MqttConnectPacket p:
                WriteConnect(ref e, p, v5);
                break;
            case MqttConnAckPacket p:
                if (p.SessionPresent && p.ReasonCode != MqttReasonCode.Success)
                    throw new ArgumentException("session present must be 0 with a failure reason code", nameof(packet));
                e.Byte(p.SessionPresent ? (byte)1 : (byte)0);
                if (v5)
                {
                    e.Byte(CheckCode(p.Type, p.ReasonCode));
                    Properties(ref e, p.Properties, MqttPropertyContext.ConnAck, omit);
                }
                else
                {
                    int rc = MqttReasonCodes.ToV311ConnectReturnCode(p.ReasonCode);
                    if (rc < 0)
                        throw new ArgumentException($"{p.ReasonCode} has no MQTT 3.1.1 CONNACK return code", nameof(packet));
                    e.Byte((byte)rc);
                }
                break;
            case MqttPublishPacket p:
                if (p.QoS > MqttQoS.ExactlyOnce)
                    throw new ArgumentException("QoS must be 0, 1 or 2", nameof(packet));
                if (p.Dup && p.QoS == MqttQoS.AtMostOnce)
                    throw new ArgumentException("DUP must be 0 for QoS 0", nameof(packet));
                if (p.Topic.AsSpan().IndexOfAny('+', '#') >= 0 || (p.Topic.Length == 0 && (!v5 || p.Properties?.TopicAlias is null)))
                    throw new ArgumentException($"\"{p.Topic}\" is not a valid topic name", nameof(packet));
                e.String(p.Topic);
                if (p.QoS != MqttQoS.AtMostOnce)
                    e.UInt16(CheckId(p.PacketId));
                if (v5)
                    Properties(ref e, p.Properties, MqttPropertyContext.Publish, omit);
                e.Raw(p.Payload.Span);
                break;
            case MqttPublishAckPacket p:
                e.UInt16(CheckId(p.PacketId));
                if (v5)
                    CodeAndProperties(ref e, p.Type, p.ReasonCode, p.Properties, MqttPropertyContext.PublishAck, omit);
                else if (p.ReasonCode != MqttReasonCode.Success)
                    throw new ArgumentException($"MQTT 3.1.1 {p.Type} has no reason code", nameof(packet));
                break;
            case MqttSubscribePacket p:
                e.UInt16(CheckId(p.PacketId));
                if (v5)
                    Properties(ref e, p.Properties, MqttPropertyContext.Subscribe, omit);
                if (p.Subscriptions.Count == 0)
                    throw new ArgumentException("SUBSCRIBE needs at least one topic filter", nameof(packet));
                foreach (var s in p.Subscriptions)
                {
                    e.String(s.TopicFilter);
                    if (s.MaximumQoS > MqttQoS.ExactlyOnce || s.RetainHandling > MqttRetainHandling.DoNotSend)
                        throw new ArgumentException("invalid subscription options", nameof(packet));
                    int options = (int)s.MaximumQoS;
                    if (v5)
                        options |= (s.NoLocal ? 0x04 : 0) | (s.RetainAsPublished ? 0x08 : 0) | ((int)s.RetainHandling << 4);
                    e.Byte((byte)options);
                }
                break;
            case MqttSubAckPacket p:
                e.UInt16(CheckId(p.PacketId));
                if (v5)
                    Properties(ref e, p.Properties, MqttPropertyContext.SubAck, omit);
                if (p.ReasonCodes.Count == 0)
                    throw new ArgumentException("SUBACK needs at least one reason code", nameof(packet));
                foreach (var code in p.ReasonCodes)
                {
                    if (!v5 && !MqttReasonCodes.IsValidV311SubAck(code))
                        throw new ArgumentException($"{code} is not an MQTT 3.1.1 SUBACK return code", nameof(packet));
                    e.Byte(v5 ? CheckCode(p.Type, code) : (byte)code);
                }
                break;
            case MqttUnsubscribePacket p:
                e.UInt16(CheckId(p.PacketId));
                if (v5)
                    Properties(ref e, p.Properties, MqttPropertyContext.Unsubscribe, omit);
                if (p.TopicFilters.Count == 0)
                    throw new ArgumentException("UNSUBSCRIBE needs at least one topic filter", nameof(packet));
                foreach (var f in p.TopicFilters)
                    e.String(f);
                break;
            case MqttUnsubAckPacket p:
                e.UInt16(CheckId(p.PacketId));
                if (v5)
                {
                    Properties(ref e, p.Properties, MqttPropertyContext.UnsubAck, omit);
                    if (p.ReasonCodes.Count == 0)
                        throw new ArgumentException("UNSUBACK needs at least one reason code", nameof(packet));
                    foreach (var code in p.ReasonCodes)
                        e.Byte(CheckCode(p.Type, code));
                }
                else if (p.ReasonCodes.Count != 0)
                {
                    throw new ArgumentException("MQTT 3.1.1 UNSUBACK has no reason codes", nameof(packet));
                }
                break;
            case MqttPingReqPacket or MqttPingRespPacket:
                break;
            case MqttDisconnectPacket p:
                if (v5)
                    CodeAndProperties(ref e, p.Type, p.ReasonCode, p.Properties, MqttPropertyContext.Disconnect, omit);
                else if (p.ReasonCode != MqttReasonCode.Success)
                    throw new ArgumentException("MQTT 3.1.1 DISCONNECT has no reason code", nameof(packet));
                break;
            case MqttAuthPacket p:
                if (!v5)
                    throw new ArgumentException("AUTH does not exist in MQTT 3.1.1", nameof(packet));
                CodeAndProperties(ref e, p.Type, p.ReasonCode, p.Properties, MqttPropertyContext.Auth, omit);
                break;
            default:
                throw new ArgumentException($"unknown packet {packet.GetType().Name}", nameof(packet));
        }
    }

    private static void WriteConnect(ref Emitter e, MqttConnectPacket p, bool v5)
    {
        e.String("MQTT");
        e.Byte((byte)p.ProtocolVersion);
        int flags = p.CleanStart ? 0x02 : 0;
        if (p.Will is { } w)
        {
            if (w.QoS > MqttQoS.ExactlyOnce)
                throw new ArgumentException("will QoS must be 0, 1 or 2", nameof(p));
            flags |= 0x04 | ((int)w.QoS << 3) | (w.Retain ? 0x20 : 0);
        }
        if (p.Password is not null)
        {
            if (!v5 && p.UserName is null)
                throw new ArgumentException("MQTT 3.1.1 needs a user name to send a password", nameof(p));
            flags |= 0x40;
        }
        if (p.UserName is not null)
            flags |= 0x80;
        e.Byte((byte)flags);
        e.UInt16(p.KeepAliveSeconds);
        if (v5)
            Properties(ref e, p.Properties, MqttPropertyContext.Connect, Omit.None);
        e.String(p.ClientId);
        if (p.Will is { } will)
        {
            if (v5)
                Properties(ref e, will.Properties, MqttPropertyContext.Will, Omit.None);
            else if (will.Properties is not null && will.Properties.PresentMask() != 0)
                throw new ArgumentException("MQTT 3.1.1 wills have no properties", nameof(p));
            if (!TopicFilter.IsValidTopicName(will.Topic))
                throw new ArgumentException($"\"{will.Topic}\" is not a valid will topic", nameof(p));
            e.String(will.Topic);
            e.Binary(will.Payload.Span);
        }
        if (p.UserName is not null)
            e.String(p.UserName);
        if (p.Password is not null)
            e.Binary(p.Password);
    }

    /// <summary>v5 acknowledgements: reason code and properties are left out when they are Success and empty.</summary>
    private static void CodeAndProperties(ref Emitter e, MqttPacketType type, MqttReasonCode code, MqttProperties? props,
        MqttPropertyContext context, Omit omit)
    {
        bool hasProps = (Present(props, omit)) != 0;
        if (code == MqttReasonCode.Success && !hasProps)
        {
            CheckCode(type, code);
            return;
        }
        e.Byte(CheckCode(type, code));
        if (hasProps)
            Properties(ref e, props, context, omit);
    }

    private static ulong Present(MqttProperties? p, Omit omit)
    {
        if (p is null)
            return 0;
        ulong mask = p.PresentMask();
        if ((omit & Omit.ReasonString) != 0)
            mask &= ~MqttProperties.Bit(MqttPropertyId.ReasonString);
        if ((omit & Omit.UserProperties) != 0)
            mask &= ~MqttProperties.Bit(MqttPropertyId.UserProperty);
        return mask;
    }

    private static void Properties(ref Emitter e, MqttProperties? p, MqttPropertyContext context, Omit omit)
    {
        ulong present = Present(p, omit);
        if (present == 0)
        {
            e.Byte(0);
            return;
        }
        ulong bad = present & ~MqttPropertyRules.AllowedMask(context);
        if (bad != 0)
            throw new ArgumentException(
                $"property {(MqttPropertyId)System.Numerics.BitOperations.TrailingZeroCount(bad)} is not allowed in {context}", nameof(p));
        var m = new Emitter(default, write: false);
        PropertyList(ref m, p!, context, omit);
        e.Vbi((uint)m.Length);
        PropertyList(ref e, p!, context, omit);
    }

    private static void PropertyList(ref Emitter e, MqttProperties p, MqttPropertyContext context, Omit omit)
    {
        if (p.PayloadFormatIndicator is byte pfi) { e.Byte(0x01); e.Byte(pfi); }
        if (p.MessageExpiryInterval is uint mei) { e.Byte(0x02); e.UInt32(mei); }
        if (p.ContentType is { } ct) { e.Byte(0x03); e.String(ct); }
        if (p.ResponseTopic is { } rt) { e.Byte(0x08); e.String(rt); }
        if (p.CorrelationData is { } cd) { e.Byte(0x09); e.Binary(cd); }
        if (p.SubscriptionIdentifiers is { Count: > 0 } ids)
        {
            if (ids.Count > 1 && context != MqttPropertyContext.Publish)
                throw new ArgumentException("only PUBLISH may carry more than one subscription identifier", nameof(p));
            foreach (uint id in ids)
            {
                if (id is 0 or > MaxRemainingLength)
                    throw new ArgumentException($"subscription identifier {id} is outside 1..268,435,455", nameof(p));
                e.Byte(0x0B);
                e.Vbi(id);
            }
        }
        if (p.SessionExpiryInterval is uint sei) { e.Byte(0x11); e.UInt32(sei); }
        if (p.AssignedClientIdentifier is { } aci) { e.Byte(0x12); e.String(aci); }
        if (p.ServerKeepAlive is ushort ska) { e.Byte(0x13); e.UInt16(ska); }
        if (p.AuthenticationMethod is { } am) { e.Byte(0x15); e.String(am); }
        if (p.AuthenticationData is { } ad) { e.Byte(0x16); e.Binary(ad); }
        if (p.RequestProblemInformation is byte rpi) { e.Byte(0x17); e.Byte(rpi); }
        if (p.WillDelayInterval is uint wdi) { e.Byte(0x18); e.UInt32(wdi); }
        if (p.RequestResponseInformation is byte rri) { e.Byte(0x19); e.Byte(rri); }
        if (p.ResponseInformation is { } ri) { e.Byte(0x1A); e.String(ri); }
        if (p.ServerReference is { } sr) { e.Byte(0x1C); e.String(sr); }
        if (p.ReasonString is { } rs && (omit & Omit.ReasonString) == 0) { e.Byte(0x1F); e.String(rs); }
        if (p.ReceiveMaximum is ushort rm) { e.Byte(0x21); e.UInt16(rm); }
        if (p.TopicAliasMaximum is ushort tam) { e.Byte(0x22); e.UInt16(tam); }
        if (p.TopicAlias is ushort ta) { e.Byte(0x23); e.UInt16(ta); }
        if (p.MaximumQoS is byte mq) { e.Byte(0x24); e.Byte(mq); }
        if (p.RetainAvailable is byte ra) { e.Byte(0x25); e.Byte(ra); }
        if (p.UserProperties is { Count: > 0 } ups && (omit & Omit.UserProperties) == 0)
        {
            foreach (var up in ups)
            {
                e.Byte(0x26);
                e.String(up.Name);
                e.String(up.Value);
            }
        }
        if (p.MaximumPacketSize is uint mps) { e.Byte(0x27); e.UInt32(mps); }
        if (p.WildcardSubscriptionAvailable is byte wsa) { e.Byte(0x28); e.Byte(wsa); }
        if (p.SubscriptionIdentifierAvailable is byte sia) { e.Byte(0x29); e.Byte(sia); }
        if (p.SharedSubscriptionAvailable is byte ssa) { e.Byte(0x2A); e.Byte(ssa); }
    }

    private static ushort CheckId(ushort id) =>
        id != 0 ? id : throw new ArgumentException("packet identifier must not be 0", nameof(id));

    private static byte CheckCode(MqttPacketType type, MqttReasonCode code) =>
        MqttReasonCodes.IsValidFor(type, code) ? (byte)code
            : throw new ArgumentException($"{code} is not a {type} reason code", nameof(code));

    internal static int VbiSize(uint v) => v < 128 ? 1 : v < 16_384 ? 2 : v < 2_097_152 ? 3 : 4;

    [Flags]
    private enum Omit
    {
        None = 0,
        ReasonString = 1,
        UserProperties = 2,
    }

    /// <summary>Writes, or only counts when constructed with write: false, so measuring and writing share one code path.</summary>
    private ref struct Emitter
    {
        private readonly Span<byte> _dest;
        private readonly bool _write;

        public Emitter(Span<byte> dest, bool write)
        {
            _dest = dest;
            _write = write;
        }

        public int Length { get; private set; }

        public void Byte(byte b)
        {
            if (_write)
                _dest[Length] = b;
            Length++;
        }

        public void UInt16(ushort v)
        {
            if (_write)
                BinaryPrimitives.WriteUInt16BigEndian(_dest[Length..], v);
            Length += 2;
        }

        public void UInt32(uint v)
        {
            if (_write)
                BinaryPrimitives.WriteUInt32BigEndian(_dest[Length..], v);
            Length += 4;
        }

        public void Vbi(uint v)
        {
            do
            {
                byte b = (byte)(v & 0x7F);
                v >>= 7;
                if (v > 0)
                    b |= 0x80;
                Byte(b);
            }
            while (v > 0);
        }

        public void String(string s)
        {
            int n;
            if (_write)
            {
                n = StrictUtf8.GetBytes(s, _dest[(Length + 2)..]);
            }
            else
            {
                if (s.Contains('\0', StringComparison.Ordinal))
                    throw new ArgumentException("MQTT strings must not contain U+0000", nameof(s));
                try
                {
                    n = StrictUtf8.GetByteCount(s);
                }
                catch (EncoderFallbackException ex)
                {
                    throw new ArgumentException("string is not valid UTF-16 (lone surrogate)", nameof(s), ex);
                }
                if (n > ushort.MaxValue)
                    throw new ArgumentException($"string is {n} UTF-8 bytes, above 65,535", nameof(s));
            }
            UInt16((ushort)n);
            Length += n;
        }

        public void Binary(ReadOnlySpan<byte> data)
        {
            if (data.Length > ushort.MaxValue)
                throw new ArgumentException($"binary data is {data.Length} bytes, above 65,535", nameof(data));
            UInt16((ushort)data.Length);
            Raw(data);
        }

        public void Raw(ReadOnlySpan<byte> data)
        {
            if (_write)
                data.CopyTo(_dest[Length..]);
            Length += data.Length;
        }
    }
}
