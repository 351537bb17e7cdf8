using System.Buffers;
using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

/// <summary>Seeded random valid packets for both protocol levels, and helpers shared by the tests.</summary>
internal sealed class PacketGenerator(int seed)
{
    private static readonly string[] Words = ["a", "line1", "cnc-01", "温度", "spindle_speed", "$SYS", "x y", "é", "🙂", "sensor"];
    private readonly Random _r = new(seed);

    public static MqttReasonCode[] CodesFor(MqttPacketType type) =>
        Enumerable.Range(0, 256).Select(i => (MqttReasonCode)i).Where(c => MqttReasonCodes.IsValidFor(type, c)).ToArray();

    public static byte[] Encode(MqttPacket packet, MqttProtocolVersion version) =>
        new MqttPacketWriter(version).ToArray(packet);

    public static MqttPacket Decode(byte[] bytes, MqttProtocolVersion version, MqttLimits? limits = null)
    {
        var reader = new MqttPacketReader(version, limits);
        Assert.True(reader.TryRead(bytes, out var packet, out int consumed), "reader asked for more data");
        Assert.Equal(bytes.Length, consumed);
        return packet;
    }

    public MqttPacket Next(MqttProtocolVersion v)
    {
        bool v5 = v == MqttProtocolVersion.V500;
        int kind = _r.Next(v5 ? 15 : 14) + 1;
        return (MqttPacketType)kind switch
        {
            MqttPacketType.Connect => Connect(v),
            MqttPacketType.ConnAck => ConnAck(v5),
            MqttPacketType.Publish => Publish(v5),
            MqttPacketType.PubAck => Ack(new MqttPubAckPacket(), v5),
            MqttPacketType.PubRec => Ack(new MqttPubRecPacket(), v5),
            MqttPacketType.PubRel => Ack(new MqttPubRelPacket(), v5),
            MqttPacketType.PubComp => Ack(new MqttPubCompPacket(), v5),
            MqttPacketType.Subscribe => Subscribe(v5),
            MqttPacketType.SubAck => SubAck(v5),
            MqttPacketType.Unsubscribe => Unsubscribe(v5),
            MqttPacketType.UnsubAck => UnsubAck(v5),
            MqttPacketType.PingReq => new MqttPingReqPacket(),
            MqttPacketType.PingResp => new MqttPingRespPacket(),
            MqttPacketType.Disconnect => v5
                ? new MqttDisconnectPacket { ReasonCode = Pick(CodesFor(MqttPacketType.Disconnect)), Properties = Props(MqttPropertyContext.Disconnect) }
                : new MqttDisconnectPacket(),
            _ => new MqttAuthPacket { ReasonCode = Pick(CodesFor(MqttPacketType.Auth)), Properties = Props(MqttPropertyContext.Auth) },
        };
    }

    public MqttConnectPacket Connect(MqttProtocolVersion v)
    {
        bool v5 = v == MqttProtocolVersion.V500;
        var p = new MqttConnectPacket
        {
            ProtocolVersion = v,
            ClientId = Coin() ? "" : Str(),
            CleanStart = Coin(),
            KeepAliveSeconds = (ushort)_r.Next(65536),
            UserName = Coin() ? Str() : null,
            Properties = v5 ? Props(MqttPropertyContext.Connect) : null,
        };
        if (!v5 && p.ClientId.Length == 0)
            p.CleanStart = true;
        if (Coin() && (v5 || p.UserName is not null))
            p.Password = Bytes(20);
        if (Coin())
            p.Will = new MqttWill
            {
                Topic = Topic(),
                Payload = Bytes(40),
                QoS = (MqttQoS)_r.Next(3),
                Retain = Coin(),
                Properties = v5 ? Props(MqttPropertyContext.Will) : null,
            };
        return p;
    }

    private MqttConnAckPacket ConnAck(bool v5)
    {
        var code = v5 ? Pick(CodesFor(MqttPacketType.ConnAck))
            : Pick(new[] { MqttReasonCode.Success, MqttReasonCode.UnsupportedProtocolVersion, MqttReasonCode.ClientIdentifierNotValid,
                MqttReasonCode.ServerUnavailable, MqttReasonCode.BadUserNameOrPassword, MqttReasonCode.NotAuthorized });
        return new MqttConnAckPacket
        {
            ReasonCode = code,
            SessionPresent = code == MqttReasonCode.Success && Coin(),
            Properties = v5 ? Props(MqttPropertyContext.ConnAck) : null,
        };
    }

