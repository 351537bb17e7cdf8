using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Zhizao.Mqtt.Sparkplug;

/// <summary>Sparkplug B metric data types (the numbering of sparkplug_b.proto and the Sparkplug 3.0 specification).</summary>
public enum SparkplugDataType : uint
{
    Unknown = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    UInt8 = 5,
    UInt16 = 6,
    UInt32 = 7,
    UInt64 = 8,
    Float = 9,
    Double = 10,
    Boolean = 11,
    String = 12,
    DateTime = 13,
    Text = 14,
    UUID = 15,
    DataSet = 16,
    Bytes = 17,
    File = 18,
    Template = 19,
}

/// <summary>Which field of the metric's <c>value</c> oneof was present.</summary>
public enum SparkplugValueCase : byte
{
    None = 0,
    Int = 10,
    Long = 11,
    Float = 12,
    Double = 13,
    Boolean = 14,
    String = 15,
    Bytes = 16,
    DataSet = 17,
    Template = 18,
    Extension = 19,
}

/// <summary>
/// One metric of a Sparkplug B payload. Scalar values only: data sets, templates, properties and metadata are skipped
/// by the decoder (their bytes are checked for well-formedness, not interpreted).
/// </summary>
public sealed class SparkplugMetric
{
    public string? Name { get; set; }
    public ulong? Alias { get; set; }

    /// <summary>Unix milliseconds.</summary>
    public ulong? Timestamp { get; set; }
    public SparkplugDataType? DataType { get; set; }
    public bool IsHistorical { get; set; }
    public bool IsTransient { get; set; }
    public bool IsNull { get; set; }
    public SparkplugValueCase ValueCase { get; set; }

    /// <summary>int_value (uint32), long_value (uint64) or boolean_value as raw bits.</summary>
    public ulong IntegerBits { get; set; }
    public float FloatValue { get; set; }
    public double DoubleValue { get; set; }
    public string? StringValue { get; set; }
    public byte[]? BytesValue { get; set; }

    public static SparkplugMetric Of(string? name, ulong? alias, SparkplugDataType type, object? value, ulong? timestamp = null)
    {
        var m = new SparkplugMetric { Name = name, Alias = alias, DataType = type, Timestamp = timestamp };
        switch (value)
        {
            case null: m.IsNull = true; break;
            case bool b: m.ValueCase = SparkplugValueCase.Boolean; m.IntegerBits = b ? 1UL : 0UL; break;
            case float f: m.ValueCase = SparkplugValueCase.Float; m.FloatValue = f; break;
            case double d: m.ValueCase = SparkplugValueCase.Double; m.DoubleValue = d; break;
            case string s: m.ValueCase = SparkplugValueCase.String; m.StringValue = s; break;
            case byte[] bytes: m.ValueCase = SparkplugValueCase.Bytes; m.BytesValue = bytes; break;
            case long l when type is SparkplugDataType.Int64 or SparkplugDataType.UInt64 or SparkplugDataType.DateTime:
                m.ValueCase = SparkplugValueCase.Long; m.IntegerBits = unchecked((ulong)l); break;
            case ulong ul: m.ValueCase = SparkplugValueCase.Long; m.IntegerBits = ul; break;
            case long l: m.ValueCase = SparkplugValueCase.Int; m.IntegerBits = unchecked((uint)l); break;
            case int i: m.ValueCase = SparkplugValueCase.Int; m.IntegerBits = unchecked((uint)i); break;
            default: throw new ArgumentException($"unsupported metric value type {value.GetType().Name}", nameof(value));
        }

        return m;
    }
}

/// <summary>A Sparkplug B payload (<c>org.eclipse.tahu.protobuf.Payload</c>): timestamp, metrics, seq, uuid, body.</summary>
public sealed class SparkplugPayload
{
    public ulong? Timestamp { get; set; }
    public List<SparkplugMetric> Metrics { get; } = [];
    public ulong? Seq { get; set; }
    public string? Uuid { get; set; }
    public byte[]? Body { get; set; }
}

/// <summary>A payload that is not a well-formed Sparkplug B protobuf: <see cref="Offset"/> is the byte where decoding stopped.</summary>
public sealed class SparkplugFormatException(string message, int offset) : Exception($"{message} (at byte {offset})")
{
    public int Offset { get; } = offset;
}

