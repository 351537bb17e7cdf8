namespace Zhizao.Mqtt;

/// <summary>Which reason codes each packet may carry (spec 2.4), and the 3.1.1 return-code mapping.</summary>
public static class MqttReasonCodes
{
    private static readonly bool[] ConnAck = Set(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
        0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F);
    private static readonly bool[] PubAck = Set(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99);
    private static readonly bool[] PubRel = Set(0x00, 0x92);
    private static readonly bool[] SubAck = Set(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2);
    private static readonly bool[] UnsubAck = Set(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91);
    private static readonly bool[] Disconnect = Set(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E,
        0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2);
    private static readonly bool[] Auth = Set(0x00, 0x18, 0x19);
    private static readonly MqttReasonCode[] V3ConnAck =
    [
        MqttReasonCode.Success, MqttReasonCode.UnsupportedProtocolVersion, MqttReasonCode.ClientIdentifierNotValid,
        MqttReasonCode.ServerUnavailable, MqttReasonCode.BadUserNameOrPassword, MqttReasonCode.NotAuthorized,
    ];

    /// <summary>True when <paramref name="code"/> may appear in a v5 packet of <paramref name="type"/>.</summary>
    public static bool IsValidFor(MqttPacketType type, MqttReasonCode code) => type switch
    {
        MqttPacketType.ConnAck => ConnAck[(byte)code],
        MqttPacketType.PubAck or MqttPacketType.PubRec => PubAck[(byte)code],
        MqttPacketType.PubRel or MqttPacketType.PubComp => PubRel[(byte)code],
        MqttPacketType.SubAck => SubAck[(byte)code],
        MqttPacketType.UnsubAck => UnsubAck[(byte)code],
        MqttPacketType.Disconnect => Disconnect[(byte)code],
        MqttPacketType.Auth => Auth[(byte)code],
        _ => false,
    };

    /// <summary>3.1.1 CONNACK return code (0-5) for a reason code, or -1 when 3.1.1 has none.</summary>
    public static int ToV311ConnectReturnCode(MqttReasonCode code) => Array.IndexOf(V3ConnAck, code);

    internal static bool TryFromV311ConnectReturnCode(byte returnCode, out MqttReasonCode code)
    {
        code = returnCode < V3ConnAck.Length ? V3ConnAck[returnCode] : MqttReasonCode.UnspecifiedError;
        return returnCode < V3ConnAck.Length;
    }

    internal static bool IsValidV311SubAck(MqttReasonCode code) =>
        code is MqttReasonCode.Success or MqttReasonCode.GrantedQoS1 or MqttReasonCode.GrantedQoS2 or MqttReasonCode.UnspecifiedError;

    private static bool[] Set(params int[] codes)
    {
        var s = new bool[256];
        foreach (var c in codes) s[c] = true;
        return s;
    }
}
