using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Ingest;

/// <summary>Limits applied to every line; each violation is a named rejection of that line only.</summary>
public sealed class LineProtocolOptions
{
    public static LineProtocolOptions Default { get; } = new();

    /// <summary>Longest accepted line in bytes, excluding the line feed (InfluxDB's default is 64 KiB too).</summary>
    public int MaxLineLength { get; init; } = 64 * 1024;

    public int MaxFieldsPerLine { get; init; } = 1_000;

    public int MaxTagsPerLine { get; init; } = 256;

    /// <summary>Longest series key (<c>measurement[,tags]/field</c>) in bytes.</summary>
    public int MaxKeyLength { get; init; } = SeriesKey.MaxLength;
}

/// <summary>One parsed, fully validated line. Spans point into the body and the parser's scratch buffers: valid only during the callback.</summary>
public readonly ref struct LineProtocolLine
{
    private readonly ReadOnlySpan<byte> _line;
    private readonly ReadOnlySpan<LineField> _fields;
    private readonly ReadOnlySpan<byte> _strings;

    internal LineProtocolLine(ReadOnlySpan<byte> line, ReadOnlySpan<byte> prefix, ReadOnlySpan<LineField> fields,
        ReadOnlySpan<byte> strings, long timestampNs, int lineNumber)
    {
        _line = line;
        SeriesPrefix = prefix;
        _fields = fields;
        _strings = strings;
        TimestampNs = timestampNs;
        LineNumber = lineNumber;
    }

    /// <summary>Measurement and tag set in canonical form (tags sorted by key, escapes as written): the series key up to '/'.</summary>
    public ReadOnlySpan<byte> SeriesPrefix { get; }

    public long TimestampNs { get; }

    /// <summary>1-based line number in the body.</summary>
    public int LineNumber { get; }

    public int FieldCount => _fields.Length;

    /// <summary>Field key as written (escapes kept): the series key after '/'.</summary>
    public ReadOnlySpan<byte> FieldKey(int index)
    {
        LineField f = _fields[index];
        return _line.Slice(f.KeyStart, f.KeyLength);
    }

    public ValueKind FieldKind(int index) => _fields[index].Kind;

    /// <summary>8-byte payload: double bits for Float64, the value for Int64, 0/1 for Bool, 0 for String.</summary>
    public long FieldBits(int index) => _fields[index].Bits;

    /// <summary>Unescaped UTF-8 bytes of a String field (empty for other kinds).</summary>
    public ReadOnlySpan<byte> FieldString(int index)
    {
        LineField f = _fields[index];
        if (f.Kind != ValueKind.String)
        {
            return default;
        }

        return f.StringInScratch ? _strings.Slice(f.StringStart, f.StringLength) : _line.Slice(f.StringStart, f.StringLength);
    }

    /// <summary>The value as a <see cref="TagValue"/>; allocates a string for String fields only.</summary>
    public TagValue FieldValue(int index) => ToTagValue(FieldKind(index), FieldBits(index), index);

    internal TagValue ToTagValue(ValueKind kind, long bits, int index) => kind switch
    {
        ValueKind.Float64 => TagValue.FromDouble(BitConverter.Int64BitsToDouble(bits)),
        ValueKind.Int64 => TagValue.FromInt64(bits),
        ValueKind.Bool => TagValue.FromBool(bits != 0),
        _ => TagValue.FromString(Encoding.UTF8.GetString(FieldString(index))),
    };
}

[StructLayout(LayoutKind.Auto)]
internal struct LineField
{
    public int KeyStart;
    public int KeyLength;
    public ValueKind Kind;
    public bool StringInScratch;
    public long Bits;
    public int StringStart;
    public int StringLength;
}

/// <summary>
/// Receives the outcome of every line. A line is delivered whole (all its fields) or rejected whole, never partly.
/// Implement it as a struct for the JIT to inline the calls.
/// </summary>
public interface ILineProtocolSink
{
    void OnLine(in LineProtocolLine line);

