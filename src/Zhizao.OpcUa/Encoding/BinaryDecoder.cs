using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Zhizao.OpcUa;

/// <summary>
/// Reads the OPC UA binary encoding from hostile bytes. Every length, count and nesting depth is checked against
/// <see cref="OpcUaLimits"/> and against the bytes left before anything is allocated; errors are
/// <see cref="OpcUaDecodingException"/> with the offset in the message.
/// </summary>
public sealed class BinaryDecoder
{
    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly OpcUaLimits _limits;
    private readonly int _baseOffset;
    private int _position;
    private int _depth;

    public BinaryDecoder(ReadOnlyMemory<byte> data, OpcUaLimits? limits = null, int baseOffset = 0)
    {
        _memory = data;
        _limits = limits ?? OpcUaLimits.Default;
        _baseOffset = baseOffset;
    }

    public int Position => _position;
    public int Remaining => _memory.Length - _position;
    public OpcUaLimits Limits => _limits;

    /// <summary>Offset of the next byte in the whole message, for error messages.</summary>
    public int Offset => _baseOffset + _position;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<byte> Take(int n, string what)
    {
        if ((uint)n > (uint)(_memory.Length - _position))
            ThrowTruncated(n, what);
        var span = _memory.Span.Slice(_position, n);
        _position += n;
        return span;
    }

    private void ThrowTruncated(int n, string what) =>
        Throw.Decoding($"{what}: needs {n} bytes but {_memory.Length - _position} remain", Offset);

