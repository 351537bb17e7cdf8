namespace Zhizao.OpcUa;

public enum MessageSecurityMode
{
    Invalid = 0,
    None = 1,
    Sign = 2,
    SignAndEncrypt = 3,
}

public enum UserTokenType
{
    Anonymous = 0,
    UserName = 1,
    Certificate = 2,
    IssuedToken = 3,
}

public enum ApplicationType
{
    Server = 0,
    Client = 1,
    ClientAndServer = 2,
    DiscoveryServer = 3,
}

public enum BrowseDirection
{
    Forward = 0,
    Inverse = 1,
    Both = 2,
}

[Flags]
public enum NodeClass
{
    Unspecified = 0,
    Object = 1,
    Variable = 2,
    Method = 4,
    ObjectType = 8,
    VariableType = 16,
    ReferenceType = 32,
    DataType = 64,
    View = 128,
}

public enum TimestampsToReturn
{
    Source = 0,
    Server = 1,
    Both = 2,
    Neither = 3,
}

public enum MonitoringMode
{
    Disabled = 0,
    Sampling = 1,
    Reporting = 2,
}

public enum DataChangeTrigger
{
    Status = 0,
    StatusValue = 1,
    StatusValueTimestamp = 2,
}

public enum DeadbandType : uint
{
    None = 0,
    Absolute = 1,
    Percent = 2,
}

/// <summary>Attribute ids (Part 6, A.1).</summary>
public static class Attributes
{
    public const uint NodeId = 1;
    public const uint NodeClass = 2;
    public const uint BrowseName = 3;
    public const uint DisplayName = 4;
    public const uint Description = 5;
    public const uint Value = 13;
    public const uint DataType = 14;
    public const uint ValueRank = 15;
    public const uint AccessLevel = 17;
    public const uint Historizing = 20;
}

/// <summary>Well-known nodes of namespace 0.</summary>
public static class ObjectIds
{
    public static readonly NodeId RootFolder = 84;
    public static readonly NodeId ObjectsFolder = 85;
    public static readonly NodeId Server = 2253;
    public static readonly NodeId ServerStatusCurrentTime = 2258;
    public static readonly NodeId ServerStatusState = 2259;
    public static readonly NodeId NamespaceArray = 2255;
    public static readonly NodeId HierarchicalReferences = 33;
    public static readonly NodeId Organizes = 35;
    public static readonly NodeId HasComponent = 47;
    public static readonly NodeId HasProperty = 46;
}

/// <summary>Security policy URIs.</summary>
public static class SecurityPolicies
{
    public const string None = "http://opcfoundation.org/UA/SecurityPolicy#None";
    public const string Basic256Sha256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256";
}

public sealed class RequestHeader
{
    public NodeId AuthenticationToken { get; set; } = NodeId.Null;
    public DateTime Timestamp { get; set; }
    public uint RequestHandle { get; set; }
    public uint ReturnDiagnostics { get; set; }
    public string? AuditEntryId { get; set; }
    public uint TimeoutHint { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteNodeId(AuthenticationToken);
        e.WriteDateTime(Timestamp);
        e.WriteUInt32(RequestHandle);
        e.WriteUInt32(ReturnDiagnostics);
        e.WriteString(AuditEntryId);
        e.WriteUInt32(TimeoutHint);
        e.WriteExtensionObject(null);
    }

    public void Decode(BinaryDecoder d)
    {
        AuthenticationToken = d.ReadNodeId();
        Timestamp = d.ReadDateTime();
        RequestHandle = d.ReadUInt32();
        ReturnDiagnostics = d.ReadUInt32();
        AuditEntryId = d.ReadString();
        TimeoutHint = d.ReadUInt32();
        d.ReadExtensionObject();
    }
}

public sealed class ResponseHeader
{
    public DateTime Timestamp { get; set; }
    public uint RequestHandle { get; set; }
    public StatusCode ServiceResult { get; set; }
    public DiagnosticInfo? ServiceDiagnostics { get; set; }
    public string?[] StringTable { get; set; } = [];

    public void Encode(BinaryEncoder e)
    {
        e.WriteDateTime(Timestamp);
        e.WriteUInt32(RequestHandle);
        e.WriteStatusCode(ServiceResult);
        e.WriteDiagnosticInfo(ServiceDiagnostics);
        e.WriteArray(StringTable, static (e, s) => e.WriteString(s));
        e.WriteExtensionObject(null);
    }

    public void Decode(BinaryDecoder d)
    {
        Timestamp = d.ReadDateTime();
        RequestHandle = d.ReadUInt32();
        ServiceResult = d.ReadStatusCode();
        ServiceDiagnostics = d.ReadDiagnosticInfo();
        StringTable = d.ReadArray(static d => d.ReadString(), BuiltInType.String);
        d.ReadExtensionObject();
    }
}

/// <summary>A service request: its header, then its own fields.</summary>
public abstract class ServiceRequest : IEncodeable
{
    public RequestHeader RequestHeader { get; set; } = new();
    public abstract NodeId BinaryEncodingId { get; }

    public void Encode(BinaryEncoder e)
    {
        RequestHeader.Encode(e);
        EncodeBody(e);
    }

    public void Decode(BinaryDecoder d)
    {
        RequestHeader.Decode(d);
        DecodeBody(d);
    }

    protected abstract void EncodeBody(BinaryEncoder e);

    protected abstract void DecodeBody(BinaryDecoder d);
}

/// <summary>A service response: its header, then its own fields.</summary>
public abstract class ServiceResponse : IEncodeable
{
    public ResponseHeader ResponseHeader { get; set; } = new();
    public abstract NodeId BinaryEncodingId { get; }

    public void Encode(BinaryEncoder e)
    {
        ResponseHeader.Encode(e);
        EncodeBody(e);
    }

    public void Decode(BinaryDecoder d)
    {
        ResponseHeader.Decode(d);
        DecodeBody(d);
    }

    protected abstract void EncodeBody(BinaryEncoder e);

    protected abstract void DecodeBody(BinaryDecoder d);
}

internal static class CodecExtensions
{
    public static void WriteStrings(this BinaryEncoder e, IReadOnlyList<string?>? v) => e.WriteArray(v, static (e, s) => e.WriteString(s));
    public static string?[] ReadStrings(this BinaryDecoder d) => d.ReadArray(static d => d.ReadString(), BuiltInType.String);
    public static void WriteUInt32s(this BinaryEncoder e, IReadOnlyList<uint>? v) => e.WriteArray(v, static (e, x) => e.WriteUInt32(x));
    public static uint[] ReadUInt32s(this BinaryDecoder d) => d.ReadArray(static d => d.ReadUInt32(), BuiltInType.UInt32);
    public static void WriteStatusCodes(this BinaryEncoder e, IReadOnlyList<StatusCode>? v) => e.WriteArray(v, static (e, x) => e.WriteStatusCode(x));
    public static StatusCode[] ReadStatusCodes(this BinaryDecoder d) => d.ReadArray(static d => d.ReadStatusCode(), BuiltInType.StatusCode);
    public static void WriteDiagnostics(this BinaryEncoder e, IReadOnlyList<DiagnosticInfo>? v) => e.WriteArray(v, static (e, x) => e.WriteDiagnosticInfo(x));
    public static DiagnosticInfo[] ReadDiagnostics(this BinaryDecoder d) => d.ReadArray(static d => d.ReadDiagnosticInfo());
}