    /// <summary><paramref name="reason"/> reads like "line 7: field 'temp': invalid number '12.3.4' at column 18".</summary>
    void OnLineRejected(int lineNumber, string reason);
}

/// <summary>
/// InfluxDB line protocol (v2 reference) over UTF-8 bytes, allocation-free per line in steady state.
/// Not thread-safe: it owns scratch buffers; use one per request or per thread (it is cheap to keep and reuse).
/// </summary>
/// <remarks>
/// Grammar: <c>measurement[,tagKey=tagValue...] fieldKey=fieldValue[,...] [timestamp]</c>. A backslash escapes the
/// byte after it in measurements, tag keys/values and field keys (as InfluxDB's scanner does); in string field values
/// only <c>\"</c> and <c>\\</c> are escapes. Lines end at LF; a CR before it, blank lines and lines starting with '#'
/// are ignored. A raw line feed inside a string field value ends the line (the string is then unterminated).
/// Integer <c>42i</c>, unsigned <c>42u</c> (stored as Int64; above long.MaxValue rejected), float (decimal or
/// exponent form; NaN and infinities rejected), boolean <c>t T true True TRUE f F false False FALSE</c>, string.
/// Duplicate tag keys and duplicate field keys in one line are rejected. Timestamps are scaled by the precision with
/// overflow checks and must lie in 1970..2262; a missing timestamp takes the caller's "now".
/// </remarks>
public sealed class LineProtocolParser
{
    private static readonly SearchValues<byte> MeasurementStops = SearchValues.Create(", \\"u8);
    private static readonly SearchValues<byte> KeyStops = SearchValues.Create("=, \\"u8);
    private static readonly SearchValues<byte> FieldValueStops = SearchValues.Create(", "u8);
    private static readonly SearchValues<byte> StringStops = SearchValues.Create("\"\\"u8);

