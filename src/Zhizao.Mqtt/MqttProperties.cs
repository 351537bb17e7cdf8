namespace Zhizao.Mqtt;

public readonly record struct MqttUserProperty(string Name, string Value);

/// <summary>
/// The MQTT 5 properties of one packet (or of a will). Absent properties are null. Which properties a packet may
/// carry is checked by the reader (Malformed Packet) and the writer (<see cref="ArgumentException"/>), see
/// <see cref="MqttPropertyRules"/>. Only User Property, and Subscription Identifier in PUBLISH, may repeat.
/// </summary>
public sealed class MqttProperties
{
    public byte? PayloadFormatIndicator { get; set; }
    public uint? MessageExpiryInterval { get; set; }
    public string? ContentType { get; set; }
    public string? ResponseTopic { get; set; }
    public byte[]? CorrelationData { get; set; }
    /// <summary>One in SUBSCRIBE; any number in PUBLISH (one per matching subscription).</summary>
    public List<uint>? SubscriptionIdentifiers { get; set; }
    public uint? SessionExpiryInterval { get; set; }
    public string? AssignedClientIdentifier { get; set; }
    public ushort? ServerKeepAlive { get; set; }
    public string? AuthenticationMethod { get; set; }
    public byte[]? AuthenticationData { get; set; }
    public byte? RequestProblemInformation { get; set; }
    public uint? WillDelayInterval { get; set; }
    public byte? RequestResponseInformation { get; set; }
    public string? ResponseInformation { get; set; }
    public string? ServerReference { get; set; }
    public string? ReasonString { get; set; }
    public ushort? ReceiveMaximum { get; set; }
    public ushort? TopicAliasMaximum { get; set; }
    public ushort? TopicAlias { get; set; }
    public byte? MaximumQoS { get; set; }
    public byte? RetainAvailable { get; set; }
    public List<MqttUserProperty>? UserProperties { get; set; }
    public uint? MaximumPacketSize { get; set; }
    public byte? WildcardSubscriptionAvailable { get; set; }
    public byte? SubscriptionIdentifierAvailable { get; set; }
    public byte? SharedSubscriptionAvailable { get; set; }

    internal ulong PresentMask()
    {
        ulong m = 0;
        if (PayloadFormatIndicator.HasValue) m |= Bit(MqttPropertyId.PayloadFormatIndicator);
        if (MessageExpiryInterval.HasValue) m |= Bit(MqttPropertyId.MessageExpiryInterval);
        if (ContentType is not null) m |= Bit(MqttPropertyId.ContentType);
        if (ResponseTopic is not null) m |= Bit(MqttPropertyId.ResponseTopic);
        if (CorrelationData is not null) m |= Bit(MqttPropertyId.CorrelationData);
        if (SubscriptionIdentifiers is { Count: > 0 }) m |= Bit(MqttPropertyId.SubscriptionIdentifier);
        if (SessionExpiryInterval.HasValue) m |= Bit(MqttPropertyId.SessionExpiryInterval);
        if (AssignedClientIdentifier is not null) m |= Bit(MqttPropertyId.AssignedClientIdentifier);
        if (ServerKeepAlive.HasValue) m |= Bit(MqttPropertyId.ServerKeepAlive);
        if (AuthenticationMethod is not null) m |= Bit(MqttPropertyId.AuthenticationMethod);
        if (AuthenticationData is not null) m |= Bit(MqttPropertyId.AuthenticationData);
        if (RequestProblemInformation.HasValue) m |= Bit(MqttPropertyId.RequestProblemInformation);
        if (WillDelayInterval.HasValue) m |= Bit(MqttPropertyId.WillDelayInterval);
        if (RequestResponseInformation.HasValue) m |= Bit(MqttPropertyId.RequestResponseInformation);
        if (ResponseInformation is not null) m |= Bit(MqttPropertyId.ResponseInformation);
        if (ServerReference is not null) m |= Bit(MqttPropertyId.ServerReference);
        if (ReasonString is not null) m |= Bit(MqttPropertyId.ReasonString);
        if (ReceiveMaximum.HasValue) m |= Bit(MqttPropertyId.ReceiveMaximum);
        if (TopicAliasMaximum.HasValue) m |= Bit(MqttPropertyId.TopicAliasMaximum);
        if (TopicAlias.HasValue) m |= Bit(MqttPropertyId.TopicAlias);
        if (MaximumQoS.HasValue) m |= Bit(MqttPropertyId.MaximumQoS);
        if (RetainAvailable.HasValue) m |= Bit(MqttPropertyId.RetainAvailable);
        if (UserProperties is { Count: > 0 }) m |= Bit(MqttPropertyId.UserProperty);
        if (MaximumPacketSize.HasValue) m |= Bit(MqttPropertyId.MaximumPacketSize);
        if (WildcardSubscriptionAvailable.HasValue) m |= Bit(MqttPropertyId.WildcardSubscriptionAvailable);
        if (SubscriptionIdentifierAvailable.HasValue) m |= Bit(MqttPropertyId.SubscriptionIdentifierAvailable);
        if (SharedSubscriptionAvailable.HasValue) m |= Bit(MqttPropertyId.SharedSubscriptionAvailable);
        return m;
    }

