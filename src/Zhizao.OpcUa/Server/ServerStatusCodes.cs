namespace Zhizao.OpcUa.Server;

/// <summary>Status codes the server answers with that the client library has no named constant for (Part 4, 7.39).</summary>
internal static class ServerStatusCodes
{
    public static readonly StatusCode BadTooManySessions = 0x80560000;
    public static readonly StatusCode BadIdentityChangeNotSupported = 0x80C60000;
    public static readonly StatusCode BadInvalidArgument = 0x80AB0000;
    public static readonly StatusCode BadIndexRangeInvalid = 0x80360000;
    public static readonly StatusCode BadBrowseDirectionInvalid = 0x804D0000;
    public static readonly StatusCode BadNoMatch = 0x806F0000;
    public static readonly StatusCode BadMonitoredItemFilterUnsupported = 0x80440000;
    public static readonly StatusCode BadFilterNotAllowed = 0x80450000;
    public static readonly StatusCode BadMonitoringModeInvalid = 0x80410000;
    public static readonly StatusCode BadTooManySubscriptions = 0x80770000;
    public static readonly StatusCode BadMonitoredItemIdInvalid = 0x80420000;
    public static readonly StatusCode BadInvalidTimestampsToReturn = 0x802B0000;
}