    public MqttPublishPacket Publish(bool v5)
    {
        var qos = (MqttQoS)_r.Next(3);
        var p = new MqttPublishPacket
        {
            Topic = Topic(),
            QoS = qos,
            Dup = qos != MqttQoS.AtMostOnce && Coin(),
            Retain = Coin(),
            PacketId = qos == MqttQoS.AtMostOnce ? (ushort)0 : (ushort)_r.Next(1, 65536),
            Payload = Bytes(200),
            Properties = v5 ? Props(MqttPropertyContext.Publish) : null,
        };
        if (v5 && p.Properties?.TopicAlias is not null && Coin())
            p.Topic = "";
        return p;
    }

    private T Ack<T>(T p, bool v5) where T : MqttPublishAckPacket
    {
        p.PacketId = (ushort)_r.Next(1, 65536);
        if (v5)
        {
            p.ReasonCode = Pick(CodesFor(p.Type));
            p.Properties = Props(MqttPropertyContext.PublishAck);
        }
        return p;
    }

    private MqttSubscribePacket Subscribe(bool v5)
    {
        var p = new MqttSubscribePacket { PacketId = (ushort)_r.Next(1, 65536), Properties = v5 ? Props(MqttPropertyContext.Subscribe) : null };
        int n = _r.Next(1, 5);
        for (int i = 0; i < n; i++)
        {
            bool shared = v5 && _r.Next(4) == 0;
            p.Subscriptions.Add(new MqttSubscription
            {
                TopicFilter = shared ? $"$share/g{_r.Next(9)}/{Filter()}" : Filter(),
                MaximumQoS = (MqttQoS)_r.Next(3),
                NoLocal = v5 && !shared && Coin(),
                RetainAsPublished = v5 && Coin(),
                RetainHandling = v5 ? (MqttRetainHandling)_r.Next(3) : 0,
            });
        }
        return p;
    }

    private MqttSubAckPacket SubAck(bool v5)
    {
        var p = new MqttSubAckPacket { PacketId = (ushort)_r.Next(1, 65536), Properties = v5 ? Props(MqttPropertyContext.SubAck) : null };
        var codes = v5 ? CodesFor(MqttPacketType.SubAck)
            : [MqttReasonCode.Success, MqttReasonCode.GrantedQoS1, MqttReasonCode.GrantedQoS2, MqttReasonCode.UnspecifiedError];
        int n = _r.Next(1, 6);
        for (int i = 0; i < n; i++)
            p.ReasonCodes.Add(Pick(codes));
        return p;
    }

    private MqttUnsubscribePacket Unsubscribe(bool v5)
    {
        var p = new MqttUnsubscribePacket { PacketId = (ushort)_r.Next(1, 65536), Properties = v5 ? Props(MqttPropertyContext.Unsubscribe) : null };
        int n = _r.Next(1, 4);
        for (int i = 0; i < n; i++)
            p.TopicFilters.Add(Filter());
        return p;
    }

    private MqttUnsubAckPacket UnsubAck(bool v5)
    {
        var p = new MqttUnsubAckPacket { PacketId = (ushort)_r.Next(1, 65536) };
        if (v5)
        {
            p.Properties = Props(MqttPropertyContext.UnsubAck);
            int n = _r.Next(1, 4);
            for (int i = 0; i < n; i++)
                p.ReasonCodes.Add(Pick(CodesFor(MqttPacketType.UnsubAck)));
        }
        return p;
    }