    internal static ulong Bit(MqttPropertyId id) => 1UL << (int)id;
}

/// <summary>Where a property list appears; each place allows its own set of properties (spec table 2-4).</summary>
public enum MqttPropertyContext
{
    Connect,
    Will,
    ConnAck,
    Publish,
    /// <summary>PUBACK, PUBREC, PUBREL and PUBCOMP.</summary>
    PublishAck,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

/// <summary>The spec's rule of which property may appear where.</summary>
public static class MqttPropertyRules
{
    private static readonly ulong[] Allowed = BuildTable();

    public static bool IsAllowed(MqttPropertyId id, MqttPropertyContext context) =>
        (uint)id < 64 && (Allowed[(int)context] & (1UL << (int)id)) != 0;

    internal static ulong AllowedMask(MqttPropertyContext context) => Allowed[(int)context];

    private static ulong[] BuildTable()
    {
        static ulong M(params MqttPropertyId[] ids)
        {
            ulong m = MqttProperties.Bit(MqttPropertyId.UserProperty);
            foreach (var id in ids) m |= MqttProperties.Bit(id);
            return m;
        }
        var t = new ulong[11];
        t[(int)MqttPropertyContext.Connect] = M(MqttPropertyId.SessionExpiryInterval, MqttPropertyId.AuthenticationMethod,
            MqttPropertyId.AuthenticationData, MqttPropertyId.RequestProblemInformation, MqttPropertyId.RequestResponseInformation,
            MqttPropertyId.ReceiveMaximum, MqttPropertyId.TopicAliasMaximum, MqttPropertyId.MaximumPacketSize);
        t[(int)MqttPropertyContext.Will] = M(MqttPropertyId.PayloadFormatIndicator, MqttPropertyId.MessageExpiryInterval,
            MqttPropertyId.ContentType, MqttPropertyId.ResponseTopic, MqttPropertyId.CorrelationData, MqttPropertyId.WillDelayInterval);
        t[(int)MqttPropertyContext.ConnAck] = M(MqttPropertyId.SessionExpiryInterval, MqttPropertyId.AssignedClientIdentifier,
            MqttPropertyId.ServerKeepAlive, MqttPropertyId.AuthenticationMethod, MqttPropertyId.AuthenticationData,
            MqttPropertyId.ResponseInformation, MqttPropertyId.ServerReference, MqttPropertyId.ReasonString,
            MqttPropertyId.ReceiveMaximum, MqttPropertyId.TopicAliasMaximum, MqttPropertyId.MaximumQoS, MqttPropertyId.RetainAvailable,
            MqttPropertyId.MaximumPacketSize, MqttPropertyId.WildcardSubscriptionAvailable,
            MqttPropertyId.SubscriptionIdentifierAvailable, MqttPropertyId.SharedSubscriptionAvailable);
        t[(int)MqttPropertyContext.Publish] = M(MqttPropertyId.PayloadFormatIndicator, MqttPropertyId.MessageExpiryInterval,
            MqttPropertyId.ContentType, MqttPropertyId.ResponseTopic, MqttPropertyId.CorrelationData,
            MqttPropertyId.SubscriptionIdentifier, MqttPropertyId.TopicAlias);
        t[(int)MqttPropertyContext.PublishAck] = M(MqttPropertyId.ReasonString);
        t[(int)MqttPropertyContext.Subscribe] = M(MqttPropertyId.SubscriptionIdentifier);
        t[(int)MqttPropertyContext.SubAck] = M(MqttPropertyId.ReasonString);
        t[(int)MqttPropertyContext.Unsubscribe] = M();
        t[(int)MqttPropertyContext.UnsubAck] = M(MqttPropertyId.ReasonString);
        t[(int)MqttPropertyContext.Disconnect] = M(MqttPropertyId.SessionExpiryInterval, MqttPropertyId.ServerReference,
            MqttPropertyId.ReasonString);
        t[(int)MqttPropertyContext.Auth] = M(MqttPropertyId.AuthenticationMethod, MqttPropertyId.AuthenticationData,
            MqttPropertyId.ReasonString);
        return t;
    }
}
