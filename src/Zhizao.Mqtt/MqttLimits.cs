namespace Zhizao.Mqtt;

/// <summary>
/// Bounds the decoder enforces before it uses any length or count from the wire. Defaults suit a broker facing
/// untrusted devices; raise them deliberately.
/// </summary>
public sealed record MqttLimits
{
    /// <summary>Largest whole packet (fixed header included) accepted. The protocol maximum is 268,435,460.</summary>
    public int MaximumPacketSize { get; init; } = 1024 * 1024;

    /// <summary>Longest topic name or topic filter, in UTF-8 bytes (protocol maximum 65,535).</summary>
    public int MaxTopicLength { get; init; } = 4096;

    /// <summary>Most properties in one property list, user properties included.</summary>
    public int MaxPropertyCount { get; init; } = 64;

    /// <summary>Most user properties in one property list.</summary>
    public int MaxUserProperties { get; init; } = 32;

    /// <summary>Most topic filters in one SUBSCRIBE or UNSUBSCRIBE.</summary>
    public int MaxSubscriptionsPerPacket { get; init; } = 128;

    /// <summary>When true, a PUBLISH (or will) whose Payload Format Indicator is 1 must carry valid UTF-8 (0x99).</summary>
    public bool ValidateUtf8Payloads { get; init; }

    public static MqttLimits Default { get; } = new();
}
