using System.Globalization;
using System.Text;

namespace Zhizao.OpcUa;

/// <summary>The built-in types of Part 6, 5.1.2, with their binary type ids.</summary>
public enum BuiltInType : byte
{
    Null = 0,
    Boolean = 1,
    SByte = 2,
    Byte = 3,
    Int16 = 4,
    UInt16 = 5,
    Int32 = 6,
    UInt32 = 7,
    Int64 = 8,
    UInt64 = 9,
    Float = 10,
    Double = 11,
    String = 12,
    DateTime = 13,
    Guid = 14,
    ByteString = 15,
    XmlElement = 16,
    NodeId = 17,
    ExpandedNodeId = 18,
    StatusCode = 19,
    QualifiedName = 20,
    LocalizedText = 21,
    ExtensionObject = 22,
    DataValue = 23,
    Variant = 24,
    DiagnosticInfo = 25,
}

public enum IdType : byte
{
    Numeric = 0,
    String = 1,
    Guid = 2,
    Opaque = 3,
}

/// <summary>
/// An OPC UA NodeId: namespace index plus a numeric, string, GUID or opaque identifier. Text form as in Part 6, 5.3.1.10:
/// <c>i=85</c>, <c>ns=2;s=Line1.Speed</c>, <c>ns=1;g=…</c>, <c>ns=1;b=base64</c>.
/// </summary>
public sealed class NodeId : IEquatable<NodeId>
{
    public static readonly NodeId Null = new(0, 0u);

    private readonly uint _numeric;
    private readonly object? _other;

    public NodeId(ushort namespaceIndex, uint identifier)
    {
        NamespaceIndex = namespaceIndex;
        IdType = IdType.Numeric;
        _numeric = identifier;
    }

    public NodeId(ushort namespaceIndex, string identifier)
    {
        NamespaceIndex = namespaceIndex;
        IdType = IdType.String;
        _other = identifier ?? throw new ArgumentNullException(nameof(identifier));
    }

    public NodeId(ushort namespaceIndex, Guid identifier)
    {
        NamespaceIndex = namespaceIndex;
        IdType = IdType.Guid;
        _other = identifier;
    }

    public NodeId(ushort namespaceIndex, byte[] identifier)
    {
        NamespaceIndex = namespaceIndex;
        IdType = IdType.Opaque;
        _other = identifier ?? throw new ArgumentNullException(nameof(identifier));
    }

    public ushort NamespaceIndex { get; }
    public IdType IdType { get; }
    public uint NumericId => IdType == IdType.Numeric ? _numeric : throw new InvalidOperationException($"{this} is not numeric");
    public string StringId => _other as string ?? throw new InvalidOperationException($"{this} is not a string id");
    public Guid GuidId => _other is Guid g ? g : throw new InvalidOperationException($"{this} is not a GUID id");
    public byte[] OpaqueId => _other as byte[] ?? throw new InvalidOperationException($"{this} is not an opaque id");

    public bool IsNull => NamespaceIndex == 0 && IdType switch
    {
        IdType.Numeric => _numeric == 0,
        IdType.String => ((string)_other!).Length == 0,
        IdType.Guid => (Guid)_other! == Guid.Empty,
        _ => ((byte[])_other!).Length == 0,
    };

    public static implicit operator NodeId(uint id) => new(0, id);

