using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

internal sealed record ParsedPoint(string Key, TagValue Value, long TimestampNs, int Line);

internal sealed class CollectingSink : ILineProtocolSink
{
    public List<ParsedPoint> Points { get; } = [];
    public List<(int Line, string Reason)> Rejected { get; } = [];

    public void OnLine(in LineProtocolLine line)
    {
        string prefix = Encoding.UTF8.GetString(line.SeriesPrefix);
        for (int i = 0; i < line.FieldCount; i++)
        {
            Points.Add(new ParsedPoint(prefix + "/" + Encoding.UTF8.GetString(line.FieldKey(i)), line.FieldValue(i), line.TimestampNs, line.LineNumber));
        }
    }

    public void OnLineRejected(int lineNumber, string reason) => Rejected.Add((lineNumber, reason));

    public static CollectingSink Parse(string body, TimestampPrecision precision = TimestampPrecision.Nanoseconds, long now = 42, LineProtocolOptions? options = null)
    {
        var sink = new CollectingSink();
        new LineProtocolParser(options).Parse(Encoding.UTF8.GetBytes(body), precision, now, ref sink);
        return sink;
    }
}

internal struct ListWriter(List<(int Id, long T, TagValue V)> points) : IPointWriter
{
    public readonly void Add(int seriesId, long timestampNs, TagValue value) => points.Add((seriesId, timestampNs, value));
}

internal sealed class FakeStore
{
    public Dictionary<string, (int Id, ValueKind Kind)> Series { get; } = [];
    public int Calls { get; private set; }

    public int Resolve(string key, ValueKind kind)
    {
        Calls++;
        if (Series.TryGetValue(key, out var s))
        {
            return s.Kind == kind ? s.Id : throw new ConflictException($"series '{key}' exists as {s.Kind}, not {kind}");
        }

        int id = Series.Count + 1;
        Series[key] = (id, kind);
        return id;
    }

    public (int, ValueKind) ResolveKindAware(string key, ValueKind kind)
    {
        Calls++;
        if (!Series.TryGetValue(key, out var s))
        {
            s = (Series.Count + 1, kind);
            Series[key] = s;
        }

        return (s.Id, s.Kind);
    }

    public string KeyOf(int id) => Series.First(kv => kv.Value.Id == id).Key;
}
