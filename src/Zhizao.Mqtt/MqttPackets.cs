namespace Zhizao.Mqtt;

/// <summary>One MQTT control packet. The same model serves protocol levels 4 (3.1.1) and 5; properties are v5 only.</summary>
public abstract class MqttPacket
{
    public abstract MqttPacketType Type { get; }

    /// <summary>MQTT 5 properties; must be null or empty for 3.1.1.</summary>
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttWill
{
    public string Topic { get; set; } = "";
    public ReadOnlyMemory<byte> Payload { get; set; }
    public MqttQoS QoS { get; set; }
    public bool Retain { get; set; }
    /// <summary>Will properties (v5).</summary>
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttConnectPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Connect;
    public MqttProtocolVersion ProtocolVersion { get; set; } = MqttProtocolVersion.V500;
    public string ClientId { get; set; } = "";
    /// <summary>Clean Start (v5) / Clean Session (3.1.1).</summary>
    public bool CleanStart { get; set; }
    public ushort KeepAliveSeconds { get; set; }
    public string? UserName { get; set; }
    public byte[]? Password { get; set; }
    public MqttWill? Will { get; set; }
}

public sealed class MqttConnAckPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.ConnAck;
    public bool SessionPresent { get; set; }
    /// <summary>v5 reason code; for 3.1.1 the return codes 0-5 map to Success, UnsupportedProtocolVersion,
    /// ClientIdentifierNotValid, ServerUnavailable, BadUserNameOrPassword, NotAuthorized.</summary>
    public MqttReasonCode ReasonCode { get; set; }
}

public sealed class MqttPublishPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Publish;
    /// <summary>Topic name; empty only in v5 with a Topic Alias property.</summary>
    public string Topic { get; set; } = "";
    public ReadOnlyMemory<byte> Payload { get; set; }
    public MqttQoS QoS { get; set; }
    public bool Retain { get; set; }
    public bool Dup { get; set; }
    /// <summary>Non-zero for QoS 1 and 2; zero (absent) for QoS 0.</summary>
    public ushort PacketId { get; set; }
}

/// <summary>PUBACK, PUBREC, PUBREL, PUBCOMP: a packet identifier and (v5) a reason code.</summary>
public abstract class MqttPublishAckPacket : MqttPacket
{
    public ushort PacketId { get; set; }
    public MqttReasonCode ReasonCode { get; set; }
}

public sealed class MqttPubAckPacket : MqttPublishAckPacket
{
    public override MqttPacketType Type => MqttPacketType.PubAck;
}

public sealed class MqttPubRecPacket : MqttPublishAckPacket
{
    public override MqttPacketType Type => MqttPacketType.PubRec;
}

public sealed class MqttPubRelPacket : MqttPublishAckPacket
{
    public override MqttPacketType Type => MqttPacketType.PubRel;
}

public sealed class MqttPubCompPacket : MqttPublishAckPacket
{
    public override MqttPacketType Type => MqttPacketType.PubComp;
}

public sealed class MqttSubscription
{
    public string TopicFilter { get; set; } = "";
    public MqttQoS MaximumQoS { get; set; }
    /// <summary>v5 only.</summary>
    public bool NoLocal { get; set; }
    /// <summary>v5 only.</summary>
    public bool RetainAsPublished { get; set; }
    /// <summary>v5 only.</summary>
    public MqttRetainHandling RetainHandling { get; set; }
}

public sealed class MqttSubscribePacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Subscribe;
    public ushort PacketId { get; set; }
    public List<MqttSubscription> Subscriptions { get; set; } = [];
}

public sealed class MqttSubAckPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.SubAck;
    public ushort PacketId { get; set; }
    /// <summary>One per subscription; 3.1.1 allows only GrantedQoS0..2 and UnspecifiedError (0x80).</summary>
    public List<MqttReasonCode> ReasonCodes { get; set; } = [];
}

public sealed class MqttUnsubscribePacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Unsubscribe;
    public ushort PacketId { get; set; }
    public List<string> TopicFilters { get; set; } = [];
}

public sealed class MqttUnsubAckPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.UnsubAck;
    public ushort PacketId { get; set; }
    /// <summary>v5 only (3.1.1 UNSUBACK has no payload).</summary>
    public List<MqttReasonCode> ReasonCodes { get; set; } = [];
}

public sealed class MqttPingReqPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.PingReq;
}

public sealed class MqttPingRespPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.PingResp;
}

public sealed class MqttDisconnectPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Disconnect;
    /// <summary>v5 only.</summary>
    public MqttReasonCode ReasonCode { get; set; }
}

/// <summary>v5 only.</summary>
public sealed class MqttAuthPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Auth;
    public MqttReasonCode ReasonCode { get; set; }
}