    /// <summary>Parses the text form; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static NodeId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ushort ns = 0;
        string rest = text;
        if (rest.StartsWith("ns=", StringComparison.Ordinal))
        {
            int semi = rest.IndexOf(';', StringComparison.Ordinal);
            if (semi < 0 || !ushort.TryParse(rest.AsSpan(3, semi - 3), NumberStyles.None, CultureInfo.InvariantCulture, out ns))
                throw new FormatException($"NodeId '{text}': bad namespace index");
            rest = rest[(semi + 1)..];
        }
        if (rest.Length < 2 || rest[1] != '=')
            throw new FormatException($"NodeId '{text}': expected i=, s=, g= or b=");
        string value = rest[2..];
        switch (rest[0])
        {
            case 'i':
                if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint n))
                    throw new FormatException($"NodeId '{text}': numeric identifier is not a UInt32");
                return new NodeId(ns, n);
            case 's':
                return new NodeId(ns, value);
            case 'g':
                if (!Guid.TryParse(value, out Guid g))
                    throw new FormatException($"NodeId '{text}': bad GUID");
                return new NodeId(ns, g);
            case 'b':
                try
                {
                    return new NodeId(ns, Convert.FromBase64String(value));
                }
                catch (FormatException e)
                {
                    throw new FormatException($"NodeId '{text}': bad base64", e);
                }
            default:
                throw new FormatException($"NodeId '{text}': unknown identifier type '{rest[0]}'");
        }
    }

    public bool Equals(NodeId? other)
    {
        if (other is null || other.NamespaceIndex != NamespaceIndex || other.IdType != IdType)
            return false;
        return IdType switch
        {
            IdType.Numeric => _numeric == other._numeric,
            IdType.String => string.Equals((string)_other!, (string)other._other!, StringComparison.Ordinal),
            IdType.Guid => (Guid)_other! == (Guid)other._other!,
            _ => ((byte[])_other!).AsSpan().SequenceEqual((byte[])other._other!),
        };
    }

    public override bool Equals(object? obj) => obj is NodeId n && Equals(n);

    public override int GetHashCode() => IdType switch
    {
        IdType.Numeric => HashCode.Combine(NamespaceIndex, _numeric),
        IdType.String => HashCode.Combine(NamespaceIndex, StringComparer.Ordinal.GetHashCode((string)_other!)),
        IdType.Guid => HashCode.Combine(NamespaceIndex, (Guid)_other!),
        _ => HashCode.Combine(NamespaceIndex, ((byte[])_other!).Length),
    };

    public static bool operator ==(NodeId? a, NodeId? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(NodeId? a, NodeId? b) => !(a == b);

    public override string ToString()
    {
        string prefix = NamespaceIndex == 0 ? "" : $"ns={NamespaceIndex};";
        return IdType switch
        {
            IdType.Numeric => $"{prefix}i={_numeric}",
            IdType.String => $"{prefix}s={_other}",
            IdType.Guid => $"{prefix}g={_other}",
            _ => $"{prefix}b={Convert.ToBase64String((byte[])_other!)}",
        };
    }
}

/// <summary>A NodeId that may name its namespace by URI and live on another server.</summary>
public sealed record ExpandedNodeId(NodeId NodeId, string? NamespaceUri = null, uint ServerIndex = 0)
{
    public static readonly ExpandedNodeId Null = new(NodeId.Null);

    public bool IsLocal => NamespaceUri is null && ServerIndex == 0;

    /// <summary>The local NodeId, resolving a namespace URI against the server's namespace array.</summary>
    public NodeId ToNodeId(IReadOnlyList<string>? namespaceUris = null)
    {
        if (NamespaceUri is null)
            return NodeId;
        int index = namespaceUris is null ? -1 : IndexOf(namespaceUris, NamespaceUri);
        if (index < 0)
            throw new InvalidOperationException($"namespace '{NamespaceUri}' is not in the server's namespace array");
        return NodeId.IdType switch
        {
            IdType.Numeric => new NodeId((ushort)index, NodeId.NumericId),
            IdType.String => new NodeId((ushort)index, NodeId.StringId),
            IdType.Guid => new NodeId((ushort)index, NodeId.GuidId),
            _ => new NodeId((ushort)index, NodeId.OpaqueId),
        };
    }

    private static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
                return i;
        }
        return -1;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        if (ServerIndex != 0)
            sb.Append("svr=").Append(ServerIndex).Append(';');
        if (NamespaceUri is not null)
            sb.Append("nsu=").Append(NamespaceUri).Append(';');
        sb.Append(NodeId);
        return sb.ToString();
    }
}

public sealed record QualifiedName(ushort NamespaceIndex, string? Name)
{
    public static readonly QualifiedName Null = new(0, null);

    public override string ToString() => NamespaceIndex == 0 ? Name ?? "" : $"{NamespaceIndex}:{Name}";
}

public sealed record LocalizedText(string? Locale, string? Text)
{
    public static readonly LocalizedText Null = new(null, null);

    public override string ToString() => Text ?? "";
}

/// <summary>An ExtensionObject: a structure known to this library (<see cref="Body"/> is an <see cref="IEncodeable"/>), or an opaque one kept as bytes.</summary>
public sealed class ExtensionObject
{
    public static readonly ExtensionObject Null = new(NodeId.Null, (byte[]?)null);

    public ExtensionObject(NodeId typeId, byte[]? body)
    {
        TypeId = typeId;
        Body = body;
    }

    public ExtensionObject(IEncodeable body)
    {
        TypeId = body.BinaryEncodingId;
        Body = body;
    }

    public ExtensionObject(NodeId typeId, string xml)
    {
        TypeId = typeId;
        Body = xml;
        IsXml = true;
    }