    /// <summary>Random valid properties for <paramref name="ctx"/>; with <paramref name="all"/> every allowed one is set.</summary>
    public MqttProperties? Props(MqttPropertyContext ctx, bool all = false)
    {
        if (!all && _r.Next(4) == 0)
            return null;
        var p = new MqttProperties();
        bool Want(MqttPropertyId id) => MqttPropertyRules.IsAllowed(id, ctx) && (all || _r.Next(3) == 0);
        if (Want(MqttPropertyId.PayloadFormatIndicator)) p.PayloadFormatIndicator = (byte)_r.Next(2);
        if (Want(MqttPropertyId.MessageExpiryInterval)) p.MessageExpiryInterval = (uint)_r.NextInt64(uint.MaxValue);
        if (Want(MqttPropertyId.ContentType)) p.ContentType = Str();
        if (Want(MqttPropertyId.ResponseTopic)) p.ResponseTopic = Topic();
        if (Want(MqttPropertyId.CorrelationData)) p.CorrelationData = Bytes(16);
        if (Want(MqttPropertyId.SubscriptionIdentifier))
        {
            p.SubscriptionIdentifiers = [(uint)_r.Next(1, 268_435_456)];
            if (ctx == MqttPropertyContext.Publish && Coin())
                p.SubscriptionIdentifiers.Add((uint)_r.Next(1, 200));
        }
        if (Want(MqttPropertyId.SessionExpiryInterval)) p.SessionExpiryInterval = (uint)_r.NextInt64(uint.MaxValue);
        if (Want(MqttPropertyId.AssignedClientIdentifier)) p.AssignedClientIdentifier = Str();
        if (Want(MqttPropertyId.ServerKeepAlive)) p.ServerKeepAlive = (ushort)_r.Next(65536);
        if (Want(MqttPropertyId.AuthenticationMethod)) p.AuthenticationMethod = "SCRAM-SHA-1";
        if (Want(MqttPropertyId.AuthenticationData) && p.AuthenticationMethod is not null) p.AuthenticationData = Bytes(32);
        if (Want(MqttPropertyId.RequestProblemInformation)) p.RequestProblemInformation = (byte)_r.Next(2);
        if (Want(MqttPropertyId.WillDelayInterval)) p.WillDelayInterval = (uint)_r.NextInt64(uint.MaxValue);
        if (Want(MqttPropertyId.RequestResponseInformation)) p.RequestResponseInformation = (byte)_r.Next(2);
        if (Want(MqttPropertyId.ResponseInformation)) p.ResponseInformation = Str();
        if (Want(MqttPropertyId.ServerReference)) p.ServerReference = Str();
        if (Want(MqttPropertyId.ReasonString)) p.ReasonString = Str();
        if (Want(MqttPropertyId.ReceiveMaximum)) p.ReceiveMaximum = (ushort)_r.Next(1, 65536);
        if (Want(MqttPropertyId.TopicAliasMaximum)) p.TopicAliasMaximum = (ushort)_r.Next(65536);
        if (Want(MqttPropertyId.TopicAlias)) p.TopicAlias = (ushort)_r.Next(1, 65536);
        if (Want(MqttPropertyId.MaximumQoS)) p.MaximumQoS = (byte)_r.Next(2);
        if (Want(MqttPropertyId.RetainAvailable)) p.RetainAvailable = (byte)_r.Next(2);
        if (Want(MqttPropertyId.UserProperty))
        {
            p.UserProperties = [];
            int n = _r.Next(1, 4);
            for (int i = 0; i < n; i++)
                p.UserProperties.Add(new MqttUserProperty(Str(), Coin() ? Str() : ""));
        }
        if (Want(MqttPropertyId.MaximumPacketSize)) p.MaximumPacketSize = (uint)_r.NextInt64(1, uint.MaxValue);
        if (Want(MqttPropertyId.WildcardSubscriptionAvailable)) p.WildcardSubscriptionAvailable = (byte)_r.Next(2);
        if (Want(MqttPropertyId.SubscriptionIdentifierAvailable)) p.SubscriptionIdentifierAvailable = (byte)_r.Next(2);
        if (Want(MqttPropertyId.SharedSubscriptionAvailable)) p.SharedSubscriptionAvailable = (byte)_r.Next(2);
        return p;
    }

    private bool Coin() => _r.Next(2) == 0;

    private T Pick<T>(T[] items) => items[_r.Next(items.Length)];

    private byte[] Bytes(int max)
    {
        var b = new byte[_r.Next(max + 1)];
        _r.NextBytes(b);
        return b;
    }

    private string Str() => string.Join("", Enumerable.Range(0, _r.Next(1, 4)).Select(_ => Pick(Words)));

    private string Topic() => string.Join("/", Enumerable.Range(0, _r.Next(1, 5)).Select(_ => Pick(Words)));

    private string Filter()
    {
        var levels = Enumerable.Range(0, _r.Next(1, 5)).Select(_ => _r.Next(5) == 0 ? "+" : Pick(Words)).ToList();
        if (_r.Next(4) == 0)
            levels.Add("#");
        return string.Join("/", levels);
    }
}

/// <summary>A ReadOnlySequence split into segments at the given lengths, as a Pipe would hand it over.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        if (cuts.Length == 0)
            return new ReadOnlySequence<byte>(data);
        int start = 0;
        Segment? first = null, last = null;
        foreach (int cut in cuts.Append(data.Length))
        {
            int end = Math.Clamp(cut, start, data.Length);
            var s = new Segment(data.AsMemory(start, end - start), start);
            if (last is null)
                first = s;
            else
                last.Next = s;
            last = s;
            start = end;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }
}
