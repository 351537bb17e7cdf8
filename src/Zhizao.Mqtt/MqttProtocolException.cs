using System.Diagnostics.CodeAnalysis;

namespace Zhizao.Mqtt;

/// <summary>
/// The peer sent something the protocol forbids. <see cref="ReasonCode"/> is the MQTT 5 reason code to answer with
/// (in CONNACK or DISCONNECT; an MQTT 3.1.1 peer is simply disconnected). Retrying the same bytes never helps.
/// </summary>
public sealed class MqttProtocolException : Exception
{
    public MqttProtocolException(MqttReasonCode reasonCode, string message, long offset = -1, string? limit = null)
        : base(offset >= 0 ? $"{message} (at byte {offset})" : message)
    {
        ReasonCode = reasonCode;
        Offset = offset;
        Limit = limit;
    }

    /// <summary>The reason code to send to the peer: MalformedPacket, ProtocolError, PacketTooLarge, ...</summary>
    public MqttReasonCode ReasonCode { get; }

    /// <summary>Byte offset from the start of the packet (its first fixed-header byte), or -1.</summary>
    public long Offset { get; }

    /// <summary>Name of the configured limit that was exceeded (a property of <see cref="MqttLimits"/>), if any.</summary>
    public string? Limit { get; }
}

internal static class MqttThrow
{
    [DoesNotReturn]
    public static void Malformed(string message, long offset) =>
        throw new MqttProtocolException(MqttReasonCode.MalformedPacket, message, offset);

    [DoesNotReturn]
    public static void Protocol(string message, long offset) =>
        throw new MqttProtocolException(MqttReasonCode.ProtocolError, message, offset);

    [DoesNotReturn]
    public static void Code(MqttReasonCode code, string message, long offset) =>
        throw new MqttProtocolException(code, message, offset);

    [DoesNotReturn]
    public static void Limit(MqttReasonCode code, string limit, long value, long max, string what, long offset) =>
        throw new MqttProtocolException(code, $"{what} is {value}, above the limit {limit} = {max}", offset, limit);
}
