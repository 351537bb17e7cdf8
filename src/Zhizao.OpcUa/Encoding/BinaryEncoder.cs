using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Zhizao.OpcUa;

/// <summary>Writes the OPC UA binary encoding (Part 6, 5.2) into a growable pooled buffer.</summary>
public sealed class BinaryEncoder : IDisposable
{
    private byte[] _buffer;
    private int _position;
    private int _depth;
    private readonly OpcUaLimits _limits;

    public BinaryEncoder(OpcUaLimits? limits = null, int initialCapacity = 256)
    {
        _limits = limits ?? OpcUaLimits.Default;
        _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    public int Position
    {
        get => _position;
        set
        {
            Ensure(value - _position);
            _position = value;
        }
    }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _position);
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _position);
    internal byte[] Buffer => _buffer;

    public byte[] ToArray() => WrittenSpan.ToArray();

    public void Dispose()
    {
        byte[] b = _buffer;
        _buffer = [];
        if (b.Length > 0)
            ArrayPool<byte>.Shared.Return(b);
    }

    private Span<byte> Take(int n)
    {
        if (_buffer.Length - _position < n)
            Grow(n);
        var span = _buffer.AsSpan(_position, n);
        _position += n;
        return span;
    }

    private void Ensure(int n)
    {
        if (n > 0 && _buffer.Length - _position < n)
            Grow(n);
    }

    private void Grow(int n)
    {
        int size = Math.Max(_buffer.Length * 2, _position + n);
        byte[] next = ArrayPool<byte>.Shared.Rent(size);
        _buffer.AsSpan(0, _position).CopyTo(next);
        if (_buffer.Length > 0)
            ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }

    public void WriteBoolean(bool v) => Take(1)[0] = v ? (byte)1 : (byte)0;
    public void WriteSByte(sbyte v) => Take(1)[0] = (byte)v;
    public void WriteByte(byte v) => Take(1)[0] = v;
    public void WriteInt16(short v) => BinaryPrimitives.WriteInt16LittleEndian(Take(2), v);
    public void WriteUInt16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
    public void WriteInt32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
    public void WriteUInt32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
    public void WriteInt64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);
    public void WriteUInt64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);
    public void WriteFloat(float v) => BinaryPrimitives.WriteSingleLittleEndian(Take(4), v);
    public void WriteDouble(double v) => BinaryPrimitives.WriteDoubleLittleEndian(Take(8), v);
    public void WriteStatusCode(StatusCode v) => WriteUInt32(v.Code);
    public void WriteRaw(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Take(bytes.Length));

    public void WriteString(string? v)
    {
        if (v is null)
        {
            WriteInt32(-1);
            return;
        }
        int n = Encoding.UTF8.GetByteCount(v);
        if (n > _limits.MaxStringLength)
            Throw.EncodingLimit($"String of {n} bytes exceeds MaxStringLength {_limits.MaxStringLength}");
        WriteInt32(n);
        Encoding.UTF8.GetBytes(v, Take(n));
    }

    public void WriteByteString(ReadOnlySpan<byte> v, bool isNull = false)
    {
        if (isNull)
        {
            WriteInt32(-1);
            return;
        }
        if (v.Length > _limits.MaxByteStringLength)
            Throw.EncodingLimit($"ByteString of {v.Length} bytes exceeds MaxByteStringLength {_limits.MaxByteStringLength}");
        WriteInt32(v.Length);
        WriteRaw(v);
    }

    public void WriteByteString(byte[]? v) => WriteByteString(v, v is null);

    /// <summary>UTC ticks since 1601-01-01 in 100 ns; MinValue encodes as 0, MaxValue as Int64.MaxValue.</summary>
    public void WriteDateTime(DateTime v) => WriteInt64(ToUaTicks(v));

    internal static long ToUaTicks(DateTime v)
    {
        if (v == DateTime.MinValue)
            return 0;
        if (v == DateTime.MaxValue)
            return long.MaxValue;
        long ticks = v.ToUniversalTime().Ticks - DateTime.FromFileTimeUtc(0).Ticks;
        return ticks < 0 ? 0 : ticks;
    }

    public void WriteGuid(Guid v)
    {
        if (!v.TryWriteBytes(Take(16)))
            throw new InvalidOperationException("GUID did not fit 16 bytes");
    }

    public void WriteNodeId(NodeId? v) => WriteNodeId(v ?? NodeId.Null, 0);

    private void WriteNodeId(NodeId v, byte flags)
    {
        switch (v.IdType)
        {
            case IdType.Numeric when v.NamespaceIndex == 0 && v.NumericId <= 0xFF:
                WriteByte(flags);
                WriteByte((byte)v.NumericId);
                break;
            case IdType.Numeric when v.NamespaceIndex <= 0xFF && v.NumericId <= 0xFFFF:
                WriteByte((byte)(0x01 | flags));
                WriteByte((byte)v.NamespaceIndex);
                WriteUInt16((ushort)v.NumericId);
                break;
            case IdType.Numeric:
                WriteByte((byte)(0x02 | flags));
                WriteUInt16(v.NamespaceIndex);
                WriteUInt32(v.NumericId);
                break;
            case IdType.String:
                WriteByte((byte)(0x03 | flags));
                WriteUInt16(v.NamespaceIndex);
                WriteString(v.StringId);
                break;
            case IdType.Guid:
                WriteByte((byte)(0x04 | flags));
                WriteUInt16(v.NamespaceIndex);
                WriteGuid(v.GuidId);
                break;
            default:
                WriteByte((byte)(0x05 | flags));
                WriteUInt16(v.NamespaceIndex);
                WriteByteString(v.OpaqueId);
                break;
        }
    }

    public void WriteExpandedNodeId(ExpandedNodeId? v)
    {
        v ??= ExpandedNodeId.Null;
        byte flags = (byte)((v.NamespaceUri is not null ? 0x80 : 0) | (v.ServerIndex != 0 ? 0x40 : 0));
        WriteNodeId(v.NodeId, flags);
        if (v.NamespaceUri is not null)
            WriteString(v.NamespaceUri);
        if (v.ServerIndex != 0)
            WriteUInt32(v.ServerIndex);
    }

    public void WriteQualifiedName(QualifiedName? v)
    {
        WriteUInt16(v?.NamespaceIndex ?? 0);
        WriteString(v?.Name);
    }

    public void WriteLocalizedText(LocalizedText? v)
    {
        byte mask = (byte)((v?.Locale is not null ? 1 : 0) | (v?.Text is not null ? 2 : 0));
        WriteByte(mask);
        if (v?.Locale is not null)
            WriteString(v.Locale);
        if (v?.Text is not null)
            WriteString(v.Text);
    }

    public void WriteExtensionObject(ExtensionObject? v)
    {
        v ??= ExtensionObject.Null;
        Enter();
        switch (v.Body)
        {
            case null:
                WriteNodeId(v.TypeId);
                WriteByte(0);
                break;
            case IEncodeable e:
                WriteNodeId(e.BinaryEncodingId);
                WriteByte(1);
                int lengthAt = _position;
                WriteInt32(0);
                e.Encode(this);
                BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(lengthAt), _position - lengthAt - 4);
                break;
            case byte[] raw:
                WriteNodeId(v.TypeId);
                WriteByte(1);
                WriteByteString(raw);
                break;
            case string xml:
                WriteNodeId(v.TypeId);
                WriteByte(2);
                WriteString(xml);
                break;
            default:
                Throw.Encoding($"ExtensionObject body of type {v.Body.GetType().Name} cannot be encoded");
                break;
        }
        _depth--;
    }

    public void WriteEncodeable(IEncodeable v) => v.Encode(this);

    public void WriteDataValue(DataValue? v)
    {
        if (v is null)
        {
            WriteByte(0);
            return;
        }
        Enter();
        byte mask = 0;
        if (!v.Value.IsNull)
            mask |= 0x01;
        if (v.Status.Code != 0)
            mask |= 0x02;
        if (v.SourceTimestamp is not null)
            mask |= 0x04;
        if (v.ServerTimestamp is not null)
            mask |= 0x08;
        if (v.SourcePicoseconds != 0)
            mask |= 0x10;
        if (v.ServerPicoseconds != 0)
            mask |= 0x20;
        WriteByte(mask);
        if ((mask & 0x01) != 0)
            WriteVariant(v.Value);
        if ((mask & 0x02) != 0)
            WriteStatusCode(v.Status);
        if ((mask & 0x04) != 0)
            WriteDateTime(v.SourceTimestamp!.Value);
        if ((mask & 0x10) != 0)
            WriteUInt16(v.SourcePicoseconds);
        if ((mask & 0x08) != 0)
            WriteDateTime(v.ServerTimestamp!.Value);
        if ((mask & 0x20) != 0)
            WriteUInt16(v.ServerPicoseconds);
        _depth--;
    }

    public void WriteDiagnosticInfo(DiagnosticInfo? v)
    {
        if (v is null)
        {
            WriteByte(0);
            return;
        }
        Enter();
        byte mask = (byte)((v.SymbolicId is not null ? 0x01 : 0) | (v.NamespaceUri is not null ? 0x02 : 0)
            | (v.LocalizedText is not null ? 0x04 : 0) | (v.Locale is not null ? 0x08 : 0)
            | (v.AdditionalInfo is not null ? 0x10 : 0) | (v.InnerStatusCode is not null ? 0x20 : 0)
            | (v.InnerDiagnosticInfo is not null ? 0x40 : 0));
        WriteByte(mask);
        if (v.SymbolicId is { } s)
            WriteInt32(s);
        if (v.NamespaceUri is { } n)
            WriteInt32(n);
        if (v.Locale is { } l)
            WriteInt32(l);
        if (v.LocalizedText is { } t)
            WriteInt32(t);
        if (v.AdditionalInfo is not null)
            WriteString(v.AdditionalInfo);
        if (v.InnerStatusCode is { } c)
            WriteStatusCode(c);
        if (v.InnerDiagnosticInfo is not null)
            WriteDiagnosticInfo(v.InnerDiagnosticInfo);
        _depth--;
    }

    public void WriteVariant(Variant v)
    {
        if (v.IsNull)
        {
            WriteByte(0);
            return;
        }
        Enter();
        byte type = (byte)v.Type;
        if (v.Value is Array array && v.Type != BuiltInType.ByteString || v.Value is byte[][])
        {
            var a = (Array)v.Value!;
            if (a.Length > _limits.MaxArrayLength)
                Throw.EncodingLimit($"array of {a.Length} elements exceeds MaxArrayLength {_limits.MaxArrayLength}");
            WriteByte((byte)(type | 0x80 | (v.Dimensions is not null ? 0x40 : 0)));
            WriteInt32(a.Length);
            for (int i = 0; i < a.Length; i++)
                WriteScalar(v.Type, a.GetValue(i));
            if (v.Dimensions is not null)
            {
                WriteInt32(v.Dimensions.Length);
                foreach (int d in v.Dimensions)
                    WriteInt32(d);
            }
        }
        else
        {
            WriteByte(type);
            WriteScalar(v.Type, v.Value);
        }
        _depth--;
    }

    private void WriteScalar(BuiltInType type, object? value)
    {
        try
        {
            switch (type)
            {
                case BuiltInType.Boolean: WriteBoolean((bool)value!); break;
                case BuiltInType.SByte: WriteSByte((sbyte)value!); break;
                case BuiltInType.Byte: WriteByte((byte)value!); break;
                case BuiltInType.Int16: WriteInt16((short)value!); break;
                case BuiltInType.UInt16: WriteUInt16((ushort)value!); break;
                case BuiltInType.Int32: WriteInt32((int)value!); break;
                case BuiltInType.UInt32: WriteUInt32((uint)value!); break;
                case BuiltInType.Int64: WriteInt64((long)value!); break;
                case BuiltInType.UInt64: WriteUInt64((ulong)value!); break;
                case BuiltInType.Float: WriteFloat((float)value!); break;
                case BuiltInType.Double: WriteDouble((double)value!); break;
                case BuiltInType.String: WriteString((string?)value); break;
                case BuiltInType.XmlElement: WriteString((string?)value); break;
                case BuiltInType.DateTime: WriteDateTime((DateTime)value!); break;
                case BuiltInType.Guid: WriteGuid((Guid)value!); break;
                case BuiltInType.ByteString: WriteByteString((byte[]?)value); break;
                case BuiltInType.NodeId: WriteNodeId((NodeId?)value); break;
                case BuiltInType.ExpandedNodeId: WriteExpandedNodeId((ExpandedNodeId?)value); break;
                case BuiltInType.StatusCode: WriteStatusCode((StatusCode)value!); break;
                case BuiltInType.QualifiedName: WriteQualifiedName((QualifiedName?)value); break;
                case BuiltInType.LocalizedText: WriteLocalizedText((LocalizedText?)value); break;
                case BuiltInType.ExtensionObject: WriteExtensionObject((ExtensionObject?)value); break;
                case BuiltInType.DataValue: WriteDataValue((DataValue?)value); break;
                case BuiltInType.Variant: WriteVariant((Variant)value!); break;
                case BuiltInType.DiagnosticInfo: WriteDiagnosticInfo((DiagnosticInfo?)value); break;
                default: Throw.Encoding($"built-in type {(byte)type} cannot be encoded in a Variant"); break;
            }
        }
        catch (Exception e) when (e is InvalidCastException or NullReferenceException)
        {
            Throw.Encoding($"Variant of type {type} holds a {value?.GetType().Name ?? "null"}");
        }
    }

    public void WriteArray<T>(IReadOnlyList<T>? items, Action<BinaryEncoder, T> write)
    {
        if (items is null)
        {
            WriteInt32(-1);
            return;
        }
        if (items.Count > _limits.MaxArrayLength)
            Throw.EncodingLimit($"array of {items.Count} elements exceeds MaxArrayLength {_limits.MaxArrayLength}");
        WriteInt32(items.Count);
        for (int i = 0; i < items.Count; i++)
            write(this, items[i]);
    }

    public void WriteEncodeableArray<T>(IReadOnlyList<T>? items) where T : IEncodeable =>
        WriteArray(items, static (e, v) => v.Encode(e));

    private void Enter()
    {
        if (++_depth > _limits.MaxNestingDepth)
        {
            _depth = 0;
            Throw.EncodingLimit($"nesting deeper than MaxNestingDepth {_limits.MaxNestingDepth}");
        }
    }
}
