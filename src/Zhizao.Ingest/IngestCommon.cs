using System.Diagnostics.CodeAnalysis;
using Zhizao.Core;

namespace Zhizao.Ingest;

/// <summary>
/// Receives accepted points, already resolved to series ids. Typically a struct wrapping a storage batch
/// (<c>struct BatchWriter(PointBatch b) : IPointWriter { public void Add(int s, long t, TagValue v) =&gt; b.Add(s, t, v); }</c>).
/// </summary>
public interface IPointWriter
{
    void Add(int seriesId, long timestampNs, TagValue value);
}

/// <summary>
/// One rejected line (line protocol), item (JSON, 0-based index) or row (CSV, 1-based, header = row 1).
/// <see cref="Reason"/> is a full, human-readable sentence that already names the line/item/row.
/// </summary>
public readonly record struct IngestError(int Position, string Reason)
{
    public override string ToString() => Reason;
}

/// <summary>
/// Outcome of one parse call under partial-write semantics: accepted units went to the writer, rejected ones are
/// listed (the first <see cref="IngestLimits.MaxReportedErrors"/>; <see cref="Rejected"/> counts all).
/// </summary>
public sealed class IngestResult
{
    private readonly List<IngestError> _errors = [];
    private readonly int _maxReported;

    public IngestResult(int maxReportedErrors = IngestLimits.MaxReportedErrors)
    {
        _maxReported = maxReportedErrors;
    }

    /// <summary>Points handed to the writer.</summary>
    public int PointsAccepted { get; internal set; }

    /// <summary>Lines / items / rows accepted as a whole.</summary>
    public int Accepted { get; internal set; }

    /// <summary>Lines / items / rows rejected (all of them, even beyond the reported errors).</summary>
    public int Rejected { get; internal set; }

    public IReadOnlyList<IngestError> Errors => _errors;

    /// <summary>The first error's reason, or null: what InfluxDB puts in its 400 "partial write" message.</summary>
    public string? FirstError => _errors.Count > 0 ? _errors[0].Reason : null;

    internal void Reject(int position, string reason)
    {
        Rejected++;
        if (_errors.Count < _maxReported)
        {
            _errors.Add(new IngestError(position, reason));
        }
    }

    public void Clear()
    {
        _errors.Clear();
        PointsAccepted = Accepted = Rejected = 0;
    }
}

public static class IngestLimits
{
    public const int MaxReportedErrors = 100;

    /// <summary>Earliest accepted timestamp: the Unix epoch. Latest: long.MaxValue ns (2262-04-11T23:47:16Z).</summary>
    public const long MinTimestampNs = 0;
}

/// <summary>Timestamp precision of a line-protocol body (the <c>precision</c> query parameter).</summary>
public enum TimestampPrecision
{
    Nanoseconds = 0,
    Microseconds = 1,
    Milliseconds = 2,
    Seconds = 3,
}

public static class TimestampPrecisionExtensions
{
    /// <summary>Parses "ns", "us", "µs", "ms", "s" (and the v1 synonyms "n", "u"); null or empty means ns.</summary>
    public static bool TryParse(string? text, out TimestampPrecision precision)
    {
        switch (text)
        {
            case null or "" or "ns" or "n":
                precision = TimestampPrecision.Nanoseconds;
                return true;
            case "us" or "u" or "µs":
                precision = TimestampPrecision.Microseconds;
                return true;
            case "ms":
                precision = TimestampPrecision.Milliseconds;
                return true;
            case "s":
                precision = TimestampPrecision.Seconds;
                return true;
            default:
                precision = default;
                return false;
        }
    }

    public static long NanosPerUnit(this TimestampPrecision precision) => precision switch
    {
        TimestampPrecision.Microseconds => 1_000,
        TimestampPrecision.Milliseconds => 1_000_000,
        TimestampPrecision.Seconds => 1_000_000_000,
        _ => 1,
    };
}

internal static class Timestamps
{
    /// <summary>Scales <paramref name="value"/> units to ns; false on overflow or a time before 1970.</summary>
    public static bool TryScale(long value, long nanosPerUnit, out long ns)
    {
        if (value < 0)
        {
            ns = 0;
            return false;
        }

        if (nanosPerUnit == 1)
        {
            ns = value;
            return true;
        }

        if (value > long.MaxValue / nanosPerUnit)
        {
            ns = 0;
            return false;
        }

        ns = value * nanosPerUnit;
        return true;
    }

    /// <summary>
    /// Unix timestamp whose unit is guessed from its magnitude: below 1e11 seconds (up to year 5138),
    /// below 1e14 milliseconds, below 1e17 microseconds, otherwise nanoseconds.
    /// </summary>
    public static long AutoUnit(long value) => value switch
    {
        < 100_000_000_000L => Time.NanosPerSecond,
        < 100_000_000_000_000L => Time.NanosPerMillisecond,
        < 100_000_000_000_000_000L => 1_000,
        _ => 1,
    };

    public static bool TryFromDateTimeOffset(DateTimeOffset t, out long ns)
    {
        long ticks = t.UtcTicks - DateTime.UnixEpoch.Ticks;
        if (ticks < 0 || ticks > long.MaxValue / 100)
        {
            ns = 0;
            return false;
        }

        ns = ticks * 100;
        return true;
    }

    public const string RangeMessage = "timestamp out of range (must be between 1970-01-01T00:00:00Z and 2262-04-11T23:47:16Z)";
}

internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string name, string message) => throw new ArgumentOutOfRangeException(name, message);
}
