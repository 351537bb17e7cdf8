using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Zhizao.Core;

namespace Zhizao.Ingest;

public sealed class JsonBatchOptions
{
    public static JsonBatchOptions Default { get; } = new();

    /// <summary>Most items in <c>points</c>; a larger body is refused whole before anything is written.</summary>
    public int MaxItems { get; init; } = 100_000;

    /// <summary>Deepest nesting of the document (the format itself needs 4).</summary>
    public int MaxDepth { get; init; } = 16;

    /// <summary>Most entries in one item's <c>values</c>.</summary>
    public int MaxValuesPerItem { get; init; } = 1_000;
}

/// <summary>
/// The JSON batch format of <c>POST /api/ingest/json</c> (see README.md):
/// <c>{"points":[{"series":"l1-cnc-01/spindle_speed","t":"2026-01-01T00:00:00Z","v":1200.5},
/// {"equipment":"l1-cnc-01","t":1767225600000000000,"values":{"spindle_speed":1200,"state":"RUN"}}]}</c>.
/// Each item is accepted or rejected whole; a body that is not well-formed JSON, too deep or with too many items is
/// refused whole with an <see cref="InvalidInputException"/> before any point is written. Not thread-safe (scratch
/// buffers); use one per request or per thread.
/// </summary>
public sealed class JsonBatchParser
{
    private readonly JsonBatchOptions _options;
    private readonly List<Pending> _pending = [];
    private byte[] _keys = new byte[1024];

    public JsonBatchParser(JsonBatchOptions? options = null)
    {
        _options = options ?? JsonBatchOptions.Default;
    }

    /// <summary>
    /// Validates the document's syntax and limits, then resolves and writes each item. Positions in errors are
    /// 0-based item indexes. Throws <see cref="InvalidInputException"/> only for a body refused whole.
    /// </summary>
    public IngestResult Ingest<TWriter>(ReadOnlySpan<byte> json, long nowNs, SeriesKeyCache cache, ref TWriter writer, IngestResult? result = null)
        where TWriter : IPointWriter
    {
        ArgumentNullException.ThrowIfNull(cache);
        result ??= new IngestResult();
        var readerOptions = new JsonReaderOptions { MaxDepth = _options.MaxDepth, CommentHandling = JsonCommentHandling.Disallow };
        Validate(json, readerOptions);

        var reader = new Utf8JsonReader(json, readerOptions);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidInputException("the body must be a JSON object with a \"points\" array", "$");
        }