    /// <summary>The DataTypeEncoding node id (for a binary body) the structure was sent with.</summary>
    public NodeId TypeId { get; }

    /// <summary>null, a decoded <see cref="IEncodeable"/>, raw binary body bytes, or XML text.</summary>
    public object? Body { get; }

    public bool IsXml { get; }

    public override string ToString() => Body switch
    {
        null => "null",
        IEncodeable e => e.GetType().Name,
        byte[] b => $"{TypeId}: {b.Length} bytes",
        _ => $"{TypeId}: xml",
    };
}

public sealed record DiagnosticInfo(
    int? SymbolicId = null,
    int? NamespaceUri = null,
    int? Locale = null,
    int? LocalizedText = null,
    string? AdditionalInfo = null,
    StatusCode? InnerStatusCode = null,
    DiagnosticInfo? InnerDiagnosticInfo = null);

/// <summary>
/// A value with its built-in type. Scalars are the CLR type of <see cref="BuiltInType"/> (double, int, string, NodeId, …);
/// arrays are one-dimensional CLR arrays of it (<c>double[]</c>, <c>Variant[]</c> for BuiltInType.Variant); a matrix is
/// the flattened array plus <see cref="Dimensions"/>.
/// </summary>
public readonly struct Variant : IEquatable<Variant>
{
    public static readonly Variant Null;

    public Variant(BuiltInType type, object? value, int[]? dimensions = null)
    {
        Type = type;
        Value = value;
        Dimensions = dimensions;
    }

    public Variant(bool v) : this(BuiltInType.Boolean, v) { }
    public Variant(sbyte v) : this(BuiltInType.SByte, v) { }
    public Variant(byte v) : this(BuiltInType.Byte, v) { }
    public Variant(short v) : this(BuiltInType.Int16, v) { }
    public Variant(ushort v) : this(BuiltInType.UInt16, v) { }
    public Variant(int v) : this(BuiltInType.Int32, v) { }
    public Variant(uint v) : this(BuiltInType.UInt32, v) { }
    public Variant(long v) : this(BuiltInType.Int64, v) { }
    public Variant(ulong v) : this(BuiltInType.UInt64, v) { }
    public Variant(float v) : this(BuiltInType.Float, v) { }
    public Variant(double v) : this(BuiltInType.Double, v) { }
    public Variant(string? v) : this(BuiltInType.String, v) { }
    public Variant(DateTime v) : this(BuiltInType.DateTime, v) { }
    public Variant(Guid v) : this(BuiltInType.Guid, v) { }
    public Variant(byte[]? v) : this(BuiltInType.ByteString, v) { }
    public Variant(NodeId v) : this(BuiltInType.NodeId, v) { }
    public Variant(StatusCode v) : this(BuiltInType.StatusCode, v) { }
    public Variant(QualifiedName v) : this(BuiltInType.QualifiedName, v) { }
    public Variant(LocalizedText v) : this(BuiltInType.LocalizedText, v) { }
    public Variant(ExtensionObject v) : this(BuiltInType.ExtensionObject, v) { }

    public BuiltInType Type { get; }
    public object? Value { get; }
    public int[]? Dimensions { get; }
    public bool IsNull => Type == BuiltInType.Null;
    public bool IsArray => Value is Array && Type != BuiltInType.ByteString || Value is byte[][];

    /// <summary>Builds a Variant from a CLR value or one-dimensional array of a built-in type.</summary>
    public static Variant From(object? value) => value switch
    {
        null => Null,
        Variant v => v,
        bool v => new Variant(v),
        sbyte v => new Variant(v),
        byte v => new Variant(v),
        short v => new Variant(v),
        ushort v => new Variant(v),
        int v => new Variant(v),
        uint v => new Variant(v),
        long v => new Variant(v),
        ulong v => new Variant(v),
        float v => new Variant(v),
        double v => new Variant(v),
        string v => new Variant(v),
        DateTime v => new Variant(v),
        Guid v => new Variant(v),
        byte[] v => new Variant(v),
        NodeId v => new Variant(v),
        ExpandedNodeId v => new Variant(BuiltInType.ExpandedNodeId, v),
        StatusCode v => new Variant(v),
        QualifiedName v => new Variant(v),
        LocalizedText v => new Variant(v),
        ExtensionObject v => new Variant(v),
        DataValue v => new Variant(BuiltInType.DataValue, v),
        DiagnosticInfo v => new Variant(BuiltInType.DiagnosticInfo, v),
        Array a => new Variant(ElementType(a.GetType().GetElementType()!), a),
        _ => throw new ArgumentException($"{value.GetType().Name} is not an OPC UA built-in type", nameof(value)),
    };

    internal static BuiltInType ElementType(Type t) => t switch
    {
        _ when t == typeof(bool) => BuiltInType.Boolean,
        _ when t == typeof(sbyte) => BuiltInType.SByte,
        _ when t == typeof(byte) => BuiltInType.Byte,
        _ when t == typeof(short) => BuiltInType.Int16,
        _ when t == typeof(ushort) => BuiltInType.UInt16,
        _ when t == typeof(int) => BuiltInType.Int32,
        _ when t == typeof(uint) => BuiltInType.UInt32,
        _ when t == typeof(long) => BuiltInType.Int64,
        _ when t == typeof(ulong) => BuiltInType.UInt64,
        _ when t == typeof(float) => BuiltInType.Float,
        _ when t == typeof(double) => BuiltInType.Double,
        _ when t == typeof(string) => BuiltInType.String,
        _ when t == typeof(DateTime) => BuiltInType.DateTime,
        _ when t == typeof(Guid) => BuiltInType.Guid,
        _ when t == typeof(byte[]) => BuiltInType.ByteString,
        _ when t == typeof(NodeId) => BuiltInType.NodeId,
        _ when t == typeof(ExpandedNodeId) => BuiltInType.ExpandedNodeId,
        _ when t == typeof(StatusCode) => BuiltInType.StatusCode,
        _ when t == typeof(QualifiedName) => BuiltInType.QualifiedName,
        _ when t == typeof(LocalizedText) => BuiltInType.LocalizedText,
        _ when t == typeof(ExtensionObject) => BuiltInType.ExtensionObject,
        _ when t == typeof(DataValue) => BuiltInType.DataValue,
        _ when t == typeof(Variant) => BuiltInType.Variant,
        _ when t == typeof(DiagnosticInfo) => BuiltInType.DiagnosticInfo,
        _ => throw new ArgumentException($"{t.Name}[] is not an array of an OPC UA built-in type"),
    };

    public bool Equals(Variant other)
    {
        if (Type != other.Type)
            return false;
        if (!DimensionsEqual(Dimensions, other.Dimensions))
            return false;
        return ValueEquals(Value, other.Value);
    }

    private static bool DimensionsEqual(int[]? a, int[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    internal static bool ValueEquals(object? a, object? b)
    {
        if (a is null || b is null)
            return a is null && b is null;
        if (a is byte[] ba && b is byte[] bb)
            return ba.AsSpan().SequenceEqual(bb);
        if (a is double da && b is double db)
            return da.Equals(db);
        if (a is Array aa && b is Array ab)
        {
            if (aa.Length != ab.Length)
                return false;
            for (int i = 0; i < aa.Length; i++)
            {
                if (!ValueEquals(aa.GetValue(i), ab.GetValue(i)))
                    return false;
            }
            return true;
        }
        return a.Equals(b);
    }

    public override bool Equals(object? obj) => obj is Variant v && Equals(v);
    public override int GetHashCode() => HashCode.Combine(Type, Value is Array a ? a.Length : Value?.GetHashCode() ?? 0);
    public static bool operator ==(Variant a, Variant b) => a.Equals(b);
    public static bool operator !=(Variant a, Variant b) => !a.Equals(b);

    public override string ToString() => Value switch
    {
        null => "null",
        byte[] b => Convert.ToHexString(b),
        Array a => "[" + string.Join(", ", a.Cast<object?>().Select(o => o?.ToString())) + "]",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("O", CultureInfo.InvariantCulture),
        _ => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>A value with its status and timestamps (Part 4, 7.11).</summary>
public sealed record DataValue
{
    public Variant Value { get; init; }
    public StatusCode Status { get; init; }
    public DateTime? SourceTimestamp { get; init; }
    public ushort SourcePicoseconds { get; init; }
    public DateTime? ServerTimestamp { get; init; }
    public ushort ServerPicoseconds { get; init; }

    public DataValue() { }

    public DataValue(Variant value, StatusCode status = default, DateTime? sourceTimestamp = null)
    {
        Value = value;
        Status = status;
        SourceTimestamp = sourceTimestamp;
    }

    public override string ToString() => $"{Value} {(Status.IsGood ? "" : Status.ToString())}{(SourceTimestamp is { } t ? " @" + t.ToString("O", CultureInfo.InvariantCulture) : "")}".TrimEnd();
}