    private static readonly double[] Pow10 =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];

    private readonly LineProtocolOptions _options;
    private LineField[] _fields = new LineField[16];
    private TagRange[] _tags = new TagRange[16];
    private byte[] _strings = new byte[256];
    private byte[] _prefix = new byte[256];

    public LineProtocolParser(LineProtocolOptions? options = null)
    {
        _options = options ?? LineProtocolOptions.Default;
        if (_options.MaxLineLength <= 0 || _options.MaxFieldsPerLine <= 0 || _options.MaxTagsPerLine < 0 || _options.MaxKeyLength <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(options), "line protocol limits must be positive");
        }
    }

    public LineProtocolOptions Options => _options;

    /// <summary>
    /// Parses a whole body (already un-gzipped). Every line ends up in exactly one of <see cref="ILineProtocolSink.OnLine"/>
    /// or <see cref="ILineProtocolSink.OnLineRejected"/>; this method itself does not throw on any input.
    /// </summary>
    /// <param name="nowNs">Timestamp (Unix ns) given to lines without one.</param>
    public void Parse<TSink>(ReadOnlySpan<byte> body, TimestampPrecision precision, long nowNs, ref TSink sink)
        where TSink : ILineProtocolSink
    {
        long unit = precision.NanosPerUnit();
        int lineNumber = 0;
        while (!body.IsEmpty)
        {
            lineNumber++;
            ReadOnlySpan<byte> line;
            int newline = body.IndexOf((byte)'\n');
            if (newline < 0)
            {
                line = body;
                body = default;
            }
            else
            {
                line = body[..newline];
                body = body[(newline + 1)..];
            }

            if (line.Length > _options.MaxLineLength)
            {
                sink.OnLineRejected(lineNumber, $"line {lineNumber}: line is {line.Length} bytes, longer than the limit of {_options.MaxLineLength} (MaxLineLength)");
                continue;
            }

            ParseLine(line, lineNumber, unit, nowNs, ref sink);
        }
    }

    /// <summary>
    /// Parses <paramref name="body"/>, resolves every field's series through <paramref name="cache"/> and hands accepted
    /// points to <paramref name="writer"/>. A line whose fields do not all resolve (type conflict) is rejected whole.
    /// </summary>
    public IngestResult Ingest<TWriter>(ReadOnlySpan<byte> body, TimestampPrecision precision, long nowNs,
        SeriesKeyCache cache, ref TWriter writer, IngestResult? result = null)
        where TWriter : IPointWriter
    {
        result ??= new IngestResult();
        var sink = new ResolvingSink<TWriter>(cache, writer, result);
        Parse(body, precision, nowNs, ref sink);
        writer = sink.Writer;
        return result;
    }

    private void ParseLine<TSink>(ReadOnlySpan<byte> line, int lineNumber, long unit, long nowNs, ref TSink sink)
        where TSink : ILineProtocolSink
    {
        int end = line.Length;
        while (end > 0 && (line[end - 1] == (byte)'\r' || line[end - 1] == (byte)' ' || line[end - 1] == (byte)'\t'))
        {
            end--;
        }

        int i = 0;
        while (i < end && (line[i] == (byte)' ' || line[i] == (byte)'\t'))
        {
            i++;
        }

        if (i == end || line[i] == (byte)'#')
        {
            return;
        }

        line = line[..end];
        int start = i;

        // Measurement.
        i = ScanUntil(line, i, MeasurementStops);
        if (i == start)
        {
            Reject(ref sink, lineNumber, $"missing measurement at column {i + 1}");
            return;
        }

        // Tag set.
        int tagCount = 0;
        bool sorted = true;
        while (i < end && line[i] == (byte)',')
        {
            i++;
            int keyStart = i;
            i = ScanUntil(line, i, KeyStops);
            if (i == keyStart)
            {
                Reject(ref sink, lineNumber, $"empty tag key at column {i + 1}");
                return;
            }

            if (i == end || line[i] != (byte)'=')
            {
                Reject(ref sink, lineNumber, $"tag key '{Show(line[keyStart..i])}' has no '=' and value at column {i + 1}");
                return;
            }

            int keyEnd = i++;
            int valueStart = i;
            i = ScanUntil(line, i, KeyStops);
            if (i < end && line[i] == (byte)'=')
            {
                Reject(ref sink, lineNumber, $"tag '{Show(line[keyStart..keyEnd])}': unescaped '=' in value at column {i + 1}");
                return;
            }

            if (i == valueStart)
            {
                Reject(ref sink, lineNumber, $"tag '{Show(line[keyStart..keyEnd])}': missing tag value at column {i + 1}");
                return;
            }

            if (tagCount == _options.MaxTagsPerLine)
            {
                Reject(ref sink, lineNumber, $"more than {_options.MaxTagsPerLine} tags (MaxTagsPerLine)");
                return;
            }

            if (tagCount == _tags.Length)
            {
                Array.Resize(ref _tags, tagCount * 2);
            }

            var tag = new TagRange(keyStart, keyEnd, i);
            if (tagCount > 0 && sorted)
            {
                int c = _tags[tagCount - 1].Key(line).SequenceCompareTo(tag.Key(line));
                if (c == 0)
                {
                    Reject(ref sink, lineNumber, $"duplicate tag key '{Show(tag.Key(line))}' at column {keyStart + 1}");
                    return;
                }

                sorted = c < 0;
            }

            _tags[tagCount++] = tag;
        }

        int prefixEnd = i;
        if (i == end)
        {
            Reject(ref sink, lineNumber, $"missing field set at column {i + 1}");
            return;
        }

        while (i < end && line[i] == (byte)' ')
        {
            i++;
        }

        // Field set.
        int fieldCount = 0;
        int stringsUsed = 0;
        while (true)
        {
            int keyStart = i;
            i = ScanUntil(line, i, KeyStops);
            if (i == keyStart)
            {
                Reject(ref sink, lineNumber, i == end && fieldCount == 0 ? $"missing field set at column {i + 1}" : $"empty field key at column {i + 1}");
                return;
            }

            if (i == end || line[i] != (byte)'=')
            {
                Reject(ref sink, lineNumber, $"field key '{Show(line[keyStart..i])}' has no '=' and value at column {i + 1}");
                return;
            }

            int keyEnd = i++;
            if (fieldCount == _options.MaxFieldsPerLine)
            {
                Reject(ref sink, lineNumber, $"more than {_options.MaxFieldsPerLine} fields (MaxFieldsPerLine)");
                return;
            }

            if (fieldCount == _fields.Length)
            {
                Array.Resize(ref _fields, fieldCount * 2);
            }

            ref LineField field = ref _fields[fieldCount];
            field.KeyStart = keyStart;
            field.KeyLength = keyEnd - keyStart;
            if (i < end && line[i] == (byte)'"')
            {
                string? error = ParseString(line, ref i, ref field, ref stringsUsed);
                if (error is not null)
                {
                    Reject(ref sink, lineNumber, $"field '{Show(line[keyStart..keyEnd])}': {error}");
                    return;
                }
            }
            else
            {
                int valueStart = i;
                int stop = line[i..].IndexOfAny(FieldValueStops);
                i = stop < 0 ? end : i + stop;
                if (i == valueStart)
                {
                    Reject(ref sink, lineNumber, $"field '{Show(line[keyStart..keyEnd])}': missing value at column {i + 1}");
                    return;
                }

                string? error = ParseScalar(line[valueStart..i], ref field);
                if (error is not null)
                {
                    Reject(ref sink, lineNumber, $"field '{Show(line[keyStart..keyEnd])}': {error} '{Show(line[valueStart..i])}' at column {valueStart + 1}");
                    return;
                }
            }

            fieldCount++;
            if (i == end || line[i] == (byte)' ')
            {
                break;
            }

            if (line[i] != (byte)',')
            {
                Reject(ref sink, lineNumber, $"unexpected '{(char)line[i]}' after field '{Show(line[keyStart..keyEnd])}' at column {i + 1}");
                return;
            }

            i++;
        }

        // Timestamp.
        long timestamp = nowNs;
        while (i < end && line[i] == (byte)' ')
        {
            i++;
        }

        if (i < end)
        {
            int tsStart = i;
            int space = line[i..].IndexOf((byte)' ');
            if (space >= 0)
            {
                Reject(ref sink, lineNumber, $"unexpected data after the timestamp at column {i + space + 2}");
                return;
            }

            if (!TryParseInt64(line[tsStart..], out long raw))
            {
                Reject(ref sink, lineNumber, $"invalid timestamp '{Show(line[tsStart..])}' at column {tsStart + 1}");
                return;
            }

            if (!Timestamps.TryScale(raw, unit, out timestamp))
            {
                Reject(ref sink, lineNumber, $"{Timestamps.RangeMessage}: '{Show(line[tsStart..])}' at column {tsStart + 1}");
                return;
            }
        }

        ReadOnlySpan<LineField> fields = _fields.AsSpan(0, fieldCount);
        if (fieldCount > 1 && HasDuplicateField(line, fields, out int duplicate))
        {
            Reject(ref sink, lineNumber, $"duplicate field key '{Show(line.Slice(fields[duplicate].KeyStart, fields[duplicate].KeyLength))}' at column {fields[duplicate].KeyStart + 1}");
            return;
        }

        ReadOnlySpan<byte> prefix = line[start..prefixEnd];
        if (!sorted)
        {
            string? error = Canonicalise(line, start, tagCount, out prefix);
            if (error is not null)
            {
                Reject(ref sink, lineNumber, error);
                return;
            }
        }

        for (int f = 0; f < fields.Length; f++)
        {
            if (prefix.Length + 1 + fields[f].KeyLength > _options.MaxKeyLength)
            {
                Reject(ref sink, lineNumber, $"series key '{Show(prefix)}/{Show(line.Slice(fields[f].KeyStart, fields[f].KeyLength))}' is {prefix.Length + 1 + fields[f].KeyLength} bytes, longer than the limit of {_options.MaxKeyLength} (MaxKeyLength)");
                return;
            }
        }

        sink.OnLine(new LineProtocolLine(line, prefix, fields, _strings.AsSpan(0, stringsUsed), timestamp, lineNumber));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Reject<TSink>(ref TSink sink, int lineNumber, string reason)
        where TSink : ILineProtocolSink
        => sink.OnLineRejected(lineNumber, $"line {lineNumber}: {reason}");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ScanUntil(ReadOnlySpan<byte> line, int i, SearchValues<byte> stops)
    {
        while (true)
        {
            int k = line[i..].IndexOfAny(stops);
            if (k < 0)
            {
                return line.Length;
            }

            i += k;
            if (line[i] != (byte)'\\')
            {
                return i;
            }

            i += 2;
            if (i >= line.Length)
            {
                return line.Length;
            }
        }
    }

    private string? ParseString(ReadOnlySpan<byte> line, ref int i, ref LineField field, ref int stringsUsed)
    {
        int open = i;
        int start = i + 1;
        int pos = start;
        bool escaped = false;
        while (true)
        {
            int k = line[pos..].IndexOfAny(StringStops);
            if (k < 0)
            {
                return $"unterminated string starting at column {open + 1}";
            }

            pos += k;
            if (line[pos] == (byte)'"')
            {
                break;
            }

            escaped = true;
            pos += 2;
            if (pos > line.Length)
            {
                return $"unterminated string starting at column {open + 1}";
            }
        }

        ReadOnlySpan<byte> raw = line[start..pos];
        i = pos + 1;
        if (i < line.Length && line[i] != (byte)',' && line[i] != (byte)' ')
        {
            return $"unexpected '{(char)line[i]}' after the closing quote at column {i + 1}";
        }

        field.Kind = ValueKind.String;
        field.Bits = 0;
        if (!escaped)
        {
            field.StringInScratch = false;
            field.StringStart = start;
            field.StringLength = raw.Length;
            return null;
        }

        if (stringsUsed + raw.Length > _strings.Length)
        {
            Array.Resize(ref _strings, Math.Max(_strings.Length * 2, stringsUsed + raw.Length));
        }

        Span<byte> dest = _strings.AsSpan(stringsUsed);
        int n = 0;
        for (int j = 0; j < raw.Length; j++)
        {
            byte b = raw[j];
            if (b == (byte)'\\' && j + 1 < raw.Length && raw[j + 1] is (byte)'"' or (byte)'\\')
            {
                b = raw[++j];
            }

            dest[n++] = b;
        }

        field.StringInScratch = true;
        field.StringStart = stringsUsed;
        field.StringLength = n;
        stringsUsed += n;
        return null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static string? ParseScalar(ReadOnlySpan<byte> value, ref LineField field)
    {
        byte last = value[^1];
        if (last == (byte)'i')
        {
            field.Kind = ValueKind.Int64;
            return TryParseInt64(value[..^1], out field.Bits) ? null : IntegerError(value[..^1]);
        }

        if (last == (byte)'u')
        {
            field.Kind = ValueKind.Int64;
            if (!TryParseUInt64(value[..^1], out ulong u))
            {
                return "invalid unsigned integer";
            }

            if (u > long.MaxValue)
            {
                return "unsigned integer above the Int64 maximum 9223372036854775807 that Zhizao stores";
            }

            field.Bits = (long)u;
            return null;
        }

        byte first = value[0];
        if (first is (byte)'t' or (byte)'T' or (byte)'f' or (byte)'F')
        {
            field.Kind = ValueKind.Bool;
            if (value.Length == 1 || value.SequenceEqual("true"u8) || value.SequenceEqual("True"u8) || value.SequenceEqual("TRUE"u8))
            {
                field.Bits = first is (byte)'t' or (byte)'T' ? 1 : 0;
                return value.Length == 1 || first is (byte)'t' or (byte)'T' ? null : "invalid boolean";
            }

            if (value.SequenceEqual("false"u8) || value.SequenceEqual("False"u8) || value.SequenceEqual("FALSE"u8))
            {
                field.Bits = 0;
                return null;
            }

            return "invalid boolean";
        }

        field.Kind = ValueKind.Float64;
        if (!TryParseDouble(value, out double d))
        {
            return "invalid number";
        }

        if (!double.IsFinite(d))
        {
            return "NaN and infinite numbers are not supported";
        }

        field.Bits = BitConverter.DoubleToInt64Bits(d);
        return null;
    }

    private static string IntegerError(ReadOnlySpan<byte> digits)
    {
        bool allDigits = !digits.IsEmpty;
        for (int k = digits.Length > 0 && digits[0] == (byte)'-' ? 1 : 0; k < digits.Length; k++)
        {
            allDigits &= char.IsAsciiDigit((char)digits[k]);
        }

        return allDigits && digits.Length > 1 ? "integer out of the Int64 range" : "invalid integer";
    }

    /// <summary>Exact fast path (Clinger): at most 15 significant digits and no exponent; everything else goes to the BCL.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryParseDouble(ReadOnlySpan<byte> s, out double value)
    {
        int i = 0;
        bool negative = false;
        if (s[0] == (byte)'-')
        {
            negative = true;
            i = 1;
        }

        ulong mantissa = 0;
        int digits = 0;
        int fraction = 0;
        bool dot = false;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d <= 9)
            {
                mantissa = (mantissa * 10) + d;
                digits++;
                fraction += dot ? 1 : 0;
            }
            else if (s[i] == (byte)'.' && !dot)
            {
                dot = true;
            }
            else
            {
                return TryParseDoubleSlow(s, out value);
            }
        }

        if (digits == 0 || digits > 15)
        {
            return TryParseDoubleSlow(s, out value);
        }

        value = fraction == 0 ? mantissa : mantissa / Pow10[fraction];
        if (negative)
        {
            value = -value;
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryParseDoubleSlow(ReadOnlySpan<byte> s, out double value)
    {
        // Influx accepts Go's ParseFloat syntax: sign, digits, '.', exponent. No whitespace, no thousands separators.
        byte c = s[0];
        if (!(char.IsAsciiDigit((char)c) || c is (byte)'-' or (byte)'+' or (byte)'.'))
        {
            value = 0;
            return false;
        }

        return double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
            CultureInfo.InvariantCulture, out value);
    }

    internal static bool TryParseInt64(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        bool negative = !s.IsEmpty && s[0] == (byte)'-';
        ReadOnlySpan<byte> digits = negative ? s[1..] : s;
        if (!TryParseUInt64(digits, out ulong u))
        {
            return false;
        }

        if (negative)
        {
            if (u > 9223372036854775808UL)
            {
                return false;
            }

            value = (long)(0 - u);
            return true;
        }

        if (u > long.MaxValue)
        {
            return false;
        }

        value = (long)u;
        return true;
    }

    internal static bool TryParseUInt64(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 20)
        {
            return false;
        }

        ulong v = 0;
        for (int i = 0; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9)
            {
                return false;
            }

            if (v > (ulong.MaxValue - d) / 10)
            {
                return false;
            }

            v = (v * 10) + d;
        }

        value = v;
        return true;
    }

    private static bool HasDuplicateField(ReadOnlySpan<byte> line, ReadOnlySpan<LineField> fields, out int duplicate)
    {
        for (int a = 1; a < fields.Length; a++)
        {
            ReadOnlySpan<byte> key = line.Slice(fields[a].KeyStart, fields[a].KeyLength);
            for (int b = 0; b < a; b++)
            {
                if (fields[b].KeyLength == key.Length && line.Slice(fields[b].KeyStart, fields[b].KeyLength).SequenceEqual(key))
                {
                    duplicate = a;
                    return true;
                }
            }
        }

        duplicate = -1;
        return false;
    }

    /// <summary>Slow path for unsorted tag sets: sorts tags by key bytes into the pooled prefix buffer.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private string? Canonicalise(ReadOnlySpan<byte> line, int start, int tagCount, out ReadOnlySpan<byte> prefix)
    {
        Span<TagRange> tags = _tags.AsSpan(0, tagCount);
        for (int a = 1; a < tags.Length; a++)
        {
            TagRange t = tags[a];
            int b = a - 1;
            while (b >= 0 && tags[b].Key(line).SequenceCompareTo(t.Key(line)) > 0)
            {
                tags[b + 1] = tags[b];
                b--;
            }

            tags[b + 1] = t;
        }

        for (int a = 1; a < tags.Length; a++)
        {
            if (tags[a - 1].Key(line).SequenceEqual(tags[a].Key(line)))
            {
                prefix = default;
                return $"duplicate tag key '{Show(tags[a].Key(line))}' at column {Math.Max(tags[a].KeyStart, tags[a - 1].KeyStart) + 1}";
            }
        }

        int measurementEnd = tags[0].KeyStart - 1;
        foreach (TagRange t in tags)
        {
            measurementEnd = Math.Min(measurementEnd, t.KeyStart - 1);
        }

        int length = measurementEnd - start;
        foreach (TagRange t in tags)
        {
            length += 1 + t.End - t.KeyStart;
        }

        if (_prefix.Length < length)
        {
            _prefix = new byte[Math.Max(length, _prefix.Length * 2)];
        }

        Span<byte> dest = _prefix;
        line[start..measurementEnd].CopyTo(dest);
        int n = measurementEnd - start;
        foreach (TagRange t in tags)
        {
            dest[n++] = (byte)',';
            line[t.KeyStart..t.End].CopyTo(dest[n..]);
            n += t.End - t.KeyStart;
        }

        prefix = dest[..n];
        return null;
    }

    /// <summary>Bytes shown in an error message: decoded, cut to 64 characters.</summary>
    internal static string Show(ReadOnlySpan<byte> bytes)
    {
        const int Max = 64;
        return bytes.Length <= Max ? Encoding.UTF8.GetString(bytes) : string.Concat(Encoding.UTF8.GetString(bytes[..Max]), "…");
    }

    private readonly record struct TagRange(int KeyStart, int KeyEnd, int End)
    {
        public ReadOnlySpan<byte> Key(ReadOnlySpan<byte> line) => line[KeyStart..KeyEnd];
    }

    /// <summary>Resolves each field through the cache; a line is written only when all its fields resolve.</summary>
    private struct ResolvingSink<TWriter>(SeriesKeyCache cache, TWriter writer, IngestResult result) : ILineProtocolSink
        where TWriter : IPointWriter
    {
        private int[] _ids = new int[16];
        private long[] _bits = new long[16];
        private ValueKind[] _kinds = new ValueKind[16];

        public TWriter Writer = writer;

        public void OnLine(in LineProtocolLine line)
        {
            int n = line.FieldCount;
            if (_ids.Length < n)
            {
                int size = Math.Max(n, _ids.Length * 2);
                _ids = new int[size];
                _bits = new long[size];
                _kinds = new ValueKind[size];
            }

            ReadOnlySpan<byte> prefix = line.SeriesPrefix;
            ulong prefixHash = SeriesKeyCache.HashPrefix(prefix);
            for (int f = 0; f < n; f++)
            {
                ValueKind kind = line.FieldKind(f);
                long bits = line.FieldBits(f);
                if (!cache.TryResolve(prefixHash, prefix, line.FieldKey(f), ref kind, ref bits, out _ids[f], out string? error))
                {
                    OnLineRejected(line.LineNumber, $"line {line.LineNumber}: field '{Show(line.FieldKey(f))}': {error}");
                    return;
                }

                _kinds[f] = kind;
                _bits[f] = bits;
            }

            long timestamp = line.TimestampNs;
            for (int f = 0; f < n; f++)
            {
                Writer.Add(_ids[f], timestamp, line.ToTagValue(_kinds[f], _bits[f], f));
            }

            result.Accepted++;
            result.PointsAccepted += n;
        }

        public readonly void OnLineRejected(int lineNumber, string reason) => result.Reject(lineNumber, reason);
    }
}