        bool sawPoints = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("points"u8))
            {
                throw new InvalidInputException($"unknown property '{reader.GetString()}' (only \"points\" is allowed)", "$");
            }

            reader.Read();
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                throw new InvalidInputException("\"points\" must be an array", "$.points");
            }

            sawPoints = true;
            int index = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                string? error = ParseItem(ref reader, index, nowNs, cache, ref writer, result);
                if (error is not null)
                {
                    result.Reject(index, $"item {index} ({error}");
                }

                index++;
            }
        }

        if (!sawPoints)
        {
            throw new InvalidInputException("missing \"points\" array", "$");
        }

        return result;
    }

    private void Validate(ReadOnlySpan<byte> json, JsonReaderOptions readerOptions)
    {
        // Utf8JsonReader does not validate string contents while reading; GetString would throw later.
        if (!Utf8.IsValid(json))
        {
            throw new InvalidInputException($"not valid UTF-8 at byte {FirstInvalidUtf8(json) + 1}", "body");
        }

        var reader = new Utf8JsonReader(json, readerOptions);
        int items = 0;
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth == 2 && reader.TokenType is not (JsonTokenType.EndObject or JsonTokenType.EndArray or JsonTokenType.PropertyName) && ++items > _options.MaxItems)
                {
                    throw new InvalidInputException($"more than {_options.MaxItems} items (MaxItems)", "$.points");
                }
            }
        }
        catch (JsonException e)
        {
            string reason = e.Message.Contains("depth", StringComparison.OrdinalIgnoreCase)
                ? $"nesting deeper than {_options.MaxDepth} (MaxDepth)"
                : e.Message.Split(" LineNumber:", 2)[0];
            throw new InvalidInputException(
                $"malformed JSON at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1} of that line: {reason}", "body");
        }

        if (items == 0 && json.Trim(" \t\r\n"u8).IsEmpty)
        {
            throw new InvalidInputException("empty body", "body");
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (offset < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }

    /// <summary>Returns null on success, or "path): reason" on failure; always leaves the reader at the item's end.</summary>
    private string? ParseItem<TWriter>(ref Utf8JsonReader reader, int index, long nowNs, SeriesKeyCache cache, ref TWriter writer, IngestResult result)
        where TWriter : IPointWriter
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            JsonTokenType token = reader.TokenType;
            reader.Skip();
            return $"{ItemPath(index)}): item must be an object, got {Describe(token)}";
        }

        int depth = reader.CurrentDepth;
        string? error = ParseItemBody(ref reader, index, nowNs, out long timestamp, out bool isSeries);
        if (error is not null)
        {
            while (!(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth) && reader.Read())
            {
            }

            return error;
        }

        // Resolve every value before writing any, so that the item is all-or-nothing.
        for (int i = 0; i < _pending.Count; i++)
        {
            Pending p = _pending[i];
            ReadOnlySpan<byte> key = _keys.AsSpan(p.KeyStart, p.KeyLength);
            ReadOnlySpan<byte> prefix;
            ReadOnlySpan<byte> field;
            if (isSeries)
            {
                int slash = key.LastIndexOf((byte)'/');
                prefix = key[..slash];
                field = key[(slash + 1)..];
            }
            else
            {
                prefix = _keys.AsSpan(0, p.PrefixLength);
                field = key;
            }

            ValueKind kind = p.Kind;
            long bits = p.Bits;
            if (!cache.TryResolve(prefix, field, ref kind, ref bits, out int id, out string? reason, allowFloatToInt: true))
            {
                string where = isSeries ? $"{ItemPath(index)}.v" : $"{ItemPath(index)}.values.{LineProtocolParser.Show(field)}";
                return $"{where}): {reason}";
            }

            p.Kind = kind;
            p.Bits = bits;
            p.SeriesId = id;
            _pending[i] = p;
        }

        foreach (Pending p in _pending)
        {
            TagValue value = p.Kind switch
            {
                ValueKind.Float64 => TagValue.FromDouble(BitConverter.Int64BitsToDouble(p.Bits)),
                ValueKind.Int64 => TagValue.FromInt64(p.Bits),
                ValueKind.Bool => TagValue.FromBool(p.Bits != 0),
                _ => TagValue.FromString(p.Text!),
            };
            writer.Add(p.SeriesId, timestamp, value);
        }

        result.Accepted++;
        result.PointsAccepted += _pending.Count;
        return null;
    }

    private static string ItemPath(int index) => $"$.points[{index}]";

    private string? ParseItemBody(ref Utf8JsonReader reader, int index, long nowNs, out long timestamp, out bool isSeries)
    {
        _pending.Clear();
        timestamp = nowNs;
        isSeries = false;
        int keysUsed = 0;
        int equipmentLength = -1;
        int seriesKeyLength = -1;
        bool hasValue = false;
        bool hasValues = false;
        Pending single = default;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("series"u8) || reader.ValueTextEquals("equipment"u8))
            {
                bool series = reader.ValueTextEquals("series"u8);
                string name = series ? "series" : "equipment";
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    return $"{ItemPath(index)}.{name}): must be a string, got {Describe(reader.TokenType)}";
                }

                if (seriesKeyLength >= 0 || equipmentLength >= 0)
                {
                    return $"{ItemPath(index)}.{name}): an item has exactly one of \"series\" or \"equipment\"";
                }

                // The prefix (equipment id or whole series key) sits at the start of the key scratch.
                keysUsed = CopyString(ref reader, 0);
                ReadOnlySpan<byte> text = _keys.AsSpan(0, keysUsed);
                if (series)
                {
                    int slash = text.LastIndexOf((byte)'/');
                    if (slash <= 0 || slash == text.Length - 1)
                    {
                        return $"{ItemPath(index)}.series): '{LineProtocolParser.Show(text)}' is not a series key of the form 'equipment/tag' or 'measurement[,tags]/field'";
                    }

                    if (text.Length > SeriesKey.MaxLength)
                    {
                        return $"{ItemPath(index)}.series): series key longer than {SeriesKey.MaxLength} bytes";
                    }

                    seriesKeyLength = keysUsed;
                    isSeries = true;
                }
                else
                {
                    if (!IsValidId(text))
                    {
                        return $"{ItemPath(index)}.equipment): '{LineProtocolParser.Show(text)}' is not a valid equipment id (letters, digits, '-', '_', '.'; 1-128)";
                    }

                    equipmentLength = keysUsed;
                }

                if (_pending.Count > 0)
                {
                    return $"{ItemPath(index)}.{name}): must come before \"values\"";
                }
            }
            else if (reader.ValueTextEquals("t"u8))
            {
                reader.Read();
                string? error = ReadTimestamp(ref reader, out timestamp);
                if (error is not null)
                {
                    return $"{ItemPath(index)}.t): {error}";
                }
            }
            else if (reader.ValueTextEquals("v"u8))
            {
                reader.Read();
                string? error = ReadValue(ref reader, ref single);
                if (error is not null)
                {
                    return $"{ItemPath(index)}.v): {error}";
                }

                hasValue = true;
            }
            else if (reader.ValueTextEquals("values"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    return $"{ItemPath(index)}.values): must be an object of tag name to value, got {Describe(reader.TokenType)}";
                }

                if (equipmentLength < 0)
                {
                    return $"{ItemPath(index)}.values): needs \"equipment\" before it";
                }

                hasValues = true;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    int nameStart = keysUsed;
                    int nameLength = CopyString(ref reader, nameStart);
                    ReadOnlySpan<byte> tag = _keys.AsSpan(nameStart, nameLength);
                    if (tag.IsEmpty || tag.Contains((byte)'/'))
                    {
                        return $"{ItemPath(index)}.values.{LineProtocolParser.Show(_keys.AsSpan(nameStart, nameLength))}): tag name must be non-empty and contain no '/'";
                    }

                    if (equipmentLength + 1 + nameLength > SeriesKey.MaxLength)
                    {
                        return $"{ItemPath(index)}.values.{LineProtocolParser.Show(_keys.AsSpan(nameStart, nameLength))}): series key longer than {SeriesKey.MaxLength} bytes";
                    }

                    if (_pending.Count == _options.MaxValuesPerItem)
                    {
                        return $"{ItemPath(index)}.values.{LineProtocolParser.Show(_keys.AsSpan(nameStart, nameLength))}): more than {_options.MaxValuesPerItem} values in one item (MaxValuesPerItem)";
                    }

                    for (int i = 0; i < _pending.Count; i++)
                    {
                        if (_keys.AsSpan(_pending[i].KeyStart, _pending[i].KeyLength).SequenceEqual(tag))
                        {
                            return $"{ItemPath(index)}.values.{LineProtocolParser.Show(_keys.AsSpan(nameStart, nameLength))}): duplicate tag name";
                        }
                    }

                    keysUsed += nameLength;
                    reader.Read();
                    var p = new Pending { KeyStart = nameStart, KeyLength = nameLength, PrefixLength = equipmentLength };
                    string? error = ReadValue(ref reader, ref p);
                    if (error is not null)
                    {
                        return $"{ItemPath(index)}.values.{LineProtocolParser.Show(_keys.AsSpan(nameStart, nameLength))}): {error}";
                    }

                    _pending.Add(p);
                }
            }
            else
            {
                return $"{ItemPath(index)}.{reader.GetString()}): unknown field (expected series, equipment, t, v, values)";
            }
        }

        if (seriesKeyLength < 0 && equipmentLength < 0)
        {
            return $"{ItemPath(index)}): missing field \"series\" or \"equipment\"";
        }

        if (isSeries)
        {
            if (hasValues)
            {
                return $"{ItemPath(index)}.values): a \"series\" item takes \"v\", not \"values\"";
            }

            if (!hasValue)
            {
                return $"{ItemPath(index)}): missing field \"v\"";
            }

            single.KeyStart = 0;
            single.KeyLength = seriesKeyLength;
            _pending.Add(single);
        }
        else
        {
            if (hasValue)
            {
                return $"{ItemPath(index)}.v): an \"equipment\" item takes \"values\", not \"v\"";
            }

            if (!hasValues)
            {
                return $"{ItemPath(index)}): missing field \"values\"";
            }
        }

        return null;
    }

    /// <summary><see cref="SeriesKey.IsValidId"/> over UTF-8 bytes: the allowed characters are all ASCII.</summary>
    private static bool IsValidId(ReadOnlySpan<byte> id)
    {
        if (id.IsEmpty || id.Length > 128)
        {
            return false;
        }

        foreach (byte b in id)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'.'))
            {
                return false;
            }
        }

        return true;
    }

    private int CopyString(ref Utf8JsonReader reader, int at)
    {
        int max = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (_keys.Length < at + max)
        {
            Array.Resize(ref _keys, Math.Max(_keys.Length * 2, at + max));
        }

        return reader.CopyString(_keys.AsSpan(at));
    }

    private static string? ReadValue(ref Utf8JsonReader reader, ref Pending p)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (!reader.TryGetDouble(out double d) || !double.IsFinite(d))
                {
                    return "number out of range";
                }

                p.Kind = ValueKind.Float64;
                p.Bits = BitConverter.DoubleToInt64Bits(d);
                return null;
            case JsonTokenType.True or JsonTokenType.False:
                p.Kind = ValueKind.Bool;
                p.Bits = reader.TokenType == JsonTokenType.True ? 1 : 0;
                return null;
            case JsonTokenType.String:
                p.Kind = ValueKind.String;
                p.Bits = 0;
                p.Text = reader.GetString();
                return null;
            default:
                JsonTokenType token = reader.TokenType;
                reader.Skip();
                return $"value must be a number, boolean or string, got {Describe(token)}";
        }
    }

    private static string? ReadTimestamp(ref Utf8JsonReader reader, out long timestamp)
    {
        timestamp = 0;
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (!reader.TryGetInt64(out long ns))
                {
                    return "bad timestamp: a number must be an integer count of Unix nanoseconds";
                }

                if (ns < 0)
                {
                    return Timestamps.RangeMessage;
                }

                timestamp = ns;
                return null;
            case JsonTokenType.String:
                string text = reader.GetString()!;
                if (!reader.TryGetDateTimeOffset(out DateTimeOffset t))
                {
                    return $"bad timestamp '{text}': expected ISO 8601 like 2026-01-01T00:00:00Z or Unix nanoseconds";
                }

                int timePart = text.IndexOf('T');
                bool hasOffset = timePart >= 0 && text.AsSpan(timePart).IndexOfAny("Z+-") >= 0;
                if (!hasOffset)
                {
                    t = new DateTimeOffset(t.DateTime, TimeSpan.Zero);
                }

                return Timestamps.TryFromDateTimeOffset(t, out timestamp) ? null : $"{Timestamps.RangeMessage}: '{text}'";
            default:
                JsonTokenType token = reader.TokenType;
                reader.Skip();
                return $"bad timestamp: must be an ISO 8601 string or Unix nanoseconds, got {Describe(token)}";
        }
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    private struct Pending
    {
        public int KeyStart;
        public int KeyLength;
        public int PrefixLength;
        public ValueKind Kind;
        public long Bits;
        public string? Text;
        public int SeriesId;
    }
}