    public bool ReadBoolean() => Take(1, "Boolean")[0] != 0;
    public sbyte ReadSByte() => (sbyte)Take(1, "SByte")[0];
    public byte ReadByte() => Take(1, "Byte")[0];
    public short ReadInt16() => BinaryPrimitives.ReadInt16LittleEndian(Take(2, "Int16"));
    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, "UInt16"));
    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4, "Int32"));
    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, "UInt32"));
    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8, "Int64"));
    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, "UInt64"));
    public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4, "Float"));
    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, "Double"));
    public StatusCode ReadStatusCode() => new(ReadUInt32());
    public ReadOnlySpan<byte> ReadRaw(int n) => Take(n, "bytes");

    public string? ReadString() => ReadString("String", _limits.MaxStringLength, "MaxStringLength");

    private string? ReadString(string what, int limit, string limitName)
    {
        int at = Offset;
        int n = ReadInt32();
        if (n < 0)
        {
            if (n != -1)
                Throw.Decoding($"{what} length {n} is negative", at);
            return null;
        }
        if (n > limit)
            Throw.DecodingLimit($"{what} length {n} exceeds {limitName} {limit}", at);
        var bytes = Take(n, what);
        try
        {
            return s_utf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            Throw.Decoding($"{what} is not valid UTF-8", at + 4);
            return null;
        }
    }

    public byte[]? ReadByteString()
    {
        int at = Offset;
        int n = ReadInt32();
        if (n < 0)
        {
            if (n != -1)
                Throw.Decoding($"ByteString length {n} is negative", at);
            return null;
        }
        if (n > _limits.MaxByteStringLength)
            Throw.DecodingLimit($"ByteString length {n} exceeds MaxByteStringLength {_limits.MaxByteStringLength}", at);
        return Take(n, "ByteString").ToArray();
    }

    public DateTime ReadDateTime()
    {
        long ticks = ReadInt64();
        if (ticks <= 0)
            return DateTime.MinValue;
        if (ticks >= DateTime.MaxValue.Ticks - s_epochTicks)
            return DateTime.MaxValue;
        return new DateTime(ticks + s_epochTicks, DateTimeKind.Utc);
    }

    private static readonly long s_epochTicks = DateTime.FromFileTimeUtc(0).Ticks;

    public Guid ReadGuid() => new(Take(16, "Guid"));

    public NodeId ReadNodeId()
    {
        int at = Offset;
        byte encoding = ReadByte();
        if ((encoding & 0xC0) != 0)
            Throw.Decoding($"NodeId encoding byte 0x{encoding:X2} has ExpandedNodeId flags", at);
        return ReadNodeIdBody(encoding, at);
    }

    private NodeId ReadNodeIdBody(byte encoding, int at)
    {
        switch (encoding & 0x3F)
        {
            case 0x00:
                return new NodeId(0, ReadByte());
            case 0x01:
                {
                    byte ns = ReadByte();
                    return new NodeId(ns, ReadUInt16());
                }
            case 0x02:
                {
                    ushort ns = ReadUInt16();
                    return new NodeId(ns, ReadUInt32());
                }
            case 0x03:
                {
                    ushort ns = ReadUInt16();
                    return new NodeId(ns, ReadString() ?? "");
                }
            case 0x04:
                {
                    ushort ns = ReadUInt16();
                    return new NodeId(ns, ReadGuid());
                }
            case 0x05:
                {
                    ushort ns = ReadUInt16();
                    return new NodeId(ns, ReadByteString() ?? []);
                }
            default:
                Throw.Decoding($"NodeId encoding 0x{encoding & 0x3F:X2} is unknown", at);
                return null;
        }
    }

    public ExpandedNodeId ReadExpandedNodeId()
    {
        int at = Offset;
        byte encoding = ReadByte();
        NodeId id = ReadNodeIdBody(encoding, at);
        string? uri = (encoding & 0x80) != 0 ? ReadString() : null;
        uint server = (encoding & 0x40) != 0 ? ReadUInt32() : 0;
        return new ExpandedNodeId(id, uri, server);
    }

    public QualifiedName ReadQualifiedName()
    {
        ushort ns = ReadUInt16();
        return new QualifiedName(ns, ReadString());
    }

    public LocalizedText ReadLocalizedText()
    {
        int at = Offset;
        byte mask = ReadByte();
        if ((mask & 0xFC) != 0)
            Throw.Decoding($"LocalizedText mask 0x{mask:X2} has unknown bits", at);
        string? locale = (mask & 1) != 0 ? ReadString() : null;
        string? text = (mask & 2) != 0 ? ReadString() : null;
        return new LocalizedText(locale, text);
    }

    public ExtensionObject ReadExtensionObject()
    {
        Enter();
        NodeId typeId = ReadNodeId();
        int at = Offset;
        byte encoding = ReadByte();
        ExtensionObject result;
        switch (encoding)
        {
            case 0:
                result = typeId.IsNull ? ExtensionObject.Null : new ExtensionObject(typeId, (byte[]?)null);
                break;
            case 1:
                {
                    int lengthAt = Offset;
                    int length = ReadInt32();
                    if (length < 0 || length > Remaining)
                        Throw.Decoding($"ExtensionObject {typeId} body length {length} does not fit the {Remaining} bytes left", lengthAt);
                    IEncodeable? known = EncodeableTypes.Create(typeId);
                    if (known is null)
                    {
                        result = new ExtensionObject(typeId, Take(length, "ExtensionObject body").ToArray());
                        break;
                    }
                    var body = new BinaryDecoder(_memory.Slice(_position, length), _limits, Offset) { _depth = _depth };
                    known.Decode(body);
                    if (body.Remaining != 0)
                        Throw.Decoding($"ExtensionObject {typeId} ({known.GetType().Name}) left {body.Remaining} of its {length} bytes unread", body.Offset);
                    _position += length;
                    result = new ExtensionObject(known);
                    break;
                }
            case 2:
                result = new ExtensionObject(typeId, ReadString("XmlElement", _limits.MaxStringLength, "MaxStringLength") ?? "");
                break;
            default:
                Throw.Decoding($"ExtensionObject encoding byte {encoding} is not 0, 1 or 2", at);
                return null;
        }
        _depth--;
        return result;
    }

    /// <summary>Reads an ExtensionObject that must hold a <typeparamref name="T"/> (or be null).</summary>
    public T? ReadExtensionObject<T>() where T : class, IEncodeable
    {
        int at = Offset;
        ExtensionObject eo = ReadExtensionObject();
        return eo.Body switch
        {
            null => null,
            T t => t,
            _ => throw new OpcUaDecodingException($"expected an ExtensionObject holding {typeof(T).Name}, got {eo}", at),
        };
    }

    public T ReadEncodeable<T>() where T : IEncodeable, new()
    {
        Enter();
        var v = new T();
        v.Decode(this);
        _depth--;
        return v;
    }

    public DataValue ReadDataValue()
    {
        Enter();
        int at = Offset;
        byte mask = ReadByte();
        if ((mask & 0xC0) != 0)
            Throw.Decoding($"DataValue mask 0x{mask:X2} has unknown bits", at);
        var value = (mask & 0x01) != 0 ? ReadVariant() : Variant.Null;
        var status = (mask & 0x02) != 0 ? ReadStatusCode() : default;
        DateTime? source = (mask & 0x04) != 0 ? ReadDateTime() : null;
        ushort sourcePs = (mask & 0x10) != 0 ? ReadUInt16() : (ushort)0;
        DateTime? server = (mask & 0x08) != 0 ? ReadDateTime() : null;
        ushort serverPs = (mask & 0x20) != 0 ? ReadUInt16() : (ushort)0;
        _depth--;
        return new DataValue
        {
            Value = value,
            Status = status,
            SourceTimestamp = source,
            SourcePicoseconds = sourcePs,
            ServerTimestamp = server,
            ServerPicoseconds = serverPs,
        };
    }

    public DiagnosticInfo ReadDiagnosticInfo()
    {
        Enter();
        int at = Offset;
        byte mask = ReadByte();
        if ((mask & 0x80) != 0)
            Throw.Decoding($"DiagnosticInfo mask 0x{mask:X2} has unknown bits", at);
        int? symbolic = (mask & 0x01) != 0 ? ReadInt32() : null;
        int? ns = (mask & 0x02) != 0 ? ReadInt32() : null;
        int? locale = (mask & 0x08) != 0 ? ReadInt32() : null;
        int? text = (mask & 0x04) != 0 ? ReadInt32() : null;
        string? info = (mask & 0x10) != 0 ? ReadString() : null;
        StatusCode? inner = (mask & 0x20) != 0 ? ReadStatusCode() : null;
        DiagnosticInfo? innerInfo = (mask & 0x40) != 0 ? ReadDiagnosticInfo() : null;
        _depth--;
        return new DiagnosticInfo(symbolic, ns, locale, text, info, inner, innerInfo);
    }

    public Variant ReadVariant()
    {
        Enter();
        int at = Offset;
        byte mask = ReadByte();
        var type = (BuiltInType)(mask & 0x3F);
        if ((byte)type > (byte)BuiltInType.DiagnosticInfo)
            Throw.Decoding($"Variant built-in type {(byte)type} is unknown", at);
        Variant result;
        if ((mask & 0x80) == 0)
        {
            if ((mask & 0x40) != 0)
                Throw.Decoding("Variant has array dimensions but no array", at);
            result = type == BuiltInType.Null ? Variant.Null : new Variant(type, ReadScalar(type));
        }
        else
        {
            int countAt = Offset;
            int count = ReadInt32();
            int checkedCount = CheckCount(count, type, countAt);
            Array? array = count < 0 ? null : ReadArrayOf(type, checkedCount);
            int[]? dims = null;
            if ((mask & 0x40) != 0)
            {
                int dimsAt = Offset;
                int nd = CheckCount(ReadInt32(), BuiltInType.Int32, dimsAt);
                dims = new int[nd];
                long product = 1;
                for (int i = 0; i < nd; i++)
                {
                    dims[i] = ReadInt32();
                    if (dims[i] < 0)
                        Throw.Decoding($"Variant array dimension {i} is negative ({dims[i]})", dimsAt);
                    product *= dims[i];
                    if (product > _limits.MaxArrayLength)
                        Throw.DecodingLimit($"Variant matrix of {product}+ elements exceeds MaxArrayLength {_limits.MaxArrayLength}", dimsAt);
                }
                if (nd > 0 && product != (array?.Length ?? 0))
                    Throw.Decoding($"Variant matrix dimensions multiply to {product} but the array has {array?.Length ?? 0} elements", dimsAt);
            }
            result = new Variant(type == BuiltInType.Null ? BuiltInType.Null : type, array, dims);
        }
        _depth--;
        return result;
    }

    private int CheckCount(int count, BuiltInType type, int at)
    {
        if (count < 0)
        {
            if (count != -1)
                Throw.Decoding($"array length {count} is negative", at);
            return 0;
        }
        if (count > _limits.MaxArrayLength)
            Throw.DecodingLimit($"array length {count} exceeds MaxArrayLength {_limits.MaxArrayLength}", at);
        int min = MinSize(type);
        if ((long)count * min > Remaining)
            Throw.Decoding($"array of {count} {type} needs at least {(long)count * min} bytes but {Remaining} remain", at);
        return count;
    }

    private static int MinSize(BuiltInType t) => t switch
    {
        BuiltInType.Boolean or BuiltInType.SByte or BuiltInType.Byte => 1,
        BuiltInType.Int16 or BuiltInType.UInt16 => 2,
        BuiltInType.Int32 or BuiltInType.UInt32 or BuiltInType.Float or BuiltInType.StatusCode => 4,
        BuiltInType.Int64 or BuiltInType.UInt64 or BuiltInType.Double or BuiltInType.DateTime => 8,
        BuiltInType.Guid => 16,
        BuiltInType.String or BuiltInType.ByteString or BuiltInType.XmlElement => 4,
        BuiltInType.NodeId or BuiltInType.ExpandedNodeId or BuiltInType.QualifiedName => 2,
        _ => 1,
    };

    private Array ReadArrayOf(BuiltInType type, int n)
    {
        switch (type)
        {
            case BuiltInType.Boolean: return Fill(new bool[n], d => d.ReadBoolean());
            case BuiltInType.SByte: return Fill(new sbyte[n], d => d.ReadSByte());
            case BuiltInType.Byte: return ReadRaw(n).ToArray();
            case BuiltInType.Int16: return Fill(new short[n], d => d.ReadInt16());
            case BuiltInType.UInt16: return Fill(new ushort[n], d => d.ReadUInt16());
            case BuiltInType.Int32: return Fill(new int[n], d => d.ReadInt32());
            case BuiltInType.UInt32: return Fill(new uint[n], d => d.ReadUInt32());
            case BuiltInType.Int64: return Fill(new long[n], d => d.ReadInt64());
            case BuiltInType.UInt64: return Fill(new ulong[n], d => d.ReadUInt64());
            case BuiltInType.Float: return Fill(new float[n], d => d.ReadFloat());
            case BuiltInType.Double: return Fill(new double[n], d => d.ReadDouble());
            case BuiltInType.String: return Fill(new string?[n], d => d.ReadString());
            case BuiltInType.XmlElement: return Fill(new string?[n], d => d.ReadString());
            case BuiltInType.DateTime: return Fill(new DateTime[n], d => d.ReadDateTime());
            case BuiltInType.Guid: return Fill(new Guid[n], d => d.ReadGuid());
            case BuiltInType.ByteString: return Fill(new byte[]?[n], d => d.ReadByteString());
            case BuiltInType.NodeId: return Fill(new NodeId[n], d => d.ReadNodeId());
            case BuiltInType.ExpandedNodeId: return Fill(new ExpandedNodeId[n], d => d.ReadExpandedNodeId());
            case BuiltInType.StatusCode: return Fill(new StatusCode[n], d => d.ReadStatusCode());
            case BuiltInType.QualifiedName: return Fill(new QualifiedName[n], d => d.ReadQualifiedName());
            case BuiltInType.LocalizedText: return Fill(new LocalizedText[n], d => d.ReadLocalizedText());
            case BuiltInType.ExtensionObject: return Fill(new ExtensionObject[n], d => d.ReadExtensionObject());
            case BuiltInType.DataValue: return Fill(new DataValue[n], d => d.ReadDataValue());
            case BuiltInType.Variant: return Fill(new Variant[n], d => d.ReadVariant());
            case BuiltInType.DiagnosticInfo: return Fill(new DiagnosticInfo[n], d => d.ReadDiagnosticInfo());
            default:
                if (n != 0)
                    Throw.Decoding("array of Null type has elements", Offset);
                return Array.Empty<object>();
        }
    }

    private T[] Fill<T>(T[] array, Func<BinaryDecoder, T> read)
    {
        for (int i = 0; i < array.Length; i++)
            array[i] = read(this);
        return array;
    }

    private object? ReadScalar(BuiltInType type) => type switch
    {
        BuiltInType.Boolean => ReadBoolean(),
        BuiltInType.SByte => ReadSByte(),
        BuiltInType.Byte => ReadByte(),
        BuiltInType.Int16 => ReadInt16(),
        BuiltInType.UInt16 => ReadUInt16(),
        BuiltInType.Int32 => ReadInt32(),
        BuiltInType.UInt32 => ReadUInt32(),
        BuiltInType.Int64 => ReadInt64(),
        BuiltInType.UInt64 => ReadUInt64(),
        BuiltInType.Float => ReadFloat(),
        BuiltInType.Double => ReadDouble(),
        BuiltInType.String => ReadString(),
        BuiltInType.XmlElement => ReadString(),
        BuiltInType.DateTime => ReadDateTime(),
        BuiltInType.Guid => ReadGuid(),
        BuiltInType.ByteString => ReadByteString(),
        BuiltInType.NodeId => ReadNodeId(),
        BuiltInType.ExpandedNodeId => ReadExpandedNodeId(),
        BuiltInType.StatusCode => ReadStatusCode(),
        BuiltInType.QualifiedName => ReadQualifiedName(),
        BuiltInType.LocalizedText => ReadLocalizedText(),
        BuiltInType.ExtensionObject => ReadExtensionObject(),
        BuiltInType.DataValue => ReadDataValue(),
        BuiltInType.Variant => ReadVariant(),
        BuiltInType.DiagnosticInfo => ReadDiagnosticInfo(),
        _ => null,
    };

    /// <summary>Reads an array of structures or built-ins; null arrays come back empty.</summary>
    public T[] ReadArray<T>(Func<BinaryDecoder, T> read, BuiltInType minSizeHint = BuiltInType.Byte)
    {
        int at = Offset;
        int count = ReadInt32();
        count = CheckCount(count, minSizeHint, at);
        var result = new T[count];
        for (int i = 0; i < count; i++)
            result[i] = read(this);
        return result;
    }

    public T[] ReadEncodeableArray<T>() where T : IEncodeable, new() => ReadArray(static d => d.ReadEncodeable<T>());

    private void Enter()
    {
        if (++_depth > _limits.MaxNestingDepth)
            Throw.DecodingLimit($"nesting deeper than MaxNestingDepth {_limits.MaxNestingDepth}", Offset);
    }
}