/// <summary>
/// Protobuf wire-format codec for Sparkplug B payloads, written against the field numbers of the official
/// sparkplug_b.proto (proto2). The decoder treats the payload as hostile: every varint is at most 10 bytes, every
/// length is checked against the bytes left, groups (wire types 3/4) are refused, and the metric count is capped by
/// <see cref="MaxMetrics"/>. Unknown fields are skipped, as protobuf requires.
/// </summary>
public static class SparkplugCodec
{
    /// <summary>Most metrics accepted in one payload.</summary>
    public const int MaxMetrics = 100_000;

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    public static SparkplugPayload Decode(ReadOnlySpan<byte> data)
    {
        var p = new SparkplugPayload();
        int pos = 0;
        while (pos < data.Length)
        {
            int tagAt = pos;
            ulong key = ReadVarint(data, ref pos);
            int field = CheckField(key, tagAt);
            int wire = (int)(key & 7);
            switch (field)
            {
                case 1 when wire == 0: p.Timestamp = ReadVarint(data, ref pos); break;
                case 2 when wire == 2:
                    if (p.Metrics.Count >= MaxMetrics)
                    {
                        throw new SparkplugFormatException($"more than {MaxMetrics} metrics (limit MaxMetrics)", tagAt);
                    }

                    var span = ReadLengthDelimited(data, ref pos);
                    p.Metrics.Add(DecodeMetric(span, pos - span.Length));
                    break;
                case 3 when wire == 0: p.Seq = ReadVarint(data, ref pos); break;
                case 4 when wire == 2: p.Uuid = ReadString(data, ref pos); break;
                case 5 when wire == 2: p.Body = ReadLengthDelimited(data, ref pos).ToArray(); break;
                default: Skip(data, ref pos, wire, tagAt); break;
            }
        }

        return p;
    }

    private static SparkplugMetric DecodeMetric(ReadOnlySpan<byte> data, int baseOffset)
    {
        var m = new SparkplugMetric();
        int pos = 0;
        try
        {
            while (pos < data.Length)
            {
                int tagAt = pos;
                ulong key = ReadVarint(data, ref pos);
                int field = CheckField(key, tagAt);
                int wire = (int)(key & 7);
                switch (field)
                {
                    case 1 when wire == 2: m.Name = ReadString(data, ref pos); break;
                    case 2 when wire == 0: m.Alias = ReadVarint(data, ref pos); break;
                    case 3 when wire == 0: m.Timestamp = ReadVarint(data, ref pos); break;
                    case 4 when wire == 0: m.DataType = (SparkplugDataType)(uint)ReadVarint(data, ref pos); break;
                    case 5 when wire == 0: m.IsHistorical = ReadVarint(data, ref pos) != 0; break;
                    case 6 when wire == 0: m.IsTransient = ReadVarint(data, ref pos) != 0; break;
                    case 7 when wire == 0: m.IsNull = ReadVarint(data, ref pos) != 0; break;
                    case 10 when wire == 0: m.ValueCase = SparkplugValueCase.Int; m.IntegerBits = (uint)ReadVarint(data, ref pos); break;
                    case 11 when wire == 0: m.ValueCase = SparkplugValueCase.Long; m.IntegerBits = ReadVarint(data, ref pos); break;
                    case 12 when wire == 5:
                        Need(data, pos, 4);
                        m.ValueCase = SparkplugValueCase.Float;
                        m.FloatValue = BinaryPrimitives.ReadSingleLittleEndian(data[pos..]);
                        pos += 4;
                        break;
                    case 13 when wire == 1:
                        Need(data, pos, 8);
                        m.ValueCase = SparkplugValueCase.Double;
                        m.DoubleValue = BinaryPrimitives.ReadDoubleLittleEndian(data[pos..]);
                        pos += 8;
                        break;
                    case 14 when wire == 0: m.ValueCase = SparkplugValueCase.Boolean; m.IntegerBits = ReadVarint(data, ref pos) != 0 ? 1UL : 0UL; break;
                    case 15 when wire == 2: m.ValueCase = SparkplugValueCase.String; m.StringValue = ReadString(data, ref pos); break;
                    case 16 when wire == 2: m.ValueCase = SparkplugValueCase.Bytes; m.BytesValue = ReadLengthDelimited(data, ref pos).ToArray(); break;
                    case 17 when wire == 2: m.ValueCase = SparkplugValueCase.DataSet; ReadLengthDelimited(data, ref pos); break;
                    case 18 when wire == 2: m.ValueCase = SparkplugValueCase.Template; ReadLengthDelimited(data, ref pos); break;
                    case 19 when wire == 2: m.ValueCase = SparkplugValueCase.Extension; ReadLengthDelimited(data, ref pos); break;
                    default: Skip(data, ref pos, wire, tagAt); break;
                }
            }
        }
        catch (SparkplugFormatException e)
        {
            throw new SparkplugFormatException("metric: " + e.Message[..e.Message.LastIndexOf(" (at byte", StringComparison.Ordinal)], baseOffset + e.Offset);
        }

        return m;
    }

