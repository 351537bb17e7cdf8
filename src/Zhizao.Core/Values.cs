using System.Globalization;
using System.Runtime.InteropServices;

namespace Zhizao.Core;

/// <summary>The data type of a tag and of the series that stores it.</summary>
public enum ValueKind : byte
{
    Float64 = 1,
    Int64 = 2,
    Bool = 3,
    String = 4,
}

/// <summary>
/// One value of any <see cref="ValueKind"/> without boxing: numbers live in 8 bytes, strings in a reference.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct TagValue : IEquatable<TagValue>
{
    private readonly long _bits;
    private readonly string? _text;

    private TagValue(ValueKind kind, long bits, string? text)
    {
        Kind = kind;
        _bits = bits;
        _text = text;
    }

    public ValueKind Kind { get; }

    public static TagValue FromDouble(double value) => new(ValueKind.Float64, BitConverter.DoubleToInt64Bits(value), null);
    public static TagValue FromInt64(long value) => new(ValueKind.Int64, value, null);
    public static TagValue FromBool(bool value) => new(ValueKind.Bool, value ? 1 : 0, null);
    public static TagValue FromString(string value) => new(ValueKind.String, 0, value ?? throw new ArgumentNullException(nameof(value)));

    public double AsDouble => Kind switch
    {
        ValueKind.Float64 => BitConverter.Int64BitsToDouble(_bits),
        ValueKind.Int64 => _bits,
        ValueKind.Bool => _bits,
        _ => double.NaN,
    };

    public long AsInt64 => Kind == ValueKind.Float64 ? (long)BitConverter.Int64BitsToDouble(_bits) : _bits;
    public bool AsBool => Kind == ValueKind.Float64 ? BitConverter.Int64BitsToDouble(_bits) != 0 : _bits != 0;
    public string? AsString => Kind == ValueKind.String ? _text : ToString();

    /// <summary>Raw 8-byte payload (double bits for Float64).</summary>
    public long Bits => _bits;

    /// <summary>A JSON-friendly object: double, long, bool or string.</summary>
    public object ToObject() => Kind switch
    {
        ValueKind.Float64 => AsDouble,
        ValueKind.Int64 => _bits,
        ValueKind.Bool => _bits != 0,
        _ => _text!,
    };

    public bool Equals(TagValue other) => Kind == other.Kind && _bits == other._bits && string.Equals(_text, other._text, StringComparison.Ordinal);
    public override bool Equals(object? obj) => obj is TagValue v && Equals(v);
    public override int GetHashCode() => HashCode.Combine(Kind, _bits, _text);
    public static bool operator ==(TagValue left, TagValue right) => left.Equals(right);
    public static bool operator !=(TagValue left, TagValue right) => !left.Equals(right);

    public override string ToString() => Kind switch
    {
        ValueKind.Float64 => AsDouble.ToString("R", CultureInfo.InvariantCulture),
        ValueKind.Int64 => _bits.ToString(CultureInfo.InvariantCulture),
        ValueKind.Bool => _bits != 0 ? "true" : "false",
        _ => _text ?? string.Empty,
    };
}

/// <summary>A timestamped value. Timestamps are Unix epoch nanoseconds (UTC) throughout Zhizao.</summary>
public readonly record struct DataPoint(long TimestampNs, TagValue Value);

/// <summary>A point addressed by series key, as produced by ingest parsers and the simulator.</summary>
public readonly record struct Sample(string SeriesKey, long TimestampNs, TagValue Value);

/// <summary>Unix-nanosecond helpers.</summary>
public static class Time
{
    public const long NanosPerMillisecond = 1_000_000;
    public const long NanosPerSecond = 1_000_000_000;

    public static long NowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
    public static long FromDateTime(DateTimeOffset t) => (t.UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
    public static DateTimeOffset ToDateTime(long ns) => new(DateTime.UnixEpoch.Ticks + (ns / 100), TimeSpan.Zero);
    public static string ToIso(long ns) => ToDateTime(ns).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
}