    private static int CheckField(ulong key, int at)
    {
        ulong field = key >> 3;
        if (field == 0 || field > 536_870_911)
        {
            throw new SparkplugFormatException($"invalid field number {field}", at);
        }

        return (int)field;
    }

    private static void Skip(ReadOnlySpan<byte> data, ref int pos, int wire, int tagAt)
    {
        switch (wire)
        {
            case 0: ReadVarint(data, ref pos); break;
            case 1: Need(data, pos, 8); pos += 8; break;
            case 2: ReadLengthDelimited(data, ref pos); break;
            case 5: Need(data, pos, 4); pos += 4; break;
            default: throw new SparkplugFormatException($"unsupported wire type {wire}", tagAt);
        }
    }

    private static void Need(ReadOnlySpan<byte> data, int pos, int n)
    {
        if (data.Length - pos < n)
        {
            throw new SparkplugFormatException($"field needs {n} bytes, {data.Length - pos} left", pos);
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong result = 0;
        int start = pos;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (pos >= data.Length)
            {
                throw new SparkplugFormatException("truncated varint", start);
            }

            byte b = data[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw new SparkplugFormatException("varint longer than 10 bytes", start);
    }

    private static ReadOnlySpan<byte> ReadLengthDelimited(ReadOnlySpan<byte> data, ref int pos)
    {
        int at = pos;
        ulong len = ReadVarint(data, ref pos);
        if (len > (ulong)(data.Length - pos))
        {
            throw new SparkplugFormatException($"length {len} exceeds the {data.Length - pos} bytes left", at);
        }

        var s = data.Slice(pos, (int)len);
        pos += (int)len;
        return s;
    }

    private static string ReadString(ReadOnlySpan<byte> data, ref int pos)
    {
        int at = pos;
        var bytes = ReadLengthDelimited(data, ref pos);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new SparkplugFormatException("string is not UTF-8", at);
        }
    }

    // ---- encoder ----

    public static byte[] Encode(SparkplugPayload payload)
    {
        var w = new ArrayBufferWriter<byte>(256 + payload.Metrics.Count * 32);
        Encode(payload, w);
        return w.WrittenSpan.ToArray();
    }

    public static void Encode(SparkplugPayload payload, IBufferWriter<byte> w)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Timestamp is ulong ts)
        {
            WriteTag(w, 1, 0);
            WriteVarint(w, ts);
        }

        var metric = new ArrayBufferWriter<byte>(64);
        foreach (var m in payload.Metrics)
        {
            metric.ResetWrittenCount();
            EncodeMetric(m, metric);
            WriteTag(w, 2, 2);
            WriteVarint(w, (ulong)metric.WrittenCount);
            w.Write(metric.WrittenSpan);
        }

        if (payload.Seq is ulong seq)
        {
            WriteTag(w, 3, 0);
            WriteVarint(w, seq);
        }

        if (payload.Uuid is string uuid)
        {
            WriteBytes(w, 4, Encoding.UTF8.GetBytes(uuid));
        }

        if (payload.Body is byte[] body)
        {
            WriteBytes(w, 5, body);
        }
    }

    private static void EncodeMetric(SparkplugMetric m, ArrayBufferWriter<byte> w)
    {
        if (m.Name is string name)
        {
            WriteBytes(w, 1, Encoding.UTF8.GetBytes(name));
        }

        if (m.Alias is ulong alias)
        {
            WriteTag(w, 2, 0);
            WriteVarint(w, alias);
        }

        if (m.Timestamp is ulong ts)
        {
            WriteTag(w, 3, 0);
            WriteVarint(w, ts);
        }

        if (m.DataType is SparkplugDataType dt)
        {
            WriteTag(w, 4, 0);
            WriteVarint(w, (uint)dt);
        }

        if (m.IsHistorical)
        {
            WriteTag(w, 5, 0);
            WriteVarint(w, 1);
        }

        if (m.IsTransient)
        {
            WriteTag(w, 6, 0);
            WriteVarint(w, 1);
        }

        if (m.IsNull)
        {
            WriteTag(w, 7, 0);
            WriteVarint(w, 1);
            return;
        }

        switch (m.ValueCase)
        {
            case SparkplugValueCase.Int: WriteTag(w, 10, 0); WriteVarint(w, (uint)m.IntegerBits); break;
            case SparkplugValueCase.Long: WriteTag(w, 11, 0); WriteVarint(w, m.IntegerBits); break;
            case SparkplugValueCase.Float:
                WriteTag(w, 12, 5);
                BinaryPrimitives.WriteSingleLittleEndian(w.GetSpan(4), m.FloatValue);
                w.Advance(4);
                break;
            case SparkplugValueCase.Double:
                WriteTag(w, 13, 1);
                BinaryPrimitives.WriteDoubleLittleEndian(w.GetSpan(8), m.DoubleValue);
                w.Advance(8);
                break;
            case SparkplugValueCase.Boolean: WriteTag(w, 14, 0); WriteVarint(w, m.IntegerBits != 0 ? 1UL : 0UL); break;
            case SparkplugValueCase.String: WriteBytes(w, 15, Encoding.UTF8.GetBytes(m.StringValue ?? "")); break;
            case SparkplugValueCase.Bytes: WriteBytes(w, 16, m.BytesValue ?? []); break;
            case SparkplugValueCase.None: break;
            default: throw new ArgumentException($"metric '{m.Name}': cannot encode a {m.ValueCase} value", nameof(m));
        }
    }

    private static void WriteTag(IBufferWriter<byte> w, int field, int wire) => WriteVarint(w, ((ulong)field << 3) | (uint)wire);

    private static void WriteBytes(IBufferWriter<byte> w, int field, ReadOnlySpan<byte> bytes)
    {
        WriteTag(w, field, 2);
        WriteVarint(w, (ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteVarint(IBufferWriter<byte> w, ulong v)
    {
        var span = w.GetSpan(10);
        int i = 0;
        while (v >= 0x80)
        {
            span[i++] = (byte)(v | 0x80);
            v >>= 7;
        }

        span[i++] = (byte)v;
        w.Advance(i);
    }
}

/// <summary>The message types of the Sparkplug B topic namespace.</summary>
public enum SparkplugMessageType
{
    NBIRTH,
    NDEATH,
    DBIRTH,
    DDEATH,
    NDATA,
    DDATA,
    NCMD,
    DCMD,
    STATE,
}

/// <summary>
/// A parsed Sparkplug B topic: <c>spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]</c>, or
/// <c>spBv1.0/STATE/{host_id}</c> (Sparkplug 3.0).
/// </summary>
public readonly record struct SparkplugTopic(SparkplugMessageType Type, string GroupId, string EdgeNodeId, string? DeviceId)
{
    public const string Namespace = "spBv1.0";

    /// <summary>For STATE topics, the host id is in <see cref="EdgeNodeId"/> and the group is empty.</summary>
    public static bool TryParse(string topic, out SparkplugTopic result, out string? error)
    {
        result = default;
        error = null;
        var parts = topic.Split('/');
        if (parts.Length < 3 || parts[0] != Namespace)
        {
            error = $"topic '{topic}' is not spBv1.0/{{group}}/{{type}}/{{node}}[/{{device}}]";
            return false;
        }

        if (parts[1] == "STATE")
        {
            if (parts.Length != 3 || parts[2].Length == 0)
            {
                error = $"topic '{topic}' is not spBv1.0/STATE/{{host_id}}";
                return false;
            }

            result = new SparkplugTopic(SparkplugMessageType.STATE, "", parts[2], null);
            return true;
        }

        if (parts.Length is < 4 or > 5 || !Enum.TryParse(parts[2], ignoreCase: false, out SparkplugMessageType type) || type == SparkplugMessageType.STATE)
        {
            error = $"topic '{topic}': '{(parts.Length > 2 ? parts[2] : "")}' is not a Sparkplug message type, or the topic has the wrong number of levels";
            return false;
        }

        bool device = type is SparkplugMessageType.DBIRTH or SparkplugMessageType.DDEATH or SparkplugMessageType.DDATA or SparkplugMessageType.DCMD;
        if (device != (parts.Length == 5) || parts[1].Length == 0 || parts[3].Length == 0 || (device && parts[4].Length == 0))
        {
            error = $"topic '{topic}': {type} needs {(device ? "a group, an edge node and a device id" : "a group and an edge node id, and no device id")}";
            return false;
        }

        result = new SparkplugTopic(type, parts[1], parts[3], device ? parts[4] : null);
        return true;
    }

    public override string ToString() => Type == SparkplugMessageType.STATE
        ? $"{Namespace}/STATE/{EdgeNodeId}"
        : DeviceId is null ? $"{Namespace}/{GroupId}/{Type}/{EdgeNodeId}" : $"{Namespace}/{GroupId}/{Type}/{EdgeNodeId}/{DeviceId}";
}
